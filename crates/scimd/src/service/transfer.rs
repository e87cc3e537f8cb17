//! Import and export of a tenant's users: JSONL of SCIM users, or CSV whose
//! header names the attribute of each column (`userName`, `name.givenName`,
//! `emails`, `active`, an extension's `urn:…:department`). An import matches
//! users on `userName` and goes through the same operations as SCIM requests
//! (policy, events), many at once so the writer commits them in batches; it
//! creates, updates only what differs, leaves equal users alone, and reports
//! every row it could not take with the reason.

use super::{Actor, Error, Service, Update};
use crate::events::{ActorKind, Cause};
use crate::store::{Doc, Kind, NewResource, StoredResource, UserPage};
use scim_core::{Limits, ResourceType};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Rows written at once: enough for the writer to fill its batches.
const IN_FLIGHT: usize = 32;

/// The formats a file can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(format!("'{other}' is not a format: use jsonl or csv")),
        }
    }
}

/// One row of a file, read into a SCIM user, or why it could not be.
pub struct Row {
    /// 1-based line (JSONL) or record (CSV, the header being 1).
    pub line: usize,
    /// The row's userName as written, to name a row that fails.
    pub user_name: Option<String>,
    pub user: Result<Value, String>,
}

/// A row that was not imported.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Failed {
    /// The row's line in the file (1 is the first).
    pub line: usize,
    #[serde(rename = "userName")]
    #[schema(required)]
    pub user_name: Option<String>,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: Vec<Failed>,
}

/// Read a file's rows: JSONL (one SCIM user a line, blank lines skipped) or CSV.
pub fn read_rows(text: &str, format: Format) -> Result<Vec<Row>, String> {
    match format {
        Format::Jsonl => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let user = scim_core::json::parse_strict(l.as_bytes())
                    .map_err(|e| format!("the line is not a JSON object: {e}"))
                    .and_then(|v| if v.is_object() { Ok(v) } else { Err("the line is not a JSON object".to_string()) });
                let user_name =
                    user.as_ref().ok().and_then(|u| u.get("userName")).and_then(Value::as_str).map(str::to_string);
                Row { line: i + 1, user_name, user }
            })
            .collect()),
        Format::Csv => read_csv(text),
    }
}

fn read_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    if !header.iter().any(|h| h.eq_ignore_ascii_case("userName")) {
        return Err("the CSV header has no 'userName' column: name each column after the attribute it holds \
                    (userName, name.givenName, name.familyName, displayName, emails, active, externalId, …)"
            .into());
    }
    let name_column = header.iter().position(|h| h.eq_ignore_ascii_case("userName"));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let (user, user_name) = match record {
            Ok(r) => {
                let name = name_column.and_then(|c| r.get(c)).filter(|n| !n.is_empty()).map(str::to_string);
                (user_of_csv(&header, &r), name)
            }
            Err(e) => (Err(format!("the record cannot be read: {e}")), None),
        };
        rows.push(Row { line, user_name, user });
    }
    Ok(rows)
}

