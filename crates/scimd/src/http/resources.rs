//! `/Users` and `/Groups`: create, read, list and search, replace, patch and
//! delete (RFC 7644 §3.3–§3.7), with ETags, projections and pagination.

use super::{
    ApiError, AppState, BodySize, CallerExt, MAX_RESULTS, Params, ResourceId, ScimJson, base_url, scim_bytes_response,
};
use crate::clock;
use crate::store::read_cache::{CachedUser, ReadCache};
use crate::store::{
    Doc, Kind, ListQuery, Member, NewResource, RawResource, StoredResource, Update, update_from_current,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::patch::{self, MemberChange};
use scim_core::{AttrPath, Projection, ResourceType, ScimError, parse_filter, resource};
use serde_json::{Value, json};
use std::sync::Arc;

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// RFC 7232 weak comparison of an `If-Match` / `If-None-Match` list with our ETag.
fn etag_matches(header_value: &str, version: i64) -> bool {
    let ours = version.to_string();
    header_value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == ours)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|h| h.to_str().ok()).map(str::to_string)
}

fn precondition_check(if_match: Option<&str>, current: &StoredResource) -> Result<(), ScimError> {
    match if_match {
        Some(tags) if !etag_matches(tags, current.version) => Err(ScimError::new(
            412,
            None,
            format!(
                "the resource has changed: its version is {}, the request's If-Match is {tags}",
                etag(current.version)
            ),
        )),
        _ => Ok(()),
    }
}

struct Ctx<'a> {
    state: &'a AppState,
    tenant_id: i64,
    base: String,
    kind: Kind,
}

