//! scimd's one integration-test binary: a real server on 127.0.0.1:0 with a
//! fresh SQLite file, driven over real HTTP as Okta, Entra and other clients
//! drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode, header::HeaderMap};
use scimd::cli;
use scimd::http::{AppState, Config};
use scimd::store::Store;
use serde_json::{Value, json};
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
    store: Store,
    client: reqwest::Client,
    dir: std::path::PathBuf,
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

mod hardening;

async fn start(b: Backend) -> Server {
    start_with(b, test_config()).await
}

async fn start_with(b: Backend, config: Config) -> Server {
    let dir = std::env::temp_dir().join(unique_name("scimd-test-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(b, &dir).await;
    let store = cli::open_store(&url).await.unwrap();
    store.create_tenant("acme", "2026-01-01T00:00:00.000Z").await.unwrap();
    let token = cli::create_token(&store, "acme", "okta", None).await.unwrap();
    let admin_token = cli::create_admin_token(&store, "tests").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(store.clone(), config);
    tokio::spawn(cli::run_server(listener, state, std::future::pending()));
    let root = format!("http://{addr}");
    Server {
        base: format!("{root}/scim/v2/acme"),
        admin: format!("{root}/admin/v1/tenants/acme"),
        root,
        token,
        admin_token,
        store,
        client: reqwest::Client::new(),
        dir,
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

on_both_backends!(
    admin_api_needs_its_token_and_refuses_broken_configuration,
    scim_refuses_users_outside_the_allowed_domains,
    new_users_get_the_default_role_or_nothing,
    group_mappings_grant_the_highest_role,
    changing_a_mapping_moves_every_member,
    licences_count_seats_exactly,
    deactivation_suspends_and_reactivation_recomputes,
    soft_delete_keeps_the_user_for_restore,
    scim_managed_users_are_read_only_in_the_admin_api,
    switching_scim_off_refuses_scim_requests,
    discovery_endpoints,
    health_and_readiness,
    okta_spec_test_sequence,
    okta_user_lifecycle,
    okta_group_push,
    entra_user_lifecycle,
    entra_group_lifecycle,
    group_patch_can_answer_no_content,
    deleting_a_user_removes_its_memberships,
    reads_never_show_a_stale_user,
    pages_show_resources_as_get_does,
    every_error_is_a_scim_error,
    pagination_is_exact_and_stable,
    deep_pages_stay_exact_as_users_come_and_go,
    sql_filters_agree_with_the_reference_evaluator,
    etags_and_preconditions,
    concurrent_creates_of_one_user_name,
    tenants_are_isolated_and_tokens_checked
);

// ------------------------------------------------------------------ discovery

async fn discovery_endpoints(b: Backend) {
    let s = start(b).await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["filter"]["maxResults"], 1000);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["sort"]["supported"], true);

    let r = s.get("/ResourceTypes").await;
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(s.get("/ResourceTypes/Group").await.body["endpoint"], "/Groups");
    s.get("/ResourceTypes/Nope").await.assert_error(404, None);

    let r = s.get("/Schemas").await;
    assert_eq!(r.body["totalResults"], 3);
    let user = &r.body["Resources"][0];
    assert_eq!(user["id"], USER);
    let user_name = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["required"], true);
    let r = s.get(&format!("/Schemas/{ENTERPRISE}")).await;
    assert_eq!(r.body["attributes"].as_array().unwrap().len(), 6);
    s.get("/Schemas/urn:nope").await.assert_error(404, None);
    s.call(Method::POST, "/Schemas", None).await.assert_error(405, None);
    s.call(Method::DELETE, "/ServiceProviderConfig", None).await.assert_error(405, None);
    s.post("/Bulk", json!({})).await.assert_error(501, None);
}

async fn health_and_readiness(b: Backend) {
    let s = start(b).await;
    let r = s.raw(Method::GET, &format!("{}/healthz", s.root), None, &[]).await;
    assert_eq!(r.status, 200);
    let r = s.raw(Method::GET, &format!("{}/readyz", s.root), None, &[]).await;
    assert_eq!(r.status, 200);
}

// ------------------------------------------------------------------ Okta

async fn okta_spec_test_sequence(b: Backend) {
    let s = start(b).await;
    s.create_user("existing@example.com").await; // the suite needs one user first
    let get_hdrs = [
        ("Accept", "application/scim+json"),
        ("Content-Type", "application/scim+json; charset=utf-8"),
        ("User-Agent", "OKTA SCIM Integration"),
    ];
    // 1
    let r = s.raw(Method::GET, "/Users?count=1&startIndex=1", None, &get_hdrs).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert!(r.body["itemsPerPage"].is_i64() && r.body["startIndex"].is_i64() && r.body["totalResults"].is_i64());
    let first = &r.body["Resources"][0];
    for f in ["id", "userName", "active"] {
        assert!(!first[f].is_null(), "{f}");
    }
    assert!(first["name"]["familyName"].is_string() && first["emails"][0]["value"].is_string());
    let id = first["id"].as_str().unwrap().to_string();
    // 2
    assert_eq!(s.get(&format!("/Users/{id}")).await.body["id"], id);
    // 3, 5
    let r = s.get(&format!("/Users?filter={}", q("userName eq \"invalid@example.com\""))).await;
    assert_eq!((r.status.as_u16(), r.body["totalResults"].clone()), (200, json!(0)));
    assert_eq!(r.body["Resources"], json!([]));
    // 4, 12
    s.get("/Users/010101001010101011001010101011").await.assert_error(404, None);
    // 6: the POST comes as application/json
    let body = json!({"schemas": [USER], "userName": "Runscope300Hfluaklab151@example.com",
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"primary": true, "value": "Runscope300Hfluaklab151@example.com", "type": "work"}],
        "displayName": "Given Family", "active": true});
    let r = s
        .raw(
            Method::POST,
            "/Users",
            Some(body.to_string()),
            &[("Content-Type", "application/json"), ("Accept", "application/scim+json; charset=utf-8")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["familyName"], "Family");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(USER)));
    let created = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location").unwrap(), r.body["meta"]["location"].as_str().unwrap());
    // 7
    assert_eq!(s.get(&format!("/Users/{created}")).await.body["userName"], "Runscope300Hfluaklab151@example.com");
    // 8
    let r = s.raw(Method::POST, "/Users", Some(body.to_string()), &[("Content-Type", "application/json")]).await;
    r.assert_error(409, Some("uniqueness"));
    // 9: userName is caseExact false
    let r = s.get(&format!("/Users?filter={}", q("userName eq \"RUNSCOPE300HFLUAKLAB151@EXAMPLE.COM\""))).await;
    assert_eq!(r.body["totalResults"], 1);
    // 10
    assert_eq!(s.get("/Groups").await.status, 200);
    // 11
    let r = s.raw(Method::GET, "/Users", None, &[("Authorization", "non-token")]).await;
    r.assert_error(401, None);
    assert!(r.header("www-authenticate").is_some());
}

