//! A recursive-descent parser for the filter grammar of RFC 7644 §3.4.2.2 and
//! the PATCH path grammar of §3.5.2. Depth is bounded so a hostile filter
//! cannot exhaust the stack; every error says where the problem is. A NUL
//! character, which no stored value can hold, is `invalidValue` wherever it
//! appears, as in resources and PATCH.

use super::{CompValue, CompareOp, Filter};
use crate::error::{Result, ScimError};
use crate::path::{AttrPath, PatchPath, is_attr_name, split_attr_path};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 64;

pub fn parse_filter(text: &str) -> Result<Filter> {
    if text.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
            text.len()
        )));
    }
    refuse_nul(text, "the filter")?;
    let mut p = Parser::new(text, ScimError::invalid_filter);
    p.skip_ws();
    if p.at_end() {
        return Err(ScimError::invalid_filter("the filter is empty"));
    }
    let f = p.or_expr(false)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err_here("expected 'and', 'or' or the end of the filter"));
    }
    Ok(f)
}

pub(crate) fn parse_attr_path_only(text: &str) -> Result<AttrPath> {
    refuse_nul(text, "the attribute path")?;
    let t = text.trim();
    split_attr_path(t).ok_or_else(|| ScimError::invalid_path(format!("'{t}' is not a valid attribute path")))
}

pub(crate) fn parse_patch_path(text: &str) -> Result<PatchPath> {
    if text.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path("the path is too long"));
    }
    refuse_nul(text, "the PATCH path")?;
    let mut p = Parser::new(text, ScimError::invalid_path);
    p.skip_ws();
    let attr = p.attr_path()?;
    let mut path = PatchPath { attr, filter: None, sub_after_filter: None };
    if p.peek() == Some('[') {
        if path.attr.sub.is_some() {
            return Err(p.err_here("a value filter must follow an attribute, not a sub-attribute"));
        }
        p.pos += 1;
        p.depth += 1;
        let inner = p.or_expr(true)?;
        p.skip_ws();
        p.expect(']')?;
        path.filter = Some(inner);
        if p.peek() == Some('.') {
            p.pos += 1;
            let name = p.name_token();
            if !is_attr_name(name) {
                return Err(p.err_here("expected a sub-attribute name after ']. '"));
            }
            path.sub_after_filter = Some(name.to_string());
        }
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err_here("unexpected text after the path"));
    }
    Ok(path)
}