/// A CSV cell is text: an extension's integer, decimal or boolean attribute
/// given as text ("12", "true") takes its type, so the schema's check passes.
fn typed_extension_values(user: &mut Value, rt: &ResourceType) {
    use scim_core::schema::AttrType;
    for (schema, _) in &rt.extensions {
        let Some(Value::Object(values)) = user.get_mut(&schema.id) else { continue };
        for (name, value) in values.iter_mut() {
            let (Some(attr), Value::String(text)) = (schema.attribute(name), &*value) else { continue };
            let typed = match attr.kind {
                AttrType::Integer => text.trim().parse::<i64>().ok().map(Value::from),
                AttrType::Decimal => {
                    text.trim().parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                }
                AttrType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Some(Value::Bool(true)),
                    "false" | "no" | "0" => Some(Value::Bool(false)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(typed) = typed {
                *value = typed;
            }
        }
    }
}

/// A CSV record as a SCIM user: each column at the attribute its header names.
fn user_of_csv(header: &[String], record: &csv::StringRecord) -> Result<Value, String> {
    let mut user = Map::new();
    user.insert("schemas".into(), json!([USER_SCHEMA]));
    for (column, value) in header.iter().zip(record.iter()) {
        if value.is_empty() {
            continue;
        }
        let lower = column.to_ascii_lowercase();
        let value = Value::String(value.to_string());
        match lower.as_str() {
            "active" => {
                let on = match value.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("true" | "yes" | "1") => true,
                    Some("false" | "no" | "0") => false,
                    _ => {
                        return Err(format!("'active' is true or false, not '{}'", value.as_str().unwrap_or_default()));
                    }
                };
                user.insert("active".into(), Value::Bool(on));
            }
            "emails" | "email" => {
                user.insert("emails".into(), json!([{"value": value, "type": "work", "primary": true}]));
            }
            "phonenumbers" | "phone" => {
                user.insert("phoneNumbers".into(), json!([{"value": value, "type": "work"}]));
            }
            _ if lower.starts_with("urn:") => {
                // `urn:…:User:department`: the extension's attribute.
                let Some((schema, attr)) = column.rsplit_once(':') else { continue };
                let ext = user.entry(schema.to_string()).or_insert_with(|| Value::Object(Map::new()));
                if let Some(o) = ext.as_object_mut() {
                    o.insert(attr.to_string(), value);
                }
            }
            _ => match column.split_once('.') {
                Some((parent, sub)) => {
                    let p = user.entry(parent.to_string()).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(o) = p.as_object_mut() {
                        o.insert(sub.to_string(), value);
                    }
                }
                None => {
                    user.insert(column.clone(), value);
                }
            },
        }
    }
    let extensions: Vec<String> = user.keys().filter(|k| k.starts_with("urn:")).cloned().collect();
    if let Some(Value::Array(schemas)) = user.get_mut("schemas") {
        schemas.extend(extensions.into_iter().map(Value::String));
    }
    Ok(Value::Object(user))
}

/// `existing` with the attributes `given` names replaced (a complex
/// attribute's sub-attributes merged), as a SCIM PATCH `replace` of them would.
fn merged(existing: &Value, given: &Value) -> Value {
    let mut out = existing.clone();
    if let (Some(out), Some(given)) = (out.as_object_mut(), given.as_object()) {
        for (k, v) in given {
            match (out.get_mut(k), v) {
                (Some(Value::Object(old)), Value::Object(new)) if !k.starts_with("urn:") || !new.is_empty() => {
                    for (sk, sv) in new {
                        old.insert(sk.clone(), sv.clone());
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Service {
    /// Import rows into a tenant; `progress` is called after each row.
    pub async fn import_users(
        &self,
        tenant: &str,
        rows: Vec<Row>,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Summary, Error> {
        let tenant = self.tenant_named(tenant).await?;
        // The tenant's extensions: a CSV column or JSONL key may name one of their attributes.
        let extensions = self.tenant_config(tenant.id).await?.extensions;
        let rt = Arc::new(scim_core::extension::resource_types(&extensions).0);
        let limits = self.limits();
        let tenant_id = tenant.id;
        let cause = Cause {
            request_id: Some(format!("import-{}", uuid::Uuid::now_v7())),
            actor: ActorKind::Admin,
            actor_name: Some("import".into()),
        };
        let done = Arc::new(AtomicU64::new(0));
        let mut summary = Summary::default();
        let mut tasks = tokio::task::JoinSet::new();
        let mut rows = rows.into_iter();
        loop {
            while tasks.len() < IN_FLIGHT {
                let Some(row) = rows.next() else { break };
                let (svc, rt, cause) = (self.clone(), rt.clone(), cause.clone());
                tasks.spawn(async move {
                    let name = row.user_name;
                    let result = match row.user {
                        Ok(mut user) => {
                            typed_extension_values(&mut user, &rt);
                            crate::service::context::with_cause(cause, svc.import_one(tenant_id, user, &rt, &limits))
                                .await
                        }
                        Err(why) => Err(why),
                    };
                    (row.line, name, result)
                });
            }
            let Some(joined) = tasks.join_next().await else { break };
            let (line, user_name, result) =
                joined.map_err(|e| Error::Internal(format!("an import task failed: {e}")))?;
            match result {
                Ok(Outcome::Created) => summary.created += 1,
                Ok(Outcome::Updated) => summary.updated += 1,
                Ok(Outcome::Unchanged) => summary.unchanged += 1,
                Err(reason) => summary.failed.push(Failed { line, user_name, reason }),
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
        }
        summary.failed.sort_by_key(|f| f.line);
        Ok(summary)
    }

    async fn import_one(
        &self,
        tenant_id: i64,
        user: Value,
        rt: &ResourceType,
        limits: &Limits,
    ) -> Result<Outcome, String> {
        let in_words = |e: Error| match e {
            Error::Protocol(e) => e.detail,
            other => other.to_string(),
        };
        let user_name = user.get("userName").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
        let Some(user_name) = user_name.map(str::to_string) else { return Err("the row has no userName".into()) };
        let existing = self.user_named(tenant_id, &user_name).await.map_err(in_words)?;
        let Some(existing) = existing else {
            let doc = scim_core::resource::prepare(&user, rt, None, limits).map_err(|e| e.detail)?;
            let new = NewResource {
                kind: Kind::User,
                id: uuid::Uuid::now_v7().to_string(),
                doc: Doc::new(doc, Kind::User),
                now: self.now(),
                members: Vec::new(),
                scim_managed: true,
            };
            self.create(tenant_id, Actor::IdentityProvider, new).await.map_err(in_words)?;
            return Ok(Outcome::Created);
        };
        let mut wanted = merged(&existing.doc, &user);
        if let Some(o) = wanted.as_object_mut() {
            o.insert("schemas".into(), user.get("schemas").cloned().unwrap_or_else(|| json!([USER_SCHEMA])));
        }
        let doc = scim_core::resource::prepare(&wanted, rt, Some(&existing.doc), limits).map_err(|e| e.detail)?;
        if doc == existing.doc {
            return Ok(Outcome::Unchanged);
        }
        let version = existing.version;
        let decide: super::resources::Decide = Arc::new(move |_current: &StoredResource| {
            Ok(Update {
                doc: Some(Doc::new(doc.clone(), Kind::User)),
                member_changes: Vec::new(),
                based_on: Some(version),
            })
        });
        self.update(tenant_id, Actor::IdentityProvider, Kind::User, &existing.id, false, decide)
            .await
            .map_err(in_words)?;
        Ok(Outcome::Updated)
    }

    /// The live user of this userName (ignoring case), if any.
    async fn user_named(&self, tenant_id: i64, user_name: &str) -> Result<Option<StoredResource>, Error> {
        Ok(self.store().user_by_name(tenant_id, user_name).await?)
    }

    /// Every live user of a tenant, in stored order, handed to `each` a page at a time.
    pub async fn export_users(
        &self,
        tenant: &str,
        mut each: impl FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<u64, Error> {
        let tenant = self.tenant_named(tenant).await?;
        let mut after = 0;
        let mut count = 0;
        loop {
            let page = UserPage { deleted: false, after, limit: 1000, workspace_id: None, role_id: None };
            let users = self.users_page(tenant.id, &page).await?;
            let Some((last, _)) = users.last() else { break };
            after = *last;
            count += users.len() as u64;
            let scim: Vec<Value> = users.into_iter().map(|(_, u)| as_scim(&u)).collect();
            each(scim).map_err(Error::Internal)?;
        }
        Ok(count)
    }
}

/// A stored user as a SCIM user to import elsewhere: its id, its schemas, its attributes.
pub fn as_scim(u: &StoredResource) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if let Some(doc) = u.doc.as_object() {
        schemas.extend(doc.keys().filter(|k| k.starts_with("urn:")).map(|k| Value::String(k.clone())));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(u.id.clone()));
    if let Some(doc) = u.doc.as_object() {
        for (k, v) in doc {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The CSV columns an export writes.
pub const CSV_COLUMNS: [&str; 8] =
    ["userName", "externalId", "name.givenName", "name.familyName", "displayName", "emails", "active", "id"];

/// A user as a CSV record of [`CSV_COLUMNS`].
pub fn csv_record(user: &Value) -> Vec<String> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let email = user.get("emails").and_then(Value::as_array).and_then(|emails| {
        emails.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| emails.first()).cloned()
    });
    vec![
        text(user.get("userName")),
        text(user.get("externalId")),
        text(user.pointer("/name/givenName")),
        text(user.pointer("/name/familyName")),
        text(user.get("displayName")),
        text(email.as_ref().and_then(|e| e.get("value"))),
        text(user.get("active")),
        text(user.get("id")),
    ]
}

/// One CSV record as bytes, quoted where it must be.
pub fn csv_line(fields: &[String]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).map_err(|e| e.to_string())?;
    w.into_inner().map_err(|e| e.to_string())
}
