use super::*;
use proptest::prelude::*;

const BASE: &str = "https://scim.example.com/scim/v2/acme";

fn meta<'a>(resource_type: &'a str, id: &'a str) -> Meta<'a> {
    Meta { resource_type, id, created: "2024-01-02T03:04:05Z", last_modified: "2024-02-03T04:05:06Z", version: 7 }
}

fn groups(items: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    items.iter().map(|(g, d)| (g.to_string(), d.map(str::to_string))).collect()
}

fn member(value: &str) -> Member {
    Member { value: value.into(), member_type: Some("User".into()), display: None, reference: None }
}

/// The three renderings of one resource, which must be one JSON value: the
/// tree, the serialised text, and the text spliced around `doc_text`.
fn renderings(shown: &Shown<'_>, doc_text: &str) -> (Value, Value, Value) {
    let tree = to_value(shown);
    let bytes = json_bytes(shown);
    assert_eq!(bytes.len(), bytes.capacity(), "json_bytes fills its buffer exactly");
    let written: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(shown.to_json(), bytes, "to_json writes the bytes json_bytes writes");
    let text = splice(shown.base, &shown.meta, doc_text, shown.members, shown.groups).unwrap();
    let spliced: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (tree, written, spliced)
}

fn assert_one_rendering(shown: &Shown<'_>) {
    let compact = serde_json::to_string(shown.doc).unwrap();
    let pretty = serde_json::to_string_pretty(shown.doc).unwrap();
    for doc_text in [compact.clone(), pretty, format!(" \n\t{compact}\r\n ")] {
        let (tree, written, spliced) = renderings(shown, &doc_text);
        assert_eq!(tree, written);
        assert_eq!(tree, spliced, "spliced around {doc_text:?}");
    }
}

#[test]
fn a_user_as_a_client_sees_it() {
    let doc = json!({"userName": "bjensen", "active": true, "name": {"givenName": "Barbara"}});
    let g = groups(&[("g1", Some("Admins")), ("g 2", None)]);
    let shown = Shown { base: BASE, meta: meta("User", "u1"), doc: &doc, members: None, groups: Some(&g) };
    assert_eq!(
        to_value(&shown),
        json!({
            "id": "u1",
            "meta": {
                "resourceType": "User",
                "created": "2024-01-02T03:04:05Z",
                "lastModified": "2024-02-03T04:05:06Z",
                "location": "https://scim.example.com/scim/v2/acme/Users/u1",
                "version": "W/\"7\"",
            },
            "userName": "bjensen",
            "active": true,
            "name": {"givenName": "Barbara"},
            "groups": [
                {"value": "g1", "$ref": format!("{BASE}/Groups/g1"), "type": "direct", "display": "Admins"},
                {"value": "g 2", "$ref": format!("{BASE}/Groups/g 2"), "type": "direct"},
            ],
        })
    );
    assert_one_rendering(&shown);
}

#[test]
fn a_group_with_its_members() {
    let doc = json!({"displayName": "Admins"});
    let members = [
        member("u1"),
        Member {
            value: "u2".into(),
            member_type: None,
            display: Some("Babs".into()),
            reference: Some(format!("{BASE}/Users/u2")),
        },
    ];
    let shown = Shown { base: BASE, meta: meta("Group", "g1"), doc: &doc, members: Some(&members), groups: None };
    let v = to_value(&shown);
    assert_eq!(v["meta"]["location"], format!("{BASE}/Groups/g1"));
    assert_eq!(v["meta"]["resourceType"], "Group");
    assert_eq!(
        v["members"],
        json!([{"value": "u1", "type": "User"}, {"value": "u2", "display": "Babs", "$ref": format!("{BASE}/Users/u2")}])
    );
    assert_eq!(v.get("groups"), None);
    assert_one_rendering(&shown);
}

#[test]
fn members_and_groups_appear_only_when_given() {
    let doc = json!({"displayName": "x"});
    let none = Shown { base: BASE, meta: meta("Group", "g"), doc: &doc, members: None, groups: None };
    let v = to_value(&none);
    assert_eq!((v.get("members"), v.get("groups")), (None, None));
    // Members read and there are none: an empty list. Groups read and there
    // are none: no attribute (RFC 7643 §2.5: unassigned is not returned).
    let empty = Shown { members: Some(&[]), groups: Some(&[]), ..none };
    let v = to_value(&empty);
    assert_eq!((v.get("members"), v.get("groups")), (Some(&json!([])), None));
    assert_one_rendering(&none);
    assert_one_rendering(&empty);
}

