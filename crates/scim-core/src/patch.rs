//! PATCH (RFC 7644 §3.5.2) as a pure function: `apply(resource, ops)` returns
//! the new resource or an error, never a half-patched one.
//!
//! Identity-provider forms are named normalisation steps (see
//! `shared/idp-requests.md`):
//! - [`parse`]: `op` in any case (`Replace`, Entra);
//! - [`apply`] on a path-less value object: dotted (`name.givenName`) and
//!   URN-qualified keys (Entra `aadOptscim062020`), and a repeated read-only
//!   `id` equal to the current one (Okta's group rename);
//! - `remove` on a multi-valued attribute with a value list removes only the
//!   listed values (Entra's member removal);
//! - a value-path `add` whose filter matches nothing adds an element built
//!   from the filter's `eq` terms; a `replace` does so only in Entra's form, a
//!   filter that is exactly `type eq` one of the attribute's canonical types,
//!   followed by a sub-attribute (`emails[type eq "work"].value`). Any other
//!   unmatched `replace` is `noTarget` (RFC 7644 §3.5.2.3);
//! - an unquoted filter value is a string (`emails[type eq work].value`, a
//!   Keycloak SCIM client), in [`crate::filter::parser`];
//! - re-adding an existing member does not duplicate it; booleans as strings
//!   and a bare-string manager are coerced in [`crate::resource::coerce`].

use crate::error::{Result, ScimError};
use crate::filter::eval::{get_ci, matches_element};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::limits::{self, Limits, ValueLimit, raw_count};
use crate::path::{AttrPath, PatchPath, split_attr_path};
use crate::resource::{
    check_one_primary, check_required, check_storable, coerce, coerce_single, equality_key, set_schemas, value_limit,
    write_equality_key,
};
use crate::schema::{Attribute, Mutability, ResourceType};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatchOp {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parse a PatchOp request body. Keys and `op` names are matched ignoring case.
/// More operations than `limits.max_patch_operations` are refused (413)
/// before any of them is read.
pub fn parse(body: &Value, limits: &Limits) -> Result<Vec<PatchOp>> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
    };
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_SCHEMA))));
        if !ok {
            return Err(ScimError::invalid_syntax(format!("a PATCH body's 'schemas' must contain '{PATCH_SCHEMA}'")));
        }
    }
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an 'Operations' array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' is empty"));
    }
    limits.check_patch_operations(ops.len())?;
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let n = i + 1;
            let name = get_ci(op, "op").and_then(Value::as_str).ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {n} has no 'op' (add, remove or replace)"))
            })?;
            let kind = match name.to_ascii_lowercase().as_str() {
                "add" => OpKind::Add,
                "remove" => OpKind::Remove,
                "replace" => OpKind::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n}: '{name}' is not a PATCH op (add, remove or replace)"
                    )));
                }
            };
            let path = match get_ci(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p)?),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!("operation {n}: 'path' must be a string")));
                }
            };
            let value = get_ci(op, "value").cloned();
            if kind != OpKind::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!("operation {n} ({name}) needs a 'value'")));
            }
            Ok(PatchOp { kind, path, value })
        })
        .collect()
}

/// Apply every operation, in order, to a copy of `resource`. Either all
/// succeed and the new resource is returned, or the first failure is.
///
/// The result is held to what `resource::prepare` accepts: no multi-valued
/// attribute over its limit in `limits` (413; checked after each operation
/// that adds values, so the work stays bounded), no blank `userName`, no
/// over-long indexed string and no NUL character (400 invalidValue).
pub fn apply(resource: &Value, ops: &[PatchOp], rt: &ResourceType, limits: &Limits) -> Result<Value> {
    let mut doc = resource.clone();
    if !doc.is_object() {
        return Err(ScimError::invalid_syntax("the resource is not an object"));
    }
    for op in ops {
        apply_op(&mut doc, op, rt, limits)?;
    }
    check_required(&doc, rt)?;
    set_schemas(&mut doc, rt);
    check_storable(&doc, rt, limits)?;
    Ok(doc)
}

