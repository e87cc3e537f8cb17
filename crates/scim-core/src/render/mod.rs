//! The one rendering of a stored resource as a client sees it (RFC 7643
//! §3.1): `id` and `meta` (with its `location` and `version`), the stored
//! document, a group's `members` and a user's `groups`. Written as a tree
//! ([`to_value`]), straight from the document ([`Shown`]'s `Serialize`), or
//! as text around the document's stored text ([`splice`]); all three are
//! the same JSON. Also the admin API's thinner view, [`admin_view`].

use crate::etag;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value, json};

/// A member of a group, as it is stored apart from the group's document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub member_type: Option<String>,
    pub display: Option<String>,
    pub reference: Option<String>,
}

impl Member {
    /// A member from its JSON object; `None` without a string `value`. Other
    /// attributes that are not strings are left out.
    pub fn from_json(v: &Value) -> Option<Member> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Member { value: s("value")?, member_type: s("type"), display: s("display"), reference: s("$ref") })
    }

    /// The member as a client sees it: `value`, and `type`, `display`,
    /// `$ref` when the member has them.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("value".into(), self.value.clone().into());
        if let Some(t) = &self.member_type {
            m.insert("type".into(), t.clone().into());
        }
        if let Some(d) = &self.display {
            m.insert("display".into(), d.clone().into());
        }
        if let Some(r) = &self.reference {
            m.insert("$ref".into(), r.clone().into());
        }
        Value::Object(m)
    }

    /// The members as [`Member::to_json`] writes them (keys in the same
    /// order: `$ref`, `display`, `type`, `value`), written straight to text:
    /// no tree, no allocation per member.
    pub fn push_all(out: &mut String, members: &[Member]) {
        out.reserve(members.len() * 64);
        out.push('[');
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            let mut first = true;
            for (key, value) in [
                ("$ref", m.reference.as_deref()),
                ("display", m.display.as_deref()),
                ("type", m.member_type.as_deref()),
                ("value", Some(m.value.as_str())),
            ] {
                let Some(value) = value else { continue };
                if !first {
                    out.push(',');
                }
                first = false;
                push_json_str(out, key);
                out.push(':');
                push_json_str(out, value);
            }
            out.push('}');
        }
        out.push(']');
    }
}

/// Members serialised as [`Member::push_all`] writes them, for a serde map entry.
struct MembersJson<'a>(&'a [Member]);

impl Serialize for MembersJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for m in self.0 {
            seq.serialize_element(&MemberJson(m))?;
        }
        seq.end()
    }
}

struct MemberJson<'a>(&'a Member);

impl Serialize for MemberJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(r) = &m.reference {
            map.serialize_entry("$ref", r)?;
        }
        if let Some(d) = &m.display {
            map.serialize_entry("display", d)?;
        }
        if let Some(t) = &m.member_type {
            map.serialize_entry("type", t)?;
        }
        map.serialize_entry("value", &m.value)?;
        map.end()
    }
}

/// What the server keeps about a resource beside its document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta<'a> {
    /// `User` or `Group`; its endpoint is this with an `s`.
    pub resource_type: &'a str,
    pub id: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub version: i64,
}

impl Meta<'_> {
    /// The resource's URL under a tenant's `base` (`https://host/scim/v2/tenant`):
    /// `base/Users/id` or `base/Groups/id`.
    pub fn location(&self, base: &str) -> String {
        format!("{base}/{}s/{}", self.resource_type, self.id)
    }
}

/// A stored resource as a client sees it, before projection. Serialised, it
/// writes `id`, `meta`, the document's attributes (without `id`, `meta`,
/// `members` and `groups`: those are the server's), `members` when given,
/// then `groups` when given and not empty. It copies nothing of the
/// document, which may be megabytes.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a> {
    /// The tenant's base URL, `https://host/scim/v2/tenant`.
    pub base: &'a str,
    pub meta: Meta<'a>,
    /// The stored document: a JSON object (anything else shows no attributes).
    pub doc: &'a Value,
    /// A group's members; `None` leaves `members` out (not read).
    pub members: Option<&'a [Member]>,
    /// A user's groups as (group id, displayName).
    pub groups: Option<&'a [(String, Option<String>)]>,
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = &self.meta;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", m.id)?;
        // A tree, as before this moved here: its keys come out in the order
        // serde_json's maps keep.
        let meta = json!({
            "resourceType": m.resource_type,
            "created": m.created,
            "lastModified": m.last_modified,
            "location": m.location(self.base),
            "version": etag::format(m.version),
        });
        map.serialize_entry("meta", &meta)?;
        if let Value::Object(doc) = self.doc {
            for (k, v) in doc.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "meta" | "members" | "groups")) {
                map.serialize_entry(k, v)?;
            }
        }
        if let Some(members) = self.members {
            map.serialize_entry("members", &MembersJson(members))?;
        }
        if let Some(groups) = self.groups.filter(|g| !g.is_empty()) {
            map.serialize_entry("groups", &groups_json(self.base, groups))?;
        }
        map.end()
    }
}

