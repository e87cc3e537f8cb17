//! The web console over HTTP, as a browser meets it: sessions and their
//! cookie, CSRF on every form, one-time secrets, tenant scoping, portal
//! links, and the screens' forms doing what they say (a pushed group mapped,
//! a refused request in activity, a delivery retried, a test event sent,
//! an endpoint edited).

use super::*;
use std::collections::HashMap;

on_both_backends!(
    signing_in_and_out_and_forms_without_their_token_are_refused,
    a_new_token_is_shown_once_and_works,
    a_tenant_admin_sees_its_tenant_only,
    a_portal_link_opens_one_tenant_once,
    groups_are_mapped_activity_shows_refusals_and_deliveries_are_retried,
    the_catalog_policy_and_users_screens_do_what_they_say,
    the_webhooks_screen_sends_a_test_event_and_edits_an_endpoint,
);

/// A browser: keeps the cookies it is given, follows no redirect by itself.
struct Browser {
    root: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    headers: HeaderMap,
    body: String,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("the page has a form with a CSRF token");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Browser {
    fn new(s: &Server) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { root: s.root.clone(), client, cookies: HashMap::new() }
    }
    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let mut req = self.client.request(method, format!("{}{path}", self.root));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("Cookie", jar.join("; "));
        }
        if let Some(fields) = form {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
            req = req.header("Content-Type", "application/x-www-form-urlencoded").body(body);
        }
        let resp = req.send().await.unwrap();
        let headers = resp.headers().clone();
        let set_cookies: Vec<String> =
            headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_string());
        Page { status: resp.status().as_u16(), location, set_cookies, headers, body: resp.text().await.unwrap() }
    }
    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }
    /// Sign in with an admin token; answers where the console sent us.
    async fn sign_in(&mut self, token: &str) -> String {
        let p = self.post("/console/sign-in", &[("token", token)]).await;
        assert_eq!(p.status, 303, "{}", p.body);
        p.location.unwrap()
    }
}

async fn signing_in_and_out_and_forms_without_their_token_are_refused(b: Backend) {
    let s = start(b).await;
    let mut web = Browser::new(&s);
    // Not signed in: to the sign-in page, which is plain HTML with a strict policy.
    assert_eq!(web.get("/console/tenants").await.location.as_deref(), Some("/console/sign-in"));
    let p = web.get("/console/sign-in").await;
    assert_eq!(p.status, 200);
    assert!(p.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(p.body.contains("<label for=\"token\">"), "every control is labelled");
    let p = web.post("/console/sign-in", &[("token", "scimd_not_a_token")]).await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("not an admin token of this server"), "{}", p.body);
    // Signed in: a session cookie the page's scripts cannot read, for the console's paths alone.
    let p = web.post("/console/sign-in", &[("token", &s.admin_token)]).await;
    assert_eq!((p.status, p.location.as_deref()), (303, Some("/console")));
    let cookie = p.set_cookies.iter().find(|c| c.starts_with("scimd_console=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains(&s.admin_token), "the session is not the admin token");
    assert_eq!(web.get("/console").await.location.as_deref(), Some("/console/tenants"));
    let p = web.get("/console/tenants").await;
    assert!(p.body.contains("href=\"/console/t/acme\""), "{}", p.body);
    // A form without the session's CSRF token, or with another's, is refused and does nothing.
    let p = web.post("/console/tenants", &[("name", "forged")]).await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("did not come from this console session"));
    let p =
        web.post("/console/tenants", &[("name", "forged"), ("csrf", "0123456789abcdef0123456789abcdef01234567")]).await;
    assert_eq!(p.status, 403);
    assert!(s.svc.tenant_by_name("forged").await.unwrap().is_none());
    // With it, the tenant is made and the console goes to its first screen.
    let csrf = web.get("/console/tenants").await.csrf();
    let p = web.post("/console/tenants", &[("name", "globex"), ("csrf", &csrf)]).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/globex"));
    assert!(s.svc.tenant_by_name("globex").await.unwrap().is_some());
    let p = web.get("/console/t/globex").await;
    assert!(
        p.body.contains("Tenant &#39;globex&#39; created") || p.body.contains("Tenant 'globex' created"),
        "the notice shows once"
    );
    assert!(p.body.contains("Waiting for the first request"), "{}", p.body);
    assert!(!web.get("/console/t/globex").await.body.contains("created. Connect"), "a notice is shown once");
    let p = web.post("/console/tenants", &[("name", "Bad_Name"), ("csrf", &csrf)]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("not a valid tenant name"));
    // Signed out: the session is over on the server, not just in this browser.
    let session = web.cookies["scimd_console"].clone();
    let p = web.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.location.as_deref(), Some("/console/sign-in"));
    assert!(!web.cookies.contains_key("scimd_console"));
    web.cookies.insert("scimd_console".into(), session);
    assert!(web.get("/console/tenants").await.location.unwrap().starts_with("/console/sign-in"));
    // Revoking the admin token ends its sessions.
    let mut other = Browser::new(&s);
    other.sign_in(&s.admin_token).await;
    assert_eq!(other.get("/console/tenants").await.status, 200);
    s.svc.revoke_admin_token("tests", None).await.unwrap();
    assert!(other.get("/console/tenants").await.location.unwrap().starts_with("/console/sign-in"));
}

