//! `/Users` and `/Groups`: create, read, list and search, replace, patch and
//! delete (RFC 7644 §3.3–§3.7), with ETags, projections and pagination.
//! Requests are parsed here and by scim-core (list requests, ETags, the one
//! renderer); every write is an operation of [`crate::service`].

use super::base::ScimBase;
use super::cursor::{Binding, Cursors, Position, Scope};
use super::{ApiError, AppState, MAX_RESULTS, Params, ResourceId, ScimJson, base_url, scim_bytes_response};
use crate::auth::Caller;
use crate::cache::{CachedUser, UserCache};
use crate::service::resources::take_members;
use crate::service::{Actor, Update};
use crate::store::{Doc, GroupsByUser, Kind, ListQuery, NewResource, Place, RawResource, StoredResource};
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::patch::{self, MemberChange};
use scim_core::policy::UnknownAttributes;
use scim_core::render::{self, Member, Shown};
use scim_core::{ListRequest, Projection, ResourceType, ScimError, etag, list, resource};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// One SCIM request's context: the tenant, the endpoint's resource type and
/// the base URL its resources are shown under, as the request used it.
pub(crate) struct Ctx {
    state: AppState,
    tenant_id: i64,
    base: String,
    kind: Kind,
    if_match: Option<String>,
    if_none_match: Option<String>,
    /// Hand-made users outside these domains are invisible here (empty: none is).
    allowed_domains: Arc<Vec<String>>,
    /// The endpoint's resource type with the tenant's extensions.
    rt: Arc<ResourceType>,
    unknown_attributes: UnknownAttributes,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let kind = match parts.uri.path().split('/').find(|seg| *seg == "Users" || *seg == "Groups") {
            Some("Users") => Kind::User,
            Some(_) => Kind::Group,
            None => return Err(ApiError::status(404, format!("there is no endpoint at {}", parts.uri.path()))),
        };
        let Some(caller) = parts.extensions.get::<Caller>() else {
            return Err(ApiError::status(401, "authentication required: send 'Authorization: Bearer <token>'"));
        };
        let view = parts.extensions.get::<super::TenantView>();
        let allowed_domains = view.map(|v| v.allowed_domains.clone()).unwrap_or_default();
        let rt = match (view, kind) {
            (Some(v), kind) => v.resource_type(kind).clone(),
            (None, Kind::User) => state.users.clone(),
            (None, Kind::Group) => state.groups.clone(),
        };
        let unknown_attributes = view.map(|v| v.unknown_attributes).unwrap_or_default();
        let text_of = |name| parts.headers.get(name).and_then(|h: &HeaderValue| h.to_str().ok()).map(str::to_string);
        // Put there by `authenticate`, which every SCIM route passes.
        let base = match parts.extensions.get::<ScimBase>() {
            Some(base) => base.0.to_string(),
            None => base_url(&state.config, &parts.headers, &caller.tenant.name),
        };
        Ok(Ctx {
            base,
            tenant_id: caller.tenant.id,
            state: state.clone(),
            kind,
            if_match: text_of(header::IF_MATCH),
            if_none_match: text_of(header::IF_NONE_MATCH),
            allowed_domains,
            rt,
            unknown_attributes,
        })
    }
}

impl Ctx {
    /// The context of one operation of a Bulk request (or of one resource
    /// type of a root `.search`): that request's tenant, base URL and
    /// visibility rule, the operation's resource type, and its `version` as
    /// the `If-Match` a single request would send.
    pub(crate) fn for_operation(
        state: &AppState,
        caller: &Caller,
        view: &super::TenantView,
        base: &str,
        kind: Kind,
        if_match: Option<String>,
    ) -> Ctx {
        Ctx {
            state: state.clone(),
            tenant_id: caller.tenant.id,
            base: base.to_string(),
            kind,
            if_match,
            if_none_match: None,
            allowed_domains: view.allowed_domains.clone(),
            rt: view.resource_type(kind).clone(),
            unknown_attributes: view.unknown_attributes,
        }
    }

