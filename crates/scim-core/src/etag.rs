//! ETags of resources (RFC 7644 §3.14): a resource's version as a weak
//! entity tag, and the `If-Match` / `If-None-Match` comparisons (RFC 7232).
//! Reading the headers is the caller's; this owns what their text means.

use crate::error::{Result, ScimError};

/// The ETag of a resource at `version`: `W/"7"`. Weak, because two renderings
/// of one version (key order, projections) need not be byte-identical.
pub fn format(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Does an `If-Match` / `If-None-Match` value name `version`? RFC 7232 weak
/// comparison over the comma-separated list: `W/` is ignored on either side,
/// and `*` matches any version.
pub fn matches(header_value: &str, version: i64) -> bool {
    let ours = version.to_string();
    header_value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == ours)
}

/// A write's precondition: without `If-Match` it always holds; with one, the
/// current `version` must be among its tags, or the write is refused (412).
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<()> {
    match if_match {
        Some(tags) if !matches(tags, version) => Err(ScimError::new(
            412,
            None,
            format!("the resource has changed: its version is {}, the request's If-Match is {tags}", format(version)),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_weak_tag() {
        assert_eq!(format(7), "W/\"7\"");
        assert_eq!(format(0), "W/\"0\"");
        assert_eq!(format(-3), "W/\"-3\"");
    }

    #[test]
    fn weak_comparison_of_a_list() {
        assert!(matches("W/\"7\"", 7));
        assert!(matches("\"7\"", 7), "a strong tag compares weakly with ours");
        assert!(matches("7", 7), "a bare version, as some clients send it");
        assert!(matches("W/\"3\", W/\"7\"", 7));
        assert!(matches(" W/\"3\" ,W/\"7\" ", 7));
        assert!(matches("*", 7));
        assert!(matches("W/\"1\", *", 7));
        assert!(!matches("W/\"8\"", 7));
        assert!(!matches("W/\"70\"", 7));
        assert!(!matches("", 7));
        assert!(!matches("W/\"3\", W/\"8\"", 7));
        assert!(matches(&format(12345), 12345));
    }

    #[test]
    fn if_match_precondition() {
        assert_eq!(check_if_match(None, 7), Ok(()));
        assert_eq!(check_if_match(Some("W/\"7\""), 7), Ok(()));
        assert_eq!(check_if_match(Some("*"), 7), Ok(()));
        let e = check_if_match(Some("W/\"6\""), 7).unwrap_err();
        assert_eq!(e.status, 412);
        assert_eq!(e.scim_type, None);
        assert_eq!(e.detail, "the resource has changed: its version is W/\"7\", the request's If-Match is W/\"6\"");
    }
}
