//! An operation whose path has a value filter (`emails[type eq "work"].value`):
//! the matching elements are changed or removed, and an unmatched write may
//! create the element the filter names.

use super::OpKind;
use super::elements::{container, prune_ext, settle_primary};
use crate::error::{Result, ScimError};
use crate::filter::eval::matches_element;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::resource::coerce_single;
use crate::schema::{Attribute, Mutability};
use serde_json::{Map, Value};

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
pub(super) fn apply_value_path(
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