    /// The URL of this type's resource `id` (`Location`, a Bulk result's `location`).
    pub(crate) fn location(&self, id: &str) -> String {
        format!("{}/{}s/{id}", self.base, self.kind.as_str())
    }

    /// Is this resource one the identity provider may not see?
    fn hidden(&self, r: &StoredResource) -> bool {
        let user_name = r.doc.get("userName").and_then(Value::as_str);
        r.kind == Kind::User
            && crate::service::policy::hidden_from_scim(&self.allowed_domains, r.scim_managed, user_name)
    }

    fn rt(&self) -> Arc<ResourceType> {
        self.rt.clone()
    }

    /// What a write's body names that no schema of the tenant defines:
    /// refused under `unknown_attributes: reject`, else named in the audit row.
    fn check_unknown(&self, names: Vec<String>) -> Result<(), ScimError> {
        if names.is_empty() {
            return Ok(());
        }
        if self.unknown_attributes == UnknownAttributes::Reject {
            return Err(scim_core::extension::refusal(&names, &self.rt));
        }
        if let Some(ctx) = crate::service::context::current() {
            ctx.note_for_row(format!("ignored attributes no schema defines: {}", scim_core::extension::quoted(&names)));
        }
        Ok(())
    }

    /// Members (of groups) or groups (of users) of `rows`, fetched only when
    /// the projection returns them and the read did not bring them.
    async fn relations(&self, rows: &[StoredResource], projection: &Projection) -> Result<Relations, ApiError> {
        let rt = self.rt();
        let ids = || rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        let svc = &self.state.svc;
        Ok(match self.kind {
            Kind::Group if projection.includes(&rt, "members") => {
                Relations { members: Some(svc.members_of(self.tenant_id, &ids()).await?), groups: None }
            }
            // Reads bring a user's groups along; writes' results may not.
            Kind::User if projection.includes(&rt, "groups") && rows.iter().any(|r| r.groups.is_none()) => {
                Relations { members: None, groups: Some(svc.groups_of(self.tenant_id, &ids()).await?) }
            }
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
        Ok(rows.iter().map(|r| shown.apply_owned(render::to_value(&rel.shown(&self.base, r)))).collect())
    }

    /// Is a resource written through the projection rather than straight
    /// from its stored text? When one is asked for, and when the tenant's
    /// extensions keep stored values out of a default answer (`returned`).
    fn through_projection(&self, projection: &Projection) -> bool {
        *projection != Projection::default() || scim_core::extension::hides_values(&self.rt)
    }

    /// A page of resources as JSON texts. A whole resource (no projection)
    /// is spliced around its stored text; a projection works on the tree.
    async fn render_page(&self, rows: Vec<RawResource>, projection: &Projection) -> Result<Vec<String>, ApiError> {
        if self.through_projection(projection) {
            let parsed = rows.into_iter().map(RawResource::parse).collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
            return Ok(self.render_many(&parsed, projection).await?.iter().map(Value::to_string).collect());
        }
        // A list reads users with their groups; groups' members come apart.
        let members = match self.kind {
            Kind::Group => {
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                Some(self.state.svc.members_of(self.tenant_id, &ids).await?)
            }
            Kind::User => None,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let groups = r.groups().map_err(corrupt)?;
            let m = members.as_ref().map(|m| m.get(&r.id).map(Vec::as_slice).unwrap_or(&[]));
            let text = render::splice(&self.base, &r.meta(), &r.doc_text, m, groups.as_deref());
            out.push(text.ok_or_else(|| ApiError::internal("read a resource", &format!("{} is not an object", r.id)))?);
        }
        Ok(out)
    }

    /// One resource as JSON text. A whole resource is written straight from
    /// its document, without a copy of the tree (a document may be megabytes).
    async fn render_one(&self, r: &StoredResource, projection: &Projection) -> Result<Bytes, ApiError> {
        if self.through_projection(projection) {
            let body = self.render_many(std::slice::from_ref(r), projection).await?.pop().unwrap_or(Value::Null);
            return Ok(Bytes::from(body.to_string()));
        }
        let rel = self.relations(std::slice::from_ref(r), projection).await?;
        Ok(Bytes::from(rel.shown(&self.base, r).to_json()))
    }

    async fn respond_one(&self, status: StatusCode, r: &StoredResource, projection: &Projection) -> ApiResult {
        let body = self.render_one(r, projection).await?;
        let mut resp = one_response(status, body, r.version);
        let location = self.location(&r.id);
        if status == StatusCode::CREATED
            && let Ok(v) = HeaderValue::from_str(&location)
        {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    }

    /// The read cache, when this request may use it: a whole user (no
    /// `attributes` or `excludedAttributes`) where the server keeps one.
    fn cache_for(&self, projection: &Projection) -> Option<&UserCache> {
        (self.kind == Kind::User && *projection == Projection::default()).then(|| self.state.svc.user_cache()).flatten()
    }
}

type ApiResult = Result<Response, ApiError>;

fn corrupt(e: crate::store::StoreError) -> ApiError {
    ApiError::from(crate::service::Error::from(e))
}

#[derive(Default)]
struct Relations {
    members: Option<HashMap<String, Vec<Member>>>,
    groups: Option<GroupsByUser>,
}

impl Relations {
    /// `r` as a client sees it, with the members or groups read for it.
    fn shown<'r>(&'r self, base: &'r str, r: &'r StoredResource) -> Shown<'r> {
        let members = self.members.as_ref().map(|m| m.get(&r.id).map(Vec::as_slice).unwrap_or(&[]));
        let groups = match (&self.groups, &r.groups) {
            (Some(g), _) => Some(g.get(&r.id).map(Vec::as_slice).unwrap_or(&[])),
            (None, Some(own)) => Some(own.as_slice()),
            (None, None) => None,
        };
        Shown { base, meta: r.meta(), doc: &r.doc, members, groups }
    }
}

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag::format(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn one_response(status: StatusCode, body: Bytes, version: i64) -> Response {
    with_etag(scim_bytes_response(status, body), version)
}

fn projection(params: &Params) -> Result<Projection, ApiError> {
    Ok(Projection::parse(params.get("attributes"), params.get("excludedAttributes"))?)
}

// ------------------------------------------------------------------ create

pub(crate) async fn create_one(c: Ctx, params: Params, ScimJson(body, size): ScimJson) -> Response {
    // The audit names what was to be created, whether it was or not.
    let name_key = c.kind.name_attribute();
    let name = c.state.audit.is_on().then(|| body.get(name_key).and_then(Value::as_str).map(str::to_string)).flatten();
    // Known before the write, which adds the row.
    if let (Some(name), Some(ctx)) = (&name, crate::service::context::current()) {
        ctx.name_target(name);
    }
    let mut resp = create(c, params, body, size).await.into_response();
    if let Some(name) = name {
        resp.extensions_mut().insert(crate::audit::TargetName(name));
    }
    resp
}

async fn create(c: Ctx, params: Params, body: Value, size: super::BodySize) -> ApiResult {
    let projection = projection(&params)?;
    let stored = create_resource(&c, body, size.is_large()).await?;
    c.respond_one(StatusCode::CREATED, &stored, &projection).await
}

/// Create the resource a POST's body describes: the work of a single POST
/// and of a Bulk POST (`large`: its parsing runs on a blocking thread).
pub(crate) async fn create_resource(c: &Ctx, body: Value, large: bool) -> Result<StoredResource, ApiError> {
    let rt = c.rt();
    let kind = c.kind;
    let limits = c.state.config.limits;
    type Prepared = (Doc, Vec<Member>, Vec<String>);
    let prepared = super::extract::off_thread_if(large, move || -> Result<Prepared, ScimError> {
        let unknown = scim_core::extension::unknown_in_body(&body, &rt);
        let mut doc = resource::prepare(&body, &rt, None, &limits)?;
        drop(body); // before the text is made: never three copies at once
        let members = if kind == Kind::Group { take_members(&mut doc) } else { Vec::new() };
        if kind == Kind::Group && members.iter().any(|m| m.value.is_empty()) {
            return Err(ScimError::invalid_value("every member needs a 'value'"));
        }
        Ok((Doc::new(doc, kind), members, unknown))
    })
    .await?;
    let (doc, members, unknown) = prepared?;
    c.check_unknown(unknown)?;
    let svc = &c.state.svc;
    let new =
        NewResource { kind, id: uuid::Uuid::now_v7().to_string(), doc, now: svc.now(), members, scim_managed: true };
    Ok(svc.create(c.tenant_id, Actor::IdentityProvider, new).await?)
}

// ------------------------------------------------------------------ read

pub(crate) async fn get_one(c: Ctx, ResourceId(id): ResourceId, params: Params) -> ApiResult {
    let projection = projection(&params)?;
    let if_none_match = c.if_none_match.clone();
    let not_modified = |version| if_none_match.as_deref().is_some_and(|tags| etag::matches(tags, version));
    let cache = c.cache_for(&projection);
    if let Some(hit) = cache.and_then(|cache| cache.get(c.tenant_id, &id, &c.base)) {
        if not_modified(hit.version) {
            return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), hit.version));
        }
        return Ok(one_response(StatusCode::OK, hit.body, hit.version));
    }
    let ticket = cache.map(|cache| cache.ticket(c.tenant_id));
    // The group before its members, never beside them: a member added in
    // between then shows with the older version (a conditional write with
    // it fails and re-reads), never an older member list under the newer
    // version.
    let stored = c
        .state
        .svc
        .get(c.tenant_id, c.kind, &id)
        .await?
        .filter(|r| !c.hidden(r))
        .ok_or_else(|| ApiError(ScimError::not_found(format!("{} '{id}' not found", c.kind.as_str()))))?;
    if not_modified(stored.version) {
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
fn user_name_lookup(c: &Ctx, request: &ListRequest) -> Option<String> {
    let Some(Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(name) }) = &request.filter else {
        return None;
    };
    let plain = request.sort_by.is_none() && request.offset() == 0 && request.count >= 1;
    let user_name = path.sub.is_none()
        && path.name.eq_ignore_ascii_case("userName")
        && path.urn.as_deref().is_none_or(|u| c.rt.is_core_urn(u));
    (plain && user_name).then(|| name.to_lowercase())
}

