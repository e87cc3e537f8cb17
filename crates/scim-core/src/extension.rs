//! Extension schemas a tenant registers for its Users or Groups (Okta's
//! custom attributes under `urn:…:1.0:user`): their definition checked in
//! plain words, the resource types a tenant's requests are validated
//! against, and the attributes a request names that none of its schemas
//! knows (what the `unknown_attributes` policy ignores or refuses).

use crate::error::ScimError;
use crate::patch::PatchOp;
use crate::path::{has_urn_prefix, is_attr_name, split_attr_path};
use crate::schema::{AttrType, Attribute, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ResourceType, Schema, USER_SCHEMA};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Extension schemas one tenant may hold.
pub const MAX_EXTENSIONS: usize = 20;
/// Attributes (sub-attributes included) one extension schema may define.
pub const MAX_ATTRIBUTES: usize = 200;
/// Unknown attribute names one request reports (the rest are counted).
const MAX_REPORTED: usize = 20;

/// The resource type an extension schema extends.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extends {
    User,
    Group,
}

impl Extends {
    pub fn as_str(self) -> &'static str {
        match self {
            Extends::User => "User",
            Extends::Group => "Group",
        }
    }
}

/// A tenant's extension schema: RFC 7643 §7's schema, the resource type it
/// extends, and whether that type requires it (`schemaExtensions.required`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantExtension {
    pub resource_type: Extends,
    #[serde(default)]
    pub required: bool,
    #[serde(flatten)]
    pub schema: Schema,
}

impl TenantExtension {
    /// Read a definition as the admin API and the CLI take it:
    /// `{"id": URN, "name", "description", "resource_type": "User"|"Group",
    /// "required", "attributes": [...]}`, attributes in RFC 7643 §7 form.
    /// Every refusal names what is wrong in words.
    pub fn from_json(value: &Value) -> std::result::Result<TenantExtension, String> {
        let Some(obj) = value.as_object() else {
            return Err("an extension schema must be a JSON object".into());
        };
        known_keys(
            obj,
            &["id", "name", "description", "resource_type", "required", "attributes", "schemas", "meta"],
            "the schema",
        )?;
        let id = match obj.get("id") {
            Some(Value::String(id)) => id.trim().to_string(),
            _ => return Err("an extension schema needs an 'id': its URN, such as 'urn:example:params:scim:schemas:extension:acme:1.0:User'".into()),
        };
        check_urn(&id)?;
        let resource_type = match obj.get("resource_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("User") => Extends::User,
            Some(t) if t.eq_ignore_ascii_case("Group") => Extends::Group,
            Some(other) => return Err(format!("'resource_type' must be \"User\" or \"Group\", not \"{other}\"")),
            None => return Err("an extension schema needs a 'resource_type': \"User\" or \"Group\"".into()),
        };
        let text = |key: &str| -> std::result::Result<Option<String>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("'{key}' must be a string")),
            }
        };
        let name = text("name")?.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| last_segment(&id));
        let description = text("description")?.unwrap_or_default();
        let required = match obj.get("required") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("'required' must be true or false".into()),
        };
        let Some(Value::Array(items)) = obj.get("attributes") else {
            return Err("an extension schema needs 'attributes': an array of attribute definitions".into());
        };
        if items.is_empty() {
            return Err("an extension schema needs at least one attribute".into());
        }
        let mut count = 0;
        let attributes = attributes_from_json(items, "", &mut count)?;
        Ok(TenantExtension { resource_type, required, schema: Schema { id, name, description, attributes } })
    }
}

fn last_segment(urn: &str) -> String {
    urn.rsplit(':').next().unwrap_or(urn).to_string()
}

fn known_keys(obj: &Map<String, Value>, known: &[&str], what: &str) -> std::result::Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} has a field '{k}' scimd does not know (it knows {})", known.join(", "))),
        None => Ok(()),
    }
}