async fn okta_user_lifecycle(b: Backend) {
    let s = start(b).await;
    let r = s
        .post(
            "/Users",
            json!({
        "schemas": [USER], "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.body.get("password").is_none());
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");
    let id = r.body["id"].as_str().unwrap().to_string();
    // PUT with the whole object, as Okta sends it after a GET.
    let mut user = s.get(&format!("/Users/{id}")).await.body;
    user["name"]["middleName"] = json!("M");
    user["groups"] = json!([]);
    let r = s.put(&format!("/Users/{id}"), user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["middleName"], "M");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["meta"]["version"], "W/\"2\"");
    // Deactivate and reactivate: PATCH without a path.
    let r = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, json!(false)));
    let r = s.get(&format!("/Users?filter={}", q("active eq false"))).await;
    assert_eq!(r.body["totalResults"], 1, "a deactivated user stays readable and filterable");
    let r = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(r.body["active"], true);
    // Password sync is accepted and never returned.
    let r = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"password": "n3w"}}])).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("password").is_none());
    // AIW deactivate by PUT.
    let mut user = s.get(&format!("/Users/{id}")).await.body;
    user["active"] = json!(false);
    assert_eq!(s.put(&format!("/Users/{id}"), user).await.body["active"], false);
}

async fn okta_group_push(b: Backend) {
    let s = start(b).await;
    let u1 = s.create_user("u1@x.org").await["id"].as_str().unwrap().to_string();
    let u2 = s.create_user("u2@x.org").await["id"].as_str().unwrap().to_string();
    let g = s.create_group("Test SCIMv2").await;
    assert_eq!(g["members"], json!([]));
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    // Rename repeats the read-only id.
    let r = s.patch(&path, json!([{"op": "replace", "value": {"id": gid, "displayName": "Renamed"}}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Renamed");
    // Add, then remove one and add another in a single request.
    let r = s
        .patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": u1, "display": "u1@x.org"}]}]))
        .await;
    assert_eq!(r.body["members"], json!([{"value": u1, "display": "u1@x.org"}]));
    let r = s
        .patch(
            &path,
            json!([
        {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
        {"op": "add", "path": "members", "value": [{"value": u2, "display": "u2@x.org"}]}]),
        )
        .await;
    assert_eq!(r.body["members"], json!([{"value": u2, "display": "u2@x.org"}]));
    // Re-adding an existing member does not duplicate it.
    let r = s.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": u2}]}])).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    // Full push replaces; the user's groups attribute follows.
    let r =
        s.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": u1}, {"value": u2}]}])).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let user = s.get(&format!("/Users/{u1}")).await.body;
    assert_eq!(user["groups"][0]["value"], gid);
    assert_eq!(user["groups"][0]["display"], "Renamed");
    // AIW: the group PUT.
    let r = s.put(&path, json!({"schemas": [GROUP], "displayName": "Renamed", "members": [{"value": u2}]})).await;
    assert_eq!(r.body["members"], json!([{"value": u2}]));
    // replace members [] empties the group.
    let r = s.patch(&path, json!([{"op": "replace", "path": "members", "value": []}])).await;
    assert_eq!(r.body["members"], json!([]));
    // Unlink with delete.
    let r = s.delete(&path).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    s.get(&path).await.assert_error(404, None);
    assert!(s.get(&format!("/Users/{u1}")).await.body.get("groups").is_none());
}

// ------------------------------------------------------------------ Entra

async fn entra_user_lifecycle(b: Backend) {
    let s = start(b).await;
    // Test Connection: a random GUID as userName.
    let r = s.get(&format!("/Users?filter={}", q("userName eq \"2ec4b0b1-bdb3-4a39-9c13-e7a4f3ba9c28\""))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
    // Create, with nulls, meta, roles: [] and no Content-Type at all.
    let body = json!({
        "schemas": [USER, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@testuser.com", "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"}, "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [], "addresses": null, "phoneNumbers": null, "preferredLanguage": null, "title": null,
        "department": null, "manager": null});
    let r = s.raw(Method::POST, "/Users", Some(body.to_string()), &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    // The doc's misspelled extension URN is tolerated.
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
                                     "userName": "other@testuser.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Matching by externalId and by work email.
    assert_eq!(
        s.ids(&format!("/Users?filter={}", q("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\""))).await,
        vec![id.clone()]
    );
    assert_eq!(
        s.ids(&format!("/Users?filter={}", q("emails[type eq \"work\"].value eq \"test_user_FD0EA19B@testuser.com\"")))
            .await,
        vec![id.clone()]
    );
    assert_eq!(
        s.ids(&format!("/Users?filter={}", q("userName eq \"Test_User_ab6490ee@testuser.com\" and active eq true")))
            .await,
        vec![id.clone()]
    );
    // Replace ops with capitals, string booleans, URN paths.
    let r = s.patch(&path, json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
        {"op": "Replace", "path": "active", "value": "False"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(r.body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body[ENTERPRISE]["employeeNumber"], "42");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)));
    // With aadOptscim062020: path-less value with dotted and URN keys.
    let r = s
        .patch(
            &path,
            json!([{"op": "replace", "value": {"displayName": "DN", "name.givenName": "GN",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops"}}]),
        )
        .await;
    assert_eq!((r.body["displayName"].clone(), r.body["name"]["givenName"].clone()), (json!("DN"), json!("GN")));
    assert_eq!(r.body[ENTERPRISE]["department"], "Ops");
    // Manager as a bare id string.
    let r = s
        .patch(
            &path,
            json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]),
        )
        .await;
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "26118915-6090-4610-87e4-49d8ca9f808d");
    // An "other" email that does not exist yet is added.
    let r =
        s.patch(&path, json!([{"op": "Replace", "path": "emails[type eq \"other\"].Value", "value": "o@x.org"}])).await;
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2);
    // Update userName, then delete.
    let r = s.patch(&path, json!([{"op": "Replace", "path": "userName", "value": "renamed@testuser.com"}])).await;
    assert_eq!(r.body["userName"], "renamed@testuser.com");
    assert_eq!(s.delete(&path).await.status, 204);
    s.get(&path).await.assert_error(404, None);
    s.delete(&path).await.assert_error(404, None);
    s.patch(&path, json!([{"op": "replace", "value": {"active": true}}])).await.assert_error(404, None);
}

/// `--group-patch-response no-content`: a group PATCH answers 204 (what
/// Entra recommends), unless it asks for attributes; users still get 200.
async fn group_patch_can_answer_no_content(b: Backend) {
    let config = Config { group_patch_no_content: true, ..test_config() };
    let s = start_with(b, config).await;
    let u = Server::id_of(&s.create_user("nc@x.org").await);
    let g = Server::id_of(&s.create_group("NoContent").await);
    let path = format!("/Groups/{g}");
    let r = s.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    assert_eq!(s.get(&path).await.body["members"][0]["value"], u.as_str());
    let r = s
        .patch(
            &format!("{path}?excludedAttributes=members"),
            json!([{"op": "replace", "path": "displayName", "value": "Renamed"}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["displayName"], "Renamed");
    assert!(r.body.get("members").is_none());
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, json!(false)));
}

async fn entra_group_lifecycle(b: Backend) {
    let s = start(b).await;
    let u1 = s.create_user("a@x.org").await["id"].as_str().unwrap().to_string();
    let u2 = s.create_user("b@x.org").await["id"].as_str().unwrap().to_string();
    let r = s
        .get(&format!("/Groups?excludedAttributes=members&filter={}", q("displayName eq \"Group1DisplayName\"")))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s.post("/Groups", json!({"schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName", "meta": {"resourceType": "Group"}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["members"], json!([]));
    assert_eq!(r.body["schemas"], json!([GROUP]));
    let gid = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    let r = s.patch(&path, json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}])).await;
    assert_eq!(r.status, 200);
    let r = s
        .get(&format!("/Groups?excludedAttributes=members&filter={}", q("displayName eq \"group1displayname\"")))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = s.get(&format!("{path}?excludedAttributes=members")).await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Group1DisplayName");
    // Membership checks by filter.
    assert_eq!(
        s.ids(&format!("/Groups?filter={}", q(&format!("id eq \"{gid}\" and members[value eq \"{u1}\"]")))).await,
        vec![gid.clone()]
    );
    assert_eq!(s.ids(&format!("/Users?filter={}", q(&format!("groups.value eq \"{gid}\"")))).await.len(), 2);
    // Default-mode removal lists the members to remove.
    let r = s.patch(&path, json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u1}]}])).await;
    assert_eq!(r.body["members"], json!([{"value": u2}]));
    // Flag-mode removal.
    let r = s.patch(&path, json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}])).await;
    assert_eq!(r.body["members"], json!([]));
    let r = s.patch(&path, json!([{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}])).await;
    assert_eq!(r.body["displayName"], "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
    assert_eq!(s.delete(&path).await.status, 204);
}

