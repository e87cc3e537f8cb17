//! Import and export of users, over the admin API and the command line:
//! matched on userName, created, updated or left alone through the same
//! operations as SCIM (policy and events apply), every failed row named.

use super::*;

on_both_backends!(imports_match_on_user_name_and_exports_read_back);

async fn import(s: &Server, tenant: &str, body: &str, content_type: &str) -> Resp {
    let url = format!("{}/admin/v1/tenants/{tenant}/import", s.root);
    let auth = format!("Bearer {}", s.admin_token);
    s.raw(Method::POST, &url, Some(body.to_string()), &[("Authorization", &auth), ("Content-Type", content_type)]).await
}

async fn export(s: &Server, tenant: &str, format: &str) -> String {
    let url = format!("{}/admin/v1/tenants/{tenant}/export?format={format}", s.root);
    let auth = format!("Bearer {}", s.admin_token);
    let r = s.raw(Method::GET, &url, None, &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    match r.body {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

async fn imports_match_on_user_name_and_exports_read_back(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let csv = "userName,name.givenName,name.familyName,emails,active,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\n\
               ann@acme.com,Ann,Lee,ann@acme.com,true,Sales\n\
               bob@acme.com,Bob,\"Smith, Jr.\",bob@acme.com,no,\n\
               ,No,Name,,true,\n\
               cy@acme.com,Cy,Ng,cy@acme.com,maybe,\n";
    let r = import(&s, "acme", csv, "text/csv").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["created"].clone(), r.body["updated"].clone(), r.body["unchanged"].clone()),
        (json!(2), json!(0), json!(0))
    );
    let failed = r.body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{}", r.body);
    assert_eq!((failed[0]["line"].clone(), failed[0]["reason"].clone()), (json!(4), json!("the row has no userName")));
    assert_eq!(failed[1]["userName"], "cy@acme.com");
    assert!(failed[1]["reason"].as_str().unwrap().contains("'maybe'"));
    // Through the same operations as SCIM: the policy's default role, the events.
    let users = s.get(&format!("/Users?filter={}", q("userName eq \"ann@acme.com\""))).await;
    let ann = users.body["Resources"][0].clone();
    assert_eq!(ann["name"]["givenName"], "Ann");
    assert_eq!(ann[ENTERPRISE]["department"], "Sales");
    let ann_id = Server::id_of(&ann);
    assert!(s.roles(&ann_id).await.iter().any(|(_, r, src)| r == "Viewer" && src == "default"));
    let bob = s.get(&format!("/Users?filter={}", q("userName eq \"bob@acme.com\""))).await.body["Resources"][0].clone();
    assert_eq!((bob["active"].clone(), bob["name"]["familyName"].clone()), (json!(false), json!("Smith, Jr.")));
    let events = s.feed_at_least("type=user.created", 2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    // Again: nothing changes; a changed row is updated, its other attributes kept.
    let r = import(&s, "acme", csv, "text/csv").await;
    assert_eq!((r.body["created"].clone(), r.body["unchanged"].clone()), (json!(0), json!(2)), "{}", r.body);
    let r = import(&s, "acme", "{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": \"ANN@acme.com\", \"title\": \"Lead\"}\n", "application/x-ndjson").await;
    assert_eq!(
        (r.body["updated"].clone(), r.body["created"].clone()),
        (json!(1), json!(0)),
        "matched ignoring case: {}",
        r.body
    );
    let ann = s.get(&format!("/Users/{ann_id}")).await.body;
    assert_eq!((ann["title"].clone(), ann["name"]["givenName"].clone()), (json!("Lead"), json!("Ann")));
    let r = import(&s, "acme", "not json\n", "application/x-ndjson").await;
    assert_eq!(r.body["failed"][0]["line"], 1, "{}", r.body);
    let r = import(&s, "acme", "name.givenName\nAnn\n", "text/csv").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("no 'userName' column"));
    // Exports: JSONL of SCIM users that imports elsewhere as they were; CSV with its header.
    let jsonl = export(&s, "acme", "jsonl").await;
    assert_eq!(jsonl.lines().count(), 2, "{jsonl}");
    s.svc.create_tenant("beta").await.unwrap();
    let r = import(&s, "beta", &jsonl, "application/x-ndjson").await;
    assert_eq!(r.body["created"], 2, "{}", r.body);
    let again = export(&s, "beta", "jsonl").await;
    let strip = |text: &str| {
        let mut users: Vec<Value> = text
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect();
        users.sort_by_key(|u| u["userName"].as_str().unwrap().to_string());
        users
    };
    assert_eq!(strip(&again), strip(&jsonl), "the same users, with new ids");
    let csv_out = export(&s, "acme", "csv").await;
    assert!(
        csv_out.starts_with("userName,externalId,name.givenName,name.familyName,displayName,emails,active,id\n"),
        "{csv_out}"
    );
    assert!(csv_out.contains("\"Smith, Jr.\""), "{csv_out}");
}
