//! Validation of a client-sent resource for create and replace (RFC 7643 §2,
//! RFC 7644 §3.3, §3.5.1): canonical attribute names, value types, required
//! attributes, read-only and immutable rules. What identity providers send
//! that is harmless (unknown attributes, `null`s, `meta`, `groups: []`,
//! unknown schema URNs) is dropped, never refused. What would harm the server
//! or its database is refused, the same way after PATCH: a body whose
//! `schemas` does not name the core schema, more values than the server's
//! [`Limits`] allow (413), NUL characters, over-long indexed strings and a
//! blank `userName` (400 invalidValue).

use crate::datetime;
use crate::error::{Result, ScimError};
use crate::filter::eval::get_ci;
use crate::limits::{self, INDEXED_ATTRIBUTES, Limits, ValueLimit};
use crate::schema::{AttrType, Attribute, Mutability, ResourceType, USER_SCHEMA};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt::{self, Write as _};

/// The pre-RFC User URN that OneLogin's SCIM templates send in `schemas`.
/// Accepted there as naming the User schema, and nowhere else (attribute
/// paths qualified with it do not resolve, as before).
const LEGACY_USER_SCHEMA: &str = "urn:scim:schemas:core:2.0";

/// Coerce one value of `attr` to its schema type. `Ok(None)` means
/// "unassigned" (null, empty array, empty object).
///
/// Normalisations applied here, each one a documented IdP form:
/// - booleans sent as strings `"True"`/`"False"` (Entra without `aadOptscim062020`);
/// - a single value where a multi-valued attribute is expected is wrapped in an array;
/// - a one-element array of an object for a single-valued complex attribute
///   is that object (Entra's `manager` PATCH);
/// - a bare string for a complex attribute with a `value` sub-attribute becomes
///   `{"value": …}` (Entra's `manager` PATCH).
pub fn coerce(attr: &Attribute, value: &Value, path: &str) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi_valued {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        let mut out = Vec::with_capacity(items.len());
        // Duplicates go, the first occurrence stays; a hash set keeps this linear.
        let mut seen = HashSet::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_value(attr, item, &path)?
                && seen.insert(equality_key(&v))
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
        // Entra sends the single-valued complex `manager` as a one-element
        // array (idp-requests.md); any other array where one value belongs
        // is refused, not read as its first element: a client that meant a
        // list must hear it was not taken as one.
        return match items.as_slice() {
            [] => Ok(None),
            [one] if attr.kind == AttrType::Complex && one.is_object() => coerce_single(attr, one, path),
            _ => Err(ScimError::invalid_value(format!("'{path}' is single-valued: send one value, not an array"))),
        };
    }
    coerce_single(attr, value, path)
}

/// A text that two values share exactly when they are `==`, for hash sets and
/// maps. serde's own text is not that: it tells `0.0` from `-0.0`, which `==`
/// holds equal, and would follow key order if `preserve_order` were enabled.
pub(crate) fn equality_key(value: &Value) -> String {
    let mut out = String::new();
    write_equality_key(value, &mut out);
    out
}

pub(crate) fn write_equality_key(value: &Value, out: &mut String) {
    // Every item is tagged and either length-prefixed or ';'-terminated, so
    // concatenations cannot collide. Writing to a String cannot fail.
    match value {
        Value::Null => out.push('n'),
        Value::Bool(true) => out.push('t'),
        Value::Bool(false) => out.push('f'),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = write!(out, "u{u};");
            } else if let Some(i) = n.as_i64() {
                let _ = write!(out, "i{i};");
            } else if let Some(f) = n.as_f64() {
                let f = if f == 0.0 { 0.0f64 } else { f };
                let _ = write!(out, "d{};", f.to_bits());
            }
        }
        Value::String(s) => {
            let _ = write!(out, "s{}:", s.len());
            out.push_str(s);
        }
        Value::Array(items) => {
            let _ = write!(out, "a{}:", items.len());
            for item in items {
                write_equality_key(item, out);
            }
        }
        Value::Object(fields) => {
            let mut fields: Vec<(&String, &Value)> = fields.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let _ = write!(out, "o{}:", fields.len());
            for (key, v) in fields {
                let _ = write!(out, "{}:", key.len());
                out.push_str(key);
                write_equality_key(v, out);
            }
        }
    }
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
    coerce_value(attr, value, &path)
}

