//! Filter and sort translation to SQL: a validated SCIM filter becomes a
//! `WHERE` fragment whose values are all bind parameters (never spliced into
//! the text). Indexed attributes use their columns; others the database's JSON
//! functions; `members` and a user's `groups` use the membership table.
//!
//! Fragments use `?` placeholders; a dialect that numbers its placeholders
//! renumbers them when the query is assembled ([`Dialect::placeholders`]).
//! The in-memory evaluator in scim-core is the reference this is tested against.

use super::Kind;
use scim_core::datetime;
use scim_core::filter::eval::{resolve_inner, resolve_path};
use scim_core::schema::{AttrType, Attribute, ResourceType};
use scim_core::{AttrPath, CompValue, CompareOp, Filter, ScimError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
}

impl Dialect {
    /// Rewrite `?` placeholders into the dialect's form.
    pub fn placeholders(self, sql: String) -> String {
        match self {
            Dialect::Sqlite => sql,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

/// A piece of SQL and the values of its placeholders, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frag {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Frag {
    fn raw(sql: impl Into<String>) -> Frag {
        Frag {
            sql: sql.into(),
            binds: Vec::new(),
        }
    }
    fn with(sql: impl Into<String>, binds: Vec<Bind>) -> Frag {
        Frag {
            sql: sql.into(),
            binds,
        }
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
}

fn bad(detail: String) -> ScimError {
    ScimError::invalid_filter(detail)
}

/// Translate a validated filter into a `WHERE` fragment over `resources r`.
pub fn where_clause(filter: &Filter, rt: &ResourceType, kind: Kind) -> Result<Frag, ScimError> {
    scim_core::filter::validate(filter, rt)?;
    Tr { rt, kind }.filter(filter)
}

/// `ORDER BY` expression for `sortBy`; ties and unsorted lists fall back to creation order.
pub fn order_by(
    sort_by: Option<&AttrPath>,
    descending: bool,
    rt: &ResourceType,
    kind: Kind,
) -> Result<Frag, ScimError> {
    let Some(path) = sort_by else {
        return Ok(Frag::raw("r.seq"));
    };
    let resolved = resolve_path(rt, path, true)
        .map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?;
    let tr = Tr { rt, kind };
    let (expr, leaf) = match tr.column(
        &resolved.attr.name,
        resolved.sub.map(|s| s.name.as_str()),
        resolved.extension,
    )? {
        Some(c) => c,
        None => {
            let mut keys: Vec<String> = resolved
                .extension
                .map(|e| vec![e.to_string()])
                .unwrap_or_default();
            keys.push(resolved.attr.name.clone());
            let mut path = json_path(&keys.iter().map(String::as_str).collect::<Vec<_>>());
            if resolved.attr.multi_valued {
                path.push_str("[0]"); // a multi-valued attribute sorts by its first value
            }
            if let Some(sub) = resolved.sub {
                path.push_str(&json_path(&[&sub.name])[1..]);
            }
            (
                Frag::with("json_extract(r.doc, ?)", vec![Bind::Text(path)]),
                Leaf {
                    attr: resolved.leaf(),
                    lowered: false,
                },
            )
        }
    };
    let expr = if is_text(leaf.attr) && !leaf.attr.case_exact && !leaf.lowered {
        Frag::join("lower({})", vec![expr])
    } else {
        expr
    };
    let dir = if descending { "DESC" } else { "ASC" };
    let e2 = expr.clone();
    Ok(Frag::join(
        &format!("({{}}) IS NULL, {{}} {dir}, r.seq"),
        vec![expr, e2],
    ))
}

fn is_text(attr: &Attribute) -> bool {
    matches!(
        attr.kind,
        AttrType::String | AttrType::Reference | AttrType::Binary
    )
}

struct Tr<'a> {
    rt: &'a ResourceType,
    kind: Kind,
}

/// Where the values of a multi-valued attribute (or relation) live.
enum Rows {
    /// A JSON array in the document: `json_each(r.doc, path)`, element `e.value`.
    Json(Frag),
    /// A group's member rows.
    Members,
    /// The groups a user is a member of.
    Groups,
}

impl Rows {
    fn exists(&self, cond: Frag) -> Frag {
        match self {
            Rows::Json(path) => Frag::join(
                "EXISTS (SELECT 1 FROM json_each(r.doc, {}) e WHERE {})",
                vec![path.clone(), cond],
            ),
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

    /// The SQL of one element's sub-attribute (or the element itself).
    fn element(&self, sub: Option<&Attribute>) -> Result<Frag, ScimError> {
        let name = sub.map(|s| s.name.as_str());
        Ok(match (self, name) {
            (Rows::Json(_), None) => Frag::raw("e.value"),
            (Rows::Json(_), Some(n)) => Frag::with(
                "json_extract(e.value, ?)",
                vec![Bind::Text(json_path(&[n]))],
            ),
            (Rows::Members, Some("value") | None) => Frag::raw("m.member_id"),
            (Rows::Members, Some("type")) => Frag::raw("m.member_type"),
            (Rows::Members, Some("display")) => Frag::raw("m.display"),
            (Rows::Members, Some("$ref")) => Frag::raw("m.ref"),
            (Rows::Groups, Some("value") | None) => Frag::raw("m.group_id"),
            (Rows::Groups, Some("display")) => Frag::raw(
                "(SELECT json_extract(g.doc, '$.displayName') FROM resources g \
                 WHERE g.tenant_id = m.tenant_id AND g.kind = 'Group' AND g.id = m.group_id)",
            ),
            (Rows::Groups, Some("type")) => Frag::raw("'direct'"),
            (_, Some(n)) => return Err(bad(format!("'{n}' cannot be used in a filter here"))),
        })
    }
}

impl Tr<'_> {
    fn filter(&self, f: &Filter) -> Result<Frag, ScimError> {
        match f {
            Filter::And(a, b) => Ok(Frag::join(
                "({} AND {})",
                vec![self.filter(a)?, self.filter(b)?],
            )),
            Filter::Or(a, b) => Ok(Frag::join(
                "({} OR {})",
                vec![self.filter(a)?, self.filter(b)?],
            )),
            Filter::Not(inner) => Ok(Frag::join("NOT COALESCE({}, 0)", vec![self.filter(inner)?])),
            Filter::Compare { path, op, value } => self.top_compare(path, *op, value, false),
            Filter::Present(path) => self.top_compare(path, CompareOp::Eq, &CompValue::Null, true),
            Filter::ValuePath { path, filter } => {
                let r = resolve_path(self.rt, path, false)?;
                let rows = self.rows(&r.attr.name, r.extension)?;
                let cond = self.element_filter(filter, r.attr, &rows)?;
                Ok(rows.exists(cond))
            }
        }
    }

    fn element_filter(
        &self,
        f: &Filter,
        parent: &Attribute,
        rows: &Rows,
    ) -> Result<Frag, ScimError> {
        match f {
            Filter::And(a, b) => Ok(Frag::join(
                "({} AND {})",
                vec![
                    self.element_filter(a, parent, rows)?,
                    self.element_filter(b, parent, rows)?,
                ],
            )),
            Filter::Or(a, b) => Ok(Frag::join(
                "({} OR {})",
                vec![
                    self.element_filter(a, parent, rows)?,
                    self.element_filter(b, parent, rows)?,
                ],
            )),
            Filter::Not(inner) => Ok(Frag::join(
                "NOT COALESCE({}, 0)",
                vec![self.element_filter(inner, parent, rows)?],
            )),
            Filter::Compare { path, op, value } => {
                let sub = resolve_inner(parent, path)?;
                let expr = rows.element(Some(sub))?;
                compare(
                    expr,
                    Leaf {
                        attr: sub,
                        lowered: false,
                    },
                    *op,
                    value,
                )
            }
            Filter::Present(path) => {
                let sub = resolve_inner(parent, path)?;
                Ok(present(rows.element(Some(sub))?))
            }
            Filter::ValuePath { .. } => Err(bad("value filters cannot be nested".into())),
        }
    }

    fn rows(&self, name: &str, ext: Option<&str>) -> Result<Rows, ScimError> {
        Ok(match (self.kind, ext, name) {
            (Kind::Group, None, "members") => Rows::Members,
            (Kind::User, None, "groups") => Rows::Groups,
            _ => {
                let mut keys = ext.map(|e| vec![e]).unwrap_or_default();
                keys.push(name);
                Rows::Json(Frag::with("?", vec![Bind::Text(json_path(&keys))]))
            }
        })
    }

    /// The indexed column holding an attribute, if there is one.
    fn column(
        &self,
        name: &str,
        sub: Option<&str>,
        ext: Option<&str>,
    ) -> Result<Option<(Frag, Leaf<'static>)>, ScimError> {
        use std::sync::LazyLock;
        static TEXT_CI: LazyLock<Attribute> = LazyLock::new(|| Attribute::string("text"));
        static TEXT_EXACT: LazyLock<Attribute> =
            LazyLock::new(|| Attribute::string("text").case_exact());
        static BOOL: LazyLock<Attribute> =
            LazyLock::new(|| Attribute::new("bool", AttrType::Boolean));
        static TIME: LazyLock<Attribute> =
            LazyLock::new(|| Attribute::new("time", AttrType::DateTime));
        if ext.is_some() {
            return Ok(None);
        }
        let lowered = |col: &str| {
            Some((
                Frag::raw(col),
                Leaf {
                    attr: &TEXT_CI,
                    lowered: true,
                },
            ))
        };
        Ok(match (name, sub) {
            ("id", None) => Some((
                Frag::raw("r.id"),
                Leaf {
                    attr: &TEXT_EXACT,
                    lowered: false,
                },
            )),
            ("externalId", None) => Some((
                Frag::raw("r.external_id"),
                Leaf {
                    attr: &TEXT_EXACT,
                    lowered: false,
                },
            )),
            ("userName", None) if self.kind == Kind::User => lowered("r.user_name"),
            ("displayName", None) => lowered("r.display_name"),
            ("active", None) if self.kind == Kind::User => Some((
                Frag::raw("r.active"),
                Leaf {
                    attr: &BOOL,
                    lowered: false,
                },
            )),
            ("meta", Some("created")) => Some((
                Frag::raw("r.created_at"),
                Leaf {
                    attr: &TIME,
                    lowered: false,
                },
            )),
            ("meta", Some("lastModified")) => Some((
                Frag::raw("r.updated_at"),
                Leaf {
                    attr: &TIME,
                    lowered: false,
                },
            )),
            ("meta", Some("resourceType")) => Some((
                Frag::raw("r.kind"),
                Leaf {
                    attr: &TEXT_CI,
                    lowered: false,
                },
            )),
            ("meta", Some(other)) => {
                return Err(bad(format!("meta.{other} cannot be used in a filter")));
            }
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
            return Ok(Frag::raw("1"));
        }
        if let Some((expr, leaf)) =
            self.column(name, r.sub.map(|s| s.name.as_str()), r.extension)?
        {
            return if is_present {
                Ok(present(expr))
            } else {
                compare(expr, leaf, op, value)
            };
        }
        if r.attr.multi_valued
            || matches!(
                (self.kind, name),
                (Kind::Group, "members") | (Kind::User, "groups")
            )
        {
            let rows = self.rows(name, r.extension)?;
            if is_present {
                let cond = match r.sub {
                    Some(sub) => present(rows.element(Some(sub))?),
                    None => Frag::raw("1"),
                };
                return Ok(rows.exists(cond));
            }
            let leaf = Leaf {
                attr: r.leaf(),
                lowered: false,
            };
            let elem = rows.element(r.sub)?;
            // ne and eq null are about the whole attribute: not (any value equal).
            return Ok(match (op, value) {
                (_, CompValue::Null) | (CompareOp::Ne, _) => {
                    let eq = rows.exists(compare(elem, leaf, CompareOp::Eq, value)?);
                    if matches!(value, CompValue::Null) {
                        // eq null: no value present; ne null: some value present.
                        let any = rows.exists(Frag::raw("1"));
                        if op == CompareOp::Eq {
                            Frag::join("NOT {}", vec![any])
                        } else {
                            any
                        }
                    } else {
                        Frag::join("NOT {}", vec![eq])
                    }
                }
                _ => rows.exists(compare(elem, leaf, op, value)?),
            });
        }
        let mut keys: Vec<&str> = r.extension.map(|e| vec![e]).unwrap_or_default();
        keys.push(name);
        if let Some(sub) = r.sub {
            keys.push(&sub.name);
        }
        let expr = Frag::with("json_extract(r.doc, ?)", vec![Bind::Text(json_path(&keys))]);
        if is_present {
            return Ok(present(expr));
        }
        compare(
            expr,
            Leaf {
                attr: r.leaf(),
                lowered: false,
            },
            op,
            value,
        )
    }

    fn schemas(
        &self,
        op: CompareOp,
        value: &CompValue,
        is_present: bool,
    ) -> Result<Frag, ScimError> {
        if is_present {
            return Ok(Frag::raw("1"));
        }
        let CompValue::Str(urn) = value else {
            return Err(bad("compare 'schemas' with a schema URN".into()));
        };
        let has = if self.rt.is_core_urn(urn) {
            Frag::raw("1")
        } else if let Some(ext) = self.rt.extension(urn) {
            Frag::with(
                "(json_type(r.doc, ?) IS NOT NULL)",
                vec![Bind::Text(json_path(&[&ext.id]))],
            )
        } else {
            Frag::raw("0")
        };
        match op {
            CompareOp::Eq => Ok(has),
            CompareOp::Ne => Ok(Frag::join("NOT {}", vec![has])),
            _ => Err(bad("'schemas' supports only eq, ne and pr".into())),
        }
    }
}

/// A value is present when it is neither null nor empty (RFC 7644 §3.4.2.2, `pr`).
fn present(expr: Frag) -> Frag {
    Frag {
        sql: format!(
            "(COALESCE(CAST({} AS TEXT), '') NOT IN ('', '{{}}', '[]'))",
            expr.sql
        ),
        binds: expr.binds,
    }
}

/// `expr op value`, typed by the leaf attribute.
fn compare(
    expr: Frag,
    leaf: Leaf<'_>,
    op: CompareOp,
    value: &CompValue,
) -> Result<Frag, ScimError> {
    let attr = leaf.attr;
    if let CompValue::Null = value {
        return Ok(match op {
            CompareOp::Eq => Frag::join("({} IS NULL)", vec![expr]),
            _ => Frag::join("({} IS NOT NULL)", vec![expr]),
        });
    }
    if op == CompareOp::Ne {
        let eq = compare(expr, leaf, CompareOp::Eq, value)?;
        return Ok(Frag::join("NOT COALESCE({}, 0)", vec![eq]));
    }
    let (lhs, bind) = match (attr.kind, value) {
        (AttrType::Boolean, CompValue::Bool(b)) => (expr, Bind::Int(i64::from(*b))),
        (AttrType::Integer | AttrType::Decimal, CompValue::Num(n)) => {
            let b = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Bind::Int(i),
                (None, Some(f)) => Bind::Real(f),
                _ => return Err(bad(format!("{n} is out of range"))),
            };
            (expr, b)
        }
        (AttrType::DateTime, CompValue::Str(s)) => {
            let t =
                datetime::parse(s).ok_or_else(|| bad(format!("'{s}' is not an xsd:dateTime")))?;
            (expr, Bind::Text(datetime::format_millis(t.secs, t.nanos)))
        }
        (_, CompValue::Str(s)) if attr.case_exact => (expr, Bind::Text(s.clone())),
        (_, CompValue::Str(s)) if leaf.lowered => (expr, Bind::Text(s.to_lowercase())),
        // SQLite's lower() folds ASCII only; fold the value the same way.
        (_, CompValue::Str(s)) => (
            Frag::join("lower({})", vec![expr]),
            Bind::Text(s.to_ascii_lowercase()),
        ),
        _ => {
            return Err(bad(format!(
                "'{}' cannot be compared with {value}",
                attr.name
            )));
        }
    };
    let sql_op = match op {
        CompareOp::Eq => "=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            if matches!(&bind, Bind::Text(t) if t.is_empty()) {
                return Ok(Frag::join("({} IS NOT NULL)", vec![lhs]));
            }
            return Ok(match op {
                CompareOp::Co => Frag {
                    sql: format!("(instr({}, ?) > 0)", lhs.sql),
                    binds: [lhs.binds, vec![bind]].concat(),
                },
                CompareOp::Sw => Frag {
                    sql: format!("(instr({}, ?) = 1)", lhs.sql),
                    binds: [lhs.binds, vec![bind]].concat(),
                },
                _ => Frag {
                    sql: format!("(substr({}, -length(?)) = ?)", lhs.sql),
                    binds: [lhs.binds, vec![bind.clone(), bind]].concat(),
                },
            });
        }
        CompareOp::Ne => "<>", // rewritten as `not eq` above; kept for completeness
    };
    Ok(Frag {
        sql: format!("({} {sql_op} ?)", lhs.sql),
        binds: [lhs.binds, vec![bind]].concat(),
    })
}
