//! Filter and sort translation to SQL, one translation for every dialect: a
//! validated SCIM filter becomes a `WHERE` fragment whose values are all bind
//! parameters (never spliced into the text). Indexed attributes use their
//! columns; others the database's JSON functions; `members` and a user's
//! `groups` use the membership table. Where SQLite and PostgreSQL differ (JSON
//! access, substring functions, boolean literals, placeholders) [`Dialect`]
//! says how; the logic is written once.
//!
//! Fragments use `?` placeholders; the PostgreSQL executor numbers them
//! (`store::exec::postgres`). The in-memory evaluator in
//! scim-core is the reference this is tested against.

use super::Kind;
use super::resources::SortValue;
use scim_core::datetime;
use scim_core::filter::eval::{resolve_inner, resolve_path};
use scim_core::schema::{AttrType, Attribute, ResourceType};
use scim_core::{AttrPath, CompValue, CompareOp, Filter, ScimError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub(crate) fn true_lit(self) -> &'static str {
        match self {
            Dialect::Sqlite => "1",
            Dialect::Postgres => "TRUE",
        }
    }

    pub(crate) fn false_lit(self) -> &'static str {
        match self {
            Dialect::Sqlite => "0",
            Dialect::Postgres => "FALSE",
        }
    }

    /// A value inside a JSON document, as SQL. `base` is a JSON column or
    /// element; `keys` the path. SQLite yields typed values, PostgreSQL text.
    fn json_value(self, base: &str, keys: &[&str]) -> Frag {
        match self {
            Dialect::Sqlite => Frag::with(format!("json_extract({base}, ?)"), vec![Bind::Text(json_path(keys))]),
            Dialect::Postgres => {
                let marks = vec!["?"; keys.len()].join(", ");
                Frag::with(
                    format!("jsonb_extract_path_text({base}, {marks})"),
                    keys.iter().map(|k| Bind::Text(k.to_string())).collect(),
                )
            }
        }
    }

    /// The elements of a JSON array in the document, as rows `e(value)`.
    fn json_elements(self, keys: &[&str]) -> Frag {
        match self {
            Dialect::Sqlite => Frag::with("json_each(r.doc, ?) e", vec![Bind::Text(json_path(keys))]),
            Dialect::Postgres => {
                let marks = vec!["?"; keys.len()].join(", ");
                Frag::with(
                    format!(
                        "jsonb_array_elements(COALESCE(jsonb_extract_path(r.doc, {marks}), '[]'::jsonb)) AS e(value)"
                    ),
                    keys.iter().map(|k| Bind::Text(k.to_string())).collect(),
                )
            }
        }
    }

    /// One array element itself (a multi-valued simple attribute).
    fn element_itself(self) -> &'static str {
        match self {
            Dialect::Sqlite => "e.value",
            Dialect::Postgres => "(e.value #>> '{}')",
        }
    }

    /// Is the JSON key present in the document?
    fn has_key(self, key: &str) -> Frag {
        match self {
            Dialect::Sqlite => Frag::with("(json_type(r.doc, ?) IS NOT NULL)", vec![Bind::Text(json_path(&[key]))]),
            Dialect::Postgres => {
                Frag::with("(jsonb_extract_path(r.doc, ?) IS NOT NULL)", vec![Bind::Text(key.to_string())])
            }
        }
    }

    /// The elements of a JSON array bound as text, as rows `alias(value)` of a `FROM`.
    pub(crate) fn json_rows(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_each(?) AS {alias}"),
            Dialect::Postgres => format!("jsonb_array_elements(CAST(? AS JSONB)) AS {alias}(value)"),
        }
    }

    /// The strings of a JSON array bound as text, as rows `j(value)` of a `FROM`.
    pub(crate) fn json_text_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "json_each(?) AS j",
            Dialect::Postgres => "jsonb_array_elements_text(CAST(? AS JSONB)) AS j(value)",
        }
    }

    /// The displayName in the document of the resource aliased `alias`.
    pub(crate) fn display_name_of(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({alias}.doc, '$.displayName')"),
            Dialect::Postgres => format!("({alias}.doc ->> 'displayName')"),
        }
    }

    /// The value `sortBy` takes from a multi-valued complex attribute: the
    /// sub-attribute of its primary element, else of its first (RFC 7644 §3.4.2.3).
    fn primary_or_first(self, keys: &[&str], sub: &str) -> Frag {
        let value = self.json_value("e.value", &[sub]);
        match self {
            Dialect::Sqlite => Frag::join(
                "(SELECT {} FROM json_each(r.doc, {}) e ORDER BY (json_extract(e.value, '$.primary') IS 1) DESC, \
                 e.key LIMIT 1)",
                vec![value, Frag::with("?", vec![Bind::Text(json_path(keys))])],
            ),
            Dialect::Postgres => {
                let marks = vec!["?"; keys.len()].join(", ");
                let path = Frag::with(marks, keys.iter().map(|k| Bind::Text(k.to_string())).collect());
                Frag::join(
                    "(SELECT {} FROM jsonb_array_elements(COALESCE(jsonb_extract_path(r.doc, {}), '[]'::jsonb)) \
                     WITH ORDINALITY AS e(value, n) ORDER BY COALESCE(e.value -> 'primary' = 'true'::jsonb, FALSE) \
                     DESC, e.n LIMIT 1)",
                    vec![value, path],
                )
            }
        }
    }

    /// Does the dialect's JSON access return typed values (SQLite) or text (PostgreSQL)?
    fn json_is_text(self) -> bool {
        self == Dialect::Postgres
    }
}