/// `parent.sub`, written only if an error needs it: formatting the path of
/// every sub-attribute of every value up front would be most of the work.
struct SubPath<'a>(&'a dyn fmt::Display, &'a str);

impl fmt::Display for SubPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

fn coerce_value(attr: &Attribute, value: &Value, path: &dyn fmt::Display) -> Result<Option<Value>> {
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
                if let Some(v) = coerce_value(sub, v, &SubPath(path, &sub.name))? {
                    out.insert(sub.name.clone(), v);
                }
            }
            Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
        }
        (AttrType::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_)) if attr.sub("value").is_some() => {
            coerce_value(attr, &serde_json::json!({ "value": value }), path)
        }
        _ => wrong(),
    }
}

/// Is `name` one of the resource type's extension URNs? Returns its canonical id.
fn extension_id<'a>(rt: &'a ResourceType, key: &str) -> Option<&'a str> {
    rt.extension(key).map(|s| s.id.as_str())
}

/// Is this the group's `members` attribute, which counts against
/// `max_members` rather than `max_multi_values`?
pub(crate) fn is_group_members(rt: &ResourceType, ext: Option<&str>, attr: &Attribute) -> bool {
    ext.is_none() && attr.name == "members" && rt.core.attribute("members").is_some()
}

/// The count limit of one multi-valued attribute of `rt`.
pub(crate) fn value_limit(limits: &Limits, rt: &ResourceType, ext: Option<&str>, attr: &Attribute) -> ValueLimit {
    limits.for_values(is_group_members(rt, ext, attr))
}

/// Prepare a client-sent resource (POST, or PUT over `existing`) for storage.
/// The result has canonical attribute names, coerced values, extension
/// objects keyed by their canonical URN, and no read-only attributes; `id`,
/// `meta` and `schemas` are the server's to set. The body's `schemas` must
/// name the core schema; more values than `limits` allow (413) and what a
/// database cannot store (NUL characters, over-long indexed strings, a blank
/// `userName`: 400 invalidValue) are refused.
pub fn prepare(input: &Value, rt: &ResourceType, existing: Option<&Value>, limits: &Limits) -> Result<Value> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    check_schemas(input, rt)?;
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
                    && let Some(v) = prepare_attr(
                        r.attr,
                        v,
                        &format!("{ext}:{}", r.attr.name),
                        value_limit(limits, rt, Some(ext), r.attr),
                    )?
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
            && let Some(v) = prepare_attr(r.attr, value, &r.attr.name, value_limit(limits, rt, None, r.attr))?
        {
            out.insert(r.attr.name.clone(), v);
        }
    }
    let mut doc = Value::Object(out);
    check_required(&doc, rt)?;
    check_storable(&doc, rt, limits)?;
    if let Some(old) = existing {
        check_immutable(old, &doc, rt)?;
    }
    set_schemas(&mut doc, rt);
    Ok(doc)
}

/// `schemas` must name the core schema (RFC 7643 §3): a body for another
/// resource type, or none at all, is refused rather than guessed at. A lone
/// string instead of an array is tolerated; other URNs in it are ignored.
fn check_schemas(input: &Value, rt: &ResourceType) -> Result<()> {
    let names_core = |urn: &Value| {
        urn.as_str().is_some_and(|u| {
            rt.is_core_urn(u) || (rt.is_core_urn(USER_SCHEMA) && u.eq_ignore_ascii_case(LEGACY_USER_SCHEMA))
        })
    };
    let core = &rt.core.id;
    match get_ci(input, "schemas") {
        None | Some(Value::Null) => {
            Err(ScimError::invalid_value(format!("'schemas' is missing; it must include '{core}'")))
        }
        Some(Value::Array(urns)) if urns.iter().any(names_core) => Ok(()),
        Some(one @ Value::String(_)) if names_core(one) => Ok(()),
        Some(Value::Array(_) | Value::String(_)) => {
            Err(ScimError::invalid_value(format!("'schemas' must include '{core}'")))
        }
        Some(_) => {
            Err(ScimError::invalid_value(format!("'schemas' must be an array of schema URNs that includes '{core}'")))
        }
    }
}

