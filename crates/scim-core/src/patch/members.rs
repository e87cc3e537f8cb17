//! A group PATCH's member changes: [`split_members`] separates them from the
//! operations on the group document, as [`MemberChange`]s a store can write
//! as rows.

use super::{OpKind, PatchOp};
use crate::error::{Result, ScimError};
use crate::filter::eval::get_ci;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::limits::{self, Limits, raw_count};
use crate::path::{AttrPath, split_attr_path};
use crate::resource::coerce;
use crate::schema::ResourceType;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

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
    Ok((doc_ops, coalesce(changes)))
}

/// The same membership outcome in as few changes as possible: a run of adds
/// and removes (1,000 operations of one PATCH, say) becomes at most one
/// removal and one addition, so a store writes them in a few statements
/// whatever the number of operations. A removal by filter needs the stored
/// rows, so it stays where it was and the changes around it are coalesced
/// apart.
pub fn coalesce(changes: Vec<MemberChange>) -> Vec<MemberChange> {
    #[derive(Default)]
    struct Run {
        /// Everything before was removed (a remove-all or replace).
        reset: bool,
        removes: Vec<String>,
        removed: HashSet<String>,
        adds: Vec<Value>,
        /// Ids in `adds`, to their place there (`None`: removed again).
        added: HashMap<String, usize>,
    }
    impl Run {
        fn add(&mut self, member: Value) {
            let Some(id) = member.get("value").and_then(Value::as_str).map(str::to_string) else {
                self.adds.push(member);
                return;
            };
            // Added twice: the first stays, as a second insert of a row would.
            if self.added.contains_key(&id) {
                return;
            }
            self.added.insert(id, self.adds.len());
            self.adds.push(member);
        }
        fn remove(&mut self, id: String) {
            if let Some(at) = self.added.remove(&id) {
                self.adds[at] = Value::Null;
            }
            // After a reset only re-added members exist: nothing to remove.
            if !self.reset && self.removed.insert(id.clone()) {
                self.removes.push(id);
            }
        }
        fn reset(&mut self) {
            *self = Run { reset: true, ..Run::default() };
        }
        fn finish(self, out: &mut Vec<MemberChange>) {
            let adds: Vec<Value> = self.adds.into_iter().filter(|v| !v.is_null()).collect();
            if self.reset {
                out.push(MemberChange::Replace(adds));
                return;
            }
            if !self.removes.is_empty() {
                out.push(MemberChange::Remove(self.removes));
            }
            if !adds.is_empty() {
                out.push(MemberChange::Add(adds));
            }
        }
    }
    if changes.len() < 2 {
        return changes;
    }
    let mut out = Vec::new();
    let mut run = Run::default();
    for change in changes {
        match change {
            MemberChange::Add(values) => values.into_iter().for_each(|v| run.add(v)),
            MemberChange::Remove(ids) => ids.into_iter().for_each(|id| run.remove(id)),
            MemberChange::RemoveAll => run.reset(),
            MemberChange::Replace(values) => {
                run.reset();
                values.into_iter().for_each(|v| run.add(v));
            }
            MemberChange::RemoveWhere(filter) => {
                std::mem::take(&mut run).finish(&mut out);
                out.push(MemberChange::RemoveWhere(filter));
            }
        }
    }
    run.finish(&mut out);
    out
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
