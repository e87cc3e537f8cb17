//! scim-core's one integration-test binary: RFC examples (table-driven), the
//! identity providers' request forms, and property tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use scim_core::filter::{self, CompValue, CompareOp, Filter};
use scim_core::patch::{self, MemberChange, OpKind};
use scim_core::resource;
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ResourceType, Schema, USER_SCHEMA};
use scim_core::{AttrPath, Limits, Projection, ScimType};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// The server's default limits, for every test not about limits.
const LIMITS: Limits = Limits { max_multi_values: 1_000, max_members: 10_000, max_patch_operations: 1_000 };

fn user() -> ResourceType {
    ResourceType::user()
}

/// RFC 7643 §8.2's full user, trimmed, plus an enterprise extension.
fn bjensen() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
                 "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "USA", "primary": true},
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "USA"}
        ],
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                 "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"a330bc54f0671c9\""},
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "costCenter": "4130",
                                 "department": "Tour Operations", "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}}
    })
}

// ---------------------------------------------------------------- filters

#[test]
fn rfc7644_filter_examples_parse_and_round_trip() {
    let examples = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for text in examples {
        let f = filter::parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        filter::validate(&f, &user()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let shown = f.to_string();
        assert_eq!(filter::parse_filter(&shown).unwrap(), f, "{text} -> {shown}");
    }
}

#[test]
fn rfc7644_filter_examples_evaluate() {
    let u = bjensen();
    let cases: &[(&str, bool)] = &[
        (r#"userName eq "BJENSEN@example.com""#, true), // caseExact false
        (r#"externalId eq "701984""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false), // caseExact true
        (r#"name.familyName co "ense""#, true),
        (r#"userName sw "bj""#, true),
        (r#"userName ew "EXAMPLE.COM""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#, true),
        ("title pr", true),
        ("nickName pr and profileUrl pr", false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified gt "2011-05-13T05:42:34+02:00""#, true), // time zones compared as instants
        (r#"meta.lastModified lt "2011-05-13T04:42:35Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr and userType eq "Intern""#, false),
        (r#"title pr or userType eq "Intern""#, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
        (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
        (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
        (r#"emails[type eq "work" and value co "@example.com"]"#, true),
        (r#"emails[type eq "home" and value co "@example.com"]"#, false), // same element, both conditions
        (r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true),
        (r#"emails[type eq "work"].value eq "bjensen@example.com""#, true), // Entra's form
        (r#"emails[type eq "home"].value eq "bjensen@example.com""#, false),
        ("active eq true", true),
        ("active eq false", false),
        ("active ne false", true),
        (r#"nickName ne "x""#, true),
        (r#"profileUrl ne "x""#, true), // absent is ne anything
        ("emails[primary eq true]", true),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        (r#"not (userName eq "bjensen@example.com")"#, false),
        ("title eq null", false),
        ("profileUrl eq null", true),
        (r#"USERNAME EQ "bjensen@example.com" AND Active Eq True"#, true),
    ];
    for (text, expected) in cases {
        let f = filter::parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        filter::validate(&f, &user()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(filter::matches(&f, &u, &user()), *expected, "{text}");
    }
}

#[test]
fn precedence_and_grouping() {
    let f = filter::parse_filter(r#"a pr or b pr and c pr"#).unwrap();
    assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    let f = filter::parse_filter(r#"(a pr or b pr) and c pr"#).unwrap();
    assert!(matches!(f, Filter::And(ref l, _) if matches!(**l, Filter::Or(..))));
    assert_eq!(f.to_string(), "(a pr or b pr) and c pr");
    let f = filter::parse_filter(r#"not(a pr)"#).unwrap();
    assert_eq!(f, Filter::Not(Box::new(Filter::Present(AttrPath::new("a")))));
}

#[test]
fn values_strings_numbers_literals() {
    let cmp = |text: &str| match filter::parse_filter(text).unwrap() {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(cmp(r#"a eq "quote \" and \\ and \u00e9""#), CompValue::Str("quote \" and \\ and é".into()));
    assert_eq!(cmp("a eq 42"), CompValue::Num(42.into()));
    assert_eq!(cmp("a gt -1.5e3"), CompValue::Num(serde_json::Number::from_f64(-1500.0).unwrap()));
    assert_eq!(cmp("a eq TRUE"), CompValue::Bool(true));
    assert_eq!(cmp("a eq null"), CompValue::Null);
    // Entra's documented (unquoted) form.
    assert_eq!(cmp("externalId eq jyoung"), CompValue::Str("jyoung".into()));
}

#[test]
fn filter_errors_point_at_the_problem() {
    let cases = [
        ("", "empty"),
        ("userName", "operator"),
        ("userName eq", "value"),
        ("userName xx \"a\"", "operator (eq"),
        ("userName eq \"a", "unterminated"),
        ("(userName pr", "expected ')'"),
        ("userName pr)", "end of the filter"),
        ("emails[type eq \"work\"", "expected ']'"),
        ("emails[type[value pr]]", "nested"),
        ("userName eq \"a\" and", "attribute name"),
        ("1abc eq \"x\"", "attribute"),
    ];
    for (text, needle) in cases {
        let err = filter::parse_filter(text).expect_err(text);
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{text}");
        assert!(err.detail.contains(needle), "{text}: {}", err.detail);
    }
}

#[test]
fn filter_schema_errors() {
    let rt = user();
    for (text, needle) in [
        ("nope eq \"x\"", "not an attribute"),
        ("name.nope eq \"x\"", "no sub-attribute"),
        ("active gt true", "boolean"),
        ("active eq \"yes\"", "boolean"),
        ("meta.created gt \"yesterday\"", "dateTime"),
        ("emails[nope eq \"x\"]", "no sub-attribute"),
        ("userName[value eq \"x\"]", "complex"),
        ("name eq \"x\"", "complex"),
    ] {
        let f = filter::parse_filter(text).unwrap();
        let err = filter::validate(&f, &rt).expect_err(text);
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        assert!(err.detail.contains(needle), "{text}: {}", err.detail);
    }
}

#[test]
fn multibyte_text_never_splits_a_character() {
    // Found by the fuzzers: `[..4]` on text whose 4th byte is inside a character.
    assert!(AttrPath::parse(" nҞ").is_err());
    assert!(Projection::parse(Some("abcé"), None).is_err());
    let ops = patch_ops(json!([{"op": "add", "value": {"abcé": 1}}]));
    assert!(patch::apply(&bjensen(), &ops, &user(), &LIMITS).is_ok());
}

#[test]
fn hostile_filters_are_refused_not_crashing() {
    let deep = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(filter::parse_filter(&deep).unwrap_err().detail.contains("the filter is"));
    let deep = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
    assert!(filter::parse_filter(&deep).unwrap_err().detail.contains("deeper"));
    let long = format!("userName eq \"{}\"", "x".repeat(filter::MAX_FILTER_LEN));
    assert!(filter::parse_filter(&long).is_err());
    // Long flat chains are fine (no recursion in and/or).
    let chain = vec!["a pr"; 500].join(" and ");
    assert!(filter::parse_filter(&chain).is_ok());
}

// ---------------------------------------------------------------- resources

#[test]
fn create_tolerates_what_idps_send() {
    let rt = user();
    // Entra's create (ENTRA-DEV Example 2), with nulls, meta and roles: [].
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA, "urn:unknown:schema"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "UserName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{"Primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "groups": [],
        "addresses": null, "title": null, "manager": null,
        "unknownThing": {"x": 1},
        "id": "client-chosen",
        "password": "1mz050nq",
        ENTERPRISE_USER_SCHEMA: {"department": null, "employeeNumber": "42"}
    });
    let doc = resource::prepare(&body, &rt, None, &LIMITS).unwrap();
    assert_eq!(doc["userName"], "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1");
    assert_eq!(doc["emails"][0]["primary"], true);
    for absent in ["meta", "roles", "groups", "addresses", "title", "unknownThing", "id", "password", "UserName"] {
        assert!(doc.get(absent).is_none(), "{absent} should be dropped: {doc}");
    }
    assert_eq!(doc[ENTERPRISE_USER_SCHEMA], json!({"employeeNumber": "42"}));
    assert_eq!(doc["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA]));
}

#[test]
fn create_validates_types_and_required() {
    let rt = user();
    let cases = [
        (json!({"schemas": [USER_SCHEMA], "name": {"givenName": "x"}}), "'userName' is required"),
        (json!({"schemas": [USER_SCHEMA], "userName": 5}), "'userName' must be a string"),
        (json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "maybe"}), "'active' must be a boolean"),
        (json!({"schemas": [USER_SCHEMA], "userName": "a", "name": "x"}), "'name' must be an object"),
        (
            json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
            "only one value of 'emails' may be primary",
        ),
        (json!({"schemas": [USER_SCHEMA], "userName": "a", "x509Certificates": [{"value": 3}]}), "must be base64"),
        (json!([1]), "JSON object"),
    ];
    for (body, needle) in cases {
        let err = resource::prepare(&body, &rt, None, &LIMITS).expect_err(&body.to_string());
        assert_eq!(err.status, 400);
        assert!(err.detail.contains(needle), "{body}: {}", err.detail);
    }
    // Booleans as strings are accepted (Entra) and stored as booleans.
    let doc =
        resource::prepare(&json!({"schemas": [USER_SCHEMA], "userName": "a", "active": "False"}), &rt, None, &LIMITS)
            .unwrap();
    assert_eq!(doc["active"], false);
}

#[test]
fn groups_accept_the_adscim_schema_and_empty_members() {
    let rt = ResourceType::group();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                                  "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                      "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1",
                      "meta": {"resourceType": "Group"}, "members": []});
    let doc = resource::prepare(&body, &rt, None, &LIMITS).unwrap();
    assert_eq!(
        doc,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                           "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1"})
    );
    assert!(resource::prepare(&json!({"schemas": [GROUP_SCHEMA], "members": []}), &rt, None, &LIMITS).is_err());
}

#[test]
fn runtime_extension_schema() {
    let ext = Schema::from_json(&json!({
        "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
        "name": "AcmeUser",
        "attributes": [
            {"name": "badge", "type": "integer", "required": true},
            {"name": "costCode", "type": "string", "caseExact": true}
        ]
    }))
    .unwrap();
    let rt = user().with_extension(ext, false);
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let doc =
        resource::prepare(&json!({"schemas": [USER_SCHEMA], "userName": "a", urn: {"Badge": 7}}), &rt, None, &LIMITS)
            .unwrap();
    assert_eq!(doc[urn]["badge"], 7);
    let err = resource::prepare(
        &json!({"schemas": [USER_SCHEMA], "userName": "a", urn: {"costCode": "x"}}),
        &rt,
        None,
        &LIMITS,
    )
    .unwrap_err();
    assert!(err.detail.contains("badge' is required"), "{}", err.detail);
    let f = filter::parse_filter(&format!("{urn}:badge gt 5")).unwrap();
    filter::validate(&f, &rt).unwrap();
    assert!(filter::matches(&f, &doc, &rt));
    assert!(Schema::from_json(&json!({"id": "not-a-urn", "attributes": []})).is_err());
    assert!(Schema::from_json(&json!({"id": "urn:x", "attributes": [{"name": "9bad", "type": "string"}]})).is_err());
}

// ---------------------------------------------------------------- PATCH

fn patch_ops(ops: Value) -> Vec<patch::PatchOp> {
    patch::parse(&json!({"schemas": [patch::PATCH_SCHEMA], "Operations": ops}), &LIMITS).unwrap()
}

fn run(doc: &Value, ops: Value, rt: &ResourceType) -> scim_core::Result<Value> {
    patch::apply(doc, &patch_ops(ops), rt, &LIMITS)
}

fn group_doc() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "Tour Guides",
           "members": [{"value": "2819c223-7f76-453a-919d-413861904646", "type": "User"},
                       {"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User"}]})
}

#[test]
fn rfc7644_patch_add() {
    let g = ResourceType::group();
    // §3.5.2.1: add a member.
    let out = run(
        &group_doc(),
        json!([{"op": "add", "path": "members",
        "value": [{"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223", "value": "2819c223"}]}]),
        &g,
    )
    .unwrap();
    assert_eq!(out["members"].as_array().unwrap().len(), 3);
    assert_eq!(
        out["members"][2],
        json!({"value": "2819c223", "display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223"})
    );
    // Re-adding an existing member does not duplicate it.
    let again = run(&out, json!([{"op": "add", "path": "members", "value": [{"value": "2819c223"}]}]), &g).unwrap();
    assert_eq!(again["members"].as_array().unwrap().len(), 3);
    // §3.5.2.1: add without a path.
    let u = user();
    let out = run(
        &bjensen(),
        json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"},
        {"value": "new@jensen.org", "type": "other"}], "nickname": "Babs2"}}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 3, "{}", out["emails"]);
    assert_eq!(out["nickName"], "Babs2");
    // Add to a single-valued attribute replaces it; add to a complex merges.
    let out = run(&bjensen(), json!([{"op": "add", "path": "name", "value": {"givenName": "Barb"}}]), &u).unwrap();
    assert_eq!(out["name"]["givenName"], "Barb");
    assert_eq!(out["name"]["familyName"], "Jensen");
}

#[test]
fn rfc7644_patch_remove() {
    let g = ResourceType::group();
    let out = run(&group_doc(), json!([{"op": "remove", "path": "members"}]), &g).unwrap();
    assert!(out.get("members").is_none());
    let out = run(
        &group_doc(),
        json!([{"op": "remove",
        "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]),
        &g,
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User"}]));
    // Remove all, then add: the result is the new list.
    let out = run(
        &group_doc(),
        json!([{"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}]),
        &g,
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "a"}, {"value": "b"}]));
    let u = user();
    let out =
        run(&bjensen(), json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]), &u)
            .unwrap();
    assert_eq!(out["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
    // Remove a sub-attribute; remove an extension attribute by URN path.
    let out = run(
        &bjensen(),
        json!([{"op": "remove", "path": "name.middleName"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"}]),
        &u,
    )
    .unwrap();
    assert!(out["name"].get("middleName").is_none());
    assert!(out[ENTERPRISE_USER_SCHEMA].get("costCenter").is_none());
    // Removing what matches nothing changes nothing.
    let out = run(&bjensen(), json!([{"op": "remove", "path": "emails[type eq \"pager\"]"}]), &u).unwrap();
    assert_eq!(out["emails"], bjensen()["emails"]);
}

#[test]
fn rfc7644_patch_replace() {
    let g = ResourceType::group();
    let out = run(
        &group_doc(),
        json!([{"op": "replace", "path": "members",
        "value": [{"display": "Babs", "value": "2819c223"}, {"display": "James", "value": "08e1d05d"}]}]),
        &g,
    )
    .unwrap();
    assert_eq!(
        out["members"],
        json!([{"value": "2819c223", "display": "Babs"}, {"value": "08e1d05d", "display": "James"}])
    );
    let u = user();
    let out = run(&bjensen(), json!([{"op": "replace", "path": "addresses[type eq \"work\"]",
        "value": {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
                  "region": "CA", "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                  "primary": true}}]), &u).unwrap();
    assert_eq!(out["addresses"][0]["streetAddress"], "911 Universal City Plaza");
    assert_eq!(out["addresses"][1]["streetAddress"], "456 Hollywood Blvd");
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress",
        "value": "1010 Broadway Ave"}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(out["addresses"][0]["locality"], "Hollywood");
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "value": {"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
        {"value": "babs@jensen.org", "type": "home"}], "nickName": "Babs"}}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    // A new primary email makes the old one non-primary.
    let out = run(
        &bjensen(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "n@x.org", "type": "other", "primary": true}]}]),
        &u,
    )
    .unwrap();
    let primaries: Vec<_> = out["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == true).collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["value"], "n@x.org");
}

#[test]
fn patch_errors() {
    let u = user();
    let cases = [
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (json!([{"op": "replace", "path": "nope", "value": 1}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "name.nope", "value": 1}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "meta.created", "value": "2011-05-13T04:42:34Z"}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "active", "value": "maybe"}]), ScimType::InvalidValue),
        (json!([{"op": "remove", "path": "userName"}]), ScimType::InvalidValue),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"x\"].value", "value": "a"},
                {"op": "replace", "path": "ims[value co \"x\"]", "value": {"value": "b"}}]),
            ScimType::NoTarget,
        ),
        (json!([{"op": "replace", "path": "userName[value eq \"x\"]", "value": "b"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "emails[nope eq \"x\"]", "value": "b"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "value": "not an object"}]), ScimType::InvalidValue),
    ];
    for (ops, scim_type) in cases {
        let before = bjensen();
        match patch::parse(&json!({"schemas": [patch::PATCH_SCHEMA], "Operations": ops}), &LIMITS) {
            Err(e) => assert_eq!(e.scim_type, Some(scim_type), "{ops}: {e}"),
            Ok(parsed) => {
                let e = patch::apply(&before, &parsed, &u, &LIMITS).expect_err(&ops.to_string());
                assert_eq!(e.scim_type, Some(scim_type), "{ops}: {e}");
                assert_eq!(e.status, 400);
            }
        }
        assert_eq!(before, bjensen());
    }
    for body in
        [json!({"Operations": [{"op": "move", "path": "a"}]}), json!({"schemas": ["x"], "Operations": []}), json!([])]
    {
        assert_eq!(patch::parse(&body, &LIMITS).unwrap_err().scim_type, Some(ScimType::InvalidSyntax), "{body}");
    }
}

#[test]
fn patch_is_atomic() {
    let u = user();
    let ops = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "changed"},
                               {"op": "replace", "path": "nope", "value": 1}]));
    let doc = bjensen();
    assert!(patch::apply(&doc, &ops, &u, &LIMITS).is_err());
    assert_eq!(doc["displayName"], "Babs Jensen");
}

// ------------------------------------------------- identity-provider forms

#[test]
fn okta_deactivate_and_password_without_path() {
    let u = user();
    let out = run(&bjensen(), json!([{"op": "replace", "value": {"active": false}}]), &u).unwrap();
    assert_eq!(out["active"], false);
    let out = run(&bjensen(), json!([{"op": "replace", "value": {"password": "1mz050nq"}}]), &u).unwrap();
    assert!(out.get("password").is_none(), "passwords are never stored");
}

#[test]
fn okta_group_rename_repeats_the_id() {
    let g = ResourceType::group();
    let out =
        run(&group_doc(), json!([{"op": "replace", "value": {"id": "g1", "displayName": "Renamed"}}]), &g).unwrap();
    assert_eq!(out["displayName"], "Renamed");
    let err =
        run(&group_doc(), json!([{"op": "replace", "value": {"id": "other", "displayName": "R"}}]), &g).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
}

#[test]
fn okta_replace_members_empty() {
    let g = ResourceType::group();
    let out = run(&group_doc(), json!([{"op": "replace", "path": "members", "value": []}]), &g).unwrap();
    assert!(out.get("members").is_none());
}

#[test]
fn entra_capitalised_ops_and_string_booleans() {
    let u = user();
    let out = run(&bjensen(), json!([{"op": "Replace", "path": "active", "value": "False"}]), &u).unwrap();
    assert_eq!(out["active"], false);
    let out = run(&out, json!([{"op": "Add", "path": "nickName", "value": "Babs"}]), &u).unwrap();
    assert_eq!(out["nickName"], "Babs");
    let out = run(&out, json!([{"op": "REPLACE", "path": "active", "value": "true"}]), &u).unwrap();
    assert_eq!(out["active"], true);
}

#[test]
fn entra_multi_attribute_replace_forms() {
    let u = user();
    // Without aadOptscim062020: one op per attribute.
    let out = run(&bjensen(), json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "99"}
    ]), &u).unwrap();
    assert_eq!(out["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(out["emails"][0]["type"], "work");
    assert_eq!(out["name"]["familyName"], "updatedFamilyName");
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "99");
    // With the flag: a path-less value object with dotted and URN keys.
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "value": {
        "displayName": "New Name", "name.givenName": "G", "name.familyName": "F",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "100"}}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["displayName"], "New Name");
    assert_eq!(out["name"]["givenName"], "G");
    assert_eq!(out["name"]["familyName"], "F");
    assert_eq!(out["name"]["middleName"], "Jane");
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "100");
    // emails[type eq "other"].Value: capital V, and no "other" email yet -> added.
    let out =
        run(&bjensen(), json!([{"op": "replace", "path": "emails[type eq \"other\"].Value", "value": "o@x.org"}]), &u)
            .unwrap();
    assert_eq!(out["emails"][2], json!({"type": "other", "value": "o@x.org"}));
    // And on a user with no emails at all.
    let mut bare = bjensen();
    bare.as_object_mut().unwrap().remove("emails");
    let out =
        run(&bare, json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x.org"}]), &u).unwrap();
    assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x.org"}]));
}

#[test]
fn entra_manager_as_bare_string() {
    let u = user();
    let out = run(
        &bjensen(),
        json!([{"op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"}]),
        &u,
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "mgr-1");
    // The documented complex form works too.
    let out = run(
        &bjensen(),
        json!([{"op": "Add", "path": "manager", "value": [{"$ref": "../Users/m2", "value": "m2"}]}]),
        &u,
    );
    // `manager` without URN is not a core attribute: invalidPath, clearly.
    assert_eq!(out.unwrap_err().scim_type, Some(ScimType::InvalidPath));
    let out = run(
        &bjensen(),
        json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": [{"$ref": "../Users/m2", "value": "m2"}]}]),
        &u,
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "m2");
    // Removing the manager.
    let out = run(
        &out,
        json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]),
        &u,
    )
    .unwrap();
    assert!(out[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
}

#[test]
fn entra_member_removal_with_value_list() {
    let g = ResourceType::group();
    let out = run(
        &group_doc(),
        json!([{"op": "Remove", "path": "members",
        "value": [{"$ref": null, "value": "2819c223-7f76-453a-919d-413861904646"}]}]),
        &g,
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User"}]));
    let out = run(
        &group_doc(),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u3"}, {"value": "u4"}]}]),
        &g,
    )
    .unwrap();
    assert_eq!(out["members"].as_array().unwrap().len(), 4);
}

#[test]
fn member_changes_split_from_group_patch() {
    let g = ResourceType::group();
    let ops = patch_ops(json!([
        {"op": "remove", "path": "members[value eq \"89bb\"]"},
        {"op": "add", "path": "members", "value": [{"value": "23a3", "display": "test.user@okta.local"}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1091"}]},
        {"op": "replace", "value": {"id": "g1", "displayName": "Renamed"}},
        {"op": "replace", "path": "members", "value": []},
        {"op": "remove", "path": "members"},
        {"op": "remove", "path": "members[type eq \"Group\"]"},
    ]));
    let (doc_ops, changes) = patch::split_members(&ops, &g, &LIMITS).unwrap();
    assert_eq!(doc_ops.len(), 1);
    // Coalesced: what the replace by nothing and the remove-all leave is an empty group.
    assert_eq!(
        changes,
        vec![
            MemberChange::Replace(vec![]),
            MemberChange::RemoveWhere(Filter::Compare {
                path: AttrPath::new("type"),
                op: CompareOp::Eq,
                value: CompValue::Str("Group".into())
            }),
        ]
    );
    let ops = patch_ops(json!([
        {"op": "remove", "path": "members[value eq \"89bb\"]"},
        {"op": "add", "path": "members", "value": [{"value": "23a3", "display": "test.user@okta.local"}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1091"}]},
    ]));
    let (_, changes) = patch::split_members(&ops, &g, &LIMITS).unwrap();
    assert_eq!(
        changes,
        vec![
            MemberChange::Remove(vec!["89bb".into(), "u1091".into()]),
            MemberChange::Add(vec![json!({"value": "23a3", "display": "test.user@okta.local"})]),
        ]
    );
    let bad = patch_ops(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]));
    assert!(patch::split_members(&bad, &g, &LIMITS).is_err());
}

#[test]
fn member_changes_coalesce_to_the_same_outcome_in_a_few_changes() {
    use patch::coalesce;
    let m = |id: &str, display: &str| json!({"value": id, "display": display});
    let remove = |ids: &[&str]| MemberChange::Remove(ids.iter().map(|s| s.to_string()).collect());
    // A thousand alternating operations: one removal and one addition.
    let mut many = Vec::new();
    for i in 0..500 {
        many.push(MemberChange::Add(vec![m(&format!("u{i}"), "")]));
        many.push(remove(&[&format!("v{i}")]));
    }
    let out = coalesce(many);
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[0], MemberChange::Remove(ids) if ids.len() == 500));
    assert!(matches!(&out[1], MemberChange::Add(vals) if vals.len() == 500));
    // Added then removed: only the removal (it may have been a member before).
    assert_eq!(coalesce(vec![MemberChange::Add(vec![m("a", "x")]), remove(&["a"])]), vec![remove(&["a"])]);
    // Removed then added again: the removal first, then the new value.
    assert_eq!(
        coalesce(vec![MemberChange::Add(vec![m("a", "x")]), remove(&["a"]), MemberChange::Add(vec![m("a", "y")])]),
        vec![remove(&["a"]), MemberChange::Add(vec![m("a", "y")])]
    );
    // Added twice: the first value stays, as a second insert would not change it.
    assert_eq!(
        coalesce(vec![MemberChange::Add(vec![m("a", "x")]), MemberChange::Add(vec![m("a", "y"), m("b", "")])]),
        vec![MemberChange::Add(vec![m("a", "x"), m("b", "")])]
    );
    // A reset: what came before it is gone; removals after it of members not re-added are nothing.
    assert_eq!(
        coalesce(vec![
            MemberChange::Add(vec![m("a", "")]),
            MemberChange::RemoveAll,
            MemberChange::Add(vec![m("b", ""), m("c", "")]),
            remove(&["c", "d"]),
        ]),
        vec![MemberChange::Replace(vec![m("b", "")])]
    );
    // A removal by filter needs the rows: it stays in its place.
    let filter =
        Filter::Compare { path: AttrPath::new("type"), op: CompareOp::Eq, value: CompValue::Str("Group".into()) };
    assert_eq!(
        coalesce(vec![
            MemberChange::Add(vec![m("a", "")]),
            MemberChange::Add(vec![m("b", "")]),
            MemberChange::RemoveWhere(filter.clone()),
            remove(&["a"]),
            remove(&["b"]),
        ]),
        vec![MemberChange::Add(vec![m("a", ""), m("b", "")]), MemberChange::RemoveWhere(filter), remove(&["a", "b"])]
    );
}

// ---------------------------------------------------------------- projection

#[test]
fn projection_honours_returned() {
    let u = user();
    let mut doc = bjensen();
    doc["password"] = json!("secret");
    let all = Projection::default().apply(&doc, &u);
    assert!(all.get("password").is_none(), "returned: never");
    assert_eq!(all["userName"], doc["userName"]);

    let p = Projection::parse(Some("userName,name.givenName,emails.value"), None).unwrap();
    let out = p.apply(&doc, &u);
    let mut keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "name", "schemas", "userName"]);
    assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    assert_eq!(out["emails"], json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}]));

    let p = Projection::parse(
        None,
        Some("emails,name.middleName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
    )
    .unwrap();
    let out = p.apply(&doc, &u);
    assert!(out.get("emails").is_none());
    assert_eq!(out["id"], doc["id"], "returned: always survives excludedAttributes");
    assert!(out["name"].get("middleName").is_none());
    assert!(out[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "701984");

    let p = Projection::parse(Some(ENTERPRISE_USER_SCHEMA), None).unwrap();
    let out = p.apply(&doc, &u);
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], doc[ENTERPRISE_USER_SCHEMA]);
    assert!(out.get("userName").is_none());

    let g = ResourceType::group();
    let p = Projection::parse(None, Some("members")).unwrap();
    assert!(!p.includes(&g, "members"));
    assert!(p.apply(&group_doc(), &g).get("members").is_none());
    assert!(Projection::default().includes(&g, "members"));
    assert!(Projection::parse(Some("bad name!"), None).is_err());
}

// ---------------------------------------------------------------- properties

fn arb_name() -> impl Strategy<Value = AttrPath> {
    let names = prop::sample::select(vec!["userName", "title", "active", "emails", "name", "meta", "x-y_z1"]);
    let subs = prop::option::of(prop::sample::select(vec!["value", "givenName", "lastModified", "type"]));
    let urn = prop::option::of(prop::sample::select(vec![
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ]));
    (urn, names, subs).prop_map(|(urn, n, s)| AttrPath {
        urn: urn.map(str::to_string),
        name: n.into(),
        sub: s.map(str::to_string),
    })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        (-1.0e6f64..1.0e6).prop_map(|f| CompValue::Num(serde_json::Number::from_f64(f).unwrap())),
        // No NUL: a filter holding one is refused (invalidValue), tested on its own.
        any::<String>().prop_map(|s| CompValue::Str(s.replace('\0', ""))),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn arb_leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (arb_name(), arb_op(), arb_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        arb_name().prop_map(Filter::Present),
    ]
}

fn arb_inner() -> impl Strategy<Value = Filter> {
    let leaf = (prop::sample::select(vec!["value", "type", "primary"]), arb_op(), arb_value())
        .prop_map(|(n, op, value)| Filter::Compare { path: AttrPath::new(n), op, value });
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let base = prop_oneof![
        3 => arb_leaf(),
        1 => (prop::sample::select(vec!["emails", "addresses"]), arb_inner())
            .prop_map(|(n, f)| Filter::ValuePath { path: AttrPath::new(n), filter: Box::new(f) }),
    ];
    base.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_then_parse_is_identity(f in arb_filter()) {
        let text = f.to_string();
        let back = filter::parse_filter(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "text: {}", text);
    }

    #[test]
    fn parser_never_panics(text in ".{0,200}") {
        let _ = filter::parse_filter(&text);
        let _ = scim_core::PatchPath::parse(&text);
    }

    #[test]
    fn evaluation_never_panics(f in arb_filter()) {
        let _ = filter::validate(&f, &user());
        let _ = filter::matches(&f, &bjensen(), &user());
    }
}

fn arb_json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["x", "work", "True", "false", "2011-05-13T04:42:34Z", ""]).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "value",
                    "type",
                    "primary",
                    "givenName",
                    "display",
                    "id",
                    "active",
                    "name.familyName"
                ])
                .prop_map(str::to_string),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_patch_op() -> impl Strategy<Value = Value> {
    let paths = prop::option::of(prop::sample::select(vec![
        "userName",
        "active",
        "name",
        "name.givenName",
        "emails",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[primary eq true].type",
        "addresses[type eq \"home\"].locality",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "meta.version",
        "id",
        "groups",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "x509Certificates.value",
        "nope",
    ]));
    (prop::sample::select(vec!["add", "Replace", "remove"]), paths, prop::option::of(arb_json_value())).prop_map(
        |(op, path, value)| {
            let mut o = json!({"op": op});
            if let Some(p) = path {
                o["path"] = json!(p);
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn patch_never_panics_and_fails_cleanly(ops in prop::collection::vec(arb_patch_op(), 1..5)) {
        let rt = user();
        let doc = resource::prepare(&bjensen(), &rt, None, &LIMITS).unwrap();
        let before = doc.clone();
        if let Ok(parsed) = patch::parse(&json!({"Operations": ops}), &LIMITS) {
            match patch::apply(&doc, &parsed, &rt, &LIMITS) {
                Ok(out) => {
                    // The result is still a valid user: it survives validation unchanged in its required parts.
                    prop_assert!(resource::prepare(&out, &rt, None, &LIMITS).is_ok(), "result invalid: {}", out);
                }
                Err(e) => prop_assert_eq!(e.status, 400),
            }
        }
        prop_assert_eq!(doc, before);
    }
}

#[test]
fn patch_whole_extension_by_urn_path() {
    let u = user();
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "path": ENTERPRISE_USER_SCHEMA,
        "value": {"schemas": [ENTERPRISE_USER_SCHEMA], "employeeNumber": "1", "division": "D"}}]),
        &u,
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "1");
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["division"], "D");
    let out = run(&out, json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]), &u).unwrap();
    assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
    assert_eq!(out["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
}

#[test]
fn value_path_writes_create_only_valid_elements() {
    // Found by hand while fuzzing: the element built from the filter must be valid.
    let ops = patch_ops(json!([{"op": "add", "path": "x509Certificates[value eq 5].display", "value": "x"}]));
    assert!(
        patch::parse(
            &json!({"Operations": [{"op": "add", "path": "x509Certificates[value eq 5].display", "value": "x"}]}),
            &LIMITS
        )
        .is_ok()
    );
    let err = patch::apply(&bjensen(), &ops, &user(), &LIMITS).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{err}");
    let f = filter::parse_filter("x509Certificates.value eq true").unwrap();
    assert_eq!(filter::validate(&f, &user()).unwrap_err().scim_type, Some(ScimType::InvalidFilter));
}

// ---------------------------------------------------------------- limits

/// Limits no test input reaches, for tests about something else.
const NO_LIMITS: Limits =
    Limits { max_multi_values: usize::MAX, max_members: usize::MAX, max_patch_operations: usize::MAX };

fn group() -> ResourceType {
    ResourceType::group()
}

fn emails(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"value": format!("u{i}@example.com"), "type": "work"})).collect())
}

