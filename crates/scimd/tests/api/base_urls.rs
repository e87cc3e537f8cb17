//! The base URLs a vendor already gave its customers (issue 22, item 5):
//! `/scim/v2/{tenant}`, `/scim/v2` with the tenant from the token, the
//! tenant from the host name (`--tenant-from-host`), and a path prefix of
//! the vendor's own (`--scim-path-prefix`) with and without the tenant
//! segment. Each form serves the whole API (writes, reads, lists, searches,
//! Bulk, discovery, ETags) with `Location` and `meta.location` in the form
//! the request used; a token never reaches another tenant under any of them
//! (404); the audit trail and the rate limit follow the tenant resolved. The
//! host form is exercised with a `Host` header sent to 127.0.0.1.

use super::*;
use scimd::config::{HostSuffix, ScimPathPrefix};

const PREFIX: &str = "/api/v1/SCIM/SCIMOkta";
const SUFFIX: &str = "scim.test";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

on_both_backends!(
    every_form_serves_the_whole_api_with_locations_in_its_own_form,
    a_token_reaches_its_own_tenant_alone_under_every_form,
    hosts_outside_the_suffix_take_the_tenant_from_the_path_or_the_token,
    the_public_url_gives_the_host_form_its_scheme_port_and_path,
    a_second_prefix_form_and_the_default_path_both_work,
    the_audit_trail_and_the_rate_limit_follow_the_resolved_tenant,
    the_connect_screens_list_every_base_url_the_tenant_has,
);

fn config_with(prefix: &str, suffix: Option<&str>) -> Config {
    Config {
        scim_path_prefix: Some(ScimPathPrefix::parse(prefix).unwrap()),
        tenant_from_host: suffix.map(|s| HostSuffix::parse(s).unwrap()),
        ..test_config()
    }
}

/// One way of reaching a tenant: the URL sent to (always 127.0.0.1), the
/// `Host` header sent with it, and the base URL answers must show.
struct Form {
    url: String,
    host: Option<String>,
    shown: String,
}

impl Form {
    /// The same server, under its own address.
    fn plain(s: &Server, path: &str) -> Form {
        Form { url: format!("{}{path}", s.root), host: None, shown: format!("{}{path}", s.root) }
    }
    /// Sent with `Host: host:PORT`; shown as `http://shown_host:PORT{path}`.
    fn hosted(s: &Server, host: &str, shown_host: &str, path: &str) -> Form {
        let port = s.root.rsplit(':').next().unwrap();
        Form {
            url: format!("{}{path}", s.root),
            host: Some(format!("{host}:{port}")),
            shown: format!("http://{shown_host}:{port}{path}"),
        }
    }
    async fn send(&self, s: &Server, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send_with(s, token, method, path, body, &[]).await
    }
    async fn send_with(
        &self,
        s: &Server,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        more: &[(&str, &str)],
    ) -> Resp {
        let auth = token.map_or(String::new(), |t| format!("Bearer {t}"));
        let mut headers = vec![("Authorization", auth.as_str()), ("Content-Type", "application/scim+json")];
        if let Some(h) = &self.host {
            headers.push(("Host", h.as_str()));
        }
        headers.extend_from_slice(more);
        s.raw(method, &format!("{}{path}", self.url), body.map(|b| b.to_string()), &headers).await
    }
}

fn user(name: &str) -> Value {
    json!({"schemas": [USER], "userName": name, "name": {"givenName": "G", "familyName": "F"}, "active": true})
}

