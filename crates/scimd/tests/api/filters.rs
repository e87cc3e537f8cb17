//! Filters: the SQL translation agrees with scim-core's reference evaluator.

use super::*;

on_both_backends!(sql_filters_agree_with_the_reference_evaluator);

/// The SQL translation of filters agrees with scim-core's in-memory evaluator.
async fn sql_filters_agree_with_the_reference_evaluator(b: Backend) {
    let s = start(b).await;
    let people = [
        json!({"schemas": [USER], "userName": "alice@example.com", "displayName": "Alice", "title": "Engineer", "userType": "Employee", "active": true,
               "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "a@home.org", "type": "home"}],
               "name": {"givenName": "Alice", "familyName": "O'Malley"}, ENTERPRISE: {"employeeNumber": "7", "department": "R&D"}}),
        json!({"schemas": [USER], "userName": "bob@example.org", "displayName": "Bob", "userType": "Intern", "active": false,
               "emails": [{"value": "bob@example.org", "type": "work"}], "name": {"givenName": "Bob"}}),
        json!({"schemas": [USER], "userName": "Carol@Example.com", "title": "Manager", "active": true, "nickName": "",
               "ims": [{"value": "carol@foo.com", "type": "xmpp"}], ENTERPRISE: {"department": "Sales"}}),
        json!({"schemas": [USER], "userName": "dave", "externalId": "EXT-1"}),
    ];
    for p in &people {
        let r = s.post("/Users", p.clone()).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let all = s.get("/Users").await.body["Resources"].as_array().unwrap().clone();
    let rt = scim_core::ResourceType::user();
    let filters = [
        "userName eq \"carol@example.com\"",
        "userName sw \"A\"",
        "userName ew \".ORG\"",
        "userName co \"@\"",
        "userName gt \"bob\"",
        "userName le \"carol@example.com\"",
        "displayName eq \"alice\"",
        "title pr",
        "nickName pr",
        "not (title pr)",
        "title ne \"Engineer\"",
        "active eq true",
        "active ne true",
        "active eq false",
        "externalId eq \"EXT-1\"",
        "externalId eq \"ext-1\"",
        "name.familyName co \"O'Mal\"",
        "name.givenName sw \"b\"",
        "emails co \"example\"",
        "emails.value ew \"home.org\"",
        "emails.type eq \"home\"",
        "emails pr",
        "emails[type eq \"work\" and primary eq true]",
        "emails[type eq \"work\"].value eq \"BOB@example.org\"",
        "emails[not (type eq \"work\")]",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
        "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr",
        "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
        "meta.created gt \"2000-01-01T00:00:00Z\"",
        "meta.lastModified lt \"2000-01-01T00:00:00+01:00\"",
        "meta.resourceType eq \"User\"",
        "title eq null",
        "ims ne null",
        "emails ne \"alice@example.com\"",
        "id pr and userName pr",
    ];
    for text in filters {
        let f = scim_core::parse_filter(text).unwrap();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|u| scim_core::filter::matches(&f, u, &rt))
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        let mut got = s.ids(&format!("/Users?filter={}", q(text))).await;
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "filter: {text}");
    }
}
