//! The admin API's OpenAPI 3.1 document, `GET /admin/v1/openapi.json`:
//! operations from the handlers' `#[utoipa::path]`, bodies and answers from
//! the types they read and write. What every operation shares (the admin
//! token, its path parameters, the error answers) is added here once, by
//! rule, so that no operation can leave one out.

use super::{Code, audit, config, events, schemas, tenants, transfer, users, views, webhooks};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Required, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi, ToSchema};

/// Where the document is served (without an admin token).
pub(crate) const PATH: &str = "/admin/v1/openapi.json";

/// Every error of the admin API: `{"error": {"status", "code", "detail"}}`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": {"status": 404, "code": "not_found", "detail": "there is no tenant 'acme'"}}))]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The HTTP status, again.
    #[schema(minimum = 400, maximum = 599)]
    pub(crate) status: u16,
    pub(crate) code: Code,
    /// What went wrong, in words an admin can act on.
    pub(crate) detail: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "scimd admin API",
        description = "A tenant's provisioning configuration, users, events, webhooks, audit trail, tenants and \
                       credentials. Every call but this document's sends `Authorization: Bearer <admin token>`: an \
                       operator's token reaches every tenant, a tenant admin's token its own tenant only (any other \
                       tenant's path is 404 to it). Bodies are JSON; configuration items are named by id or by name."
    ),
    paths(
        document,
        tenants::list_tenants, tenants::create_tenant, tenants::get_tenant, tenants::patch_tenant,
        tenants::delete_tenant, tenants::list_tokens, tenants::create_token, tenants::revoke_token,
        tenants::list_oauth_clients, tenants::create_oauth_client, tenants::revoke_oauth_client,
        tenants::list_admin_tokens, tenants::create_admin_token, tenants::revoke_admin_token,
        tenants::create_portal_link, transfer::import, transfer::export,
        config::get_config, config::list_workspaces, config::create_workspace, views::get_workspace,
        config::update_workspace, config::delete_workspace, config::list_roles, config::create_role,
        views::get_role, config::update_role, config::delete_role, views::list_licence_types,
        config::create_licence_type, views::get_licence_type, config::update_licence_type,
        config::delete_licence_type, config::list_mappings, config::create_mapping, views::get_mapping,
        config::replace_mapping, config::delete_mapping, views::list_groups, config::get_policy,
        config::put_policy, config::reapply_policy,
        schemas::list_schemas, schemas::create_schema, schemas::get_schema, schemas::delete_schema,
        users::list_users, users::create_user, users::get_user, users::patch_user, users::delete_user,
        users::restore_user, users::user_access, users::grant_role, users::withdraw_role,
        events::list_events,
        webhooks::list_webhooks, webhooks::create_webhook, webhooks::get_webhook, webhooks::patch_webhook,
        webhooks::delete_webhook, webhooks::test_webhook, webhooks::replay_webhook, webhooks::rotate_secret, webhooks::enable_webhook, webhooks::list_deliveries, webhooks::get_delivery, webhooks::get_webhook_delivery,
        webhooks::retry_webhook_delivery, webhooks::retry_delivery,
        audit::list_audit, audit::list_reads,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "tenants", description = "Tenants (operators) and their SCIM switch"),
        (name = "credentials", description = "SCIM tokens, OAuth clients and admin tokens"),
        (name = "configuration", description = "Workspaces, roles, licence types, group mappings and the policy"),
        (name = "users", description = "Users, their access and manual roles"),
        (name = "events", description = "The event feed"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries"),
        (name = "audit", description = "The audit trail of SCIM requests"),
        (name = "meta", description = "This document"),
    )
)]
struct AdminApi;

/// The document, made once: it is the same for every request.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| AdminApi::openapi().to_json().unwrap_or_default());

/// The admin API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = serde_json::Value)))]
pub(crate) async fn document() -> Response {
    let mut resp = DOCUMENT.clone().into_response();
    resp.headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    resp
}