/// Everything SCIM offers, through `form` with `token`, each URL checked to
/// be in the form's own base URL. `tag` keeps user names apart.
async fn exercise(s: &Server, form: &Form, token: &str, tag: &str) {
    let t = Some(token);
    let base = form.shown.as_str();
    let name = format!("{tag}@acme.com");
    // Create: Location and meta.location in the request's form.
    let r = form.send(s, t, Method::POST, "/Users", Some(user(&name))).await;
    assert_eq!(r.status, 201, "{tag}: {}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let location = format!("{base}/Users/{id}");
    assert_eq!(r.header("location"), Some(location.as_str()), "{tag}");
    assert_eq!(r.body["meta"]["location"], location.as_str(), "{tag}");
    let etag = r.header("etag").unwrap().to_string();
    // Read, and read again with the ETag.
    let r = form.send(s, t, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, 200, "{tag}: {}", r.body);
    assert_eq!(r.body["meta"]["location"], location.as_str(), "{tag}");
    let inm = [("If-None-Match", etag.as_str())];
    let r = form.send_with(s, t, Method::GET, &format!("/Users/{id}"), None, &inm).await;
    assert_eq!(r.status, 304, "{tag}");
    // List with a filter, search, search at the root.
    let filter = q(&format!("userName eq \"{name}\""));
    let r = form.send(s, t, Method::GET, &format!("/Users?filter={filter}"), None).await;
    assert_eq!(r.body["totalResults"], 1, "{tag}: {}", r.body);
    assert_eq!(r.body["Resources"][0]["meta"]["location"], location.as_str(), "{tag}");
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": format!("userName eq \"{name}\"")});
    let r = form.send(s, t, Method::POST, "/Users/.search", Some(search.clone())).await;
    assert_eq!(r.body["Resources"][0]["meta"]["location"], location.as_str(), "{tag}: {}", r.body);
    let r = form.send(s, t, Method::POST, "/.search", Some(search)).await;
    assert_eq!(r.body["totalResults"], 1, "{tag}: {}", r.body);
    assert_eq!(r.body["Resources"][0]["meta"]["location"], location.as_str(), "{tag}");
    // PATCH, then PUT on the ETag it answered.
    let ops = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = form.send(s, t, Method::PATCH, &format!("/Users/{id}"), Some(ops)).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, json!(false)), "{tag}: {}", r.body);
    assert_eq!(r.body["meta"]["location"], location.as_str(), "{tag}");
    let im = [("If-Match", r.header("etag").unwrap())];
    let r = form.send_with(s, t, Method::PUT, &format!("/Users/{id}"), Some(user(&name)), &im).await;
    assert_eq!(r.status, 200, "{tag}: {}", r.body);
    assert_eq!(r.body["meta"]["location"], location.as_str(), "{tag}");
    let stale = [("If-Match", etag.as_str())];
    let r = form.send_with(s, t, Method::PUT, &format!("/Users/{id}"), Some(user(&name)), &stale).await;
    r.assert_error(412, None);
    // A group: its Location in the form.
    let group = json!({"schemas": [GROUP], "displayName": format!("{tag} team"), "members": [{"value": id}]});
    let r = form.send(s, t, Method::POST, "/Groups", Some(group)).await;
    assert_eq!(r.status, 201, "{tag}: {}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("{base}/Groups/{gid}").as_str()), "{tag}");
    // The member's groups, linked in the form.
    let r = form.send(s, t, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(r.body["groups"][0]["$ref"], format!("{base}/Groups/{gid}").as_str(), "{tag}: {}", r.body);
    // Bulk: every operation's location in the form.
    let ops = json!([
        {"method": "POST", "path": "/Users", "bulkId": "b1", "data": user(&format!("{tag}-bulk@acme.com"))},
        {"method": "PATCH", "path": format!("/Groups/{gid}"), "data": {"schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:b1"}]}]}},
        {"method": "DELETE", "path": format!("/Users/{id}")},
    ]);
    let r = form.send(s, t, Method::POST, "/Bulk", Some(json!({"schemas": [BULK_REQUEST], "Operations": ops}))).await;
    assert_eq!(r.status, 200, "{tag}: {}", r.body);
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]));
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{tag}: {}", r.body);
    let bulk_user = results[0]["location"].as_str().unwrap();
    assert!(bulk_user.starts_with(&format!("{base}/Users/")), "{tag}: {bulk_user}");
    assert_eq!(results[1]["location"], format!("{base}/Groups/{gid}").as_str(), "{tag}");
    assert_eq!(results[2]["location"], location.as_str(), "{tag}");
    assert_eq!(
        results.iter().map(|o| o["status"].as_str().unwrap().to_string()).collect::<Vec<_>>(),
        ["201", "200", "204"],
        "{tag}: {}",
        r.body
    );
    form.send(s, t, Method::GET, &format!("/Users/{id}"), None).await.assert_error(404, None);
    // Discovery, its locations in the form.
    let r = form.send(s, t, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(r.status, 200, "{tag}: {}", r.body);
    assert_eq!(r.body["meta"]["location"], format!("{base}/ServiceProviderConfig").as_str(), "{tag}");
    assert_eq!(r.body["bulk"]["supported"], true);
    let r = form.send(s, t, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(r.body["Resources"][0]["meta"]["location"], format!("{base}/ResourceTypes/User").as_str(), "{tag}");
    let r = form.send(s, t, Method::GET, "/ResourceTypes/Group", None).await;
    assert_eq!(r.body["meta"]["location"], format!("{base}/ResourceTypes/Group").as_str(), "{tag}");
    let r = form.send(s, t, Method::GET, "/Schemas", None).await;
    assert_eq!(r.body["Resources"][0]["meta"]["location"], format!("{base}/Schemas/{USER}").as_str(), "{tag}");
    let r = form.send(s, t, Method::GET, &format!("/Schemas/{GROUP}"), None).await;
    assert_eq!(r.body["meta"]["location"], format!("{base}/Schemas/{GROUP}").as_str(), "{tag}");
    // /Me as everywhere; a method no endpoint has; the group deleted.
    form.send(s, t, Method::GET, "/Me", None).await.assert_error(501, None);
    form.send(s, t, Method::DELETE, "/Schemas", None).await.assert_error(405, None);
    let r = form.send(s, t, Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(r.status, 204, "{tag}");
    // Without a token: 401, as at /scim/v2/{tenant}.
    let r = form.send(s, None, Method::GET, "/Users", None).await;
    r.assert_error(401, None);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"scimd\""), "{tag}");
    form.send(s, None, Method::GET, "/ServiceProviderConfig", None).await.assert_error(401, None);
}

