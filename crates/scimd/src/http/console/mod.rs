//! The web console at `/console`: server-rendered pages (askama templates
//! compiled into the binary) for a customer's admin and the operator, with
//! htmx served from the binary as an enhancement only — every form is a plain
//! POST that answers a redirect, so the console works without JavaScript.
//!
//! A session starts by signing in with an admin token (the session reaches
//! what the token reaches) or by opening a portal link (one tenant). Its
//! cookie is `HttpOnly`, `SameSite=Strict`, `Secure` over https; every form
//! carries a CSRF token derived from the session's secret; every page is sent
//! with a strict Content-Security-Policy (no inline script or style). A
//! secret shown once (a new token, client secret or webhook secret) travels
//! from the POST to the page after its redirect in a short-lived cookie
//! sealed with a key derived from the session's secret, so it is shown on
//! that page alone and is never stored. This module owns the session, the
//! forms' checks, the one-time messages and the assets; the screens are in
//! `tenants`, `connect`, `policy`, `catalog` (workspaces, roles, licence types),
//! `groups`, `users`, `activity` and `webhooks`.

mod activity;
mod catalog;
mod connect;
mod groups;
mod policy;
mod tenants;
mod users;
mod webhooks;

use super::AppState;
use crate::events::sealed::SealingKey;
use crate::store::{ConsoleSession, Tenant};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

const SESSION_COOKIE: &str = "scimd_console";
const FLASH_COOKIE: &str = "scimd_flash";
const HTMX: &[u8] = include_bytes!("../../../assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../../../assets/console.css");
const JS: &[u8] = include_bytes!("../../../assets/console.js");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn router(state: AppState) -> Router<AppState> {
    let t = "/console/t/{tenant}";
    let signed_in = Router::new()
        .route("/console/sign-out", post(sign_out))
        .route("/console/tenants", get(tenants::list).post(tenants::create))
        .route(t, get(connect::page))
        .route(&format!("{t}/tokens"), post(connect::create_token))
        .route(&format!("{t}/tokens/{{name}}/revoke"), post(connect::revoke_token))
        .route(&format!("{t}/oauth-clients"), post(connect::create_client))
        .route(&format!("{t}/oauth-clients/{{name}}/revoke"), post(connect::revoke_client))
        .route(&format!("{t}/credentials"), get(connect::credentials))
        .route(&format!("{t}/groups"), get(groups::page).post(groups::map))
        .route(&format!("{t}/groups/mappings/{{id}}/delete"), post(groups::unmap))
        .route(&format!("{t}/activity"), get(activity::page))
        .route(&format!("{t}/policy"), get(policy::page).post(policy::save))
        .route(&format!("{t}/policy/workspaces/{{id}}"), post(policy::save_workspace))
        .route(&format!("{t}/policy/reapply"), post(policy::reapply))
        .route(&format!("{t}/roles"), get(catalog::roles).post(catalog::create_role))
        .route(&format!("{t}/roles/{{id}}/delete"), post(catalog::delete_role))
        .route(&format!("{t}/workspaces"), post(catalog::create_workspace))
        .route(&format!("{t}/workspaces/{{id}}/delete"), post(catalog::delete_workspace))
        .route(&format!("{t}/licences"), get(catalog::licences).post(catalog::create_licence))
        .route(&format!("{t}/licences/{{id}}/delete"), post(catalog::delete_licence))
        .route(&format!("{t}/users"), get(users::list))
        .route(&format!("{t}/users/{{id}}"), get(users::show))
        .route(&format!("{t}/webhooks"), get(webhooks::list).post(webhooks::create))
        .route(&format!("{t}/webhooks/{{id}}"), get(webhooks::show))
        .route(&format!("{t}/webhooks/{{id}}/rotate"), post(webhooks::rotate))
        .route(&format!("{t}/webhooks/{{id}}/enable"), post(webhooks::enable))
        .route(&format!("{t}/webhooks/{{id}}/test"), post(webhooks::test))
        .route(&format!("{t}/webhooks/{{id}}/edit"), post(webhooks::edit))
        .route(&format!("{t}/webhooks/{{id}}/deliveries/{{delivery}}"), get(webhooks::delivery))
        .route(&format!("{t}/webhooks/{{id}}/deliveries/{{delivery}}/retry"), post(webhooks::retry))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_session));
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/portal/{code}", get(portal_page).post(portal_open))
        .route("/console/assets/{file}", get(asset))
        .merge(signed_in)
        .layer(axum::middleware::from_fn(security_headers))
}

