//! Entra ID: the user and group lifecycles, and group PATCH answered with 204.

use super::*;

on_both_backends!(entra_user_lifecycle, group_patch_can_answer_no_content, entra_group_lifecycle);

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
