//! Telling the product what changed: the events each write emits
//! ([`outbox`], written in the write's own transaction), what a webhook may
//! be sent to ([`target`]), signed as Standard Webhooks 1.0 says
//! ([`signature`]), and the event feed. Sending is `crate::webhooks`'.

mod addresses;
pub(crate) mod outbox;
pub mod sealed;
pub mod secrets_key;
pub mod signature;
pub(crate) mod target;

pub use outbox::{ActorKind, Cause, EVENT_TYPES};

/// An event type, or a prefix of some ending in `.` (`user.`): what the feed
/// and webhooks filter by.
pub fn is_type_or_prefix(t: &str) -> bool {
    EVENT_TYPES.iter().any(|k| *k == t || (t.ends_with('.') && k.starts_with(t)))
}

use crate::store::events::{NewEvent, Position, StoredEvent};

/// A committed event, as the feed, webhooks and a host embedding scimd see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    /// `user.created`, … ([`EVENT_TYPES`]).
    pub event_type: String,
    pub timestamp: String,
    pub tenant_id: i64,
    /// The tenant's name.
    pub tenant: String,
    /// `user` or `group`.
    pub subject_type: String,
    pub subject_id: String,
    /// JSON text: the resource as SCIM shows it, or what the policy decided.
    pub data: String,
    /// JSON text: `{"request_id", "actor"}`.
    pub cause: String,
    /// Where it is in the tenant's feed (`None` before it is read back).
    pub position: Option<Position>,
}

impl Event {
    pub(crate) fn new(e: &NewEvent, tenant_id: i64, tenant: &str, cause: &str) -> Event {
        Event {
            id: e.id.clone(),
            event_type: e.event_type.to_string(),
            timestamp: e.created_at.clone(),
            tenant_id,
            tenant: tenant.to_string(),
            subject_type: e.subject_type.to_string(),
            subject_id: e.subject_id.clone(),
            data: e.data.clone(),
            cause: cause.to_string(),
            position: None,
        }
    }

    pub fn stored(e: StoredEvent, tenant: &str) -> Event {
        Event {
            id: e.id,
            event_type: e.event_type,
            timestamp: e.created_at,
            tenant_id: e.tenant_id,
            tenant: tenant.to_string(),
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            data: e.data,
            cause: e.cause,
            position: Some(e.position),
        }
    }

    /// The envelope, as JSON text: `{"id", "type", "timestamp", "tenant",
    /// "subject": {"type", "id"}, "data", "cause"}`.
    pub fn to_json(&self) -> String {
        outbox::envelope(
            &self.id,
            &self.event_type,
            &self.timestamp,
            &self.tenant,
            &self.subject_type,
            &self.subject_id,
            &self.data,
            &self.cause,
        )
    }
}
