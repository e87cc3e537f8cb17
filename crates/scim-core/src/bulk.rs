//! Bulk requests (RFC 7644 §3.7): a BulkRequest read and checked as a whole
//! ([`BulkRequest::parse`]), the order its operations run in, its `bulkId`
//! references resolved to the ids their POSTs created, and the BulkResponse
//! written from what each operation answered. Running an operation is the
//! server's: this owns what the request means.
//!
//! The rules, in the RFC's terms:
//! - every POST has a `bulkId`, unique within the request (§3.7); other
//!   operations may carry one too (it is echoed), but only a POST's names a
//!   resource;
//! - `bulkId:ID` names the resource the POST with that `bulkId` created: as
//!   the whole id in a `path` (`/Groups/bulkId:g1`), and as any whole string
//!   value of `data`, at any depth (a member's `value`, an extension's
//!   `manager.value`, a PatchOp's `value`) (§3.7.2), and as a quoted value
//!   in a PatchOp's `path` filter (`members[value eq "bulkId:u1"]`). Every reference must name
//!   a POST of the request, of the path's resource type for a path;
//! - operations run in the request's order, except that an operation naming
//!   a `bulkId` first runs the POST that defines it (and what that POST names
//!   in turn), so forward references resolve. The server may reorder as long
//!   as the client's intent holds (§3.7); a POST's only dependants are the
//!   operations that name it;
//! - operations that name each other in a circle (two groups each a member of
//!   the other, a group naming itself) are refused with 409, which §3.7.1
//!   allows instead of resolving them: resolving means creating first and
//!   patching after, two writes for one operation, and a failure of the
//!   second would leave the first half done;
//! - an operation whose reference names a POST that failed is not run (409).
//!
//! Everything here is linear in the request's size: references are found in
//! one walk of each operation's `data`, and the order is one pass of
//! Tarjan's strongly-connected-components algorithm, without recursion.

use crate::error::{Result, ScimError};
use crate::limits::MAX_INDEXED_BYTES;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// What a reference to a POST's `bulkId` starts with.
const REFERENCE: &str = "bulkId:";

/// Names of a circle listed in a 409's detail, at most.
const CIRCLE_NAMES_SHOWN: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// The resource types Bulk operations reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Users => "Users",
            Endpoint::Groups => "Groups",
        }
    }
    /// The resource type's name, as a detail says it (`User`, `Group`).
    fn singular(self) -> &'static str {
        match self {
            Endpoint::Users => "User",
            Endpoint::Groups => "Group",
        }
    }
}

/// The resource a PUT, PATCH or DELETE names in its `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathId {
    Id(String),
    /// `bulkId:ID`: the resource the POST with that `bulkId` creates.
    BulkId(String),
}

/// One operation of the request, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub method: Method,
    pub endpoint: Endpoint,
    /// `None` for a POST (its path names the endpoint).
    pub path_id: Option<PathId>,
    pub bulk_id: Option<String>,
    /// The resource's version the client expects (`If-Match` of a single request).
    pub version: Option<String>,
    /// `Null` for a DELETE; taken when the operation runs.
    data: Value,
    /// Does `data` hold a reference (it is walked again to resolve them)?
    data_refers: bool,
    /// About the size of `data` as JSON text, in bytes.
    data_bytes: usize,
    /// The operations whose POSTs this one names, without repeats.
    depends_on: Vec<usize>,
    /// The circle of references it is part of (an index into the request's
    /// circles): it is refused without running.
    circular: Option<usize>,
}

impl Operation {
    /// `POST /Users`, `PATCH /Groups/bulkId:g1`, as the request said it.
    pub fn describe(&self) -> String {
        let path = match &self.path_id {
            None => String::new(),
            Some(PathId::Id(id)) => format!("/{id}"),
            Some(PathId::BulkId(b)) => format!("/{REFERENCE}{b}"),
        };
        format!("{} /{}{path}", self.method.as_str(), self.endpoint.as_str())
    }

    /// About how large `data` is as JSON text (whether its work is large).
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// A POST that names no other operation: it may run beside other such
    /// POSTs (their order only matters where they compete for a userName;
    /// see [`Operation::user_name_key`]).
    pub fn is_independent_post(&self) -> bool {
        self.method == Method::Post
            && self.path_id.is_none()
            && self.depends_on.is_empty()
            && !self.data_refers
            && self.circular.is_none()
    }

    /// The userName a POST of a user would hold, lower-cased (userName is
    /// unique ignoring case); `None` for anything else.
    pub fn user_name_key(&self) -> Option<String> {
        if self.method != Method::Post || self.endpoint != Endpoint::Users {
            return None;
        }
        self.data.get("userName").and_then(Value::as_str).map(str::to_lowercase)
    }
}

