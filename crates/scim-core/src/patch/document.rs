//! [`apply`]: the operations applied in order to a copy of the resource, each
//! dispatched by its path (none, a whole extension, an attribute, a
//! sub-attribute or a value filter).

use super::attribute::{remove_attr, set_attr};
use super::elements::{container, elements_mut, prune, prune_ext, settle_primary};
use super::value_path::apply_value_path;
use super::{OpKind, PatchOp};
use crate::error::{Result, ScimError};
use crate::limits::{Limits, raw_count};
use crate::path::{AttrPath, PatchPath, split_attr_path};
use crate::resource::{check_required, check_storable, coerce, coerce_single, set_schemas, value_limit};
use crate::schema::{Mutability, ResourceType};
use serde_json::{Map, Value};

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