/// A path that names a whole extension (`urn:…:enterprise:2.0:User`) rather than an attribute.
fn whole_extension<'a>(path: &PatchPath, rt: &'a ResourceType) -> Option<&'a str> {
    if path.filter.is_some() || path.attr.sub.is_some() {
        return None;
    }
    let urn = path.attr.urn.as_deref()?;
    rt.extension(&format!("{urn}:{}", path.attr.name)).map(|s| s.id.as_str())
}

fn apply_op(doc: &mut Value, op: &PatchOp, rt: &ResourceType, limits: &Limits) -> Result<()> {
    if let Some(ext) = op.path.as_ref().and_then(|p| whole_extension(p, rt)) {
        return match (op.kind, &op.value) {
            (OpKind::Remove, _) => {
                if let Some(o) = doc.as_object_mut() {
                    o.remove(ext);
                }
                Ok(())
            }
            (kind, Some(value)) => apply_pathless_key(doc, kind, ext, value, rt, limits),
            (_, None) => Err(ScimError::invalid_value(format!("'{ext}' needs a value"))),
        };
    }
    match (&op.path, op.kind) {
        (Some(path), _) => apply_path(doc, op.kind, path, op.value.as_ref(), rt, limits, false),
        (None, OpKind::Remove) => Err(ScimError::no_target("'remove' needs a 'path'")),
        (None, kind) => {
            let Some(Value::Object(fields)) = &op.value else {
                return Err(ScimError::invalid_value(format!(
                    "'{}' without a 'path' needs an object 'value'",
                    if kind == OpKind::Add { "add" } else { "replace" }
                )));
            };
            for (key, value) in fields {
                apply_pathless_key(doc, kind, key, value, rt, limits)?;
            }
            Ok(())
        }
    }
}

fn apply_pathless_key(
    doc: &mut Value,
    kind: OpKind,
    key: &str,
    value: &Value,
    rt: &ResourceType,
    limits: &Limits,
) -> Result<()> {
    if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
        return Ok(());
    }
    if let Some(ext) = rt.extension(key) {
        let ext_id = ext.id.clone();
        let Value::Object(inner) = value else {
            return Err(ScimError::invalid_value(format!("'{ext_id}' must be an object")));
        };
        for (k, v) in inner {
            if ext.attribute(k).is_none() {
                continue; // e.g. a "schemas" key inside the extension object: tolerated
            }
            let attr = AttrPath { urn: Some(ext_id.clone()), ..AttrPath::new(k) };
            let path = PatchPath { attr, filter: None, sub_after_filter: None };
            apply_path(doc, kind, &path, Some(v), rt, limits, true)?;
        }
        return Ok(());
    }
    let Some(attr) = split_attr_path(key) else {
        return Ok(()); // not an attribute name at all: tolerated, like unknown attributes
    };
    if rt.resolve(attr.urn.as_deref(), &attr.name).is_none() {
        return Ok(()); // unknown attribute in a value object: tolerated
    }
    let path = PatchPath { attr, filter: None, sub_after_filter: None };
    apply_path(doc, kind, &path, Some(value), rt, limits, true)
}

/// Is an element of `attr` identified by its `value`? When `value` is
/// immutable (a group member), yes; otherwise the whole element is its identity.
fn identified_by_value(attr: &Attribute) -> bool {
    attr.sub("value").is_some_and(|v| v.mutability == Mutability::Immutable)
}

