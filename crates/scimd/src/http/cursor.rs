//! List cursors (RFC 9865): stateless and tamper-evident. A cursor carries
//! its place in the list's order (the last sort value and `seq` of a page),
//! the tenant and a digest of the query it belongs to, the page size, and
//! when it was issued; it is signed with a key derived from the server's
//! secrets key, which every replica shares, so any replica continues any
//! other's walk and nothing is kept per cursor. The text is base64url
//! without padding: RFC 3986 unreserved characters only (RFC 9865 §2).

use crate::store::{Kind, Place, SortValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use scim_core::{ListRequest, ScimError};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
/// Bytes of the HMAC-SHA256 kept: 128 bits, ample against forgery.
const TAG_LEN: usize = 16;
/// No cursor this server issues is longer (a sort value is an attribute
/// value, bounded by the body limits); longer text is not even decoded.
const MAX_TEXT: usize = 64 * 1024;

/// Which list a cursor walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Users,
    Groups,
    /// `POST /.search` at the root: Users, then Groups.
    Root,
}

impl Scope {
    pub(crate) fn of(kind: Kind) -> Scope {
        match kind {
            Kind::User => Scope::Users,
            Kind::Group => Scope::Groups,
        }
    }
    fn byte(self) -> u8 {
        match self {
            Scope::Users => 0,
            Scope::Groups => 1,
            Scope::Root => 2,
        }
    }
}

/// What a cursor is bound to: the tenant, and the query (endpoint, filter,
/// sortBy, sortOrder). The projection is not part of it: it changes what is
/// shown of each resource, not which resources come in which order.
pub(crate) struct Binding {
    tenant_id: i64,
    digest: [u8; 16],
    count: i64,
}

impl Binding {
    pub(crate) fn of(tenant_id: i64, scope: Scope, request: &ListRequest) -> Binding {
        let mut h = Sha256::new();
        h.update(b"scimd cursor query v1\0");
        h.update([scope.byte(), u8::from(request.descending)]);
        // Each part with its length, so that no two queries run together alike.
        for part in [request.filter.as_ref().map(|f| f.to_string()), request.sort_by.as_ref().map(|p| p.to_string())] {
            let text = part.unwrap_or_default();
            h.update((text.len() as u64).to_be_bytes());
            h.update(text.as_bytes());
        }
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&h.finalize()[..16]);
        Binding { tenant_id, digest, count: request.count }
    }
}

/// Where a page starts: after (or, `backward`, before) a place, in the list
/// of `kind` (the root search walks Users, then Groups).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Position {
    pub backward: bool,
    pub kind: Kind,
    pub place: Place,
}

/// Signs and opens cursors with the server's cursor key.
pub(crate) struct Cursors<'k> {
    pub key: &'k [u8; 32],
    /// Now, in milliseconds since the epoch.
    pub now_ms: i64,
    pub timeout_secs: u64,
}

