//! Tenants and tokens: isolation, token checks, and SCIM switched off for a tenant.

use super::*;

on_both_backends!(tenants_are_isolated_and_tokens_checked, switching_scim_off_refuses_scim_requests);

async fn tenants_are_isolated_and_tokens_checked(b: Backend) {
    let s = start(b).await;
    let a_user = s.create_user("a@acme.com").await["id"].as_str().unwrap().to_string();
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "entra", None).await.unwrap();
    let beta_base = format!("{}/scim/v2/beta", s.root);
    let auth = format!("Bearer {beta}");
    // Beta's token on acme's URL: 404, as for a tenant that does not exist;
    // on its own URL it sees nothing of acme.
    let r = s.raw(Method::GET, "/Users", None, &[("Authorization", &auth)]).await;
    r.assert_error(404, None);
    assert!(!r.body["detail"].as_str().unwrap().contains("beta"), "{}", r.body);
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &auth)]).await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s.raw(Method::GET, &format!("{beta_base}/Users/{a_user}"), None, &[("Authorization", &auth)]).await;
    r.assert_error(404, None);
    // The same userName may exist in both tenants.
    let r = s
        .raw(
            Method::POST,
            &format!("{beta_base}/Users"),
            Some(json!({"schemas": [USER], "userName": "a@acme.com"}).to_string()),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 201);
    // The bare token works too (pasted into Okta's header field without "Bearer").
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &beta)]).await;
    assert_eq!(r.body["totalResults"], 1);
    // Missing header, wrong scheme; a tenant that does not exist is 404 as another tenant's is.
    s.raw(Method::GET, "/Users", None, &[("Authorization", "")]).await.assert_error(401, None);
    s.raw(Method::GET, "/Users", None, &[("Authorization", &format!("Basic {}", s.token))])
        .await
        .assert_error(401, None);
    s.raw(Method::GET, &format!("{}/scim/v2/nope/Users", s.root), None, &[]).await.assert_error(404, None);
    let no_token = [("Authorization", "")];
    s.raw(Method::GET, &format!("{}/scim/v2/nope/Users", s.root), None, &no_token).await.assert_error(401, None);
    // A disabled tenant answers 403.
    s.svc.set_tenant_enabled("beta", false).await.unwrap();
    let r = s.raw(Method::GET, &format!("{beta_base}/Users"), None, &[("Authorization", &auth)]).await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("switched off"));
    // Revoked and expired tokens say so; a token expires when its days have passed.
    s.svc.revoke_token("acme", "okta").await.unwrap();
    let r = s.get("/Users").await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("revoked"));
    let expiring = cli::create_token(&s.svc, "acme", "thirty-days", Some(30)).await.unwrap();
    let with_expiring = [("Authorization", format!("Bearer {expiring}"))];
    let with_expiring: Vec<(&str, &str)> = with_expiring.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(s.raw(Method::GET, "/Users", None, &with_expiring).await.status, 200);
    s.clock.advance(std::time::Duration::from_secs(29 * 86_400));
    assert_eq!(s.raw(Method::GET, "/Users", None, &with_expiring).await.status, 200, "a day before it expires");
    s.clock.advance(std::time::Duration::from_secs(86_400));
    let r = s.raw(Method::GET, "/Users", None, &with_expiring).await;
    r.assert_error(401, None);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
}

/// Rule 9: SCIM switched off.
async fn switching_scim_off_refuses_scim_requests(b: Backend) {
    let s = start(b).await;
    let r = s.adm(Method::PUT, "/policy", Some(json!({"scim_enabled": false}))).await;
    assert_eq!((r.status.as_u16(), r.body["scim_enabled"].clone()), (200, json!(false)));
    let r = s.get("/Users").await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("switched off"));
    s.adm(Method::PUT, "/policy", Some(json!({"scim_enabled": true}))).await;
    assert_eq!(s.get("/Users").await.status, 200);
}
