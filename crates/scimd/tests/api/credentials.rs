//! Tenants and credentials over the admin API, as an operator and a
//! customer's admin meet them: tenants made, paged, switched off and deleted;
//! SCIM tokens with an expiry, shown once, listed with their use, revoked;
//! admin tokens that reach every tenant or one.

use super::*;

on_both_backends!(
    an_operator_makes_lists_switches_and_deletes_tenants,
    scim_tokens_are_made_listed_and_revoked_over_the_api,
    a_tenant_admin_token_reaches_its_tenant_alone,
    admin_tokens_made_before_scopes_keep_working_as_operator_tokens,
    oauth_client_credentials_give_short_lived_scim_tokens,
);

impl Server {
    /// A call to the admin API at `path` (below `/admin/v1`) with `token`.
    async fn admin_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let url = format!("{}/admin/v1{path}", self.root);
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        self.raw(method, &url, body.map(|b| b.to_string()), &headers).await
    }
    /// A SCIM request to `tenant` with `token`.
    async fn scim_as(&self, tenant: &str, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let url = format!("{}/scim/v2/{tenant}{path}", self.root);
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/scim+json")];
        self.raw(method, &url, body.map(|b| b.to_string()), &headers).await
    }
}

#[track_caller]
fn assert_admin_error(r: &Resp, status: u16, words: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"]["status"], status, "{}", r.body);
    let detail = r.body["error"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "'{words}' not in: {detail}");
}

async fn an_operator_makes_lists_switches_and_deletes_tenants(b: Backend) {
    let s = start(b).await;
    let op = s.admin_token.clone();
    // Made over the API: 201 with the base URL to paste into the IdP.
    let r = s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "globex"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "globex");
    assert_eq!(r.body["scim_enabled"], true);
    assert!(r.body["scim_base_url"].as_str().unwrap().ends_with("/scim/v2/globex"), "{}", r.body);
    let r = s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "globex"}))).await;
    assert_admin_error(&r, 409, "globex");
    let r = s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "Bad_Name"}))).await;
    assert_admin_error(&r, 400, "not a valid tenant name");
    let r = s.admin_as(&op, Method::POST, "/tenants", Some(json!({"nom": "x"}))).await;
    assert_admin_error(&r, 400, "nom");
    s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "initech"}))).await;
    // Paged by name: acme, globex, initech.
    let r = s.admin_as(&op, Method::GET, "/tenants?limit=2", None).await;
    let names: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme", "globex"]);
    let next = r.body["next"].as_str().unwrap().to_string();
    let r = s.admin_as(&op, Method::GET, &format!("/tenants?limit=2&after={next}"), None).await;
    assert_eq!(r.body["data"][0]["name"], "initech");
    assert_eq!(r.body["next"], Value::Null);
    assert_admin_error(&s.admin_as(&op, Method::GET, "/tenants?limit=0", None).await, 400, "limit");
    // GET counts what the tenant holds.
    s.create_user("ann@acme.com").await;
    let r = s.admin_as(&op, Method::GET, "/tenants/acme", None).await;
    assert_eq!((r.body["users"].clone(), r.body["groups"].clone()), (json!(1), json!(0)), "{}", r.body);
    assert_eq!(r.body["active_tokens"], 1);
    // PATCH switches SCIM off (403 to the IdP) and on again.
    let r = s.admin_as(&op, Method::PATCH, "/tenants/acme", Some(json!({"scim_enabled": false}))).await;
    assert_eq!((r.status.as_u16(), r.body["scim_enabled"].clone()), (200, json!(false)), "{}", r.body);
    s.get("/Users").await.assert_error(403, None);
    s.admin_as(&op, Method::PATCH, "/tenants/acme", Some(json!({"scim_enabled": true}))).await;
    assert_eq!(s.get("/Users").await.status, 200);
    let r = s.admin_as(&op, Method::PATCH, "/tenants/acme", Some(json!({"scim_enabled": "no"}))).await;
    assert_admin_error(&r, 400, "scim_enabled");
    // DELETE asks for the name again, and then removes everything of the tenant.
    let globex_token = cli::create_token(&s.svc, "globex", "okta", None).await.unwrap();
    let body = json!({"schemas": [USER], "userName": "gil@globex.com"});
    let made = s.scim_as("globex", &globex_token, Method::POST, "/Users", Some(body)).await;
    assert_eq!(made.status, 201);
    let gil = made.body["id"].as_str().unwrap().to_string();
    let r = s.admin_as(&op, Method::DELETE, "/tenants/globex", None).await;
    assert_admin_error(&r, 400, "send its name again");
    let r = s.admin_as(&op, Method::DELETE, "/tenants/globex", Some(json!({"name": "acme"}))).await;
    assert_admin_error(&r, 400, "send its name again");
    assert_eq!(s.admin_as(&op, Method::GET, "/tenants/globex", None).await.status, 200, "nothing was deleted");
    let r = s.admin_as(&op, Method::DELETE, "/tenants/globex", Some(json!({"name": "globex"}))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_admin_error(&s.admin_as(&op, Method::GET, "/tenants/globex", None).await, 404, "no tenant 'globex'");
    s.scim_as("globex", &globex_token, Method::GET, "/Users", None).await.assert_error(401, None);
    // A tenant made again under the name starts empty (no row, cache entry or token of the old one).
    s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "globex"}))).await;
    let fresh = cli::create_token(&s.svc, "globex", "okta", None).await.unwrap();
    let r = s.scim_as("globex", &fresh, Method::GET, "/Users", None).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.body);
    s.scim_as("globex", &fresh, Method::GET, &format!("/Users/{gil}"), None).await.assert_error(404, None);
    s.scim_as("globex", &globex_token, Method::GET, "/Users", None).await.assert_error(401, None);
    // Acme was not touched.
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