/// A NUL character in raw text is refused as in any stored value (invalidValue).
pub(crate) fn refuse_nul(text: &str, what: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(ScimError::invalid_value(crate::limits::nul_detail(what)));
    }
    Ok(())
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    make_err: fn(String) -> ScimError,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$' | '.' | ':')
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, make_err: fn(String) -> ScimError) -> Self {
        Parser { src, pos: 0, depth: 0, make_err }
    }
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        self.pos > start
    }
    fn err_here(&self, what: &str) -> ScimError {
        let found: String = self.rest().chars().take(20).collect();
        let found = if found.is_empty() { "the end".to_string() } else { format!("'{found}'") };
        (self.make_err)(format!("{what} at position {} (found {found}) in '{}'", self.pos + 1, self.src))
    }
    fn expect(&mut self, c: char) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err_here(&format!("expected '{c}'")))
        }
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err((self.make_err)(format!("the filter nests deeper than {MAX_FILTER_DEPTH} levels")));
        }
        Ok(())
    }
    /// A keyword (`and`, `or`, `not`) in any case, followed by a non-name character.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
        {
            let after = rest[word.len()..].chars().next();
            if after.is_none_or(|c| c.is_whitespace() || c == '(') {
                self.pos += word.len();
                return true;
            }
        }
        false
    }
    fn name_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_name_char(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        &self.src[start..self.pos]
    }

    fn or_expr(&mut self, in_brackets: bool) -> Result<Filter> {
        let mut left = self.and_expr(in_brackets)?;
        loop {
            let save = self.pos;
            if self.skip_ws() && self.keyword("or") {
                self.skip_ws();
                let right = self.and_expr(in_brackets)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, in_brackets: bool) -> Result<Filter> {
        let mut left = self.unary(in_brackets)?;
        loop {
            let save = self.pos;
            if self.skip_ws() && self.keyword("and") {
                self.skip_ws();
                let right = self.unary(in_brackets)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, in_brackets: bool) -> Result<Filter> {
        self.skip_ws();
        if self.keyword("not") {
            self.skip_ws();
            if self.peek() != Some('(') {
                return Err(self.err_here("expected '(' after 'not'"));
            }
            let inner = self.group(in_brackets)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some('(') {
            return self.group(in_brackets);
        }
        self.attr_expr(in_brackets)
    }

    fn group(&mut self, in_brackets: bool) -> Result<Filter> {
        self.enter()?;
        self.pos += 1; // '('
        self.skip_ws();
        let inner = self.or_expr(in_brackets)?;
        self.skip_ws();
        self.expect(')')?;
        self.depth -= 1;
        Ok(inner)
    }

    fn attr_path(&mut self) -> Result<AttrPath> {
        let start = self.pos;
        let token = self.name_token();
        if token.is_empty() {
            return Err(self.err_here("expected an attribute name"));
        }
        split_attr_path(token).ok_or_else(|| {
            self.pos = start;
            self.err_here(&format!("'{token}' is not a valid attribute path"))
        })
    }

    fn attr_expr(&mut self, in_brackets: bool) -> Result<Filter> {
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            if in_brackets {
                return Err(self.err_here("value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(self.err_here("a value filter must follow an attribute, not a sub-attribute"));
            }
            self.enter()?;
            self.pos += 1;
            self.skip_ws();
            let inner = self.or_expr(true)?;
            self.skip_ws();
            self.expect(']')?;
            self.depth -= 1;
            // Entra: `emails[type eq "work"].value eq "x"` means the same element
            // has type work and value x.
            if self.peek() == Some('.') {
                self.pos += 1;
                let sub = self.name_token();
                if !is_attr_name(sub) {
                    return Err(self.err_here("expected a sub-attribute name after '].'"));
                }
                let sub_path = AttrPath::new(sub);
                let cond = self.comparison(sub_path)?;
                return Ok(Filter::ValuePath { path, filter: Box::new(Filter::and(inner, cond)) });
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter> {
        if !self.skip_ws() {
            return Err(self.err_here(&format!("expected a space and an operator after '{path}'")));
        }
        let op_start = self.pos;
        let word = self.name_token();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            self.pos = op_start;
            return Err(
                self.err_here(&format!("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after '{path}'"))
            );
        };
        if !self.skip_ws() {
            return Err(self.err_here(&format!("expected a space and a value after '{}'", op.as_str())));
        }
        let value = self.value()?;
        // `"\u0000"` decodes to a NUL: refused like a raw one, naming the attribute.
        if let CompValue::Str(s) = &value
            && s.contains('\0')
        {
            return Err(ScimError::invalid_value(crate::limits::nul_detail(&format!(
                "the value compared with '{path}'"
            ))));
        }
        Ok(Filter::Compare { path, op, value })
    }

    fn value(&mut self) -> Result<CompValue> {
        match self.peek() {
            Some('"') => self.string().map(CompValue::Str),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                let text = &self.src[start..self.pos];
                text.parse::<serde_json::Number>().map(CompValue::Num).map_err(|_| {
                    self.pos = start;
                    self.err_here(&format!("'{text}' is not a valid number"))
                })
            }
            Some(_) => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || c == ')' || c == ']' || c == '(' || c == '[' {
                        break;
                    }
                    self.pos += c.len_utf8();
                }
                let word = &self.src[start..self.pos];
                Ok(match word.to_ascii_lowercase().as_str() {
                    "true" => CompValue::Bool(true),
                    "false" => CompValue::Bool(false),
                    "null" => CompValue::Null,
                    // A bare word is a string: Microsoft's documented `externalId eq jyoung`
                    // (the live service quotes it), authentik up to 2025.6
                    // (`userName eq alice`), and a Keycloak SCIM client (suvera
                    // keycloak-scim2-storage) in PATCH paths (`emails[type eq work].value`).
                    _ if word.chars().all(|c| c.is_alphanumeric() || "-_.@".contains(c)) => {
                        CompValue::Str(word.to_string())
                    }
                    _ => {
                        self.pos = start;
                        return Err(self.err_here("expected a value: a quoted string, a number, true, false or null"));
                    }
                })
            }
            None => Err(self.err_here("expected a value")),
        }
    }

    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    let text = &self.src[start..self.pos];
                    return serde_json::from_str::<String>(text).map_err(|e| {
                        self.pos = start;
                        self.err_here(&format!("invalid string ({e})"))
                    });
                }
                _ => self.pos += 1,
            }
        }
        self.pos = start;
        Err(self.err_here("unterminated string"))
    }
}