// ------------------------------------------------------------------ list and search

fn query_of(request: &ListRequest, allowed_domains: &[String]) -> ListQuery {
    ListQuery {
        filter: request.filter.clone(),
        sort_by: request.sort_by.clone(),
        descending: request.descending,
        offset: request.offset(),
        limit: request.count,
        // Stored lowercase (the policy lowercases them when they are set).
        hand_made_only_in: allowed_domains.to_vec(),
    }
}

fn list_response<T: AsRef<[u8]>>(total: i64, start_index: i64, resources: &[T]) -> Response {
    scim_bytes_response(StatusCode::OK, Bytes::from(list::list_response_bytes(total, start_index, resources)))
}

pub(crate) async fn list_all(c: Ctx, params: Params) -> ApiResult {
    let request = ListRequest::from_query(|k| params.get(k), MAX_RESULTS)?;
    list_page(c, request).await
}

pub(crate) async fn search(c: Ctx, ScimJson(body, _): ScimJson) -> ApiResult {
    list_page(c, ListRequest::from_search_body(&body, MAX_RESULTS)?).await
}

async fn list_page(c: Ctx, request: ListRequest) -> ApiResult {
    if let Some(cursor) = &request.cursor {
        return cursor_page(&c, &request, cursor).await;
    }
    let query = query_of(&request, &c.allowed_domains);
    let rt = c.rt();
    let cached = c.cache_for(&request.projection).zip(user_name_lookup(&c, &request));
    if let Some((cache, name)) = &cached
        && let Some(hit) = cache.get_by_user_name(c.tenant_id, name, &c.base)
    {
        return Ok(list_response(1, 1, &[hit.body]));
    }
    let ticket = cached.as_ref().map(|(cache, _)| cache.ticket(c.tenant_id));
    let (total, mut rows) = c.state.svc.list(c.tenant_id, c.kind, &query, &rt).await?;
    if let (Some((cache, name)), Some(ticket), 1, 1) = (&cached, ticket, rows.len(), total)
        && let Some(row) = rows.pop()
    {
        // Rendered as a GET renders it, so the cache holds one form of a user.
        let user = row.parse().map_err(corrupt)?;
        let body = c.render_one(&user, &request.projection).await?;
        if user_name_key(&user) == *name {
            let entry = CachedUser { body: body.clone(), version: user.version };
            cache.put(ticket, c.tenant_id, &user.id, name, &c.base, entry);
        }
        return Ok(list_response(1, 1, &[body]));
    }
    let resources = c.render_page(rows, &request.projection).await?;
    Ok(list_response(total, request.start_index, &resources))
}