fn prepare_attr(attr: &Attribute, value: &Value, path: &str, limit: ValueLimit) -> Result<Option<Value>> {
    if attr.multi_valued && attr.mutability != Mutability::ReadOnly {
        // Counted before any per-value work, so a huge array costs nothing.
        limit.check(path, limits::raw_count(value))?;
    }
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

/// What a database cannot hold, refused the same way after create, replace
/// and PATCH: more values in a multi-valued attribute than `limits` allow
/// (413), a blank `userName`, an indexed string longer than
/// [`limits::MAX_INDEXED_BYTES`], and a NUL character anywhere (400 invalidValue).
pub(crate) fn check_storable(doc: &Value, rt: &ResourceType, limits: &Limits) -> Result<()> {
    let Some(obj) = doc.as_object() else {
        return Ok(());
    };
    for (key, value) in obj {
        if let Some(ext) = rt.extension(key) {
            for (k, v) in value.as_object().into_iter().flatten() {
                if let (Some(attr), Value::Array(items)) = (ext.attribute(k), v)
                    && attr.multi_valued
                    && attr.mutability != Mutability::ReadOnly
                {
                    value_limit(limits, rt, Some(&ext.id), attr)
                        .check(&format!("{}:{}", ext.id, attr.name), items.len())?;
                }
            }
        } else if let (Some(r), Value::Array(items)) = (rt.resolve(None, key), value)
            && r.attr.multi_valued
            // Read-only values (`groups`, `schemas`) are the server's, never a client's.
            && r.attr.mutability != Mutability::ReadOnly
        {
            value_limit(limits, rt, None, r.attr).check(&r.attr.name, items.len())?;
        }
    }
    if let Some(Value::String(name)) = obj.get("userName")
        && name.trim().is_empty()
    {
        return Err(ScimError::invalid_value("'userName' must not be empty"));
    }
    for name in INDEXED_ATTRIBUTES {
        if let Some(Value::String(s)) = obj.get(name) {
            limits::check_indexed_len(name, s)?;
        }
    }
    if rt.core.attribute("members").is_some()
        && let Some(Value::Array(members)) = obj.get("members")
    {
        for member in members {
            if let Some(Value::String(id)) = member.get("value") {
                limits::check_indexed_len("members.value", id)?;
            }
        }
    }
    limits::check_no_nul(doc, "")
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

#[cfg(test)]
mod tests {
    use super::equality_key;
    use serde_json::json;

    #[test]
    fn equality_key_is_value_equality() {
        let same = [
            (json!(0.0), json!(-0.0)),
            (json!({"a": 1, "b": [true, null]}), json!({"b": [true, null], "a": 1})),
            (json!("x"), json!("x")),
        ];
        for (a, b) in same {
            assert_eq!(a, b);
            assert_eq!(equality_key(&a), equality_key(&b), "{a} {b}");
        }
        let different = [
            (json!(1), json!(1.0)),
            (json!(0), json!(-0.0)),
            (json!(-1), json!(18446744073709551615u64)),
            (json!(["ab", "c"]), json!(["a", "bc"])),
            (json!({"ab": "c"}), json!({"a": "bc"})),
            (json!([1, 2]), json!([12])),
            (json!("1"), json!(1)),
            (json!([]), json!({})),
        ];
        for (a, b) in different {
            assert_ne!(a, b);
            assert_ne!(equality_key(&a), equality_key(&b), "{a} {b}");
        }
    }
}