/// A BulkRequest, checked as a whole before any operation runs.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many operations failed (`failOnErrors`); `None`: run them all.
    pub fail_on_errors: Option<usize>,
    operations: Vec<Operation>,
    /// Indexes into `operations`, in the order they run.
    order: Vec<usize>,
    /// The POST of each `bulkId` a POST defines.
    defined_by: HashMap<String, usize>,
    /// Why the operations of each circle of references are refused.
    circles: Vec<String>,
}

/// An operation ready to run: its references replaced by the ids they name.
#[derive(Clone, Debug, PartialEq)]
pub struct Ready {
    pub method: Method,
    pub endpoint: Endpoint,
    /// The resource of a PUT, PATCH or DELETE.
    pub id: Option<String>,
    pub data: Value,
    pub version: Option<String>,
}

/// The ids the request's POSTs created so far, by `bulkId`.
#[derive(Clone, Debug, Default)]
pub struct Created(HashMap<String, String>);

impl Created {
    pub fn record(&mut self, bulk_id: &str, id: &str) {
        self.0.insert(bulk_id.to_string(), id.to_string());
    }
    pub fn get(&self, bulk_id: &str) -> Option<&str> {
        self.0.get(bulk_id).map(String::as_str)
    }
}

impl BulkRequest {
    /// Read and check a BulkRequest body. Keys are matched ignoring case (as
    /// a PatchOp's are); `schemas`, when sent, must name the BulkRequest URN.
    /// More than `max_operations` operations are refused with 413 (§3.7.4),
    /// the detail ending with `limit_note` (what sets the limit). Anything
    /// else wrong with the request or one of its operations is a 400 for the
    /// whole request, naming the operation: nothing has run.
    pub fn parse(body: Value, max_operations: usize, limit_note: &str) -> Result<BulkRequest> {
        let Value::Object(mut top) = body else {
            return Err(ScimError::invalid_syntax("a Bulk request must be a JSON object"));
        };
        if let Some(schemas) = take_ci(&mut top, "schemas") {
            let names_bulk = schemas
                .as_array()
                .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST))));
            if !names_bulk {
                return Err(ScimError::invalid_syntax(format!(
                    "a Bulk request's 'schemas' must contain '{BULK_REQUEST}'"
                )));
            }
        }
        let fail_on_errors = match take_ci(&mut top, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
                Some(usize::try_from(n.as_u64().unwrap_or(u64::MAX)).unwrap_or(usize::MAX))
            }
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "'failOnErrors' is {other}; it must be a whole number of at least 1: after that many failed \
                     operations the rest are not run"
                )));
            }
        };
        let Some(Value::Array(items)) = take_ci(&mut top, "Operations") else {
            return Err(ScimError::invalid_syntax("a Bulk request needs an 'Operations' array"));
        };
        if items.is_empty() {
            return Err(ScimError::invalid_value("'Operations' is empty: send at least one operation"));
        }
        if items.len() > max_operations {
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "the Bulk request has {} operations; this server accepts at most {max_operations} \
                     (maxOperations{limit_note})",
                    items.len()
                ),
            ));
        }
        let mut operations = Vec::with_capacity(items.len());
        // Every bulkId given, POST or not, with its operation: they are unique in a request.
        let mut bulk_ids: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.into_iter().enumerate() {
            let op = parse_operation(i + 1, item)?;
            if let Some(b) = &op.bulk_id
                && let Some(first) = bulk_ids.insert(b.clone(), i)
            {
                return Err(ScimError::invalid_value(format!(
                    "operation {} has the bulkId '{b}', as operation {} has; each operation's bulkId must be unique \
                     within the request",
                    i + 1,
                    first + 1
                )));
            }
            operations.push(op);
        }
        let defined_by: HashMap<String, usize> =
            bulk_ids.into_iter().filter(|(_, i)| operations[*i].method == Method::Post).collect();
        link_references(&mut operations, &defined_by)?;
        let (order, circles) = run_order(&mut operations);
        Ok(BulkRequest { fail_on_errors, operations, order, defined_by, circles })
    }

    /// The operations, in the request's order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Indexes of the operations in the order they run: the request's order,
    /// each operation after the POSTs it names.
    pub fn run_order(&self) -> Vec<usize> {
        self.order.clone()
    }

    /// Operation `i`, ready to run, its data taken out of the request: every
    /// reference replaced by the id its POST created. An operation in a
    /// circle of references, or naming a POST that did not create its
    /// resource, is refused (409) without running.
    pub fn take_ready(&mut self, i: usize, created: &Created) -> Result<Ready> {
        let Some(op) = self.operations.get_mut(i) else {
            return Err(ScimError::new(500, None, format!("the Bulk request has no operation {}", i + 1)));
        };
        // Taken whatever happens: an operation runs at most once.
        let mut data = std::mem::take(&mut op.data);
        let (defined_by, operations) = (&self.defined_by, &self.operations);
        let op = &operations[i];
        if let Some(circle) = op.circular {
            let why = self.circles.get(circle).cloned().unwrap_or_default();
            return Err(ScimError::new(409, None, why));
        }
        let resolve = |bulk_id: &str| -> Result<String> {
            if let Some(id) = created.get(bulk_id) {
                return Ok(id.to_string());
            }
            let post = defined_by.get(bulk_id).map_or_else(String::new, |&d| {
                format!(" operation {} ({}), which has that bulkId,", d + 1, operations[d].describe())
            });
            Err(ScimError::new(
                409,
                None,
                format!(
                    "operation {} names '{REFERENCE}{bulk_id}', but{post} created nothing: this operation was not run",
                    i + 1
                ),
            ))
        };
        let id = match &op.path_id {
            None => None,
            Some(PathId::Id(id)) => Some(id.clone()),
            Some(PathId::BulkId(b)) => Some(resolve(b)?),
        };
        if op.data_refers {
            replace_references(&mut data, &resolve)?;
        }
        Ok(Ready { method: op.method, endpoint: op.endpoint, id, data, version: op.version.clone() })
    }
}

