//! The admin API's OpenAPI document: OpenAPI 3.1, served without a token,
//! covering every route the admin router serves (the router's own table,
//! `scimd::http::ADMIN_ROUTES`), with the one error shape on every error
//! answer, and real answers that match it.

use super::*;
use std::collections::BTreeSet;

const DOC: &str = "/admin/v1/openapi.json";

async fn document(s: &Server) -> Value {
    let url = format!("{}{DOC}", s.root);
    let r = s.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(ct, "application/json");
    r.json().await.unwrap()
}

/// `(method, path)` of every operation the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options", "trace"] {
            if item.get(method).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

/// `#/components/responses/X` → the response object.
fn response<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/responses/").unwrap();
            &doc["components"]["responses"][name]
        }
        None => r,
    }
}

async fn covers_every_admin_route(b: Backend) {
    let s = start(b).await;
    let doc = document(&s).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    let mut served: BTreeSet<(String, String)> =
        scimd::http::ADMIN_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    served.insert(("get".into(), DOC.into()));
    let documented = operations(&doc);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes the document leaves out: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "operations the router does not serve: {unserved:?}");

    let ids: Vec<&str> = documented.iter().map(|(m, p)| doc["paths"][p][m]["operationId"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "operation ids are unique");

    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let what = format!("{} {path}", method.to_uppercase());
        // Every parameter of the path template is declared, as a required path parameter.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let named: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        assert_eq!(declared, named, "{what}");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.keys().any(|k| k.starts_with('2')), "{what} documents no success");
        if path == DOC {
            assert_eq!(op["security"], json!([{}]), "the document needs no token");
            continue;
        }
        for status in ["401", "500", "503"] {
            assert!(responses.contains_key(status), "{what} leaves out {status}");
        }
        if !named.is_empty() {
            assert!(responses.contains_key("404"), "{what} leaves out 404");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400") && responses.contains_key("413"), "{what}");
            // JSON, but for an import's file (JSON lines or CSV).
            let content = op["requestBody"]["content"].as_object().unwrap();
            let types: Vec<&str> = content.keys().map(String::as_str).collect();
            let expected: &[&str] =
                if path.ends_with("/import") { &["application/x-ndjson", "text/csv"] } else { &["application/json"] };
            assert_eq!(types, expected, "{what}");
            assert!(content.values().all(|c| c["schema"].is_object()), "{what}");
        }
        // Every error answer is the one error shape.
        for (status, r) in responses.iter().filter(|(k, _)| !k.starts_with('2')) {
            let schema = &response(&doc, r)["content"]["application/json"]["schema"];
            assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{what} {status}");
        }
    }
    // The admin token is the API's security scheme.
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{"admin_token": []}]));
}

/// The error shape as documented, and real errors of each kind that match it.
async fn documents_the_error_shape(b: Backend) {
    let s = start(b).await;
    let doc = document(&s).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["ErrorBody"]["required"], json!(["error"]));
    let detail = &schemas["ErrorDetail"];
    assert_eq!(detail["required"], json!(["status", "code", "detail"]));
    let codes: BTreeSet<&str> =
        schemas["Code"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for code in ["invalid_request", "unauthorized", "forbidden", "not_found", "conflict", "busy", "internal"] {
        assert!(codes.contains(code), "{code} in {codes:?}");
    }
    let busy = &doc["components"]["responses"]["Busy"];
    assert!(busy["headers"]["Retry-After"].is_object(), "{busy}");

    let check = |r: &Resp, status: u16| {
        assert_eq!(r.status.as_u16(), status, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = &r.body["error"];
        assert_eq!(e["status"], status, "{}", r.body);
        assert!(codes.contains(e["code"].as_str().unwrap()), "{}", r.body);
        assert!(e["detail"].as_str().is_some_and(|d| d.len() > 5), "{}", r.body);
        assert_eq!(r.body.as_object().unwrap().len(), 1, "{}", r.body);
        assert_eq!(e.as_object().unwrap().len(), 3, "{}", r.body);
    };
    check(&s.adm(Method::GET, "/roles/nope", None).await, 404);
    check(&s.adm(Method::POST, "/roles", Some(json!({"name": "x"}))).await, 400);
    check(&s.adm(Method::GET, "/users?limit=lots", None).await, 400);
    check(&s.adm(Method::POST, "/policy/reapply?dry_run=perhaps", None).await, 400);
    check(&s.adm(Method::GET, "/users/%FF", None).await, 400);
    check(&s.raw(Method::GET, &format!("{}/config", s.admin), None, &[("Authorization", "Bearer nope")]).await, 401);
    check(&s.adm(Method::PUT, "/roles", Some(json!({}))).await, 405);
    let big = json!({"name": "x".repeat(100 * 1024)});
    check(&s.adm(Method::POST, "/workspaces", Some(big)).await, 413);
    let tenants = format!("{}/admin/v1/tenants?limit=0", s.root);
    let auth = format!("Bearer {}", s.admin_token);
    check(&s.raw(Method::GET, &tenants, None, &[("Authorization", &auth)]).await, 400);
}

on_both_backends!(covers_every_admin_route, documents_the_error_shape);
