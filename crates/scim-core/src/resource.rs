//! Validation of a client-sent resource for create and replace (RFC 7643 §2,
//! RFC 7644 §3.3, §3.5.1): canonical attribute names, value types, required
//! attributes, read-only and immutable rules. What identity providers send
//! that is harmless (unknown attributes, `null`s, `meta`, `groups: []`,
//! unknown schema URNs) is dropped, never refused.

use crate::datetime;
use crate::error::{Result, ScimError};
use crate::schema::{AttrType, Attribute, Mutability, ResourceType};
use serde_json::{Map, Value};

/// Coerce one value of `attr` to its schema type. `Ok(None)` means
/// "unassigned" (null, empty array, empty object).
///
/// Normalisations applied here, each one a documented IdP form:
/// - booleans sent as strings `"True"`/`"False"` (Entra without `aadOptscim062020`);
/// - a single value where a multi-valued attribute is expected is wrapped in an array;
/// - a bare string for a complex attribute with a `value` sub-attribute becomes
///   `{"value": …}` (Entra's `manager` PATCH).
pub fn coerce(attr: &Attribute, value: &Value, path: &str) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(attr, item, path)?
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        check_one_primary(attr, &out, path)?;
        return Ok(Some(Value::Array(out)));
    }
    if let Value::Array(items) = value {
        // A one-element array for a single-valued attribute is a common client slip.
        return match items.as_slice() {
            [] => Ok(None),
            [one] => coerce_single(attr, one, path),
            _ => Err(ScimError::invalid_value(format!("'{path}' is single-valued but an array was given"))),
        };
    }
    coerce_single(attr, value, path)
}

/// RFC 7643 §2.4: the primary value `true` appears no more than once.
pub fn check_one_primary(attr: &Attribute, items: &[Value], path: &str) -> Result<()> {
    if attr.sub("primary").is_some() {
        let primaries = items.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!("only one value of '{path}' may be primary")));
        }
    }
    Ok(())
}

fn kind_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a decimal number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an xsd:dateTime string",
        AttrType::Reference => "a reference (string)",
        AttrType::Binary => "base64 binary (string)",
        AttrType::Complex => "an object",
    }
}

pub fn coerce_single(attr: &Attribute, value: &Value, path: &str) -> Result<Option<Value>> {
    let wrong = || {
        Err(ScimError::invalid_value(format!(
            "'{path}' must be {}, not {}",
            kind_name(attr.kind),
            serde_json::to_string(value).unwrap_or_default().chars().take(60).collect::<String>()
        )))
    };
    match (attr.kind, value) {
        (_, Value::Null) => Ok(None),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => Ok(Some(value.clone())),
        (AttrType::Boolean, Value::Bool(_)) => Ok(Some(value.clone())),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
        (AttrType::Decimal, Value::Number(_)) => Ok(Some(value.clone())),
        (AttrType::DateTime, Value::String(s)) if datetime::parse(s).is_some() => Ok(Some(value.clone())),
        (AttrType::Complex, Value::Object(obj)) => {
            let mut out = Map::new();
            for (key, v) in obj {
                let Some(sub) = attr.sub(key) else { continue };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = coerce_single(sub, v, &format!("{path}.{}", sub.name))? {
                    out.insert(sub.name.clone(), v);
                }
            }
            Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
        }
        (AttrType::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_)) if attr.sub("value").is_some() => {
            coerce_single(attr, &serde_json::json!({ "value": value }), path)
        }
        _ => wrong(),
    }
}

/// Is `name` one of the resource type's extension URNs? Returns its canonical id.
fn extension_id<'a>(rt: &'a ResourceType, key: &str) -> Option<&'a str> {
    rt.extension(key).map(|s| s.id.as_str())
}