async fn every_form_serves_the_whole_api_with_locations_in_its_own_form(b: Backend) {
    let s = start_with(b, config_with(PREFIX, Some(SUFFIX))).await;
    let token = s.token.clone();
    let forms = [
        ("path", Form::plain(&s, "/scim/v2/acme")),
        ("token", Form::plain(&s, "/scim/v2")),
        ("prefix-path", Form::plain(&s, &format!("{PREFIX}/acme"))),
        ("prefix-token", Form::plain(&s, PREFIX)),
        ("host", Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2")),
        // Host names are not case-sensitive; answers show the tenant's own.
        ("host-case", Form::hosted(&s, "ACME.Scim.Test", "acme.scim.test", "/scim/v2")),
        ("host-prefix", Form::hosted(&s, "acme.scim.test", "acme.scim.test", PREFIX)),
        // Host and path naming the same tenant: both kept.
        ("host-and-path", Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2/acme")),
    ];
    for (tag, form) in &forms {
        exercise(&s, form, &token, tag).await;
    }
    // Every form's users are the one tenant's.
    let r = s.get("/Users?count=100").await;
    assert_eq!(r.body["totalResults"], forms.len(), "the bulk-made user of each form: {}", r.body);
}

async fn a_token_reaches_its_own_tenant_alone_under_every_form(b: Backend) {
    let s = start_with(b, config_with(PREFIX, Some(SUFFIX))).await;
    let acme_user = Server::id_of(&s.create_user("ann@acme.com").await);
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "okta", None).await.unwrap();
    let (acme, beta) = (Some(s.token.as_str()), Some(beta.as_str()));
    let made =
        Form::plain(&s, "/scim/v2/beta").send(&s, beta, Method::POST, "/Users", Some(user("bob@beta.com"))).await;
    let beta_user = Server::id_of(&made.body);
    // Without a tenant in the URL, each token sees its own tenant alone.
    for path in ["/scim/v2", PREFIX] {
        let form = Form::plain(&s, path);
        for (token, own, other, name) in
            [(beta, &beta_user, &acme_user, "bob@beta.com"), (acme, &acme_user, &beta_user, "ann@acme.com")]
        {
            let r = form.send(&s, token, Method::GET, "/Users", None).await;
            assert_eq!(r.body["totalResults"], 1, "{path}: {}", r.body);
            assert_eq!(r.body["Resources"][0]["userName"], name, "{path}");
            assert_eq!(form.send(&s, token, Method::GET, &format!("/Users/{own}"), None).await.status, 200);
            for (method, body) in [
                (Method::GET, None),
                (
                    Method::PATCH,
                    Some(
                        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
                    ),
                ),
                (Method::PUT, Some(user("taken@x.com"))),
                (Method::DELETE, None),
            ] {
                form.send(&s, token, method, &format!("/Users/{other}"), body).await.assert_error(404, None);
            }
            let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
            let r = form.send(&s, token, Method::POST, "/.search", Some(search)).await;
            assert_eq!(r.body["totalResults"], 1, "{path}: {}", r.body);
            let ops = json!([{"method": "DELETE", "path": format!("/Users/{other}")}]);
            let bulk = json!({"schemas": [BULK_REQUEST], "Operations": ops});
            let r = form.send(&s, token, Method::POST, "/Bulk", Some(bulk)).await;
            assert_eq!(r.body["Operations"][0]["status"], "404", "{path}: {}", r.body);
        }
    }
    // A URL naming another tenant, by its path or its host: 404, a SCIM
    // error that names nothing but what the URL said.
    let refused = [
        Form::plain(&s, "/scim/v2/acme"),
        Form::plain(&s, &format!("{PREFIX}/acme")),
        Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2"),
        Form::hosted(&s, "acme.scim.test", "acme.scim.test", PREFIX),
        Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2/beta"),
        Form::hosted(&s, "beta.scim.test", "beta.scim.test", "/scim/v2/acme"),
        Form::hosted(&s, "nobody.scim.test", "nobody.scim.test", "/scim/v2"),
        Form::plain(&s, "/scim/v2/nobody"),
    ];
    for form in &refused {
        for (method, path, body) in [
            (Method::GET, "/Users".to_string(), None),
            (Method::GET, format!("/Users/{acme_user}"), None),
            (Method::POST, "/Users".to_string(), Some(user("eve@beta.com"))),
            (Method::DELETE, format!("/Users/{acme_user}"), None),
            (Method::POST, "/Bulk".to_string(), Some(json!({"schemas": [BULK_REQUEST], "Operations": []}))),
            (Method::GET, "/ServiceProviderConfig".to_string(), None),
        ] {
            let r = form.send(&s, beta, method, &path, body).await;
            r.assert_error(404, None);
            let detail = r.body["detail"].as_str().unwrap();
            assert!(!detail.contains("beta@") && !detail.contains("ann@"), "{detail}");
        }
    }
    // The host and the path disagreeing is refused even for the token's own tenant.
    let both = Form::hosted(&s, "beta.scim.test", "beta.scim.test", "/scim/v2/acme");
    both.send(&s, acme, Method::GET, "/Users", None).await.assert_error(404, None);
    // Nothing was changed in acme by any of it.
    let r = s.get(&format!("/Users/{acme_user}")).await;
    assert_eq!((r.status.as_u16(), r.body["active"].clone()), (200, json!(true)), "{}", r.body);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    // A tenant switched off: 403 for its own token under every form; another's token still 404.
    s.svc.set_tenant_enabled("beta", false).await.unwrap();
    for form in [
        Form::plain(&s, "/scim/v2"),
        Form::plain(&s, PREFIX),
        Form::hosted(&s, "beta.scim.test", "beta.scim.test", "/scim/v2"),
    ] {
        let r = form.send(&s, beta, Method::GET, "/Users", None).await;
        r.assert_error(403, None);
        assert!(r.body["detail"].as_str().unwrap().contains("switched off"), "{}", r.body);
    }
    let hosted_beta = Form::hosted(&s, "beta.scim.test", "beta.scim.test", "/scim/v2");
    hosted_beta.send(&s, acme, Method::GET, "/Users", None).await.assert_error(404, None);
    // Unknown and missing tokens: 401 wherever.
    for form in [Form::plain(&s, "/scim/v2"), Form::hosted(&s, "acme.scim.test", "acme.scim.test", PREFIX)] {
        form.send(&s, Some("scimd_nope"), Method::GET, "/Users", None).await.assert_error(401, None);
        form.send(&s, None, Method::POST, "/Bulk", None).await.assert_error(401, None);
    }
}

async fn hosts_outside_the_suffix_take_the_tenant_from_the_path_or_the_token(b: Backend) {
    let s = start_with(b, config_with(PREFIX, Some(SUFFIX))).await;
    s.create_user("ann@acme.com").await;
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "okta", None).await.unwrap();
    let beta = Some(beta.as_str());
    // The suffix itself, a label under a label, a name merely ending like
    // it, another domain: no tenant in the host, so the token's.
    for host in ["scim.test", "x.acme.scim.test", "acmescim.test", "acme.scim.test.example", "localhost"] {
        let form = Form::hosted(&s, host, host, "/scim/v2");
        let r = form.send(&s, beta, Method::GET, "/Users", None).await;
        assert_eq!((r.status.as_u16(), r.body["totalResults"].clone()), (200, json!(0)), "{host}: {}", r.body);
        let form = Form::hosted(&s, host, host, "/scim/v2/acme");
        let r = form.send(&s, Some(&s.token), Method::GET, "/ServiceProviderConfig", None).await;
        assert_eq!(r.body["meta"]["location"], format!("{}/ServiceProviderConfig", form.shown).as_str(), "{host}");
    }
    // X-Forwarded-Host is not read, as it is not for any other URL the server makes.
    let form = Form::plain(&s, "/scim/v2");
    let forwarded = [("X-Forwarded-Host", "acme.scim.test")];
    let r = form.send_with(&s, beta, Method::GET, "/ServiceProviderConfig", None, &forwarded).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["location"], format!("{}/scim/v2/ServiceProviderConfig", s.root).as_str());
    // X-Forwarded-Proto is, as everywhere.
    let form = Form::hosted(&s, "beta.scim.test", "beta.scim.test", "/scim/v2");
    let https = [("X-Forwarded-Proto", "https")];
    let r = form.send_with(&s, beta, Method::GET, "/ServiceProviderConfig", None, &https).await;
    let port = s.root.rsplit(':').next().unwrap();
    let expected = format!("https://beta.scim.test:{port}/scim/v2/ServiceProviderConfig");
    assert_eq!(r.body["meta"]["location"], expected.as_str(), "{}", r.body);
    // Without --tenant-from-host a host names no tenant at all.
    let plain = start_with(b, config_with(PREFIX, None)).await;
    let form = Form::hosted(&plain, "beta.scim.test", "beta.scim.test", "/scim/v2");
    let r = form.send(&plain, Some(&plain.token), Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["location"], format!("{}/ServiceProviderConfig", form.shown).as_str());
}

