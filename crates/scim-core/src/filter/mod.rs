//! SCIM filters (RFC 7644 §3.4.2.2): the AST, a parser with length and depth
//! limits, a `Display` that renders a filter back to text, validation against a
//! resource type, and the in-memory evaluator that is the reference for every
//! SQL translation.

pub mod eval;
pub mod parser;

use crate::path::AttrPath;
use std::fmt;

pub use eval::{matches, validate};
pub use parser::{MAX_FILTER_DEPTH, MAX_FILTER_LEN, parse_filter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// `compValue = false / null / true / number / string` (RFC 7644 §3.4.2.2).
#[derive(Clone, Debug, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Str(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: the inner filter's paths are sub-attributes of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    pub fn eq(path: AttrPath, value: CompValue) -> Filter {
        Filter::Compare { path, op: CompareOp::Eq, value }
    }
    pub fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }
    pub fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parentheses only where precedence (not > and > or, left-associative)
        // needs them, so that parse(display(f)) == f.
        fn operand(f: &mut fmt::Formatter<'_>, child: &Filter, paren: bool) -> fmt::Result {
            if paren { write!(f, "({child})") } else { write!(f, "{child}") }
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(l, r) => {
                operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                operand(f, l, false)?;
                f.write_str(" or ")?;
                operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}
