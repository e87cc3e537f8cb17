//! Attribute paths as query parameters: `sortBy` (`AttrPath::parse`) and
//! `attributes` / `excludedAttributes` (`Projection::parse`, RFC 7644 §3.9).
//!
//! Properties:
//! - neither parser panics, whatever the text;
//! - a parsed attribute path renders to text that parses back to the same path;
//! - applying any parsed projection to the fixed User and Group does not panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use scim_core::{AttrPath, Projection, ResourceType};
use serde_json::Value;
use std::sync::LazyLock;

static USER_RT: LazyLock<ResourceType> = LazyLock::new(ResourceType::user);
static GROUP_RT: LazyLock<ResourceType> = LazyLock::new(ResourceType::group);
static USER: LazyLock<Value> = LazyLock::new(|| common::user_doc(&USER_RT));
static GROUP: LazyLock<Value> = LazyLock::new(|| common::group_doc(&GROUP_RT));

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(p) = AttrPath::parse(s) {
        let shown = p.to_string();
        match AttrPath::parse(&shown) {
            Ok(again) => {
                assert_eq!(again, p, "round trip changed the attribute path\n input: {s:?}\n shown: {shown:?}")
            }
            Err(e) => panic!(
                "the rendering of a parsed attribute path does not parse\n input: {s:?}\n shown: {shown:?}\n error: {e}"
            ),
        }
    }

    for projection in [Projection::parse(Some(s), None), Projection::parse(None, Some(s))].into_iter().flatten() {
        let _ = projection.apply(&USER, &USER_RT);
        let _ = projection.apply(&GROUP, &GROUP_RT);
        let _ = projection.includes(&USER_RT, "emails");
        let _ = projection.includes(&GROUP_RT, "members");
    }
});