/// Remove `key` from `obj`, matching it ignoring case.
fn take_ci(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(v) = obj.remove(key) {
        return Some(v);
    }
    let found = obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    obj.remove(&found)
}

fn parse_operation(n: usize, item: Value) -> Result<Operation> {
    let Value::Object(mut op) = item else {
        return Err(ScimError::invalid_syntax(format!("operation {n} must be a JSON object")));
    };
    let method = match take_ci(&mut op, "method") {
        Some(Value::String(m)) => match m.to_ascii_uppercase().as_str() {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n}: '{m}' is not a Bulk method (POST, PUT, PATCH or DELETE)"
                )));
            }
        },
        None | Some(Value::Null) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} has no 'method' (POST, PUT, PATCH or DELETE)"
            )));
        }
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: 'method' must be a string (POST, PUT, PATCH or DELETE)"
            )));
        }
    };
    let m = method.as_str();
    let path = match take_ci(&mut op, "path") {
        Some(Value::String(p)) => p,
        None | Some(Value::Null) => {
            return Err(ScimError::invalid_value(format!("operation {n} ({m}) has no 'path': {}", path_rule(method))));
        }
        Some(_) => return Err(ScimError::invalid_value(format!("operation {n} ({m}): 'path' must be a string"))),
    };
    let (endpoint, path_id) = parse_path(n, method, &path)?;
    let bulk_id = match take_ci(&mut op, "bulkId") {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) => Some(check_bulk_id(n, b)?),
        Some(_) => {
            return Err(ScimError::invalid_value(format!("operation {n} ({m} {path}): 'bulkId' must be a string")));
        }
    };
    if method == Method::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_value(format!(
            "operation {n} (POST {path}) has no 'bulkId': every POST needs one (RFC 7644 §3.7), so that the response \
             can say which resource it created and other operations can name it"
        )));
    }
    let version = match take_ci(&mut op, "version") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v),
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "operation {n} ({m} {path}): 'version' must be a string, the ETag the resource is expected to have \
                 (W/\"3\")"
            )));
        }
    };
    let data = match (method, take_ci(&mut op, "data")) {
        (Method::Delete, _) => Value::Null,
        (_, Some(data @ Value::Object(_))) => data,
        (_, None | Some(Value::Null)) => {
            let what = if method == Method::Patch { "the PatchOp" } else { "the resource" };
            return Err(ScimError::invalid_value(format!(
                "operation {n} ({m} {path}) has no 'data': send {what} a single {m} would send"
            )));
        }
        (_, Some(_)) => {
            return Err(ScimError::invalid_value(format!("operation {n} ({m} {path}): 'data' must be a JSON object")));
        }
    };
    Ok(Operation {
        method,
        endpoint,
        path_id,
        bulk_id,
        version,
        data,
        data_refers: false,
        data_bytes: 0,
        depends_on: Vec::new(),
        circular: None,
    })
}

fn path_rule(method: Method) -> &'static str {
    match method {
        Method::Post => "a POST's path is its endpoint, /Users or /Groups",
        _ => "it names one resource, such as /Users/{id} or /Groups/bulkId:{bulkId}",
    }
}

