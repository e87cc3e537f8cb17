//! Errors: every refusal is a SCIM error body, and a failing PATCH changes nothing.

use super::*;

on_both_backends!(every_error_is_a_scim_error, bodies_are_read_strictly_where_a_reader_could_differ);

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

async fn bodies_are_read_strictly_where_a_reader_could_differ(b: Backend) {
    let s = start(b).await;
    let scim = [("Content-Type", "application/scim+json")];
    // A key named twice: another parser might keep the first one.
    let twice = format!(r#"{{"schemas":["{USER}"],"userName":"a@acme.com","userName":"admin@acme.com"}}"#);
    let r = s.raw(Method::POST, "/Users", Some(twice), &scim).await;
    r.assert_error(400, Some("invalidSyntax"));
    assert!(r.body["detail"].as_str().unwrap().contains("'userName' appears more than once"), "{}", r.body);
    let nested =
        format!(r#"{{"schemas":["{USER}"],"userName":"n@acme.com","name":{{"givenName":"A","givenName":"B"}}}}"#);
    let r = s.raw(Method::POST, "/Users", Some(nested), &scim).await;
    r.assert_error(400, Some("invalidSyntax"));
    assert!(r.body["detail"].as_str().unwrap().contains("'givenName'"), "{}", r.body);
    let ops = format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","op":"remove","path":"active","value":false}}]}}"#
    );
    let user = Server::id_of(&s.create_user("strict@acme.com").await);
    let r = s.raw(Method::PATCH, &format!("/Users/{user}"), Some(ops), &scim).await;
    r.assert_error(400, Some("invalidSyntax"));
    assert!(r.body["detail"].as_str().unwrap().contains("'op'"), "{}", r.body);
    // The same key in two objects is no duplicate.
    let two = json!({"schemas": [USER], "userName": "two@acme.com",
                     "emails": [{"value": "a@acme.com", "type": "work"}, {"value": "b@acme.com", "type": "home"}]});
    assert_eq!(s.post("/Users", two).await.status, 201);
    // An array where one value belongs is refused, not read as its first element.
    let r = s.post("/Users", json!({"schemas": [USER], "userName": ["x@acme.com"]})).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("'userName' is single-valued"), "{}", r.body);
    let r = s
        .patch(&format!("/Users/{user}"), json!([{"op": "replace", "path": "displayName", "value": ["A", "B"]}]))
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = s.patch(&format!("/Users/{user}"), json!([{"op": "replace", "value": {"active": [false]}}])).await;
    r.assert_error(400, Some("invalidValue"));
    // Entra's manager, a one-element array of an object, is still read as the object.
    let manager = json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": [{"value": user}]}]);
    let other = Server::id_of(&s.create_user("report@acme.com").await);
    let r = s.patch(&format!("/Users/{other}"), manager).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], user);
    // The admin API says the same in its words.
    let r = s
        .raw(
            Method::POST,
            &format!("{}/workspaces", s.admin),
            Some(r#"{"name":"a","name":"b"}"#.into()),
            &[("Authorization", &format!("Bearer {}", s.admin_token)), ("Content-Type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("'name' appears more than once"), "{}", r.body);
    // Nothing refused was written.
    assert_eq!(s.get("/Users").await.body["totalResults"], 3);
}