/// The identity of an element as a hash key: two elements are the same one
/// exactly when they are equal, or when both have a `value` and
/// `identified_by_value` and their values are equal.
fn element_key(identified_by_value: bool, element: &Value) -> String {
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
fn settle_primary(attr: &Attribute, items: &mut [Value], written: &[usize], path: &str) -> Result<()> {
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
fn container<'d>(doc: &'d mut Value, ext: Option<&str>, create: bool) -> Option<&'d mut Map<String, Value>> {
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

fn apply_path(
    doc: &mut Value,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    rt: &ResourceType,
    limits: &Limits,
    from_value_object: bool,
) -> Result<()> {
    let resolved = rt
        .resolve(path.attr.urn.as_deref(), &path.attr.name)
        .ok_or_else(|| ScimError::invalid_path(format!("'{}' is not an attribute of a {}", path.attr, rt.name)))?;
    let attr = resolved.attr;
    let ext = resolved.extension;
    let name = attr.name.as_str();
    let sub_name = path.attr.sub.as_deref().or(path.sub_after_filter.as_deref());
    let sub = match sub_name {
        Some(s) => {
            Some(attr.sub(s).ok_or_else(|| ScimError::invalid_path(format!("'{name}' has no sub-attribute '{s}'")))?)
        }
        None => None,
    };
    let shown = path.to_string();
    let limit = value_limit(limits, rt, ext, attr);

    if attr.mutability == Mutability::WriteOnly {
        // Passwords are checked but never stored (see resource::prepare).
        if let Some(v) = value {
            coerce(attr, v, &shown)?;
        }
        return Ok(());
    }
    if attr.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        // Okta's group rename repeats the unchanged `id`: harmless, so accepted.
        let current = container(doc, ext, false).and_then(|c| c.get(name)).cloned();
        if from_value_object && kind != OpKind::Remove && value.is_some() && current.as_ref() == value {
            return Ok(());
        }
        if from_value_object && current.is_none() && name != "id" {
            return Ok(()); // read-only values a client echoes back (e.g. `groups`) are ignored
        }
        return Err(ScimError::mutability(format!("'{shown}' is read-only")));
    }

    if let Some(filter) = &path.filter {
        if !attr.is_complex() || !attr.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "'{shown}': a value filter applies only to a multi-valued complex attribute"
            )));
        }
        crate::filter::eval::validate_inner_public(filter, attr).map_err(|e| ScimError::invalid_path(e.detail))?;
        return apply_value_path(doc, kind, attr, ext, filter, sub, value, &shown);
    }

    match (kind, sub) {
        (OpKind::Remove, None) => remove_attr(doc, attr, ext, value, &shown, limit),
        (OpKind::Remove, Some(sub)) => {
            if sub.mutability == Mutability::Immutable {
                return Err(ScimError::mutability(format!("'{shown}' is immutable")));
            }
            let Some(c) = container(doc, ext, false) else {
                return Ok(());
            };
            if let Some(current) = c.get_mut(name) {
                for el in elements_mut(current) {
                    if let Some(o) = el.as_object_mut() {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(&sub.name));
                    }
                }
                prune(c, name);
            }
            prune_ext(doc, ext);
            Ok(())
        }
        (_, None) => {
            let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{shown}' needs a value")))?;
            if attr.multi_valued {
                limit.check(&shown, raw_count(value))?;
            }
            let new = coerce(attr, value, &shown)?;
            let c = container(doc, ext, true).ok_or_else(|| ScimError::invalid_syntax("resource is not an object"))?;
            set_attr(c, kind, attr, new, &shown, limit)?;
            prune_ext(doc, ext);
            Ok(())
        }
        (_, Some(sub)) => {
            let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{shown}' needs a value")))?;
            let new = coerce_single(sub, value, &shown)?;
            let c = container(doc, ext, true).ok_or_else(|| ScimError::invalid_syntax("resource is not an object"))?;
            let current = c.entry(name.to_string()).or_insert_with(|| {
                if attr.multi_valued {
                    Value::Array(vec![Value::Object(Map::new())])
                } else {
                    Value::Object(Map::new())
                }
            });
            if let Value::Array(items) = current
                && items.is_empty()
            {
                items.push(Value::Object(Map::new()));
            }
            for el in elements_mut(current) {
                if let Some(o) = el.as_object_mut() {
                    if sub.mutability == Mutability::Immutable
                        && o.get(&sub.name).is_some_and(|old| Some(old) != new.as_ref())
                    {
                        return Err(ScimError::mutability(format!("'{shown}' is immutable")));
                    }
                    match &new {
                        Some(v) => o.insert(sub.name.clone(), v.clone()),
                        None => o.remove(&sub.name),
                    };
                }
            }
            if let Value::Array(items) = current {
                let all: Vec<usize> = (0..items.len()).collect();
                settle_primary(attr, items, &all, &shown)?;
            }
            prune(c, name);
            prune_ext(doc, ext);
            Ok(())
        }
    }
}