/// A URN other schemas do not use: not a core or message URN of SCIM.
fn check_urn(id: &str) -> std::result::Result<(), String> {
    // `urn:` and at least a namespace and a name after it.
    if !has_urn_prefix(id) || id[4..].split(':').filter(|part| !part.is_empty()).count() < 2 {
        return Err(format!(
            "the schema id '{id}' must be a URN, such as 'urn:example:scim:schemas:extension:acme:1.0:User'"
        ));
    }
    if id.len() > 200 || id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '[' || c == ']') {
        return Err(format!("the schema id '{id}' must be at most 200 characters with no spaces, quotes or brackets"));
    }
    if id.ends_with(':') || id.contains("::") {
        return Err(format!("the schema id '{id}' has an empty segment"));
    }
    for builtin in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA] {
        if id.eq_ignore_ascii_case(builtin) {
            return Err(format!("'{id}' is a schema scimd has built in; choose a URN of your own"));
        }
    }
    if id.to_ascii_lowercase().starts_with("urn:ietf:params:scim:") {
        return Err(format!("'{id}' is in SCIM's own namespace (urn:ietf:params:scim:); choose a URN of your own"));
    }
    Ok(())
}

const ATTRIBUTE_KEYS: &[&str] = &[
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "canonicalValues",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "referenceTypes",
    "subAttributes",
];

fn attributes_from_json(
    items: &[Value],
    parent: &str,
    count: &mut usize,
) -> std::result::Result<Vec<Attribute>, String> {
    let mut out: Vec<Attribute> = Vec::with_capacity(items.len());
    for item in items {
        *count += 1;
        if *count > MAX_ATTRIBUTES {
            return Err(format!("an extension schema may define at most {MAX_ATTRIBUTES} attributes"));
        }
        let Some(obj) = item.as_object() else {
            return Err("each attribute must be an object with at least a 'name' and a 'type'".into());
        };
        let name = match obj.get("name") {
            Some(Value::String(n)) if is_attr_name(n) && n != "$ref" => n.clone(),
            Some(Value::String(n)) => {
                return Err(format!(
                    "'{n}' is not a valid attribute name: it must start with a letter and hold only letters, digits, '-' and '_'"
                ));
            }
            _ => return Err("each attribute needs a 'name'".into()),
        };
        let shown = if parent.is_empty() { name.clone() } else { format!("{parent}.{name}") };
        known_keys(obj, ATTRIBUTE_KEYS, &format!("attribute '{shown}'"))?;
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(&name)) {
            return Err(format!("attribute '{shown}' is defined twice"));
        }
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("string") => AttrType::String,
            Some("boolean") => AttrType::Boolean,
            Some("decimal") => AttrType::Decimal,
            Some("integer") => AttrType::Integer,
            Some("dateTime") => AttrType::DateTime,
            Some("reference") => AttrType::Reference,
            Some("binary") => AttrType::Binary,
            Some("complex") => AttrType::Complex,
            other => {
                return Err(format!(
                    "attribute '{shown}' needs a 'type' of string, boolean, decimal, integer, dateTime, reference, \
                     binary or complex{}",
                    other.map(|t| format!(", not '{t}'")).unwrap_or_default()
                ));
            }
        };
        let flag = |key: &str| match obj.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("'{key}' of attribute '{shown}' must be true or false")),
        };
        let choice = |key: &str, allowed: &[&str]| -> std::result::Result<Option<Value>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(Value::String(s.clone()))),
                Some(_) => Err(format!("'{key}' of attribute '{shown}' must be one of {}", allowed.join(", "))),
            }
        };
        let strings = |key: &str| -> std::result::Result<Vec<String>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) if items.iter().all(Value::is_string) && items.len() <= 1000 => {
                    Ok(items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                }
                Some(_) => Err(format!("'{key}' of attribute '{shown}' must be an array of strings")),
            }
        };
        let mut attr = Attribute::new(&name, kind);
        attr.multi_valued = flag("multiValued")?;
        attr.required = flag("required")?;
        attr.case_exact = flag("caseExact")?;
        attr.description = match obj.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("'description' of attribute '{shown}' must be a string")),
        };
        attr.canonical_values = strings("canonicalValues")?;
        attr.reference_types = strings("referenceTypes")?;
        // The enums' own serde names are the RFC's words: checked above, so these cannot fail.
        if let Some(v) = choice("mutability", &["readOnly", "readWrite", "immutable", "writeOnly"])? {
            attr.mutability = serde_json::from_value(v).map_err(|_| format!("attribute '{shown}': bad mutability"))?;
        }
        if let Some(v) = choice("returned", &["always", "never", "default", "request"])? {
            attr.returned = serde_json::from_value(v).map_err(|_| format!("attribute '{shown}': bad returned"))?;
        }
        if let Some(v) = choice("uniqueness", &["none", "server", "global"])? {
            attr.uniqueness = serde_json::from_value(v).map_err(|_| format!("attribute '{shown}': bad uniqueness"))?;
        }
        match (kind, obj.get("subAttributes")) {
            (AttrType::Complex, Some(Value::Array(subs))) if !subs.is_empty() => {
                if !parent.is_empty() {
                    return Err(format!(
                        "complex attribute '{shown}' cannot be inside another complex attribute (RFC 7643 §2.3.8)"
                    ));
                }
                attr.sub_attributes = attributes_from_json(subs, &shown, count)?;
            }
            (AttrType::Complex, _) => {
                return Err(format!("complex attribute '{shown}' needs 'subAttributes': a non-empty array"));
            }
            (_, None | Some(Value::Null)) => {}
            (_, Some(_)) => return Err(format!("attribute '{shown}' has 'subAttributes' but its type is not complex")),
        }
        out.push(attr);
    }
    Ok(out)
}