async fn deleting_a_user_removes_its_memberships(b: Backend) {
    let s = start(b).await;
    let u = s.create_user("gone@x.org").await["id"].as_str().unwrap().to_string();
    let g = s.create_group("G").await["id"].as_str().unwrap().to_string();
    s.patch(&format!("/Groups/{g}"), json!([{"op": "add", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    assert_eq!(s.get(&format!("/Groups/{g}")).await.body["members"], json!([]));
}

/// Reads answered from the read cache (SQLite) always show the last write:
/// the user's own changes, its groups' changes, a rename, a delete, a restore.
async fn reads_never_show_a_stale_user(b: Backend) {
    let s = start(b).await;
    let u = Server::id_of(&s.create_user("Cache@x.org").await);
    let path = format!("/Users/{u}");
    let by_name = |name: &str| format!("/Users?filter={}", q(&format!("userName eq \"{name}\"")));
    for _ in 0..2 {
        assert_eq!(s.get(&path).await.body["active"], true);
        assert_eq!(s.ids(&by_name("cache@X.org")).await, vec![u.clone()]);
    }
    let r = s.patch(&path, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(&path).await.body["active"], false);
    assert_eq!(s.get(&by_name("cache@x.org")).await.body["Resources"][0]["active"], false);
    let etag = s.get(&path).await.header("etag").unwrap().to_string();
    assert_eq!(etag, r.header("etag").unwrap());
    assert_eq!(s.raw(Method::GET, &path, None, &[("If-None-Match", &etag)]).await.status, 304);

    let g = Server::id_of(&s.create_group("Cached").await);
    s.add_member(&g, &u).await;
    assert_eq!(s.get(&path).await.body["groups"][0]["value"], g.as_str());
    let r =
        s.patch(&format!("/Groups/{g}"), json!([{"op": "replace", "path": "displayName", "value": "Renamed"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(&path).await.body["groups"][0]["display"], "Renamed");
    assert_eq!(s.get(&by_name("cache@x.org")).await.body["Resources"][0]["groups"][0]["display"], "Renamed");
    assert_eq!(s.delete(&format!("/Groups/{g}")).await.status, 204);
    assert!(s.get(&path).await.body.get("groups").is_none());

    let r = s.patch(&path, json!([{"op": "replace", "path": "userName", "value": "moved@x.org"}])).await;
    assert_eq!(r.status, 200);
    assert!(s.ids(&by_name("cache@x.org")).await.is_empty());
    let other = Server::id_of(&s.create_user("cache@x.org").await);
    assert_eq!(s.ids(&by_name("cache@x.org")).await, vec![other]);
    assert_eq!(s.ids(&by_name("moved@x.org")).await, vec![u.clone()]);
    // The whole user only: a projection is rendered afresh.
    let r = s.get(&format!("{path}?attributes=userName")).await;
    assert_eq!(r.body["userName"], "moved@x.org");
    assert!(r.body.get("active").is_none());

    assert_eq!(s.delete(&path).await.status, 204);
    s.get(&path).await.assert_error(404, None);
    assert!(s.ids(&by_name("moved@x.org")).await.is_empty());
}

/// A page writes whole resources out without parsing them; what it shows
/// must be what GET shows, attribute for attribute.
async fn pages_show_resources_as_get_does(b: Backend) {
    let s = start(b).await;
    let plain = Server::id_of(&s.create_user("plain@x.org").await);
    let rich = json!({"schemas": [USER, ENTERPRISE], "userName": "Rich \"Q\" \\ Ünïcode@x.org",
        "name": {"givenName": "Zoë", "familyName": "O'Brien\n"}, "displayName": "Tab\there", "active": false,
        "emails": [{"value": "r@x.org", "type": "work", "primary": true}, {"value": "r2@x.org", "type": "home"}],
        "phoneNumbers": [{"value": "+1 555", "type": "mobile"}], "externalId": "ext-1",
        ENTERPRISE: {"employeeNumber": "42", "department": "R&D", "manager": {"value": plain}}});
    let r = s.post("/Users", rich).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rich = Server::id_of(&r.body);
    let g = Server::id_of(&s.create_group("Team \"A\"").await);
    s.add_member(&g, &rich).await;
    s.add_member(&g, &plain).await;
    s.create_group("Empty").await;
    for kind in ["Users", "Groups"] {
        let page = s.get(&format!("/{kind}?count=100")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["Resources"].as_array().unwrap();
        assert_eq!(items.len() as u64, page.body["totalResults"].as_u64().unwrap());
        for item in items {
            let one = s.get(&format!("/{kind}/{}", item["id"].as_str().unwrap())).await;
            assert_eq!(item, &one.body, "{kind}: the page and GET differ");
        }
    }
    let items = s.get("/Users?count=100").await.body["Resources"].clone();
    let rich_item = items.as_array().unwrap().iter().find(|u| u["id"] == rich.as_str()).unwrap().clone();
    assert_eq!(rich_item["groups"][0]["display"], "Team \"A\"");
    assert_eq!(rich_item[ENTERPRISE]["department"], "R&D");
    // Through POST /.search as well.
    let r = s.post("/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["Resources"].as_array().unwrap().contains(&rich_item));
}

// ------------------------------------------------------------------ errors

async fn every_error_is_a_scim_error(b: Backend) {
    let s = start(b).await;
    let u = s.create_user("e@x.org").await["id"].as_str().unwrap().to_string();
    s.raw(Method::POST, "/Users", Some("{not json".into()), &[("Content-Type", "application/scim+json")])
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.raw(Method::POST, "/Users", Some("".into()), &[("Content-Type", "application/json")])
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.raw(Method::POST, "/Users", Some("userName=x".into()), &[("Content-Type", "application/x-www-form-urlencoded")])
        .await
        .assert_error(415, None);
    let big = json!({"schemas": [USER], "userName": "x".repeat(100 * 1024)});
    s.post("/Users", big).await.assert_error(413, None);
    s.get("/Nope").await.assert_error(404, None);
    s.raw(Method::GET, &format!("{}/nope", s.root), None, &[]).await.assert_error(404, None);
    s.get("/Users/%FF%FE").await.assert_error(400, None);
    s.call(Method::DELETE, "/Users", None).await.assert_error(405, None);
    s.call(Method::PUT, "/Groups", None).await.assert_error(405, None);
    s.get(&format!("/Users?filter={}", q("userName eq"))).await.assert_error(400, Some("invalidFilter"));
    s.get(&format!("/Users?filter={}", q("nope eq \"x\""))).await.assert_error(400, Some("invalidFilter"));
    s.get(&format!("/Users?filter={}", q("password eq \"x\""))).await.assert_error(400, Some("invalidFilter"));
    s.get("/Users?startIndex=abc").await.assert_error(400, Some("invalidValue"));
    s.get("/Users?sortOrder=sideways").await.assert_error(400, Some("invalidValue"));
    s.post("/Users", json!({"name": {"givenName": "no userName"}})).await.assert_error(400, Some("invalidValue"));
    s.post("/Users", json!({"schemas": [USER], "userName": "x", "active": "maybe"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post("/Groups", json!({"members": []})).await.assert_error(400, Some("invalidValue"));
    let path = format!("/Users/{u}");
    s.patch(&path, json!([{"op": "remove"}])).await.assert_error(400, Some("noTarget"));
    s.patch(&path, json!([{"op": "replace", "path": "nope", "value": 1}])).await.assert_error(400, Some("invalidPath"));
    s.patch(&path, json!([{"op": "replace", "path": "id", "value": "x"}])).await.assert_error(400, Some("mutability"));
    s.patch(&path, json!([{"op": "jump", "path": "x"}])).await.assert_error(400, Some("invalidSyntax"));
    s.call(Method::PATCH, &path, Some(json!({"schemas": [PATCH_OP]}))).await.assert_error(400, Some("invalidSyntax"));
    // A failing PATCH leaves the resource unchanged.
    let before = s.get(&path).await.body;
    s.patch(&path, json!([{"op": "replace", "path": "displayName", "value": "half"}, {"op": "replace", "path": "nope", "value": 1}]))
        .await
        .assert_error(400, Some("invalidPath"));
    assert_eq!(s.get(&path).await.body, before);
}

// ------------------------------------------------------------------ lists

/// Unfiltered pages start from marks every 256 users (SQLite): they must stay
/// exact however deep, and as users are created and deleted between pages.
async fn deep_pages_stay_exact_as_users_come_and_go(b: Backend) {
    let s = start(b).await;
    let mut all = Vec::new();
    for i in 0..600 {
        all.push(Server::id_of(&s.create_user(&format!("deep{i:03}@x.org")).await));
    }
    let listed = |start: usize, count: usize| format!("/Users?startIndex={start}&count={count}");
    let mut in_order = Vec::new();
    for start in (1..=600).step_by(100) {
        in_order.extend(s.ids(&listed(start, 100)).await);
    }
    assert_eq!(in_order, all, "six pages of 100 hold every user once, in creation order");
    for start in [1, 256, 257, 258, 511, 512, 513, 599, 600] {
        assert_eq!(s.ids(&listed(start, 3)).await, in_order[start - 1..(start + 2).min(600)], "startIndex {start}");
    }
    assert!(s.ids(&listed(601, 10)).await.is_empty());
    assert_eq!(s.get(&listed(1, 1)).await.body["totalResults"], 600);

    assert_eq!(s.delete(&format!("/Users/{}", in_order[9])).await.status, 204);
    in_order.remove(9);
    let r = s.get(&listed(257, 2)).await;
    assert_eq!(r.body["totalResults"], 599);
    assert_eq!(s.ids(&listed(257, 2)).await, in_order[256..258]);
    let newest = Server::id_of(&s.create_user("deep-new@x.org").await);
    in_order.push(newest);
    assert_eq!(s.ids(&listed(599, 5)).await, in_order[598..600]);
    assert_eq!(s.get(&listed(1, 1)).await.body["totalResults"], 600);
}

async fn pagination_is_exact_and_stable(b: Backend) {
    let s = start(b).await;
    let mut all = Vec::new();
    for i in 0..25 {
        all.push(s.create_user(&format!("user{i:02}@x.org")).await["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for start in [1, 11, 21] {
        let r = s.get(&format!("/Users?startIndex={start}&count=10")).await;
        assert_eq!(r.body["totalResults"], 25);
        assert_eq!(r.body["startIndex"], start);
        assert_eq!(r.body["itemsPerPage"], if start == 21 { 5 } else { 10 });
        seen.extend(r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, all, "pages neither overlap nor skip, in creation order");
    let r = s.get("/Users?count=0").await;
    assert_eq!((r.body["totalResults"].clone(), r.body["itemsPerPage"].clone()), (json!(25), json!(0)));
    let r = s.get("/Users?startIndex=0&count=2").await;
    assert_eq!(r.body["startIndex"], 1);
    let r = s.get("/Users?startIndex=100").await;
    assert_eq!((r.body["totalResults"].clone(), r.body["Resources"].clone()), (json!(25), json!([])));
    // Sorting.
    let ids = s.ids("/Users?sortBy=userName&sortOrder=descending&count=3").await;
    assert_eq!(ids, vec![all[24].clone(), all[23].clone(), all[22].clone()]);
    // attributes / excludedAttributes.
    let r = s.get("/Users?attributes=userName&count=1").await;
    let mut keys: Vec<_> = r.body["Resources"][0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let r = s.get("/Users?excludedAttributes=emails,name&count=1").await;
    assert!(r.body["Resources"][0].get("emails").is_none() && r.body["Resources"][0].get("userName").is_some());
    // POST .search, per type and at the root.
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"user0\"", "attributes": ["userName"], "startIndex": 1, "count": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 10);
    assert_eq!(r.body["itemsPerPage"], 5);
    s.create_group("Group A").await;
    let r = s
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "startIndex": 25, "count": 10}),
        )
        .await;
    assert_eq!(r.body["totalResults"], 26);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["Resources"][1]["displayName"], "Group A");
    let r = s.post("/.search", json!({"filter": "displayName eq \"group a\""})).await;
    assert_eq!(r.body["totalResults"], 1);
}

/// The SQL translation of filters agrees with scim-core's in-memory evaluator.
async fn sql_filters_agree_with_the_reference_evaluator(b: Backend) {
    let s = start(b).await;
    let people = [
        json!({"schemas": [USER], "userName": "alice@example.com", "displayName": "Alice", "title": "Engineer", "userType": "Employee", "active": true,
               "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "a@home.org", "type": "home"}],
               "name": {"givenName": "Alice", "familyName": "O'Malley"}, ENTERPRISE: {"employeeNumber": "7", "department": "R&D"}}),
        json!({"schemas": [USER], "userName": "bob@example.org", "displayName": "Bob", "userType": "Intern", "active": false,
               "emails": [{"value": "bob@example.org", "type": "work"}], "name": {"givenName": "Bob"}}),
        json!({"schemas": [USER], "userName": "Carol@Example.com", "title": "Manager", "active": true, "nickName": "",
               "ims": [{"value": "carol@foo.com", "type": "xmpp"}], ENTERPRISE: {"department": "Sales"}}),
        json!({"schemas": [USER], "userName": "dave", "externalId": "EXT-1"}),
    ];
    for p in &people {
        let r = s.post("/Users", p.clone()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let all = s.get("/Users").await.body["Resources"].as_array().unwrap().clone();
    let rt = scim_core::ResourceType::user();
    let filters = [
        "userName eq \"carol@example.com\"",
        "userName sw \"A\"",
        "userName ew \".ORG\"",
        "userName co \"@\"",
        "userName gt \"bob\"",
        "userName le \"carol@example.com\"",
        "displayName eq \"alice\"",
        "title pr",
        "nickName pr",
        "not (title pr)",
        "title ne \"Engineer\"",
        "active eq true",
        "active ne true",
        "active eq false",
        "externalId eq \"EXT-1\"",
        "externalId eq \"ext-1\"",
        "name.familyName co \"O'Mal\"",
        "name.givenName sw \"b\"",
        "emails co \"example\"",
        "emails.value ew \"home.org\"",
        "emails.type eq \"home\"",
        "emails pr",
        "emails[type eq \"work\" and primary eq true]",
        "emails[type eq \"work\"].value eq \"BOB@example.org\"",
        "emails[not (type eq \"work\")]",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
        "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr",
        "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
        "meta.created gt \"2000-01-01T00:00:00Z\"",
        "meta.lastModified lt \"2000-01-01T00:00:00+01:00\"",
        "meta.resourceType eq \"User\"",
        "title eq null",
        "ims ne null",
        "emails ne \"alice@example.com\"",
        "id pr and userName pr",
    ];
    for text in filters {
        let f = scim_core::parse_filter(text).unwrap();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|u| scim_core::filter::matches(&f, u, &rt))
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        let mut got = s.ids(&format!("/Users?filter={}", q(text))).await;
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "filter: {text}");
    }
}

// ------------------------------------------------------------------ ETags

async fn etags_and_preconditions(b: Backend) {
    let s = start(b).await;
    let u = s.create_user("etag@x.org").await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let r = s.get(&path).await;
    let tag = r.header("etag").unwrap().to_string();
    assert_eq!(tag, "W/\"1\"");
    assert_eq!(r.body["meta"]["version"], tag);
    let r = s.raw(Method::GET, &path, None, &[("If-None-Match", &tag)]).await;
    assert_eq!(r.status, 304);
    let r = s.raw(Method::GET, &path, None, &[("If-None-Match", "W/\"9\"")]).await;
    assert_eq!(r.status, 200);
    let body = json!({"schemas": [USER], "userName": "etag@x.org", "active": false}).to_string();
    let ct = ("Content-Type", "application/scim+json");
    s.raw(Method::PUT, &path, Some(body.clone()), &[ct, ("If-Match", "W/\"7\"")]).await.assert_error(412, None);
    let r = s.raw(Method::PUT, &path, Some(body.clone()), &[ct, ("If-Match", &tag)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let ops =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]}).to_string();
    s.raw(Method::PATCH, &path, Some(ops.clone()), &[ct, ("If-Match", &tag)]).await.assert_error(412, None);
    assert_eq!(s.raw(Method::PATCH, &path, Some(ops), &[ct, ("If-Match", "*")]).await.status, 200);
    s.raw(Method::DELETE, &path, None, &[("If-Match", "W/\"1\"")]).await.assert_error(412, None);
    assert_eq!(s.raw(Method::DELETE, &path, None, &[("If-Match", "W/\"3\"")]).await.status, 204);
}

// ------------------------------------------------------------------ uniqueness

async fn concurrent_creates_of_one_user_name(b: Backend) {
    let s = std::sync::Arc::new(start(b).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "Race@Example.com" } else { "race@example.COM" };
            s.post("/Users", json!({"schemas": [USER], "userName": name})).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            created += 1;
        } else {
            r.assert_error(409, Some("uniqueness"));
        }
    }
    assert_eq!(created, 1);
    // Failing writes among good ones (SQLite runs them in one batch): each
    // failure is refused alone and every good write is kept.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 4 == 0 { "race@example.com".to_string() } else { format!("batch{i}@example.com") };
            let r = s.post("/Users", json!({"schemas": [USER], "userName": name})).await;
            (i, r)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if i % 4 == 0 {
            r.assert_error(409, Some("uniqueness"));
        } else {
            assert_eq!(r.status, 201, "{}", r.body);
            let id = r.body["id"].as_str().unwrap();
            assert_eq!(s.get(&format!("/Users/{id}")).await.body["userName"], format!("batch{i}@example.com"));
        }
    }
    assert_eq!(s.get("/Users?count=0").await.body["totalResults"], 31);
    // Renaming onto a taken name is refused too.
    let other = s.create_user("other@example.com").await;
    s.patch(
        &format!("/Users/{}", other["id"].as_str().unwrap()),
        json!([{"op": "replace", "path": "userName", "value": "RACE@example.com"}]),
    )
    .await
    .assert_error(409, Some("uniqueness"));
}

// ------------------------------------------------------------------ tenants and tokens

async fn tenants_are_isolated_and_tokens_checked(b: Backend) {
    let s = start(b).await;
    let a_user = s.create_user("a@acme.com").await["id"].as_str().unwrap().to_string();
    s.store.create_tenant("beta", "2026-01-01T00:00:00.000Z").await.unwrap();
    let beta = cli::create_token(&s.store, "beta", "entra", None).await.unwrap();
    let beta_base = format!("{}/scim/v2/beta", s.root);
    let auth = format!("Bearer {beta}");
    // Beta's token on acme's URL: 401; on its own URL it sees nothing of acme.
    s.raw(Method::GET, "/Users", None, &[("Authorization", &auth)]).await.assert_error(401, None);
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &auth)]).await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s.raw(Method::GET, &format!("{beta_base}/Users/{a_user}"), None, &[("Authorization", &auth)]).await;
    r.assert_error(404, None);
    // The same userName may exist in both tenants.
    let r = s
        .raw(
            Method::POST,
            &format!("{beta_base}/Users"),
            Some(json!({"schemas": [USER], "userName": "a@acme.com"}).to_string()),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 201);
    // The bare token works too (pasted into Okta's header field without "Bearer").
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &beta)]).await;
    assert_eq!(r.body["totalResults"], 1);
    // Missing header, wrong scheme, unknown tenant.
    s.raw(Method::GET, "/Users", None, &[("Authorization", "")]).await.assert_error(401, None);
    s.raw(Method::GET, "/Users", None, &[("Authorization", &format!("Basic {}", s.token))])
        .await
        .assert_error(401, None);
    s.raw(Method::GET, &format!("{}/scim/v2/nope/Users", s.root), None, &[]).await.assert_error(401, None);
    // A disabled tenant answers 403.
    s.store.set_tenant_enabled("beta", false).await.unwrap();
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &auth)]).await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("switched off"));
    // Revoked and expired tokens say so.
    let t = s.store.tenant_by_name("acme").await.unwrap().unwrap();
    s.store.revoke_token(t.id, "okta", "2026-01-01T00:00:00.000Z").await.unwrap();
    let r = s.get("/Users").await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
    let (expired, hash) = scimd::auth::generate_token().unwrap();
    s.store
        .create_token(t.id, "old", &hash, "2020-01-01T00:00:00.000Z", Some("2021-01-01T00:00:00.000Z"))
        .await
        .unwrap();
    let r = s.raw(Method::GET, "/Users", None, &[("Authorization", &format!("Bearer {expired}"))]).await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
}