pub(crate) use super::exec::Param as Bind;

/// A piece of SQL and the values of its placeholders, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Frag {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Frag {
    fn raw(sql: impl Into<String>) -> Frag {
        Frag { sql: sql.into(), binds: Vec::new() }
    }
    fn with(sql: impl Into<String>, binds: Vec<Bind>) -> Frag {
        Frag { sql: sql.into(), binds }
    }
    /// `template` with each `{}` replaced by the next part (binds follow in order).
    fn join(template: &str, parts: Vec<Frag>) -> Frag {
        let mut out = Frag::default();
        let mut parts = parts.into_iter();
        let mut pieces = template.split("{}").peekable();
        while let Some(piece) = pieces.next() {
            out.sql.push_str(piece);
            if pieces.peek().is_some()
                && let Some(p) = parts.next()
            {
                out.sql.push_str(&p.sql);
                out.binds.extend(p.binds);
            }
        }
        out
    }
}

/// A JSON path `$."a"."b"` for SQLite's json functions. Names come from the
/// schema (validated attribute names and URNs); quotes are escaped regardless.
fn json_path(keys: &[&str]) -> String {
    let mut p = String::from("$");
    for k in keys {
        if let Ok(index) = k.parse::<usize>() {
            p.push_str(&format!("[{index}]"));
            continue;
        }
        p.push_str(".\"");
        p.push_str(&k.replace('\\', "\\\\").replace('"', "\\\""));
        p.push('"');
    }
    p
}

/// How a leaf value is stored, which decides how it is compared.
#[derive(Clone, Copy)]
struct Leaf<'a> {
    attr: &'a Attribute,
    /// The column already holds the value lower-cased (Unicode), as `user_name` does.
    lowered: bool,
    /// The expression is JSON text (PostgreSQL's `->>`), not a typed SQL value.
    json_text: bool,
}

fn bad(detail: String) -> ScimError {
    ScimError::invalid_filter(detail)
}

/// Translate a validated filter into a `WHERE` fragment over `resources r`.
pub(crate) fn where_clause(filter: &Filter, rt: &ResourceType, kind: Kind, d: Dialect) -> Result<Frag, ScimError> {
    scim_core::filter::validate(filter, rt)?;
    Tr { rt, kind, d }.filter(filter)
}

/// The `WHERE` fragment matching every row.
pub(crate) fn match_all(d: Dialect) -> Frag {
    Frag::raw(d.true_lit())
}

/// Columns that never hold NULL: sorting by one needs no "missing" term, so
/// the ORDER BY can come straight from an index (`resources_modified` for
/// `sortBy=meta.lastModified`).
const NOT_NULL_COLUMNS: [&str; 5] = ["r.id", "r.kind", "r.created_at", "r.updated_at", "r.version"];

/// `ORDER BY` expression for `sortBy`; ties and unsorted lists fall back to
/// stored order (`r.seq`, ascending in both orders).
///
/// RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value if
/// any, else its first; "if there is no data for the specified sortBy value,
/// ... they are ordered last if ascending and first if descending". Missing
/// is NULL or an empty string (as `pr` has it). The missing term is written
/// out (`(e IS NULL) ASC|DESC`) because the dialects place NULLs differently.
pub(crate) fn order_by(
    sort_by: Option<&AttrPath>,
    descending: bool,
    rt: &ResourceType,
    kind: Kind,
    d: Dialect,
) -> Result<Frag, ScimError> {
    Ok(keyset(sort_by, descending, rt, kind, d)?.order(false))
}

