//! Validation of a filter against a resource type, and the in-memory
//! evaluator. Comparison follows the schema: `caseExact`, dateTime ordering,
//! booleans, numbers. A multi-valued attribute matches when any value does;
//! `ne` is exactly `not eq`, so an absent attribute is `ne` anything.

use super::{CompValue, CompareOp, Filter};
use crate::datetime;
use crate::error::{Result, ScimError};
use crate::path::AttrPath;
use crate::schema::{AttrType, Attribute, ResourceType};
use serde_json::Value;
use std::cmp::Ordering;

/// A filter attribute path resolved against a resource type.
#[derive(Clone, Copy, Debug)]
pub struct ResolvedPath<'a> {
    /// The extension URN when the attribute lives in an extension.
    pub extension: Option<&'a str>,
    pub attr: &'a Attribute,
    /// The sub-attribute compared, including the implicit `value` of a complex attribute.
    pub sub: Option<&'a Attribute>,
}

impl ResolvedPath<'_> {
    pub fn leaf(&self) -> &Attribute {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolve a top-level path (`name`, `name.sub`, `urn:…:name[.sub]`).
pub fn resolve_path<'a>(rt: &'a ResourceType, path: &AttrPath, implicit_value: bool) -> Result<ResolvedPath<'a>> {
    let resolved = rt
        .resolve(path.urn.as_deref(), &path.name)
        .ok_or_else(|| ScimError::invalid_filter(format!("'{path}' is not an attribute of a {}", rt.name)))?;
    let attr = resolved.attr;
    let sub = match &path.sub {
        Some(s) => Some(
            attr.sub(s)
                .ok_or_else(|| ScimError::invalid_filter(format!("'{}' has no sub-attribute '{s}'", attr.name)))?,
        ),
        None if implicit_value && attr.is_complex() => Some(attr.sub("value").ok_or_else(|| {
            ScimError::invalid_filter(format!("'{}' is complex: name one of its sub-attributes", attr.name))
        })?),
        None => None,
    };
    Ok(ResolvedPath { extension: resolved.extension, attr, sub })
}

/// Resolve a path inside a value filter (`emails[type eq "work"]`): a sub-attribute of `parent`.
pub fn resolve_inner<'a>(parent: &'a Attribute, path: &AttrPath) -> Result<&'a Attribute> {
    if path.urn.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "inside '{}[...]' name a sub-attribute of '{}', not '{path}'",
            parent.name, parent.name
        )));
    }
    parent
        .sub(&path.name)
        .ok_or_else(|| ScimError::invalid_filter(format!("'{}' has no sub-attribute '{}'", parent.name, path.name)))
}

fn check_compare(attr: &Attribute, path: &dyn std::fmt::Display, op: CompareOp, value: &CompValue) -> Result<()> {
    let bad = |why: String| Err(ScimError::invalid_filter(why));
    if attr.is_complex() {
        return bad(format!("'{path}' is complex and cannot be compared"));
    }
    if let CompValue::Null = value {
        return if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            Ok(())
        } else {
            bad(format!("'{}' cannot be used with null", op.as_str()))
        };
    }
    match attr.kind {
        AttrType::Boolean => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return bad(format!("'{path}' is a boolean: only eq, ne and pr apply"));
            }
            if !matches!(value, CompValue::Bool(_)) {
                return bad(format!("'{path}' is a boolean: compare it with true or false"));
            }
        }
        AttrType::Binary => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return bad(format!("'{path}' is binary: only eq, ne and pr apply"));
            }
            if !matches!(value, CompValue::Str(_)) {
                return bad(format!("'{path}' is binary: compare it with a quoted base64 string"));
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if op.is_substring() {
                return bad(format!("'{path}' is a number: co, sw and ew do not apply"));
            }
            if !matches!(value, CompValue::Num(_)) {
                return bad(format!("'{path}' is a number: compare it with a number"));
            }
        }
        AttrType::DateTime => match value {
            CompValue::Str(s) if datetime::parse(s).is_some() => {}
            _ => {
                return bad(format!("'{path}' is a dateTime: compare it with a quoted xsd:dateTime"));
            }
        },
        AttrType::String | AttrType::Reference => {
            if !matches!(value, CompValue::Str(_)) {
                return bad(format!("'{path}' is a string: compare it with a quoted string"));
            }
        }
        AttrType::Complex => {}
    }
    Ok(())
}

/// Check every path and operator of a filter against a resource type.
pub fn validate(filter: &Filter, rt: &ResourceType) -> Result<()> {
    match filter {
        Filter::Compare { path, op, value } => {
            let r = resolve_path(rt, path, true)?;
            check_compare(r.leaf(), path, *op, value)
        }
        Filter::Present(path) => resolve_path(rt, path, false).map(|_| ()),
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate(a, rt)?;
            validate(b, rt)
        }
        Filter::Not(inner) => validate(inner, rt),
        Filter::ValuePath { path, filter } => {
            let r = resolve_path(rt, path, false)?;
            if r.sub.is_some() || !r.attr.is_complex() {
                return Err(ScimError::invalid_filter(format!("'{path}[...]' needs a complex attribute before '['")));
            }
            validate_inner(filter, r.attr)
        }
    }
}