// ------------------------------------------------------------------ provisioning policy

fn w(ws: &str, role: &str, source: &str) -> (String, String, String) {
    (ws.to_string(), role.to_string(), source.to_string())
}

async fn admin_api_needs_its_token_and_refuses_broken_configuration(b: Backend) {
    let s = start(b).await;
    let r = s.raw(Method::GET, &format!("{}/policy", s.admin), None, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "unauthorized");
    // A SCIM token is not an admin token.
    let r = s
        .raw(Method::GET, &format!("{}/policy", s.admin), None, &[("Authorization", &format!("Bearer {}", s.token))])
        .await;
    assert_eq!(r.status, 401);
    let r = s.adm(Method::GET, "/../../tenants/nope/policy", None).await;
    assert!(r.status == 404 || r.status == 401, "{}", r.status);
    s.configure_product().await;
    // A default role that SCIM may not grant.
    let r = s.adm(Method::PUT, "/policy", Some(json!({"default_role": "Billing Admin"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("not provisionable"), "{}", r.body);
    // A mapping to an unknown workspace, or a non-provisionable role.
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "G", "workspace": "nope", "role": "Editor"})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("no workspace 'nope'"), "{}", r.body);
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "G", "workspace": "c3.acme", "role": "Billing Admin"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // A workspace in use cannot go.
    let r = s.adm(Method::DELETE, &format!("/workspaces/{}", "c3.acme"), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.adm(Method::POST, "/roles", Some(json!({"name": "x", "rank": 1, "bogus": true}))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (400, json!("invalid_request")));
    let r = s.adm(Method::GET, "/config", None).await;
    assert_eq!(r.body["roles"].as_array().unwrap().len(), 4);
    assert_eq!(r.body["policy"]["on_create"], "grant_default");
}

/// Rule 1: e-mail domains.
async fn scim_refuses_users_outside_the_allowed_domains(b: Backend) {
    let s = start(b).await;
    let r = s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "vendor@other.io", "emails": [{"value": "vendor@other.io"}]}),
        )
        .await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("'other.io'"), "{}", r.body);
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "jo", "emails": [{"value": "jo@gmail.com", "type": "work"}]}),
        )
        .await;
    r.assert_error(403, None);
    assert_eq!(s.post("/Users", json!({"schemas": [USER], "userName": "a@ACME.com"})).await.status, 201);
    // External users are created by hand.
    let r = s.adm(Method::POST, "/users", Some(json!({"userName": "vendor@other.io"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scim_managed"], false);
}

/// Rule 2: grant_default or no_access.
async fn new_users_get_the_default_role_or_nothing(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let u = Server::id_of(&s.create_user("a@acme.com").await);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Viewer", "default")]);
    let a = s.access(&u).await;
    assert_eq!((a["active"].clone(), a["scim_managed"].clone()), (json!(true), json!(true)));
    assert_eq!(a["licence"]["type"]["name"], "Basic");
    assert_eq!(a["licence"]["source"], "default");
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_create": "no_access"}))).await;
    assert_eq!(r.status, 200);
    let v = Server::id_of(&s.create_user("b@acme.com").await);
    assert_eq!(s.roles(&v).await, vec![]);
}

/// Rule 3: mapped groups, highest rank per workspace, leaving only removes what the group gave.
async fn group_mappings_grant_the_highest_role(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let editors = Server::id_of(&s.create_group("Editors").await);
    let admins = Server::id_of(&s.create_group("Admins").await);
    // By displayName (any case) and by id.
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "editors", "workspace": "c3.acme", "role": "Editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": admins, "workspace": "c3.acme", "role": "Admin"})))
        .await;
    assert_eq!(r.status, 201);
    let u = Server::id_of(&s.create_user("u@acme.com").await);
    for (ws, role) in [("c3.acme", "Viewer"), ("c3.acme-eu", "Viewer"), ("c3.acme", "Billing Admin")] {
        let r = s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": ws, "role": role}))).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme", "Viewer", "manual"),
            w("c3.acme-eu", "Viewer", "manual")
        ]
    );
    s.add_member(&editors, &u).await;
    let g = format!("group:{editors}");
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Billing Admin", "manual"), w("c3.acme", "Editor", &g), w("c3.acme-eu", "Viewer", "manual")],
        "the mapped role replaces the other non-protected roles of its workspace, manual ones too"
    );
    s.add_member(&admins, &u).await;
    let ga = format!("group:{admins}");
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Admin", &ga), w("c3.acme", "Billing Admin", "manual"), w("c3.acme-eu", "Viewer", "manual")]
    );
    s.remove_member(&admins, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![w("c3.acme", "Billing Admin", "manual"), w("c3.acme", "Editor", &g), w("c3.acme-eu", "Viewer", "manual")]
    );
    s.remove_member(&editors, &u).await;
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Viewer", "manual")
        ],
        "with no mapped group left, the default role comes back (the replaced manual role does not)"
    );
    // Renaming a group onto a mapped name grants; deleting the group withdraws.
    let other = Server::id_of(&s.create_group("Other").await);
    s.add_member(&other, &u).await;
    s.patch(&format!("/Groups/{other}"), json!([{"op": "replace", "path": "displayName", "value": "Editors"}])).await;
    assert!(s.roles(&u).await.contains(&w("c3.acme", "Editor", &format!("group:{other}"))));
    assert_eq!(s.delete(&format!("/Groups/{other}")).await.status, 204);
    assert!(s.roles(&u).await.contains(&w("c3.acme", "Viewer", "default")));
}