impl Ctx<'_> {
    fn rt(&self) -> Arc<ResourceType> {
        match self.kind {
            Kind::User => self.state.users.clone(),
            Kind::Group => self.state.groups.clone(),
        }
    }
    fn what(&self, id: &str) -> String {
        format!("{} '{id}'", self.kind.as_str())
    }
    fn location(&self, id: &str) -> String {
        format!("{}/{}s/{id}", self.base, self.kind.as_str())
    }

    /// The full resource a client sees, before projection, as a tree: the
    /// same object [`Shown`] writes as text.
    fn render(
        &self,
        r: &StoredResource,
        members: Option<&[Member]>,
        groups: Option<&[(String, Option<String>)]>,
    ) -> Value {
        // Serialising a tree of values into a tree cannot fail.
        serde_json::to_value(Shown { ctx: self, r, members, groups }).unwrap_or(Value::Null)
    }

    /// A user's `groups`: each with its `$ref` and display name.
    fn groups_json(&self, groups: &[(String, Option<String>)]) -> Value {
        let items = groups
            .iter()
            .map(|(gid, display)| {
                let mut g = json!({"value": gid, "$ref": format!("{}/Groups/{gid}", self.base), "type": "direct"});
                if let (Some(d), Some(o)) = (display, g.as_object_mut()) {
                    o.insert("display".into(), d.clone().into());
                }
                g
            })
            .collect();
        Value::Array(items)
    }

    /// Members (of groups) or groups (of users) of `rows`, fetched only when
    /// the projection returns them and the read did not bring them.
    async fn relations(&self, rows: &[StoredResource], projection: &Projection) -> Result<Relations, ApiError> {
        let rt = self.rt();
        let ids = || rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        let store = &self.state.store;
        Ok(match self.kind {
            Kind::Group if projection.includes(&rt, "members") => Relations {
                members: Some(
                    store.members_of(self.tenant_id, &ids()).await.map_err(|e| ApiError::from_store(e, "members"))?,
                ),
                groups: None,
            },
            // Reads bring a user's groups along; writes' results may not.
            Kind::User if projection.includes(&rt, "groups") && rows.iter().any(|r| r.groups.is_none()) => Relations {
                members: None,
                groups: Some(
                    store.groups_of(self.tenant_id, &ids()).await.map_err(|e| ApiError::from_store(e, "groups"))?,
                ),
            },
            _ => Relations::default(),
        })
    }

    /// Render several resources, fetching members or groups only when the
    /// projection returns them.
    async fn render_many(&self, rows: &[StoredResource], projection: &Projection) -> Result<Vec<Value>, ApiError> {
        let rt = self.rt();
        let rel = self.relations(rows, projection).await?;
        // Decided once for the page, not once per resource.
        let shown = projection.resolve(&rt);
        Ok(rows
            .iter()
            .map(|r| {
                let (m, g) = rel.of(r);
                shown.apply_owned(self.render(r, m, g))
            })
            .collect())
    }

    /// A page of resources as JSON texts. A whole resource (no projection)
    /// is spliced around its stored text; a projection works on the tree.
    async fn render_page(&self, rows: Vec<RawResource>, projection: &Projection) -> Result<Vec<String>, ApiError> {
        let corrupt = |e| ApiError::from_store(e, "resources");
        if *projection != Projection::default() {
            let parsed = rows.into_iter().map(RawResource::parse).collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
            return Ok(self.render_many(&parsed, projection).await?.iter().map(Value::to_string).collect());
        }
        // A list reads users with their groups; groups' members come apart.
        let members = match self.kind {
            Kind::Group => {
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let members = self.state.store.members_of(self.tenant_id, &ids).await;
                Some(members.map_err(|e| ApiError::from_store(e, "members"))?)
            }
            Kind::User => None,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let groups = r.groups().map_err(corrupt)?;
            let m = members.as_ref().map(|m| m.get(&r.id).map(Vec::as_slice).unwrap_or(&[]));
            out.push(self.splice(r, m, groups.as_deref()).ok_or_else(|| {
                corrupt(crate::store::StoreError::Corrupt(format!("the document of {} is not an object", r.id)))
            })?);
        }
        Ok(out)
    }

    /// [`Ctx::render`] as text, without parsing the stored document: its
    /// object's members are copied between `id`/`meta` and `members`/`groups`
    /// (it never holds those: they are read-only or kept apart).
    fn splice(
        &self,
        r: &RawResource,
        members: Option<&[Member]>,
        groups: Option<&[(String, Option<String>)]>,
    ) -> Option<String> {
        let inner = r.doc_text.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
        let mut out = String::with_capacity(r.doc_text.len() + 320);
        out.push_str("{\"id\":");
        push_json_str(&mut out, &r.id);
        out.push_str(",\"meta\":{\"resourceType\":");
        push_json_str(&mut out, r.kind.as_str());
        out.push_str(",\"created\":");
        push_json_str(&mut out, &r.created_at);
        out.push_str(",\"lastModified\":");
        push_json_str(&mut out, &r.updated_at);
        out.push_str(",\"location\":");
        push_json_str_of(&mut out, &[&self.base, "/", r.kind.as_str(), "s/", &r.id]);
        out.push_str(",\"version\":\"W/\\\"");
        out.push_str(&r.version.to_string());
        out.push_str("\\\"\"");
        out.push('}');
        if let Some(members) = members {
            out.push_str(",\"members\":");
            out.push_str(&Value::Array(members.iter().map(Member::to_json).collect()).to_string());
        }
        if let Some(groups) = groups.filter(|g| !g.is_empty()) {
            out.push_str(",\"groups\":[");
            for (i, (gid, display)) in groups.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"value\":");
                push_json_str(&mut out, gid);
                out.push_str(",\"$ref\":");
                push_json_str_of(&mut out, &[&self.base, "/Groups/", gid]);
                out.push_str(",\"type\":\"direct\"");
                if let Some(d) = display {
                    out.push_str(",\"display\":");
                    push_json_str(&mut out, d);
                }
                out.push('}');
            }
            out.push(']');
        }
        if !inner.is_empty() {
            out.push(',');
            out.push_str(inner);
        }
        out.push('}');
        Some(out)
    }

    /// One resource as JSON text. A whole resource is written straight from
    /// its document, without a copy of the tree (a document may be megabytes).
    async fn render_one(&self, r: &StoredResource, projection: &Projection) -> Result<Bytes, ApiError> {
        if *projection != Projection::default() {
            let body = self.render_many(std::slice::from_ref(r), projection).await?.pop().unwrap_or(Value::Null);
            return Ok(Bytes::from(body.to_string()));
        }
        let rel = self.relations(std::slice::from_ref(r), projection).await?;
        let (members, groups) = rel.of(r);
        let shown = Shown { ctx: self, r, members, groups };
        Ok(Bytes::from(crate::store::json_bytes(&shown)))
    }

    async fn respond_one(
        &self,
        status: StatusCode,
        r: &StoredResource,
        projection: &Projection,
    ) -> Result<Response, ApiError> {
        let body = self.render_one(r, projection).await?;
        let mut resp = one_response(status, body, r.version);
        if status == StatusCode::CREATED
            && let Ok(v) = HeaderValue::from_str(&self.location(&r.id))
        {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    }

    /// The read cache, when this request may use it: a whole user (no
    /// `attributes` or `excludedAttributes`) from a store that keeps one.
    fn cache_for(&self, projection: &Projection) -> Option<&ReadCache> {
        (self.kind == Kind::User && *projection == Projection::default())
            .then(|| self.state.store.read_cache())
            .flatten()
    }
}