/// A list's order as a keyset (RFC 9865 cursors page by it): the sort
/// expression, and from it the `ORDER BY` either way and the condition "after
/// this row". The order is the tuple (missing, value, seq): missing values
/// last ascending and first descending, ties in stored order (`seq`
/// ascending) both ways, exactly as [`order_by`] sorts an index page.
#[derive(Clone, Debug)]
pub(crate) struct Keyset {
    /// `None`: stored order alone.
    expr: Option<Frag>,
    /// The expression is never NULL (a NOT NULL column): no "missing" term,
    /// so the order and the seek can come straight from an index.
    not_null: bool,
    descending: bool,
    /// PostgreSQL `numeric`: read out as text, and compared as a cast back.
    numeric: bool,
}

pub(crate) fn keyset(
    sort_by: Option<&AttrPath>,
    descending: bool,
    rt: &ResourceType,
    kind: Kind,
    d: Dialect,
) -> Result<Keyset, ScimError> {
    let Some(path) = sort_by else { return Ok(Keyset { expr: None, not_null: true, descending, numeric: false }) };
    let resolved =
        resolve_path(rt, path, true).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?;
    if resolved.attr.returned == scim_core::schema::Returned::Never
        || resolved.sub.is_some_and(|s| s.returned == scim_core::schema::Returned::Never)
    {
        return Err(ScimError::invalid_value(format!(
            "sortBy: '{path}' is never returned, so lists cannot sort by it"
        )));
    }
    let tr = Tr { rt, kind, d };
    let sub_name = resolved.sub.map(|s| s.name.as_str());
    let (expr, leaf) = match (resolved.extension, resolved.attr.name.as_str(), sub_name) {
        // Not filterable, but sortable: the version is a column, and every
        // location is the same base followed by the id.
        (None, "meta", Some("version")) => {
            (Frag::raw("r.version"), Leaf { attr: &INTEGER, lowered: false, json_text: false })
        }
        (None, "meta", Some("location")) => {
            (Frag::raw("r.id"), Leaf { attr: &TEXT_EXACT, lowered: false, json_text: false })
        }
        _ => match tr.column(&resolved.attr.name, sub_name, resolved.extension)? {
            Some(c) => c,
            None => tr.sort_value(&resolved)?,
        },
    };
    let not_null = NOT_NULL_COLUMNS.contains(&expr.sql.as_str());
    let numeric = leaf.json_text && matches!(leaf.attr.kind, AttrType::Integer | AttrType::Decimal);
    let expr = if is_text(leaf.attr) && !leaf.attr.case_exact && !leaf.lowered {
        Frag::join("lower({})", vec![expr])
    } else if numeric {
        Frag::join("({})::numeric", vec![expr])
    } else {
        expr
    };
    let expr = match (is_text(leaf.attr), d) {
        // Code-point order on both (SQLite's BINARY), whatever the database's collation.
        (true, Dialect::Postgres) => Frag::join("NULLIF({}, '') COLLATE \"C\"", vec![expr]),
        (true, Dialect::Sqlite) => Frag::join("NULLIF({}, '')", vec![expr]),
        (false, _) => expr,
    };
    Ok(Keyset { expr: Some(expr), not_null, descending, numeric })
}

impl Keyset {
    /// `ORDER BY` of the list (`backward`: the exact reverse, to read the
    /// page before a row).
    pub(crate) fn order(&self, backward: bool) -> Frag {
        let seq = if backward { "r.seq DESC" } else { "r.seq" };
        let Some(expr) = &self.expr else { return Frag::raw(seq) };
        let dir = if self.descending != backward { "DESC" } else { "ASC" };
        if self.not_null {
            return Frag::join(&format!("{{}} {dir}, {seq}"), vec![expr.clone()]);
        }
        Frag::join(&format!("({{}}) IS NULL {dir}, {{}} {dir}, {seq}"), vec![expr.clone(), expr.clone()])
    }

    /// The sort value of a row, as a column to carry in a cursor.
    pub(crate) fn value(&self) -> Frag {
        match &self.expr {
            None => Frag::raw("NULL"),
            Some(e) if self.numeric => Frag::join("CAST({} AS TEXT)", vec![e.clone()]),
            Some(e) => e.clone(),
        }
    }