/// The User and Group resource types of a tenant: the built-in ones with the
/// tenant's extensions added.
pub fn resource_types(extensions: &[TenantExtension]) -> (ResourceType, ResourceType) {
    let (mut users, mut groups) = (ResourceType::user(), ResourceType::group());
    for ext in extensions {
        let rt = match ext.resource_type {
            Extends::User => &mut users,
            Extends::Group => &mut groups,
        };
        rt.add_extension(ext.schema.clone(), ext.required);
    }
    (users, groups)
}

/// Names of what a create or replace body holds that no schema of `rt`
/// defines, as `name`, `name.sub` or `urn:…:name`, or the URN of an
/// unregistered extension. At most [`MAX_REPORTED`] names, then "and N more".
pub fn unknown_in_body(input: &Value, rt: &ResourceType) -> Vec<String> {
    let mut found = Found::default();
    if let Some(obj) = input.as_object() {
        for (key, value) in obj {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            unknown_key(key, value, rt, &mut found);
        }
    }
    found.finish()
}

/// [`unknown_in_body`] for a PATCH: operations whose path names an attribute
/// of an unregistered extension URN (Okta's custom attributes before they are
/// registered), and keys of path-less value objects no schema knows. The
/// operations with such a path are taken out, so the rest apply (value
/// objects' unknown keys are skipped when applied). A path naming an
/// unknown core attribute stays the `invalidPath` it was.
pub fn unknown_in_patch(ops: &mut Vec<PatchOp>, rt: &ResourceType) -> Vec<String> {
    let mut found = Found::default();
    ops.retain(|op| {
        let Some(path) = &op.path else {
            if let Some(Value::Object(fields)) = &op.value {
                for (key, value) in fields {
                    if !key.eq_ignore_ascii_case("schemas") && !key.eq_ignore_ascii_case("meta") {
                        unknown_key(key, value, rt, &mut found);
                    }
                }
            }
            return true;
        };
        // A path that is an extension's whole URN (`urn:…:2.0:User`) names that extension.
        let whole =
            path.attr.urn.as_deref().is_some_and(|u| rt.extension(&format!("{u}:{}", path.attr.name)).is_some());
        let unknown_urn =
            !whole && path.attr.urn.as_deref().is_some_and(|u| !rt.is_core_urn(u) && rt.extension(u).is_none());
        if unknown_urn {
            found.push(path.attr.to_string());
        }
        !unknown_urn
    });
    found.finish()
}