fn members(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"value": format!("m{i}")})).collect())
}

#[test]
fn limits_defaults() {
    assert_eq!(Limits::default(), Limits { max_multi_values: 1_000, max_members: 10_000, max_patch_operations: 1_000 });
    assert_eq!(Limits::default(), LIMITS);
    assert_eq!(scim_core::limits::MAX_INDEXED_BYTES, 1024);
}

#[test]
fn prepare_refuses_too_many_values_with_413() {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": emails(20_000)});
    let err = resource::prepare(&body, &user(), None, &LIMITS).unwrap_err();
    assert_eq!(err.status, 413);
    assert_eq!(err.scim_type, None);
    assert_eq!(
        err.detail,
        "'emails' has 20000 values; this server accepts at most 1000 values per attribute (--max-multi-values)"
    );
    // At the limit is fine, and a PUT is held to the same limit.
    let body = json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": emails(1_000)});
    assert_eq!(resource::prepare(&body, &user(), None, &LIMITS).unwrap()["emails"].as_array().unwrap().len(), 1_000);
    let over = json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": emails(1_001)});
    let existing = resource::prepare(&body, &user(), None, &LIMITS).unwrap();
    assert_eq!(resource::prepare(&over, &user(), Some(&existing), &LIMITS).unwrap_err().status, 413);
    // Extension attributes count too.
    let ext = Schema::from_json(&json!({
        "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
        "attributes": [{"name": "badges", "type": "string", "multiValued": true}]
    }))
    .unwrap();
    let rt = user().with_extension(ext, false);
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let badges: Vec<String> = (0..1_001).map(|i| format!("b{i}")).collect();
    let err = resource::prepare(
        &json!({"schemas": [USER_SCHEMA], "userName": "a", urn: {"badges": badges}}),
        &rt,
        None,
        &LIMITS,
    )
    .unwrap_err();
    assert_eq!(err.status, 413);
    assert!(err.detail.starts_with(&format!("'{urn}:badges' has 1001 values")), "{}", err.detail);
}

