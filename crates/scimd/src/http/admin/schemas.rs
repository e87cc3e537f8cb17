//! The admin API's extension schemas: a tenant's own attributes for its
//! Users or Groups (Okta's custom attributes), in RFC 7643 §7 form.

use super::{AdminError, AdminResult, body, ok};
use crate::http::AppState;
use crate::store::Tenant;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scim_core::extension::TenantExtension;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// An extension schema to register.
#[derive(Deserialize, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct NewSchema {
    /// The schema's URN; attributes are named `URN:attribute` in filters and PATCH paths.
    #[schema(example = "urn:okta:acme:1.0:user:custom")]
    id: String,
    /// Defaults to the URN's last segment.
    name: Option<String>,
    description: Option<String>,
    /// `User` or `Group`.
    #[schema(example = "User")]
    resource_type: String,
    /// Must every resource of the type carry it? Default `false`.
    required: Option<bool>,
    /// RFC 7643 §7 attribute definitions: `name`, `type`, `multiValued`, `required`, `caseExact`,
    /// `mutability`, `returned`, `uniqueness`, `canonicalValues`, `referenceTypes`, `subAttributes`.
    #[schema(value_type = Vec<Object>)]
    attributes: Vec<Value>,
}

/// An extension schema as registered: RFC 7643 §7's fields, its resource
/// type, and (read one at a time) how many resources hold values of it.
#[derive(Serialize, ToSchema)]
pub(super) struct SchemaOut {
    id: String,
    name: String,
    description: String,
    resource_type: String,
    required: bool,
    #[schema(value_type = Vec<Object>)]
    attributes: Value,
    /// Only when one schema is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    resources_holding: Option<i64>,
}

fn out(e: &TenantExtension, holding: Option<i64>) -> SchemaOut {
    SchemaOut {
        id: e.schema.id.clone(),
        name: e.schema.name.clone(),
        description: e.schema.description.clone(),
        resource_type: e.resource_type.as_str().into(),
        required: e.required,
        attributes: serde_json::to_value(&e.schema.attributes).unwrap_or(Value::Null),
        resources_holding: holding,
    }
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/schemas", tag = "configuration",
    responses((status = 200, description = "The tenant's extension schemas", body = Vec<SchemaOut>)))]
pub(super) async fn list_schemas(State(s): State<AppState>, Extension(t): Extension<Tenant>) -> AdminResult {
    let all = s.svc.extensions(t.id).await?;
    Ok(ok(StatusCode::OK, json!(all.iter().map(|e| out(e, None)).collect::<Vec<_>>())))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/schemas", tag = "configuration", request_body = NewSchema,
    responses((status = 201, description = "The schema, now in /Schemas and the resource type's schemaExtensions", body = SchemaOut)))]
pub(super) async fn create_schema(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    bytes: Bytes,
) -> AdminResult {
    let value: Value = body(&bytes)?;
    let extension = TenantExtension::from_json(&value).map_err(AdminError::bad)?;
    let added = s.svc.add_extension(t.id, extension).await?;
    s.forget_tenant_rate(t.id);
    Ok(ok(StatusCode::CREATED, json!(out(&added, None))))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/schemas/{urn}", tag = "configuration",
    responses((status = 200, description = "The schema, with how many resources hold values of it", body = SchemaOut)))]
pub(super) async fn get_schema(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, urn)): Path<(String, String)>,
) -> AdminResult {
    let found = s.svc.extension(t.id, &urn).await?;
    Ok(ok(StatusCode::OK, json!(out(&found.extension, Some(found.resources_holding)))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RemoveQuery {
    /// Remove the schema although resources hold values of it: the values go too.
    force: Option<bool>,
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/schemas/{urn}", tag = "configuration", params(RemoveQuery),
    responses((status = 200, description = "Removed; `values_removed_from` resources lost their values of it", body = Object)))]
pub(super) async fn delete_schema(
    State(s): State<AppState>,
    Extension(t): Extension<Tenant>,
    Path((_, urn)): Path<(String, String)>,
    Query(q): Query<RemoveQuery>,
) -> AdminResult {
    let stripped = s.svc.remove_extension(t.id, &urn, q.force.unwrap_or(false)).await?;
    s.forget_tenant_rate(t.id);
    Ok(ok(StatusCode::OK, json!({"removed": urn, "values_removed_from": stripped})))
}