    /// Rows strictly after (`backward`: before) the row at (`value`, `seq`)
    /// in this order. Lexicographic on (missing, value, seq); a missing key
    /// compares by seq among the other missing ones.
    pub(crate) fn seek(&self, value: &SortValue, seq: i64, backward: bool) -> Frag {
        let seq_cmp = if backward { "r.seq < ?" } else { "r.seq > ?" };
        let Some(expr) = &self.expr else { return Frag::with(format!("({seq_cmp})"), vec![Bind::Int(seq)]) };
        // Which way the value (and "missing") goes in this walk.
        let up = self.descending == backward;
        let seq_frag = || Frag::with(seq_cmp, vec![Bind::Int(seq)]);
        let bound = match value {
            SortValue::Null => None,
            SortValue::Int(i) => Some(Frag::with("?", vec![Bind::Int(*i)])),
            SortValue::Real(f) => Some(Frag::with("?", vec![Bind::Real(*f)])),
            SortValue::Text(t) if self.numeric => Some(Frag::with("CAST(? AS NUMERIC)", vec![Bind::Text(t.clone())])),
            SortValue::Text(t) => Some(Frag::with("?", vec![Bind::Text(t.clone())])),
        };
        let (gt, ge) = if up { (">", ">=") } else { ("<", "<=") };
        match bound {
            Some(v) => {
                let past = Frag::join(
                    &format!("({{}} {gt} {{}} OR ({{}} = {{}} AND {{}}))"),
                    vec![expr.clone(), v.clone(), expr.clone(), v.clone(), seq_frag()],
                );
                if self.not_null {
                    // The range bound alone, so that an index on the value starts the scan there.
                    Frag::join(&format!("({{}} {ge} {{}} AND {{}})"), vec![expr.clone(), v, past])
                } else if up {
                    // Missing values come after every value.
                    Frag::join("(({}) IS NULL OR {})", vec![expr.clone(), past])
                } else {
                    past
                }
            }
            None if up => Frag::join("(({}) IS NULL AND {})", vec![expr.clone(), seq_frag()]),
            // Walking down from a missing value: the other missing ones after
            // it, then every present value.
            None => {
                Frag::join("((({}) IS NULL AND {}) OR ({}) IS NOT NULL)", vec![expr.clone(), seq_frag(), expr.clone()])
            }
        }
    }
}

use std::sync::LazyLock;
static TEXT_CI: LazyLock<Attribute> = LazyLock::new(|| Attribute::string("text"));
static TEXT_EXACT: LazyLock<Attribute> = LazyLock::new(|| Attribute::string("text").case_exact());
static BOOL: LazyLock<Attribute> = LazyLock::new(|| Attribute::new("bool", AttrType::Boolean));
static TIME: LazyLock<Attribute> = LazyLock::new(|| Attribute::new("time", AttrType::DateTime));
static INTEGER: LazyLock<Attribute> = LazyLock::new(|| Attribute::new("integer", AttrType::Integer));

fn is_text(attr: &Attribute) -> bool {
    matches!(attr.kind, AttrType::String | AttrType::Reference | AttrType::Binary)
}

struct Tr<'a> {
    rt: &'a ResourceType,
    kind: Kind,
    d: Dialect,
}

/// Where the values of a multi-valued attribute (or relation) live.
enum Rows {
    /// A JSON array in the document, as rows `e(value)`.
    Json(Frag),
    /// A group's member rows.
    Members,
    /// The groups a user is a member of.
    Groups,
}