#[test]
fn prepare_counts_group_members_against_max_members() {
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": members(20_000)});
    let err = resource::prepare(&body, &group(), None, &LIMITS).unwrap_err();
    assert_eq!(err.status, 413);
    assert_eq!(
        err.detail,
        "'members' has 20000 values; this server accepts at most 10000 members per request (--max-members-per-request)"
    );
    // More members than max_multi_values is fine: members have their own limit.
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": members(5_000)});
    assert_eq!(resource::prepare(&body, &group(), None, &LIMITS).unwrap()["members"].as_array().unwrap().len(), 5_000);
}

#[test]
fn prepare_counts_values_before_reading_them() {
    // 100,000 values that are each invalid: the count is refused first (413, not 400),
    // so the values are never coerced.
    let junk = Value::Array(vec![json!(42); 100_000]);
    let body = json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": junk});
    let err = resource::prepare(&body, &user(), None, &LIMITS).unwrap_err();
    assert_eq!(err.status, 413, "{}", err.detail);
    assert!(err.detail.contains("100000"), "{}", err.detail);
}

#[test]
fn patch_parse_refuses_too_many_operations() {
    let op = json!({"op": "replace", "path": "displayName", "value": "x"});
    let body = json!({"schemas": [patch::PATCH_SCHEMA], "Operations": vec![op.clone(); 1_001]});
    let err = patch::parse(&body, &LIMITS).unwrap_err();
    assert_eq!(err.status, 413);
    assert_eq!(
        err.detail,
        "'Operations' has 1001 operations; this server accepts at most 1000 operations per request \
         (--max-patch-operations)"
    );
    let body = json!({"schemas": [patch::PATCH_SCHEMA], "Operations": vec![op.clone(); 1_000]});
    assert_eq!(patch::parse(&body, &LIMITS).unwrap().len(), 1_000);
    // Counted before any operation is read: 100,000 invalid operations are a 413.
    let body = json!({"Operations": vec![json!({"op": "move"}); 100_000]});
    assert_eq!(patch::parse(&body, &LIMITS).unwrap_err().status, 413);
}