// ---------------------------------------------------------------- pages and answers

/// What every page shows around its content.
pub(super) struct Layout {
    pub title: String,
    /// The tenant the page is about.
    pub tenant: Option<String>,
    /// Which tab of the tenant's pages is open.
    pub tab: &'static str,
    pub operator: bool,
    pub who: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// A portal session's way back to the product.
    pub return_url: Option<String>,
}

/// A page, or the error page, as HTML.
pub(super) fn html<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "a console page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be shown; the error has been logged")
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    l: Layout,
    text: String,
    link: Option<(String, String)>,
}

/// A page that says one thing (not found, refused, failed), with a way on.
pub(super) fn message(status: StatusCode, heading: &str, text: &str, link: Option<(&str, &str)>) -> Response {
    let page = MessagePage {
        l: Layout {
            title: heading.to_string(),
            tenant: None,
            tab: "",
            operator: false,
            who: String::new(),
            csrf: String::new(),
            notice: None,
            error: None,
            return_url: None,
        },
        text: text.to_string(),
        link: link.map(|(href, label)| (href.to_string(), label.to_string())),
    };
    html(status, &page)
}

/// An operation's error as a person reads it on a page (never parser text).
pub(super) fn failure(e: crate::service::Error) -> Response {
    let admin = super::admin::AdminError::from(e);
    let (status, text) = admin.parts();
    message(status, "That did not work", &text, Some(("/console", "Back to the console")))
}

