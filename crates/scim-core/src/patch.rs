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
//! - a value-path `replace`/`add` whose filter matches nothing adds an element
//!   built from the filter's `eq` terms (Entra's `emails[type eq "work"].value`);
//! - re-adding an existing member does not duplicate it; booleans as strings
//!   and a bare-string manager are coerced in [`crate::resource::coerce`].

use crate::error::{Result, ScimError};
use crate::filter::eval::{get_ci, matches_element};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::{AttrPath, PatchPath, split_attr_path};
use crate::resource::{check_one_primary, check_required, coerce, coerce_single, set_schemas};
use crate::schema::{Attribute, Mutability, ResourceType};
use serde_json::{Map, Value};

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
pub fn parse(body: &Value) -> Result<Vec<PatchOp>> {
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
pub fn apply(resource: &Value, ops: &[PatchOp], rt: &ResourceType) -> Result<Value> {
    let mut doc = resource.clone();
    if !doc.is_object() {
        return Err(ScimError::invalid_syntax("the resource is not an object"));
    }
    for op in ops {
        apply_op(&mut doc, op, rt)?;
    }
    check_required(&doc, rt)?;
    set_schemas(&mut doc, rt);
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

fn apply_op(doc: &mut Value, op: &PatchOp, rt: &ResourceType) -> Result<()> {
    if let Some(ext) = op.path.as_ref().and_then(|p| whole_extension(p, rt)) {
        return match (op.kind, &op.value) {
            (OpKind::Remove, _) => {
                if let Some(o) = doc.as_object_mut() {
                    o.remove(ext);
                }
                Ok(())
            }
            (kind, Some(value)) => apply_pathless_key(doc, kind, ext, value, rt),
            (_, None) => Err(ScimError::invalid_value(format!("'{ext}' needs a value"))),
        };
    }
    match (&op.path, op.kind) {
        (Some(path), _) => apply_path(doc, op.kind, path, op.value.as_ref(), rt, false),
        (None, OpKind::Remove) => Err(ScimError::no_target("'remove' needs a 'path'")),
        (None, kind) => {
            let Some(Value::Object(fields)) = &op.value else {
                return Err(ScimError::invalid_value(format!(
                    "'{}' without a 'path' needs an object 'value'",
                    if kind == OpKind::Add { "add" } else { "replace" }
                )));
            };
            for (key, value) in fields {
                apply_pathless_key(doc, kind, key, value, rt)?;
            }
            Ok(())
        }
    }
}

fn apply_pathless_key(doc: &mut Value, kind: OpKind, key: &str, value: &Value, rt: &ResourceType) -> Result<()> {
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
            apply_path(doc, kind, &path, Some(v), rt, true)?;
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
    apply_path(doc, kind, &path, Some(value), rt, true)
}

/// Identity of an element of a multi-valued attribute: an immutable `value`
/// (a group member) identifies it; otherwise the whole element does.
fn same_element(attr: &Attribute, a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match attr.sub("value") {
        Some(v) if v.mutability == Mutability::Immutable => {
            a.get("value").is_some() && a.get("value") == b.get("value")
        }
        _ => false,
    }
}

/// When a written element is primary, the others stop being primary (RFC 7643 §2.4).
fn settle_primary(attr: &Attribute, items: &mut [Value], written: &[usize], path: &str) -> Result<()> {
    if attr.sub("primary").is_none() {
        return Ok(());
    }
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let new_primaries: Vec<usize> = written.iter().copied().filter(|&i| is_primary(&items[i])).collect();
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
        (OpKind::Remove, None) => remove_attr(doc, attr, ext, value, &shown),
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
            let new = coerce(attr, value, &shown)?;
            let c = container(doc, ext, true).ok_or_else(|| ScimError::invalid_syntax("resource is not an object"))?;
            set_attr(c, kind, attr, new, &shown)?;
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

fn set_attr(c: &mut Map<String, Value>, kind: OpKind, attr: &Attribute, new: Option<Value>, shown: &str) -> Result<()> {
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
                let mut written = Vec::new();
                for item in new_items {
                    match items.iter().position(|old| same_element(attr, old, &item)) {
                        Some(i) => {
                            items[i] = item;
                            written.push(i);
                        }
                        None => {
                            items.push(item);
                            written.push(items.len() - 1);
                        }
                    }
                }
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

fn remove_attr(doc: &mut Value, attr: &Attribute, ext: Option<&str>, value: Option<&Value>, shown: &str) -> Result<()> {
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
            let listed = coerce(attr, v, shown)?.unwrap_or(Value::Array(Vec::new()));
            let listed = listed.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = c.get_mut(name) {
                items.retain(|old| !listed.iter().any(|l| same_element(attr, old, l) || value_matches(old, l)));
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

/// A listed `{ "value": x }` removes the element whose `value` is x.
fn value_matches(element: &Value, listed: &Value) -> bool {
    match (element.get("value"), listed.get("value")) {
        (Some(a), Some(b)) => listed.as_object().is_some_and(|o| o.len() == 1) && a == b,
        _ => false,
    }
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
    let hits: Vec<usize> = (0..items.len()).filter(|&i| matches_element(filter, &items[i], attr)).collect();
    let result = (|| -> Result<()> {
        match kind {
            OpKind::Remove => {
                if let Some(sub) = sub {
                    if sub.mutability == Mutability::Immutable {
                        return Err(ScimError::mutability(format!("'{shown}' is immutable")));
                    }
                    for &i in &hits {
                        if let Some(o) = items[i].as_object_mut() {
                            o.remove(&sub.name);
                        }
                    }
                } else {
                    let mut i = 0;
                    items.retain(|_| {
                        i += 1;
                        !hits.contains(&(i - 1))
                    });
                }
                Ok(())
            }
            OpKind::Add | OpKind::Replace => {
                let value = value.ok_or_else(|| ScimError::invalid_value(format!("'{shown}' needs a value")))?;
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
                            if let Some(o) = items[i].as_object_mut() {
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
                                match (kind, items[i].as_object_mut(), &new) {
                                    (OpKind::Add, Some(o), Value::Object(fields)) => o.extend(fields.clone()),
                                    _ => items[i] = new.clone(),
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
pub fn split_members(ops: &[PatchOp], rt: &ResourceType) -> Result<(Vec<PatchOp>, Vec<MemberChange>)> {
    let Some(members) = rt.core.attribute("members") else {
        return Ok((ops.to_vec(), Vec::new()));
    };
    let is_members =
        |p: &AttrPath| p.name.eq_ignore_ascii_case("members") && p.urn.as_deref().is_none_or(|u| rt.is_core_urn(u));
    let values = |v: Option<&Value>, shown: &str| -> Result<Vec<Value>> {
        let raw: Vec<&Value> = match v {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(one) => vec![one],
        };
        if raw.iter().any(|m| get_ci(m, "value").is_none_or(|v| !v.is_string())) {
            return Err(ScimError::invalid_value(format!("every value of '{shown}' needs a 'value': the member's id")));
        }
        Ok(match v {
            Some(v) => match coerce(members, v, shown)? {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            None => Vec::new(),
        })
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
                            Some(ids) => MemberChange::Remove(ids),
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