fn validate_inner(filter: &Filter, parent: &Attribute) -> Result<()> {
    match filter {
        Filter::Compare { path, op, value } => check_compare(resolve_inner(parent, path)?, path, *op, value),
        Filter::Present(path) => resolve_inner(parent, path).map(|_| ()),
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate_inner(a, parent)?;
            validate_inner(b, parent)
        }
        Filter::Not(inner) => validate_inner(inner, parent),
        Filter::ValuePath { .. } => Err(ScimError::invalid_filter("value filters cannot be nested")),
    }
}

/// Case-insensitive key look-up: documents may come from clients.
pub fn get_ci<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn push_values<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => out.extend(items.iter().filter(|i| !i.is_null())),
        Value::Null => {}
        other => out.push(other),
    }
}

/// The top-level value of a resolved attribute in a resource.
fn top_value<'v>(resource: &'v Value, r: &ResolvedPath<'_>) -> Option<&'v Value> {
    match r.extension {
        Some(urn) => get_ci(get_ci(resource, urn)?, &r.attr.name),
        None => get_ci(resource, &r.attr.name),
    }
}

/// All the values a path selects (flattening multi-valued attributes).
pub fn select_values<'v>(resource: &'v Value, r: &ResolvedPath<'_>) -> Vec<&'v Value> {
    let mut tops = Vec::new();
    if let Some(v) = top_value(resource, r) {
        push_values(v, &mut tops);
    }
    match r.sub {
        None => tops,
        Some(sub) => {
            let mut out = Vec::new();
            for t in tops {
                if let Some(v) = get_ci(t, &sub.name) {
                    push_values(v, &mut out);
                }
            }
            out
        }
    }
}

fn compare_one(actual: &Value, op: CompareOp, lit: &CompValue, attr: &Attribute) -> bool {
    let ord: Option<Ordering> = match (attr.kind, actual, lit) {
        (AttrType::Boolean, Value::Bool(a), CompValue::Bool(b)) => Some(a.cmp(b)),
        (AttrType::Integer | AttrType::Decimal, Value::Number(a), CompValue::Num(b)) => {
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => None,
            }
        }
        (AttrType::DateTime, Value::String(a), CompValue::Str(b)) => match (datetime::parse(a), datetime::parse(b)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        },
        (_, Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if attr.case_exact { (a.clone(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        // Co/Sw/Ew on non-strings never match; Ne is handled by the caller.
        _ => false,
    }
}

fn compare_values(values: &[&Value], op: CompareOp, lit: &CompValue, attr: &Attribute) -> bool {
    match (op, lit) {
        (CompareOp::Eq, CompValue::Null) => values.is_empty(),
        (CompareOp::Ne, CompValue::Null) => !values.is_empty(),
        (CompareOp::Ne, _) => !values.iter().any(|v| compare_one(v, CompareOp::Eq, lit, attr)),
        _ => values.iter().any(|v| compare_one(v, op, lit, attr)),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// Does `resource` match `filter`? Paths that do not resolve never match;
/// call [`validate`] first to report them.
pub fn matches(filter: &Filter, resource: &Value, rt: &ResourceType) -> bool {
    match filter {
        Filter::Compare { path, op, value } => match resolve_path(rt, path, true) {
            Ok(r) => compare_values(&select_values(resource, &r), *op, value, r.leaf()),
            Err(_) => false,
        },
        Filter::Present(path) => match resolve_path(rt, path, false) {
            Ok(r) => select_values(resource, &r).into_iter().any(is_present),
            Err(_) => false,
        },
        Filter::And(a, b) => matches(a, resource, rt) && matches(b, resource, rt),
        Filter::Or(a, b) => matches(a, resource, rt) || matches(b, resource, rt),
        Filter::Not(inner) => !matches(inner, resource, rt),
        Filter::ValuePath { path, filter } => match resolve_path(rt, path, false) {
            Ok(r) => select_values(resource, &r).into_iter().any(|el| matches_element(filter, el, r.attr)),
            Err(_) => false,
        },
    }
}

/// Does one element of a complex attribute match a value filter?
pub fn matches_element(filter: &Filter, element: &Value, parent: &Attribute) -> bool {
    match filter {
        Filter::Compare { path, op, value } => match resolve_inner(parent, path) {
            Ok(sub) => {
                let mut vals = Vec::new();
                if let Some(v) = get_ci(element, &sub.name) {
                    push_values(v, &mut vals);
                }
                compare_values(&vals, *op, value, sub)
            }
            Err(_) => false,
        },
        Filter::Present(path) => match resolve_inner(parent, path) {
            Ok(sub) => get_ci(element, &sub.name).is_some_and(is_present),
            Err(_) => false,
        },
        Filter::And(a, b) => matches_element(a, element, parent) && matches_element(b, element, parent),
        Filter::Or(a, b) => matches_element(a, element, parent) || matches_element(b, element, parent),
        Filter::Not(inner) => !matches_element(inner, element, parent),
        Filter::ValuePath { .. } => false,
    }
}

/// Check a value filter's paths against the attribute it filters.
pub fn validate_inner_public(filter: &Filter, parent: &Attribute) -> Result<()> {
    validate_inner(filter, parent)
}
