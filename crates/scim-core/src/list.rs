//! Listing resources (RFC 7644 §3.4.2, §3.4.3): a list's request, from a
//! GET's query parameters or a POST `.search` body, checked and parsed into
//! one [`ListRequest`]; and the ListResponse written around resources that
//! are JSON texts already.

use crate::error::{Result, ScimError};
use crate::filter::{Filter, parse_filter};
use crate::path::AttrPath;
use crate::projection::Projection;
use serde_json::Value;

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A list or search request, checked: the filter and `sortBy` parsed, the
/// page bounded.
#[derive(Clone, Debug, PartialEq)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    /// 1-based and at least 1 (RFC 7644 §3.4.2.4: less than 1 is read as 1).
    pub start_index: i64,
    /// Within `0..=max_results`; the server's maximum when not given.
    pub count: i64,
    pub projection: Projection,
    /// RFC 9865 §2: the client asked for cursor pagination. `Some("")` for
    /// the first page (`cursor` empty), else a `nextCursor` or
    /// `previousCursor` it was given. `startIndex` is then not allowed.
    pub cursor: Option<String>,
}

impl ListRequest {
    /// How many resources the page skips: `startIndex - 1`.
    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }

    /// From a GET's query parameters. `get` finds a parameter by name; the
    /// caller matches names ignoring case, as query parameters are here.
    pub fn from_query<'q>(get: impl Fn(&str) -> Option<&'q str>, max_results: i64) -> Result<ListRequest> {
        let cursor = get("cursor");
        let start_index = int_param("startIndex", get("startIndex"))?;
        let count = int_param("count", get("count")).map_err(|e| count_error(e, cursor.is_some(), max_results))?;
        let projection = Projection::parse(get("attributes"), get("excludedAttributes"))?;
        Requested {
            filter: get("filter"),
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
            start_index,
            count,
            projection,
            cursor: cursor.map(str::to_string),
        }
        .finish(max_results)
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3). Its keys are matched
    /// ignoring case; `attributes` and `excludedAttributes` may be one
    /// comma-separated string or an array of names. `schemas` is not
    /// checked.
    pub fn from_search_body(body: &Value, max_results: i64) -> Result<ListRequest> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax("a search request must be a JSON object"));
        };
        let get = |k: &str| obj.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
        let text = |k: &str| -> Result<Option<&str>> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be a string"))),
            }
        };
        let list = |k: &str| -> Result<Option<String>> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                // Items that are not strings name no attribute: skipped.
                Some(Value::Array(items)) => {
                    Ok(Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")))
                }
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an array of attribute names"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>> {
            match get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be an integer")))
                }
                // A number in a string is read as a query parameter is.
                Some(Value::String(s)) => int_param(k, Some(s)),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an integer"))),
            }
        };
        // The order decides which of several errors a client gets.
        let attributes = list("attributes")?;
        let excluded = list("excludedAttributes")?;
        let filter = text("filter")?;
        let sort_by = text("sortBy")?;
        let sort_order = text("sortOrder")?;
        let cursor = match get("cursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ScimError::invalid_cursor(
                    "'cursor' must be a string: empty for the first page, then a nextCursor or previousCursor \
                     this server returned",
                ));
            }
        };
        let start_index = int("startIndex")?;
        let count = int("count").map_err(|e| count_error(e, cursor.is_some(), max_results))?;
        let projection = Projection::parse(attributes.as_deref(), excluded.as_deref())?;
        Requested { filter, sort_by, sort_order, start_index, count, projection, cursor }.finish(max_results)
    }
}

/// A request's parts as the client wrote them, before the texts are parsed.
struct Requested<'t> {
    filter: Option<&'t str>,
    sort_by: Option<&'t str>,
    sort_order: Option<&'t str>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: Projection,
    cursor: Option<String>,
}

/// A `count` that is not an integer: with a cursor, RFC 9865 §2.1's `invalidCount`.
fn count_error(e: ScimError, cursor: bool, max_results: i64) -> ScimError {
    if !cursor {
        return e;
    }
    ScimError::invalid_count(format!(
        "{}: with a cursor it is a number of results from 0 to {}",
        e.detail,
        max_results.max(0)
    ))
}