#[test]
fn patch_apply_refuses_a_result_over_the_limit() {
    let u = user();
    let mut doc = bjensen();
    doc.as_object_mut().unwrap().remove("emails");
    let add = |from: usize, n: usize| {
        let values: Vec<Value> =
            (from..from + n).map(|i| json!({"value": format!("u{i}@example.com"), "type": "work"})).collect();
        json!({"op": "add", "path": "emails", "value": values})
    };
    // One operation with too many values: refused before they are read.
    let err = run(&doc, json!([add(0, 1_001)]), &u).unwrap_err();
    assert_eq!(err.status, 413);
    assert!(
        err.detail.contains("'emails' has 1001 values") && err.detail.contains("--max-multi-values"),
        "{}",
        err.detail
    );
    // Counted before the values are read: 100,000 invalid values are a 413, not a 400.
    let junk = Value::Array(vec![json!(42); 100_000]);
    assert_eq!(run(&doc, json!([{"op": "add", "path": "emails", "value": junk}]), &u).unwrap_err().status, 413);
    let junk = Value::Array(vec![json!(42); 100_000]);
    assert_eq!(run(&doc, json!([{"op": "remove", "path": "emails", "value": junk}]), &u).unwrap_err().status, 413);
    // Two operations that together pass the limit.
    let err = run(&doc, json!([add(0, 600), add(600, 600)]), &u).unwrap_err();
    assert_eq!(err.status, 413);
    assert!(err.detail.contains("'emails' has 1200 values"), "{}", err.detail);
    // The limit holds after each operation: a later removal does not make an
    // intermediate excess acceptable, so the work a request can cause stays bounded.
    let err = run(&doc, json!([add(0, 600), add(600, 600), {"op": "remove", "path": "emails"}]), &u).unwrap_err();
    assert_eq!(err.status, 413);
    // Re-adding the same values does not count twice.
    let out = run(&doc, json!([add(0, 600), add(0, 600), add(300, 400)]), &u).unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 700);
    // A path-less value object and a replace are held to the same limit.
    let err = run(&doc, json!([{"op": "replace", "value": {"emails": emails(1_001)}}]), &u).unwrap_err();
    assert_eq!(err.status, 413);
    // Read-only values the server keeps in a document (a user's groups) are not counted.
    let mut in_many_groups = bjensen();
    in_many_groups["groups"] = members(1_500);
    let out = run(&in_many_groups, json!([{"op": "replace", "path": "title", "value": "T"}]), &u).unwrap();
    assert_eq!(out["groups"].as_array().unwrap().len(), 1_500);
    // Group members in a patched document count against max_members.
    let small = Limits { max_members: 3, ..LIMITS };
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}]));
    let err = patch::apply(&group_doc(), &ops, &group(), &small).unwrap_err();
    assert_eq!(err.status, 413);
    assert!(err.detail.contains("'members' has 4 values") && err.detail.contains("--max-members-per-request"));
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": "a"}]}]));
    assert!(patch::apply(&group_doc(), &ops, &group(), &small).is_ok());
}

