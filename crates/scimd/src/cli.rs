//! The command line: `serve`, and the admin subcommands for tenants and
//! tokens. Flags can also come from the environment (`SCIMD_*`).

use crate::clock::{self, SharedClock};
use crate::config::{HostSuffix, NetConfig, ScimPathPrefix};
use crate::http::{self, AppState, Config};
use crate::ratelimit::Rate;
use crate::service::tenants::{Expiry, token_status};
use crate::service::{self, Service};
use crate::store::{PoolConfig, Store, TaskGuard};
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "scimd",
    version,
    about = "SCIM 2.0 provisioning server for Okta, Microsoft Entra ID and other identity providers"
)]
pub struct Cli {
    /// Database URL: sqlite://FILE (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "SCIMD_DATABASE_URL", default_value = "sqlite://scimd.db", global = true)]
    pub database: String,
    /// Most database connections this process opens; 0: 4 on SQLite (one writer,
    /// few cores: more connections only add thread switches), 16 on PostgreSQL.
    #[arg(long, env = "SCIMD_DB_POOL_SIZE", default_value_t = 0, global = true)]
    pub db_pool_size: u32,
    /// Seconds to wait for a database connection.
    #[arg(long, env = "SCIMD_DB_CONNECT_TIMEOUT", default_value_t = 10, global = true)]
    pub db_connect_timeout: u64,
    /// Milliseconds a statement may run (PostgreSQL) or wait for the write lock (SQLite).
    #[arg(long, env = "SCIMD_DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub db_statement_timeout_ms: u64,
    /// SQLite: MiB of rendered users kept in memory for GET by id and
    /// `userName eq` look-ups (0 turns it off). PostgreSQL keeps none.
    #[arg(long, env = "SCIMD_READ_CACHE_MB", default_value_t = 32, global = true)]
    pub read_cache_mb: usize,
    /// Log lines as `text` (colour only on a terminal) or `json` (one object a line).
    #[arg(long, env = "SCIMD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

// One value, parsed once at start: boxing `serve`'s flags would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the SCIM server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants (customer organisations).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage a tenant's bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage a tenant's extension schemas (its own attributes for Users or Groups).
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Manage tokens for the admin API (/admin/v1).
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// The key webhook secrets are sealed with: check it against the database, or adopt it.
    #[command(subcommand, name = "secrets-key")]
    SecretsKey(SecretsKeyCommand),
    /// Write a tenant's users to standard output (JSONL of SCIM users, or CSV).
    Export {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "jsonl", value_parser = crate::service::transfer::Format::parse)]
        format: crate::service::transfer::Format,
    },
    /// Import users into a tenant from a file: JSONL of SCIM users, or CSV
    /// whose header names each column's attribute (userName, name.givenName,
    /// name.familyName, displayName, emails, active, externalId, or an
    /// extension's urn:…:attribute). Users are matched on userName: new ones
    /// are created, changed ones updated, equal ones left alone.
    Import {
        #[arg(long)]
        tenant: String,
        /// The file; its format from its name (.csv, else JSONL) unless --format says.
        file: std::path::PathBuf,
        #[arg(long, value_parser = crate::service::transfer::Format::parse)]
        format: Option<crate::service::transfer::Format>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminTokenCommand {
    /// Create an admin token; it is printed once, alone, on standard output.
    /// Without --tenant it is an operator token (every tenant, and tenants
    /// themselves); with it, a tenant admin's token for that tenant alone.
    Create {
        #[arg(long)]
        name: String,
        /// The one tenant the token reaches.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        expiry: ExpiryArgs,
    },
    /// List admin tokens (never the token itself).
    List,
    /// Revoke an admin token by its name (with --tenant: a tenant admin's token).
    Revoke {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Where the key that seals webhook secrets at rest is.
#[derive(Args, Clone, Debug)]
pub struct SecretsKeyArgs {
    /// The key webhook secrets are sealed with at rest: a file holding 32
    /// bytes of base64. The default, `scimd-secrets.key`, is relative to the
    /// directory scimd is started in. Made on the first start only (the
    /// database then records its fingerprint); every replica must be given
    /// the same key, and one with another key, or none, is refused while
    /// webhooks exist. SCIMD_SECRETS_KEY (the key's text) takes precedence.
    #[arg(long, env = "SCIMD_SECRETS_KEY_FILE", default_value = "scimd-secrets.key")]
    pub secrets_key_file: std::path::PathBuf,
}

impl SecretsKeyArgs {
    /// `SCIMD_SECRETS_KEY` when set, else the file.
    fn source(&self) -> Result<crate::events::secrets_key::KeySource, String> {
        use crate::events::secrets_key::KeySource;
        match std::env::var("SCIMD_SECRETS_KEY") {
            Ok(text) if !text.trim().is_empty() => crate::events::sealed::SealingKey::from_base64(&text)
                .map(KeySource::Given)
                .map_err(|e| format!("SCIMD_SECRETS_KEY: {e}")),
            _ => Ok(KeySource::File(self.secrets_key_file.clone())),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum SecretsKeyCommand {
    /// Show this server's secrets key fingerprint and the one the database records.
    Status(SecretsKeyArgs),
    /// Record this server's key as the database's (when the old key is lost
    /// and no webhook is left; webhooks sealed with another key refuse it).
    Adopt(SecretsKeyArgs),
}

/// When a new token expires: a date, a number of days, or never (the default).
#[derive(Args, Clone, Debug, Default)]
pub struct ExpiryArgs {
    /// The last day the token works (2027-06-30, UTC), or the time it stops
    /// (2027-06-30T17:00:00Z); at most ten years away.
    #[arg(long, conflicts_with = "expires_in_days")]
    pub expires_at: Option<String>,
    /// Days until the token expires (1 to 3650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_in_days: Option<u32>,
}

impl ExpiryArgs {
    fn expiry(&self) -> Expiry {
        match (&self.expires_at, self.expires_in_days) {
            (Some(at), _) => Expiry::At(at.clone()),
            (None, Some(days)) => Expiry::InDays(days),
            (None, None) => Expiry::Never,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCIMD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Do not create the `default` tenant and a token on an empty database.
    #[arg(long, env = "SCIMD_NO_BOOTSTRAP")]
    pub no_bootstrap: bool,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SCIMD_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// MiB of request bodies read and parsed at once, over all requests;
    /// past it a request gets 503 with Retry-After.
    #[arg(long, env = "SCIMD_MAX_INFLIGHT_BODY_MB", default_value_t = 64)]
    pub max_inflight_body_mb: usize,
    /// Connections open at once; past it a new connection gets 503 and is closed.
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold open; past it
    /// that address gets 503. Default: an eighth of --max-connections; 0: no
    /// cap per address (behind a proxy, every client has its address).
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a request's headers; a kept-alive
    /// connection that sends no next request for this long is closed.
    #[arg(long, env = "SCIMD_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "SCIMD_BODY_READ_TIMEOUT", default_value_t = 30)]
    pub body_read_timeout: u64,
    /// Seconds shutdown waits for requests in flight before cutting them.
    #[arg(long, env = "SCIMD_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// The URL clients reach scimd at (`https://scim.example.com`, with any
    /// path prefix): `Location` and `meta.location` are built from it. Without
    /// it they come from the request's `Host` and `X-Forwarded-Proto`.
    #[arg(long, env = "SCIMD_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Also serve SCIM under PATH, as under /scim/v2: PATH/TENANT/Users, and
    /// PATH/Users with the tenant taken from the token (or the host name).
    /// For the base URL a vendor gave its customers before scimd, such as
    /// /api/v1/SCIM/SCIMOkta or /scim/api/V1; /scim/v2 keeps working. A path
    /// of letters, digits and -._~ segments, without a trailing '/', outside
    /// /admin, /console, /oauth, /healthz, /readyz, /metrics and /scim/v2.
    #[arg(long, env = "SCIMD_SCIM_PATH_PREFIX", value_name = "PATH", value_parser = ScimPathPrefix::parse)]
    pub scim_path_prefix: Option<ScimPathPrefix>,
    /// Take the tenant from the host name: a request to TENANT.SUFFIX (any
    /// case and port) is tenant TENANT's, at /scim/v2/Users with no tenant
    /// segment (scim.example.com: acme.scim.example.com is tenant acme). Its
    /// token must be that tenant's (404 otherwise). Other hosts take the
    /// tenant from the path or the token. Read from `Host` (a proxy in front
    /// must pass it on); URLs in answers use TENANT.SUFFIX with the scheme,
    /// port and path of --public-url.
    #[arg(long, env = "SCIMD_TENANT_FROM_HOST", value_name = "SUFFIX", value_parser = HostSuffix::parse)]
    pub tenant_from_host: Option<HostSuffix>,
    /// Requests a second one tenant may send (0: no limit); a tenant's policy
    /// may set its own. Past it: 429 with Retry-After.
    #[arg(long, env = "SCIMD_TENANT_RATE_LIMIT", default_value_t = http::DEFAULT_TENANT_RATE)]
    pub tenant_rate_limit: u32,
    /// Requests one tenant may send at once above its rate; 0: five times the rate.
    #[arg(long, env = "SCIMD_TENANT_RATE_BURST", default_value_t = 0)]
    pub tenant_rate_burst: u32,
    /// Values one multi-valued attribute of a user may hold (emails,
    /// phoneNumbers, ...); past it: 413.
    #[arg(long, env = "SCIMD_MAX_MULTI_VALUES", default_value_t = scim_core::Limits::default().max_multi_values)]
    pub max_multi_values: usize,
    /// Member values one request may carry (Okta sends a few hundred at most); past it: 413.
    #[arg(long, env = "SCIMD_MAX_MEMBERS_PER_REQUEST", default_value_t = scim_core::Limits::default().max_members)]
    pub max_members_per_request: usize,
    /// Operations one PATCH may carry; past it: 413.
    #[arg(long, env = "SCIMD_MAX_PATCH_OPERATIONS", default_value_t = scim_core::Limits::default().max_patch_operations)]
    pub max_patch_operations: usize,
    /// Operations one Bulk request may carry (maxOperations); past it: 413.
    /// 0 switches Bulk off (501).
    #[arg(long, env = "SCIMD_BULK_MAX_OPERATIONS", default_value_t = crate::config::BulkLimits::default().max_operations)]
    pub bulk_max_operations: usize,
    /// Largest Bulk request body, in bytes (maxPayloadSize); past it: 413.
    #[arg(long, env = "SCIMD_BULK_MAX_PAYLOAD_BYTES", default_value_t = crate::config::BulkLimits::default().max_payload_bytes)]
    pub bulk_max_payload_bytes: usize,
    /// Requests a second with a token the server does not know, per client
    /// address (each costs a database look-up); past it: 429.
    #[arg(long, env = "SCIMD_UNKNOWN_TOKEN_RATE_LIMIT", default_value_t = 10)]
    pub unknown_token_rate_limit: u32,
    /// Milliseconds a token or tenant read from the database is trusted; a
    /// revocation or a tenant switched off by another process takes effect
    /// within this time. 0 checks the database on every request.
    #[arg(long, env = "SCIMD_AUTH_CACHE_TTL_MS", default_value_t = 2000)]
    pub auth_cache_ttl_ms: u64,
    /// What a successful PATCH of a group answers when it names no
    /// `attributes`/`excludedAttributes`: `resource` (200 with the group and
    /// every member) or `no-content` (204, as Entra recommends: a membership
    /// change of a 100,000-member group then sends no member list back).
    #[arg(long, env = "SCIMD_GROUP_PATCH_RESPONSE", value_enum, default_value_t = GroupPatchResponse::Resource)]
    pub group_patch_response: GroupPatchResponse,
    /// Record no events: the event feed and webhooks stay empty (the
    /// benchmark measures writes with and without them).
    #[arg(long, env = "SCIMD_NO_EVENTS")]
    pub no_events: bool,
    /// Days events are kept for the feed and for webhook retries; older ones are pruned.
    #[arg(long, env = "SCIMD_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub event_retention_days: u32,
    /// Seconds one webhook attempt may take (connect, send, answer).
    #[arg(long, env = "SCIMD_WEBHOOK_TIMEOUT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_timeout_secs: u64,
    /// Seconds before each attempt of a webhook delivery, comma-separated
    /// (each with ±20% jitter); after the last the delivery is given up and
    /// listed as failed.
    #[arg(long, env = "SCIMD_WEBHOOK_RETRY_SCHEDULE", default_value = "0,5,300,1800,7200,18000,36000,50400,72000,86400", value_parser = crate::service::webhooks::parse_schedule)]
    pub webhook_retry_schedule: crate::service::webhooks::Schedule,
    /// Let webhooks go to private, loopback and link-local addresses (a
    /// product on the same network); refused otherwise.
    #[arg(long, env = "SCIMD_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,
    #[command(flatten)]
    pub secrets_key: SecretsKeyArgs,
    /// Seconds an OAuth access token (client credentials, `POST /oauth/token`) works.
    #[arg(long, env = "SCIMD_OAUTH_TOKEN_LIFETIME_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub oauth_token_lifetime_secs: u64,
    /// Seconds a list's cursor (RFC 9865 `cursorTimeout`) works after the page that returned it.
    #[arg(long, env = "SCIMD_CURSOR_TIMEOUT_SECS", default_value_t = crate::config::DEFAULT_CURSOR_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub cursor_timeout_secs: u64,
    /// Record no audit trail of SCIM requests (the benchmark measures
    /// requests with and without it); rows already kept are still pruned.
    #[arg(long, env = "SCIMD_NO_AUDIT")]
    pub no_audit: bool,
    /// Days the audit trail of SCIM requests is kept; older rows are pruned (hourly).
    #[arg(long, env = "SCIMD_AUDIT_RETENTION_DAYS", default_value_t = crate::audit::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub audit_retention_days: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupPatchResponse {
    Resource,
    NoContent,
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant; its SCIM base URL is /scim/v2/NAME.
    Create { name: String },
    /// List tenants.
    List,
    /// Switch SCIM provisioning off for a tenant (its requests get 403).
    Disable { name: String },
    /// Switch SCIM provisioning back on.
    Enable { name: String },
    /// Delete a tenant and everything it holds (users, groups, tokens,
    /// configuration, events, webhooks, audit trail). Cannot be undone.
    Delete {
        name: String,
        /// The tenant's name again, to say it is meant.
        #[arg(long)]
        confirm: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Register an extension schema from a JSON file: {"id": URN, "name",
    /// "description", "resource_type": "User"|"Group", "attributes": [...]}
    /// with attributes in RFC 7643 §7 form.
    Add {
        #[arg(long)]
        tenant: String,
        file: std::path::PathBuf,
    },
    /// List the tenant's extension schemas.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove an extension schema; with --force also when resources hold
    /// values of it (the values are removed too).
    Remove {
        #[arg(long)]
        tenant: String,
        urn: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone, on standard output.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        expiry: ExpiryArgs,
    },
    /// List a tenant's tokens (never the token itself).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a token by its name.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

pub type CliResult = Result<(), String>;

fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !text.contains(['?', '#']) => {
            Ok(text.trim_end_matches('/').to_string())
        }
        _ => Err(format!("'{text}' is not a URL such as https://scim.example.com")),
    }
}

/// A database opened (and migrated), its operations, and the background
/// tasks it needs, running until the guard is dropped or stopped.
pub async fn open(
    url: &str,
    pool: &PoolConfig,
    options: service::Options,
    clock: SharedClock,
) -> Result<(Service, TaskGuard), String> {
    if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return Err(format!("unsupported database URL '{url}': use sqlite://FILE or postgres://USER@HOST:PORT/DB"));
    }
    open_with_key(url, pool, options, clock, None).await
}

/// [`open`], with the webhook secrets key settled against the database
/// first (a server's key; see [`crate::events::secrets_key`]).
pub async fn open_with_key(
    url: &str,
    pool: &PoolConfig,
    mut options: service::Options,
    clock: SharedClock,
    key: Option<crate::events::secrets_key::KeySource>,
) -> Result<(Service, TaskGuard), String> {
    if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return Err(format!("unsupported database URL '{url}': use sqlite://FILE or postgres://USER@HOST:PORT/DB"));
    }
    let (store, background) =
        Store::connect(url, pool).await.map_err(|e| format!("cannot open {}: {e}", redact(url)))?;
    // Running first: on SQLite, recording the fingerprint is a write the writer task makes.
    let tasks = background.spawn();
    if let Some(source) = key {
        let settled = crate::events::secrets_key::settle(&store, source).await?;
        options.webhooks.key = settled.key;
        options.webhooks.off_because = settled.off_because;
    }
    Ok((Service::new(store, clock, options), tasks))
}

/// [`open`] with the default settings and the system clock.
pub async fn open_default(url: &str) -> Result<(Service, TaskGuard), String> {
    open(url, &PoolConfig::default(), service::Options::default(), clock::system()).await
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub async fn create_token(
    svc: &Service,
    tenant: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<String, String> {
    let expiry = expires_in_days.map_or(Expiry::Never, Expiry::InDays);
    Ok(svc.create_token(tenant, name, &expiry).await.map_err(|e| in_words(e, tenant))?.0)
}

/// An operation's error as the command line says it.
fn in_words(e: service::Error, tenant: &str) -> String {
    match e {
        service::Error::NotFound(detail) if detail.starts_with("there is no tenant") => {
            format!("there is no tenant '{tenant}' (see 'scimd tenant list')")
        }
        other => other.to_string(),
    }
}

pub async fn run(cli: Cli) -> CliResult {
    let config = PoolConfig {
        max_connections: cli.db_pool_size,
        connect_timeout: Duration::from_secs(cli.db_connect_timeout),
        statement_timeout: Duration::from_millis(cli.db_statement_timeout_ms),
        // An import writes as much as a server does: PostgreSQL's plans need fresh statistics too.
        maintain_tables: matches!(cli.command, Command::Serve(_) | Command::Import { .. }),
    };
    let mut options = service::Options { user_cache_bytes: cli.read_cache_mb << 20, ..Default::default() };
    if let Command::Serve(args) = &cli.command {
        options.limits = serve_config(args.clone()).limits;
        options.events = !args.no_events;
        options.event_retention = Duration::from_secs(u64::from(args.event_retention_days) * 86400);
        options.webhooks = webhook_options(args);
    }
    let key_source = match &cli.command {
        Command::Serve(args) => Some(args.secrets_key.source()?),
        _ => None,
    };
    let (svc, tasks) = open_with_key(&cli.database, &config, options, clock::system(), key_source).await?;
    match cli.command {
        Command::Serve(args) => serve(svc, tasks, args).await,
        Command::Migrate => {
            eprintln!("migrations applied to {}", redact(&cli.database));
            Ok(())
        }
        Command::Tenant(cmd) => tenant_command(&svc, cmd).await,
        Command::Token(cmd) => token_command(&svc, cmd).await,
        Command::Schema(cmd) => schema_command(&svc, cmd).await,
        Command::AdminToken(cmd) => admin_token_command(&svc, cmd).await,
        Command::Export { tenant, format } => export(&svc, &tenant, format).await,
        Command::Import { tenant, file, format } => import(&svc, &tenant, &file, format).await,
        Command::SecretsKey(cmd) => secrets_key_command(&svc, cmd).await,
    }
}

async fn secrets_key_command(svc: &Service, cmd: SecretsKeyCommand) -> CliResult {
    use crate::events::secrets_key::{FINGERPRINT, KeySource};
    let (SecretsKeyCommand::Status(args) | SecretsKeyCommand::Adopt(args)) = &cmd;
    let key = match args.source()? {
        KeySource::Given(key) => key,
        KeySource::File(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read the secrets key {}: {e}", path.display()))?;
            crate::events::sealed::SealingKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let recorded = svc.store().setting(FINGERPRINT).await.map_err(|e| e.to_string())?;
    match cmd {
        SecretsKeyCommand::Status(_) => {
            let mine = key.fingerprint();
            println!("this key:        {mine}");
            println!(
                "database record: {}",
                recorded.as_deref().unwrap_or("none yet (the first server to start records its key)")
            );
            if recorded.as_deref().is_some_and(|r| r != mine) {
                return Err("the keys differ: this server would be refused while webhooks exist".into());
            }
            Ok(())
        }
        SecretsKeyCommand::Adopt(_) => {
            let fingerprint = crate::events::secrets_key::adopt(svc.store(), &key).await?;
            eprintln!("the database now records the secrets key {fingerprint}; give every replica this key");
            Ok(())
        }
    }
}

async fn export(svc: &Service, tenant: &str, format: crate::service::transfer::Format) -> CliResult {
    use crate::service::transfer::{CSV_COLUMNS, Format, csv_line, csv_record};
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let csv = format == Format::Csv;
    if csv {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
        out.write_all(&csv_line(&header)?).map_err(|e| e.to_string())?;
    }
    let count = svc
        .export_users(tenant, |page| {
            for user in page {
                if csv {
                    out.write_all(&csv_line(&csv_record(&user))?).map_err(|e| e.to_string())?;
                } else {
                    writeln!(out, "{user}").map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| in_words(e, tenant))?;
    out.flush().map_err(|e| format!("could not write the export: {e}"))?;
    eprintln!("exported {count} users of tenant '{tenant}'");
    Ok(())
}

async fn import(
    svc: &Service,
    tenant: &str,
    file: &std::path::Path,
    format: Option<crate::service::transfer::Format>,
) -> CliResult {
    use crate::service::transfer::{Format, read_rows};
    use std::io::IsTerminal;
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let format = format.unwrap_or(if file.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
        Format::Csv
    } else {
        Format::Jsonl
    });
    let rows = read_rows(&text, format)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(rows.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users, {per_sec}, {eta} left")
        {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let shown = bar.clone();
    let summary = svc
        .import_users(tenant, rows, std::sync::Arc::new(move |done| shown.set_position(done)))
        .await
        .map_err(|e| in_words(e, tenant))?;
    bar.finish_and_clear();
    eprintln!(
        "imported into tenant '{tenant}': {} created, {} updated, {} unchanged, {} failed",
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.failed.len()
    );
    for f in &summary.failed {
        let who = f.user_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        eprintln!("  line {}{who}: {}", f.line, f.reason);
    }
    if summary.failed.is_empty() { Ok(()) } else { Err(format!("{} rows were not imported", summary.failed.len())) }
}

async fn admin_token_command(svc: &Service, cmd: AdminTokenCommand) -> CliResult {
    match cmd {
        AdminTokenCommand::Create { name, tenant, expiry } => {
            let (token, expires_at) = svc
                .create_admin_token(&name, tenant.as_deref(), &expiry.expiry())
                .await
                .map_err(|e| in_words(e, tenant.as_deref().unwrap_or_default()))?;
            println!("{token}");
            let scope = match &tenant {
                Some(t) => format!("for tenant '{t}' only"),
                None => "for every tenant (an operator token)".to_string(),
            };
            let until = expires_at.map_or("it does not expire".to_string(), |at| format!("it expires at {at}"));
            eprintln!("admin token '{name}' created {scope}; {until}; it is shown only this once");
            Ok(())
        }
        AdminTokenCommand::List => {
            let tokens = svc.admin_tokens(None).await.map_err(|e| e.to_string())?;
            let now = svc.now();
            println!("{:<20} {:<20} {:<25} {:<25} {:<25} STATUS", "NAME", "TENANT", "CREATED", "EXPIRES", "LAST USED");
            for t in tokens {
                println!(
                    "{:<20} {:<20} {:<25} {:<25} {:<25} {}",
                    t.name,
                    t.tenant.as_ref().map_or("(operator)", |(_, name)| name.as_str()),
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.last_used_at.as_deref().unwrap_or("never"),
                    token_status(t.revoked_at.as_deref(), t.expires_at.as_deref(), &now),
                );
            }
            Ok(())
        }
        AdminTokenCommand::Revoke { name, tenant } => {
            svc.revoke_admin_token(&name, tenant.as_deref())
                .await
                .map_err(|e| in_words(e, tenant.as_deref().unwrap_or_default()))?;
            eprintln!("admin token '{name}' revoked");
            Ok(())
        }
    }
}

async fn tenant_command(svc: &Service, cmd: TenantCommand) -> CliResult {
    match cmd {
        TenantCommand::Create { name } => {
            crate::service::tenants::valid_tenant_name(&name)?;
            svc.create_tenant(&name).await.map_err(|e| e.to_string())?;
            eprintln!("created tenant '{name}'; its SCIM base URL is http://HOST:PORT/scim/v2/{name}");
            eprintln!("next: scimd token create --tenant {name} --name okta");
            Ok(())
        }
        TenantCommand::List => {
            let tenants = svc.tenants().await.map_err(|e| e.to_string())?;
            println!("{:<24} {:<9} CREATED", "NAME", "SCIM");
            for t in tenants {
                println!("{:<24} {:<9} {}", t.name, if t.enabled { "enabled" } else { "disabled" }, t.created_at);
            }
            Ok(())
        }
        TenantCommand::Disable { name } | TenantCommand::Enable { name } if name.is_empty() => {
            Err("a tenant name is required".into())
        }
        TenantCommand::Delete { name, confirm } => {
            if confirm != name {
                return Err(format!("to delete tenant '{name}' and everything it holds, pass --confirm {name}"));
            }
            svc.delete_tenant(&name).await.map_err(|e| in_words(e, &name))?;
            eprintln!("tenant '{name}' deleted, with its users, groups, tokens, configuration, events and audit trail");
            Ok(())
        }
        TenantCommand::Disable { name } => set_enabled(svc, &name, false).await,
        TenantCommand::Enable { name } => set_enabled(svc, &name, true).await,
    }
}

async fn set_enabled(svc: &Service, name: &str, enabled: bool) -> CliResult {
    svc.set_tenant_enabled(name, enabled).await.map_err(|e| in_words(e, name))?;
    eprintln!("SCIM provisioning {} for tenant '{name}'", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

async fn schema_command(svc: &Service, cmd: SchemaCommand) -> CliResult {
    match cmd {
        SchemaCommand::Add { tenant, file } => {
            let tid = svc.tenant_named(&tenant).await.map_err(|e| in_words(e, &tenant))?.id;
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON (line {}, column {})", file.display(), e.line(), e.column()))?;
            let extension = scim_core::extension::TenantExtension::from_json(&value)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let added = svc.add_extension(tid, extension).await.map_err(|e| in_words(e, &tenant))?;
            eprintln!(
                "extension schema '{}' added to the {}s of tenant '{tenant}' ({} attributes); a running server uses it \
                 within 10 seconds",
                added.schema.id,
                added.resource_type.as_str(),
                added.schema.attributes.len()
            );
            Ok(())
        }
        SchemaCommand::List { tenant } => {
            let tid = svc.tenant_named(&tenant).await.map_err(|e| in_words(e, &tenant))?.id;
            println!("{:<60} {:<6} ATTRIBUTES", "SCHEMA", "FOR");
            for e in svc.extensions(tid).await.map_err(|e| e.to_string())? {
                let names: Vec<&str> = e.schema.attributes.iter().map(|a| a.name.as_str()).collect();
                println!("{:<60} {:<6} {}", e.schema.id, e.resource_type.as_str(), names.join(", "));
            }
            Ok(())
        }
        SchemaCommand::Remove { tenant, urn, force } => {
            let tid = svc.tenant_named(&tenant).await.map_err(|e| in_words(e, &tenant))?.id;
            let stripped = svc.remove_extension(tid, &urn, force).await.map_err(|e| match e {
                service::Error::Protocol(e) if e.status == 409 => e.detail.replace("send force=true", "add --force"),
                other => in_words(other, &tenant),
            })?;
            let resources = if stripped == 1 { "resource" } else { "resources" };
            eprintln!(
                "extension schema '{urn}' removed from tenant '{tenant}'; {stripped} {resources} lost values of it"
            );
            Ok(())
        }
    }
}

async fn token_command(svc: &Service, cmd: TokenCommand) -> CliResult {
    match cmd {
        TokenCommand::Create { tenant, name, expiry } => {
            let (token, expires_at) =
                svc.create_token(&tenant, &name, &expiry.expiry()).await.map_err(|e| in_words(e, &tenant))?;
            println!("{token}");
            let until = expires_at.map_or("it does not expire".to_string(), |at| format!("it expires at {at}"));
            eprintln!("token '{name}' for tenant '{tenant}' created; {until}; it is shown only this once");
            Ok(())
        }
        TokenCommand::List { tenant } => {
            let tid = svc.tenant_named(&tenant).await.map_err(|e| in_words(e, &tenant))?.id;
            let tokens = svc.tokens(tid).await.map_err(|e| e.to_string())?;
            println!("{:<20} {:<25} {:<25} {:<25} STATUS", "NAME", "CREATED", "EXPIRES", "LAST USED");
            let now = svc.now();
            for t in tokens {
                let status = token_status(t.revoked_at.as_deref(), t.expires_at.as_deref(), &now);
                println!(
                    "{:<20} {:<25} {:<25} {:<25} {status}",
                    t.name,
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.last_used_at.as_deref().unwrap_or("never"),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { tenant, name } => {
            svc.revoke_token(&tenant, &name).await.map_err(|e| match e {
                service::Error::NotFound(d) if d.contains("no token") => {
                    format!("tenant '{tenant}' has no token named '{name}'")
                }
                other => in_words(other, &tenant),
            })?;
            eprintln!("token '{name}' of tenant '{tenant}' revoked");
            Ok(())
        }
    }
}

/// An operator token that does not expire.
pub async fn create_admin_token(svc: &Service, name: &str) -> Result<String, String> {
    Ok(svc.create_admin_token(name, None, &Expiry::Never).await.map_err(|e| e.to_string())?.0)
}

/// On a database without tenants, create `default` and a token, and print
/// them once, like a first-run admin password.
async fn bootstrap(svc: &Service, listen: &str) -> CliResult {
    let tenants = svc.tenants().await.map_err(|e| e.to_string())?;
    if !tenants.is_empty() {
        return Ok(());
    }
    svc.create_tenant("default").await.map_err(|e| e.to_string())?;
    let token = create_token(svc, "default", "bootstrap", None).await?;
    // A token printed into whatever collects a service's output (a journal,
    // a container log) is a token anyone reading the logs holds: it goes to
    // the person at a terminal, or else into a file only its owner can read.
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("scimd: first start, created tenant 'default'. Paste these into Okta or Entra:");
        eprintln!("  SCIM base URL: http://{listen}/scim/v2/default");
        eprintln!("  Bearer token:  {token}");
        eprintln!("The token is shown only this once ('scimd token create' makes more).");
        return Ok(());
    }
    let path = write_first_token(&token).map_err(|e| format!("could not write the first token to a file: {e}"))?;
    eprintln!(
        "scimd: first start, created tenant 'default' (SCIM base URL http://{listen}/scim/v2/default). Its bearer \
         token is in {} (readable only by this user): paste it into Okta or Entra, then delete the file.",
        path.display()
    );
    Ok(())
}

/// Where the first token goes when no terminal shows it: the working
/// directory (where the default database is too), readable by its owner alone.
const FIRST_TOKEN_FILE: &str = "scimd-first-token";

fn write_first_token(token: &str) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = std::env::current_dir()?.join(FIRST_TOKEN_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A file left from before keeps its mode on open: narrow it first.
        if let Ok(meta) = std::fs::metadata(&path) {
            let mut perms = meta.permissions();
            perms.set_mode(0o600);
            std::fs::set_permissions(&path, perms)?;
        }
    }
    let mut file = options.open(&path)?;
    writeln!(file, "{token}")?;
    Ok(path)
}

pub async fn serve(svc: Service, tasks: TaskGuard, args: ServeArgs) -> CliResult {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !args.no_bootstrap {
        bootstrap(&svc, &addr.to_string()).await?;
    }
    let mut max_connections = args.max_connections;
    if let Some(open_files) = crate::server::raise_open_files_limit() {
        // Room for the database, the log and the listener besides the clients.
        let room = usize::try_from(open_files.saturating_sub(64)).unwrap_or(usize::MAX).max(16);
        if room < max_connections {
            tracing::warn!(open_files, max_connections = room, "the open-files limit lowers --max-connections");
            max_connections = room;
        }
    }
    let per_address = args.max_connections_per_address;
    let mut config = serve_config(args);
    config.net.max_connections = max_connections;
    config.net.max_connections_per_address = per_address_cap(per_address, max_connections);
    let state = AppState::new(svc, config);
    tracing::info!(%addr, "scimd listening");
    run_server(listener, state, tasks, shutdown_signal()).await.map_err(|e| e.to_string())
}

/// What one address may hold: as asked, or a share of the whole cap.
fn per_address_cap(asked: Option<usize>, max_connections: usize) -> usize {
    asked.unwrap_or((max_connections / crate::config::PER_ADDRESS_SHARE).max(1))
}

/// The server's configuration as the flags say (the connection cap before
/// the open-files limit may lower it).
pub fn serve_config(args: ServeArgs) -> Config {
    let burst =
        if args.tenant_rate_burst == 0 { args.tenant_rate_limit.saturating_mul(5) } else { args.tenant_rate_burst };
    Config {
        max_body_bytes: args.max_body_bytes,
        max_inflight_body_bytes: args
            .max_inflight_body_mb
            .saturating_mul(1 << 20)
            .max(args.max_body_bytes)
            .max(args.bulk_max_payload_bytes),
        auth_cache_ttl: Duration::from_millis(args.auth_cache_ttl_ms),
        group_patch_no_content: args.group_patch_response == GroupPatchResponse::NoContent,
        net: NetConfig {
            max_connections: args.max_connections,
            max_connections_per_address: per_address_cap(args.max_connections_per_address, args.max_connections),
            header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
            body_read_timeout: Duration::from_secs(args.body_read_timeout.max(1)),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        },
        public_url: args.public_url,
        scim_path_prefix: args.scim_path_prefix,
        tenant_from_host: args.tenant_from_host,
        tenant_rate: Rate::new(args.tenant_rate_limit, burst),
        unknown_token_rate: Rate::new(args.unknown_token_rate_limit, args.unknown_token_rate_limit.saturating_mul(2)),
        limits: scim_core::Limits {
            max_multi_values: args.max_multi_values,
            max_members: args.max_members_per_request,
            max_patch_operations: args.max_patch_operations,
        },
        audit: crate::audit::Settings {
            enabled: !args.no_audit,
            retention: crate::audit::days(args.audit_retention_days),
        },
        oauth_token_lifetime: Duration::from_secs(args.oauth_token_lifetime_secs),
        cursor_timeout: Duration::from_secs(args.cursor_timeout_secs),
        bulk: crate::config::BulkLimits {
            max_operations: args.bulk_max_operations,
            max_payload_bytes: args.bulk_max_payload_bytes,
        },
    }
}

/// How webhooks are sent, as the flags say (the key is settled with the database when it opens).
fn webhook_options(args: &ServeArgs) -> service::webhooks::WebhookOptions {
    service::webhooks::WebhookOptions {
        allow_private: args.webhook_allow_private_targets,
        timeout: Duration::from_secs(args.webhook_timeout_secs),
        schedule: args.webhook_retry_schedule.0.clone(),
        ..Default::default()
    }
}

pub use crate::server::run as run_server;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' defaults are the ones the README documents and the library's
    /// `Config::default()` has (a server started with no flags is the documented one).
    #[test]
    fn serve_flags_default_to_the_documented_configuration() {
        let Ok(Cli { command: Command::Serve(args), .. }) = Cli::try_parse_from(["scimd", "serve"]) else {
            panic!("'scimd serve' parses");
        };
        let config = serve_config(args);
        let documented = Config::default();
        assert_eq!(config.tenant_rate, Rate::new(1000, 5000));
        assert_eq!(config.tenant_rate, documented.tenant_rate);
        assert_eq!(config.unknown_token_rate, documented.unknown_token_rate);
        assert_eq!(config.limits, documented.limits);
        assert_eq!(config.max_body_bytes, documented.max_body_bytes);
        assert_eq!(config.max_inflight_body_bytes, documented.max_inflight_body_bytes);
        assert_eq!(config.auth_cache_ttl, documented.auth_cache_ttl);
        let (net, doc_net) = (&config.net, &documented.net);
        assert_eq!(net.max_connections, doc_net.max_connections);
        assert_eq!(net.max_connections_per_address, doc_net.max_connections_per_address);
        assert_eq!(net.header_read_timeout, doc_net.header_read_timeout);
        assert_eq!(net.body_read_timeout, doc_net.body_read_timeout);
        assert_eq!(net.shutdown_timeout, doc_net.shutdown_timeout);
        assert_eq!(config.public_url, None);
        assert_eq!((config.scim_path_prefix, config.tenant_from_host), (None, None));
        assert_eq!(config.audit, documented.audit);
        assert_eq!(config.oauth_token_lifetime, documented.oauth_token_lifetime);
        assert_eq!(config.cursor_timeout, documented.cursor_timeout);
        assert_eq!(config.bulk, documented.bulk);
        assert_eq!(config.bulk, crate::config::BulkLimits { max_operations: 1000, max_payload_bytes: 1 << 20 });
        assert_eq!(config.audit.retention, std::time::Duration::from_secs(90 * 86_400));
        // A burst of 0 is five times the rate.
        let Ok(Cli { command: Command::Serve(args), .. }) =
            Cli::try_parse_from(["scimd", "serve", "--tenant-rate-limit", "7"])
        else {
            panic!("'scimd serve --tenant-rate-limit 7' parses");
        };
        assert_eq!(serve_config(args).tenant_rate, Rate::new(7, 35));
    }

    #[test]
    fn audit_flags_switch_it_off_and_bound_the_retention() {
        let Ok(Cli { command: Command::Serve(args), .. }) =
            Cli::try_parse_from(["scimd", "serve", "--no-audit", "--audit-retention-days", "7"])
        else {
            panic!("'scimd serve --no-audit --audit-retention-days 7' parses");
        };
        let audit = serve_config(args).audit;
        assert!(!audit.enabled);
        assert_eq!(audit.retention, Duration::from_secs(7 * 86_400));
        for days in ["0", "3651"] {
            assert!(Cli::try_parse_from(["scimd", "serve", "--audit-retention-days", days]).is_err(), "{days}");
        }
    }
}