/// After a form: back to a page, with a one-time notice and maybe a secret to show once.
pub(super) fn done(caller: &Caller, to: &str, notice: &str, secret: Option<(&str, &str)>) -> Response {
    let flash = Flash { notice: Some(notice.to_string()), secret: secret.map(|(l, v)| (l.to_string(), v.to_string())) };
    let mut resp = Redirect::to(to).into_response();
    if let Some(cookie) = flash.seal(&caller.secret, caller.secure) {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    resp
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A portal link's code is in its URL: no page tells another site where it came from.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx-2.0.11.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return message(StatusCode::NOT_FOUND, "Not found", "There is no such file.", None),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}

// ---------------------------------------------------------------- sessions

/// Who a console request is from: the session, and its secret (from the
/// cookie), from which the CSRF token and the one-time messages' key derive.
#[derive(Clone)]
pub(super) struct Caller {
    pub session: ConsoleSession,
    secret: String,
    /// Cookies get `Secure` (the console is reached over https).
    secure: bool,
    pub flash: Option<Flash>,
}

impl Caller {
    pub(super) fn csrf(&self) -> String {
        csrf_of(&self.secret)
    }
    pub(super) fn operator(&self) -> bool {
        self.session.tenant.is_none()
    }
    /// The frame of a page about `tenant` (or about no tenant).
    pub(super) fn layout(&self, title: &str, tenant: Option<&Tenant>, tab: &'static str) -> Layout {
        Layout {
            title: title.to_string(),
            tenant: tenant.map(|t| t.name.clone()),
            tab,
            operator: self.operator(),
            who: self.session.label.clone(),
            csrf: self.csrf(),
            notice: self.flash.as_ref().and_then(|f| f.notice.clone()),
            error: None,
            return_url: self.session.return_url.clone(),
        }
    }
    /// A secret handed over by the form before the redirect: (what it is, the value).
    pub(super) fn shown_once(&self) -> Option<(String, String)> {
        self.flash.as_ref().and_then(|f| f.secret.clone())
    }
}

fn csrf_of(secret: &str) -> String {
    let digest = Sha256::digest(format!("scimd console csrf\0{secret}").as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Is the console reached over https (so cookies may say `Secure`)?
fn over_https(state: &AppState, headers: &HeaderMap) -> bool {
    super::public_root(&state.config, headers).starts_with("https://")
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Let in requests with a live session; on a tenant's pages, only the
/// tenants the session reaches (any other is "not found", as if there were none).
async fn require_session(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    mut req: Request,
    next: Next,
) -> Response {
    let secure = over_https(&state, req.headers());
    let Some(secret) = cookie(req.headers(), SESSION_COOKIE).map(str::to_string) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let session = match state.svc.console_session(&secret).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let mut resp = Redirect::to("/console/sign-in?ended=1").into_response();
            if let Some(c) = set_cookie(SESSION_COOKIE, "", 0, secure) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            return resp;
        }
        Err(e) => return failure(e),
    };
    if let Some(ctx) = crate::service::context::current() {
        ctx.set_actor(crate::events::ActorKind::Admin, &format!("console: {}", session.label));
    }
    let flash = cookie(req.headers(), FLASH_COOKIE).and_then(|sealed| Flash::open(sealed, &secret));
    let had_flash = cookie(req.headers(), FLASH_COOKIE).is_some();
    let caller = Caller { session, secret, secure, flash };
    let mut logged = None;
    if let Some(name) = params.get("tenant") {
        let reachable = caller.session.tenant.as_ref().is_none_or(|(_, own)| own == name) && !name.contains('\0');
        let tenant = if reachable {
            match state.svc.tenant_by_name(name).await {
                Ok(t) => t,
                Err(e) => return failure(e),
            }
        } else {
            None
        };
        let Some(tenant) = tenant else {
            return message(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("There is no tenant '{name}'."),
                Some(("/console", "Back to the console")),
            );
        };
        logged = Some(super::LoggedTenant { id: tenant.id, name: tenant.name.clone() });
        req.extensions_mut().insert(tenant);
    }
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    // The request's log line and metrics name the tenant, as the admin API's do.
    if let Some(logged) = logged {
        resp.extensions_mut().insert(logged);
    }
    // A one-time message is read once: the page that showed it ends it.
    if had_flash
        && !resp.status().is_redirection()
        && let Some(c) = set_cookie(FLASH_COOKIE, "", 0, secure)
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A one-time message carried across a redirect.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Flash {
    notice: Option<String>,
    secret: Option<(String, String)>,
}

fn flash_key(session_secret: &str) -> SealingKey {
    let digest = Sha256::digest(format!("scimd console flash\0{session_secret}").as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest);
    SealingKey::from_bytes(key)
}

impl Flash {
    fn seal(&self, session_secret: &str, secure: bool) -> Option<HeaderValue> {
        let text = serde_json::to_string(self).ok()?;
        let sealed = flash_key(session_secret).seal(&text).ok()?;
        set_cookie(FLASH_COOKIE, &sealed, 120, secure)
    }
    fn open(sealed: &str, session_secret: &str) -> Option<Flash> {
        serde_json::from_str(&flash_key(session_secret).open(sealed)?).ok()
    }
}

/// What a tenant's page works with: the state, who asks, and the tenant
/// (which [`require_session`] has checked the caller reaches).
pub(super) struct Here {
    pub(super) s: AppState,
    pub(super) caller: Caller,
    pub(super) t: Tenant,
}

impl axum::extract::FromRequestParts<AppState> for Here {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let caller = parts.extensions.get::<Caller>().cloned();
        let tenant = parts.extensions.get::<Tenant>().cloned();
        match (caller, tenant) {
            (Some(caller), Some(t)) => Ok(Here { s: state.clone(), caller, t }),
            _ => Err(message(
                StatusCode::NOT_FOUND,
                "Not found",
                "This page belongs to a tenant.",
                Some(("/console", "Back to the console")),
            )),
        }
    }
}

/// A form posted from a console page: its fields, once its CSRF token is
/// checked against the session's (a form from anywhere else is refused).
pub(super) struct Form(pub HashMap<String, String>);

impl Form {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let caller = req.extensions().get::<Caller>().cloned();
        let bytes = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let fields: HashMap<String, String> =
            form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let expected = caller.map(|c| c.csrf()).unwrap_or_default();
        let sent = fields.get("csrf").map(String::as_str).unwrap_or_default();
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
            return Err(message(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form did not come from this console session (it may be from before you signed in again). \
                 Reload the page and send it again.",
                Some(("/console", "Back to the console")),
            ));
        }
        Ok(Form(fields))
    }
}

// ---------------------------------------------------------------- signing in and out

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    l: Layout,
    ended: bool,
}