#[derive(Default)]
struct Found {
    names: Vec<String>,
    more: usize,
}

impl Found {
    fn push(&mut self, name: String) {
        if self.names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            return;
        }
        if self.names.len() < MAX_REPORTED {
            self.names.push(name);
        } else {
            self.more += 1;
        }
    }
    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.names.push(format!("and {} more", self.more));
        }
        self.names
    }
}

/// One top-level key of a body or value object.
fn unknown_key(key: &str, value: &Value, rt: &ResourceType, found: &mut Found) {
    if let Some(ext) = rt.extension(key) {
        if let Value::Object(inner) = value {
            for (k, v) in inner {
                match ext.attribute(k) {
                    Some(attr) => unknown_subs(attr, v, &format!("{}:{}", ext.id, attr.name), found),
                    None if k.eq_ignore_ascii_case("schemas") => {}
                    None => found.push(format!("{}:{k}", ext.id)),
                }
            }
        }
        return;
    }
    if let Some(r) = rt.resolve(None, key) {
        unknown_subs(r.attr, value, &r.attr.name, found);
        return;
    }
    // Dotted and URN-qualified keys (Entra's value objects) name known attributes too.
    match split_attr_path(key) {
        Some(path) if path.urn.as_deref().is_none_or(|u| rt.is_core_urn(u) || rt.extension(u).is_some()) => {
            let known = rt
                .resolve(path.urn.as_deref(), &path.name)
                .is_some_and(|r| path.sub.as_deref().is_none_or(|s| r.attr.sub(s).is_some()));
            if !known {
                found.push(key.to_string());
            }
        }
        _ => found.push(key.to_string()),
    }
}

/// Sub-attributes of a complex value (or of each value) that `attr` lacks.
fn unknown_subs(attr: &Attribute, value: &Value, shown: &str, found: &mut Found) {
    if attr.kind != AttrType::Complex {
        return;
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    for item in items {
        for k in item.as_object().into_iter().flat_map(Map::keys) {
            if attr.sub(k).is_none() {
                found.push(format!("{shown}.{k}"));
            }
        }
    }
}

/// The refusal of a request that names what no schema knows, under the
/// `unknown_attributes: reject` policy.
pub fn refusal(names: &[String], rt: &ResourceType) -> ScimError {
    ScimError::invalid_value(format!(
        "no schema of this {} defines {} (the tenant's policy refuses unknown attributes; register an extension \
         schema for them, or set unknown_attributes to ignore)",
        rt.name,
        quoted(names)
    ))
}

/// `'a', 'b' and 'c'`, for messages.
pub fn quoted(names: &[String]) -> String {
    let q: Vec<String> =
        names.iter().map(|n| if n.starts_with("and ") { n.clone() } else { format!("'{n}'") }).collect();
    q.join(", ")
}

/// What `doc` holds of the single-valued simple attributes the tenant's
/// extensions for `kind` declare unique (`uniqueness` `server` or `global`,
/// both meaning within the tenant): (URN, attribute, value).
pub fn unique_values<'a>(
    extensions: &'a [TenantExtension],
    kind: Extends,
    doc: &'a Value,
) -> Vec<(&'a str, &'a Attribute, &'a Value)> {
    use crate::schema::Uniqueness;
    let mut out = Vec::new();
    for ext in extensions.iter().filter(|e| e.resource_type == kind) {
        let Some(values) = doc.get(&ext.schema.id) else { continue };
        for attr in &ext.schema.attributes {
            if attr.uniqueness == Uniqueness::None || attr.multi_valued || attr.kind == AttrType::Complex {
                continue;
            }
            if let Some(value) = values.get(&attr.name).filter(|v| !v.is_null()) {
                out.push((ext.schema.id.as_str(), attr, value));
            }
        }
    }
    out
}