impl Cursors<'_> {
    fn mac(&self) -> Option<Hmac<Sha256>> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.key).ok()
    }

    /// The cursor text for `position` of the list `binding` names.
    pub(crate) fn issue(&self, binding: &Binding, position: &Position) -> Option<String> {
        let mut out = Vec::with_capacity(80);
        out.push(VERSION);
        out.push(u8::from(position.backward));
        out.push(match position.kind {
            Kind::User => 0,
            Kind::Group => 1,
        });
        out.extend_from_slice(&binding.tenant_id.to_be_bytes());
        out.extend_from_slice(&binding.digest);
        out.extend_from_slice(&binding.count.to_be_bytes());
        out.extend_from_slice(&self.now_ms.to_be_bytes());
        out.extend_from_slice(&position.place.seq.to_be_bytes());
        match &position.place.value {
            SortValue::Null => out.push(0),
            SortValue::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            SortValue::Real(f) => {
                out.push(2);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            SortValue::Text(t) => {
                out.push(3);
                out.extend_from_slice(t.as_bytes());
            }
        }
        let tag = self.mac()?.chain_update(&out).finalize().into_bytes();
        out.extend_from_slice(&tag[..TAG_LEN]);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The position a cursor text names, if this server signed it for this
    /// tenant and query, with this count, within the timeout. Every failure
    /// is a SCIM error whose detail says what to do; a cursor of another
    /// tenant is told apart from none other than by the same words as any
    /// other list's (RFC 9865 §5.2: nothing about other data is disclosed).
    pub(crate) fn open(&self, binding: &Binding, text: &str) -> Result<Position, ScimError> {
        let damaged = || {
            ScimError::invalid_cursor(
                "this cursor is not one this server issued (it is damaged, or was changed): send nextCursor or \
                 previousCursor exactly as a list response gave it, or an empty cursor to start from the first page",
            )
        };
        if text.len() > MAX_TEXT {
            return Err(damaged());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| damaged())?;
        // version, direction, kind, tenant, digest, count, issued, seq, value tag, tag
        const HEAD: usize = 3 + 8 + 16 + 8 + 8 + 8 + 1;
        if bytes.len() < HEAD + TAG_LEN {
            return Err(damaged());
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let mac = self.mac().ok_or_else(damaged)?.chain_update(body);
        mac.verify_truncated_left(tag).map_err(|_| damaged())?;
        // Signed by this server: the layout is its own from here on.
        let i64_at = |at: usize| -> Result<i64, ScimError> {
            let b: [u8; 8] = body.get(at..at + 8).and_then(|s| s.try_into().ok()).ok_or_else(damaged)?;
            Ok(i64::from_be_bytes(b))
        };
        if body[0] != VERSION {
            return Err(damaged());
        }
        let backward = body[1] == 1;
        let kind = if body[2] == 0 { Kind::User } else { Kind::Group };
        let tenant_id = i64_at(3)?;
        let digest = &body[11..27];
        let count = i64_at(27)?;
        let issued_ms = i64_at(35)?;
        let seq = i64_at(43)?;
        let value = match body[51] {
            0 => SortValue::Null,
            1 => SortValue::Int(i64_at(52)?),
            2 => SortValue::Real(f64::from_bits(i64_at(52)? as u64)),
            3 => SortValue::Text(String::from_utf8(body[52..].to_vec()).map_err(|_| damaged())?),
            _ => return Err(damaged()),
        };
        if tenant_id != binding.tenant_id || digest != binding.digest {
            return Err(ScimError::invalid_cursor(
                "this cursor belongs to another list: a cursor works only with the endpoint, filter, sortBy and \
                 sortOrder of the request that returned it (RFC 9865 §2); send those unchanged, or an empty cursor \
                 to start this list from the first page",
            ));
        }
        let age_secs = self.now_ms.saturating_sub(issued_ms) / 1000;
        if age_secs > i64::try_from(self.timeout_secs).unwrap_or(i64::MAX) {
            return Err(ScimError::expired_cursor(format!(
                "this cursor expired: it was issued {age_secs} s ago, and a cursor works for {} s after the page \
                 that returned it (cursorTimeout in /ServiceProviderConfig); start again with an empty cursor",
                self.timeout_secs
            )));
        }
        if count != binding.count {
            return Err(ScimError::invalid_count(format!(
                "count must stay {count} while paging with this cursor, as in the request that returned it (RFC \
                 9865 §2.1); to change the page size, start again with an empty cursor"
            )));
        }
        Ok(Position { backward, kind, place: Place { value, seq } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::ScimType;

    fn request(filter: Option<&str>, count: i64) -> ListRequest {
        let mut pairs = vec![("count".to_string(), count.to_string()), ("cursor".to_string(), String::new())];
        if let Some(f) = filter {
            pairs.push(("filter".to_string(), f.to_string()));
        }
        ListRequest::from_query(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()), 1000).unwrap()
    }

    fn position(value: SortValue) -> Position {
        Position { backward: false, kind: Kind::User, place: Place { value, seq: 42 } }
    }

    #[test]
    fn a_cursor_opens_to_what_it_was_issued_for() {
        let key = [7u8; 32];
        let cursors = Cursors { key: &key, now_ms: 1_000_000, timeout_secs: 60 };
        let binding = Binding::of(1, Scope::Users, &request(Some("title eq \"x\""), 10));
        for value in [
            SortValue::Null,
            SortValue::Int(-5),
            SortValue::Real(2.5),
            SortValue::Text(String::new()),
            SortValue::Text("zoë\0\"".into()),
        ] {
            let p = position(value);
            let text = cursors.issue(&binding, &p).unwrap();
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
            assert_eq!(cursors.open(&binding, &text).unwrap(), p);
        }
    }

    #[test]
    fn a_changed_foreign_stale_or_resized_cursor_is_refused() {
        let key = [7u8; 32];
        let cursors = Cursors { key: &key, now_ms: 1_000_000, timeout_secs: 60 };
        let binding = Binding::of(1, Scope::Users, &request(None, 10));
        let text = cursors.issue(&binding, &position(SortValue::Text("abc".into()))).unwrap();
        let kind = |r: Result<Position, ScimError>| r.unwrap_err().scim_type;
        // Every single-character change, and truncations.
        let mut chars: Vec<char> = text.chars().collect();
        for i in 0..chars.len() {
            let old = chars[i];
            chars[i] = if old == 'A' { 'B' } else { 'A' };
            let changed: String = chars.iter().collect();
            assert_eq!(kind(cursors.open(&binding, &changed)), Some(ScimType::InvalidCursor), "at {i}");
            chars[i] = old;
        }
        for len in [0, 1, 10, text.len() - 1] {
            assert_eq!(kind(cursors.open(&binding, &text[..len])), Some(ScimType::InvalidCursor));
        }
        let other_key = [8u8; 32];
        let other = Cursors { key: &other_key, ..cursors };
        assert_eq!(kind(other.open(&binding, &text)), Some(ScimType::InvalidCursor));
        let other_tenant = Binding::of(2, Scope::Users, &request(None, 10));
        assert_eq!(kind(cursors.open(&other_tenant, &text)), Some(ScimType::InvalidCursor));
        let other_filter = Binding::of(1, Scope::Users, &request(Some("userName pr"), 10));
        assert_eq!(kind(cursors.open(&other_filter, &text)), Some(ScimType::InvalidCursor));
        let groups = Binding::of(1, Scope::Groups, &request(None, 10));
        assert_eq!(kind(cursors.open(&groups, &text)), Some(ScimType::InvalidCursor));
        let resized = Binding::of(1, Scope::Users, &request(None, 11));
        assert_eq!(kind(cursors.open(&resized, &text)), Some(ScimType::InvalidCount));
        let later = Cursors { now_ms: 1_000_000 + 61_000, ..cursors };
        assert_eq!(kind(later.open(&binding, &text)), Some(ScimType::ExpiredCursor));
        let just_in_time = Cursors { now_ms: 1_000_000 + 60_999, ..cursors };
        assert!(just_in_time.open(&binding, &text).is_ok());
    }
}