/// A user's groups as (id, displayName).
type GroupRefs<'r> = &'r [(String, Option<String>)];

#[derive(Default)]
struct Relations {
    members: Option<std::collections::HashMap<String, Vec<Member>>>,
    groups: Option<crate::store::GroupsByUser>,
}

impl Relations {
    fn of<'r>(&'r self, r: &'r StoredResource) -> (Option<&'r [Member]>, Option<GroupRefs<'r>>) {
        let m = self.members.as_ref().map(|m| m.get(&r.id).map(Vec::as_slice).unwrap_or(&[]));
        let g = match (&self.groups, &r.groups) {
            (Some(g), _) => Some(g.get(&r.id).map(Vec::as_slice).unwrap_or(&[])),
            (None, Some(own)) => Some(own.as_slice()),
            (None, None) => None,
        };
        (m, g)
    }
}

/// The one rendering of a resource: `id`, `meta`, the stored document, then
/// `members` (when read) and `groups` (when the user has some). Written
/// straight from the stored document, it copies nothing.
struct Shown<'a> {
    ctx: &'a Ctx<'a>,
    r: &'a StoredResource,
    members: Option<&'a [Member]>,
    groups: Option<&'a [(String, Option<String>)]>,
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (r, c) = (self.r, self.ctx);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &r.id)?;
        let meta = json!({
            "resourceType": r.kind.as_str(),
            "created": r.created_at,
            "lastModified": r.updated_at,
            "location": c.location(&r.id),
            "version": etag(r.version),
        });
        map.serialize_entry("meta", &meta)?;
        if let Value::Object(doc) = &r.doc {
            for (k, v) in doc.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "meta" | "members" | "groups")) {
                map.serialize_entry(k, v)?;
            }
        }
        if let Some(members) = self.members {
            map.serialize_entry("members", &members.iter().map(Member::to_json).collect::<Vec<_>>())?;
        }
        if let Some(groups) = self.groups.filter(|g| !g.is_empty()) {
            map.serialize_entry("groups", &c.groups_json(groups))?;
        }
        map.end()
    }
}

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn one_response(status: StatusCode, body: Bytes, version: i64) -> Response {
    with_etag(scim_bytes_response(status, body), version)
}

/// Which resource type a request is for, from the endpoint it reached.
pub struct Endpoint(Kind);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Endpoint {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        match parts.uri.path().split('/').find(|seg| *seg == "Users" || *seg == "Groups") {
            Some("Users") => Ok(Endpoint(Kind::User)),
            Some(_) => Ok(Endpoint(Kind::Group)),
            None => Err(ApiError::status(404, format!("there is no endpoint at {}", parts.uri.path()))),
        }
    }
}

fn ctx<'a>(state: &'a AppState, caller: &CallerExt, headers: &HeaderMap, kind: Kind) -> Ctx<'a> {
    Ctx { state, tenant_id: caller.tenant.id, base: base_url(&state.config, headers, &caller.tenant.name), kind }
}