/// `/Users`, `/Groups/{id}`, `/Groups/bulkId:g1`: the endpoint, and the resource if it names one.
fn parse_path(n: usize, method: Method, path: &str) -> Result<(Endpoint, Option<PathId>)> {
    let m = method.as_str();
    let refuse = |why: String| Err(ScimError::invalid_value(format!("operation {n} ({m} {path}): {why}")));
    if path.contains(['?', '#']) {
        return refuse("a Bulk operation's path cannot carry query parameters".into());
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (endpoint, id) = match rest.split_once('/') {
        Some((e, id)) => (e, Some(id)),
        None => (rest, None),
    };
    let endpoint = match endpoint {
        "Users" => Endpoint::Users,
        "Groups" => Endpoint::Groups,
        _ => return refuse("the path names no endpoint a Bulk operation reaches: they are /Users and /Groups".into()),
    };
    let id = id.filter(|id| !id.is_empty());
    match (method, id) {
        (Method::Post, None) => Ok((endpoint, None)),
        (Method::Post, Some(_)) => {
            refuse(format!("a POST's path is its endpoint, /{}, not one resource", endpoint.as_str()))
        }
        (_, None) => refuse(path_rule(method).into()),
        (_, Some(id)) if id.contains('/') => {
            refuse(format!("the path names one resource, /{}/{{id}}; '{id}' is not an id", endpoint.as_str()))
        }
        (_, Some(id)) => match id.strip_prefix(REFERENCE) {
            Some(b) => Ok((endpoint, Some(PathId::BulkId(check_bulk_id(n, b.to_string())?)))),
            None => Ok((endpoint, Some(PathId::Id(id.to_string())))),
        },
    }
}

fn check_bulk_id(n: usize, b: String) -> Result<String> {
    if b.is_empty() {
        return Err(ScimError::invalid_value(format!("operation {n}: a bulkId cannot be empty")));
    }
    if b.len() > MAX_INDEXED_BYTES || b.contains('/') {
        return Err(ScimError::invalid_value(format!(
            "operation {n}: a bulkId is at most {MAX_INDEXED_BYTES} bytes without '/'"
        )));
    }
    Ok(b)
}

/// Find every operation's references, check what each names, and record
/// which operations each one depends on.
fn link_references(operations: &mut [Operation], defined_by: &HashMap<String, usize>) -> Result<()> {
    // The last operation that recorded a dependency on each operation: a
    // dependency is recorded once however often it is named.
    let mut noted_by = vec![usize::MAX; operations.len()];
    let mut found: Vec<String> = Vec::new();
    for i in 0..operations.len() {
        found.clear();
        let (refers, bytes) = find_references(&operations[i].data, &mut found);
        let op = &operations[i];
        let path_ref = match &op.path_id {
            Some(PathId::BulkId(b)) => Some(b.clone()),
            _ => None,
        };
        let mut depends_on = Vec::new();
        for (in_path, b) in path_ref.iter().map(|b| (true, b)).chain(found.iter().map(|b| (false, b))) {
            let Some(&by) = defined_by.get(b) else {
                let other = operations.iter().position(|o| o.bulk_id.as_deref() == Some(b.as_str()));
                let why = match other {
                    Some(o) => format!(
                        "it is the bulkId of operation {} ({}), which creates nothing: only a POST's bulkId names a \
                         resource",
                        o + 1,
                        operations[o].describe()
                    ),
                    None => "no operation of this request has that bulkId".to_string(),
                };
                return Err(ScimError::invalid_value(format!(
                    "operation {} ({}) names '{REFERENCE}{b}', but {why}",
                    i + 1,
                    op.describe()
                )));
            };
            if in_path && operations[by].endpoint != op.endpoint {
                return Err(ScimError::invalid_value(format!(
                    "operation {} ({}) names '{REFERENCE}{b}' as one of its {}, but operation {} creates a {}",
                    i + 1,
                    op.describe(),
                    op.endpoint.as_str(),
                    by + 1,
                    operations[by].endpoint.singular()
                )));
            }
            if noted_by[by] != i {
                noted_by[by] = i;
                depends_on.push(by);
            }
        }
        let op = &mut operations[i];
        op.data_refers = refers;
        op.data_bytes = bytes;
        op.depends_on = depends_on;
    }
    Ok(())
}

/// Walk `data` (without recursion): push the bulkId of every reference it
/// holds onto `found`; answer whether it holds any, and about how many bytes
/// its JSON text has.
fn find_references(data: &Value, found: &mut Vec<String>) -> (bool, usize) {
    let (mut refers, mut bytes) = (false, 0usize);
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                bytes += s.len() + 3;
                if let Some(b) = s.strip_prefix(REFERENCE) {
                    refers = true;
                    found.push(b.to_string());
                }
            }
            Value::Array(items) => {
                bytes += 2 + items.len();
                stack.extend(items);
            }
            Value::Object(fields) => {
                bytes += 2;
                for (k, v) in fields {
                    bytes += k.len() + 4;
                    match v {
                        Value::String(path) if k.eq_ignore_ascii_case("path") => {
                            bytes += path.len() + 3;
                            for b in quoted_references(path) {
                                refers = true;
                                found.push(b.to_string());
                            }
                        }
                        _ => stack.push(v),
                    }
                }
            }
            _ => bytes += 6,
        }
    }
    (refers, bytes)
}

