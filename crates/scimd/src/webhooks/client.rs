//! The HTTP client webhooks are sent with: HTTP/1.1 over TCP or TLS
//! (rustls, Mozilla's roots), kept-alive connections per origin, one
//! deadline for the whole attempt, redirects never followed. The name is
//! resolved and checked for every new connection
//! ([`crate::events::target::allowed_addresses`]), and the connection goes
//! to the address that was checked (a DNS answer that changes between check
//! and connect cannot point it inside).

use crate::events::target::{Target, allowed_addresses};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

/// What an endpoint answered.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub status: u16,
    /// `Retry-After`, in seconds, when it gave one.
    pub retry_after: Option<Duration>,
    /// The start of its body, for the delivery's record.
    pub body_start: String,
}

type Sender = SendRequest<Full<Bytes>>;

/// Kept-alive connections, per origin, and how new ones are made.
pub(crate) struct Client {
    tls: tokio_rustls::TlsConnector,
    allow_private: bool,
    timeout: Duration,
    idle: Mutex<HashMap<(bool, String, u16), Vec<Sender>>>,
}

/// Idle connections kept per origin (at least the sender's requests in flight to one endpoint).
const IDLE_PER_ORIGIN: usize = 64;
/// Bytes of an answer's body read (the rest is not waited for).
const BODY_LIMIT: usize = 64 * 1024;
/// Bytes of an answer's body a test send shows.
pub(crate) const PROBE_BODY: usize = 1024;

impl Client {
    pub(crate) fn new(allow_private: bool, timeout: Duration) -> Arc<Client> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        let config = match config {
            Ok(c) => c,
            // ring supports the default versions; kept as a plain error path anyway.
            Err(e) => {
                tracing::error!(error = %e, "TLS could not be set up; https webhooks will fail");
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        Arc::new(Client {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            allow_private,
            timeout,
            idle: Mutex::new(HashMap::new()),
        })
    }

    /// POST `body` to `target` with `headers`, all within the timeout;
    /// answers the first [`PROBE_BODY`] bytes of the body too (a delivery's
    /// history and a test send show them).
    pub(crate) async fn post(
        &self,
        target: &Target,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(Answer, Bytes), String> {
        match tokio::time::timeout(self.timeout, self.post_now(target, headers, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs())),
        }
    }

    async fn post_now(
        &self,
        target: &Target,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(Answer, Bytes), String> {
        // A kept connection may still be finishing its last answer: wait for
        // it (a connection the endpoint closed meanwhile is replaced).
        let kept = match self.idle_sender(target) {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match kept {
            Some(s) => s,
            None => self.connect(target).await?,
        };
        let mut req = hyper::Request::post(&target.path)
            .header(hyper::header::HOST, target.host_header())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("scimd/", env!("CARGO_PKG_VERSION"), " (webhooks)"));
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req.body(Full::new(body)).map_err(|e| format!("the request could not be made: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("the connection failed: {e}"))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read up to BODY_LIMIT; past it (or on a broken body) the answer
        // counts with the start it had, and the connection is not kept.
        let mut body = resp.into_body();
        let mut head = bytes::BytesMut::new();
        let mut read = 0usize;
        let mut whole = true;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map(|f| f.into_data()) else {
                whole = false;
                break;
            };
            let Ok(data) = data else { continue };
            read += data.len();
            let room = PROBE_BODY.saturating_sub(head.len());
            head.extend_from_slice(&data[..data.len().min(room)]);
            if read > BODY_LIMIT {
                whole = false;
                break;
            }
        }
        let head = head.freeze();
        let body_start = String::from_utf8_lossy(&head[..head.len().min(200)]).into_owned();
        if whole {
            self.keep(target, sender);
        }
        Ok((Answer { status, retry_after, body_start }, head))
    }

    fn idle_sender(&self, target: &Target) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&target.origin())?;
        while let Some(s) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn keep(&self, target: &Target, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(target.origin()).or_default();
            if list.len() < IDLE_PER_ORIGIN {
                list.push(sender);
            }
        }
    }

    async fn connect(&self, target: &Target) -> Result<Sender, String> {
        let addresses = allowed_addresses(target, self.allow_private).await?;
        let mut last = String::new();
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return if target.https { self.over_tls(target, stream).await } else { handshake(stream).await };
                }
                Err(e) => last = format!("cannot connect to {address}: {e}"),
            }
        }
        Err(last)
    }

    async fn over_tls(&self, target: &Target, stream: TcpStream) -> Result<Sender, String> {
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| format!("'{}' is not a host name TLS can check", target.host))?;
        let tls =
            self.tls.connect(name, stream).await.map_err(|e| format!("TLS with '{}' failed: {e}", target.host))?;
        handshake(tls).await
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("the HTTP connection failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