/// What a path parameter is, by its name in the path template.
fn parameter_description(name: &str) -> &'static str {
    match name {
        "tenant" => "The tenant's name",
        "name" => "The token's name",
        "client" => "The OAuth client's name or client_id",
        "id" => "The item's id (a workspace, role or licence type may also be named by its name, ignoring case)",
        "workspace" => "The workspace's id or name",
        "role" => "The role's id or name",
        "delivery" => "The delivery's id",
        _ => "",
    }
}

/// The error answers, in `components.responses`: (status, name, description).
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "The request is not valid: a body that is not JSON, a setting that does not exist or has a value it cannot \
         take, a query parameter out of range, or a configuration that cannot work. `detail` names the setting at \
         fault and its allowed values.",
    ),
    (401, "Unauthorized", "No admin token, or one that is not valid, has been revoked or has expired."),
    (403, "Forbidden", "The token may not do this: only an operator token manages tenants and operator tokens."),
    (
        404,
        "NotFound",
        "No such tenant (a tenant admin's token finds no other tenant), or nothing of that id or name in it.",
    ),
    (
        409,
        "Conflict",
        "The change conflicts with what is there: a name already taken, a SCIM-managed user, no free seat, a seat \
         limit below the seats in use, a role the policy would not let the user hold.",
    ),
    (413, "TooLarge", "The request body is larger than the server takes (`--max-body-bytes`)."),
    (500, "Internal", "The server failed to finish the request; the cause is in its log."),
    (503, "Busy", "The database was busy with other writes; nothing was changed: retry after `Retry-After` seconds."),
];

/// What every operation shares, added by rule: the admin token, the path
/// parameters its template names, and the errors that any such operation
/// can answer (an operation's own `responses` add the others, 403 and 409).
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An admin token (`scimd admin-token create`, or POST /admin/v1/admin-tokens)"))
                    .build(),
            ),
        );
        for (status, name, description) in ERRORS {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let mut response = ResponseBuilder::new().description(*description).content("application/json", content);
            if *status == 503 {
                let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
                let header = HeaderBuilder::new().schema(Some(seconds)).description(Some("Seconds to wait")).build();
                response = response.header("Retry-After", header);
            }
            components.responses.insert((*name).to_string(), RefOr::T(response.build()));
        }
        doc.security = Some(vec![SecurityRequirement::new("admin_token", Vec::<String>::new())]);
        for (path, item) in doc.paths.paths.iter_mut() {
            let names: Vec<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            if path == PATH {
                continue;
            }
            let operations = [
                (item.get.as_mut(), false),
                (item.put.as_mut(), true),
                (item.post.as_mut(), true),
                (item.delete.as_mut(), true),
                (item.patch.as_mut(), true),
            ];
            for (op, writes) in operations {
                if let Some(op) = op {
                    shared_parts(op, &names, writes);
                }
            }
        }
    }
}

/// `writes`: the operation changes something, so a concurrent change can make it 409.
fn shared_parts(op: &mut Operation, names: &[&str], writes: bool) {
    let parameters = op.parameters.get_or_insert_with(Vec::new);
    for name in names.iter().rev() {
        let parameter = ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(parameter_description(name)))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).build()))
            .build();
        parameters.insert(0, RefOr::T(parameter));
    }
    let takes_input = op.request_body.is_some() || !parameters.is_empty();
    let mut errors = vec![401, 500, 503];
    if takes_input {
        errors.push(400);
    }
    if !names.is_empty() {
        errors.push(404);
    }
    if op.request_body.is_some() {
        errors.push(413);
    }
    if writes {
        errors.push(409);
    }
    for status in errors {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Default::default()));
    }
    // Every error, the shared ones and those an operation names (403, 409), has the one shape.
    for (status, response) in op.responses.responses.iter_mut() {
        if let Some((_, name, _)) = ERRORS.iter().find(|(s, _, _)| s.to_string() == *status) {
            *response = RefOr::Ref(Ref::from_response_name(*name));
        }
    }
}