impl Requested<'_> {
    fn finish(self, max_results: i64) -> Result<ListRequest> {
        // A blank filter or sortBy is taken as none.
        let filter = self.filter.filter(|f| !f.trim().is_empty()).map(parse_filter).transpose()?;
        let sort_by = self
            .sort_by
            .filter(|s| !s.trim().is_empty())
            .map(|s| AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail))))
            .transpose()?;
        let descending = match self.sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") | Some("") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{other}'"
                )));
            }
        };
        // A negative maximum would make `clamp` panic; it allows no results.
        let max = max_results.max(0);
        if let Some(cursor) = &self.cursor {
            // RFC 9865 §2.4: a request picks one method, by `startIndex` or by `cursor`.
            if self.start_index.is_some() {
                return Err(ScimError::invalid_value(
                    "send either startIndex (index paging) or cursor (cursor paging, RFC 9865), not both",
                ));
            }
            // RFC 9865 §2: "a negative value SHALL be interpreted as 0"; past
            // the maximum is invalidCount (§2.1), where index paging clamps it.
            if let Some(count) = self.count.filter(|c| *c > max) {
                return Err(ScimError::invalid_count(format!(
                    "count {count} is more than this server's maxPageSize ({max}): ask for at most {max} results \
                     a page"
                )));
            }
            // The characters a cursor may hold (RFC 3986 §2.3, unreserved).
            if !cursor.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
                return Err(ScimError::invalid_cursor(
                    "this cursor has characters no cursor has: send it exactly as the server returned it \
                     (nextCursor or previousCursor), or an empty cursor for the first page",
                ));
            }
        }
        Ok(ListRequest {
            filter,
            sort_by,
            descending,
            start_index: self.start_index.unwrap_or(1).max(1),
            count: self.count.unwrap_or(max).clamp(0, max),
            projection: self.projection,
            cursor: self.cursor,
        })
    }
}

/// An integer parameter; surrounding spaces are allowed.
fn int_param(name: &str, text: Option<&str>) -> Result<Option<i64>> {
    text.map(|t| {
        t.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer, not '{t}'")))
    })
    .transpose()
}

/// A ListResponse around resources that are JSON texts already, in a buffer
/// of exactly its size. `itemsPerPage` is the number of resources.
pub fn list_response_bytes<T: AsRef<[u8]>>(total: i64, start_index: i64, resources: &[T]) -> Vec<u8> {
    list_bytes(&format!("\"startIndex\":{start_index},"), total, resources)
}

/// A ListResponse of a cursor-paged list (RFC 9865 §2): no `startIndex`;
/// `nextCursor` unless this is the last page, `previousCursor` when there
/// is a page before. Cursors are URL-safe text (RFC 3986 unreserved
/// characters), written as they are; anything else is left out.
pub fn cursor_list_response_bytes<T: AsRef<[u8]>>(
    total: i64,
    resources: &[T],
    next_cursor: Option<&str>,
    previous_cursor: Option<&str>,
) -> Vec<u8> {
    let safe = |c: &&str| c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let mut paging = String::new();
    if let Some(next) = next_cursor.filter(safe) {
        paging.push_str(&format!("\"nextCursor\":\"{next}\","));
    }
    if let Some(previous) = previous_cursor.filter(safe) {
        paging.push_str(&format!("\"previousCursor\":\"{previous}\","));
    }
    list_bytes(&paging, total, resources)
}