#[test]
fn the_servers_attributes_are_not_taken_from_the_document() {
    let doc = json!({"id": "forged", "meta": {"version": "W/\"999\""}, "members": [{"value": "x"}], "groups": [1],
                     "userName": "u"});
    let shown = Shown { base: BASE, meta: meta("User", "u1"), doc: &doc, members: None, groups: None };
    let v = to_value(&shown);
    assert_eq!(v["id"], "u1");
    assert_eq!(v["meta"]["version"], "W/\"7\"");
    assert_eq!((v.get("members"), v.get("groups")), (None, None));
    assert_eq!(v["userName"], "u");
}

#[test]
fn a_document_that_is_not_an_object() {
    let doc = json!(["not", "an", "object"]);
    let shown = Shown { base: BASE, meta: meta("User", "u1"), doc: &doc, members: None, groups: None };
    assert_eq!(
        to_value(&shown).as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["id".to_string(), "meta".to_string()])
    );
    for text in ["[1]", "1", "\"{}\"", "", "  ", "{", "}"] {
        assert_eq!(splice(BASE, &meta("User", "u1"), text, None, None), None, "{text:?}");
    }
}

#[test]
fn splice_writes_the_servers_attributes_first() {
    let g = groups(&[("g\"1", Some("A\\B"))]);
    let text = splice(BASE, &meta("User", "u\n1"), " {\"userName\":\"bjensen\"} ", None, Some(&g)).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\"id\":\"u\\n1\",\"meta\":{{\"resourceType\":\"User\",\"created\":\"2024-01-02T03:04:05Z\",\
             \"lastModified\":\"2024-02-03T04:05:06Z\",\"location\":\"{BASE}/Users/u\\n1\",\"version\":\"W/\\\"7\\\"\"}},\
             \"groups\":[{{\"value\":\"g\\\"1\",\"$ref\":\"{BASE}/Groups/g\\\"1\",\"type\":\"direct\",\
             \"display\":\"A\\\\B\"}}],\"userName\":\"bjensen\"}}"
        )
    );
    let empty = splice(BASE, &meta("Group", "g"), "{ }", Some(&[]), None).unwrap();
    assert!(empty.ends_with("\"version\":\"W/\\\"7\\\"\"},\"members\":[]}"), "{empty}");
}

#[test]
fn splice_and_the_serialiser_agree() {
    let awkward = "quote \" backslash \\ slash / nul \u{0} bell \u{7} esc \u{1b} us \u{1f} del \u{7f} \
                   line sep \u{2028} é 日本 😀 \t\r\n";
    let docs = [
        json!({}),
        json!({"userName": awkward, awkward: awkward}),
        json!({"name": {"givenName": "A", "nested": {"deeper": [1, {"x": null}, [], {}]}}, "emails": []}),
        json!({"n": -1, "big": u64::MAX, "f": 1.5e-300, "neg0": -0.0, "e": 2.0, "b": false, "z": null}),
        json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}}}),
        json!({"ID": "not the id: keys are matched exactly", "Meta": 1}),
    ];
    let ids = ["u1", "", awkward, "a/b?c#d", "\"", "\\"];
    let member_sets: [Option<Vec<Member>>; 3] = [
        None,
        Some(Vec::new()),
        Some(vec![
            member(awkward),
            Member {
                value: "v".into(),
                member_type: Some(awkward.into()),
                display: Some(awkward.into()),
                reference: Some(awkward.into()),
            },
        ]),
    ];
    let group_sets = [None, Some(Vec::new()), Some(groups(&[("g1", None), (awkward, Some(awkward)), ("", Some(""))]))];
    for doc in &docs {
        for id in ids {
            for m in &member_sets {
                for g in &group_sets {
                    for base in [BASE, awkward] {
                        let meta =
                            Meta { resource_type: "User", id, created: awkward, last_modified: "", version: i64::MIN };
                        let shown = Shown { base, meta, doc, members: m.as_deref(), groups: g.as_deref() };
                        assert_one_rendering(&shown);
                    }
                }
            }
        }
    }
}

#[test]
fn escaping_is_json_string_literals() {
    for s in ["", "plain", "\"", "\\", "\u{0}", "\u{1f}", "\n\r\t", "\u{7f}\u{2028}😀", "a\"b\\c\u{8}d\u{c}"] {
        let mut out = String::new();
        push_json_str(&mut out, s);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s, "{out}");
    }
    let mut out = String::new();
    push_json_str_of(&mut out, &["a", "\"", "", "b\\"]);
    assert_eq!(out, "\"a\\\"b\\\\\"");
}