fn elements_mut(v: &mut Value) -> Vec<&mut Value> {
    match v {
        Value::Array(items) => items.iter_mut().collect(),
        other => vec![other],
    }
}

/// Remove an attribute that became empty.
fn prune(c: &mut Map<String, Value>, name: &str) {
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

fn prune_ext(doc: &mut Value, ext: Option<&str>) {
    if let (Some(urn), Some(root)) = (ext, doc.as_object_mut()) {
        prune(root, urn);
    }
}

fn set_attr(
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

fn remove_attr(
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

/// Entra's `emails[type eq "work"].value`: a filter that is exactly `type eq`
/// one of the canonical values of the attribute's `type` (compared as its
/// `caseExact` says). An unmatched `replace` may create the element only then.
fn is_canonical_type_filter(filter: &Filter, attr: &Attribute) -> bool {
    let Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(wanted) } = filter else {
        return false;
    };
    if path.urn.is_some() || path.sub.is_some() || !path.name.eq_ignore_ascii_case("type") {
        return false;
    }
    let Some(type_attr) = attr.sub("type") else {
        return false;
    };
    let wanted_lower = wanted.to_lowercase();
    type_attr
        .canonical_values
        .iter()
        .any(|c| if type_attr.case_exact { c == wanted } else { c.to_lowercase() == wanted_lower })
}

/// The element an unmatched `attr[a eq x and b eq y].sub` write creates: `{a: x, b: y}`.
/// `None` when the filter is not a conjunction of `eq` terms.
fn element_from_filter(filter: &Filter, parent: &Attribute, out: &mut Map<String, Value>) -> Option<()> {
    match filter {
        Filter::And(a, b) => {
            element_from_filter(a, parent, out)?;
            element_from_filter(b, parent, out)
        }
        Filter::Compare { path, op: CompareOp::Eq, value } if path.urn.is_none() && path.sub.is_none() => {
            let sub = parent.sub(&path.name)?;
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Null => return None,
            };
            // The new element must be valid like any other value (found by fuzzing:
            // `x509Certificates[value eq 5]` would otherwise store a number).
            let v = crate::resource::coerce_single(sub, &v, &sub.name).ok()??;
            out.insert(sub.name.clone(), v);
            Some(())
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_value_path(
    doc: &mut Value,
    kind: OpKind,
    attr: &Attribute,
    ext: Option<&str>,
    filter: &Filter,
    sub: Option<&Attribute>,
    value: Option<&Value>,
    shown: &str,
) -> Result<()> {
    let name = attr.name.as_str();
    let create = kind != OpKind::Remove;
    let Some(c) = container(doc, ext, create) else {
        return Ok(());
    };
    let mut items = match c.remove(name) {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let is_hit: Vec<bool> = items.iter().map(|el| matches_element(filter, el, attr)).collect();
    let hits: Vec<usize> = is_hit.iter().enumerate().filter(|(_, hit)| **hit).map(|(i, _)| i).collect();
    let result = (|| -> Result<()> {
        match kind {
            OpKind::Remove => {
                if let Some(sub) = sub {
                    if sub.mutability == Mutability::Immutable {
                        return Err(ScimError::mutability(format!("'{shown}' is immutable")));
                    }
                    for &i in &hits {
                        if let Some(o) = items.get_mut(i).and_then(Value::as_object_mut) {
                            o.remove(&sub.name);
                        }
                    }
                } else {
                    let mut hit = is_hit.iter();
                    items.retain(|_| !hit.next().copied().unwrap_or(false));
                }
                Ok(())
            }
            OpKind::Add | OpKind::Replace => {
                let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{shown}' needs a value")))?;
                // RFC 7644 §3.5.2.3: a replace whose filter matches nothing is noTarget,
                // except Entra's form, which creates the element it names.
                if hits.is_empty()
                    && kind == OpKind::Replace
                    && !(sub.is_some() && is_canonical_type_filter(filter, attr))
                {
                    return Err(ScimError::no_target(format!("no value of '{name}' matches '{shown}'")));
                }
                let mut written = hits.clone();
                match sub {
                    Some(sub) => {
                        let new = coerce_single(sub, value, shown)?;
                        if hits.is_empty() {
                            let mut el = Map::new();
                            element_from_filter(filter, attr, &mut el).ok_or_else(|| {
                                ScimError::no_target(format!("no value of '{name}' matches '{shown}'"))
                            })?;
                            items.push(Value::Object(el));
                            written.push(items.len() - 1);
                        }
                        for &i in &written {
                            if let Some(o) = items.get_mut(i).and_then(Value::as_object_mut) {
                                if sub.mutability == Mutability::Immutable
                                    && o.get(&sub.name).is_some_and(|old| Some(old) != new.as_ref())
                                {
                                    return Err(ScimError::mutability(format!("'{shown}' is immutable")));
                                }
                                match &new {
                                    Some(v) => o.insert(sub.name.clone(), v.clone()),
                                    None => o.remove(&sub.name),
                                };
                            }
                        }
                    }
                    None => {
                        let new = coerce_single(attr, value, shown)?.unwrap_or(Value::Object(Map::new()));
                        if hits.is_empty() {
                            let mut el = Map::new();
                            element_from_filter(filter, attr, &mut el).ok_or_else(|| {
                                ScimError::no_target(format!("no value of '{name}' matches '{shown}'"))
                            })?;
                            if let Value::Object(fields) = &new {
                                el.extend(fields.clone());
                            }
                            items.push(Value::Object(el));
                            written.push(items.len() - 1);
                        } else {
                            for &i in &hits {
                                let Some(item) = items.get_mut(i) else { continue };
                                match (kind, item.as_object_mut(), &new) {
                                    (OpKind::Add, Some(o), Value::Object(fields)) => o.extend(fields.clone()),
                                    _ => *item = new.clone(),
                                }
                            }
                        }
                    }
                }
                settle_primary(attr, &mut items, &written, shown)
            }
        }
    })();
    items.retain(|v| v.as_object().is_none_or(|o| !o.is_empty()));
    if !items.is_empty() {
        c.insert(name.to_string(), Value::Array(items));
    }
    result?;
    prune_ext(doc, ext);
    Ok(())
}

/// A membership change a PATCH of a group asks for, so a store can write rows
/// instead of rewriting the member list.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberChange {
    Add(Vec<Value>),
    Remove(Vec<String>),
    RemoveWhere(Filter),
    RemoveAll,
    Replace(Vec<Value>),
}

/// Split a group PATCH into operations on the group document and changes to
/// `members`, in order. Member values come out coerced (`{value, type, $ref}`).
///
/// More member values over all operations than `limits.max_members` are
/// refused (413) before any is read; a member value longer than
/// [`limits::MAX_INDEXED_BYTES`] or a NUL character in a member is 400 invalidValue.
pub fn split_members(ops: &[PatchOp], rt: &ResourceType, limits: &Limits) -> Result<(Vec<PatchOp>, Vec<MemberChange>)> {
    let Some(members) = rt.core.attribute("members") else {
        return Ok((ops.to_vec(), Vec::new()));
    };
    let is_members =
        |p: &AttrPath| p.name.eq_ignore_ascii_case("members") && p.urn.as_deref().is_none_or(|u| rt.is_core_urn(u));
    let carried: usize = ops.iter().map(|op| member_values_carried(op, &is_members)).fold(0, usize::saturating_add);
    limits.check_members_in_request(carried)?;
    let values = |v: Option<&Value>, shown: &str| -> Result<Vec<Value>> {
        let raw: Vec<&Value> = match v {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(one) => vec![one],
        };
        if raw.iter().any(|m| get_ci(m, "value").is_none_or(|v| !v.is_string())) {
            return Err(ScimError::invalid_value(format!("every value of '{shown}' needs a 'value': the member's id")));
        }
        let coerced = match v {
            Some(v) => match coerce(members, v, shown)? {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        for member in &coerced {
            check_member(member)?;
        }
        Ok(coerced)
    };
    let mut doc_ops = Vec::new();
    let mut changes = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) if is_members(&path.attr) => {
                let shown = path.to_string();
                if path.attr.sub.is_some() || path.sub_after_filter.is_some() {
                    return Err(ScimError::mutability(format!(
                        "'{shown}': a member's value, type and $ref are immutable; remove and add the member instead"
                    )));
                }
                match (op.kind, &path.filter) {
                    (OpKind::Remove, Some(filter)) => {
                        crate::filter::eval::validate_inner_public(filter, members)
                            .map_err(|e| ScimError::invalid_path(e.detail))?;
                        changes.push(match member_ids_of(filter) {
                            Some(ids) => {
                                for id in &ids {
                                    limits::check_indexed_len("members.value", id)?;
                                }
                                MemberChange::Remove(ids)
                            }
                            None => MemberChange::RemoveWhere(filter.clone()),
                        });
                    }
                    (OpKind::Remove, None) => match &op.value {
                        Some(v) if !v.is_null() => {
                            let ids = values(Some(v), &shown)?
                                .iter()
                                .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_string))
                                .collect();
                            changes.push(MemberChange::Remove(ids));
                        }
                        _ => changes.push(MemberChange::RemoveAll),
                    },
                    (OpKind::Add, None) => changes.push(MemberChange::Add(values(op.value.as_ref(), &shown)?)),
                    (OpKind::Replace, None) => changes.push(MemberChange::Replace(values(op.value.as_ref(), &shown)?)),
                    (_, Some(_)) => {
                        return Err(ScimError::mutability(format!(
                            "'{shown}': members cannot be changed in place; remove and add them instead"
                        )));
                    }
                }
            }
            None if op.kind != OpKind::Remove => {
                let Some(Value::Object(fields)) = &op.value else {
                    doc_ops.push(op.clone());
                    continue;
                };
                let mut rest = Map::new();
                for (k, v) in fields {
                    if split_attr_path(k).is_some_and(|p| is_members(&p)) {
                        let vals = values(Some(v), "members")?;
                        changes.push(if op.kind == OpKind::Add {
                            MemberChange::Add(vals)
                        } else {
                            MemberChange::Replace(vals)
                        });
                    } else {
                        rest.insert(k.clone(), v.clone());
                    }
                }
                if !rest.is_empty() {
                    doc_ops.push(PatchOp { kind: op.kind, path: None, value: Some(Value::Object(rest)) });
                }
            }
            _ => doc_ops.push(op.clone()),
        }
    }
    // Adding a member without a value is meaningless.
    for change in &changes {
        if let MemberChange::Add(v) | MemberChange::Replace(v) = change
            && v.iter().any(|m| m.get("value").and_then(Value::as_str).is_none())
        {
            return Err(ScimError::invalid_value("every member needs a 'value' (the member's id)"));
        }
    }
    Ok((doc_ops, changes))
}

/// What a database cannot store in a member: an over-long `value` (it is
/// indexed) or a NUL character anywhere. Named as in a stored group, whatever
/// path the operation used.
fn check_member(member: &Value) -> Result<()> {
    if let Some(Value::String(id)) = member.get("value") {
        limits::check_indexed_len("members.value", id)?;
    }
    limits::check_no_nul(member, "members")
}

/// How many member values one operation carries, counted before any is read:
/// the values of an add, replace or remove of `members` (with a path or in a
/// path-less value object) and the ids a removal filter lists.
fn member_values_carried(op: &PatchOp, is_members: &dyn Fn(&AttrPath) -> bool) -> usize {
    match &op.path {
        Some(path) if is_members(&path.attr) => match (&path.filter, &op.value) {
            (Some(filter), _) => member_ids_of(filter).map_or(0, |ids| ids.len()),
            (None, Some(v)) => raw_count(v),
            (None, None) => 0,
        },
        None if op.kind != OpKind::Remove => match &op.value {
            Some(Value::Object(fields)) => fields
                .iter()
                .filter(|(k, _)| split_attr_path(k).is_some_and(|p| is_members(&p)))
                .map(|(_, v)| raw_count(v))
                .fold(0, usize::saturating_add),
            _ => 0,
        },
        _ => 0,
    }
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, when that is all the filter says.
fn member_ids_of(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(s) }
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids_of(a)?;
            ids.extend(member_ids_of(b)?);
            Some(ids)
        }
        _ => None,
    }
}