fn anonymous(title: &str, error: Option<String>) -> Layout {
    Layout {
        title: title.to_string(),
        tenant: None,
        tab: "",
        operator: false,
        who: String::new(),
        csrf: String::new(),
        notice: None,
        error,
        return_url: None,
    }
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    match state.svc.console_session(secret).await {
        Ok(Some(s)) => match s.tenant {
            Some((_, name)) => Redirect::to(&format!("/console/t/{name}")).into_response(),
            None => Redirect::to("/console/tenants").into_response(),
        },
        Ok(None) => Redirect::to("/console/sign-in").into_response(),
        Err(e) => failure(e),
    }
}

async fn sign_in_page(axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>) -> Response {
    html(StatusCode::OK, &SignInPage { l: anonymous("Sign in", None), ended: q.contains_key("ended") })
}

/// Cross-site POSTs are refused where the browser says where they came from
/// (the sign-in form has no session yet to carry a CSRF token).
fn cross_site(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "cross-site")
}

async fn sign_in(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Response {
    if cross_site(&headers) {
        return message(StatusCode::FORBIDDEN, "Refused", "Sign in from the console's own page.", None);
    }
    let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    let token = token.unwrap_or_default();
    let refused = |why: &str| {
        let page = SignInPage { l: anonymous("Sign in", Some(why.to_string())), ended: false };
        html(StatusCode::UNAUTHORIZED, &page)
    };
    if token.trim().is_empty() {
        return refused("Paste an admin token to sign in.");
    }
    match state.svc.open_console_session(&token).await {
        Ok(secret) => signed_in(&state, &headers, &secret, "/console"),
        Err(crate::service::console::SignIn::Refused(why)) => refused(&format!("Not signed in: {why}.")),
        Err(crate::service::console::SignIn::Failed(e)) => failure(e),
    }
}

fn signed_in(state: &AppState, headers: &HeaderMap, secret: &str, to: &str) -> Response {
    let mut resp = Redirect::to(to).into_response();
    let max_age = crate::service::console::TOKEN_SESSION_SECS;
    if let Some(c) = set_cookie(SESSION_COOKIE, secret, max_age, over_https(state, headers)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn sign_out(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    _form: Form,
) -> Response {
    if let Err(e) = state.svc.end_console_session(&caller.secret).await {
        return failure(e);
    }
    let mut resp = Redirect::to("/console/sign-in").into_response();
    for name in [SESSION_COOKIE, FLASH_COOKIE] {
        if let Some(c) = set_cookie(name, "", 0, caller.secure) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp
}

#[derive(Template)]
#[template(path = "console/portal.html")]
struct PortalPage {
    l: Layout,
    code: String,
}

/// A portal link opened: a button that starts the session, so that a link
/// previewer or mail scanner fetching the URL does not use the link up.
async fn portal_page(Path(code): Path<String>) -> Response {
    html(StatusCode::OK, &PortalPage { l: anonymous("Open the console", None), code })
}

async fn portal_open(State(state): State<AppState>, headers: HeaderMap, Path(code): Path<String>) -> Response {
    if cross_site(&headers) {
        return message(StatusCode::FORBIDDEN, "Refused", "Open the link from the console's own page.", None);
    }
    match state.svc.open_portal_link(&code).await {
        Ok(Some(secret)) => signed_in(&state, &headers, &secret, "/console"),
        Ok(None) => message(
            StatusCode::GONE,
            "This link cannot be used",
            "A console link works once, within five minutes of being made. Ask for a new one from where you \
             found this one.",
            None,
        ),
        Err(e) => failure(e),
    }
}