impl Tr<'_> {
    fn exists(&self, rows: &Rows, cond: Frag) -> Frag {
        match rows {
            Rows::Json(elements) => Frag::join("EXISTS (SELECT 1 FROM {} WHERE {})", vec![elements.clone(), cond]),
            Rows::Members => Frag::join(
                "EXISTS (SELECT 1 FROM members m WHERE m.tenant_id = r.tenant_id AND m.group_id = r.id AND {})",
                vec![cond],
            ),
            Rows::Groups => Frag::join(
                "EXISTS (SELECT 1 FROM members m WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id AND {})",
                vec![cond],
            ),
        }
    }

    /// The SQL of one element's sub-attribute (or the element itself), and
    /// whether it is JSON text.
    fn element(&self, rows: &Rows, sub: Option<&Attribute>) -> Result<(Frag, bool), ScimError> {
        let name = sub.map(|s| s.name.as_str());
        let json_text = self.d.json_is_text();
        Ok(match (rows, name) {
            (Rows::Json(_), None) => (Frag::raw(self.d.element_itself()), json_text),
            (Rows::Json(_), Some(n)) => (self.d.json_value("e.value", &[n]), json_text),
            (Rows::Members, Some("value") | None) => (Frag::raw("m.member_id"), false),
            (Rows::Members, Some("type")) => (Frag::raw("m.member_type"), false),
            (Rows::Members, Some("display")) => (Frag::raw("m.display"), false),
            (Rows::Members, Some("$ref")) => (Frag::raw("m.ref"), false),
            (Rows::Groups, Some("value") | None) => (Frag::raw("m.group_id"), false),
            (Rows::Groups, Some("display")) => (
                Frag::raw(format!(
                    "(SELECT {} FROM resources g WHERE g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id)",
                    self.d.display_name_of("g")
                )),
                false,
            ),
            (Rows::Groups, Some("type")) => (Frag::raw("'direct'"), false),
            (_, Some(n)) => return Err(bad(format!("'{n}' cannot be used in a filter here"))),
        })
    }

    fn not(&self, inner: Frag) -> Frag {
        Frag::join(&format!("NOT COALESCE({{}}, {})", self.d.false_lit()), vec![inner])
    }

    fn filter(&self, f: &Filter) -> Result<Frag, ScimError> {
        match f {
            Filter::And(a, b) => Ok(Frag::join("({} AND {})", vec![self.filter(a)?, self.filter(b)?])),
            Filter::Or(a, b) => Ok(Frag::join("({} OR {})", vec![self.filter(a)?, self.filter(b)?])),
            Filter::Not(inner) => Ok(self.not(self.filter(inner)?)),
            Filter::Compare { path, op, value } => self.top_compare(path, *op, value, false),
            Filter::Present(path) => self.top_compare(path, CompareOp::Eq, &CompValue::Null, true),
            Filter::ValuePath { path, filter } => {
                let r = resolve_path(self.rt, path, false)?;
                let rows = self.rows(&r.attr.name, r.extension);
                let cond = self.element_filter(filter, r.attr, &rows)?;
                Ok(self.exists(&rows, cond))
            }
        }
    }

    fn element_filter(&self, f: &Filter, parent: &Attribute, rows: &Rows) -> Result<Frag, ScimError> {
        match f {
            Filter::And(a, b) => Ok(Frag::join(
                "({} AND {})",
                vec![self.element_filter(a, parent, rows)?, self.element_filter(b, parent, rows)?],
            )),
            Filter::Or(a, b) => Ok(Frag::join(
                "({} OR {})",
                vec![self.element_filter(a, parent, rows)?, self.element_filter(b, parent, rows)?],
            )),
            Filter::Not(inner) => Ok(self.not(self.element_filter(inner, parent, rows)?)),
            Filter::Compare { path, op, value } => {
                let sub = resolve_inner(parent, path)?;
                let (expr, json_text) = self.element(rows, Some(sub))?;
                self.compare(expr, Leaf { attr: sub, lowered: false, json_text }, *op, value)
            }
            Filter::Present(path) => {
                let sub = resolve_inner(parent, path)?;
                Ok(present(self.element(rows, Some(sub))?.0))
            }
            Filter::ValuePath { .. } => Err(bad("value filters cannot be nested".into())),
        }
    }

    fn rows(&self, name: &str, ext: Option<&str>) -> Rows {
        match (self.kind, ext, name) {
            (Kind::Group, None, "members") => Rows::Members,
            (Kind::User, None, "groups") => Rows::Groups,
            _ => {
                let mut keys: Vec<&str> = ext.into_iter().collect();
                keys.push(name);
                Rows::Json(self.d.json_elements(&keys))
            }
        }
    }

    /// What `sortBy` sorts by when no column holds the attribute: a value of
    /// the document, or of a membership row (a group's members, a user's
    /// groups: the first in stored order, as they are shown).
    fn sort_value<'r>(&self, r: &scim_core::filter::eval::ResolvedPath<'r>) -> Result<(Frag, Leaf<'r>), ScimError> {
        let name = r.attr.name.as_str();
        let json_text = self.d.json_is_text();
        if r.extension.is_none() && matches!((self.kind, name), (Kind::Group, "members") | (Kind::User, "groups")) {
            let rows = self.rows(name, None);
            let (elem, json_text) = self.element(&rows, r.sub)?;
            let of = if self.kind == Kind::Group { "m.group_id" } else { "m.member_id" };
            let expr = Frag::join(
                &format!(
                    "(SELECT {{}} FROM members m WHERE m.tenant_id = r.tenant_id AND {of} = r.id ORDER BY m.seq LIMIT 1)"
                ),
                vec![elem],
            );
            return Ok((expr, Leaf { attr: r.sub.unwrap_or(r.attr), lowered: false, json_text }));
        }
        let mut keys: Vec<&str> = r.extension.into_iter().collect();
        keys.push(name);
        let expr = match r.sub {
            Some(sub) if r.attr.multi_valued => self.d.primary_or_first(&keys, &sub.name),
            _ => {
                if r.attr.multi_valued {
                    keys.push("0"); // simple values have no primary: the first
                }
                if let Some(sub) = r.sub {
                    keys.push(&sub.name);
                }
                self.d.json_value("r.doc", &keys)
            }
        };
        Ok((expr, Leaf { attr: r.sub.unwrap_or(r.attr), lowered: false, json_text }))
    }

    /// The indexed column holding an attribute, if there is one.
    fn column(
        &self,
        name: &str,
        sub: Option<&str>,
        ext: Option<&str>,
    ) -> Result<Option<(Frag, Leaf<'static>)>, ScimError> {
        if ext.is_some() {
            return Ok(None);
        }
        let col = |sql: &str, attr: &'static Attribute, lowered: bool| {
            Some((Frag::raw(sql), Leaf { attr, lowered, json_text: false }))
        };
        Ok(match (name, sub) {
            ("id", None) => col("r.id", &TEXT_EXACT, false),
            ("externalId", None) => col("r.external_id", &TEXT_EXACT, false),
            ("userName", None) if self.kind == Kind::User => col("r.user_name", &TEXT_CI, true),
            ("displayName", None) => col("r.display_name", &TEXT_CI, true),
            ("active", None) if self.kind == Kind::User => col("r.active", &BOOL, false),
            ("meta", Some("created")) => col("r.created_at", &TIME, false),
            ("meta", Some("lastModified")) => col("r.updated_at", &TIME, false),
            ("meta", Some("resourceType")) => col("r.kind", &TEXT_CI, false),
            ("meta", Some(other)) => return Err(bad(format!("meta.{other} cannot be used in a filter"))),
            _ => None,
        })
    }

    fn top_compare(
        &self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        is_present: bool,
    ) -> Result<Frag, ScimError> {
        let r = resolve_path(self.rt, path, !is_present)?;
        let name = r.attr.name.as_str();
        if r.attr.returned == scim_core::schema::Returned::Never {
            return Err(bad(format!("'{name}' cannot be used in a filter")));
        }
        if name == "schemas" && r.extension.is_none() {
            return self.schemas(op, value, is_present);
        }
        if name == "meta" && r.extension.is_none() && is_present && r.sub.is_none() {
            return Ok(Frag::raw(self.d.true_lit()));
        }
        if let Some((expr, leaf)) = self.column(name, r.sub.map(|s| s.name.as_str()), r.extension)? {
            return if is_present { Ok(present(expr)) } else { self.compare(expr, leaf, op, value) };
        }
        if r.attr.multi_valued || matches!((self.kind, name), (Kind::Group, "members") | (Kind::User, "groups")) {
            let rows = self.rows(name, r.extension);
            if is_present {
                let cond = match r.sub {
                    Some(sub) => present(self.element(&rows, Some(sub))?.0),
                    None => Frag::raw(self.d.true_lit()),
                };
                return Ok(self.exists(&rows, cond));
            }
            let (elem, json_text) = self.element(&rows, r.sub)?;
            let leaf = Leaf { attr: r.leaf(), lowered: false, json_text };
            // `ne` and `eq null` are about the whole attribute: not (any value equal).
            return Ok(match (op, value) {
                (_, CompValue::Null) => {
                    let any = self.exists(&rows, Frag::raw(self.d.true_lit()));
                    if op == CompareOp::Eq { Frag::join("NOT {}", vec![any]) } else { any }
                }
                (CompareOp::Ne, _) => {
                    let eq = self.compare(elem, leaf, CompareOp::Eq, value)?;
                    Frag::join("NOT {}", vec![self.exists(&rows, eq)])
                }
                _ => {
                    let cond = self.compare(elem, leaf, op, value)?;
                    self.exists(&rows, cond)
                }
            });
        }
        let mut keys: Vec<&str> = r.extension.into_iter().collect();
        keys.push(name);
        if let Some(sub) = r.sub {
            keys.push(&sub.name);
        }
        let expr = self.d.json_value("r.doc", &keys);
        if is_present {
            return Ok(present(expr));
        }
        self.compare(expr, Leaf { attr: r.leaf(), lowered: false, json_text: self.d.json_is_text() }, op, value)
    }

    fn schemas(&self, op: CompareOp, value: &CompValue, is_present: bool) -> Result<Frag, ScimError> {
        if is_present {
            return Ok(Frag::raw(self.d.true_lit()));
        }
        let CompValue::Str(urn) = value else {
            return Err(bad("compare 'schemas' with a schema URN".into()));
        };
        let has = if self.rt.is_core_urn(urn) {
            Frag::raw(self.d.true_lit())
        } else if let Some(ext) = self.rt.extension(urn) {
            self.d.has_key(&ext.id)
        } else {
            Frag::raw(self.d.false_lit())
        };
        match op {
            CompareOp::Eq => Ok(has),
            CompareOp::Ne => Ok(Frag::join("NOT {}", vec![has])),
            _ => Err(bad("'schemas' supports only eq, ne and pr".into())),
        }
    }

    /// `expr op value`, typed by the leaf attribute.
    fn compare(&self, expr: Frag, leaf: Leaf<'_>, op: CompareOp, value: &CompValue) -> Result<Frag, ScimError> {
        let attr = leaf.attr;
        if let CompValue::Null = value {
            return Ok(match op {
                CompareOp::Eq => Frag::join("({} IS NULL)", vec![expr]),
                _ => Frag::join("({} IS NOT NULL)", vec![expr]),
            });
        }
        if op == CompareOp::Ne {
            let eq = self.compare(expr, leaf, CompareOp::Eq, value)?;
            return Ok(self.not(eq));
        }
        let mut op = op;
        let (lhs, bind) = match (attr.kind, value) {
            // JSON text holds booleans as 'true' / 'false'.
            (AttrType::Boolean, CompValue::Bool(b)) if leaf.json_text => (expr, Bind::Text(b.to_string())),
            (AttrType::Boolean, CompValue::Bool(b)) => (expr, Bind::Int(i64::from(*b))),
            (AttrType::Integer | AttrType::Decimal, CompValue::Num(n)) => {
                let b = match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => Bind::Int(i),
                    (None, Some(f)) => Bind::Real(f),
                    _ => return Err(bad(format!("{n} is out of range"))),
                };
                let lhs = if leaf.json_text { Frag::join("({})::numeric", vec![expr]) } else { expr };
                (lhs, b)
            }
            (AttrType::DateTime, CompValue::Str(s)) => {
                let t = datetime::parse(s).ok_or_else(|| bad(format!("'{s}' is not an xsd:dateTime")))?;
                // The columns hold whole milliseconds: a finer time lies strictly
                // between two stored ones, after the one it is cut down to.
                if t.nanos % 1_000_000 != 0 && matches!(expr.sql.as_str(), "r.created_at" | "r.updated_at") {
                    op = match op {
                        CompareOp::Gt | CompareOp::Ge => CompareOp::Gt,
                        CompareOp::Lt | CompareOp::Le => CompareOp::Le,
                        CompareOp::Eq => return Ok(Frag::raw(self.d.false_lit())),
                        other => other,
                    };
                }
                (expr, Bind::Text(datetime::format_millis(t.secs, t.nanos)))
            }
            (_, CompValue::Str(s)) if attr.case_exact => (expr, Bind::Text(s.clone())),
            (_, CompValue::Str(s)) if leaf.lowered => (expr, Bind::Text(s.to_lowercase())),
            // SQLite's lower() folds ASCII only; fold the value the same way there.
            (_, CompValue::Str(s)) => {
                let folded = match self.d {
                    Dialect::Sqlite => s.to_ascii_lowercase(),
                    Dialect::Postgres => s.to_lowercase(),
                };
                (Frag::join("lower({})", vec![expr]), Bind::Text(folded))
            }
            _ => return Err(bad(format!("'{}' cannot be compared with {value}", attr.name))),
        };
        let sql_op = match op {
            CompareOp::Eq => "=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Ne => "<>", // rewritten as `not eq` above
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                if matches!(&bind, Bind::Text(t) if t.is_empty()) {
                    return Ok(Frag::join("({} IS NOT NULL)", vec![lhs]));
                }
                let (position, suffix) = match self.d {
                    Dialect::Sqlite => ("instr({}, ?)", "(substr({}, -length(?)) = ?)"),
                    Dialect::Postgres => ("strpos({}, ?)", "(right({}, length(?)) = ?)"),
                };
                let binds = |n: usize| [lhs.binds.clone(), vec![bind.clone(); n]].concat();
                return Ok(match op {
                    CompareOp::Co => Frag::with(format!("({} > 0)", position.replace("{}", &lhs.sql)), binds(1)),
                    CompareOp::Sw => Frag::with(format!("({} = 1)", position.replace("{}", &lhs.sql)), binds(1)),
                    _ => Frag::with(suffix.replace("{}", &lhs.sql), binds(2)),
                });
            }
        };
        let cmp = Frag { sql: format!("({} {sql_op} ?)", lhs.sql), binds: [lhs.binds, vec![bind]].concat() };
        // A range on a time column is usually a poll for what changed lately,
        // a small share of the tenant. SQLite plans without the bound value
        // and guessed a quarter: it walked the whole tenant in seq order (to
        // skip the sort) reading each row's time. Its hint makes it read the
        // time index instead; PostgreSQL plans with the value and needs none.
        let time_range = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
            && matches!(attr.kind, AttrType::DateTime)
            && matches!(
                cmp.sql.as_str(),
                "(r.created_at > ?)"
                    | "(r.created_at >= ?)"
                    | "(r.created_at < ?)"
                    | "(r.created_at <= ?)"
                    | "(r.updated_at > ?)"
                    | "(r.updated_at >= ?)"
                    | "(r.updated_at < ?)"
                    | "(r.updated_at <= ?)"
            );
        Ok(match self.d {
            Dialect::Sqlite if time_range => Frag::join("likelihood({}, 0.01)", vec![cmp]),
            _ => cmp,
        })
    }
}

