//! Where a webhook may go: its URL read into a [`Target`], and the
//! addresses its host resolves to that it may be sent to (special-use
//! addresses refused unless allowed, `super::addresses`). The service checks
//! a URL with these when a webhook is made; the sender (`crate::webhooks`)
//! again for every new connection, after DNS.

use super::addresses::special_use;
use std::net::SocketAddr;

/// Where a webhook goes, read from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Read `http(s)://host[:port][/path][?query]`; the error says what is wrong, in words.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("'{url}' is not an http:// or https:// URL"));
        };
        if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("'{url}' has a fragment or spaces; a webhook URL has neither"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err("a webhook URL cannot carry a user name or password".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| format!("'{url}' has an unclosed '['"))?;
            (host.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("'{p}' is not a port"))?,
        };
        Ok(Target { https, host: host.to_ascii_lowercase(), port, path })
    }

    pub(crate) fn origin(&self) -> (bool, String, u16) {
        (self.https, self.host.clone(), self.port)
    }

    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match (self.https, self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// The addresses of `target` it may be sent to; an error in words when none.
pub(crate) async fn allowed_addresses(target: &Target, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("the host '{}' could not be resolved: {e}", target.host))?
        .collect();
    if found.is_empty() {
        return Err(format!("the host '{}' has no address", target.host));
    }
    if allow_private {
        return Ok(found);
    }
    let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| special_use(a.ip()).is_none()).collect();
    if allowed.is_empty() {
        let why = special_use(found[0].ip()).unwrap_or_default();
        return Err(format!(
            "the host '{}' resolves to {} ({}), a special-use address: webhooks are not sent inside the network \
             unless the server runs with --webhook-allow-private-targets",
            target.host,
            found[0].ip(),
            why
        ));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_or_refused_in_words() {
        let t = Target::parse("https://hooks.example.com/scim?x=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.https, t.host.as_str(), t.port, t.path.as_str()), (true, "hooks.example.com", 443, "/scim?x=1"));
        let t = Target::parse("http://[::1]:8080").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 8080, "/"));
        for bad in ["ftp://x", "https://u:p@x/", "https://x/#f", "https://:80/", "https://x:0/", "https://x:99999/"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
