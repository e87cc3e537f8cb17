//! scimd's one integration-test binary: a real server on 127.0.0.1:0 with a
//! fresh SQLite file, driven over real HTTP as Okta, Entra and other clients
//! drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode, header::HeaderMap};
use scimd::cli;
use scimd::clock::FixedClock;
use scimd::http::{AppState, Config};
use scimd::service::Service;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Server {
    root: String,
    base: String,
    token: String,
    /// The admin API of tenant `acme`, and a token for it.
    admin: String,
    admin_token: String,
    svc: Service,
    /// The server's clock: it moves 1 ms per reading, and when a test moves it.
    clock: Arc<FixedClock>,
    client: reqwest::Client,
    dir: std::path::PathBuf,
    /// The database the server uses.
    url: String,
    /// (admin URL, database name) of a PostgreSQL test database.
    pg: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.pg.take() {
            drop_database(admin, name);
        }
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The error body of RFC 7644 §3.12, with the content type SCIM asks for.
    #[track_caller]
    fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
        assert_eq!(self.body["schemas"], json!([ERROR]));
        assert_eq!(self.body["status"], json!(status.to_string()));
        assert!(self.body["detail"].as_str().is_some_and(|d| d.len() > 5), "{}", self.body);
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], t, "{}", self.body),
            None => assert!(self.body.get("scimType").is_none(), "{}", self.body),
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which database a test server runs on. Every test runs on both.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

const POSTGRES_ENV: &str = "SCIMD_TEST_POSTGRES_URL";

/// The PostgreSQL server URL, or `None` (and a note) when tests should skip it.
fn postgres_url() -> Option<String> {
    let url = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("{POSTGRES_ENV} is not set: skipping the PostgreSQL half of this test");
    }
    url
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh, empty database for one test: a file, or a new PostgreSQL database
/// (returned with the admin URL, to drop it afterwards).
async fn fresh_database(b: Backend, dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match b {
        Backend::Sqlite => (format!("sqlite://{}", dir.join("scimd.db").display()), None),
        Backend::Postgres => {
            let admin = postgres_url().unwrap();
            let name = unique_name("scimd_t");
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
            sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
            let (base, query) = match admin.split_once('?') {
                Some((b, q)) => (b.to_string(), format!("?{q}")),
                None => (admin.clone(), String::new()),
            };
            let host = base.rsplit_once('/').map(|(h, _)| h.to_string()).unwrap_or(base);
            (format!("{host}/{name}{query}"), Some((admin, name)))
        }
    }
}

/// Drop a test's PostgreSQL database (from Drop, so on a runtime of its own).
fn drop_database(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql)).await;
            }
        });
    })
    .join();
}

/// Run each named `async fn(Backend)` as two tests: `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if super::postgres_url().is_some() {
                        super::$name(super::Backend::Postgres).await
                    }
                }
            }
        )*
    };
}

/// Small bodies, no auth cache (revocations show at once), no rate limit.
fn test_config() -> Config {
    Config {
        max_body_bytes: 64 * 1024,
        auth_cache_ttl: std::time::Duration::ZERO,
        tenant_rate: scimd::ratelimit::Rate::OFF,
        ..Config::default()
    }
}

async fn start(b: Backend) -> Server {
    start_with(b, test_config()).await
}

async fn start_with(b: Backend, config: Config) -> Server {
    let webhooks = scimd::service::webhooks::WebhookOptions {
        key: Some(scimd::events::sealed::SealingKey::generate().unwrap()),
        // The tests' receivers listen on 127.0.0.1.
        allow_private: true,
        ..Default::default()
    };
    let options = scimd::service::Options { limits: config.limits, webhooks, ..Default::default() };
    start_with_options(b, config, options).await
}

async fn start_with_options(b: Backend, config: Config, options: scimd::service::Options) -> Server {
    start_with_pool(b, config, options, &Default::default()).await
}