/// A value is present when it is neither null nor empty (RFC 7644 §3.4.2.2, `pr`).
fn present(expr: Frag) -> Frag {
    Frag { sql: format!("(COALESCE(CAST({} AS TEXT), '') NOT IN ('', '{{}}', '[]'))", expr.sql), binds: expr.binds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(crate::store::exec::postgres::numbered("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn sorting_by_a_column_that_is_never_null_is_the_index_order() {
        let rt = ResourceType::user();
        let path = AttrPath::with_sub("meta", "lastModified");
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let asc = order_by(Some(&path), false, &rt, Kind::User, d).unwrap();
            assert_eq!(asc.sql, "r.updated_at ASC, r.seq");
            let title = order_by(Some(&AttrPath::parse("title").unwrap()), true, &rt, Kind::User, d).unwrap();
            assert!(title.sql.contains("IS NULL DESC") && title.sql.ends_with("r.seq"), "{}", title.sql);
            assert_eq!(title.sql.matches('?').count(), title.binds.len(), "{}", title.sql);
            let emails = order_by(Some(&AttrPath::parse("emails").unwrap()), false, &rt, Kind::User, d).unwrap();
            assert!(emails.sql.contains("primary"), "{}", emails.sql);
            assert_eq!(emails.sql.matches('?').count(), emails.binds.len(), "{}", emails.sql);
        }
    }

    #[test]
    fn a_time_finer_than_milliseconds_compares_exactly() {
        let rt = ResourceType::user();
        let sql = |f: &str| {
            let f = scim_core::parse_filter(f).unwrap();
            let frag = where_clause(&f, &rt, Kind::User, Dialect::Postgres).unwrap();
            (frag.sql, frag.binds)
        };
        let f = scim_core::parse_filter(r#"meta.lastModified gt "2026-01-01T00:00:10Z""#).unwrap();
        let on_sqlite = where_clause(&f, &rt, Kind::User, Dialect::Sqlite).unwrap().sql;
        assert_eq!(on_sqlite, "likelihood((r.updated_at > ?), 0.01)");
        let at = || vec![Bind::Text("2026-01-01T00:00:10.012Z".into())];
        assert_eq!(sql(r#"meta.lastModified ge "2026-01-01T00:00:10.0125Z""#), ("(r.updated_at > ?)".into(), at()));
        assert_eq!(sql(r#"meta.lastModified lt "2026-01-01T00:00:10.0125Z""#), ("(r.updated_at <= ?)".into(), at()));
        assert_eq!(
            sql(r#"meta.lastModified ge "2026-01-01T01:00:10.012+01:00""#),
            ("(r.updated_at >= ?)".into(), at())
        );
        assert_eq!(sql(r#"meta.lastModified eq "2026-01-01T00:00:10.0125Z""#).0, "FALSE");
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let rt = ResourceType::user();
        let f = scim_core::parse_filter(r#"userName eq "x' OR 1=1 --" or title co "%_""#).unwrap();
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let frag = where_clause(&f, &rt, Kind::User, d).unwrap();
            assert!(!frag.sql.contains("OR 1=1") && !frag.sql.contains("%_"), "{}", frag.sql);
            assert_eq!(frag.sql.matches('?').count(), frag.binds.len(), "{}", frag.sql);
        }
    }
}