#[test]
fn split_members_counts_member_values_over_all_operations() {
    let g = group();
    let ops = patch_ops(json!([
        {"op": "add", "path": "members", "value": members(6_000)},
        {"op": "remove", "path": "members", "value": members(3_000)},
        {"op": "replace", "value": {"members": members(2_000), "displayName": "x"}},
    ]));
    let err = patch::split_members(&ops, &g, &LIMITS).unwrap_err();
    assert_eq!(err.status, 413);
    assert_eq!(
        err.detail,
        "'members' has 11000 values over all operations; this server accepts at most 10000 members per request \
         (--max-members-per-request)"
    );
    let ops = patch_ops(json!([
        {"op": "add", "path": "members", "value": members(6_000)},
        {"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"},
    ]));
    let (_, changes) = patch::split_members(&ops, &g, &LIMITS).unwrap();
    assert_eq!(changes.len(), 2);
    let tight = Limits { max_members: 6_001, ..LIMITS };
    assert_eq!(patch::split_members(&ops, &g, &tight).unwrap_err().status, 413, "filter ids count too");
    // Counted before reading: 100,000 members without ids are a 413, not a 400.
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": vec![json!({}); 100_000]}]));
    assert_eq!(patch::split_members(&ops, &g, &LIMITS).unwrap_err().status, 413);
}

// ------------------------------------------- what a database cannot hold

fn user_body(fields: Value) -> Value {
    let mut body = json!({"schemas": [USER_SCHEMA], "userName": "a"});
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    body
}

fn assert_invalid_value(result: scim_core::Result<impl std::fmt::Debug>, detail: &str) {
    let err = result.expect_err(detail);
    assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidValue)), "{}", err.detail);
    assert_eq!(err.detail, detail);
}