fn projection(params: &Params) -> Result<Projection, ApiError> {
    Ok(Projection::parse(params.get("attributes"), params.get("excludedAttributes"))?)
}

/// Split a prepared group document into the document and its member rows.
fn take_members(doc: &mut Value) -> Vec<Member> {
    match doc.as_object_mut().and_then(|o| o.remove("members")) {
        Some(Value::Array(items)) => items.iter().filter_map(Member::from_json).collect(),
        _ => Vec::new(),
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ------------------------------------------------------------------ create

async fn create(c: Ctx<'_>, params: Params, body: Value, size: BodySize) -> Result<Response, ApiError> {
    let rt = c.rt();
    let projection = projection(&params)?;
    let kind = c.kind;
    let limits = c.state.config.limits;
    let prepared = size
        .run(move || -> Result<(Doc, Vec<Member>), ScimError> {
            let mut doc = resource::prepare(&body, &rt, None, &limits)?;
            drop(body); // before the text is made: never three copies at once
            let members = if kind == Kind::Group { take_members(&mut doc) } else { Vec::new() };
            if kind == Kind::Group && members.iter().any(|m| m.value.is_empty()) {
                return Err(ScimError::invalid_value("every member needs a 'value'"));
            }
            Ok((Doc::new(doc, kind), members))
        })
        .await?;
    let (doc, members) = prepared?;
    let user_name = doc.value.get("userName").and_then(Value::as_str).unwrap_or_default().to_string();
    let new = NewResource { kind: c.kind, id: new_id(), doc, now: clock::now(), members, scim_managed: true };
    let stored = c.state.store.insert(c.tenant_id, new).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => ApiError(ScimError::uniqueness(format!(
            "a User with userName '{user_name}' already exists in this tenant (userName is unique, ignoring case)"
        ))),
        other => ApiError::from_store(other, "resource"),
    })?;
    c.respond_one(StatusCode::CREATED, &stored, &projection).await
}

// ------------------------------------------------------------------ read

async fn read(c: Ctx<'_>, id: &str, params: Params, headers: &HeaderMap) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok());
    let cache = c.cache_for(&projection);
    if let Some(hit) = cache.and_then(|cache| cache.get(c.tenant_id, id, &c.base)) {
        if if_none_match.is_some_and(|tags| etag_matches(tags, hit.version)) {
            return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), hit.version));
        }
        return Ok(one_response(StatusCode::OK, hit.body, hit.version));
    }
    let ticket = cache.map(|cache| cache.ticket(c.tenant_id));
    let stored = c
        .state
        .store
        .get(c.tenant_id, c.kind, id)
        .await
        .map_err(|e| ApiError::from_store(e, "resource"))?
        .ok_or_else(|| ApiError(ScimError::not_found(format!("{} not found", c.what(id)))))?;
    if if_none_match.is_some_and(|tags| etag_matches(tags, stored.version)) {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), stored.version));
    }
    let body = c.render_one(&stored, &projection).await?;
    if let (Some(cache), Some(ticket)) = (cache, ticket) {
        let user = CachedUser { body: body.clone(), version: stored.version };
        cache.put(ticket, c.tenant_id, &stored.id, &user_name_key(&stored), &c.base, user);
    }
    Ok(one_response(StatusCode::OK, body, stored.version))
}

/// The userName as the store indexes it (lowercased: it is not case-exact).
fn user_name_key(r: &StoredResource) -> String {
    r.doc.get("userName").and_then(Value::as_str).unwrap_or_default().to_lowercase()
}

/// The lowercased name of `userName eq "…"` (what Entra and Okta send before
/// a create), the one list the read cache answers.
fn user_name_lookup(c: &Ctx<'_>, query: &ListQuery) -> Option<String> {
    let Some(Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(name) }) = &query.filter else {
        return None;
    };
    let plain = query.sort_by.is_none() && query.offset == 0 && query.limit >= 1;
    let user_name = path.sub.is_none()
        && path.name.eq_ignore_ascii_case("userName")
        && path.urn.as_deref().is_none_or(|u| c.state.users.is_core_urn(u));
    (plain && user_name).then(|| name.to_lowercase())
}