async fn a_new_token_is_shown_once_and_works(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let mut web = Browser::new(&s);
    web.sign_in(&s.admin_token).await;
    let p = web.get("/console/t/acme?idp=entra").await;
    assert!(p.body.contains("/scim/v2/acme?aadOptscim062020"), "Entra's base URL carries its flag");
    assert!(p.body.contains("The role Viewer"), "the default role is offered: {}", p.body);
    let csrf = p.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "entra"),
        ("default_access", "none"),
        ("expires_at", "2026-06-30"),
        ("idp", "entra"),
    ];
    let p = web.post("/console/t/acme/tokens", &form).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme?idp=entra"));
    // Chosen before the token: new users get no access now.
    assert_eq!(s.adm(Method::GET, "/policy", None).await.body["on_create"], "no_access");
    let shown = web.get("/console/t/acme?idp=entra").await;
    let at = shown.body.find("id=\"secret-value\">").expect("the token is shown") + 18;
    let token = shown.body[at..at + 70].to_string();
    assert!(token.starts_with("scimd_"), "{token}");
    assert!(shown.body.contains("expires at 2026-07-01T00:00:00.000Z"), "{}", shown.body);
    assert_eq!(s.raw(Method::GET, "/Users", None, &[("Authorization", &format!("Bearer {token}"))]).await.status, 200);
    // Reloaded, it is gone, and no page shows it again.
    let again = web.get("/console/t/acme?idp=entra").await;
    assert!(!again.body.contains(&token) && !again.body.contains("secret-value"));
    let creds = web.get("/console/t/acme/credentials").await;
    assert!(creds.body.contains(">entra<") && !creds.body.contains(&token), "{}", creds.body);
    // Revoked from the credentials screen.
    let p = web.post("/console/t/acme/tokens/entra/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/credentials"));
    let r = s.raw(Method::GET, "/Users", None, &[("Authorization", &format!("Bearer {token}"))]).await;
    r.assert_error(401, None);
    // An OAuth client's secret is shown the same way.
    let p = web.post("/console/t/acme/oauth-clients", &[("csrf", &csrf), ("name", "entra-oauth")]).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/credentials"));
    let shown = web.get("/console/t/acme/credentials").await;
    assert!(shown.body.contains("The client secret of"), "{}", shown.body);
    assert!(!web.get("/console/t/acme/credentials").await.body.contains("The client secret of"));
    // A refusal speaks words: a token name already taken.
    let form = [("csrf", csrf.as_str()), ("name", "okta")];
    let p = web.post("/console/t/acme/tokens", &form).await;
    assert_eq!(p.status, 409);
    assert!(p.body.contains("already has a token named"), "{}", p.body);
}