/// Prepare a client-sent resource (POST, or PUT over `existing`) for storage.
/// The result has canonical attribute names, coerced values, extension
/// objects keyed by their canonical URN, and no read-only attributes; `id`,
/// `meta` and `schemas` are the server's to set.
pub fn prepare(input: &Value, rt: &ResourceType, existing: Option<&Value>) -> Result<Value> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = extension_id(rt, key) {
            let Some(inner) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!("'{ext}' must be an object")));
            };
            let mut ext_out = Map::new();
            for (k, v) in inner {
                if let Some(r) = rt.resolve(Some(ext), k)
                    && let Some(v) = prepare_attr(r.attr, v, &format!("{ext}:{}", r.attr.name))?
                {
                    ext_out.insert(r.attr.name.clone(), v);
                }
            }
            if !ext_out.is_empty() {
                out.insert(ext.to_string(), Value::Object(ext_out));
            }
            continue;
        }
        if let Some(r) = rt.resolve(None, key)
            && let Some(v) = prepare_attr(r.attr, value, &r.attr.name)?
        {
            out.insert(r.attr.name.clone(), v);
        }
    }
    let mut doc = Value::Object(out);
    check_required(&doc, rt)?;
    if let Some(old) = existing {
        check_immutable(old, &doc, rt)?;
    }
    set_schemas(&mut doc, rt);
    Ok(doc)
}

fn prepare_attr(attr: &Attribute, value: &Value, path: &str) -> Result<Option<Value>> {
    match attr.mutability {
        // Read-only values are the server's (RFC 7643 §2.2: "SHALL be ignored").
        Mutability::ReadOnly => Ok(None),
        // Passwords are never stored: scimd authenticates nobody with them, and a
        // kept password is only a liability. The type is still checked.
        Mutability::WriteOnly => coerce(attr, value, path).map(|_| None),
        _ => coerce(attr, value, path),
    }
}

/// Every required attribute (core, and required extensions) has a value.
pub fn check_required(doc: &Value, rt: &ResourceType) -> Result<()> {
    for attr in rt.core.attributes.iter().filter(|a| a.required) {
        if doc.get(&attr.name).is_none_or(Value::is_null) {
            return Err(ScimError::invalid_value(format!("'{}' is required", attr.name)));
        }
    }
    for (schema, required) in &rt.extensions {
        let ext = doc.get(&schema.id);
        if *required && ext.is_none() {
            return Err(ScimError::invalid_value(format!("the extension '{}' is required", schema.id)));
        }
        for attr in schema.attributes.iter().filter(|a| a.required) {
            if ext.is_some() && ext.and_then(|e| e.get(&attr.name)).is_none_or(Value::is_null) {
                return Err(ScimError::invalid_value(format!("'{}:{}' is required", schema.id, attr.name)));
            }
        }
    }
    Ok(())
}

/// Immutable attributes with a value may not change (RFC 7643 §2.2).
pub fn check_immutable(old: &Value, new: &Value, rt: &ResourceType) -> Result<()> {
    let attrs = rt
        .core
        .attributes
        .iter()
        .map(|a| (None, a))
        .chain(rt.extensions.iter().flat_map(|(s, _)| s.attributes.iter().map(move |a| (Some(s.id.as_str()), a))));
    for (ext, attr) in attrs.filter(|(_, a)| a.mutability == Mutability::Immutable) {
        let get = |doc: &Value| match ext {
            Some(u) => doc.get(u).and_then(|e| e.get(&attr.name)).cloned(),
            None => doc.get(&attr.name).cloned(),
        };
        let before = get(old);
        if before.is_some() && before != get(new) {
            return Err(ScimError::mutability(format!("'{}' is immutable and already has a value", attr.name)));
        }
    }
    Ok(())
}

/// `schemas`: the core URN and each extension the document has values for.
pub fn set_schemas(doc: &mut Value, rt: &ResourceType) {
    let mut schemas = vec![Value::String(rt.core.id.clone())];
    for (schema, _) in &rt.extensions {
        if doc.get(&schema.id).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
            schemas.push(Value::String(schema.id.clone()));
        } else if let Some(obj) = doc.as_object_mut() {
            obj.remove(&schema.id);
        }
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("schemas".into(), Value::Array(schemas));
    }
}
