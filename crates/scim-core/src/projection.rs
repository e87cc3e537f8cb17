//! `attributes` and `excludedAttributes` (RFC 7644 §3.9), honouring each
//! attribute's `returned` characteristic (always, never, default, request).

use crate::error::{Result, ScimError};
use crate::path::{AttrPath, split_attr_path};
use crate::schema::{Attribute, ResourceType, Returned};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// What the client asked to see.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parse the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection> {
        fn list(text: Option<&str>, param: &str) -> Result<Vec<AttrPath>> {
            let Some(text) = text else {
                return Ok(Vec::new());
            };
            crate::filter::parser::refuse_nul(text, &format!("'{param}'"))?;
            // A path listed twice decides nothing more: keeping one of each
            // (ignoring case, as every match here does) bounds later work.
            let mut seen = HashSet::new();
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter(|s| seen.insert(s.to_ascii_lowercase()))
                .map(|s| {
                    // A bare schema URN names the whole extension.
                    if crate::path::has_urn_prefix(s)
                        && !s.contains('.')
                        && let Some(p) = split_attr_path(s)
                    {
                        return Ok(p);
                    }
                    split_attr_path(s).ok_or_else(|| {
                        ScimError::invalid_path(format!("'{s}' in '{param}' is not a valid attribute path"))
                    })
                })
                .collect()
        }
        Ok(Projection { attributes: list(attributes, "attributes")?, excluded: list(excluded, "excludedAttributes")? })
    }

    /// Would this projection return the attribute `name` of the core schema?
    pub fn includes(&self, rt: &ResourceType, name: &str) -> bool {
        let Some(r) = rt.resolve(None, name) else {
            return false;
        };
        self.decide(rt, None, r.attr) != Decision::Drop
    }

    fn names(list: &[AttrPath], rt: &ResourceType, ext: Option<&str>, attr: &Attribute) -> Option<Vec<Option<String>>> {
        let mut subs = Vec::new();
        for p in list {
            let same_schema = match (&p.urn, ext) {
                (None, None) => true,
                (Some(u), None) => rt.is_core_urn(u),
                (Some(u), Some(e)) => u.eq_ignore_ascii_case(e),
                (None, Some(_)) => false,
            };
            // `urn:…:enterprise:2.0:User` alone names the whole extension.
            let whole_ext = ext.is_some_and(|e| p.sub.is_none() && names_extension(p, e));
            if whole_ext {
                subs.push(None);
            } else if same_schema && p.name.eq_ignore_ascii_case(&attr.name) {
                subs.push(p.sub.clone());
            }
        }
        if subs.is_empty() { None } else { Some(subs) }
    }

    fn decide(&self, rt: &ResourceType, ext: Option<&str>, attr: &Attribute) -> Decision {
        match attr.returned {
            Returned::Always => return Decision::Keep,
            Returned::Never => return Decision::Drop,
            _ => {}
        }
        if !self.attributes.is_empty() {
            return match Self::names(&self.attributes, rt, ext, attr) {
                Some(subs) if subs.iter().any(Option::is_none) => Decision::Keep,
                Some(subs) => Decision::Only(lowercase_set(subs)),
                None => Decision::Drop,
            };
        }
        if attr.returned == Returned::Request {
            return Decision::Drop;
        }
        match Self::names(&self.excluded, rt, ext, attr) {
            Some(subs) if subs.iter().any(Option::is_none) => Decision::Drop,
            Some(subs) => Decision::Except(lowercase_set(subs)),
            None => Decision::Keep,
        }
    }

    /// The resource as the client asked to see it.
    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Value {
        self.apply_owned(resource.clone(), rt)
    }

    /// [`Projection::apply`] on a resource the caller gives up: values move, nothing is copied.
    pub fn apply_owned(&self, resource: Value, rt: &ResourceType) -> Value {
        self.resolve(rt).apply_owned(resource)
    }

    /// The decision for every attribute of `rt`, made once. Applying it to
    /// each resource of a page then costs the same however long the
    /// `attributes` list is (deciding walks the list).
    pub fn resolve<'a>(&'a self, rt: &'a ResourceType) -> Resolved<'a> {
        let mut decisions = HashMap::new();
        for attr in &rt.core.attributes {
            decisions.insert((None, attr.name.as_str()), self.decide(rt, None, attr));
        }
        for (schema, _) in &rt.extensions {
            for attr in &schema.attributes {
                decisions
                    .insert((Some(schema.id.as_str()), attr.name.as_str()), self.decide(rt, Some(&schema.id), attr));
            }
        }
        Resolved { projection: self, rt, decisions }
    }
}