/// Rule 4: changing a mapping moves every member at once.
async fn changing_a_mapping_moves_every_member(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("Sales").await);
    let mut users = Vec::new();
    for i in 0..3 {
        let u = Server::id_of(&s.create_user(&format!("s{i}@acme.com")).await);
        s.add_member(&g, &u).await;
        users.push(u);
    }
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "Sales", "workspace": "c3.acme-eu", "role": "Editor"})),
        )
        .await;
    let mapping = Server::id_of(&r.body);
    let src = format!("group:{g}");
    for u in &users {
        assert!(s.roles(u).await.contains(&w("c3.acme-eu", "Editor", &src)));
    }
    let r = s
        .adm(
            Method::PUT,
            &format!("/group-mappings/{mapping}"),
            Some(json!({"group": "Sales", "workspace": "c3.acme-eu", "role": "Admin"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for u in &users {
        assert_eq!(s.roles(u).await, vec![w("c3.acme", "Viewer", "default"), w("c3.acme-eu", "Admin", &src)]);
    }
    assert_eq!(s.adm(Method::DELETE, &format!("/group-mappings/{mapping}"), None).await.status, 204);
    for u in &users {
        assert_eq!(s.roles(u).await, vec![w("c3.acme", "Viewer", "default")]);
    }
}

/// Rule 5: licences, exact seat counts under concurrency, reject or create_unlicensed.
async fn licences_count_seats_exactly(b: Backend) {
    let s = std::sync::Arc::new(start(b).await);
    s.configure_product().await;
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.post("/Users", json!({"schemas": [USER], "userName": format!("c{i}@acme.com")})).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            created += 1;
        } else {
            r.assert_error(409, None);
            assert!(
                r.body["detail"].as_str().unwrap().contains("no seats left for licence type 'Basic'"),
                "{}",
                r.body
            );
        }
    }
    assert_eq!(created, 5, "exactly the seat limit");
    let listed = s.get("/Users?count=0").await.body["totalResults"].clone();
    assert_eq!(listed, 5, "a refused create writes nothing");
    // Group rules override the default: moving a user to Pro frees a Basic seat.
    let pro = Server::id_of(&s.create_group("Pro users").await);
    let r = s.adm(Method::POST, "/group-mappings", Some(json!({"group": "Pro users", "licence_type": "Pro"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = s.ids("/Users?count=1").await[0].clone();
    s.add_member(&pro, &first).await;
    let a = s.access(&first).await;
    assert_eq!(
        (a["licence"]["type"]["name"].clone(), a["licence"]["source"].clone()),
        (json!("Pro"), json!(format!("group:{pro}")))
    );
    assert_eq!(s.post("/Users", json!({"schemas": [USER], "userName": "sixth@acme.com"})).await.status, 201);
    s.post("/Users", json!({"schemas": [USER], "userName": "seventh@acme.com"})).await.assert_error(409, None);
    // create_unlicensed: the user is created, without a licence, and /access says why.
    s.adm(Method::PUT, "/policy", Some(json!({"seats_exhausted": "create_unlicensed"}))).await;
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "eighth@acme.com"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = s.access(&Server::id_of(&r.body)).await;
    assert_eq!(a["licence_status"], "unlicensed_no_seats");
    assert_eq!(a["licence"]["wanted"]["name"], "Basic");
}

/// Rule 6: deactivation revokes all but protected roles and releases the seat; reactivation recomputes.
async fn deactivation_suspends_and_reactivation_recomputes(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let g = Server::id_of(&s.create_group("EU editors").await);
    s.adm(
        Method::POST,
        "/group-mappings",
        Some(json!({"group": "EU editors", "workspace": "c3.acme-eu", "role": "Editor"})),
    )
    .await;
    s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1}))).await;
    let u = Server::id_of(&s.create_user("d@acme.com").await);
    s.add_member(&g, &u).await;
    s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": "c3.acme", "role": "Billing Admin"})))
        .await;
    s.adm(Method::POST, &format!("/users/{u}/roles"), Some(json!({"workspace": "c3.acme", "role": "Admin"}))).await;
    let src = format!("group:{g}");
    let before = vec![
        w("c3.acme", "Admin", "manual"),
        w("c3.acme", "Billing Admin", "manual"),
        w("c3.acme", "Viewer", "default"),
        w("c3.acme-eu", "Editor", &src),
    ];
    assert_eq!(s.roles(&u).await, before);
    // Okta's deactivation: PATCH without a path.
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Billing Admin", "manual")]);
    let a = s.access(&u).await;
    assert_eq!((a["active"].clone(), a["licence"].clone()), (json!(false), Value::Null));
    // The seat is free: another user can take it, then gives it back.
    let other = Server::id_of(&s.create_user("o@acme.com").await);
    assert_eq!(s.access(&other).await["licence_status"], "licensed");
    s.delete(&format!("/Users/{other}")).await;
    // Entra's reactivation: "True" as a string.
    let r = s.patch(&format!("/Users/{u}"), json!([{"op": "Replace", "path": "active", "value": "True"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.roles(&u).await,
        vec![
            w("c3.acme", "Billing Admin", "manual"),
            w("c3.acme", "Viewer", "default"),
            w("c3.acme-eu", "Editor", &src)
        ],
        "mappings and policy apply again; the manual Admin role is not restored"
    );
    assert_eq!(s.access(&u).await["licence_status"], "licensed");
}

/// Rule 7: soft and hard DELETE.
async fn soft_delete_keeps_the_user_for_restore(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    let g = Server::id_of(&s.create_group("G").await);
    let u = Server::id_of(&s.create_user("soft@acme.com").await);
    s.add_member(&g, &u).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    s.get(&format!("/Users/{u}")).await.assert_error(404, None);
    s.delete(&format!("/Users/{u}")).await.assert_error(404, None);
    assert_eq!(s.get(&format!("/Users?filter={}", q("userName eq \"soft@acme.com\""))).await.body["totalResults"], 0);
    assert_eq!(s.get(&format!("/Groups/{g}")).await.body["members"], json!([]));
    let a = s.access(&u).await;
    assert_eq!(
        (a["deleted"].clone(), a["active"].clone(), a["licence"].clone()),
        (json!(true), json!(false), Value::Null)
    );
    let listed = s.adm(Method::GET, "/users?deleted=true", None).await;
    assert_eq!(listed.body[0]["id"], u);
    let r = s.adm(Method::POST, &format!("/users/{u}/restore"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(&format!("/Users/{u}")).await.status, 200);
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Viewer", "default")]);
    // Deleted again, then created again by SCIM with the same userName: the same id comes back.
    s.delete(&format!("/Users/{u}")).await;
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "SOFT@acme.com", "displayName": "Back"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], u);
    assert_eq!(r.body["displayName"], "Back");
    // Hard delete: everything is gone.
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "hard"}))).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    assert_eq!(s.adm(Method::GET, &format!("/users/{u}/access"), None).await.status, 404);
    assert_eq!(s.adm(Method::GET, "/users?deleted=true", None).await.body, json!([]));
    assert_eq!(s.adm(Method::POST, &format!("/users/{u}/restore"), None).await.status, 404);
}