#[test]
fn nul_characters_are_refused_in_resources() {
    let u = user();
    let nul = |name: &str| format!("'{name}' contains a NUL character (\\u0000), which cannot be stored");
    assert_invalid_value(
        resource::prepare(&user_body(json!({"displayName": "a\u{0}b"})), &u, None, &LIMITS),
        &nul("displayName"),
    );
    assert_invalid_value(
        resource::prepare(&user_body(json!({"emails": [{"value": "x\u{0}@y"}]})), &u, None, &LIMITS),
        &nul("emails.value"),
    );
    assert_invalid_value(
        resource::prepare(&user_body(json!({"name": {"givenName": "\u{0}"}})), &u, None, &LIMITS),
        &nul("name.givenName"),
    );
    assert_invalid_value(
        resource::prepare(&user_body(json!({ENTERPRISE_USER_SCHEMA: {"department": "\u{0}"}})), &u, None, &LIMITS),
        &nul(&format!("{ENTERPRISE_USER_SCHEMA}:department")),
    );
    assert_invalid_value(
        resource::prepare(&user_body(json!({ENTERPRISE_USER_SCHEMA: {"manager": "m\u{0}"}})), &u, None, &LIMITS),
        &nul(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")),
    );
    let group_body =
        json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "m", "display": "\u{0}"}]});
    assert_invalid_value(resource::prepare(&group_body, &group(), None, &LIMITS), &nul("members.display"));
    // What is not kept may hold anything: unknown attributes, the password.
    let body = user_body(json!({"unknown": "\u{0}", "password": "p\u{0}"}));
    assert!(resource::prepare(&body, &u, None, &LIMITS).is_ok());
    // PATCH results, with and without a path.
    assert_invalid_value(
        run(&bjensen(), json!([{"op": "replace", "path": "displayName", "value": "\u{0}"}]), &u),
        &nul("displayName"),
    );
    assert_invalid_value(run(&bjensen(), json!([{"op": "add", "value": {"nickName": "\u{0}"}}]), &u), &nul("nickName"));
    assert_invalid_value(
        run(&bjensen(), json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "\u{0}"}]), &u),
        &nul("emails.value"),
    );
    // Member values split from a group PATCH.
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": "m\u{0}"}]}]));
    assert_invalid_value(patch::split_members(&ops, &group(), &LIMITS), &nul("members.value"));
    let ops = patch_ops(json!([{"op": "replace", "value": {"members": [{"value": "m", "display": "\u{0}"}]}}]));
    assert_invalid_value(patch::split_members(&ops, &group(), &LIMITS), &nul("members.display"));
}

#[test]
fn nul_characters_are_refused_in_filters_and_paths() {
    assert_invalid_value(
        filter::parse_filter(r#"userName eq "a\u0000""#),
        "the value compared with 'userName' contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        filter::parse_filter(r#"emails[value eq "\u0000"]"#),
        "the value compared with 'value' contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        filter::parse_filter("userName eq \"a\u{0}\""),
        "the filter contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        filter::parse_filter("user\u{0}Name pr"),
        "the filter contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        scim_core::PatchPath::parse("emails[type eq \"w\u{0}\"].value"),
        "the PATCH path contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        scim_core::PatchPath::parse(r#"emails[type eq "\u0000"].value"#),
        "the value compared with 'type' contains a NUL character (\\u0000), which cannot be stored",
    );
    let body = json!({"Operations": [{"op": "remove", "path": "title\u{0}"}]});
    assert_eq!(patch::parse(&body, &LIMITS).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    assert_invalid_value(
        AttrPath::parse("userName\u{0}"),
        "the attribute path contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        Projection::parse(Some("userName,\u{0}"), None),
        "'attributes' contains a NUL character (\\u0000), which cannot be stored",
    );
    assert_invalid_value(
        Projection::parse(None, Some("\u{0}")),
        "'excludedAttributes' contains a NUL character (\\u0000), which cannot be stored",
    );
}

#[test]
fn indexed_strings_are_bounded() {
    let u = user();
    let long = "x".repeat(2_700);
    let too_long = |name: &str, n: usize| format!("'{name}' is {n} bytes long; at most 1024 bytes are accepted");
    for name in ["userName", "externalId", "displayName"] {
        assert_invalid_value(
            resource::prepare(&user_body(json!({name: long})), &u, None, &LIMITS),
            &too_long(name, 2_700),
        );
        // At the limit is fine; bytes are counted, not characters.
        assert!(resource::prepare(&user_body(json!({name: "x".repeat(1_024)})), &u, None, &LIMITS).is_ok());
        assert_invalid_value(
            resource::prepare(&user_body(json!({name: "é".repeat(513)})), &u, None, &LIMITS),
            &too_long(name, 1_026),
        );
        assert_invalid_value(
            run(&bjensen(), json!([{"op": "replace", "path": name, "value": long}]), &u),
            &too_long(name, 2_700),
        );
    }
    let g = group();
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": long});
    assert_invalid_value(resource::prepare(&body, &g, None, &LIMITS), &too_long("displayName", 2_700));
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "externalId": long});
    assert_invalid_value(resource::prepare(&body, &g, None, &LIMITS), &too_long("externalId", 2_700));
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": long}]});
    assert_invalid_value(resource::prepare(&body, &g, None, &LIMITS), &too_long("members.value", 2_700));
    assert_invalid_value(
        run(&group_doc(), json!([{"op": "replace", "value": {"displayName": long}}]), &g),
        &too_long("displayName", 2_700),
    );
    assert_invalid_value(
        run(&group_doc(), json!([{"op": "add", "path": "members", "value": [{"value": long}]}]), &g),
        &too_long("members.value", 2_700),
    );
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": long}]}]));
    assert_invalid_value(patch::split_members(&ops, &g, &LIMITS), &too_long("members.value", 2_700));
    let ops = patch_ops(json!([{"op": "remove", "path": format!("members[value eq \"{long}\"]")}]));
    assert_invalid_value(patch::split_members(&ops, &g, &LIMITS), &too_long("members.value", 2_700));
    // Strings nobody indexes may be longer.
    assert!(resource::prepare(&user_body(json!({"title": long})), &u, None, &LIMITS).is_ok());
}

#[test]
fn blank_user_name_is_refused() {
    let u = user();
    for blank in ["", "   ", "\t\n"] {
        assert_invalid_value(
            resource::prepare(&json!({"schemas": [USER_SCHEMA], "userName": blank}), &u, None, &LIMITS),
            "'userName' must not be empty",
        );
        assert_invalid_value(
            run(&bjensen(), json!([{"op": "replace", "path": "userName", "value": blank}]), &u),
            "'userName' must not be empty",
        );
        assert_invalid_value(
            run(&bjensen(), json!([{"op": "replace", "value": {"userName": blank}}]), &u),
            "'userName' must not be empty",
        );
    }
}

#[test]
fn schemas_must_name_the_core_schema() {
    let u = user();
    let expected = format!("'schemas' must include '{USER_SCHEMA}'");
    assert_invalid_value(
        resource::prepare(&json!({"userName": "a"}), &u, None, &LIMITS),
        &format!("'schemas' is missing; it must include '{USER_SCHEMA}'"),
    );
    assert_invalid_value(
        resource::prepare(&json!({"schemas": null, "userName": "a"}), &u, None, &LIMITS),
        &format!("'schemas' is missing; it must include '{USER_SCHEMA}'"),
    );
    assert_invalid_value(
        resource::prepare(&json!({"schemas": 5, "userName": "a"}), &u, None, &LIMITS),
        &format!("'schemas' must be an array of schema URNs that includes '{USER_SCHEMA}'"),
    );
    for wrong in [json!([GROUP_SCHEMA]), json!([]), json!([ENTERPRISE_USER_SCHEMA]), json!(GROUP_SCHEMA), json!([7])] {
        assert_invalid_value(
            resource::prepare(&json!({"schemas": wrong, "userName": "a"}), &u, None, &LIMITS),
            &expected,
        );
    }
    // A PUT is held to the same rule.
    let existing = resource::prepare(&bjensen(), &u, None, &LIMITS).unwrap();
    assert_invalid_value(
        resource::prepare(&json!({"userName": "a"}), &u, Some(&existing), &LIMITS),
        &format!("'schemas' is missing; it must include '{USER_SCHEMA}'"),
    );
    // Tolerated: any case, a lone string, unknown URNs beside it, the key in any case.
    for ok in [
        json!({"schemas": [USER_SCHEMA.to_uppercase()], "userName": "a"}),
        json!({"schemas": USER_SCHEMA, "userName": "a"}),
        json!({"schemas": ["urn:unknown", 3, USER_SCHEMA], "userName": "a"}),
        json!({"Schemas": [USER_SCHEMA], "userName": "a"}),
    ] {
        let doc = resource::prepare(&ok, &u, None, &LIMITS).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(doc["schemas"], json!([USER_SCHEMA]));
    }
    // A group body must name the Group schema.
    let g = group();
    assert_invalid_value(
        resource::prepare(&json!({"schemas": [USER_SCHEMA], "displayName": "G"}), &g, None, &LIMITS),
        &format!("'schemas' must include '{GROUP_SCHEMA}'"),
    );
}

