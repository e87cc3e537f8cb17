//! A PatchOp request: the operation types and [`parse`], which reads them
//! from a request body.

use crate::error::{Result, ScimError};
use crate::filter::eval::get_ci;
use crate::limits::Limits;
use crate::path::PatchPath;
use serde_json::Value;

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