async fn start_with_pool(
    b: Backend,
    config: Config,
    options: scimd::service::Options,
    pool: &scimd::store::PoolConfig,
) -> Server {
    let dir = std::env::temp_dir().join(unique_name("scimd-test-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(b, &dir).await;
    start_on(dir, url, pg, config, options, pool).await
}

/// A server on a database a test has prepared (`pg`: dropped with the server).
async fn start_on(
    dir: std::path::PathBuf,
    url: String,
    pg: Option<(String, String)>,
    config: Config,
    options: scimd::service::Options,
    pool: &scimd::store::PoolConfig,
) -> Server {
    let clock = FixedClock::ticking("2026-01-01T00:00:00Z", std::time::Duration::from_millis(1));
    let (svc, tasks) = cli::open(&url, pool, options, clock.clone()).await.unwrap();
    svc.create_tenant("acme").await.unwrap();
    let token = cli::create_token(&svc, "acme", "okta", None).await.unwrap();
    let admin_token = cli::create_admin_token(&svc, "tests").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(svc.clone(), config);
    tokio::spawn(cli::run_server(listener, state, tasks, std::future::pending()));
    let root = format!("http://{addr}");
    Server {
        base: format!("{root}/scim/v2/acme"),
        admin: format!("{root}/admin/v1/tenants/acme"),
        root,
        token,
        admin_token,
        svc,
        clock,
        client: reqwest::Client::new(),
        dir,
        url,
        pg,
    }
}

impl Server {
    async fn raw(&self, method: Method, path: &str, body: Option<String>, headers: &[(&str, &str)]) -> Resp {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) };
        let mut req = self.client.request(method, url);
        let mut has_auth = false;
        for (k, v) in headers {
            has_auth |= k.eq_ignore_ascii_case("authorization");
            req = req.header(*k, *v);
        }
        if !has_auth {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Resp { status, headers, body }
    }
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let ct = [("Content-Type", "application/scim+json")];
        self.raw(method, path, body.map(|b| b.to_string()), &ct).await
    }
    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn patch(&self, path: &str, ops: Value) -> Resp {
        self.call(Method::PATCH, path, Some(json!({"schemas": [PATCH_OP], "Operations": ops}))).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }
    async fn create_user(&self, user_name: &str) -> Value {
        let r = self
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": user_name, "name": {"givenName": "G", "familyName": "F"},
                                   "emails": [{"primary": true, "value": user_name, "type": "work"}], "active": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }
    async fn create_group(&self, name: &str) -> Value {
        let r = self.post("/Groups", json!({"schemas": [GROUP], "displayName": name, "members": []})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }
    /// A call to the admin API of tenant `acme`.
    async fn adm(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {}", self.admin_token);
        let ct = ("Content-Type", "application/json");
        let url = format!("{}{path}", self.admin);
        self.raw(method, &url, body.map(|b| b.to_string()), &[("Authorization", &auth), ct]).await
    }
    /// Every event of tenant `acme` the feed shows, once at least `n` do. On
    /// PostgreSQL an event shows once every transaction older than its own
    /// has ended, in any database of the server (other tests write beside
    /// this one): a moment, so a reader waits.
    async fn feed_at_least(&self, query: &str, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            let (mut events, mut after) = (Vec::new(), String::new());
            loop {
                let sep = if query.is_empty() { "" } else { "&" };
                let r = self.adm(Method::GET, &format!("/events?limit=1000&after={after}{sep}{query}"), None).await;
                assert_eq!(r.status, 200, "{}", r.body);
                let page = r.body["data"].as_array().cloned().unwrap_or_default();
                if page.is_empty() {
                    break;
                }
                after = r.body["next"].as_str().unwrap_or_default().to_string();
                events.extend(page);
            }
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} events showed in the feed");
    }
    async fn access(&self, user_id: &str) -> Value {
        let r = self.adm(Method::GET, &format!("/users/{user_id}/access"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
    /// (workspace name, role name, source) of a user's roles, sorted.
    async fn roles(&self, user_id: &str) -> Vec<(String, String, String)> {
        let a = self.access(user_id).await;
        let mut out: Vec<_> = a["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let src = r["source"].as_str().unwrap().to_string();
                (
                    r["workspace"]["name"].as_str().unwrap().to_string(),
                    r["role"]["name"].as_str().unwrap().to_string(),
                    src,
                )
            })
            .collect();
        out.sort();
        out
    }
    async fn add_member(&self, group: &str, user: &str) {
        let r = self
            .patch(&format!("/Groups/{group}"), json!([{"op": "add", "path": "members", "value": [{"value": user}]}]))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    async fn remove_member(&self, group: &str, user: &str) {
        let r = self
            .patch(
                &format!("/Groups/{group}"),
                json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    /// Two workspaces, four roles (one protected and not provisionable), two licence types.
    async fn configure_product(&self) {
        for ws in ["c3.acme", "c3.acme-eu"] {
            assert_eq!(self.adm(Method::POST, "/workspaces", Some(json!({"name": ws}))).await.status, 201);
        }
        for (name, rank, provisionable, protected) in [
            ("Viewer", 1, true, false),
            ("Editor", 2, true, false),
            ("Admin", 3, true, false),
            ("Billing Admin", 9, false, true),
        ] {
            let body = json!({"name": name, "rank": rank, "provisionable": provisionable, "protected": protected});
            assert_eq!(self.adm(Method::POST, "/roles", Some(body)).await.status, 201);
        }
        let r = self
            .adm(Method::POST, "/licence-types", Some(json!({"name": "Basic", "seat_limit": 100, "default": true})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = self.adm(Method::POST, "/licence-types", Some(json!({"name": "Pro", "seat_limit": null}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = self
            .adm(
                Method::PUT,
                "/policy",
                Some(json!({"on_create": "grant_default", "default_role": "Viewer", "default_workspace": "c3.acme"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    fn id_of(v: &Value) -> String {
        v["id"].as_str().unwrap().to_string()
    }

    async fn ids(&self, path: &str) -> Vec<String> {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    }
}

fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn w(ws: &str, role: &str, source: &str) -> (String, String, String) {
    (ws.to_string(), role.to_string(), source.to_string())
}

mod audit;
mod base_urls;
mod bulk;
mod command_line;
mod console;
mod credentials;
mod cursors;
mod discovery;
mod entra;
mod errors;
mod etags;
mod events;
mod extensions;
mod filters;
mod hardening;
mod lists;
mod okta;
mod openapi;
mod policy;
mod policy_gaps;
mod replicas;
mod service;
mod sorting;
mod storage;
mod tenants;
mod transfer;
mod webhooks;
