//! How much one request may carry, and what a database can store: the count
//! limits a server sets with its flags, the longest indexed string, and the
//! checks (NUL characters, lengths, counts) that `resource::prepare`,
//! `patch::parse`, `patch::apply` and `patch::split_members` share so that
//! every entry point gives the same answer.

use crate::error::{Result, ScimError};
use crate::path::has_urn_prefix;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Values one multi-valued attribute of a resource may hold (not group members).
    pub max_multi_values: usize,
    /// Member values one request may carry, over all its operations.
    pub max_members: usize,
    /// Operations one PATCH request may carry.
    pub max_patch_operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_multi_values: 1_000, max_members: 10_000, max_patch_operations: 1_000 }
    }
}

impl Limits {
    /// The longest array any request may hold (or one of `also`'s length),
    /// and the flag that sets it.
    fn longest_array(&self, also: Option<(usize, &'static str)>) -> (usize, &'static str) {
        [
            (self.max_multi_values, "--max-multi-values"),
            (self.max_members, "--max-members-per-request"),
            (self.max_patch_operations, "--max-patch-operations"),
        ]
        .into_iter()
        .chain(also)
        .max_by_key(|(n, _)| *n)
        .unwrap_or((0, "--max-members-per-request"))
    }

    /// Look at a JSON request body before it is parsed, in one pass with no
    /// allocation but the stack of open arrays:
    /// - no array in it may hold more values than the longest any request
    ///   may hold, and the whole body no more than 20 times that (413). A
    ///   parsed tree costs tens of bytes per value, so what the limits refuse
    ///   anyway is refused before the tree is built (a 4 MB body of 100,000
    ///   members would take ~150 MB);
    /// - no string may hold the escape `\u0000`, the only way JSON carries a
    ///   NUL character, which no database here can store (400 invalidValue).
    ///
    /// Malformed JSON is left for the parser to explain.
    pub fn check_json_body(&self, json: &[u8]) -> Result<()> {
        self.check_json_body_allowing(json, None)
    }

    /// [`Limits::check_json_body`] for a body whose arrays may also be as
    /// long as `also` says (a Bulk request's operations: `maxOperations`, the flag that sets it).
    pub fn check_json_body_allowing(&self, json: &[u8], also: Option<(usize, &'static str)>) -> Result<()> {
        let (longest, flag) = self.longest_array(also);
        let most_values = longest.saturating_mul(20).max(1000);
        // Per open container: Some(values so far) for an array, None for an object.
        let mut open: Vec<Option<usize>> = Vec::new();
        let mut values = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        // After `[`, `,` or `:` (or at the start) the next token begins a value.
        let mut expect_value = true;
        for (at, &b) in json.iter().enumerate() {
            if in_string {
                match (escaped, b) {
                    (true, b'u' | b'U') if json.get(at + 1..at + 5) == Some(&b"0000"[..]) => {
                        return Err(ScimError::invalid_value(format!(
                            "the request body contains a NUL character (\\u0000) at byte {}, which cannot be stored",
                            at.saturating_sub(1)
                        )));
                    }
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            if b.is_ascii_whitespace() {
                continue;
            }
            if expect_value && b != b']' && b != b'}' {
                expect_value = false;
                values += 1;
                if let Some(Some(n)) = open.last_mut() {
                    *n += 1;
                    if *n > longest {
                        return Err(ScimError::new(
                            413,
                            None,
                            format!(
                                "the request body holds an array of more than {longest} values; no attribute, \
                                 member list or operation list may be longer ({flag})"
                            ),
                        ));
                    }
                }
                if values > most_values {
                    return Err(ScimError::new(
                        413,
                        None,
                        format!(
                            "the request body holds more than {most_values} values; this server accepts fewer ({flag})"
                        ),
                    ));
                }
            }
            match b {
                b'"' => in_string = true,
                b'{' => open.push(None),
                b'[' => {
                    open.push(Some(0));
                    expect_value = true;
                }
                b']' | b'}' => {
                    open.pop();
                }
                b',' => expect_value = matches!(open.last(), Some(Some(_))),
                b':' => expect_value = true,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Longest value, in bytes, of an indexed string: userName, externalId,
/// displayName and a member's value (PostgreSQL's btree index refuses rows past ~2.7 KB).
pub const MAX_INDEXED_BYTES: usize = 1024;

/// The top-level attributes the store indexes, whose length [`MAX_INDEXED_BYTES`] bounds.
pub(crate) const INDEXED_ATTRIBUTES: [&str; 3] = ["userName", "externalId", "displayName"];

/// Which count limit applies to one multi-valued attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueLimit {
    /// `max_multi_values`: any multi-valued attribute but a group's members.
    PerAttribute(usize),
    /// `max_members`: a group's `members`.
    Members(usize),
}

impl ValueLimit {
    /// Refuse `found` values of `attr` (413) when over the limit.
    pub(crate) fn check(self, attr: &str, found: usize) -> Result<()> {
        match self {
            ValueLimit::PerAttribute(max) if found > max => Err(too_large(format!(
                "'{attr}' has {found} values; this server accepts at most {max} values per attribute (--max-multi-values)"
            ))),
            ValueLimit::Members(max) if found > max => Err(too_large(format!(
                "'{attr}' has {found} values; this server accepts at most {max} members per request \
                 (--max-members-per-request)"
            ))),
            _ => Ok(()),
        }
    }
}

impl Limits {
    /// The limit for a multi-valued attribute; `is_group_members` for a group's `members`.
    pub(crate) fn for_values(&self, is_group_members: bool) -> ValueLimit {
        if is_group_members {
            ValueLimit::Members(self.max_members)
        } else {
            ValueLimit::PerAttribute(self.max_multi_values)
        }
    }

    /// Refuse a request whose operations carry more member values than allowed, in total.
    pub(crate) fn check_members_in_request(&self, found: usize) -> Result<()> {
        if found > self.max_members {
            return Err(too_large(format!(
                "'members' has {found} values over all operations; this server accepts at most {} members per \
                 request (--max-members-per-request)",
                self.max_members
            )));
        }
        Ok(())
    }

    /// Refuse a PATCH request with more operations than allowed.
    pub(crate) fn check_patch_operations(&self, found: usize) -> Result<()> {
        if found > self.max_patch_operations {
            return Err(too_large(format!(
                "'Operations' has {found} operations; this server accepts at most {} operations per request \
                 (--max-patch-operations)",
                self.max_patch_operations
            )));
        }
        Ok(())
    }
}

fn too_large(detail: String) -> ScimError {
    ScimError::new(413, None, detail)
}

/// How many values a client sent for a multi-valued attribute, before any
/// coercion: a non-array is one value (it gets wrapped), `null` none.
pub(crate) fn raw_count(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.len(),
        Value::Null => 0,
        _ => 1,
    }
}

/// An indexed string longer than [`MAX_INDEXED_BYTES`] is refused.
pub(crate) fn check_indexed_len(attr: &str, value: &str) -> Result<()> {
    if value.len() > MAX_INDEXED_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'{attr}' is {} bytes long; at most {MAX_INDEXED_BYTES} bytes are accepted",
            value.len()
        )));
    }
    Ok(())
}

/// The detail for a NUL character in what `subject` names.
pub(crate) fn nul_detail(subject: &str) -> String {
    format!("{subject} contains a NUL character (\\u0000), which cannot be stored")
}

/// Refuse a document (or part of one) that holds a NUL character in any
/// string or key: PostgreSQL's `text` and `jsonb` cannot hold one. The error
/// names the attribute; `prefix` is the path of `value` itself, empty for a
/// whole resource.
pub(crate) fn check_no_nul(value: &Value, prefix: &str) -> Result<()> {
    let Some(mut keys) = nul_at(value) else {
        return Ok(());
    };
    keys.reverse();
    let mut shown = prefix.to_string();
    for (i, key) in keys.iter().enumerate() {
        if i > 0 || !shown.is_empty() {
            // In a whole resource, an extension's attributes follow its URN after ':'.
            let after_urn = i == 1 && prefix.is_empty() && keys.first().is_some_and(|k| has_urn_prefix(k));
            shown.push(if after_urn { ':' } else { '.' });
        }
        shown.push_str(&key.replace('\0', "\\u0000"));
    }
    Err(ScimError::invalid_value(nul_detail(&format!("'{shown}'"))))
}

/// The keys (innermost first) leading to the first string holding a NUL.
fn nul_at(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Array(items) => items.iter().find_map(nul_at),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(vec![k.as_str()]);
            }
            nul_at(v).map(|mut keys| {
                keys.push(k.as_str());
                keys
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod size_tests {
    use super::Limits;

    fn limits() -> Limits {
        Limits { max_multi_values: 3, max_members: 5, max_patch_operations: 2 }
    }

    #[test]
    fn arrays_past_the_longest_limit_are_refused_before_parsing() {
        let ok = br#"{"members":[{"value":"a"},{"value":"b"},1,2,"x,y]"]}"#;
        assert!(limits().check_json_body(ok).is_ok());
        let long = br#"{"members":[1,2,3,4,5,6]}"#;
        let e = limits().check_json_body(long).err().map(|e| (e.status, e.detail)).unwrap_or_default();
        assert_eq!(e.0, 413);
        assert!(e.1.contains("--max-members-per-request"), "{}", e.1);
        // Commas inside strings and nested arrays count for their own array.
        assert!(limits().check_json_body(br#"{"a":["1,2,3,4,5,6,7",[1,2,3],[4,5]]}"#).is_ok());
        assert!(limits().check_json_body(br#"[[1,2,3,4,5,6]]"#).is_err());
        assert!(limits().check_json_body(br#"{"a": [ ]}"#).is_ok());
    }

    #[test]
    fn only_a_real_nul_escape_is_refused() {
        let nul_at = |json: &[u8]| {
            limits().check_json_body(json).err().map(|e| (e.status, e.scim_type.map(|t| t.as_str()), e.detail))
        };
        let at = |n: usize| {
            let detail =
                format!("the request body contains a NUL character (\\u0000) at byte {n}, which cannot be stored");
            Some((400, Some("invalidValue"), detail))
        };
        assert_eq!(nul_at(br#"{"a":"x\u0000"}"#), at(7));
        assert_eq!(nul_at(br#"{"a":"x\U0000"}"#), at(7));
        assert_eq!(nul_at(br#"{"a":"x\\u0000"}"#), None, "an escaped backslash, then text");
        assert_eq!(nul_at(br#"{"a":"\u00001"}"#), at(6));
        assert_eq!(nul_at(br#"{"a":"\u0001"}"#), None);
        assert_eq!(nul_at(br#"{"k\u0000":1}"#), at(3), "keys are strings too");
    }

    #[test]
    fn bodies_of_too_many_values_are_refused() {
        // 20 x 5 = 100 is below the floor of 1000 values.
        let many: String = format!("{{{}}}", (0..1001).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(","));
        assert!(limits().check_json_body(many.as_bytes()).is_err());
        let some: String = format!("{{{}}}", (0..400).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(","));
        assert!(limits().check_json_body(some.as_bytes()).is_ok());
    }
}