// ------------------------------------------------------------------ list and search

struct Search {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: Projection,
}

fn int_param(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| ApiError(ScimError::invalid_value(format!("'{name}' must be an integer, not '{t}'"))))
    })
    .transpose()
}

impl Search {
    fn from_params(params: &Params) -> Result<Search, ApiError> {
        Ok(Search {
            filter: params.get("filter").map(str::to_string),
            sort_by: params.get("sortBy").map(str::to_string),
            sort_order: params.get("sortOrder").map(str::to_string),
            start_index: int_param("startIndex", params.get("startIndex"))?,
            count: int_param("count", params.get("count"))?,
            projection: projection(params)?,
        })
    }

    /// A SearchRequest body (RFC 7644 §3.4.3).
    fn from_body(body: &Value) -> Result<Search, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax("a search request must be a JSON object").into());
        };
        let get = |k: &str| obj.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
        let text = |k: &str| -> Result<Option<String>, ApiError> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be a string")).into()),
            }
        };
        let list = |k: &str| -> Result<Option<String>, ApiError> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => {
                    Ok(Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")))
                }
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an array of attribute names")).into()),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ApiError> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be an integer")).into()),
                Some(Value::String(s)) => int_param(k, Some(s)),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an integer")).into()),
            }
        };
        let attributes = list("attributes")?;
        let excluded = list("excludedAttributes")?;
        Ok(Search {
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            projection: Projection::parse(attributes.as_deref(), excluded.as_deref())?,
        })
    }

    fn start_index(&self) -> i64 {
        self.start_index.unwrap_or(1).max(1)
    }
    fn count(&self) -> i64 {
        self.count.unwrap_or(MAX_RESULTS).clamp(0, MAX_RESULTS)
    }

    fn query(&self) -> Result<ListQuery, ApiError> {
        let filter = self.filter.as_deref().filter(|f| !f.trim().is_empty()).map(parse_filter).transpose()?;
        let sort_by = self
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail))))
            .transpose()?;
        let descending = match self.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") | Some("") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{other}'"
                ))
                .into());
            }
        };
        Ok(ListQuery { filter, sort_by, descending, offset: self.start_index() - 1, limit: self.count() })
    }
}

/// A JSON string literal of the parts joined: quoted, with `"`, `\\` and
/// control characters escaped.
fn push_json_str_of(out: &mut String, parts: &[&str]) {
    out.push('"');
    for part in parts {
        if !part.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            out.push_str(part);
            continue;
        }
        for c in part.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn push_json_str(out: &mut String, s: &str) {
    push_json_str_of(out, &[s]);
}

/// A ListResponse around resources that are JSON texts already.
fn list_response<T: AsRef<[u8]>>(total: i64, start_index: i64, resources: &[T]) -> Response {
    let head = format!(
        "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":{total},\"startIndex\":{start_index},\
         \"itemsPerPage\":{},\"Resources\":[",
        resources.len()
    );
    let size = head.len() + resources.iter().map(|r| r.as_ref().len() + 1).sum::<usize>() + 2;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.as_ref());
    }
    body.extend_from_slice(b"]}");
    scim_bytes_response(StatusCode::OK, Bytes::from(body))
}