/// The bulkIds of the quoted references in a PatchOp path's filter:
/// `members[value eq "bulkId:u1"]` names `u1`.
fn quoted_references(path: &str) -> Vec<&str> {
    let quoted = format!("\"{REFERENCE}");
    path.match_indices(&quoted)
        .filter_map(|(at, _)| {
            let rest = &path[at + quoted.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// `path` with each quoted reference replaced by the id `resolve` gives it.
fn replace_quoted_references(path: &str, resolve: &dyn Fn(&str) -> Result<String>) -> Result<String> {
    let quoted = format!("\"{REFERENCE}");
    let (mut out, mut rest) = (String::with_capacity(path.len()), path);
    while let Some(at) = rest.find(&quoted) {
        let after = &rest[at + quoted.len()..];
        let Some(end) = after.find('"') else { break };
        out.push_str(&rest[..at]);
        out.push('"');
        out.push_str(&resolve(&after[..end])?);
        rest = &after[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Replace every reference in `data` by the id `resolve` gives it.
fn replace_references(data: &mut Value, resolve: &dyn Fn(&str) -> Result<String>) -> Result<()> {
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(b) = s.strip_prefix(REFERENCE) {
                    *s = resolve(b)?;
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(fields) => {
                for (k, v) in fields.iter_mut() {
                    match v {
                        Value::String(path) if k.eq_ignore_ascii_case("path") => {
                            if path.contains(REFERENCE) {
                                *path = replace_quoted_references(path, resolve)?;
                            }
                        }
                        _ => stack.push(v),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The order operations run in, by Tarjan's algorithm over "depends on"
/// (iterative): a component comes out after every component it depends on,
/// and starting from each operation in the request's order keeps that order
/// wherever no reference says otherwise. Components of more than one
/// operation, or of one that names itself, are circles: each of their
/// operations is marked to be refused, and the circles' details come back
/// with the order.
fn run_order(operations: &mut [Operation]) -> (Vec<usize>, Vec<String>) {
    const UNSEEN: usize = usize::MAX;
    let n = operations.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut next_index = 0;
    let mut order = Vec::with_capacity(n);
    let mut circles: Vec<Vec<usize>> = Vec::new();
    for start in 0..n {
        if index[start] != UNSEEN {
            continue;
        }
        index[start] = next_index;
        low[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        calls.push((start, 0));
        while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
            if let Some(&w) = operations[v].depends_on.get(*edge) {
                *edge += 1;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                let names_itself = component.len() == 1 && operations[v].depends_on.contains(&v);
                if component.len() > 1 || names_itself {
                    circles.push(component.clone());
                }
                order.extend(component);
            }
        }
    }
    let mut details = Vec::with_capacity(circles.len());
    for (c, circle) in circles.iter().enumerate() {
        details.push(circle_detail(operations, circle));
        for &i in circle {
            operations[i].circular = Some(c);
        }
    }
    (order, details)
}

fn circle_detail(operations: &[Operation], circle: &[usize]) -> String {
    let names: Vec<String> = circle
        .iter()
        .take(CIRCLE_NAMES_SHOWN)
        .map(|&i| {
            let b = operations[i].bulk_id.as_deref().unwrap_or_default();
            format!("operation {} ('{b}')", i + 1)
        })
        .collect();
    let more = circle.len().saturating_sub(CIRCLE_NAMES_SHOWN);
    let listed = if more > 0 { format!("{} and {more} more", names.join(", ")) } else { names.join(", ") };
    let who = if circle.len() == 1 {
        format!("{listed} names its own bulkId")
    } else {
        format!("{listed} name each other's bulkIds in a circle")
    };
    format!(
        "{who}; a circle of references is refused (RFC 7644 §3.7.1) and none of its operations was run: create \
         the resources first, then add the references with PATCH operations"
    )
}

/// What one operation answered, for the BulkResponse (§3.7.3).
#[derive(Clone, Debug, PartialEq)]
pub struct OperationResult {
    pub method: Method,
    pub bulk_id: Option<String>,
    /// The resource's URL; absent for a POST that failed, and where a
    /// reference could not say which resource the operation meant.
    pub location: Option<String>,
    /// The resource's ETag after the operation.
    pub version: Option<String>,
    pub status: u16,
    /// The error, when the operation failed; a success carries no body.
    pub error: Option<ScimError>,
}

impl OperationResult {
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(l) = &self.location {
            out.insert("location".into(), l.clone().into());
        }
        out.insert("method".into(), self.method.as_str().into());
        if let Some(b) = &self.bulk_id {
            out.insert("bulkId".into(), b.clone().into());
        }
        if let Some(v) = &self.version {
            out.insert("version".into(), v.clone().into());
        }
        // A string, as the RFC's examples show it.
        out.insert("status".into(), self.status.to_string().into());
        if let Some(e) = &self.error {
            out.insert("response".into(), e.to_json());
        }
        Value::Object(out)
    }
}

/// The BulkResponse of the operations that ran, in the request's order.
pub fn response_json(results: &[OperationResult]) -> Value {
    serde_json::json!({
        "schemas": [BULK_RESPONSE],
        "Operations": results.iter().map(OperationResult::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn parse(ops: Value) -> Result<BulkRequest> {
        BulkRequest::parse(json!({"schemas": [BULK_REQUEST], "Operations": ops}), 1000, ", --bulk-max-operations")
    }

    fn user(bulk_id: &str) -> Value {
        json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"schemas": [USER], "userName": bulk_id}})
    }

    fn group(bulk_id: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": {"displayName": bulk_id, "members": members}})
    }

    fn refused(ops: Value) -> (u16, &'static str, String) {
        let e = parse(ops).unwrap_err();
        (e.status, e.scim_type.map_or("", |t| t.as_str()), e.detail)
    }

    #[test]
    fn operations_without_references_run_in_the_request_order() {
        let r = parse(json!([
            user("a"),
            {"method": "put", "path": "/Users/1", "version": "W/\"2\"", "data": {"userName": "x"}},
            {"method": "Patch", "path": "/Groups/2", "data": {"Operations": []}},
            {"method": "DELETE", "path": "/Users/3", "data": "ignored"},
        ]))
        .unwrap();
        assert_eq!(r.run_order(), vec![0, 1, 2, 3]);
        let ops = r.operations();
        assert_eq!(ops[1].method, Method::Put);
        assert_eq!(ops[1].version.as_deref(), Some("W/\"2\""));
        assert_eq!(ops[2].path_id, Some(PathId::Id("2".into())));
        assert_eq!(ops[3].describe(), "DELETE /Users/3");
        assert_eq!(r.fail_on_errors, None);
    }

    /// RFC 7644 §3.7.2: a group's members may name users the same request creates, also later in it.
    #[test]
    fn a_forward_reference_runs_the_post_it_names_first() {
        let r = parse(json!([group("g", &["bulkId:u1", "bulkId:u2"]), user("x"), user("u2"), user("u1")])).unwrap();
        assert_eq!(r.run_order(), vec![2, 3, 0, 1]);
        // A chain: each POST names the next one's bulkId.
        let r = parse(json!([group("g1", &["bulkId:g2"]), group("g2", &["bulkId:g3"]), group("g3", &[])])).unwrap();
        assert_eq!(r.run_order(), vec![2, 1, 0]);
        // A path reference to a later POST.
        let patch = json!({"method": "PATCH", "path": "/Users/bulkId:u", "data": {"Operations": []}});
        assert_eq!(parse(json!([patch, user("u")])).unwrap().run_order(), vec![1, 0]);
    }

    #[test]
    fn references_are_replaced_in_paths_and_anywhere_in_data() {
        let mut r = parse(json!([
            user("u1"),
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "b",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "bulkId:u1"}}}},
            {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}]}},
            group("g", &[]),
        ]))
        .unwrap();
        assert_eq!(r.run_order(), vec![0, 1, 3, 2]);
        let mut created = Created::default();
        created.record("u1", "id-1");
        let ready = r.take_ready(1, &created).unwrap();
        assert_eq!(
            ready.data["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
            "id-1"
        );
        created.record("u2", "id-2");
        created.record("g", "id-g");
        let ready = r.take_ready(2, &created).unwrap();
        assert_eq!(ready.id.as_deref(), Some("id-g"));
        assert_eq!(ready.data["Operations"][0]["value"], json!([{"value": "id-1"}, {"value": "id-2"}]));
        // Taken once.
        assert_eq!(r.take_ready(2, &created).unwrap().data, Value::Null);
    }

    #[test]
    fn references_in_a_patch_path_filter_are_replaced_and_ordered() {
        let mut r = parse(json!([
            {"method": "PATCH", "path": "/Groups/g0", "data": {"Operations": [
                {"op": "remove", "path": "members[value eq \"bulkId:u1\" or value eq \"bulkId:u2\"]"},
                {"op": "replace", "path": "members[value eq \"plain\"].display", "value": "bulkId:u1"}]}},
            user("u1"),
            user("u2"),
        ]))
        .unwrap();
        assert_eq!(r.run_order(), vec![1, 2, 0], "the POSTs the filter names run first");
        let mut created = Created::default();
        created.record("u1", "id-1");
        created.record("u2", "id-2");
        let ready = r.take_ready(0, &created).unwrap();
        assert_eq!(ready.data["Operations"][0]["path"], "members[value eq \"id-1\" or value eq \"id-2\"]");
        assert_eq!(ready.data["Operations"][1]["path"], "members[value eq \"plain\"].display");
        assert_eq!(ready.data["Operations"][1]["value"], "id-1");
        let missing = parse(json!([{"method": "PATCH", "path": "/Groups/g0", "data": {"Operations": [
            {"op": "remove", "path": "members[value eq \"bulkId:nope\"]"}]}}]));
        assert!(missing.unwrap_err().detail.contains("'bulkId:nope'"));
    }

    /// RFC 7644 §3.7.1's example: two groups, each a member of the other.
    #[test]
    fn a_circle_of_references_is_refused_with_409_and_so_is_what_names_it() {
        let mut r = parse(json!([
            user("u"),
            group("a", &["bulkId:b", "bulkId:u"]),
            group("b", &["bulkId:a"]),
            group("c", &["bulkId:a"]),
            group("self", &["bulkId:self"]),
        ]))
        .unwrap();
        let order = r.run_order();
        assert_eq!(order.len(), 5);
        let at = |i| order.iter().position(|&o| o == i).unwrap();
        assert!(at(0) < at(1) && at(1) < at(3) && at(2) < at(3), "{order:?}");
        let mut created = Created::default();
        created.record("u", "id-u");
        for i in [1, 2] {
            let e = r.take_ready(i, &created).unwrap_err();
            assert_eq!((e.status, e.scim_type), (409, None));
            assert!(e.detail.starts_with("operation 2 ('a'), operation 3 ('b') name each other's bulkIds in a circle"));
            assert!(e.detail.contains("§3.7.1"), "{}", e.detail);
        }
        let e = r.take_ready(3, &created).unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(
            e.detail,
            "operation 4 names 'bulkId:a', but operation 2 (POST /Groups), which has that bulkId, created nothing: \
             this operation was not run"
        );
        let e = r.take_ready(4, &created).unwrap_err();
        assert!(e.detail.starts_with("operation 5 ('self') names its own bulkId"), "{}", e.detail);
        assert!(r.take_ready(0, &created).is_ok());
    }

    #[test]
    fn a_long_chain_of_references_needs_no_recursion() {
        let n = 20_000;
        let ops: Vec<Value> = (0..n)
            .map(|i| {
                let next = if i + 1 < n { vec![format!("bulkId:g{}", i + 1)] } else { vec![] };
                let next: Vec<&str> = next.iter().map(String::as_str).collect();
                group(&format!("g{i}"), &next)
            })
            .collect();
        let r = BulkRequest::parse(json!({"Operations": ops}), n, "").unwrap();
        let order = r.run_order();
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.last(), Some(&0));
        // And a circle through all of them.
        let ops: Vec<Value> = (0..n).map(|i| group(&format!("g{i}"), &[&format!("bulkId:g{}", (i + 1) % n)])).collect();
        let mut r = BulkRequest::parse(json!({"Operations": ops}), n, "").unwrap();
        let e = r.take_ready(n / 2, &Created::default()).unwrap_err();
        assert!(e.detail.contains("and 19990 more name each other's bulkIds"), "{}", e.detail);
    }

    #[test]
    fn the_request_must_be_a_bulk_request() {
        let bad = |body: Value| {
            let e = BulkRequest::parse(body, 10, "").unwrap_err();
            (e.status, e.scim_type.map_or("", |t| t.as_str()), e.detail)
        };
        assert_eq!(bad(json!([])), (400, "invalidSyntax", "a Bulk request must be a JSON object".into()));
        let wrong = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [user("a")]});
        assert_eq!(
            bad(wrong),
            (400, "invalidSyntax", format!("a Bulk request's 'schemas' must contain '{BULK_REQUEST}'"))
        );
        assert_eq!(
            bad(json!({"schemas": [BULK_REQUEST]})),
            (400, "invalidSyntax", "a Bulk request needs an 'Operations' array".into())
        );
        assert_eq!(bad(json!({"Operations": []})).1, "invalidValue");
        for f in [json!(0), json!("1"), json!(1.5), json!(-1)] {
            let (status, t, detail) = bad(json!({"failOnErrors": f, "Operations": [user("a")]}));
            assert_eq!((status, t), (400, "invalidValue"), "{f}");
            assert!(detail.starts_with(&format!("'failOnErrors' is {f};")), "{detail}");
        }
        let r = BulkRequest::parse(json!({"FAILONERRORS": 2, "operations": [user("a")]}), 10, "").unwrap();
        assert_eq!(r.fail_on_errors, Some(2));
        // RFC 7644 §3.7.4: more operations than maxOperations is 413.
        let ops: Vec<Value> = (0..11).map(|i| user(&format!("u{i}"))).collect();
        assert_eq!(
            BulkRequest::parse(json!({"Operations": ops}), 10, ", --bulk-max-operations").unwrap_err(),
            ScimError::new(
                413,
                None,
                "the Bulk request has 11 operations; this server accepts at most 10 (maxOperations, \
                 --bulk-max-operations)"
            )
        );
    }

    #[test]
    fn every_operation_is_checked_before_any_runs() {
        let cases = [
            (json!("POST"), "invalidSyntax", "operation 2 must be a JSON object"),
            (json!({"path": "/Users"}), "invalidSyntax", "operation 2 has no 'method' (POST, PUT, PATCH or DELETE)"),
            (
                json!({"method": "GET", "path": "/Users/1"}),
                "invalidSyntax",
                "operation 2: 'GET' is not a Bulk method (POST, PUT, PATCH or DELETE)",
            ),
            (
                json!({"method": "DELETE"}),
                "invalidValue",
                "operation 2 (DELETE) has no 'path': it names one resource, such as /Users/{id} or \
                 /Groups/bulkId:{bulkId}",
            ),
            (
                json!({"method": "DELETE", "path": "/Things/1"}),
                "invalidValue",
                "operation 2 (DELETE /Things/1): the path names no endpoint a Bulk operation reaches: they are \
                 /Users and /Groups",
            ),
            (
                json!({"method": "DELETE", "path": "/Users"}),
                "invalidValue",
                "operation 2 (DELETE /Users): it names one resource, such as /Users/{id} or /Groups/bulkId:{bulkId}",
            ),
            (
                json!({"method": "DELETE", "path": "/Users/1/x"}),
                "invalidValue",
                "operation 2 (DELETE /Users/1/x): the path names one resource, /Users/{id}; '1/x' is not an id",
            ),
            (
                json!({"method": "DELETE", "path": "/Users/1?attributes=id"}),
                "invalidValue",
                "operation 2 (DELETE /Users/1?attributes=id): a Bulk operation's path cannot carry query parameters",
            ),
            (
                json!({"method": "POST", "path": "/Users/1", "bulkId": "x", "data": {}}),
                "invalidValue",
                "operation 2 (POST /Users/1): a POST's path is its endpoint, /Users, not one resource",
            ),
            (
                json!({"method": "POST", "path": "/Users", "data": {}}),
                "invalidValue",
                "operation 2 (POST /Users) has no 'bulkId': every POST needs one (RFC 7644 §3.7), so that the \
                 response can say which resource it created and other operations can name it",
            ),
            (
                json!({"method": "POST", "path": "/Users", "bulkId": "", "data": {}}),
                "invalidValue",
                "operation 2: a bulkId cannot be empty",
            ),
            (
                json!({"method": "PUT", "path": "/Users/1"}),
                "invalidValue",
                "operation 2 (PUT /Users/1) has no 'data': send the resource a single PUT would send",
            ),
            (
                json!({"method": "PATCH", "path": "/Users/1", "data": []}),
                "invalidValue",
                "operation 2 (PATCH /Users/1): 'data' must be a JSON object",
            ),
            (
                json!({"method": "PATCH", "path": "/Users/1", "version": 3, "data": {}}),
                "invalidValue",
                "operation 2 (PATCH /Users/1): 'version' must be a string, the ETag the resource is expected to \
                 have (W/\"3\")",
            ),
            (
                user("a"),
                "invalidValue",
                "operation 2 has the bulkId 'a', as operation 1 has; each operation's bulkId must be unique within \
                 the request",
            ),
            (
                group("g", &["bulkId:nope"]),
                "invalidValue",
                "operation 2 (POST /Groups) names 'bulkId:nope', but no operation of this request has that bulkId",
            ),
            (
                json!({"method": "DELETE", "path": "/Groups/bulkId:a"}),
                "invalidValue",
                "operation 2 (DELETE /Groups/bulkId:a) names 'bulkId:a' as one of its Groups, but operation 1 \
                 creates a User",
            ),
        ];
        for (op, scim_type, detail) in cases {
            assert_eq!(refused(json!([user("a"), op])), (400, scim_type, detail.to_string()));
        }
        let patch_with_id = json!({"method": "PATCH", "path": "/Users/1", "bulkId": "p", "data": {}});
        assert_eq!(
            refused(json!([patch_with_id, group("g", &["bulkId:p"])])).2,
            "operation 2 (POST /Groups) names 'bulkId:p', but it is the bulkId of operation 1 (PATCH /Users/1), \
             which creates nothing: only a POST's bulkId names a resource"
        );
    }

    /// RFC 7644 §3.7.3: `status` is a string; an error carries its SCIM error as `response`.
    #[test]
    fn the_response_lists_each_result() {
        let ok = OperationResult {
            method: Method::Post,
            bulk_id: Some("u".into()),
            location: Some("https://x/scim/v2/t/Users/1".into()),
            version: Some("W/\"1\"".into()),
            status: 201,
            error: None,
        };
        let failed = OperationResult {
            method: Method::Post,
            bulk_id: Some("v".into()),
            location: None,
            version: None,
            status: 409,
            error: Some(ScimError::uniqueness("taken")),
        };
        assert_eq!(
            response_json(&[ok, failed]),
            json!({"schemas": [BULK_RESPONSE], "Operations": [
                {"location": "https://x/scim/v2/t/Users/1", "method": "POST", "bulkId": "u", "version": "W/\"1\"",
                 "status": "201"},
                {"method": "POST", "bulkId": "v", "status": "409", "response": {
                    "schemas": [crate::error::ERROR_SCHEMA], "status": "409", "scimType": "uniqueness", "detail": "taken"}},
            ]})
        );
    }
}