async fn the_public_url_gives_the_host_form_its_scheme_port_and_path(b: Backend) {
    let config =
        Config { public_url: Some("https://scim.example.com/base".into()), ..config_with(PREFIX, Some(SUFFIX)) };
    let s = start_with(b, config).await;
    let token = s.token.clone();
    let public = "https://scim.example.com/base";
    let forms = [
        ("path", Form { shown: format!("{public}/scim/v2/acme"), ..Form::plain(&s, "/scim/v2/acme") }),
        ("token", Form { shown: format!("{public}/scim/v2"), ..Form::plain(&s, "/scim/v2") }),
        ("prefix", Form { shown: format!("{public}{PREFIX}"), ..Form::plain(&s, PREFIX) }),
        (
            "host",
            Form {
                shown: "https://acme.scim.test/base/scim/v2".to_string(),
                ..Form::hosted(&s, "acme.scim.test", "-", "/scim/v2")
            },
        ),
    ];
    for (tag, form) in &forms {
        let r = form.send(&s, Some(&token), Method::POST, "/Users", Some(user(&format!("{tag}@acme.com")))).await;
        assert_eq!(r.status, 201, "{tag}: {}", r.body);
        let id = r.body["id"].as_str().unwrap();
        assert_eq!(r.header("location"), Some(format!("{}/Users/{id}", form.shown).as_str()), "{tag}");
        let r = form.send(&s, Some(&token), Method::GET, "/ResourceTypes/User", None).await;
        assert_eq!(r.body["meta"]["location"], format!("{}/ResourceTypes/User", form.shown).as_str(), "{tag}");
    }
}