async fn list(c: Ctx<'_>, search: Search) -> Result<Response, ApiError> {
    let query = search.query()?;
    let rt = c.rt();
    let cached = c.cache_for(&search.projection).zip(user_name_lookup(&c, &query));
    if let Some((cache, name)) = &cached
        && let Some(hit) = cache.get_by_user_name(c.tenant_id, name, &c.base)
    {
        return Ok(list_response(1, 1, &[hit.body]));
    }
    let ticket = cached.as_ref().map(|(cache, _)| cache.ticket(c.tenant_id));
    let (total, mut rows) =
        c.state.store.list(c.tenant_id, c.kind, &query, &rt).await.map_err(|e| ApiError::from_store(e, "resources"))?;
    if let (Some((cache, name)), Some(ticket), 1, 1) = (&cached, ticket, rows.len(), total)
        && let Some(row) = rows.pop()
    {
        // Rendered as a GET renders it, so the cache holds one form of a user.
        let user = row.parse().map_err(|e| ApiError::from_store(e, "resources"))?;
        let body = c.render_one(&user, &search.projection).await?;
        if user_name_key(&user) == *name {
            let entry = CachedUser { body: body.clone(), version: user.version };
            cache.put(ticket, c.tenant_id, &user.id, name, &c.base, entry);
        }
        return Ok(list_response(1, 1, &[body]));
    }
    let resources = c.render_page(rows, &search.projection).await?;
    Ok(list_response(total, search.start_index(), &resources))
}

/// `POST /.search` at the root: Users, then Groups, paged as one list. A
/// filter that names attributes only one type has applies to that type alone.
pub async fn search_root(
    State(s): State<AppState>,
    caller: CallerExt,
    headers: HeaderMap,
    ScimJson(body, _): ScimJson,
) -> Result<Response, ApiError> {
    let search = Search::from_body(&body)?;
    let query = search.query()?;
    let mut total = 0;
    let mut resources = Vec::new();
    let mut skip = query.offset;
    let mut want = query.limit;
    let mut applicable = 0;
    let mut first_error = None;
    for kind in [Kind::User, Kind::Group] {
        let c = ctx(&s, &caller, &headers, kind);
        let rt = c.rt();
        if let Some(f) = &query.filter
            && let Err(e) = scim_core::filter::validate(f, &rt)
        {
            first_error.get_or_insert(e);
            continue;
        }
        applicable += 1;
        let q = ListQuery { offset: skip, limit: want, ..query.clone() };
        let (n, rows) =
            s.store.list(c.tenant_id, kind, &q, &rt).await.map_err(|e| ApiError::from_store(e, "resources"))?;
        total += n;
        skip = (skip - n).max(0);
        want -= rows.len() as i64;
        resources.extend(c.render_page(rows, &search.projection).await?);
    }
    if applicable == 0
        && let Some(e) = first_error
    {
        return Err(e.into());
    }
    Ok(list_response(total, search.start_index(), &resources))
}

// ------------------------------------------------------------------ replace

async fn replace(
    c: Ctx<'_>,
    id: &str,
    params: Params,
    headers: &HeaderMap,
    body: Value,
    size: BodySize,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let rt = c.rt();
    let kind = c.kind;
    let if_match = if_match(headers);
    let limits = c.state.config.limits;
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, ScimError> {
        precondition_check(if_match.as_deref(), current)?;
        let mut doc = resource::prepare(&body, &rt, Some(&current.doc), &limits)?;
        let member_changes = if kind == Kind::Group {
            let members = take_members(&mut doc);
            vec![MemberChange::Replace(members.iter().map(Member::to_json).collect())]
        } else {
            Vec::new()
        };
        Ok(Update {
            doc: Some(Doc::new(doc, kind)),
            member_changes,
            now: clock::now(),
            scim_managed: true,
            based_on: Some(current.version),
        })
    });
    let off_thread = size.is_large();
    let stored = update_from_current(&c.state.store, c.tenant_id, c.kind, id, off_thread, decide)
        .await
        .map_err(|e| conflict_detail(e, &c, id))?;
    c.respond_one(StatusCode::OK, &stored, &projection).await
}

fn conflict_detail(e: crate::store::StoreError, c: &Ctx<'_>, id: &str) -> ApiError {
    match e {
        crate::store::StoreError::Conflict(_) => ApiError(ScimError::uniqueness(
            "another User in this tenant already has that userName (userName is unique, ignoring case)",
        )),
        other => ApiError::from_store(other, &c.what(id)),
    }
}

// ------------------------------------------------------------------ patch

