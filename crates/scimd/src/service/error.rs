//! The one error of every operation, whichever surface asked for it. Each
//! surface maps it once: SCIM errors in `http::error`, admin errors in
//! `http::admin`, plain text in the CLI.

use crate::store::{StoreError, Unique};
use scim_core::ScimError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong, as scim-core words it (bad syntax or value, a
    /// failed precondition, a limit passed): its status comes with it.
    #[error("{}", .0.detail)]
    Protocol(ScimError),
    /// What the request names does not exist; the text says what.
    #[error("{0}")]
    NotFound(String),
    /// A name that must be unique is taken; the text says which and where.
    #[error("{detail}")]
    Taken { rule: Unique, detail: String },
    /// The provisioning policy refuses the operation; nothing was changed.
    #[error("{0}")]
    Refused(Refusal),
    /// The resource kept changing while the operation was applied.
    #[error("{0}")]
    Contended(String),
    /// The database gave up waiting (a statement or lock timeout, a busy
    /// file, no free connection): nothing was changed, and the same request
    /// can succeed shortly. Logged, and shown as "retry".
    #[error("{0}")]
    Busy(String),
    /// A fault of the server (the database, a worker): logged, not shown.
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "users of the e-mail domain '{domain}' are not provisioned through SCIM in this tenant: external users are \
         managed by hand in the product"
    )]
    DomainNotAllowed { domain: String },
    #[error(
        "no seats left for licence type '{licence}' (limit {limit}): free a seat or raise the limit; nothing was changed"
    )]
    NoSeats { licence: String, limit: i64 },
    /// An admin tried to change what the identity provider owns.
    #[error(
        "user '{user_id}' is managed by the identity provider through SCIM: {action} it there, so the identity \
         provider stays the source of truth"
    )]
    ScimManaged { user_id: String, action: &'static str },
    /// A configuration that would not hold together.
    #[error("{0}")]
    Configuration(String),
    /// A seat limit below the seats in use.
    #[error(
        "licence type '{licence}' has {used} seats in use: a limit of {limit} would leave {} users without one; \
         free seats first, or send \"force\": true to make the newest holders wait",
        used - limit
    )]
    SeatsInUse { licence: String, used: i64, limit: i64 },
    /// A group mapping by name that more than one group answers to.
    #[error("the name '{name}' matches {count} groups: map one of them by its id")]
    AmbiguousGroup { name: String, count: usize },
    /// A manual role the policy would take away at once: it is not granted.
    #[error("role '{role}' was not granted to user '{user_id}': {reason}")]
    GrantWithoutEffect { user_id: String, role: String, reason: String },
}

impl From<ScimError> for Error {
    fn from(e: ScimError) -> Self {
        Error::Protocol(e)
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

/// Store errors that reach an operation without a more precise meaning.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("not found".into()),
            StoreError::Unique(rule) => Error::Taken { rule, detail: taken(rule, None) },
            StoreError::Query(e) => Error::Protocol(e),
            StoreError::VersionMoved => Error::Contended("the resource changed while the request was applied".into()),
            StoreError::Db(e) if gave_up_waiting(&e) => Error::Busy(e.to_string()),
            other @ (StoreError::Db(_)
            | StoreError::Corrupt(_)
            | StoreError::Encode(_)
            | StoreError::Unavailable(_)) => Error::Internal(other.to_string()),
        }
    }
}

/// Did the database stop a statement for waiting too long, rather than fail it?
/// PostgreSQL: `statement_timeout` (57014), `lock_timeout` (55P03), a
/// serialization failure or deadlock (40001, 40P01); SQLite: a busy or
/// locked file; either: no connection free in time (see `store::exec`).
fn gave_up_waiting(e: &crate::store::exec::DbError) -> bool {
    e.kind == crate::store::exec::DbErrorKind::GaveUpWaiting
}

/// The one wording of each uniqueness rule, with the value when it is known.
pub fn taken(rule: Unique, value: Option<&str>) -> String {
    let value = value.map(|v| format!(" '{v}'")).unwrap_or_default();
    match rule {
        Unique::UserName => {
            format!("another User in this tenant already has the userName{value} (userName is unique, ignoring case)")
        }
        Unique::TenantName => format!("a tenant named{value} already exists"),
        Unique::TokenName => format!("the tenant already has a token named{value}; token names are unique per tenant"),
        Unique::AdminTokenName => format!("an admin token named{value} already exists"),
        Unique::OAuthClientName => format!("the tenant already has an OAuth client named{value}"),
        Unique::ExtensionValue => {
            format!("another resource of this tenant already has the value{value}, which is unique")
        }
    }
}

impl Error {
    pub fn not_found(what: impl std::fmt::Display) -> Error {
        Error::NotFound(format!("{what} not found"))
    }

    /// A store error about `what` (a resource named in the request).
    pub fn from_store(e: StoreError, what: impl std::fmt::Display) -> Error {
        match e {
            StoreError::NotFound => Error::not_found(what),
            other => other.into(),
        }
    }
}

impl Refusal {
    /// A refusal the identity provider is told of that the product hears
    /// of too (`provisioning.refused`): the policy stopped provisioning,
    /// not a mistake in the request. Its reason code.
    pub fn reported_as(&self) -> Option<&'static str> {
        match self {
            Refusal::DomainNotAllowed { .. } => Some("domain_not_allowed"),
            Refusal::NoSeats { .. } => Some("no_seats"),
            _ => None,
        }
    }

    /// The HTTP status a SCIM client is given for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::DomainNotAllowed { .. } => 403,
            Refusal::Configuration(_) => 400,
            _ => 409,
        }
    }
}
