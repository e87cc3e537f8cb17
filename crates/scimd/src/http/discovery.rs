//! Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas,
//! generated from the schemas scim-core knows and truthful about what scimd
//! supports (Bulk's limits are the ones this tenant is held to). /Me is
//! answered with a clear 501.

use super::base::ScimBase;
use super::{ApiError, AppState, MAX_RESULTS, ResourceId, TenantView, scim_response};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use scim_core::ResourceType;
use scim_core::list::LIST_RESPONSE;
use serde_json::{Value, json};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub(crate) async fn service_provider_config(
    State(s): State<AppState>,
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
) -> Response {
    let (max_operations, _) = super::bulk::max_operations(&s.config, view.rate);
    let bulk = if max_operations == 0 {
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
    } else {
        json!({"supported": true, "maxOperations": max_operations, "maxPayloadSize": s.config.bulk.max_payload_bytes})
    };
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": [SPC_SCHEMA],
            "documentationUri": "https://github.com/scimd/scimd#readme",
            "patch": {"supported": true},
            "bulk": bulk,
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "pagination": pagination(&s),
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM token of the tenant (made in the console, the admin API or 'scimd token create'), \
                    or an access token from the OAuth 2.0 client credentials grant at /oauth/token; sent as \
                    'Authorization: Bearer <token>'.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
        }),
    )
}

/// RFC 9865 §4. Index paging stays the default (§2.4: a server that had
/// index paging keeps it, for the clients that expect it); cursors need the
/// secrets key, which signs them.
fn pagination(s: &AppState) -> Value {
    let mut p = json!({
        "cursor": s.svc.cursor_key().is_some(),
        "index": true,
        "defaultPaginationMethod": "index",
        "defaultPageSize": MAX_RESULTS,
        "maxPageSize": MAX_RESULTS,
    });
    if s.svc.cursor_key().is_some()
        && let Some(o) = p.as_object_mut()
    {
        o.insert("cursorTimeout".into(), s.config.cursor_timeout.as_secs().into());
    }
    p
}

fn resource_type_json(rt: &ResourceType, base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.core.id,
        "schemaExtensions": rt.extensions.iter().map(|(s, required)| json!({"schema": s.id, "required": required})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.name)}
    })
}

/// The schemas of the tenant's resource types: built-in ones and its extensions.
fn schema_list(view: &TenantView) -> Vec<&scim_core::Schema> {
    let mut out: Vec<&scim_core::Schema> = Vec::new();
    for rt in [&view.users, &view.groups] {
        for s in std::iter::once(&rt.core).chain(rt.extensions.iter().map(|(s, _)| s)) {
            if !out.iter().any(|o| o.id == s.id) {
                out.push(s);
            }
        }
    }
    out
}

fn schema_json(schema: &scim_core::Schema, base: &str) -> Value {
    let mut v = serde_json::to_value(schema).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("schemas".into(), json!([SCHEMA_SCHEMA]));
        o.insert("meta".into(), json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)}));
    }
    v
}

fn list(items: Vec<Value>) -> Value {
    json!({"schemas": [LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items})
}

pub(crate) async fn resource_types(
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
) -> Response {
    scim_response(
        StatusCode::OK,
        &list(vec![resource_type_json(&view.users, &base), resource_type_json(&view.groups, &base)]),
    )
}

pub(crate) async fn resource_type(
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    [&view.users, &view.groups]
        .into_iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(&id))
        .map(|rt| scim_response(StatusCode::OK, &resource_type_json(rt, &base)))
        .ok_or_else(|| ApiError::status(404, format!("there is no resource type '{id}' (there are User and Group)")))
}

pub(crate) async fn schemas(
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
) -> Response {
    scim_response(StatusCode::OK, &list(schema_list(&view).into_iter().map(|sc| schema_json(sc, &base)).collect()))
}

pub(crate) async fn schema(
    Extension(view): Extension<TenantView>,
    Extension(ScimBase(base)): Extension<ScimBase>,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    schema_list(&view)
        .into_iter()
        .find(|sc| sc.id.eq_ignore_ascii_case(&id))
        .map(|sc| scim_response(StatusCode::OK, &schema_json(sc, &base)))
        .ok_or_else(|| ApiError::status(404, format!("there is no schema '{id}'")))
}

pub(crate) async fn me() -> ApiError {
    ApiError::status(501, "/Me is not supported: scimd tokens belong to a tenant, not to a user")
}