#[test]
fn onelogin_pre_rfc_core_urn_in_schemas() {
    // OneLogin's SCIM templates send the pre-RFC URN: accepted for a User only.
    let body = json!({"schemas": ["urn:scim:schemas:core:2.0"], "userName": "a"});
    let doc = resource::prepare(&body, &user(), None, &LIMITS).unwrap();
    assert_eq!(doc["schemas"], json!([USER_SCHEMA]));
    let body = json!({"schemas": ["urn:scim:schemas:core:2.0"], "displayName": "G"});
    assert_eq!(resource::prepare(&body, &group(), None, &LIMITS).unwrap_err().scim_type, Some(ScimType::InvalidValue));
}

// -------------------------------------------- value filters that match nothing

#[test]
fn replace_with_an_unmatched_value_filter_is_no_target() {
    let u = user();
    for path in [
        r#"emails[type eq "pager"].value"#,                     // not a canonical email type
        r#"emails[value eq "nobody@example.com"].type"#,        // not a type filter
        r#"emails[type eq "other"]"#,                           // no sub-attribute after the filter
        r#"emails[type eq "other" and primary eq true].value"#, // more than the type
        r#"emails[type ne "work" and type ne "home"].value"#,
        r#"roles[type eq "admin"].value"#, // roles have no canonical types
    ] {
        let err = run(&bjensen(), json!([{"op": "replace", "path": path, "value": "x"}]), &u).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::NoTarget), "{path}: {err}");
        assert_eq!(err.status, 400);
    }
    // `add` keeps creating the element from the filter's eq terms.
    let out =
        run(&bjensen(), json!([{"op": "add", "path": "emails[type eq \"pager\"].value", "value": "p@x.org"}]), &u)
            .unwrap();
    assert_eq!(out["emails"][2], json!({"type": "pager", "value": "p@x.org"}));
    // Entra's form creates it; the canonical type is compared ignoring case (emails.type is not caseExact).
    let out =
        run(&bjensen(), json!([{"op": "replace", "path": "emails[type eq \"OTHER\"].value", "value": "o@x.org"}]), &u)
            .unwrap();
    assert_eq!(out["emails"][2], json!({"type": "OTHER", "value": "o@x.org"}));
    // A matching replace is untouched by the rule.
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.org"}}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["emails"][1], json!({"value": "h@x.org"}));
}

#[test]
fn unmatched_replace_follows_the_case_rules_of_the_type() {
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let ext = Schema::from_json(&json!({
        "id": urn,
        "attributes": [{"name": "badges", "type": "complex", "multiValued": true, "subAttributes": [
            {"name": "value", "type": "string"},
            {"name": "type", "type": "string", "caseExact": true, "canonicalValues": ["Gold", "Silver"]}
        ]}]
    }))
    .unwrap();
    let rt = user().with_extension(ext, false);
    let err = run(
        &bjensen(),
        json!([{"op": "replace", "path": format!("{urn}:badges[type eq \"gold\"].value"), "value": "1"}]),
        &rt,
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::NoTarget), "{err}");
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "path": format!("{urn}:badges[type eq \"Gold\"].value"), "value": "1"}]),
        &rt,
    )
    .unwrap();
    assert_eq!(out[urn]["badges"], json!([{"type": "Gold", "value": "1"}]));
}

// ------------------------------------------- unquoted filter values (tolerated)

#[test]
fn authentik_unquoted_filter_value() {
    // authentik up to 2025.6 looks users up with `userName eq alice`, unquoted.
    let f = filter::parse_filter("userName eq alice").unwrap();
    assert_eq!(f, Filter::eq(AttrPath::new("userName"), CompValue::Str("alice".into())));
    filter::validate(&f, &user()).unwrap();
    let alice =
        resource::prepare(&json!({"schemas": [USER_SCHEMA], "userName": "alice"}), &user(), None, &LIMITS).unwrap();
    assert!(filter::matches(&f, &alice, &user()));
    assert!(!filter::matches(&f, &bjensen(), &user()));
}

#[test]
fn keycloak_scim2_storage_unquoted_value_path() {
    // suvera keycloak-scim2-storage writes `emails[type eq work].value`, unquoted.
    let u = user();
    let out = run(
        &bjensen(),
        json!([{"op": "replace", "path": "emails[type eq work].value", "value": "kc@example.com"}]),
        &u,
    )
    .unwrap();
    assert_eq!(out["emails"][0], json!({"value": "kc@example.com", "type": "work", "primary": true}));
    let mut bare = bjensen();
    bare.as_object_mut().unwrap().remove("emails");
    let out =
        run(&bare, json!([{"op": "replace", "path": "emails[type eq work].value", "value": "kc@example.com"}]), &u)
            .unwrap();
    assert_eq!(out["emails"], json!([{"type": "work", "value": "kc@example.com"}]));
}

// ------------------------------------------- linear work on 100,000 values

/// A deterministic stream of numbers below `pool` (xorshift), so that 100,000
/// values with many repeats cost no proptest shrinking machinery.
fn picks(seed: u64, n: usize, pool: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % pool
        })
        .collect()
}

fn email_of(k: u64) -> Value {
    let kinds = ["work", "home", "other"];
    json!({"value": format!("u{}@example.com", k / 3), "type": kinds[(k % 3) as usize]})
}

fn member_of(k: u64) -> Value {
    // Several displays for one id: the same member, identified by value.
    json!({"value": format!("m{}", k / 2), "display": format!("d{}", k % 2)})
}

/// The reference de-duplication: keep the first of each value, by JSON text.
fn dedup_reference(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    items.into_iter().filter(|v| seen.insert(v.to_string())).collect()
}

/// The reference `add` for members: an added member replaces the first with its value, or is appended.
fn add_members_reference(existing: Vec<Value>, added: Vec<Value>) -> Vec<Value> {
    let mut out = existing;
    let mut index = HashMap::new();
    for (i, m) in out.iter().enumerate() {
        index.entry(m["value"].to_string()).or_insert(i);
    }
    for m in dedup_reference(added) {
        match index.get(&m["value"].to_string()) {
            Some(&i) => out[i] = m,
            None => {
                index.insert(m["value"].to_string(), out.len());
                out.push(m);
            }
        }
    }
    out
}

// The helpers below move or clone 100,000 values rather than pass them
// through `json!`, which would serialise each one again.

fn emails_doc(emails: &[Value]) -> Value {
    let mut body = json!({"schemas": [USER_SCHEMA], "userName": "a"});
    body["emails"] = Value::Array(emails.to_vec());
    resource::prepare(&body, &user(), None, &NO_LIMITS).unwrap()
}

fn group_with(members: &[Value]) -> Value {
    let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G"});
    body["members"] = Value::Array(members.to_vec());
    resource::prepare(&body, &group(), None, &NO_LIMITS).unwrap()
}

/// One PATCH operation on `path` with these values.
fn op_with(kind: patch::OpKind, path: &str, values: &[Value]) -> Vec<patch::PatchOp> {
    let path = Some(scim_core::PatchPath::parse(path).unwrap());
    vec![patch::PatchOp { kind, path, value: Some(Value::Array(values.to_vec())) }]
}

