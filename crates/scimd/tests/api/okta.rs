//! Okta: its SCIM spec test sequence, the user lifecycle and Group Push.

use super::*;

on_both_backends!(okta_spec_test_sequence, okta_user_lifecycle, okta_group_push);

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
