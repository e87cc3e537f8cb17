//! The HTTP side: one keep-alive client per target, loopback only, and the
//! few helpers the scenarios need to read SCIM responses cheaply.

use reqwest::{Method, Url};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// A target: a SCIM base URL (or the bare route) and its token.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: Arc<str>,
    auth: Option<Arc<str>>,
}

/// The load tool only ever talks to this machine.
pub(crate) fn check_loopback(url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("'{url}': only http:// URLs are supported"));
    }
    let host = parsed.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!("refusing '{url}': the load tool only targets loopback addresses (127.0.0.0/8, localhost, [::1])"))
    }
}

impl Http {
    pub(crate) fn new(base: &str, token: Option<&str>, concurrency: usize, timeout: Duration) -> Result<Http, String> {
        check_loopback(base)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .pool_idle_timeout(Duration::from_secs(300))
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Http {
            client,
            base: Arc::from(base.trim_end_matches('/')),
            auth: token.filter(|t| !t.is_empty()).map(|t| Arc::from(format!("Bearer {t}").as_str())),
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value, for scenarios that write raw HTTP.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// Send one request (`path` is appended to the base URL) and read the
    /// whole response, so the connection goes back to the pool.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Vec<u8>), String> {
        self.call_with_headers(method, path, body).await.map(|(status, _, bytes)| (status, bytes))
    }

    /// As [`Http::call`], and whether the answer carried `Retry-After`.
    pub(crate) async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, bool, Vec<u8>), String> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.client.request(method.clone(), &url);
        if let Some(auth) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, auth.as_ref());
        }
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, SCIM_JSON).body(body);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let retry = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
        let bytes = resp.bytes().await.map_err(|e| format!("{method} {path}: reading the body: {e}"))?;
        Ok((status, retry, bytes.to_vec()))
    }

    /// As [`Http::call`], and an error unless the status is one of `ok`.
    pub(crate) async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        ok: &[u16],
    ) -> Result<Vec<u8>, String> {
        let (status, bytes) = self.call(method.clone(), path, body).await?;
        if ok.contains(&status) {
            Ok(bytes)
        } else {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(300).collect();
            Err(format!("{method} {}: {status} {text}", strip_query(path)))
        }
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Percent-encode a query parameter value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An integer member of a JSON response (`"totalResults": 12`), found by a
/// scan rather than a parse: the check stays cheap for the client.
pub(crate) fn scan_int(body: &[u8], key: &str) -> Option<u64> {
    let needle = format!("\"{key}\"");
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find(&needle)? + needle.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(crate) fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the response is not JSON: {e}"))
}

/// The `id` of a resource response.
pub(crate) fn id_of(body: &[u8]) -> Result<String, String> {
    parse(body)?
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "the response has no 'id'".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(check_loopback("http://127.0.0.1:8080/scim/v2/x").is_ok());
        assert!(check_loopback("http://127.3.2.1:1/").is_ok());
        assert!(check_loopback("http://localhost:1/").is_ok());
        assert!(check_loopback("http://[::1]:1/").is_ok());
        assert!(check_loopback("http://10.0.0.1:1/").is_err());
        assert!(check_loopback("http://example.com/").is_err());
        assert!(check_loopback("https://127.0.0.1/").is_err());
    }

    #[test]
    fn encodes_filters() {
        assert_eq!(enc("userName eq \"a@b.c\""), "userName%20eq%20%22a%40b.c%22");
    }

    #[test]
    fn scans_integers_in_either_spacing() {
        assert_eq!(scan_int(br#"{"totalResults":12,"x":1}"#, "totalResults"), Some(12));
        assert_eq!(scan_int(br#"{"totalResults": 3, "x": 1}"#, "totalResults"), Some(3));
        assert_eq!(scan_int(br#"{"x": 1}"#, "totalResults"), None);
    }
}