async fn a_tenant_admin_sees_its_tenant_only(b: Backend) {
    let s = start(b).await;
    s.svc.create_tenant("beta").await.unwrap();
    let body = json!({"name": "acme-it", "tenant": "acme"});
    let r = s
        .raw(
            Method::POST,
            &format!("{}/admin/v1/admin-tokens", s.root),
            Some(body.to_string()),
            &[("Authorization", &format!("Bearer {}", s.admin_token)), ("Content-Type", "application/json")],
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let mut web = Browser::new(&s);
    assert_eq!(web.sign_in(&token).await, "/console");
    assert_eq!(web.get("/console").await.location.as_deref(), Some("/console/t/acme"));
    assert_eq!(web.get("/console/tenants").await.location.as_deref(), Some("/console/t/acme"));
    let p = web.get("/console/t/acme").await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains("All tenants"), "no link to the operator's screen");
    for path in ["/console/t/beta", "/console/t/beta/activity", "/console/t/beta/groups", "/console/t/nope"] {
        let p = web.get(path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.body.contains("There is no tenant"), "{path}");
    }
    let csrf = p.csrf();
    let p = web.post("/console/t/beta/tokens", &[("csrf", &csrf), ("name", "x")]).await;
    assert_eq!(p.status, 404);
    assert!(s.svc.tokens(s.svc.tenant_named("beta").await.unwrap().id).await.unwrap().is_empty());
    assert_eq!(web.post("/console/tenants", &[("csrf", &csrf), ("name", "gamma")]).await.status, 403);
}

async fn a_portal_link_opens_one_tenant_once(b: Backend) {
    let s = start(b).await;
    let link = |return_url: Option<&str>| {
        let body = return_url.map_or(json!({}), |u| json!({"return_url": u}));
        s.adm(Method::POST, "/portal-links", Some(body))
    };
    let r = link(Some("https://product.example/settings/sso")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/console/portal/", s.root)), "{url}");
    assert!(r.body["expires_at"].as_str().is_some());
    let path = url.trim_start_matches(&s.root).to_string();
    // Opening the URL asks for a click: a link previewer fetching it uses nothing up.
    let mut web = Browser::new(&s);
    let p = web.get(&path).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.headers["referrer-policy"], "no-referrer");
    assert!(web.cookies.is_empty());
    let p = web.post(&path, &[]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(web.get("/console").await.location.as_deref(), Some("/console/t/acme"));
    let page = web.get("/console/t/acme").await;
    assert!(page.body.contains("Signed in: portal link"), "{}", page.body);
    assert!(page.body.contains("https://product.example/settings/sso"), "the way back to the product");
    assert!(!page.body.contains(&s.admin_token), "no admin token reaches the customer");
    assert_eq!(web.get("/console/t/beta").await.status, 404);
    // Once only, and within five minutes.
    let mut second = Browser::new(&s);
    let p = second.post(&path, &[]).await;
    assert_eq!(p.status, 410);
    assert!(p.headers["content-type"].to_str().unwrap().starts_with("text/html"), "a page, not a SCIM error");
    assert!(p.body.contains("<h1>This link cannot be used</h1>") && p.body.contains("works once"), "{}", p.body);
    assert!(second.cookies.is_empty());
    let late = link(None).await.body["url"].as_str().unwrap().trim_start_matches(&s.root).to_string();
    s.clock.advance(std::time::Duration::from_secs(301));
    assert_eq!(Browser::new(&s).post(&late, &[]).await.status, 410);
    // Only an operator makes them; a bad return URL is refused in words.
    let r = link(Some("javascript:alert(1)")).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("return_url"));
}

