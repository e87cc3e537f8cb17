//! Attribute paths (RFC 7644 §3.10) shared by filters, PATCH and
//! `attributes=`/`excludedAttributes=`: `[urn:]name[.sub]`, and the PATCH
//! path forms `attr[filter][.sub]`.

use crate::error::Result;
use crate::filter::Filter;
use std::fmt;

/// `[urn:]name[.sub]`. The URN is kept as written; resolution against a
/// schema (case-insensitive) happens in [`crate::schema::ResourceType::resolve`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn new(name: &str) -> Self {
        AttrPath { urn: None, name: name.to_string(), sub: None }
    }
    pub fn with_sub(name: &str, sub: &str) -> Self {
        AttrPath { urn: None, name: name.to_string(), sub: Some(sub.to_string()) }
    }
    /// Parse a whole string as one attribute path.
    pub fn parse(text: &str) -> Result<AttrPath> {
        crate::filter::parser::parse_attr_path_only(text)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): an attribute path, or a value path with
/// a filter and an optional sub-attribute after it.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`, as in `emails[type eq "work"].value`.
    pub sub_after_filter: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath> {
        crate::filter::parser::parse_patch_path(text)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_after_filter {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `ATTRNAME = ALPHA *(nameChar)` (RFC 7644 §3.10), plus `$ref`.
pub fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Does the text start with `urn:` (any case)? Safe on any UTF-8 (the fuzzer
/// found that slicing `[..4]` can split a character).
pub fn has_urn_prefix(text: &str) -> bool {
    text.len() > 4 && text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Split `urn:...:name.sub` or `name.sub` into its parts; `None` if malformed.
/// The URN is everything before the last `:`; dots in the URN (`2.0`) are not
/// sub-attribute separators.
pub fn split_attr_path(text: &str) -> Option<AttrPath> {
    let (urn, rest) = if has_urn_prefix(text) {
        let idx = text.rfind(':')?;
        (Some(text[..idx].to_string()), &text[idx + 1..])
    } else {
        (None, text)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return None;
    }
    Some(AttrPath { urn, name: name.to_string(), sub: sub.map(str::to_string) })
}