/// Does any attribute of these extensions hide a stored value by default
/// (`returned: never` or `request`)? A whole resource is then written
/// through the projection rather than straight from its stored text.
pub fn hides_values(rt: &ResourceType) -> bool {
    use crate::schema::Returned;
    rt.extensions.iter().flat_map(|(s, _)| s.attributes.iter()).any(|a| {
        matches!(a.returned, Returned::Never | Returned::Request)
            || a.sub_attributes.iter().any(|s| matches!(s.returned, Returned::Never | Returned::Request))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn okta() -> Value {
        json!({
            "id": "urn:okta:acme_app:1.0:user:custom",
            "resource_type": "User",
            "attributes": [
                {"name": "costCentre", "type": "string"},
                {"name": "badge", "type": "integer", "uniqueness": "server"},
                {"name": "pin", "type": "string", "returned": "never"},
                {"name": "office", "type": "complex", "subAttributes": [{"name": "floor", "type": "integer"}]}
            ]
        })
    }

    #[test]
    fn a_definition_reads_with_defaults() {
        let ext = TenantExtension::from_json(&okta()).unwrap();
        assert_eq!(ext.resource_type, Extends::User);
        assert_eq!(ext.schema.name, "custom");
        assert_eq!(ext.schema.attributes.len(), 4);
        assert_eq!(ext.schema.attributes[1].uniqueness, crate::schema::Uniqueness::Server);
        let (users, _) = resource_types(std::slice::from_ref(&ext));
        assert!(users.resolve(Some("urn:okta:acme_app:1.0:user:custom"), "costcentre").is_some());
        assert!(hides_values(&users));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let refuse = |change: &dyn Fn(&mut Value)| {
            let mut v = okta();
            change(&mut v);
            TenantExtension::from_json(&v).unwrap_err()
        };
        assert!(refuse(&|v| v["id"] = json!("acme")).contains("must be a URN"));
        assert!(refuse(&|v| v["id"] = json!(ENTERPRISE_USER_SCHEMA)).contains("built in"));
        assert!(refuse(&|v| v["resource_type"] = json!("Device")).contains("\"User\" or \"Group\""));
        assert!(refuse(&|v| v["attributes"][0]["type"] = json!("text")).contains("not 'text'"));
        assert!(refuse(&|v| v["attributes"][0]["multivalued"] = json!(true)).contains("'multivalued'"));
        assert!(refuse(&|v| v["attributes"][1]["name"] = json!("CostCentre")).contains("defined twice"));
        assert!(refuse(&|v| v["attributes"][3]["subAttributes"] = json!([])).contains("needs 'subAttributes'"));
        assert!(refuse(&|v| v["attributes"][0]["returned"] = json!("sometimes")).contains("must be one of"));
    }

    #[test]
    fn unknown_attributes_are_named() {
        let ext = TenantExtension::from_json(&okta()).unwrap();
        let (users, _) = resource_types(&[ext]);
        let body = json!({
            "schemas": [USER_SCHEMA], "userName": "a", "nickName": "b", "shoeSize": 3,
            "name": {"givenName": "A", "middle": "x"},
            "urn:okta:acme_app:1.0:user:custom": {"costCentre": "x", "floorPlan": 1},
            "urn:okta:other:1.0:user": {"a": 1}
        });
        assert_eq!(
            unknown_in_body(&body, &users),
            ["name.middle", "shoeSize", "urn:okta:acme_app:1.0:user:custom:floorPlan", "urn:okta:other:1.0:user"]
        );
        let plain = ResourceType::user();
        let mut ops = crate::patch::parse(
            &json!({"Operations": [
                {"op": "replace", "path": "urn:okta:acme_app:1.0:user:custom:costCentre", "value": "x"},
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "value": {"department": "D"}},
                {"op": "replace", "value": {"name.givenName": "B", "name.nick": "C", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"}}
            ]}),
            &crate::limits::Limits::default(),
        )
        .unwrap();
        let names = unknown_in_patch(&mut ops, &plain);
        assert_eq!(names, ["urn:okta:acme_app:1.0:user:custom:costCentre", "name.nick"]);
        assert_eq!(
            ops.len(),
            3,
            "the operation on the unregistered extension is taken out, the whole enterprise one kept"
        );
    }
}