/// The cursor signer of this server, or why there is none.
fn cursors(state: &AppState) -> Result<Cursors<'_>, ApiError> {
    let Some(key) = state.svc.cursor_key() else {
        return Err(ApiError(ScimError::invalid_cursor(
            "this server offers no cursor pagination (it runs without a secrets key, which signs cursors: \
             --secrets-key-file or SCIMD_SECRETS_KEY); page with startIndex instead",
        )));
    };
    Ok(Cursors { key, now_ms: state.svc.now_ms(), timeout_secs: state.config.cursor_timeout.as_secs() })
}

/// The place a request's cursor names (`None`: the first page), checked
/// against the list the request asks for.
fn open_cursor(cursors: &Cursors<'_>, binding: &Binding, text: &str) -> Result<Option<Position>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(cursors.open(binding, text)?))
}

fn issue(cursors: &Cursors<'_>, binding: &Binding, backward: bool, kind: Kind, place: &Place) -> Option<String> {
    cursors.issue(binding, &Position { backward, kind, place: place.clone() })
}

fn cursor_list_response<T: AsRef<[u8]>>(
    total: i64,
    resources: &[T],
    next: Option<String>,
    previous: Option<String>,
) -> Response {
    let body = list::cursor_list_response_bytes(total, resources, next.as_deref(), previous.as_deref());
    scim_bytes_response(StatusCode::OK, Bytes::from(body))
}