/// Rule 8: the identity provider stays the source of truth for SCIM-managed users.
async fn scim_managed_users_are_read_only_in_the_admin_api(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let u = Server::id_of(&s.create_user("idp@acme.com").await);
    let r = s.adm(Method::PATCH, &format!("/users/{u}"), Some(json!({"active": false}))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].clone()), (409, json!("conflict")));
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("managed by the identity provider"), "{}", r.body);
    let r = s.adm(Method::PATCH, &format!("/users/{u}"), Some(json!({"displayName": "x"}))).await;
    assert_eq!(r.status, 409);
    assert_eq!(s.adm(Method::DELETE, &format!("/users/{u}"), None).await.status, 409);
    assert_eq!(s.get(&format!("/Users/{u}")).await.body["active"], true);
    // A hand-made user: editable by the admin API, visible to the IdP's import.
    let r = s.adm(Method::POST, "/users", Some(json!({"userName": "hand@acme.com", "active": true}))).await;
    let h = Server::id_of(&r.body);
    assert_eq!(s.ids(&format!("/Users?filter={}", q("userName eq \"hand@acme.com\""))).await, vec![h.clone()]);
    assert_eq!(s.roles(&h).await, vec![w("c3.acme", "Viewer", "default")]);
    let r = s.adm(Method::PATCH, &format!("/users/{h}"), Some(json!({"active": false}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.roles(&h).await, vec![]);
    // Once the IdP writes to it, it is SCIM-managed.
    s.patch(&format!("/Users/{h}"), json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(s.access(&h).await["scim_managed"], true);
    assert_eq!(s.adm(Method::DELETE, &format!("/users/{h}"), None).await.status, 409);
}

/// Rule 9: SCIM switched off.
async fn switching_scim_off_refuses_scim_requests(b: Backend) {
    let s = start(b).await;
    let r = s.adm(Method::PUT, "/policy", Some(json!({"scim_enabled": false}))).await;
    assert_eq!((r.status.as_u16(), r.body["scim_enabled"].clone()), (200, json!(false)));
    let r = s.get("/Users").await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("switched off"));
    s.adm(Method::PUT, "/policy", Some(json!({"scim_enabled": true}))).await;
    assert_eq!(s.get("/Users").await.status, 200);
}

// ------------------------------------------------------------------ replicas

/// A scimd process, killed when dropped.
struct Replica(std::process::Child, String);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn_replica(db_url: &str) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let replica = std::process::Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--no-bootstrap", "--listen", &format!("127.0.0.1:{port}"), "--database", db_url])
        .env("SCIMD_LOG", "warn")
        .spawn()
        .map(|child| Replica(child, format!("http://127.0.0.1:{port}")))
        .unwrap();
    for _ in 0..100 {
        if reqwest::get(format!("{}/readyz", replica.1)).await.is_ok_and(|r| r.status() == 200) {
            return replica;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("replica on port {port} did not become ready");
}

/// Two scimd processes on one PostgreSQL database: uniqueness, membership
/// and If-Match hold across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_postgres_database() {
    if postgres_url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(unique_name("scimd-replicas-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(Backend::Postgres, &dir).await;
    let store = cli::open_store(&url).await.unwrap();
    store.create_tenant("acme", "2026-01-01T00:00:00.000Z").await.unwrap();
    let token = cli::create_token(&store, "acme", "okta", None).await.unwrap();
    let replicas = [spawn_replica(&url).await, spawn_replica(&url).await];
    let bases: Vec<String> = replicas.iter().map(|r| format!("{}/scim/v2/acme", r.1)).collect();
    let client = reqwest::Client::new();
    let send = |i: usize, method: Method, path: String, body: Option<Value>, if_match: Option<String>| {
        let client = client.clone();
        let url = format!("{}{path}", bases[i % 2]);
        let token = token.clone();
        async move {
            let mut req =
                client.request(method, url).bearer_auth(token).header("Content-Type", "application/scim+json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            if let Some(tag) = if_match {
                req = req.header("If-Match", tag);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, etag, body)
        }
    };

    // 50 concurrent creates of one userName, spread over both replicas.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(send(
                i,
                Method::POST,
                "/Users".into(),
                Some(json!({"schemas": [USER], "userName": "Same@Example.com"})),
                None,
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        if status == 409 {
            assert_eq!(body["scimType"], "uniqueness");
        }
        statuses.push(status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    eprintln!("replicas: 50 concurrent creates of one userName -> {created} x 201, {conflicts} x 409");
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");

    // 200 users, then 200 concurrent member additions to one group over both.
    let mut users = Vec::new();
    for i in 0..200 {
        let (status, _, body) = send(
            i,
            Method::POST,
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": format!("m{i}@x.org")})),
            None,
        )
        .await;
        assert_eq!(status, 201);
        users.push(body["id"].as_str().unwrap().to_string());
    }
    let (_, _, group) =
        send(0, Method::POST, "/Groups".into(), Some(json!({"schemas": [GROUP], "displayName": "Everyone"})), None)
            .await;
    let gid = group["id"].as_str().unwrap().to_string();
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            let ops = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
            tokio::spawn(send(i, Method::PATCH, format!("/Groups/{gid}?excludedAttributes=members"), Some(ops), None))
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().0, 200);
    }
    let (_, etag, group) = send(1, Method::GET, format!("/Groups/{gid}"), None, None).await;
    let mut members: Vec<String> =
        group["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string()).collect();
    let listed = members.len();
    members.sort();
    members.dedup();
    eprintln!("replicas: 200 concurrent member additions -> {listed} members listed, {} distinct", members.len());
    assert_eq!((listed, members.len()), (200, 200));

    // If-Match across replicas: a change through one makes the other refuse the old ETag.
    let etag = etag.unwrap();
    let rename = |name: &str| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": name}]});
    let (status, _, _) = send(0, Method::PATCH, format!("/Groups/{gid}"), Some(rename("A")), Some(etag.clone())).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(1, Method::PATCH, format!("/Groups/{gid}"), Some(rename("B")), Some(etag)).await;
    assert_eq!(status, 412);

    // The list order is the same whichever replica answers.
    let (_, _, a) = send(0, Method::GET, "/Users?startIndex=50&count=30&attributes=userName".into(), None, None).await;
    let (_, _, b) = send(1, Method::GET, "/Users?startIndex=50&count=30&attributes=userName".into(), None, None).await;
    assert_eq!(a["Resources"], b["Resources"]);
    drop(replicas);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((admin, name)) = pg {
        drop_database(admin, name);
    }
}

// ------------------------------------------------------------------ command line

#[test]
fn cli_manages_tenants_and_tokens() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("scimd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("cli.db").display());
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scimd")).args(args).env("SCIMD_DATABASE_URL", &db).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert!(run(&["tenant", "create", "globex"]).0);
    let (ok, _, err) = run(&["tenant", "create", "globex"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["tenant", "create", "Bad_Name"]);
    assert!(!ok && err.contains("not a valid tenant name"), "{err}");
    let (ok, token, _) = run(&["token", "create", "--tenant", "globex", "--name", "okta", "--expires-in-days", "30"]);
    assert!(ok);
    let token = token.trim();
    assert!(token.starts_with("scimd_") && token.len() == 70, "stdout is the token alone: {token:?}");
    let (ok, list, _) = run(&["token", "list", "--tenant", "globex"]);
    assert!(ok && list.contains("okta") && list.contains("active") && !list.contains(token), "{list}");
    assert!(run(&["tenant", "disable", "globex"]).0);
    let (_, list, _) = run(&["tenant", "list"]);
    assert!(list.contains("globex") && list.contains("disabled"), "{list}");
    assert!(run(&["tenant", "enable", "globex"]).0);
    assert!(run(&["token", "revoke", "--tenant", "globex", "--name", "okta"]).0);
    let (_, list, _) = run(&["token", "list", "--tenant", "globex"]);
    assert!(list.contains("revoked"), "{list}");
    let (ok, _, err) = run(&["token", "revoke", "--tenant", "globex", "--name", "nope"]);
    assert!(!ok && err.contains("no token named"), "{err}");
    let (ok, _, err) = run(&["token", "create", "--tenant", "nope", "--name", "x"]);
    assert!(!ok && err.contains("no tenant"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
