//! Errors: every refusal is a SCIM error body, and a failing PATCH changes nothing.

use super::*;

on_both_backends!(every_error_is_a_scim_error);

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
