//! ETags: versions, If-None-Match and If-Match preconditions.

use super::*;

on_both_backends!(etags_and_preconditions);

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
