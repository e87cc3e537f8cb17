//! Writing and removing a whole attribute (a path without a sub-attribute or
//! value filter): `add` merges, `replace` sets, `remove` drops the attribute
//! or, with a value list, only the listed values.

use super::OpKind;
use super::elements::{container, element_key, identified_by_value, prune, prune_ext, settle_primary};
use crate::error::{Result, ScimError};
use crate::limits::{ValueLimit, raw_count};
use crate::resource::{coerce, equality_key};
use crate::schema::{Attribute, Mutability};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

pub(super) fn set_attr(
    c: &mut Map<String, Value>,
    kind: OpKind,
    attr: &Attribute,
    new: Option<Value>,
    shown: &str,
    limit: ValueLimit,
) -> Result<()> {
    let name = attr.name.as_str();
    let Some(new) = new else {
        // Setting to null / [] / {}: for replace this unassigns (RFC 7644 §3.5.2.3);
        // for add there is nothing to add.
        if kind == OpKind::Replace {
            if attr.required {
                return Err(ScimError::invalid_value(format!("'{shown}' is required and cannot be emptied")));
            }
            c.remove(name);
        }
        return Ok(());
    };
    if attr.mutability == Mutability::Immutable
        && let Some(old) = c.get(name)
        && *old != new
        && !(attr.multi_valued && kind == OpKind::Add)
    {
        return Err(ScimError::mutability(format!("'{shown}' is immutable and already has a value")));
    }
    if attr.multi_valued {
        let Value::Array(new_items) = new else {
            return Ok(());
        };
        match (kind, c.get_mut(name)) {
            (OpKind::Add, Some(Value::Array(items))) => {
                // An added element replaces the first one it is the same as, or
                // is appended; the map from identity to first index keeps this linear.
                let by_value = identified_by_value(attr);
                let mut first_index: HashMap<String, usize> = HashMap::with_capacity(items.len() + new_items.len());
                for (i, old) in items.iter().enumerate() {
                    first_index.entry(element_key(by_value, old)).or_insert(i);
                }
                let mut written = Vec::with_capacity(new_items.len());
                for item in new_items {
                    match first_index.entry(element_key(by_value, &item)) {
                        Entry::Occupied(slot) => {
                            let i = *slot.get();
                            // The replacement has the same identity, so the map stays right.
                            if let Some(old) = items.get_mut(i) {
                                *old = item;
                            }
                            written.push(i);
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(items.len());
                            written.push(items.len());
                            items.push(item);
                        }
                    }
                }
                limit.check(shown, items.len())?;
                settle_primary(attr, items, &written, shown)?;
            }
            _ => {
                c.insert(name.to_string(), Value::Array(new_items));
            }
        }
        return Ok(());
    }
    match (attr.is_complex(), c.get_mut(name), new) {
        // A complex value merges into the existing one (RFC 7644 §3.5.2.1, §3.5.2.3).
        (true, Some(Value::Object(old)), Value::Object(fields)) => {
            for (k, v) in fields {
                old.insert(k, v);
            }
        }
        (_, _, new) => {
            c.insert(name.to_string(), new);
        }
    }
    Ok(())
}

pub(super) fn remove_attr(
    doc: &mut Value,
    attr: &Attribute,
    ext: Option<&str>,
    value: Option<&Value>,
    shown: &str,
    limit: ValueLimit,
) -> Result<()> {
    let name = attr.name.as_str();
    if attr.required {
        return Err(ScimError::invalid_value(format!("'{shown}' is required and cannot be removed")));
    }
    let Some(c) = container(doc, ext, false) else {
        return Ok(());
    };
    match (attr.multi_valued, value) {
        // Entra's member removal: `remove members` with a value list removes only those.
        (true, Some(v)) if !v.is_null() => {
            limit.check(shown, raw_count(v))?;
            let listed = coerce(attr, v, shown)?;
            let listed = match &listed {
                Some(Value::Array(items)) => items.as_slice(),
                _ => &[],
            };
            let by_value = identified_by_value(attr);
            let same: HashSet<String> = listed.iter().map(|l| element_key(by_value, l)).collect();
            // A listed `{ "value": x }` alone removes every element whose `value` is x.
            let bare_values: HashSet<String> = listed
                .iter()
                .filter_map(Value::as_object)
                .filter(|o| o.len() == 1)
                .filter_map(|o| o.get("value"))
                .map(equality_key)
                .collect();
            if let Some(Value::Array(items)) = c.get_mut(name) {
                items.retain(|old| {
                    !same.contains(&element_key(by_value, old))
                        && !old.get("value").is_some_and(|v| bare_values.contains(&equality_key(v)))
                });
            }
            prune(c, name);
        }
        _ => {
            c.remove(name);
        }
    }
    prune_ext(doc, ext);
    Ok(())
}
