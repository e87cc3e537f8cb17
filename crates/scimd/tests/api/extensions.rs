//! Tenant-defined extension schemas (issue 22 item 4, RFC 7643 §3.3 and §7):
//! registered over the admin API, shown in /Schemas and the resource type's
//! schemaExtensions, validated, stored, returned as `returned` says,
//! filtered, sorted and patched by URN paths (Okta's custom-attribute flow
//! and Entra's value-object form), removed only with `force` while values
//! exist; and the `unknown_attributes` policy (ignore and name in the audit
//! row, or reject naming them).

use super::*;

on_both_backends!(
    okta_custom_attributes_work_end_to_end_once_registered,
    extension_values_are_validated_and_returned_as_the_schema_says,
    a_group_extension_is_patched_and_filtered,
    unknown_attributes_are_ignored_and_audited_or_rejected_by_policy,
    removing_a_schema_that_values_use_needs_force,
    schema_definitions_are_refused_in_plain_words,
    imports_and_the_admin_api_take_extension_attributes,
    unique_extension_values_are_enforced_per_tenant,
);

const CUSTOM: &str = "urn:okta:acme_app:1.0:user:custom";

fn custom_schema() -> Value {
    json!({
        "id": CUSTOM,
        "name": "Acme custom",
        "description": "What Okta's profile editor adds",
        "resource_type": "User",
        "attributes": [
            {"name": "costCentre", "type": "string", "description": "Cost centre"},
            {"name": "badge", "type": "integer"},
            {"name": "pin", "type": "string", "returned": "never"},
            {"name": "clearance", "type": "string", "returned": "request"},
            {"name": "skills", "type": "string", "multiValued": true},
            {"name": "office", "type": "complex", "subAttributes": [
                {"name": "building", "type": "string"}, {"name": "floor", "type": "integer"}
            ]}
        ]
    })
}