async fn scim_tokens_are_made_listed_and_revoked_over_the_api(b: Backend) {
    let s = start(b).await;
    let op = s.admin_token.clone();
    // The clock stands at 2026-01-01. A date is the last day the token works.
    let r = s
        .admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "entra", "expires_at": "2026-03-31"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["expires_at"], "2026-04-01T00:00:00.000Z");
    assert!(r.body["scim_base_url"].as_str().unwrap().ends_with("/scim/v2/acme"));
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("scimd_"));
    assert_eq!(s.scim_as("acme", &token, Method::GET, "/Users", None).await.status, 200);
    // Listed with its use, never with the token.
    let r = s.admin_as(&op, Method::GET, "/tenants/acme/tokens", None).await;
    assert!(!r.body.to_string().contains(&token), "a token is shown only once");
    let entra = r.body["data"].as_array().unwrap().iter().find(|t| t["name"] == "entra").unwrap().clone();
    assert_eq!(entra["status"], "active");
    assert_eq!(entra["expires_at"], "2026-04-01T00:00:00.000Z");
    assert!(entra["last_used_at"].as_str().is_some_and(|t| t.starts_with("2026-01-01")), "{entra}");
    // Times: an offset is read as such; days; refusals that say what to write.
    let r = s
        .admin_as(
            &op,
            Method::POST,
            "/tenants/acme/tokens",
            Some(json!({"name": "t2", "expires_at": "2026-06-30T17:00:00+02:00"})),
        )
        .await;
    assert_eq!(r.body["expires_at"], "2026-06-30T15:00:00.000Z", "{}", r.body);
    let r =
        s.admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "t3", "expires_in_days": 90}))).await;
    assert_eq!(r.body["expires_at"], "2026-04-01T00:00:00.000Z", "ninety days: {}", r.body);
    let r = s
        .admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "ten", "expires_at": "2035-12-29"})))
        .await;
    assert_eq!(r.status, 201, "ten years is allowed: {}", r.body);
    for (expires_at, words) in [
        ("2025-12-31", "has passed"),
        ("2036-01-03", "at most ten years"),
        ("2026-02-31", "is not a date"),
        ("next tuesday", "is not a date"),
    ] {
        let r = s
            .admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "bad", "expires_at": expires_at})))
            .await;
        assert_admin_error(&r, 400, words);
    }
    let both = json!({"name": "bad", "expires_at": "2026-05-01", "expires_in_days": 3});
    assert_admin_error(&s.admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(both)).await, 400, "not both");
    let r = s
        .admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "d", "expires_in_days": 4000})))
        .await;
    assert_admin_error(&r, 400, "3650");
    let r = s.admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "entra"}))).await;
    assert_admin_error(&r, 409, "entra");
    let r = s.admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": " spaced/"}))).await;
    assert_admin_error(&r, 400, "cannot name a token");
    assert!(!s.admin_as(&op, Method::GET, "/tenants/acme/tokens", None).await.body.to_string().contains("\"bad\""));
    // Expired: the IdP's admin is told what to do, in words they can follow.
    s.clock.advance(std::time::Duration::from_secs(89 * 86_400));
    assert_eq!(s.scim_as("acme", &token, Method::GET, "/Users", None).await.status, 200, "the last day still works");
    s.clock.advance(std::time::Duration::from_secs(86_400));
    let r = s.scim_as("acme", &token, Method::GET, "/Users", None).await;
    r.assert_error(401, None);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("expired") && detail.contains("generate a new SCIM token"), "{detail}");
    assert!(!detail.contains("scimd token create"), "no command the customer cannot run: {detail}");
    let r = s.admin_as(&op, Method::GET, "/tenants/acme/tokens", None).await;
    assert!(r.body["data"].as_array().unwrap().iter().any(|t| t["name"] == "entra" && t["status"] == "expired"));
    // Revoked: refused at once, listed as revoked; the name can be given again.
    assert_eq!(s.admin_as(&op, Method::DELETE, "/tenants/acme/tokens/okta", None).await.status, 204);
    let r = s.get("/Users").await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
    let r = s.admin_as(&op, Method::GET, "/tenants/acme/tokens", None).await;
    assert!(r.body["data"].as_array().unwrap().iter().any(|t| t["name"] == "okta" && t["status"] == "revoked"));
    let r = s.admin_as(&op, Method::DELETE, "/tenants/acme/tokens/nope", None).await;
    assert_admin_error(&r, 404, "no SCIM token named 'nope'");
    let r = s.admin_as(&op, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "okta"}))).await;
    assert_eq!(r.status, 201, "a revoked token's name is free again: {}", r.body);
    let again = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(s.scim_as("acme", &again, Method::GET, "/Users", None).await.status, 200);
    s.get("/Users").await.assert_error(401, None);
}