impl Shown<'_> {
    /// The text [`json_bytes`] writes, with a group's members written
    /// straight to text ([`Member::push_all`], byte for byte what serde
    /// writes): they are most of a big group's answer, and [`json_bytes`]
    /// would serialise them twice (measured, then written).
    pub fn to_json(&self) -> Vec<u8> {
        let Some(members) = self.members else { return json_bytes(self) };
        let head = Shown { members: None, groups: None, ..*self };
        // A map of string keys always serialises; it always ends with `}`.
        let mut out = serde_json::to_string(&head).unwrap_or_default();
        if out.pop() != Some('}') {
            return json_bytes(self);
        }
        out.reserve(members.len() * 64 + 16);
        out.push_str(",\"members\":");
        Member::push_all(&mut out, members);
        if let Some(groups) = self.groups.filter(|g| !g.is_empty()) {
            out.push_str(",\"groups\":");
            out.push_str(&groups_json(self.base, groups).to_string());
        }
        out.push('}');
        out.into_bytes()
    }
}

/// A user's `groups`: each `direct`, with its `$ref` and, when it has one,
/// its display name.
fn groups_json(base: &str, groups: &[(String, Option<String>)]) -> Value {
    let items = groups
        .iter()
        .map(|(gid, display)| {
            let mut g = json!({"value": gid, "$ref": format!("{base}/Groups/{gid}"), "type": "direct"});
            if let (Some(d), Some(o)) = (display, g.as_object_mut()) {
                o.insert("display".into(), d.clone().into());
            }
            g
        })
        .collect();
    Value::Array(items)
}

/// [`Shown`] as a tree, for a projection to work on.
pub fn to_value(shown: &Shown<'_>) -> Value {
    // Serialising into a tree of values cannot fail: every key is a string.
    serde_json::to_value(shown).unwrap_or(Value::Null)
}

/// [`Shown`] as text, without parsing the stored document: `id` and `meta`,
/// then `members` and `groups` as [`Shown`] writes them, then the members of
/// the document's object copied as they are. `doc_text` must be a JSON object
/// without `id`, `meta`, `members` and `groups` (a stored document never
/// holds them: they are read-only or kept apart); `None` when it is not an
/// object. The key order differs from [`Shown`]'s; the JSON is the same.
pub fn splice(
    base: &str,
    meta: &Meta<'_>,
    doc_text: &str,
    members: Option<&[Member]>,
    groups: Option<&[(String, Option<String>)]>,
) -> Option<String> {
    let inner = doc_text.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let mut out = String::with_capacity(doc_text.len() + 320);
    out.push_str("{\"id\":");
    push_json_str(&mut out, meta.id);
    out.push_str(",\"meta\":{\"resourceType\":");
    push_json_str(&mut out, meta.resource_type);
    out.push_str(",\"created\":");
    push_json_str(&mut out, meta.created);
    out.push_str(",\"lastModified\":");
    push_json_str(&mut out, meta.last_modified);
    out.push_str(",\"location\":");
    push_json_str_of(&mut out, &[base, "/", meta.resource_type, "s/", meta.id]);
    out.push_str(",\"version\":\"W/\\\"");
    out.push_str(&meta.version.to_string());
    out.push_str("\\\"\"}");
    if let Some(members) = members {
        out.push_str(",\"members\":");
        Member::push_all(&mut out, members);
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
            push_json_str_of(&mut out, &[base, "/Groups/", gid]);
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

/// A JSON string literal of the parts joined: quoted, with `"`, `\` and
/// control characters escaped (what JSON requires; nothing more).
fn push_json_str_of(out: &mut String, parts: &[&str]) {
    out.push('"');
    for part in parts {
        // Most parts need no escape: copied whole.
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
                // serde_json's short forms, so both write the same bytes.
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
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

/// A user as the admin API shows it: the document with `id`, a `meta` of
/// `created`, `lastModified` and `version`, whether the identity provider
/// manages it (`scim_managed`) and whether it is `deleted`. A document that is
/// not an object is returned as it is.
pub fn admin_view(meta: &Meta<'_>, doc: &Value, scim_managed: bool, deleted: bool) -> Value {
    let mut v = doc.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), meta.id.into());
        o.insert(
            "meta".into(),
            json!({"created": meta.created, "lastModified": meta.last_modified, "version": etag::format(meta.version)}),
        );
        o.insert("scim_managed".into(), scim_managed.into());
        o.insert("deleted".into(), deleted.into());
    }
    v
}

/// JSON text in a buffer of exactly its size: measured first, then written.
/// Growing a buffer by doubling would hold up to three times a large
/// document's size while it is written.
pub fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Neither sink refuses bytes; what serde_json refuses (a map key that is
    // not a string) the values written here do not have.
    let _ = serde_json::to_writer(&mut count, value);
    let mut out = Vec::with_capacity(count.0);
    let _ = serde_json::to_writer(&mut out, value);
    out
}

#[cfg(test)]
mod tests;