fn list_bytes<T: AsRef<[u8]>>(paging: &str, total: i64, resources: &[T]) -> Vec<u8> {
    let head = format!(
        "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":{total},{paging}\
         \"itemsPerPage\":{},\"Resources\":[",
        resources.len()
    );
    let commas = resources.len().saturating_sub(1);
    let size = head.len() + resources.iter().map(|r| r.as_ref().len()).sum::<usize>() + commas + 2;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.as_ref());
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use serde_json::json;

    const MAX: i64 = 1000;

    fn query(pairs: &[(&str, &str)]) -> Result<ListRequest> {
        // As the server matches query parameters: ignoring case.
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ListRequest::from_query(|k| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str()), MAX)
    }

    fn body(b: Value) -> Result<ListRequest> {
        ListRequest::from_search_body(&b, MAX)
    }

    fn invalid_value(detail: &str) -> ScimError {
        ScimError::invalid_value(detail)
    }

    #[test]
    fn defaults() {
        for r in [query(&[]).unwrap(), body(json!({})).unwrap(), body(json!({"schemas": [SEARCH_REQUEST]})).unwrap()] {
            assert_eq!(
                r,
                ListRequest {
                    filter: None,
                    sort_by: None,
                    descending: false,
                    start_index: 1,
                    count: MAX,
                    projection: Projection::default(),
                    cursor: None,
                }
            );
            assert_eq!(r.offset(), 0);
        }
    }

    #[test]
    fn query_parameters_parse() {
        let r = query(&[
            ("filter", "userName eq \"bjensen\""),
            ("sortBy", "name.familyName"),
            ("sortOrder", "Descending"),
            ("startIndex", " 11 "),
            ("COUNT", "5"),
            ("attributes", "userName,emails"),
        ])
        .unwrap();
        assert_eq!(r.filter, Some(parse_filter("userName eq \"bjensen\"").unwrap()));
        assert_eq!(r.sort_by, Some(AttrPath::with_sub("name", "familyName")));
        assert!(r.descending);
        assert_eq!((r.start_index, r.offset(), r.count), (11, 10, 5));
        assert_eq!(r.projection, Projection::parse(Some("userName,emails"), None).unwrap());
        let r = query(&[("excludedAttributes", "emails"), ("sortOrder", "ascending")]).unwrap();
        assert!(!r.descending);
        assert_eq!(r.projection, Projection::parse(None, Some("emails")).unwrap());
    }

    #[test]
    fn empty_filter_sort_by_and_sort_order_are_absent() {
        let r = query(&[("filter", "  "), ("sortBy", ""), ("sortOrder", "")]).unwrap();
        assert_eq!((r.filter, r.sort_by, r.descending), (None, None, false));
        let r = body(json!({"filter": "", "sortBy": " ", "sortOrder": null})).unwrap();
        assert_eq!((r.filter, r.sort_by, r.descending), (None, None, false));
    }

    #[test]
    fn start_index_and_count_are_clamped() {
        let page = |start: &str, count: &str| {
            let r = query(&[("startIndex", start), ("count", count)]).unwrap();
            (r.start_index, r.offset(), r.count)
        };
        assert_eq!(page("0", "2"), (1, 0, 2));
        assert_eq!(page("-5", "-1"), (1, 0, 0));
        assert_eq!(page("1", "0"), (1, 0, 0));
        assert_eq!(page("100", "1000"), (100, 99, 1000));
        assert_eq!(page("1", "1001"), (1, 0, 1000));
        assert_eq!(page("9223372036854775807", "9223372036854775807"), (i64::MAX, i64::MAX - 1, 1000));
        let r = body(json!({"startIndex": -3, "count": 5000})).unwrap();
        assert_eq!((r.start_index, r.count), (1, 1000));
        // The maximum is the caller's; a negative one allows nothing.
        let get = |k: &str| (k == "count").then_some("50");
        assert_eq!(ListRequest::from_query(get, 20).unwrap().count, 20);
        assert_eq!(ListRequest::from_query(|_| None, 20).unwrap().count, 20);
        assert_eq!(ListRequest::from_query(get, -1).unwrap().count, 0);
    }

    #[test]
    fn query_errors() {
        let err = |pairs: &[(&str, &str)]| query(pairs).unwrap_err();
        assert_eq!(err(&[("startIndex", "abc")]), invalid_value("'startIndex' must be an integer, not 'abc'"));
        assert_eq!(err(&[("count", " 1.5")]), invalid_value("'count' must be an integer, not ' 1.5'"));
        assert_eq!(
            err(&[("sortOrder", "Sideways")]),
            invalid_value("sortOrder must be 'ascending' or 'descending', not 'sideways'")
        );
        assert_eq!(err(&[("sortBy", "a b")]).detail, format!("sortBy: {}", AttrPath::parse("a b").unwrap_err().detail));
        assert_eq!(err(&[("sortBy", "a b")]).scim_type, Some(ScimType::InvalidValue));
        assert_eq!(err(&[("filter", "userName zz 1")]), parse_filter("userName zz 1").unwrap_err());
        assert_eq!(err(&[("attributes", "a b")]), Projection::parse(Some("a b"), None).unwrap_err());
        assert_eq!(err(&[("excludedAttributes", "1x")]), Projection::parse(None, Some("1x")).unwrap_err());
    }

    #[test]
    fn query_errors_come_in_the_order_they_did() {
        // Checked in the order startIndex, count, the projection, the filter,
        // sortBy, sortOrder; listed here from the last checked to the first.
        let all = [
            ("sortOrder", "x"),
            ("sortBy", "a b"),
            ("filter", "("),
            ("attributes", "a b"),
            ("count", "x"),
            ("startIndex", "x"),
        ];
        // With every parameter checked after it also wrong, each is the error.
        for i in 0..all.len() {
            assert_eq!(query(&all[..=i]).unwrap_err(), query(&all[i..=i]).unwrap_err(), "{:?}", all[i]);
        }
    }

    #[test]
    fn search_body_parses() {
        let r = body(json!({
            "schemas": [SEARCH_REQUEST],
            "FILTER": "userName sw \"user0\"",
            "sortby": "userName",
            "SortOrder": "DESCENDING",
            "startIndex": 25,
            "count": "10",
            "attributes": ["userName", 7, "emails"],
        }))
        .unwrap();
        assert_eq!(r.filter, Some(parse_filter("userName sw \"user0\"").unwrap()));
        assert_eq!(r.sort_by, Some(AttrPath::new("userName")));
        assert!(r.descending);
        assert_eq!((r.start_index, r.offset(), r.count), (25, 24, 10));
        assert_eq!(r.projection, Projection::parse(Some("userName,emails"), None).unwrap());
        let r = body(json!({"excludedAttributes": "emails, name", "attributes": null})).unwrap();
        assert_eq!(r.projection, Projection::parse(None, Some("emails,name")).unwrap());
        let r = body(json!({"attributes": []})).unwrap();
        assert_eq!(r.projection, Projection::default());
    }

    #[test]
    fn search_body_errors() {
        let err = |b: Value| body(b).unwrap_err();
        for not_object in [json!([]), json!("x"), json!(null), json!(1)] {
            assert_eq!(err(not_object), ScimError::invalid_syntax("a search request must be a JSON object"));
        }
        for k in ["filter", "sortBy", "sortOrder"] {
            assert_eq!(err(json!({ k: 1 })), invalid_value(&format!("'{k}' must be a string")));
            assert_eq!(err(json!({ k: ["a"] })), invalid_value(&format!("'{k}' must be a string")));
        }
        for k in ["attributes", "excludedAttributes"] {
            let e = invalid_value(&format!("'{k}' must be an array of attribute names"));
            assert_eq!(err(json!({ k: {"a": 1} })), e);
            assert_eq!(err(json!({ k: true })), e);
        }
        for k in ["startIndex", "count"] {
            assert_eq!(err(json!({ k: 1.5 })), invalid_value(&format!("'{k}' must be an integer")));
            assert_eq!(err(json!({ k: 18446744073709551615u64 })), invalid_value(&format!("'{k}' must be an integer")));
            assert_eq!(err(json!({ k: true })), invalid_value(&format!("'{k}' must be an integer")));
            assert_eq!(err(json!({ k: "ten" })), invalid_value(&format!("'{k}' must be an integer, not 'ten'")));
        }
        // The canonical name, not the client's spelling of the key.
        assert_eq!(err(json!({"COUNT": "x"})), invalid_value("'count' must be an integer, not 'x'"));
        assert_eq!(
            err(json!({"sortOrder": "up"})),
            invalid_value("sortOrder must be 'ascending' or 'descending', not 'up'")
        );
        assert_eq!(err(json!({"filter": "userName zz 1"})), parse_filter("userName zz 1").unwrap_err());
        assert_eq!(err(json!({"attributes": ["a b"]})), Projection::parse(Some("a b"), None).unwrap_err());
        assert_eq!(
            err(json!({"sortBy": "a b"})).detail,
            format!("sortBy: {}", AttrPath::parse("a b").unwrap_err().detail)
        );
    }

    #[test]
    fn search_body_errors_come_in_the_order_they_did() {
        // Checked in the order: the types (attributes, excludedAttributes,
        // filter, sortBy, sortOrder, startIndex, count), then the contents
        // (the projection, the filter, sortBy, sortOrder); listed here from
        // the last checked to the first.
        let all = [
            ("sortOrder", json!("x")),
            ("sortBy", json!("a b")),
            ("filter", json!("(")),
            ("attributes", json!("a b")),
            ("count", json!(true)),
            ("startIndex", json!(true)),
            ("sortOrder", json!(1)),
            ("sortBy", json!(1)),
            ("filter", json!(1)),
            ("excludedAttributes", json!(1)),
            ("attributes", json!(1)),
        ];
        for i in 0..all.len() {
            // With every key checked after it also wrong, each is the error
            // (a later entry of one key replaces an earlier one).
            let obj: serde_json::Map<String, Value> =
                all[..=i].iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            let (k, v) = &all[i];
            let first = body(Value::Object(obj)).unwrap_err();
            let alone = body(json!({ *k: v.clone() })).unwrap_err();
            assert_eq!(first, alone, "{k}: {v}");
        }
    }

    #[test]
    fn list_response_around_texts() {
        let bytes = list_response_bytes(12, 3, &["{\"id\":\"a\"}", "{\"id\":\"b\"}"]);
        assert_eq!(bytes.len(), bytes.capacity(), "the buffer is exactly its size");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({"schemas": [LIST_RESPONSE], "totalResults": 12, "startIndex": 3, "itemsPerPage": 2,
                   "Resources": [{"id": "a"}, {"id": "b"}]})
        );
        let empty: [Vec<u8>; 0] = [];
        let bytes = list_response_bytes(0, 1, &empty);
        assert_eq!(bytes.len(), bytes.capacity());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!(
                "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":0,\"startIndex\":1,\"itemsPerPage\":0,\"Resources\":[]}}"
            )
        );
    }
}