async fn register(s: &Server, schema: Value) {
    let r = s.adm(Method::POST, "/schemas", Some(schema)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn user_with(name: &str, custom: Value) -> Value {
    json!({"schemas": [USER, CUSTOM], "userName": name, CUSTOM: custom})
}

/// The newest audit row of tenant `acme`.
async fn newest_row(s: &Server) -> Value {
    let r = s.adm(Method::GET, "/audit?limit=1", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"][0].clone()
}

async fn okta_custom_attributes_work_end_to_end_once_registered(b: Backend) {
    let s = start(b).await;
    // Before the schema exists (the default policy ignores): a create holding
    // it succeeds without it, and a PATCH of it is no longer a failed task.
    let r = s.post("/Users", user_with("early@acme.com", json!({"costCentre": "CC0"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get(CUSTOM).is_none(), "{}", r.body);
    let early = Server::id_of(&r.body);
    let ops = json!([{"op": "replace", "path": format!("{CUSTOM}:costCentre"), "value": "CC0"}]);
    let r = s.patch(&format!("/Users/{early}"), ops).await;
    assert_eq!(r.status, 200, "an unregistered extension's PATCH is ignored, not 400: {}", r.body);

    register(&s, custom_schema()).await;
    // Discovery tells the truth at once.
    let r = s.get(&format!("/Schemas/{CUSTOM}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Acme custom");
    assert_eq!(r.body["attributes"][0]["name"], "costCentre");
    assert_eq!(r.body["attributes"][2]["returned"], "never");
    let r = s.get("/Schemas").await;
    assert!(r.body["Resources"].as_array().unwrap().iter().any(|sc| sc["id"] == CUSTOM), "{}", r.body);
    let r = s.get("/ResourceTypes/User").await;
    assert_eq!(
        r.body["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}, {"schema": CUSTOM, "required": false}])
    );
    assert_eq!(s.get("/ResourceTypes/Group").await.body["schemaExtensions"], json!([]));

    // POST (Okta's create), then GET.
    let r = s.post("/Users", user_with("ada@acme.com", json!({"costCentre": "CC1", "skills": ["rust"]}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[CUSTOM], json!({"costCentre": "CC1", "skills": ["rust"]}));
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(CUSTOM)), "{}", r.body);
    let ada = Server::id_of(&r.body);
    assert_eq!(s.get(&format!("/Users/{ada}")).await.body[CUSTOM]["costCentre"], "CC1");

    // PUT (Okta's profile update for AIW apps) changes it.
    let put = user_with("ada@acme.com", json!({"costCentre": "CC2", "office": {"building": "B", "floor": 3}}));
    let r = s.put(&format!("/Users/{ada}"), put).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[CUSTOM], json!({"costCentre": "CC2", "office": {"building": "B", "floor": 3}}));

    // PATCH by the URN path (Okta), a URN-qualified key of a value object
    // (Entra), and a sub-attribute path.
    let ops = json!([
        {"op": "replace", "path": format!("{CUSTOM}:costCentre"), "value": "CC3"},
        {"op": "Replace", "value": {format!("{CUSTOM}:badge"): 7}},
        {"op": "replace", "path": format!("{CUSTOM}:office.floor"), "value": 4}
    ]);
    let r = s.patch(&format!("/Users/{ada}"), ops).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[CUSTOM], json!({"costCentre": "CC3", "badge": 7, "office": {"building": "B", "floor": 4}}));
    // A path that is a registered extension's whole URN replaces that extension (scim2-tester's form).
    let ops = json!([{"op": "replace", "path": CUSTOM, "value": {"costCentre": "CC3", "badge": 8}},
                     {"op": "replace", "path": ENTERPRISE, "value": {"department": "R&D"}}]);
    let r = s.patch(&format!("/Users/{ada}"), ops).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[CUSTOM]["badge"], 8, "{}", r.body);
    assert_eq!(r.body[ENTERPRISE]["department"], "R&D", "{}", r.body);

    // A filter on it finds exactly that user; and it sorts.
    let r = s.post("/Users", user_with("bob@acme.com", json!({"costCentre": "CC1"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let filter = q(&format!("{CUSTOM}:costCentre eq \"cc3\""));
    let r = s.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1, "string values compare ignoring case (caseExact false): {}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], ada.as_str());
    let filter = q(&format!("{CUSTOM}:badge gt 5"));
    assert_eq!(s.get(&format!("/Users?filter={filter}")).await.body["totalResults"], 1);
    let r = s.get(&format!("/Users?sortBy={}&sortOrder=descending", q(&format!("{CUSTOM}:costCentre")))).await;
    let order: Vec<&str> =
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    // Descending puts users without a value first (RFC 7644 §3.4.2.3).
    assert_eq!(order, ["early@acme.com", "ada@acme.com", "bob@acme.com"], "{}", r.body);

    // Another tenant has none of it.
    s.svc.create_tenant("globex").await.unwrap();
    let token = scimd::cli::create_token(&s.svc, "globex", "okta", None).await.unwrap();
    let auth = format!("Bearer {token}");
    let other = format!("{}/scim/v2/globex", s.root);
    let r = s.raw(Method::GET, &format!("{other}/Schemas/{CUSTOM}"), None, &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let body = user_with("ada@globex.com", json!({"costCentre": "X"})).to_string();
    let ct = ("Content-Type", "application/scim+json");
    let r = s.raw(Method::POST, &format!("{other}/Users"), Some(body), &[("Authorization", &auth), ct]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get(CUSTOM).is_none(), "{}", r.body);
}

async fn extension_values_are_validated_and_returned_as_the_schema_says(b: Backend) {
    let s = start(b).await;
    register(&s, custom_schema()).await;
    // Types are checked, with the attribute named.
    let r = s.post("/Users", user_with("x@acme.com", json!({"badge": "seven"}))).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains(&format!("{CUSTOM}:badge")), "{}", r.body);
    let ops = json!([{"op": "replace", "path": format!("{CUSTOM}:office.floor"), "value": "high"}]);
    let r = s.post("/Users", user_with("ada@acme.com", json!({"pin": "1234", "clearance": "secret"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ada = Server::id_of(&r.body);
    s.patch(&format!("/Users/{ada}"), ops).await.assert_error(400, Some("invalidValue"));

    // returned: never is stored but never shown; returned: request only when asked for.
    assert!(r.body.get(CUSTOM).is_none(), "neither pin nor clearance is shown by default: {}", r.body);
    let got = s.get(&format!("/Users/{ada}")).await;
    assert!(got.body.get(CUSTOM).is_none(), "{}", got.body);
    let list = s.get("/Users").await;
    assert!(list.body["Resources"][0].get(CUSTOM).is_none(), "{}", list.body);
    let asked = s.get(&format!("/Users/{ada}?attributes={}", q(&format!("{CUSTOM}:clearance,{CUSTOM}:pin")))).await;
    assert_eq!(asked.body[CUSTOM], json!({"clearance": "secret"}), "{}", asked.body);
    // A never-returned value cannot be probed by a filter either; it is
    // stored, for the product (the admin API shows the stored document).
    let filter = q(&format!("{CUSTOM}:pin eq \"1234\""));
    s.get(&format!("/Users?filter={filter}")).await.assert_error(400, Some("invalidFilter"));
    let stored = s.adm(Method::GET, &format!("/users/{ada}"), None).await;
    assert_eq!(stored.body[CUSTOM]["pin"], "1234", "{}", stored.body);
}

async fn a_group_extension_is_patched_and_filtered(b: Backend) {
    let s = start(b).await;
    let urn = "urn:example:scim:schemas:extension:acme:1.0:Group";
    let schema = json!({"id": urn, "resource_type": "Group",
        "attributes": [{"name": "costCentre", "type": "string"}, {"name": "external", "type": "boolean"}]});
    register(&s, schema).await;
    assert_eq!(
        s.get("/ResourceTypes/Group").await.body["schemaExtensions"],
        json!([{"schema": urn, "required": false}])
    );
    let r = s.post("/Groups", json!({"schemas": [GROUP, urn], "displayName": "Eng", urn: {"costCentre": "E1"}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let eng = Server::id_of(&r.body);
    let ops = json!([{"op": "add", "path": format!("{urn}:external"), "value": "True"}]);
    let r = s.patch(&format!("/Groups/{eng}"), ops).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[urn], json!({"costCentre": "E1", "external": true}));
    let filter = q(&format!("{urn}:external eq true"));
    let r = s.get(&format!("/Groups?filter={filter}")).await;
    assert_eq!((r.body["totalResults"].clone(), r.body["Resources"][0]["id"].clone()), (json!(1), json!(eng)));
}

async fn unknown_attributes_are_ignored_and_audited_or_rejected_by_policy(b: Backend) {
    let s = start(b).await;
    // Ignored (the default): the create succeeds and its audit row says what was dropped.
    let body = json!({"schemas": [USER], "userName": "ada@acme.com", "shoeSize": 42,
        "name": {"givenName": "Ada", "middle": "K"}, "urn:okta:other:1.0:user": {"a": 1}});
    let r = s.post("/Users", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get("shoeSize").is_none(), "{}", r.body);
    let ada = Server::id_of(&r.body);
    let row = newest_row(&s).await;
    assert_eq!(row["status"], 201, "{row}");
    let changes: Vec<&str> = row["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(changes[0], format!("user {ada} created"), "{row}");
    assert_eq!(
        changes.last().copied(),
        Some("ignored attributes no schema defines: 'name.middle', 'shoeSize', 'urn:okta:other:1.0:user'"),
        "{row}"
    );

    // Rejected: 400 naming them, nothing written; PUT and PATCH alike.
    let r = s.adm(Method::PUT, "/policy", Some(json!({"unknown_attributes": "reject"}))).await;
    assert_eq!((r.status.as_u16(), &r.body["unknown_attributes"]), (200, &json!("reject")), "{}", r.body);
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "bob@acme.com", "shoeSize": 42})).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("'shoeSize'"), "{}", r.body);
    assert_eq!(s.get(&format!("/Users?filter={}", q("userName eq \"bob@acme.com\""))).await.body["totalResults"], 0);
    let put = json!({"schemas": [USER], "userName": "ada@acme.com", "urn:okta:other:1.0:user": {"a": 1}});
    let r = s.put(&format!("/Users/{ada}"), put).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("'urn:okta:other:1.0:user'"), "{}", r.body);
    let ops = json!([{"op": "replace", "path": "urn:okta:other:1.0:user:costCentre", "value": "x"},
                     {"op": "replace", "path": "displayName", "value": "Ada"}]);
    let r = s.patch(&format!("/Users/{ada}"), ops).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(s.get(&format!("/Users/{ada}")).await.body.get("displayName").is_none(), "nothing half-written");
    // A body of known attributes only still passes.
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "cy@acme.com", "name": {"givenName": "Cy"}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn removing_a_schema_that_values_use_needs_force(b: Backend) {
    let s = start(b).await;
    register(&s, custom_schema()).await;
    let mut ids = Vec::new();
    for name in ["a@acme.com", "b@acme.com"] {
        let r = s.post("/Users", user_with(name, json!({"costCentre": "CC"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push((Server::id_of(&r.body), r.body["meta"]["version"].clone()));
    }
    s.create_user("c@acme.com").await;
    let path = format!("/schemas/{CUSTOM}");
    let r = s.adm(Method::GET, &path, None).await;
    assert_eq!((r.status.as_u16(), &r.body["resources_holding"]), (200, &json!(2)), "{}", r.body);

    let r = s.adm(Method::DELETE, &path, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let detail = r.body["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("2 users") && detail.contains("force"), "{detail}");
    assert_eq!(s.get(&format!("/Users/{}", ids[0].0)).await.body[CUSTOM]["costCentre"], "CC");

    let r = s.adm(Method::DELETE, &format!("{path}?force=true"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["values_removed_from"], 2, "{}", r.body);
    for (id, version) in &ids {
        let u = s.get(&format!("/Users/{id}")).await.body;
        assert!(u.get(CUSTOM).is_none(), "{u}");
        assert_eq!(u["schemas"], json!([USER]), "{u}");
        assert_ne!(&u["meta"]["version"], version, "the ETag moves with the change");
    }
    assert_eq!(s.get(&format!("/Schemas/{CUSTOM}")).await.status, 404);
    assert_eq!(s.adm(Method::GET, &path, None).await.status, 404);
    assert_eq!(s.adm(Method::GET, "/schemas", None).await.body, json!([]));
}

async fn schema_definitions_are_refused_in_plain_words(b: Backend) {
    let s = start(b).await;
    let refused = |change: fn(&mut Value)| {
        let mut v = custom_schema();
        change(&mut v);
        v
    };
    let cases: [(Value, &str); 4] = [
        (refused(|v| v["attributes"][0]["type"] = json!("text")), "not 'text'"),
        (refused(|v| v["resource_type"] = json!("Device")), "\"User\" or \"Group\""),
        (refused(|v| v["id"] = json!(ENTERPRISE)), "built in"),
        (refused(|v| v["attributes"][1]["multivalued"] = json!(true)), "'multivalued'"),
    ];
    for (body, words) in cases {
        let r = s.adm(Method::POST, "/schemas", Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body["error"]["detail"].as_str().unwrap().contains(words), "{words}: {}", r.body);
    }
    register(&s, custom_schema()).await;
    let r = s.adm(Method::POST, "/schemas", Some(custom_schema())).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("already has"), "{}", r.body);
    let r = s.adm(Method::GET, "/schemas", None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body[0]["resource_type"], "User");
    let r = s.adm(Method::GET, "/schemas/urn:nothing:here", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("urn:nothing:here"), "{}", r.body);
}

async fn imports_and_the_admin_api_take_extension_attributes(b: Backend) {
    let s = start(b).await;
    register(&s, custom_schema()).await;
    let csv = format!("userName,{CUSTOM}:costCentre,{CUSTOM}:badge\nann@acme.com,CC9,12\n");
    let url = format!("{}/import", s.admin);
    let auth = format!("Bearer {}", s.admin_token);
    let r = s.raw(Method::POST, &url, Some(csv), &[("Authorization", &auth), ("Content-Type", "text/csv")]).await;
    assert_eq!((r.status.as_u16(), &r.body["created"]), (200, &json!(1)), "{}", r.body);
    let filter = q(&format!("{CUSTOM}:badge eq 12"));
    let r = s.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(r.body["Resources"][0][CUSTOM]["costCentre"], "CC9", "{}", r.body);
    // A user made by hand in the admin API may carry them too.
    let r =
        s.adm(Method::POST, "/users", Some(json!({"userName": "hand@acme.com", CUSTOM: {"costCentre": "H1"}}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[CUSTOM]["costCentre"], "H1", "{}", r.body);
}

async fn unique_extension_values_are_enforced_per_tenant(b: Backend) {
    let s = start(b).await;
    let urn = "urn:example:scim:badges:1.0:User";
    let schema = json!({"id": urn, "resource_type": "User", "attributes": [
        {"name": "badge", "type": "integer", "uniqueness": "server"},
        {"name": "code", "type": "string", "uniqueness": "global"},
        {"name": "note", "type": "string"}
    ]});
    register(&s, schema).await;
    let user = |name: &str, ext: Value| json!({"schemas": [USER, urn], "userName": name, urn: ext});
    let r = s.post("/Users", user("a@acme.com", json!({"badge": 7, "code": "AB", "note": "same"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = Server::id_of(&r.body);
    // Another user may not take either value (strings ignoring case: caseExact is false).
    let r = s.post("/Users", user("b@acme.com", json!({"badge": 7}))).await;
    r.assert_error(409, Some("uniqueness"));
    assert!(r.body["detail"].as_str().unwrap().contains(&a), "the holder is named: {}", r.body);
    s.post("/Users", user("b@acme.com", json!({"code": "ab"}))).await.assert_error(409, Some("uniqueness"));
    let r = s.post("/Users", user("b@acme.com", json!({"badge": 8, "code": "CD", "note": "same"}))).await;
    assert_eq!(r.status, 201, "a value not declared unique may repeat: {}", r.body);
    let b_id = Server::id_of(&r.body);
    // Nor by PUT or PATCH; a user keeping its own value is no clash.
    let r = s.put(&format!("/Users/{b_id}"), user("b@acme.com", json!({"badge": 7}))).await;
    r.assert_error(409, Some("uniqueness"));
    let ops = json!([{"op": "replace", "path": format!("{urn}:code"), "value": "Ab"}]);
    s.patch(&format!("/Users/{b_id}"), ops).await.assert_error(409, Some("uniqueness"));
    let r = s.put(&format!("/Users/{a}"), user("a@acme.com", json!({"badge": 7, "code": "AB"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Once the holder lets go, the value is free.
    assert_eq!(s.delete(&format!("/Users/{a}")).await.status, 204);
    let ops = json!([{"op": "replace", "path": format!("{urn}:badge"), "value": 7}]);
    let r = s.patch(&format!("/Users/{b_id}"), ops).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Ten creates of one value at once: one wins (PostgreSQL holds a lock on the value).
    let racers = (0..10).map(|i| s.post("/Users", user(&format!("r{i}@acme.com"), json!({"badge": 99}))));
    let statuses: Vec<u16> = futures_util::future::join_all(racers).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 9, "{statuses:?}");
}
