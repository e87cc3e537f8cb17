//! PATCH (RFC 7644 §3.5.2): `patch::parse`, `patch::apply` and
//! `patch::split_members` on any JSON body.
//!
//! Properties:
//! - nothing panics, whatever the body;
//! - `apply` never changes its input document (it returns a new one or an
//!   error, never a half-patched resource);
//! - a document `apply` returns is one `resource::prepare` accepts: PATCH
//!   cannot produce a resource that a PUT of the same document would refuse
//!   (limits, NUL characters, indexed lengths and a blank `userName` included).
//!
//! Everything runs with the server's default `Limits`.
//!
//! Each body is applied to a full User (core and enterprise extension), a
//! minimal User (so that writes create attributes), and a Group, directly and
//! after `split_members` has taken the member changes out.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use scim_core::patch::{self, PatchOp};
use scim_core::resource;
use scim_core::{Limits, ResourceType};
use serde_json::{Value, json};
use std::sync::LazyLock;

static LIMITS: LazyLock<Limits> = LazyLock::new(Limits::default);

static USER_RT: LazyLock<ResourceType> = LazyLock::new(ResourceType::user);
static GROUP_RT: LazyLock<ResourceType> = LazyLock::new(ResourceType::group);
static USER: LazyLock<Value> = LazyLock::new(|| common::user_doc(&USER_RT));
static MIN_USER: LazyLock<Value> = LazyLock::new(|| {
    let body = json!({"schemas": [scim_core::schema::USER_SCHEMA], "userName": "min"});
    let mut doc = resource::prepare(&body, &USER_RT, None, &LIMITS).expect("the minimal user is valid");
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), Value::String("min-1".into()));
    }
    doc
});
static GROUP: LazyLock<Value> = LazyLock::new(|| common::group_doc(&GROUP_RT));

fn check(doc: &Value, ops: &[PatchOp], rt: &ResourceType, body: &Value) {
    let before = doc.clone();
    let result = patch::apply(doc, ops, rt, &LIMITS);
    assert_eq!(doc, &before, "apply changed its input document");
    if let Ok(out) = result {
        if let Err(e) = resource::prepare(&out, rt, None, &LIMITS) {
            panic!("apply succeeded but prepare refuses its result\n body: {body}\n result: {out}\n error: {e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = patch::parse(&body, &LIMITS) else {
        return;
    };

    check(&USER, &ops, &USER_RT, &body);
    check(&MIN_USER, &ops, &USER_RT, &body);
    check(&GROUP, &ops, &GROUP_RT, &body);

    if let Ok((doc_ops, _changes)) = patch::split_members(&ops, &GROUP_RT, &LIMITS) {
        if !doc_ops.is_empty() {
            check(&GROUP, &doc_ops, &GROUP_RT, &body);
        }
    }
    // A User has no `members`: split_members must leave its operations alone.
    if let Ok((doc_ops, changes)) = patch::split_members(&ops, &USER_RT, &LIMITS) {
        assert!(changes.is_empty(), "split_members found members on a User");
        assert_eq!(doc_ops, ops, "split_members changed a User's operations");
    }
});