/// A page of `/Users` or `/Groups` by cursor (RFC 9865): read by key after
/// (or before) the cursor's place, so every page costs the same at any
/// depth and a walk neither repeats nor skips a resource that exists
/// throughout it, whatever is created or deleted meanwhile. `totalResults`
/// is the list's size as this page is read (RFC 9865 §2: "should return an
/// accurate value"); it moves as resources come and go.
async fn cursor_page(c: &Ctx, request: &ListRequest, cursor: &str) -> ApiResult {
    let cursors = cursors(&c.state)?;
    let binding = Binding::of(c.tenant_id, Scope::of(c.kind), request);
    let from = open_cursor(&cursors, &binding, cursor)?;
    let rt = c.rt();
    let svc = &c.state.svc;
    let count = request.count;
    // One row past the page says whether there is another.
    let query = ListQuery { offset: 0, limit: count + 1, ..query_of(request, &c.allowed_domains) };
    let total = svc.list_total(c.tenant_id, c.kind, &query, &rt).await?;
    if count == 0 {
        // RFC 9865 §2: a count of 0 asks for totalResults alone.
        return Ok(cursor_list_response::<&str>(total, &[], None, None));
    }
    let backward = from.as_ref().is_some_and(|p| p.backward);
    let rows = svc.seek(c.tenant_id, c.kind, &query, from.as_ref().map(|p| &p.place), backward, &rt).await?;
    if backward && rows.len() as i64 <= count {
        // Less than a page before the place: the previous page is the first.
        let rows = svc.seek(c.tenant_id, c.kind, &query, None, false, &rt).await?;
        return finish_cursor_page(c, request, &cursors, &binding, total, rows, None, false).await;
    }
    finish_cursor_page(c, request, &cursors, &binding, total, rows, from.as_ref(), backward).await
}

