//! Discovery: ServiceProviderConfig, ResourceTypes, Schemas, health and readiness.

use super::*;

on_both_backends!(discovery_endpoints, health_and_readiness);

async fn discovery_endpoints(b: Backend) {
    let s = start(b).await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"], json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576}));
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
    s.post("/Bulk", json!({})).await.assert_error(400, Some("invalidSyntax"));
    s.call(Method::GET, "/Bulk", None).await.assert_error(405, None);
}

async fn health_and_readiness(b: Backend) {
    let s = start(b).await;
    let r = s.raw(Method::GET, &format!("{}/healthz", s.root), None, &[]).await;
    assert_eq!(r.status, 200);
    let r = s.raw(Method::GET, &format!("{}/readyz", s.root), None, &[]).await;
    assert_eq!(r.status, 200);
}