fn values_of(doc: &Value, name: &str) -> Vec<Value> {
    doc.get(name).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn check_prepare_dedup(seed: u64, pool: u64, n: usize) -> Result<(), TestCaseError> {
    let sent: Vec<Value> = picks(seed, n, pool).into_iter().map(email_of).collect();
    prop_assert_eq!(values_of(&emails_doc(&sent), "emails"), dedup_reference(sent));
    Ok(())
}

fn check_patch_add(seed: u64, pool: u64, n: usize) -> Result<(), TestCaseError> {
    let existing: Vec<Value> = picks(seed ^ 0x5eed, n / 2, pool).into_iter().map(email_of).collect();
    let added: Vec<Value> = picks(seed, n, pool).into_iter().map(email_of).collect();
    let ops = op_with(OpKind::Add, "emails", &added);
    let out = patch::apply(&emails_doc(&existing), &ops, &user(), &NO_LIMITS).unwrap();
    prop_assert_eq!(values_of(&out, "emails"), dedup_reference(existing.into_iter().chain(added)));

    // Group members are identified by value.
    let existing: Vec<Value> = picks(seed ^ 0xfeed, n / 2, pool).into_iter().map(member_of).collect();
    let added: Vec<Value> = picks(seed, n, pool).into_iter().map(member_of).collect();
    let ops = op_with(OpKind::Add, "members", &added);
    let out = patch::apply(&group_with(&existing), &ops, &group(), &NO_LIMITS).unwrap();
    prop_assert_eq!(values_of(&out, "members"), add_members_reference(dedup_reference(existing), added));
    Ok(())
}

fn check_patch_remove(seed: u64, pool: u64, n: usize) -> Result<(), TestCaseError> {
    // Members: a listed member, bare `{value}` or with a display, removes by value.
    let existing = dedup_reference(picks(seed ^ 0xfeed, n, pool).into_iter().map(member_of));
    let listed: Vec<Value> = picks(seed, n, pool)
        .into_iter()
        .map(|k| if k % 4 == 0 { json!({"value": member_of(k)["value"]}) } else { member_of(k) })
        .collect();
    let gone: HashSet<String> = listed.iter().map(|m| m["value"].to_string()).collect();
    let ops = op_with(OpKind::Remove, "members", &listed);
    let out = patch::apply(&group_with(&existing), &ops, &group(), &NO_LIMITS).unwrap();
    let expected: Vec<Value> = existing.into_iter().filter(|m| !gone.contains(&m["value"].to_string())).collect();
    prop_assert_eq!(values_of(&out, "members"), expected);

    // Emails: a listed email removes the equal one; a bare `{value}` every one with that value.
    let existing = dedup_reference(picks(seed ^ 0x5eed, n, pool).into_iter().map(email_of));
    let listed: Vec<Value> = picks(seed, n, pool)
        .into_iter()
        .map(|k| if k % 5 == 0 { json!({"value": email_of(k)["value"]}) } else { email_of(k) })
        .collect();
    let whole: HashSet<String> = listed.iter().map(Value::to_string).collect();
    let bare: HashSet<String> =
        listed.iter().filter(|l| l.as_object().unwrap().len() == 1).map(|l| l["value"].to_string()).collect();
    let ops = op_with(OpKind::Remove, "emails", &listed);
    let out = patch::apply(&emails_doc(&existing), &ops, &user(), &NO_LIMITS).unwrap();
    let expected: Vec<Value> = existing
        .into_iter()
        .filter(|e| !whole.contains(&e.to_string()) && !bare.contains(&e["value"].to_string()))
        .collect();
    prop_assert_eq!(values_of(&out, "emails"), expected);
    Ok(())
}

fn check_patch_replace(seed: u64, pool: u64, n: usize) -> Result<(), TestCaseError> {
    let existing: Vec<Value> = picks(seed ^ 0x5eed, n / 10, pool).into_iter().map(email_of).collect();
    let sent: Vec<Value> = picks(seed, n, pool).into_iter().map(email_of).collect();
    let ops = op_with(OpKind::Replace, "emails", &sent);
    let out = patch::apply(&emails_doc(&existing), &ops, &user(), &NO_LIMITS).unwrap();
    prop_assert_eq!(values_of(&out, "emails"), dedup_reference(sent));
    Ok(())
}

fn check_split_members(seed: u64, pool: u64, n: usize) -> Result<(), TestCaseError> {
    let added: Vec<Value> = picks(seed, n, pool).into_iter().map(member_of).collect();
    let removed: Vec<Value> = picks(seed ^ 1, n, pool).into_iter().map(|k| json!({"value": format!("m{k}")})).collect();
    let ops = [op_with(OpKind::Add, "members", &added), op_with(OpKind::Remove, "members", &removed)].concat();
    let (doc_ops, changes) = patch::split_members(&ops, &group(), &Limits { max_members: 2 * n, ..LIMITS }).unwrap();
    prop_assert!(doc_ops.is_empty());
    let removed_ids: Vec<String> =
        dedup_reference(removed).into_iter().map(|m| m["value"].as_str().unwrap().to_string()).collect();
    // Coalesced: the removals, then the additions that were not removed after.
    let gone: HashSet<&str> = removed_ids.iter().map(String::as_str).collect();
    // One value per member id, the first (a second insert of its row would change nothing).
    let mut seen = HashSet::new();
    let kept: Vec<Value> = added
        .into_iter()
        .filter(|m| seen.insert(m["value"].to_string()) && !gone.contains(m["value"].as_str().unwrap()))
        .collect();
    let mut expected = Vec::new();
    if !removed_ids.is_empty() {
        expected.push(MemberChange::Remove(removed_ids.clone()));
    }
    if !kept.is_empty() {
        expected.push(MemberChange::Add(kept));
    }
    prop_assert_eq!(changes, expected);
    if n > 0 {
        let err = patch::split_members(&ops, &group(), &Limits { max_members: 2 * n - 1, ..LIMITS }).unwrap_err();
        prop_assert_eq!(err.status, 413);
    }
    Ok(())
}

// Many small cases check the results against the references; a few cases of
// 100,000 values check the same at a size no quadratic step would finish.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prepare_dedup_is_the_reference(seed in any::<u64>(), pool in 1u64..400, n in 0usize..300) {
        check_prepare_dedup(seed, pool, n)?;
    }

    #[test]
    fn patch_add_is_the_reference(seed in any::<u64>(), pool in 1u64..400, n in 0usize..300) {
        check_patch_add(seed, pool, n)?;
    }

    #[test]
    fn patch_remove_is_the_reference(seed in any::<u64>(), pool in 1u64..400, n in 0usize..300) {
        check_patch_remove(seed, pool, n)?;
    }

    #[test]
    fn patch_replace_is_the_reference(seed in any::<u64>(), pool in 1u64..400, n in 0usize..300) {
        check_patch_replace(seed, pool, n)?;
    }

    #[test]
    fn split_members_is_the_reference(seed in any::<u64>(), pool in 1u64..400, n in 0usize..300) {
        check_split_members(seed, pool, n)?;
    }
}

const BIG: usize = 100_000;

// One new case each (proptest also replays the seeds saved in
// core.proptest-regressions): the small cases above check the results, these
// check that 100,000 values take linear time, in a debug build under a minute.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(1))]

    #[test]
    fn prepare_dedups_100k_values(seed in any::<u64>(), pool in 1u64..200_000) {
        check_prepare_dedup(seed, pool, BIG)?;
    }

    #[test]
    fn patch_add_of_100k_values(seed in any::<u64>(), pool in 1u64..200_000) {
        check_patch_add(seed, pool, BIG)?;
    }

    #[test]
    fn patch_remove_of_100k_values(seed in any::<u64>(), pool in 1u64..200_000) {
        check_patch_remove(seed, pool, BIG)?;
    }

    #[test]
    fn patch_replace_of_100k_values(seed in any::<u64>(), pool in 1u64..200_000) {
        check_patch_replace(seed, pool, BIG)?;
    }

    #[test]
    fn split_members_of_100k_values(seed in any::<u64>(), pool in 1u64..200_000) {
        check_split_members(seed, pool, BIG)?;
    }
}

#[test]
fn projection_with_a_long_attributes_list() {
    let u = user();
    let doc = resource::prepare(
        &json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": emails(1_000)}),
        &u,
        None,
        &LIMITS,
    )
    .unwrap();
    // 50,000 entries: repeats, and distinct sub-attribute names no schema has.
    let mut list: Vec<String> = vec!["emails.value".to_string(); 25_000];
    list.extend((0..25_000).map(|i| format!("emails.x{i}")));
    let long = Projection::parse(Some(&list.join(",")), None).unwrap();
    let short = Projection::parse(Some("emails.value"), None).unwrap();
    assert_eq!(long.apply(&doc, &u), short.apply(&doc, &u));
    let long = Projection::parse(None, Some(&list.join(","))).unwrap();
    let short = Projection::parse(None, Some("emails.value")).unwrap();
    assert_eq!(long.apply(&doc, &u), short.apply(&doc, &u));
}