/// A [`Projection`] decided for one resource type: see [`Projection::resolve`].
pub struct Resolved<'a> {
    projection: &'a Projection,
    rt: &'a ResourceType,
    /// (extension URN or `None` for the core schema, attribute name) -> decision.
    decisions: HashMap<(Option<&'a str>, &'a str), Decision>,
}

impl Resolved<'_> {
    fn apply_attr(&self, ext: Option<&str>, attr: &Attribute, value: Value) -> Option<Value> {
        match self.decisions.get(&(ext, attr.name.as_str())) {
            Some(decision) => decision.apply(attr, value),
            // Not an attribute of the schemas walked above: decided as before.
            None => self.projection.decide(self.rt, ext, attr).apply(attr, value),
        }
    }

    /// The resource as the client asked to see it; values move, nothing is copied.
    pub fn apply_owned(&self, resource: Value) -> Value {
        let rt = self.rt;
        let Value::Object(obj) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in obj {
            if key == "schemas" {
                out.insert(key, value);
                continue;
            }
            if let Some(ext) = rt.extension(&key) {
                let Value::Object(inner) = value else {
                    continue;
                };
                let mut ext_out = Map::new();
                for (k, v) in inner {
                    if let Some(attr) = ext.attribute(&k)
                        && let Some(v) = self.apply_attr(Some(&ext.id), attr, v)
                    {
                        ext_out.insert(k, v);
                    }
                }
                if !ext_out.is_empty() {
                    out.insert(key, Value::Object(ext_out));
                }
                continue;
            }
            match rt.resolve(None, &key) {
                Some(r) => {
                    if let Some(v) = self.apply_attr(None, r.attr, value) {
                        out.insert(key, v);
                    }
                }
                None => {
                    out.insert(key, value);
                }
            }
        }
        Value::Object(out)
    }
}

/// Is `p` (`urn` `:` `name`) the extension URN `ext`, ignoring case?
fn names_extension(p: &AttrPath, ext: &str) -> bool {
    let urn = p.urn.as_deref().unwrap_or("");
    ext.len() == urn.len() + 1 + p.name.len()
        && ext.get(..urn.len()).is_some_and(|head| head.eq_ignore_ascii_case(urn))
        && ext.get(urn.len()..=urn.len()) == Some(":")
        && ext.get(urn.len() + 1..).is_some_and(|tail| tail.eq_ignore_ascii_case(&p.name))
}

/// Sub-attribute names, lowercased: a set, so a long `attributes=` list costs
/// one look-up per key rather than a scan of the list.
fn lowercase_set(subs: Vec<Option<String>>) -> HashSet<String> {
    subs.into_iter().flatten().map(|s| s.to_ascii_lowercase()).collect()
}

#[derive(Debug, PartialEq)]
enum Decision {
    Keep,
    Drop,
    /// Only these sub-attributes (lowercased).
    Only(HashSet<String>),
    /// All but these sub-attributes (lowercased).
    Except(HashSet<String>),
}

impl Decision {
    fn apply(&self, attr: &Attribute, value: Value) -> Option<Value> {
        let filter_subs = |v: Value, keep: &dyn Fn(&str) -> bool| -> Value {
            match v {
                Value::Object(o) => Value::Object(
                    o.into_iter()
                        .filter(|(k, _)| {
                            let never = attr.sub(k).is_some_and(|s| s.returned == Returned::Never);
                            !never && keep(k)
                        })
                        .collect(),
                ),
                other => other,
            }
        };
        let map_value = |value: Value, keep: &dyn Fn(&str) -> bool| -> Option<Value> {
            // An attribute emptied by the projection goes; one that was empty
            // already (a group's `members: []`) stays, as clients expect it.
            let was_empty = value.as_array().is_some_and(Vec::is_empty);
            let v = match value {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|i| filter_subs(i, keep))
                        .filter(|i| i.as_object().is_none_or(|o| !o.is_empty()))
                        .collect(),
                ),
                other => filter_subs(other, keep),
            };
            let empty = match &v {
                Value::Array(a) => a.is_empty() && !was_empty,
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if empty { None } else { Some(v) }
        };
        match self {
            Decision::Drop => None,
            Decision::Keep => map_value(value, &|_| true),
            Decision::Only(subs) => map_value(value, &|k| {
                subs.contains(&k.to_ascii_lowercase()) || attr.sub(k).is_some_and(|s| s.returned == Returned::Always)
            }),
            Decision::Except(subs) => map_value(value, &|k| !subs.contains(&k.to_ascii_lowercase())),
        }
    }
}
