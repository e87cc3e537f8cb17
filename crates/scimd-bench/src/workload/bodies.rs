//! The request bodies and paths the scenarios send: a user, a PATCH of
//! `active`, member additions and removals, a `userName eq` filter.

use super::{PATCH_OP, USER_SCHEMA};
use crate::http::enc;

pub(super) fn user_body(user_name: &str, i: u64) -> String {
    format!(
        r#"{{"schemas":["{USER_SCHEMA}"],"userName":"{user_name}","externalId":"ext-{user_name}","name":{{"givenName":"Given{i}","familyName":"Family{i}","formatted":"Given{i} Family{i}"}},"displayName":"Given{i} Family{i}","emails":[{{"value":"{user_name}","type":"work","primary":true}}],"active":true}}"#
    )
}

pub(super) fn active_patch(active: bool) -> String {
    format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","value":{{"active":{active}}}}}]}}"#)
}

pub(super) fn add_members_patch(ids: &[&str]) -> String {
    let values: Vec<String> = ids.iter().map(|id| format!(r#"{{"value":"{id}"}}"#)).collect();
    format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","path":"members","value":[{}]}}]}}"#,
        values.join(",")
    )
}

pub(super) fn remove_member_patch(id: &str) -> String {
    format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"remove","path":"members[value eq \"{id}\"]"}}]}}"#)
}

pub(super) fn filter_path(user_name: &str) -> String {
    format!("/Users?filter={}", enc(&format!("userName eq \"{user_name}\"")))
}

/// Membership PATCHes ask for the group without its members, so the answer
/// does not carry the member list.
pub(super) const GROUP_PATCH_QUERY: &str = "?excludedAttributes=members";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn bodies_are_json() {
        for body in [
            user_body("a-1@bench.example", 1),
            active_patch(false),
            add_members_patch(&["x", "y"]),
            remove_member_patch("x"),
        ] {
            assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
        }
        let v: Value = serde_json::from_str(&remove_member_patch("abc")).unwrap();
        assert_eq!(v["Operations"][0]["path"], "members[value eq \"abc\"]");
    }
}
