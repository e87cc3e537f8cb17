//! Attribute definitions with every characteristic of RFC 7643 §2 and §7, the
//! built-in User, Group and EnterpriseUser schemas (§4, §8.7.1), run-time
//! extension schemas, and resource types that bind a core schema to its
//! extensions. Look-ups of attribute names and schema URNs ignore case.

use crate::error::{Result, ScimError};
use serde::{Deserialize, Serialize};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "decimal")]
    Decimal,
    #[serde(rename = "integer")]
    Integer,
    #[serde(rename = "dateTime")]
    DateTime,
    #[serde(rename = "reference")]
    Reference,
    #[serde(rename = "binary")]
    Binary,
    #[serde(rename = "complex")]
    Complex,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition, in the JSON shape `/Schemas` returns (RFC 7643 §7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    pub fn new(name: &str, kind: AttrType) -> Self {
        Attribute {
            name: name.to_string(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    pub fn string(name: &str) -> Self {
        Self::new(name, AttrType::String)
    }
    pub fn complex(name: &str, subs: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }
    pub fn describe(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Mark this attribute and all its sub-attributes read-only.
    fn read_only_tree(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self.sub_attributes = self.sub_attributes.into_iter().map(|s| s.read_only_tree()).collect();
        self
    }

    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
    pub fn is_complex(&self) -> bool {
        self.kind == AttrType::Complex
    }
}

/// A schema in the JSON shape of RFC 7643 §7.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Parse a tenant-defined extension from the same JSON `/Schemas` returns,
    /// checking what would make it unusable.
    pub fn from_json(value: &serde_json::Value) -> Result<Schema> {
        let schema: Schema = serde_json::from_value(value.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("not a valid schema definition: {e}")))?;
        if !schema.id.to_ascii_lowercase().starts_with("urn:") {
            return Err(ScimError::invalid_value(format!("schema id '{}' must be a URN", schema.id)));
        }
        fn check(attrs: &[Attribute], depth: usize) -> Result<()> {
            let mut seen = std::collections::HashSet::new();
            for a in attrs {
                if !crate::path::is_attr_name(&a.name) {
                    return Err(ScimError::invalid_value(format!("'{}' is not a valid attribute name", a.name)));
                }
                if !seen.insert(a.name.to_ascii_lowercase()) {
                    return Err(ScimError::invalid_value(format!("attribute '{}' is defined twice", a.name)));
                }
                if a.kind == AttrType::Complex {
                    if depth > 0 {
                        return Err(ScimError::invalid_value(format!(
                            "complex attribute '{}' cannot be nested in another complex attribute (RFC 7643 §2.3.8)",
                            a.name
                        )));
                    }
                    check(&a.sub_attributes, depth + 1)?;
                } else if !a.sub_attributes.is_empty() {
                    return Err(ScimError::invalid_value(format!(
                        "attribute '{}' has subAttributes but is not complex",
                        a.name
                    )));
                }
            }
            Ok(())
        }
        check(&schema.attributes, 0)?;
        Ok(schema)
    }
}

/// The attributes common to every resource (RFC 7643 §3.1), not listed in any schema.
pub fn common_attributes() -> Vec<Attribute> {
    use Mutability::*;
    vec![
        Attribute::new("schemas", AttrType::Reference)
            .describe("The schema URNs of the resource.")
            .multi()
            .case_exact()
            .refs(&["uri"])
            .mutability(ReadOnly)
            .returned(Returned::Always),
        Attribute::string("id")
            .describe("Unique identifier for the resource, assigned by the service provider.")
            .case_exact()
            .mutability(ReadOnly)
            .returned(Returned::Always)
            .unique(Uniqueness::Server),
        Attribute::string("externalId")
            .describe("Identifier of the resource as defined by the provisioning client.")
            .case_exact(),
        Attribute::complex(
            "meta",
            vec![
                Attribute::string("resourceType").case_exact(),
                Attribute::new("created", AttrType::DateTime),
                Attribute::new("lastModified", AttrType::DateTime),
                Attribute::new("location", AttrType::Reference).case_exact().refs(&["uri"]),
                Attribute::string("version").case_exact(),
            ],
        )
        .describe("Resource metadata.")
        .read_only_tree(),
    ]
}

fn multi_complex(name: &str, desc: &str, types: &[&str], value: Attribute) -> Attribute {
    Attribute::complex(
        name,
        vec![
            value,
            Attribute::string("display").describe("A human-readable name, primarily used for display purposes."),
            Attribute::string("type").describe("A label indicating the attribute's function.").canonical(types),
            Attribute::new("primary", AttrType::Boolean)
                .describe("Indicates the 'primary' or preferred attribute value for this attribute."),
        ],
    )
    .describe(desc)
    .multi()
}

/// RFC 7643 §4.1 and §8.7.1.
pub fn user_schema() -> Schema {
    use AttrType::*;
    use Mutability::*;
    let s = Attribute::string;
    let attributes = vec![
        s("userName")
            .describe("Unique identifier for the User, typically used by the user to directly authenticate.")
            .required()
            .unique(Uniqueness::Server),
        Attribute::complex(
            "name",
            vec![
                s("formatted"),
                s("familyName"),
                s("givenName"),
                s("middleName"),
                s("honorificPrefix"),
                s("honorificSuffix"),
            ],
        )
        .describe("The components of the user's real name."),
        s("displayName").describe("The name of the User, suitable for display to end-users."),
        s("nickName").describe("The casual way to address the user in real life."),
        Attribute::new("profileUrl", Reference)
            .refs(&["external"])
            .describe("A fully qualified URL pointing to a page representing the User's online profile."),
        s("title").describe("The user's title, such as \"Vice President\"."),
        s("userType").describe("Used to identify the relationship between the organization and the user."),
        s("preferredLanguage").describe("Indicates the User's preferred written or spoken language."),
        s("locale").describe("Used to indicate the User's default location for purposes of localizing items."),
        s("timezone").describe("The User's time zone in the 'Olson' time zone database format."),
        Attribute::new("active", Boolean).describe("A Boolean value indicating the User's administrative status."),
        s("password")
            .describe("The User's cleartext password, write-only.")
            .mutability(WriteOnly)
            .returned(Returned::Never),
        multi_complex("emails", "Email addresses for the user.", &["work", "home", "other"], s("value")),
        multi_complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            &["work", "home", "mobile", "fax", "pager", "other"],
            s("value"),
        ),
        multi_complex(
            "ims",
            "Instant messaging addresses for the User.",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            s("value"),
        ),
        multi_complex(
            "photos",
            "URLs of photos of the User.",
            &["photo", "thumbnail"],
            Attribute::new("value", Reference).refs(&["external"]),
        ),
        Attribute::complex(
            "addresses",
            vec![
                s("formatted"),
                s("streetAddress"),
                s("locality"),
                s("region"),
                s("postalCode"),
                s("country"),
                s("type").canonical(&["work", "home", "other"]),
                Attribute::new("primary", Boolean),
            ],
        )
        .describe("A physical mailing address for this User.")
        .multi(),
        Attribute::complex(
            "groups",
            vec![
                s("value"),
                Attribute::new("$ref", Reference).refs(&["User", "Group"]),
                s("display"),
                s("type").canonical(&["direct", "indirect"]),
            ],
        )
        .describe("A list of groups to which the user belongs, derived from group membership.")
        .multi()
        .read_only_tree(),
        multi_complex("entitlements", "A list of entitlements for the User.", &[], s("value")),
        multi_complex("roles", "A list of roles for the User.", &[], s("value")),
        multi_complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            &[],
            Attribute::new("value", Binary),
        ),
    ];
    Schema { id: USER_SCHEMA.into(), name: "User".into(), description: "User Account".into(), attributes }
}

