//! What the ways of writing an attribute share: an element's identity, the
//! one `primary` element, the object that holds an attribute (the resource or
//! its extension object), and pruning values that became empty.

use crate::error::{Result, ScimError};
use crate::resource::{check_one_primary, write_equality_key};
use crate::schema::{Attribute, Mutability};
use serde_json::{Map, Value};

/// Is an element of `attr` identified by its `value`? When `value` is
/// immutable (a group member), yes; otherwise the whole element is its identity.
pub(super) fn identified_by_value(attr: &Attribute) -> bool {
    attr.sub("value").is_some_and(|v| v.mutability == Mutability::Immutable)
}

/// The identity of an element as a hash key: two elements are the same one
/// exactly when they are equal, or when both have a `value` and
/// `identified_by_value` and their values are equal.
pub(super) fn element_key(identified_by_value: bool, element: &Value) -> String {
    let mut key = String::new();
    match element.get("value") {
        Some(id) if identified_by_value => {
            key.push('v');
            write_equality_key(id, &mut key);
        }
        _ => {
            key.push('w');
            write_equality_key(element, &mut key);
        }
    }
    key
}

/// When a written element is primary, the others stop being primary (RFC 7643 §2.4).
pub(super) fn settle_primary(attr: &Attribute, items: &mut [Value], written: &[usize], path: &str) -> Result<()> {
    if attr.sub("primary").is_none() {
        return Ok(());
    }
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let new_primaries: Vec<usize> = written.iter().copied().filter(|&i| items.get(i).is_some_and(is_primary)).collect();
    if new_primaries.len() > 1 {
        return Err(ScimError::invalid_value(format!("only one value of '{path}' may be primary")));
    }
    if let Some(&keep) = new_primaries.first() {
        for (i, item) in items.iter_mut().enumerate() {
            if i != keep
                && is_primary(item)
                && let Some(o) = item.as_object_mut()
            {
                o.insert("primary".into(), Value::Bool(false));
            }
        }
    }
    check_one_primary(attr, items, path)
}

/// The object that holds the attribute: the resource, or its extension object.
pub(super) fn container<'d>(doc: &'d mut Value, ext: Option<&str>, create: bool) -> Option<&'d mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    match ext {
        None => Some(root),
        Some(urn) => {
            if !root.contains_key(urn) {
                if !create {
                    return None;
                }
                root.insert(urn.to_string(), Value::Object(Map::new()));
            }
            root.get_mut(urn)?.as_object_mut()
        }
    }
}

pub(super) fn elements_mut(v: &mut Value) -> Vec<&mut Value> {
    match v {
        Value::Array(items) => items.iter_mut().collect(),
        other => vec![other],
    }
}

/// Remove an attribute that became empty.
pub(super) fn prune(c: &mut Map<String, Value>, name: &str) {
    let empty = match c.get(name) {
        Some(Value::Array(a)) => a.is_empty() || a.iter().all(|v| v.as_object().is_some_and(Map::is_empty)),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        c.remove(name);
    }
}

pub(super) fn prune_ext(doc: &mut Value, ext: Option<&str>) {
    if let (Some(urn), Some(root)) = (ext, doc.as_object_mut()) {
        prune(root, urn);
    }
}