#[test]
fn members_from_and_to_json() {
    let full = json!({"value": "u1", "type": "User", "display": "Babs", "$ref": "https://x/Users/u1"});
    let m = Member::from_json(&full).unwrap();
    assert_eq!(
        m,
        Member {
            value: "u1".into(),
            member_type: Some("User".into()),
            display: Some("Babs".into()),
            reference: Some("https://x/Users/u1".into()),
        }
    );
    assert_eq!(m.to_json(), full);
    let bare = Member::from_json(&json!({"value": "u2", "type": 1, "display": null, "extra": "x"})).unwrap();
    assert_eq!(bare, Member { value: "u2".into(), member_type: None, display: None, reference: None });
    assert_eq!(bare.to_json(), json!({"value": "u2"}));
    for no_value in [json!({}), json!({"value": 1}), json!({"value": null}), json!("u1"), json!(null)] {
        assert_eq!(Member::from_json(&no_value), None, "{no_value}");
    }
}

#[test]
fn the_admin_view() {
    let doc = json!({"userName": "bjensen", "id": "old"});
    let m = meta("User", "u1");
    assert_eq!(
        admin_view(&m, &doc, true, false),
        json!({"userName": "bjensen", "id": "u1", "scim_managed": true, "deleted": false,
               "meta": {"created": "2024-01-02T03:04:05Z", "lastModified": "2024-02-03T04:05:06Z", "version": "W/\"7\""}})
    );
    assert_eq!(admin_view(&m, &json!({}), false, true)["deleted"], true);
    assert_eq!(admin_view(&m, &json!([1]), false, true), json!([1]));
}

#[test]
fn meta_location() {
    assert_eq!(meta("User", "u1").location(BASE), format!("{BASE}/Users/u1"));
    assert_eq!(meta("Group", "g1").location(BASE), format!("{BASE}/Groups/g1"));
}

// ---------------------------------------------------------------- properties

/// Text that needs escaping more often than arbitrary text does.
fn arb_text() -> impl Strategy<Value = String> {
    let awkward = prop::sample::select(vec![
        '"', '\\', '/', '\u{0}', '\u{8}', '\u{c}', '\n', '\r', '\t', '\u{1f}', '\u{7f}', '\u{2028}', 'é', '😀', 'a',
        ' ', '{', '}', ',', ':',
    ]);
    prop_oneof![prop::collection::vec(awkward, 0..8).prop_map(String::from_iter), any::<String>()]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A stored document: an object without the server's attributes.
fn arb_doc() -> impl Strategy<Value = Value> {
    let key = arb_text().prop_filter("the server's attributes are not stored", |k| {
        !matches!(k.as_str(), "id" | "meta" | "members" | "groups")
    });
    prop::collection::btree_map(key, arb_json(), 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn arb_member() -> impl Strategy<Value = Member> {
    let opt = || prop::option::of(arb_text());
    (arb_text(), opt(), opt(), opt()).prop_map(|(value, member_type, display, reference)| Member {
        value,
        member_type,
        display,
        reference,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn splice_and_the_serialiser_agree_on_any_resource(
        doc in arb_doc(),
        base in arb_text(),
        resource_type in prop_oneof![Just("User".to_string()), Just("Group".to_string()), arb_text()],
        id in arb_text(),
        created in arb_text(),
        last_modified in arb_text(),
        version in any::<i64>(),
        members in prop::option::of(prop::collection::vec(arb_member(), 0..4)),
        groups in prop::option::of(prop::collection::vec((arb_text(), prop::option::of(arb_text())), 0..4)),
    ) {
        let meta = Meta { resource_type: &resource_type, id: &id, created: &created, last_modified: &last_modified, version };
        let shown = Shown { base: &base, meta, doc: &doc, members: members.as_deref(), groups: groups.as_deref() };
        let compact = serde_json::to_string(&doc).unwrap();
        let pretty = serde_json::to_string_pretty(&doc).unwrap();
        for doc_text in [compact, pretty] {
            let (tree, written, spliced) = renderings(&shown, &doc_text);
            prop_assert_eq!(&tree, &written);
            prop_assert_eq!(&tree, &spliced);
        }
    }
}

#[test]
fn members_written_straight_to_text_are_what_their_trees_give() {
    let members = vec![
        Member {
            value: "u1".into(),
            member_type: Some("User".into()),
            display: Some("Zoë \"Z\"".into()),
            reference: Some("https://h/scim/v2/t/Users/u1".into()),
        },
        Member { value: "g\\2".into(), member_type: None, display: None, reference: None },
    ];
    let mut text = String::new();
    Member::push_all(&mut text, &members);
    let trees = Value::Array(members.iter().map(Member::to_json).collect());
    assert_eq!(text, trees.to_string(), "the same bytes as the tree writes");
    let mut empty = String::new();
    Member::push_all(&mut empty, &[]);
    assert_eq!(empty, "[]");
}