/// Render a page read by [`Store::seek`](crate::store::Store::seek) (`count
/// + 1` rows, nearest first) with its cursors.
#[allow(clippy::too_many_arguments)]
async fn finish_cursor_page(
    c: &Ctx,
    request: &ListRequest,
    cursors: &Cursors<'_>,
    binding: &Binding,
    total: i64,
    mut rows: Vec<(Place, RawResource)>,
    from: Option<&Position>,
    backward: bool,
) -> ApiResult {
    let count = usize::try_from(request.count).unwrap_or(0);
    let more = rows.len() > count;
    rows.truncate(count);
    if backward {
        rows.reverse();
    }
    let first = rows.first().map(|(p, _)| p.clone());
    let last = rows.last().map(|(p, _)| p.clone());
    let kind = c.kind;
    let (next, previous) = if backward {
        // Came back from a later page: there is one after, and `more` says
        // whether there is one before.
        (last.and_then(|p| issue(cursors, binding, false, kind, &p)), first.filter(|_| more))
    } else {
        let previous = match (&first, from) {
            // No previousCursor on the first page (RFC 9865 §2, Table 2).
            (_, None) => None,
            (Some(p), Some(_)) => Some(p.clone()),
            // Past the end: the page before ends with the cursor's own place
            // (strictly before the seq after it, which no other row holds).
            (None, Some(f)) => Some(Place { value: f.place.value.clone(), seq: f.place.seq.saturating_add(1) }),
        };
        (last.filter(|_| more).and_then(|p| issue(cursors, binding, false, kind, &p)), previous)
    };
    let previous = previous.and_then(|p| issue(cursors, binding, true, kind, &p));
    let resources = c.render_page(rows.into_iter().map(|(_, r)| r).collect(), &request.projection).await?;
    Ok(cursor_list_response(total, &resources, next, previous))
}

/// `POST /.search` at the root: Users, then Groups, paged as one list. A
/// filter that names attributes only one type has applies to that type alone.
pub(crate) async fn search_root(
    axum::extract::State(s): axum::extract::State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    axum::Extension(view): axum::Extension<super::TenantView>,
    axum::Extension(base): axum::Extension<ScimBase>,
    ScimJson(body, _): ScimJson,
) -> ApiResult {
    let request = ListRequest::from_search_body(&body, MAX_RESULTS)?;
    if let Some(cursor) = &request.cursor {
        return root_cursor_page(&s, &caller, &view, &base, &request, cursor).await;
    }
    let query = query_of(&request, &view.allowed_domains);
    let (mut total, mut resources) = (0, Vec::new());
    let (mut skip, mut want) = (query.offset, query.limit);
    for c in root_contexts(&s, &caller, &view, &base, query.filter.as_ref())? {
        let q = ListQuery { offset: skip, limit: want, ..query.clone() };
        let (n, rows) = s.svc.list(c.tenant_id, c.kind, &q, &c.rt).await?;
        total += n;
        skip = (skip - n).max(0);
        want -= rows.len() as i64;
        resources.extend(c.render_page(rows, &request.projection).await?);
    }
    Ok(list_response(total, request.start_index, &resources))
}

