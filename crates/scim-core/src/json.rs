//! JSON request bodies read strictly: an object that names a key twice is
//! refused. serde_json keeps the last of them, another parser (a proxy, a
//! WAF, the product reading the same body) may keep the first, and the two
//! would then act on different requests.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a body is not the JSON it must be.
#[derive(Debug)]
pub enum JsonError {
    /// An object names `key` more than once (at `line`, `column` of its second time).
    DuplicateKey { key: String, line: usize, column: usize },
    /// Not JSON at all; the parser's own account.
    Syntax(serde_json::Error),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::DuplicateKey { key, line, column } => write!(
                f,
                "the key '{key}' appears more than once in one object (line {line}, column {column}); \
                 send each key once"
            ),
            JsonError::Syntax(e) => write!(f, "{e}"),
        }
    }
}

/// The marker our visitor's error starts with, so it can be told from the parser's.
const DUPLICATE: &str = "\u{0}duplicate key:";

/// Parse `bytes` as one JSON value whose objects name every key once.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict::deserialize(&mut de).and_then(|Strict(v)| de.end().map(|()| v));
    parsed.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE) {
            Some(rest) => {
                // serde_json appends " at line L column C" to a visitor's message.
                let key = rest.rsplit_once(" at line ").map_or(rest, |(key, _)| key).to_string();
                JsonError::DuplicateKey { key, line: e.line(), column: e.column() }
            }
            None => JsonError::Syntax(e),
        }
    })
}

/// A JSON value read with duplicate keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::{JsonError, parse_strict};
    use serde_json::json;

    #[test]
    fn a_key_named_twice_in_one_object_is_refused_by_name() {
        let body = br#"{"userName": "a@x.com", "name": {"givenName": "A", "givenName": "B"}}"#;
        match parse_strict(body) {
            Err(JsonError::DuplicateKey { key, line, .. }) => assert_eq!((key.as_str(), line), ("givenName", 1)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_strict(br#"{"a": 1, "a": 1}"#), Err(JsonError::DuplicateKey { .. })));
    }

    #[test]
    fn the_same_key_in_different_objects_and_every_json_form_is_read_as_serde_json_reads_it() {
        let body = br#"{"emails": [{"value": "a", "primary": true}, {"value": "b"}], "n": -1, "f": 1.5e3,
                        "big": 18446744073709551615, "s": "\u00e9\n", "t": null, "b": false}"#;
        let strict = parse_strict(body).unwrap_or_else(|e| panic!("{e}"));
        let plain: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        assert_eq!(strict, plain);
        assert_eq!(parse_strict(b"[1, [2], {}]").ok(), Some(json!([1, [2], {}])));
    }

    #[test]
    fn what_is_not_json_keeps_the_parser_account() {
        for bad in [&b"{"[..], b"{\"a\": 1,}", b"{} {}", b"nul"] {
            assert!(matches!(parse_strict(bad), Err(JsonError::Syntax(_))), "{}", String::from_utf8_lossy(bad));
        }
    }
}
