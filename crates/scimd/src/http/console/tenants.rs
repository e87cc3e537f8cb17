//! The operator's tenants screen: every tenant, a page at a time, and a new one.

use super::{Caller, Form, Layout, done, failure, html, message};
use crate::http::AppState;
use crate::store::Tenant;
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage {
    l: Layout,
    tenants: Vec<Tenant>,
    next: Option<String>,
}

pub(super) async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some((_, own)) = &caller.session.tenant {
        return Redirect::to(&format!("/console/t/{own}")).into_response();
    }
    let after = q.get("after").cloned().unwrap_or_default();
    let mut tenants = match s.svc.tenants_page(&after, PAGE + 1).await {
        Ok(t) => t,
        Err(e) => return failure(e),
    };
    let more = tenants.len() as i64 > PAGE;
    tenants.truncate(PAGE as usize);
    let next = if more { tenants.last().map(|t| t.name.clone()) } else { None };
    html(StatusCode::OK, &TenantsPage { l: caller.layout("Tenants", None, "tenants"), tenants, next })
}

pub(super) async fn create(State(s): State<AppState>, Extension(caller): Extension<Caller>, form: Form) -> Response {
    if !caller.operator() {
        return message(StatusCode::FORBIDDEN, "Refused", "Only an operator can create tenants.", None);
    }
    let name = form.get("name").unwrap_or_default().to_string();
    if let Err(why) = crate::service::tenants::valid_tenant_name(&name) {
        return message(StatusCode::BAD_REQUEST, "No tenant made", &why, Some(("/console/tenants", "Back to tenants")));
    }
    if let Err(e) = s.svc.create_tenant(&name).await {
        return failure(e);
    }
    s.auth_cache.clear();
    done(
        &caller,
        &format!("/console/t/{name}"),
        &format!("Tenant '{name}' created. Connect its identity provider."),
        None,
    )
}