/// The resource types a root `.search` lists, Users then Groups: those its
/// filter applies to (a filter naming attributes only one type has applies
/// to that type alone); the first type's error when it applies to neither.
fn root_contexts(
    s: &AppState,
    caller: &Caller,
    view: &super::TenantView,
    base: &ScimBase,
    filter: Option<&Filter>,
) -> Result<Vec<Ctx>, ApiError> {
    let (mut applicable, mut first_error) = (Vec::new(), None);
    for kind in [Kind::User, Kind::Group] {
        let c = Ctx::for_operation(s, caller, view, &base.0, kind, None);
        match filter.map(|f| scim_core::filter::validate(f, &c.rt)) {
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            _ => applicable.push(c),
        }
    }
    match first_error {
        Some(e) if applicable.is_empty() => Err(e.into()),
        _ => Ok(applicable),
    }
}

/// The root `.search` by cursor: the Users list, then the Groups list (each
/// in its own order, the kinds a filter cannot apply to left out), walked
/// forward only: its cursor names the kind it is in. No previousCursor
/// (RFC 9865 makes it optional; going back across the two lists is not cheap).
async fn root_cursor_page(
    s: &AppState,
    caller: &Caller,
    view: &super::TenantView,
    base: &ScimBase,
    request: &ListRequest,
    cursor: &str,
) -> ApiResult {
    let cursors = cursors(s)?;
    let binding = Binding::of(caller.tenant.id, Scope::Root, request);
    let from = open_cursor(&cursors, &binding, cursor)?;
    if from.as_ref().is_some_and(|p| p.backward) {
        return Err(ApiError(ScimError::invalid_cursor(
            "this cursor is not one this server issued for the root .search, which pages forward only",
        )));
    }
    let count = request.count;
    let query = ListQuery { offset: 0, limit: count + 1, ..query_of(request, &view.allowed_domains) };
    let applicable = root_contexts(s, caller, view, base, query.filter.as_ref())?;
    let mut total = 0;
    for c in &applicable {
        total += s.svc.list_total(c.tenant_id, c.kind, &query, &c.rt).await?;
    }
    let need = usize::try_from(count).unwrap_or(0) + 1;
    let mut pages: Vec<(usize, Vec<(Place, RawResource)>)> = Vec::new();
    let mut read = 0;
    for (i, c) in applicable.iter().enumerate() {
        if count == 0 || read >= need {
            break;
        }
        // Groups come after every user: a cursor in Groups skips Users.
        let place = match &from {
            Some(p) if p.kind == c.kind => Some(&p.place),
            Some(p) if p.kind == Kind::Group && c.kind == Kind::User => continue,
            _ => None,
        };
        let q = ListQuery { limit: (need - read) as i64, ..query.clone() };
        let rows = s.svc.seek(c.tenant_id, c.kind, &q, place, false, &c.rt()).await?;
        read += rows.len();
        pages.push((i, rows));
    }
    let more = read >= need && count > 0;
    // Keep `count` rows, the last kept one naming the next page.
    let mut keep = usize::try_from(count).unwrap_or(0);
    let mut next = None;
    let mut resources = Vec::new();
    for (i, mut rows) in pages {
        rows.truncate(keep);
        keep -= rows.len();
        let c = &applicable[i];
        if let Some((place, _)) = rows.last()
            && more
        {
            next = Some((c.kind, place.clone()));
        }
        resources.extend(c.render_page(rows.into_iter().map(|(_, r)| r).collect(), &request.projection).await?);
    }
    let next = next.and_then(|(kind, place)| issue(&cursors, &binding, false, kind, &place));
    Ok(cursor_list_response(total, &resources, next, None))
}

// ------------------------------------------------------------------ replace and patch

pub(crate) async fn replace_one(
    c: Ctx,
    ResourceId(id): ResourceId,
    params: Params,
    ScimJson(body, size): ScimJson,
) -> ApiResult {
    let projection = projection(&params)?;
    let stored = replace_resource(&c, &id, body, size.is_large()).await?;
    c.respond_one(StatusCode::OK, &stored, &projection).await
}