async fn a_second_prefix_form_and_the_default_path_both_work(b: Backend) {
    // Another vendor's path, without host tenants.
    let s = start_with(b, config_with("/scim/api/V1", None)).await;
    let token = s.token.clone();
    exercise(&s, &Form::plain(&s, "/scim/api/V1/acme"), &token, "v1-path").await;
    exercise(&s, &Form::plain(&s, "/scim/api/V1"), &token, "v1-token").await;
    exercise(&s, &Form::plain(&s, "/scim/v2/acme"), &token, "default").await;
    // A path under neither: the plain 404 of a path nothing serves.
    let r = Form::plain(&s, "/scim/api/V2").send(&s, Some(&token), Method::GET, "/Users", None).await;
    r.assert_error(404, None);
    let r = Form::plain(&s, "/scim/api/V1/acme").send(&s, Some(&token), Method::GET, "/Nothing", None).await;
    r.assert_error(404, None);
}

/// Rows of acme's audit trail, newest first, once at least `n` show.
async fn acme_trail(s: &Server, n: usize) -> Vec<Value> {
    for _ in 0..1000 {
        let r = s.adm(Method::GET, "/audit?limit=1000", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = r.body["data"].as_array().unwrap().clone();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} audit rows showed");
}

async fn the_audit_trail_and_the_rate_limit_follow_the_resolved_tenant(b: Backend) {
    let s = start_with(b, config_with(PREFIX, Some(SUFFIX))).await;
    let token = Some(s.token.clone());
    let token = token.as_deref();
    // A write at the tenant-less URL, a refusal under the host form, a
    // refusal at the prefix with the tenant, a bad token under the host form.
    let r = Form::plain(&s, "/scim/v2").send(&s, token, Method::POST, "/Users", Some(user("ann@acme.com"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hosted = Form::hosted(&s, "acme.scim.test", "acme.scim.test", PREFIX);
    hosted.send(&s, token, Method::GET, "/Users/nobody", None).await.assert_error(404, None);
    let at_prefix = Form::plain(&s, &format!("{PREFIX}/acme"));
    at_prefix.send(&s, token, Method::DELETE, "/Groups/nothing", None).await.assert_error(404, None);
    let r = Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2")
        .send(&s, Some("scimd_bad"), Method::GET, "/Users", None)
        .await;
    r.assert_error(401, None);
    // A bad token at the tenant-less URL names no tenant: not acme's trail.
    Form::plain(&s, "/scim/v2").send(&s, Some("scimd_bad"), Method::GET, "/Users", None).await.assert_error(401, None);
    let rows = acme_trail(&s, 4).await;
    let got: Vec<(String, String, u64, String, String)> = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            (text("method"), text("route"), r["status"].as_u64().unwrap(), text("tenant"), text("token"))
        })
        .collect();
    let row = |m: &str, route: &str, status: u64, token: &str| {
        (m.to_string(), route.to_string(), status, "acme".to_string(), token.to_string())
    };
    assert_eq!(
        got,
        [
            row("GET", "/scim/v2/{tenant}/Users", 401, "-"),
            row("DELETE", "/scim/v2/{tenant}/Groups/{id}", 404, "okta"),
            row("GET", "/scim/v2/{tenant}/Users/{id}", 404, "okta"),
            row("POST", "/scim/v2/{tenant}/Users", 201, "okta"),
        ],
        "{rows:?}"
    );

    // One tenant, one rate, whatever the form: a burst of 4 spent over four forms.
    let config = Config { tenant_rate: scimd::ratelimit::Rate::new(1, 4), ..config_with(PREFIX, Some(SUFFIX)) };
    let s = start_with(b, config).await;
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "okta", None).await.unwrap();
    let token = Some(s.token.as_str());
    let forms = [
        Form::plain(&s, "/scim/v2/acme"),
        Form::plain(&s, "/scim/v2"),
        Form::plain(&s, PREFIX),
        Form::hosted(&s, "acme.scim.test", "acme.scim.test", "/scim/v2"),
    ];
    let mut statuses = Vec::new();
    for form in forms.iter().chain(forms.iter()) {
        statuses.push(form.send(&s, token, Method::GET, "/Users", None).await.status.as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 4, "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = forms[3].send(&s, token, Method::GET, "/Users", None).await;
    r.assert_error(429, None);
    assert!(r.body["detail"].as_str().unwrap().contains("tenant 'acme'"), "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // Another tenant's rate is its own.
    let r = Form::plain(&s, "/scim/v2").send(&s, Some(&beta), Method::GET, "/Users", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn the_connect_screens_list_every_base_url_the_tenant_has(b: Backend) {
    let s = start_with(b, config_with(PREFIX, Some(SUFFIX))).await;
    let port = s.root.rsplit(':').next().unwrap();
    let expected = json!([
        {"url": format!("{}/scim/v2/acme", s.root), "tenant_from": "path"},
        {"url": format!("{}/scim/v2", s.root), "tenant_from": "token"},
        {"url": format!("{}{PREFIX}/acme", s.root), "tenant_from": "path"},
        {"url": format!("{}{PREFIX}", s.root), "tenant_from": "token"},
        {"url": format!("http://acme.scim.test:{port}/scim/v2"), "tenant_from": "host"},
        {"url": format!("http://acme.scim.test:{port}{PREFIX}"), "tenant_from": "host"},
    ]);
    let r = s.adm(Method::GET, "", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scim_base_url"], format!("{}/scim/v2/acme", s.root).as_str());
    assert_eq!(r.body["scim_base_urls"], expected, "{}", r.body);
    let r = s.adm(Method::POST, "/tokens", Some(json!({"name": "entra"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scim_base_urls"], expected);
    // The token just made works at each of them.
    let made = r.body["token"].as_str().unwrap().to_string();
    for form in expected.as_array().unwrap() {
        let url = form["url"].as_str().unwrap();
        let sent = match url.strip_prefix(&format!("http://acme.scim.test:{port}")) {
            Some(path) => Form::hosted(&s, "acme.scim.test", "acme.scim.test", path),
            None => Form::plain(&s, url.strip_prefix(&s.root).unwrap()),
        };
        let r = sent.send(&s, Some(&made), Method::GET, "/ServiceProviderConfig", None).await;
        assert_eq!(r.body["meta"]["location"], format!("{url}/ServiceProviderConfig").as_str(), "{url}");
    }
    // The console's connect screen shows them to the customer's admin.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let body = form_urlencoded::Serializer::new(String::new()).append_pair("token", &s.admin_token).finish();
    let signed = client
        .post(format!("{}/console/sign-in", s.root))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = client.get(format!("{}/console/t/acme", s.root)).header("Cookie", cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let urls: Vec<&str> = expected.as_array().unwrap().iter().map(|f| f["url"].as_str().unwrap()).collect();
    assert!(html.contains(&format!("<code id=\"base-url\">{}<", urls[0])), "{html}");
    for url in &urls[1..] {
        assert!(html.contains(&format!("<code>{url}</code>")), "{url}: {html}");
    }
    assert!(html.contains("the tenant in the host name"), "{html}");
}

/// A bad `--scim-path-prefix` or `--tenant-from-host` stops the server
/// before it opens anything, with a message naming the flag; both are in
/// `serve --help` with their environment variables.
#[test]
fn bad_base_url_flags_refuse_to_start_naming_the_flag() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("scimd-base-urls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("flags.db").display());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimd"));
        cmd.args(args).env("SCIMD_DATABASE_URL", &db).env("SCIMD_LISTEN", "127.0.0.1:0").current_dir(&dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for (bad, why) in [
        ("api/v1", "does not start with '/'"),
        ("/api/v1/", "ends with '/'"),
        ("/api/{tenant}", "'{'"),
        ("/admin/scim", "under /admin"),
        ("/metrics", "under /metrics"),
        ("/scim/v2", "overlaps /scim/v2"),
        ("/scim", "overlaps /scim/v2"),
        ("/a b", "characters"),
    ] {
        let (ok, _, err) = run(&["serve", "--scim-path-prefix", bad], &[]);
        assert!(!ok && err.contains("--scim-path-prefix") && err.contains(why), "{bad}: {err}");
        let (ok, _, err) = run(&["serve"], &[("SCIMD_SCIM_PATH_PREFIX", bad)]);
        assert!(!ok && err.contains("--scim-path-prefix") && err.contains(why), "env {bad}: {err}");
    }
    for bad in ["https://scim.test", "scim.test:8443", "a_b.test", ""] {
        let (ok, _, err) = run(&["serve", "--tenant-from-host", bad], &[]);
        assert!(!ok && err.contains("--tenant-from-host") && err.contains("not a host name"), "{bad:?}: {err}");
    }
    assert!(!dir.join("flags.db").exists(), "refused before the database was opened");
    let (ok, help, _) = run(&["serve", "--help"], &[]);
    assert!(ok, "{help}");
    for words in
        ["--scim-path-prefix <PATH>", "SCIMD_SCIM_PATH_PREFIX", "--tenant-from-host <SUFFIX>", "SCIMD_TENANT_FROM_HOST"]
    {
        assert!(help.contains(words), "{words}: {help}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