async fn groups_are_mapped_activity_shows_refusals_and_deliveries_are_retried(b: Backend) {
    let s = super::webhooks::start_fast(b, 3).await;
    s.configure_product().await;
    let (receiver, url) = super::webhooks::Receiver::start().await;
    let mut web = Browser::new(&s);
    web.sign_in(&s.admin_token).await;
    // An IdP pushes a group; the admin maps it to a role on the groups screen.
    let ann = Server::id_of(&s.create_user("ann@acme.com").await);
    let group = Server::id_of(&s.create_group("Engineering").await);
    s.add_member(&group, &ann).await;
    let p = web.get("/console/t/acme/groups").await;
    assert!(p.body.contains("Engineering") && p.body.contains("aria-label=\"Map Engineering\""), "{}", p.body);
    let config = s.adm(Method::GET, "/config", None).await.body;
    let role = |name: &str| {
        config["roles"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ws = config["workspaces"][0]["id"].as_str().unwrap().to_string();
    let csrf = p.csrf();
    let editor = role("Editor");
    let p = web
        .post("/console/t/acme/groups", &[("csrf", &csrf), ("group", &group), ("workspace", &ws), ("role", &editor)])
        .await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/groups"), "{}", p.body);
    let roles = s.roles(&ann).await;
    assert!(roles.iter().any(|(_, r, src)| r == "Editor" && src.starts_with("group")), "{roles:?}");
    let p = web.get("/console/t/acme/groups").await;
    assert!(p.body.contains("Editor in c3.acme"), "{}", p.body);
    // A refused SCIM request's detail appears in activity, as the IdP saw it.
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "ann@acme.com"})).await;
    r.assert_error(409, Some("uniqueness"));
    let detail = r.body["detail"].as_str().unwrap().to_string();
    let mut shown = false;
    for _ in 0..100 {
        let p = web.get("/console/t/acme/activity?status=409").await;
        if p.body.contains("uniqueness") && p.body.contains(&detail.replace('\'', "&#39;")) || p.body.contains(&detail)
        {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(shown, "the 409's detail is in activity");
    let p = web.get("/console/t/acme/activity?status=banana").await;
    assert_eq!(p.status, 400);
    // A webhook endpoint added here; its delivery retried by hand.
    let p = web.post("/console/t/acme/webhooks", &[("csrf", &csrf), ("url", &url), ("events", "user.")]).await;
    let hook_page = p.location.clone().unwrap();
    let hook = hook_page.rsplit('/').next().unwrap().to_string();
    let p = web.get(&hook_page).await;
    assert!(p.body.contains("whsec_"), "the signing secret is shown once");
    s.create_user("bob@acme.com").await;
    let delivered = super::webhooks::deliveries_settle(&s, &hook, "delivered", 1).await;
    let delivery = delivered[0]["id"].as_str().unwrap().to_string();
    let p = web.get(&hook_page).await;
    assert!(p.body.contains(&format!("aria-label=\"Retry delivery {delivery}\"")), "{}", p.body);
    let sent = receiver.got.lock().unwrap().len();
    let p = web.post(&format!("{hook_page}/deliveries/{delivery}/retry"), &[("csrf", &csrf)]).await;
    assert_eq!(p.location.as_deref(), Some(hook_page.as_str()), "{}", p.body);
    assert!(web.get(&hook_page).await.body.contains("will be sent again"));
    for _ in 0..200 {
        if receiver.got.lock().unwrap().len() > sent {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the retried delivery was sent again");
}

async fn the_catalog_policy_and_users_screens_do_what_they_say(b: Backend) {
    let s = start(b).await;
    let mut web = Browser::new(&s);
    web.sign_in(&s.admin_token).await;
    let csrf = web.get("/console/t/acme/roles").await.csrf();
    // Workspaces and roles made on the screen.
    let p = web.post("/console/t/acme/workspaces", &[("csrf", &csrf), ("name", "main")]).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/roles"));
    for (name, rank) in [("Viewer", "1"), ("Editor", "2")] {
        let form =
            [("csrf", csrf.as_str()), ("name", name), ("rank", rank), ("provisionable", "yes"), ("protected", "no")];
        assert_eq!(web.post("/console/t/acme/roles", &form).await.status, 303);
    }
    let bad = [("csrf", csrf.as_str()), ("name", "X"), ("rank", "high")];
    let p = web.post("/console/t/acme/roles", &bad).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("rank is a whole number"), "{}", p.body);
    let config = s.adm(Method::GET, "/config", None).await.body;
    let id_of = |list: &str, name: &str| {
        config[list].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
    };
    let (viewer, main) = (id_of("roles", "Viewer"), id_of("workspaces", "main"));
    // Policy saved from its form: every choice lands in the configuration.
    let form = [
        ("csrf", csrf.as_str()),
        ("scim_enabled", "on"),
        ("on_create", "grant_default"),
        ("default_role", viewer.as_str()),
        ("default_workspace", main.as_str()),
        ("max_default_rank", "1"),
        ("on_deactivate", "none"),
        ("on_delete", "soft"),
        ("seats_exhausted", "create_unlicensed"),
        ("allowed_domains", "acme.com\n@Example.org"),
    ];
    let p = web.post("/console/t/acme/policy", &form).await;
    assert_eq!(p.location.as_deref(), Some("/console/t/acme/policy"), "{}", p.body);
    let policy = s.adm(Method::GET, "/policy", None).await.body;
    assert_eq!(policy["on_deactivate"], "none", "{policy}");
    assert_eq!(policy["on_delete"], "soft");
    assert_eq!(policy["seats_exhausted"], "create_unlicensed");
    assert_eq!(policy["max_default_rank"], 1);
    assert_eq!(policy["allowed_domains"], json!(["acme.com", "example.org"]));
    assert!(web.get("/console/t/acme/policy").await.body.contains("Policy saved."));
    // A role the policy uses cannot be deleted, and the page says why.
    let p = web.post(&format!("/console/t/acme/roles/{viewer}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("policy&#39;s default role") || p.body.contains("policy's default role"), "{}", p.body);
    // Licence types with their seats.
    let form = [("csrf", csrf.as_str()), ("name", "Basic"), ("seat_limit", "2"), ("default", "yes")];
    assert_eq!(web.post("/console/t/acme/licences", &form).await.status, 303);
    let ann = Server::id_of(&s.create_user("ann@acme.com").await);
    s.create_user("bob@acme.com").await;
    s.create_user("cy@acme.com").await;
    let p = web.get("/console/t/acme/licences").await;
    assert!(p.body.contains("value=\"2\" max=\"2\"") && p.body.contains("1 waiting for a seat"), "{}", p.body);
    // Re-apply: the dry run is shown first, and changes nothing.
    s.adm(Method::POST, &format!("/users/{ann}/roles"), Some(json!({"workspace": "main", "role": "Editor"}))).await;
    let p = web.post("/console/t/acme/policy/reapply", &[("csrf", &csrf), ("dry_run", "1")]).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("would change") && p.body.contains("Re-apply now"), "{}", p.body);
    // Users: found by userName and by role; a user's access with its sources and its history.
    let p = web.get("/console/t/acme/users?q=an").await;
    assert!(p.body.contains("ann@acme.com") && !p.body.contains("bob@acme.com"), "{}", p.body);
    let p = web.get(&format!("/console/t/acme/users?role={}", id_of("roles", "Editor"))).await;
    assert!(p.body.contains("ann@acme.com") && !p.body.contains("cy@acme.com"), "{}", p.body);
    let p = web.get("/console/t/acme/users?q=an&role=x").await;
    assert_eq!(p.status, 400);
    let p = web.get(&format!("/console/t/acme/users/{ann}")).await;
    assert!(p.body.contains("given by hand") && p.body.contains("the default role"), "{}", p.body);
    // Audit rows are written about a second after their request.
    let mut history = String::new();
    for _ in 0..100 {
        history = web.get(&format!("/console/t/acme/users/{ann}")).await.body;
        if history.contains("POST /Users") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(history.contains("POST /Users") && history.contains("201"), "its history: {history}");
    assert_eq!(web.get("/console/t/acme/users/nope").await.status, 404);
}

async fn the_webhooks_screen_sends_a_test_event_and_edits_an_endpoint(b: Backend) {
    let s = super::webhooks::start_fast(b, 3).await;
    let (first, url) = super::webhooks::Receiver::start().await;
    let (second, url2) = super::webhooks::Receiver::start().await;
    let mut web = Browser::new(&s);
    web.sign_in(&s.admin_token).await;
    let csrf = web.get("/console/t/acme/webhooks").await.csrf();
    let form = [("csrf", csrf.as_str()), ("url", &url), ("events", ""), ("description", "CRM"), ("max_in_flight", "8")];
    let p = web.post("/console/t/acme/webhooks", &form).await;
    let hook_page = p.location.clone().unwrap();
    let hook = hook_page.rsplit('/').next().unwrap().to_string();
    let p = web.get(&hook_page).await;
    let marker = "id=\"secret-value\">";
    let at = p.body.find(marker).unwrap() + marker.len();
    let shown = &p.body[at..at + p.body[at..].find('<').unwrap()];
    let shown = [("&#x2f;", "/"), ("&#47;", "/"), ("&#x2b;", "+"), ("&#43;", "+"), ("&#x3d;", "="), ("&#61;", "=")]
        .iter()
        .fold(shown.to_string(), |text, (entity, c)| text.replace(entity, c));
    let secret = scimd::events::signature::Secret::parse(&shown).unwrap_or_else(|e| panic!("{shown}: {e}"));
    // A "Send test event" button on every endpoint of the list, and on the endpoint's page.
    let list = web.get("/console/t/acme/webhooks").await;
    assert!(list.body.contains(&format!("action=\"/console/t/acme/webhooks/{hook}/test\"")), "{}", list.body);
    assert!(list.body.contains(&format!("aria-label=\"Send test event to {url}\"")), "{}", list.body);
    let p = web.get(&hook_page).await;
    assert!(p.body.contains("Send test event") && p.body.contains("at most 8 in flight"), "{}", p.body);
    assert!(p.body.contains("<p>CRM</p>"), "the description is shown: {}", p.body);
    // Without the session's CSRF token: refused, nothing sent.
    let p = web.post(&format!("{hook_page}/test"), &[]).await;
    assert_eq!(p.status, 403);
    assert!(first.got.lock().unwrap().is_empty());
    // With it: sent, signed, and the answer shown on the endpoint's page.
    let p = web.post(&format!("{hook_page}/test"), &[("csrf", &csrf)]).await;
    assert_eq!(p.location.as_deref(), Some(hook_page.as_str()), "{}", p.body);
    let got = first.wait_for(1).await;
    assert!(scimd::events::signature::verify(
        &secret,
        &got[0].signature,
        &got[0].id,
        got[0].timestamp,
        got[0].body.as_bytes()
    ));
    assert!(got[0].body.contains("\"type\":\"webhook.test\""), "{}", got[0].body);
    let p = web.get(&hook_page).await;
    assert!(p.body.contains(&format!("Test event {}", got[0].id)), "{}", p.body);
    assert!(p.body.contains("delivered, answered 204 in"), "{}", p.body);

    // The edit form, filled with what the endpoint has.
    assert!(p.body.contains(&format!("action=\"/console/t/acme/webhooks/{hook}/edit\"")), "{}", p.body);
    assert!(p.body.contains(&format!("value=\"{url}\"")) && p.body.contains("value=\"8\""), "{}", p.body);
    let edit = |csrf: &str, max: &str| -> Vec<(&str, String)> {
        vec![
            ("csrf", csrf.to_string()),
            ("url", url2.clone()),
            ("events", "user.".to_string()),
            ("description", "CRM sync".to_string()),
            ("max_in_flight", max.to_string()),
        ]
    };
    let forged = edit("0123456789abcdef0123456789abcdef01234567", "4");
    let refs: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(web.post(&format!("{hook_page}/edit"), &refs).await.status, 403, "another session's form");
    let too_many = edit(&csrf, "100");
    let refs: Vec<(&str, &str)> = too_many.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = web.post(&format!("{hook_page}/edit"), &refs).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("from 1 to 64"), "{}", p.body);
    let unchanged = s.svc.webhook(s.svc.tenant_named("acme").await.unwrap().id, &hook).await.unwrap();
    assert_eq!((unchanged.url.as_str(), unchanged.max_in_flight), (url.as_str(), 8), "a refused form changes nothing");
    let good = edit(&csrf, "4");
    let refs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = web.post(&format!("{hook_page}/edit"), &refs).await;
    assert_eq!(p.location.as_deref(), Some(hook_page.as_str()), "{}", p.body);
    let p = web.get(&hook_page).await;
    assert!(p.body.contains("Endpoint changed"), "{}", p.body);
    assert!(p.body.contains("<p>CRM sync</p>") && p.body.contains("at most 4 in flight"), "{}", p.body);
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await;
    assert_eq!(r.body["url"], url2.as_str());
    assert_eq!((r.body["events"].clone(), r.body["max_in_flight"].clone()), (json!(["user."]), json!(4)));
    assert_eq!(r.body["description"], "CRM sync");
    // The next delivery goes to the new URL, signed with the same secret.
    s.create_user("eve@acme.com").await;
    let got = second.wait_for(1).await;
    assert!(scimd::events::signature::verify(
        &secret,
        &got[0].signature,
        &got[0].id,
        got[0].timestamp,
        got[0].body.as_bytes()
    ));
    assert!(got[0].body.contains("eve@acme.com"));
}