/// RFC 7643 §4.2 and §8.7.1. `displayName` is required, as §4.2 says.
pub fn group_schema() -> Schema {
    use Mutability::*;
    let attributes = vec![
        Attribute::string("displayName").describe("A human-readable name for the Group.").required(),
        Attribute::complex(
            "members",
            vec![
                Attribute::string("value")
                    .describe("Identifier of the member of this Group.")
                    .case_exact()
                    .mutability(Immutable),
                Attribute::new("$ref", AttrType::Reference)
                    .describe("The URI corresponding to a SCIM resource that is a member of this Group.")
                    .refs(&["User", "Group"])
                    .mutability(Immutable),
                Attribute::string("type")
                    .describe("A label indicating the type of resource, e.g., 'User' or 'Group'.")
                    .canonical(&["User", "Group"])
                    .mutability(Immutable),
                Attribute::string("display")
                    .describe("A human-readable name of the member, stored as the client sent it.")
                    .mutability(Immutable),
            ],
        )
        .describe("A list of members of the Group.")
        .multi(),
    ];
    Schema { id: GROUP_SCHEMA.into(), name: "Group".into(), description: "Group".into(), attributes }
}

/// RFC 7643 §4.3.
pub fn enterprise_user_schema() -> Schema {
    let s = Attribute::string;
    let attributes = vec![
        s("employeeNumber").describe("Numeric or alphanumeric identifier assigned to a person."),
        s("costCenter").describe("Identifies the name of a cost center."),
        s("organization").describe("Identifies the name of an organization."),
        s("division").describe("Identifies the name of a division."),
        s("department").describe("Identifies the name of a department."),
        Attribute::complex(
            "manager",
            vec![
                s("value").describe("The id of the SCIM resource representing the User's manager."),
                Attribute::new("$ref", AttrType::Reference).refs(&["User"]),
                s("displayName").mutability(Mutability::ReadOnly),
            ],
        )
        .describe("The User's manager."),
    ];
    Schema {
        id: ENTERPRISE_USER_SCHEMA.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes,
    }
}