/// Replace resource `id` with a PUT's body, checking `If-Match`: the work of
/// a single PUT and of a Bulk PUT.
pub(crate) async fn replace_resource(c: &Ctx, id: &str, body: Value, large: bool) -> Result<StoredResource, ApiError> {
    let (rt, kind, limits) = (c.rt(), c.kind, c.state.config.limits);
    c.check_unknown(scim_core::extension::unknown_in_body(&body, &rt))?;
    let if_match = c.if_match.clone();
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, crate::service::Error> {
        etag::check_if_match(if_match.as_deref(), current.version)?;
        let mut doc = resource::prepare(&body, &rt, Some(&current.doc), &limits)?;
        let member_changes = if kind == Kind::Group {
            vec![MemberChange::Replace(take_members(&mut doc).iter().map(Member::to_json).collect())]
        } else {
            Vec::new()
        };
        Ok(Update { doc: Some(Doc::new(doc, kind)), member_changes, based_on: Some(current.version) })
    });
    let svc = &c.state.svc;
    Ok(svc.update(c.tenant_id, Actor::IdentityProvider, kind, id, large, decide).await?)
}

pub(crate) async fn patch_one(
    c: Ctx,
    ResourceId(id): ResourceId,
    params: Params,
    ScimJson(body, size): ScimJson,
) -> ApiResult {
    let projection = projection(&params)?;
    let stored = patch_resource(&c, &id, body, size.is_large()).await?;
    if patch_answers_no_content(&c, &projection) {
        return Ok(with_etag(StatusCode::NO_CONTENT.into_response(), stored.version));
    }
    c.respond_one(StatusCode::OK, &stored, &projection).await
}

/// Apply a PatchOp body to resource `id`, checking `If-Match`: the work of a
/// single PATCH and of a Bulk PATCH.
pub(crate) async fn patch_resource(c: &Ctx, id: &str, body: Value, large: bool) -> Result<StoredResource, ApiError> {
    let (rt, kind, limits) = (c.rt(), c.kind, c.state.config.limits);
    let parse_rt = rt.clone();
    let parsed = super::extract::off_thread_if(large, move || -> Result<_, ScimError> {
        let mut ops = patch::parse(&body, &limits)?;
        let unknown = scim_core::extension::unknown_in_patch(&mut ops, &parse_rt);
        let (ops, members) =
            if kind == Kind::Group { patch::split_members(&ops, &parse_rt, &limits)? } else { (ops, Vec::new()) };
        Ok((ops, members, unknown))
    })
    .await?;
    let (doc_ops, member_changes, unknown) = parsed?;
    c.check_unknown(unknown)?;
    let if_match = c.if_match.clone();
    // A PATCH of members alone does not depend on the document: it needs no
    // version check (concurrent membership changes of one group all apply).
    let depends_on_current = !doc_ops.is_empty() || if_match.is_some();
    let decide = Arc::new(move |current: &StoredResource| -> Result<Update, crate::service::Error> {
        etag::check_if_match(if_match.as_deref(), current.version)?;
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
        let based_on = depends_on_current.then_some(current.version);
        Ok(Update { doc, member_changes: member_changes.clone(), based_on })
    });
    let svc = &c.state.svc;
    Ok(svc.update(c.tenant_id, Actor::IdentityProvider, kind, id, large, decide).await?)
}

/// Does a successful PATCH answer 204 rather than the resource? RFC 7644
/// §3.5.2 allows it; Entra asks for it on groups (`--group-patch-response no-content`).
pub(crate) fn patch_answers_no_content(c: &Ctx, projection: &Projection) -> bool {
    c.kind == Kind::Group && c.state.config.group_patch_no_content && *projection == Projection::default()
}

// ------------------------------------------------------------------ delete

pub(crate) async fn delete_one(c: Ctx, ResourceId(id): ResourceId) -> ApiResult {
    delete_resource(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Delete resource `id`, checking `If-Match`: the work of a single DELETE and of a Bulk DELETE.
pub(crate) async fn delete_resource(c: &Ctx, id: &str) -> Result<(), ApiError> {
    let if_match = c.if_match.clone();
    Ok(c.state.svc.delete(c.tenant_id, Actor::IdentityProvider, c.kind, id, if_match).await?)
}
