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