/// A resource type (RFC 7643 §6): a core schema and its extensions.
#[derive(Clone, Debug)]
pub struct ResourceType {
    pub name: String,
    pub endpoint: String,
    pub description: String,
    pub core: Schema,
    /// Extensions with whether each is required.
    pub extensions: Vec<(Schema, bool)>,
    pub common: Vec<Attribute>,
}

/// Where an attribute name resolved to.
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    /// `None` for core or common attributes, the extension's URN otherwise.
    pub extension: Option<&'a str>,
    pub attr: &'a Attribute,
}

impl ResourceType {
    pub fn user() -> Self {
        ResourceType {
            name: "User".into(),
            endpoint: "/Users".into(),
            description: "User Account".into(),
            core: user_schema(),
            extensions: vec![(enterprise_user_schema(), false)],
            common: common_attributes(),
        }
    }
    pub fn group() -> Self {
        ResourceType {
            name: "Group".into(),
            endpoint: "/Groups".into(),
            description: "Group".into(),
            core: group_schema(),
            extensions: Vec::new(),
            common: common_attributes(),
        }
    }
    pub fn with_extension(mut self, schema: Schema, required: bool) -> Self {
        self.add_extension(schema, required);
        self
    }
    /// Add (or put in place of one with the same URN) an extension.
    pub fn add_extension(&mut self, schema: Schema, required: bool) {
        self.extensions.retain(|(s, _)| !s.id.eq_ignore_ascii_case(&schema.id));
        self.extensions.push((schema, required));
    }

    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions.iter().map(|(s, _)| s).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn is_core_urn(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn)
    }

    /// Every schema URN this resource type knows, core first.
    pub fn schema_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|(s, _)| s.id.as_str()))
    }

    /// Resolve a top-level attribute, optionally qualified by a schema URN.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<Resolved<'_>> {
        match urn {
            None => self
                .common
                .iter()
                .chain(self.core.attributes.iter())
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|attr| Resolved { extension: None, attr }),
            Some(u) if self.is_core_urn(u) => self.resolve(None, name),
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attribute(name).map(|attr| Resolved { extension: Some(ext.id.as_str()), attr })
            }
        }
    }
}