async fn patch_resource(
    c: Ctx<'_>,
    id: &str,
    params: Params,
    headers: &HeaderMap,
    body: Value,
    size: BodySize,
) -> Result<Response, ApiError> {
    let projection = projection(&params)?;
    let rt = c.rt();
    let kind = c.kind;
    let parse_rt = rt.clone();
    let limits = c.state.config.limits;
    let parsed = size
        .run(move || -> Result<_, ScimError> {
            let ops = patch::parse(&body, &limits)?;
            if kind == Kind::Group { patch::split_members(&ops, &parse_rt, &limits) } else { Ok((ops, Vec::new())) }
        })
        .await?;
    let (doc_ops, member_changes) = parsed?;
    let if_match = if_match(headers);
    // A PATCH of members alone does not depend on the document: it needs no
    // version check (concurrent membership changes of one group all apply).
    let depends_on_current = !doc_ops.is_empty() || if_match.is_some();
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, ScimError> {
        precondition_check(if_match.as_deref(), current)?;
        let doc = if doc_ops.is_empty() {
            None
        } else {
            let mut doc = current.doc.clone();
            // The id is in the document while patching, so Okta's rename that
            // repeats it is recognised as unchanged.
            if let Some(o) = doc.as_object_mut() {
                o.insert("id".into(), current.id.clone().into());
            }
            doc = patch::apply(&doc, &doc_ops, &rt, &limits)?;
            if let Some(o) = doc.as_object_mut() {
                o.remove("id");
                o.remove("members");
            }
            Some(Doc::new(doc, kind))
        };
        Ok(Update {
            doc,
            member_changes: member_changes.clone(),
            now: clock::now(),
            scim_managed: true,
            based_on: depends_on_current.then_some(current.version),
        })
    });
    let off_thread = size.is_large();
    let stored = update_from_current(&c.state.store, c.tenant_id, c.kind, id, off_thread, decide)
        .await
        .map_err(|e| conflict_detail(e, &c, id))?;
    // RFC 7644 §3.5.2 allows 204; Entra asks for it on groups.
    if c.kind == Kind::Group && c.state.config.group_patch_no_content && projection == Projection::default() {
        return Ok(with_etag(StatusCode::NO_CONTENT.into_response(), stored.version));
    }
    c.respond_one(StatusCode::OK, &stored, &projection).await
}

// ------------------------------------------------------------------ delete

async fn delete(c: Ctx<'_>, id: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let if_match = if_match(headers);
    let check = Arc::new(move |current: &StoredResource| precondition_check(if_match.as_deref(), current));
    c.state.store.delete(c.tenant_id, c.kind, id, check).await.map_err(|e| ApiError::from_store(e, &c.what(id)))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------ handlers (for /Users and /Groups alike)

pub async fn create_one(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    params: Params,
    ScimJson(body, size): ScimJson,
) -> Result<Response, ApiError> {
    create(ctx(&s, &caller, &headers, kind), params, body, size).await
}

pub async fn get_one(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    ResourceId(id): ResourceId,
    params: Params,
) -> Result<Response, ApiError> {
    read(ctx(&s, &caller, &headers, kind), &id, params, &headers).await
}

pub async fn list_all(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    list(ctx(&s, &caller, &headers, kind), Search::from_params(&params)?).await
}

pub async fn search(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    ScimJson(body, _): ScimJson,
) -> Result<Response, ApiError> {
    list(ctx(&s, &caller, &headers, kind), Search::from_body(&body)?).await
}

pub async fn replace_one(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    ResourceId(id): ResourceId,
    params: Params,
    ScimJson(body, size): ScimJson,
) -> Result<Response, ApiError> {
    replace(ctx(&s, &caller, &headers, kind), &id, params, &headers, body, size).await
}

pub async fn patch_one(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    ResourceId(id): ResourceId,
    params: Params,
    ScimJson(body, size): ScimJson,
) -> Result<Response, ApiError> {
    patch_resource(ctx(&s, &caller, &headers, kind), &id, params, &headers, body, size).await
}

pub async fn delete_one(
    State(s): State<AppState>,
    Endpoint(kind): Endpoint,
    caller: CallerExt,
    headers: HeaderMap,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    delete(ctx(&s, &caller, &headers, kind), &id, &headers).await
}