async fn a_tenant_admin_token_reaches_its_tenant_alone(b: Backend) {
    let s = start(b).await;
    let op = s.admin_token.clone();
    s.admin_as(&op, Method::POST, "/tenants", Some(json!({"name": "beta"}))).await;
    let body = json!({"name": "acme-it", "tenant": "acme", "expires_at": "2026-01-31"});
    let r = s.admin_as(&op, Method::POST, "/admin-tokens", Some(body)).await;
    assert_eq!((r.status.as_u16(), r.body["kind"].clone()), (201, json!("tenant_admin")), "{}", r.body);
    let ta = r.body["token"].as_str().unwrap().to_string();
    // Its own tenant: everything the admin API has for a tenant.
    assert_eq!(s.admin_as(&ta, Method::GET, "/tenants/acme/config", None).await.status, 200);
    assert_eq!(s.admin_as(&ta, Method::GET, "/tenants/acme", None).await.status, 200);
    let r = s.admin_as(&ta, Method::POST, "/tenants/acme/tokens", Some(json!({"name": "okta-2"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.admin_as(&ta, Method::PATCH, "/tenants/acme", Some(json!({"scim_enabled": true}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.admin_as(&ta, Method::GET, "/tenants", None).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["data"][0]["name"], "acme");
    // Another tenant is not there for it, on any path; the same answer as a tenant that does not exist.
    for path in
        ["/tenants/beta", "/tenants/beta/config", "/tenants/beta/users", "/tenants/beta/tokens", "/tenants/nope"]
    {
        let r = s.admin_as(&ta, Method::GET, path, None).await;
        assert_admin_error(&r, 404, "there is no tenant");
    }
    let r = s.admin_as(&ta, Method::POST, "/tenants/beta/tokens", Some(json!({"name": "x"}))).await;
    assert_admin_error(&r, 404, "there is no tenant 'beta'");
    // Tenants and operator tokens are the operator's alone.
    assert_admin_error(
        &s.admin_as(&ta, Method::POST, "/tenants", Some(json!({"name": "gamma"}))).await,
        403,
        "operator",
    );
    let r = s.admin_as(&ta, Method::DELETE, "/tenants/acme", Some(json!({"name": "acme"}))).await;
    assert_admin_error(&r, 403, "operator");
    let r = s.admin_as(&ta, Method::POST, "/admin-tokens", Some(json!({"name": "x", "tenant": "beta"}))).await;
    assert_admin_error(&r, 403, "'acme' only");
    // What it makes is its tenant's; names are its tenant's to choose (an operator token may share one).
    let r = s.admin_as(&ta, Method::POST, "/admin-tokens", Some(json!({"name": "tests"}))).await;
    assert_eq!((r.status.as_u16(), r.body["tenant"].clone()), (201, json!("acme")), "{}", r.body);
    let second = r.body["token"].as_str().unwrap().to_string();
    let r = s.admin_as(&ta, Method::GET, "/admin-tokens", None).await;
    let names: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme-it", "tests"], "its tenant's tokens only: {}", r.body);
    assert!(r.body["data"][0]["last_used_at"].as_str().is_some(), "{}", r.body);
    let r = s.admin_as(&op, Method::GET, "/admin-tokens", None).await;
    let kinds: Vec<(String, Value)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["tenant"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [("tests".to_string(), Value::Null), ("acme-it".into(), json!("acme")), ("tests".into(), json!("acme"))],
        "the operator sees every token, operators' first"
    );
    // Revoking: a tenant admin revokes its tenant's tokens; an operator names the tenant.
    let r = s.admin_as(&ta, Method::DELETE, "/admin-tokens/tests?tenant=beta", None).await;
    assert_admin_error(&r, 404, "no tenant 'beta'");
    assert_eq!(s.admin_as(&ta, Method::DELETE, "/admin-tokens/tests", None).await.status, 204);
    assert_admin_error(&s.admin_as(&second, Method::GET, "/tenants/acme", None).await, 401, "revoked");
    assert_eq!(s.admin_as(&op, Method::GET, "/tenants/beta", None).await.status, 200, "the operator's 'tests' stands");
    assert_admin_error(&s.admin_as(&op, Method::DELETE, "/admin-tokens/nope", None).await, 404, "no operator token");
    // It expires when its date has passed.
    s.clock.advance(std::time::Duration::from_secs(31 * 86_400));
    let r = s.admin_as(&ta, Method::GET, "/tenants/acme/config", None).await;
    assert_admin_error(&r, 401, "expired");
    let r = s.admin_as(&op, Method::GET, "/admin-tokens", None).await;
    assert!(r.body["data"].as_array().unwrap().iter().any(|t| t["name"] == "acme-it" && t["status"] == "expired"));
    // Deleting the tenant takes its admin tokens with it.
    s.admin_as(&op, Method::DELETE, "/tenants/acme", Some(json!({"name": "acme"}))).await;
    let r = s.admin_as(&op, Method::GET, "/admin-tokens", None).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
}

/// A database at the schema before admin tokens had a scope, holding an
/// admin token, migrated by the server: the token reaches every tenant.
async fn admin_tokens_made_before_scopes_keep_working_as_operator_tokens(b: Backend) {
    use sha2::Digest;
    let dir = std::env::temp_dir().join(unique_name("scimd-test-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(b, &dir).await;
    let old_token = "scimd_made_before_issue_19";
    let hash = sha2::Sha256::digest(old_token.as_bytes()).to_vec();
    let insert = "INSERT INTO admin_tokens (name, hash, created_at) VALUES ('ops', $1, '2025-01-01T00:00:00.000Z')";
    match b {
        Backend::Sqlite => {
            let mut m = sqlx::migrate!("./migrations/sqlite");
            m.migrations = m.migrations.iter().filter(|m| m.version <= 10).cloned().collect::<Vec<_>>().into();
            let options =
                sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("scimd.db")).create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            m.run(&pool).await.unwrap();
            sqlx::query(insert).bind(&hash).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let mut m = sqlx::migrate!("./migrations/postgres");
            m.migrations = m.migrations.iter().filter(|m| m.version <= 11).cloned().collect::<Vec<_>>().into();
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            m.run(&pool).await.unwrap();
            sqlx::query(insert).bind(&hash).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let s = start_on(dir, url, pg, test_config(), Default::default(), &Default::default()).await;
    s.admin_as(old_token, Method::POST, "/tenants", Some(json!({"name": "beta"}))).await;
    for path in ["/tenants/acme/config", "/tenants/beta/config"] {
        assert_eq!(s.admin_as(old_token, Method::GET, path, None).await.status, 200, "{path}");
    }
    let r = s.admin_as(old_token, Method::GET, "/admin-tokens", None).await;
    let ops = r.body["data"].as_array().unwrap().iter().find(|t| t["name"] == "ops").unwrap().clone();
    assert_eq!(
        (ops["kind"].clone(), ops["tenant"].clone(), ops["status"].clone()),
        (json!("operator"), Value::Null, json!("active"))
    );
}

/// A form POST to the token endpoint, with these headers.
async fn token_request(s: &Server, form: &str, headers: &[(&str, &str)]) -> Resp {
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    // No Authorization header unless the test sends one (raw would add the SCIM token).
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
        all.push(("Authorization", ""));
    }
    s.raw(Method::POST, &format!("{}/oauth/token", s.root), Some(form.to_string()), &all).await
}

#[track_caller]
fn assert_oauth_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"], code, "{}", r.body);
    assert!(r.body["error_description"].as_str().is_some_and(|d| d.len() > 10), "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

async fn oauth_client_credentials_give_short_lived_scim_tokens(b: Backend) {
    use base64::Engine;
    let s = start(b).await;
    let op = s.admin_token.clone();
    let r = s.admin_as(&op, Method::POST, "/tenants/acme/oauth-clients", Some(json!({"name": "entra"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, secret) =
        (r.body["client_id"].as_str().unwrap().to_string(), r.body["client_secret"].as_str().unwrap().to_string());
    assert!(r.body["token_endpoint"].as_str().unwrap().ends_with("/oauth/token"), "{}", r.body);
    assert_eq!(r.body["access_token_lifetime_secs"], 3600);
    // Body credentials (Entra) and HTTP Basic both work; the answer is §5.1's, never cached.
    let r =
        token_request(&s, &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["token_type"].clone(), r.body["expires_in"].clone()), (json!("Bearer"), json!(3600)));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    let r = token_request(&s, "grant_type=client_credentials&scope=scim", &[("Authorization", &basic)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(access, second);
    // The access token is a SCIM token of acme, and of acme alone.
    let made = s
        .scim_as("acme", &access, Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": "oa@acme.com"})))
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    s.svc.create_tenant("beta").await.unwrap();
    s.scim_as("beta", &access, Method::GET, "/Users", None).await.assert_error(404, None);
    // Listed with its use; access tokens are not in the token list.
    let r = s.admin_as(&op, Method::GET, "/tenants/acme/oauth-clients", None).await;
    let client = &r.body["data"][0];
    assert_eq!((client["name"].clone(), client["status"].clone()), (json!("entra"), json!("active")), "{}", r.body);
    assert!(client["last_used_at"].as_str().is_some() && client["last_issued_at"].as_str().is_some(), "{client}");
    assert!(!r.body.to_string().contains(&secret), "the secret is shown once");
    let r = s.admin_as(&op, Method::GET, "/tenants/acme/tokens", None).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "only the 'okta' token: {}", r.body);
    // It expires after its hour.
    s.clock.advance(std::time::Duration::from_secs(3601));
    let r = s.scim_as("acme", &access, Method::GET, "/Users", None).await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    // §5.2 errors.
    let wrong = format!("grant_type=client_credentials&client_id={id}&client_secret=nope");
    let r = token_request(&s, &wrong, &[]).await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"scimd\""));
    let r = token_request(&s, "grant_type=client_credentials&client_id=scimd_client_x&client_secret=y", &[]).await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert_oauth_error(&token_request(&s, "grant_type=client_credentials", &[]).await, 401, "invalid_client");
    let r = token_request(&s, &format!("grant_type=password&client_id={id}&client_secret={secret}"), &[]).await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");
    let r = token_request(&s, &format!("client_id={id}&client_secret={secret}"), &[]).await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token_request(
        &s,
        &format!("grant_type=client_credentials&grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        &[],
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let both = format!("grant_type=client_credentials&client_secret={secret}");
    assert_oauth_error(&token_request(&s, &both, &[("Authorization", &basic)]).await, 400, "invalid_request");
    let r = s
        .raw(
            Method::POST,
            &format!("{}/oauth/token", s.root),
            Some(json!({"grant_type": "client_credentials"}).to_string()),
            &[("Content-Type", "application/json"), ("Authorization", &basic)],
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_request");
    // Revoked: no new tokens, and the ones it was given stop at once.
    let r = token_request(&s, "grant_type=client_credentials", &[("Authorization", &basic)]).await;
    let live = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.scim_as("acme", &live, Method::GET, "/Users", None).await.status, 200);
    assert_eq!(s.admin_as(&op, Method::DELETE, "/tenants/acme/oauth-clients/entra", None).await.status, 204);
    s.scim_as("acme", &live, Method::GET, "/Users", None).await.assert_error(401, None);
    let r = token_request(&s, "grant_type=client_credentials", &[("Authorization", &basic)]).await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.body["error_description"].as_str().unwrap().contains("revoked"));
    assert_admin_error(
        &s.admin_as(&op, Method::DELETE, "/tenants/acme/oauth-clients/nope", None).await,
        404,
        "no OAuth client 'nope'",
    );
    // Guessing is limited like unknown SCIM tokens: past the burst, 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let r = token_request(&s, &wrong, &[]).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("failed attempts are limited");
    assert!(limited.header("retry-after").is_some());
    assert_eq!(limited.body["error"], "invalid_request");
}
