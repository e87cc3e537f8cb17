//! The running server: the accept loop, HTTP/1.1 connections with their
//! timeouts and a cap on how many are open, SCIM error bodies for what hyper
//! refuses before the router sees a request, and shutdown with a deadline.
//! It owns every background task of a running server (the store's: SQLite's
//! writer, PostgreSQL's maintenance; its own: the token-use flusher, the
//! audit flusher and pruner, the webhook sender and event pruning) and
//! stops them last, once queued writes are committed.

use crate::config::NetConfig;
use crate::http::{self, AppState};
use crate::store::TaskGuard;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::Service;

/// Raise the soft limit on open files to the hard limit, so the connection
/// cap (not the kernel's default of 1024) decides how many clients are served.
/// Returns the soft limit now in force.
pub fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-files limit");
            None
        }
    }
}

/// Serve until `shutdown` resolves; then stop accepting, let requests in
/// flight finish for up to `shutdown_timeout`, cut the rest, wait for the
/// store's queued writes, flush token last-use times, and stop `tasks` (the
/// store's background work) with the server's own. Audit rows still queued
/// are written before the store's queue is drained.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    mut tasks: TaskGuard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tick.tick().await;
                state.token_uses.flush(&state.svc).await;
                state.admin_token_uses.flush(&state.svc).await;
            }
        })
    };
    crate::telemetry::register_series();
    let events = event_tasks(&state.svc);
    let (stop_audit, audit_stopping) = watch::channel(false);
    let audit_flusher = state.audit.take_receiver().map(|rows| {
        tokio::spawn(crate::audit::flush(state.svc.clone(), rows, state.audit.read_counts(), audit_stopping))
    });
    // Pruning runs with auditing off too: rows kept before still age out.
    tasks.add("audit pruner", tokio::spawn(crate::audit::prune(state.svc.clone(), state.config.audit.retention)));
    let app = http::app(state.clone());
    let net = state.config.net.clone();
    let slots = Arc::new(Semaphore::new(net.max_connections.max(1)));
    let per_address = PerAddress::new(net.max_connections_per_address);
    // Refused connections are answered a few at a time; past that they are closed unanswered.
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match (per_address.take(peer.ip()), slots.clone().try_acquire_owned()) {
                    (Some(own), Ok(slot)) => {
                        let (app, net, stopping) = (app.clone(), net.clone(), stopping.clone());
                        connections.spawn(async move {
                            serve_connection(stream, peer, app, &net, stopping).await;
                            drop((slot, own));
                        });
                    }
                    (own, _) => {
                        let why = if own.is_none() { Refused::PerAddress } else { Refused::Total };
                        metrics::counter!("scimd_connections_refused_total", "cap" => why.label()).increment(1);
                        if let Ok(turn) = refusals.clone().try_acquire_owned() {
                            let svc = state.svc.clone();
                            connections.spawn(async move {
                                refuse_connection(stream, why, &svc).await;
                                drop(turn);
                            });
                        }
                    }
                },
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let deadline = tokio::time::sleep(net.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(
                    connections = connections.len(),
                    "shutdown deadline reached: cutting the requests still in flight"
                );
                connections.abort_all();
                while connections.join_next().await.is_some() {}
                break;
            }
        }
    }
    flusher.abort();
    // Users still being reconciled after a configuration change, within what is left of the deadline.
    if tokio::time::timeout_at(deadline.deadline(), state.svc.settle()).await.is_err() {
        tracing::warn!("shutdown deadline reached: users still being reconciled are left for the next change");
    }
    // The sender finishes and records what it has in flight while the store still writes.
    let sender_deadline = state.svc.webhook_options().timeout + Duration::from_secs(10);
    if tokio::time::timeout(sender_deadline, state.svc.stop_sending()).await.is_err() {
        tracing::warn!("the webhook sender did not stop in time; its leases lapse and those deliveries go again");
    }
    // Every request has ended: the audit rows queued are all there will be.
    let _ = stop_audit.send(true);
    if let Some(flusher) = audit_flusher
        && let Err(e) = flusher.await
    {
        tracing::error!(error = %e, "the audit flusher failed; audit rows still queued are lost");
    }
    if let Err(e) = state.svc.drain().await {
        tracing::error!(error = %e, "queued writes could not be finished");
    }
    state.token_uses.flush(&state.svc).await;
    state.admin_token_uses.flush(&state.svc).await;
    tasks.add("token-use flusher", flusher);
    tasks.extend(events);
    tasks.stop().await;
    tracing::info!("scimd stopped");
    Ok(())
}

/// The work events need beside requests: the webhook sender, and pruning
/// events past their retention (hourly). A host that serves scimd's router
/// itself runs these too (`examples/embedded.rs`).
pub fn event_tasks(svc: &crate::service::Service) -> TaskGuard {
    let mut tasks = TaskGuard::empty();
    // Without the key a sender could sign nothing: it would only move deliveries toward giving up.
    if svc.webhook_options().key.is_some() {
        tasks.add("webhook sender", tokio::spawn(crate::webhooks::sender::Sender::new(svc.clone()).run()));
    }
    let svc = svc.clone();
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match svc.prune_events(svc.event_retention()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned events past their retention"),
                Err(e) => tracing::warn!(error = %e, "events could not be pruned; trying again in an hour"),
            }
        }
    });
    tasks.add("event pruner", pruner);
    tasks
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    net: &NetConfig,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    metrics::gauge!("scimd_connections_open").increment(1.0);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(net.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(BareErrorsAsScim::new(stream)), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        }
        _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    metrics::gauge!("scimd_connections_open").decrement(1.0);
}

/// Refused connections answered at once; more are closed without an answer.
const REFUSALS_AT_ONCE: usize = 256;

/// Which cap a connection met.
#[derive(Clone, Copy)]
enum Refused {
    Total,
    PerAddress,
}

impl Refused {
    fn label(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::PerAddress => "per_address",
        }
    }
}

/// Connections open per client address (IPv6 by /64, as the unknown-token
/// limit counts them), so one address never holds the whole cap.
struct PerAddress {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn new(cap: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress { cap, open: Mutex::default() })
    }

    /// The counts; a lock poisoned by a panic (a bug) is logged and the
    /// counts are kept, so the cap stays on.
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|poisoned| {
            tracing::error!("the per-address connection counts' lock was poisoned by a panic; the counts are kept");
            poisoned.into_inner()
        })
    }

    /// A place for one more connection from `ip`, or `None` at its cap (0: no cap).
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = crate::ratelimit::client_key(ip);
        if self.cap > 0 {
            let mut open = self.counts();
            let n = open.entry(key).or_insert(0);
            if *n >= self.cap {
                return None;
            }
            *n += 1;
        }
        Some(AddressSlot { owner: self.clone(), key })
    }
}

struct AddressSlot {
    owner: Arc<PerAddress>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.owner.cap == 0 {
            return;
        }
        let mut open = self.owner.counts();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Past a connection cap: a short SCIM error instead of a silent reset.
/// The request is read first (for a second at most), so that a health or
/// readiness probe is still answered while every place is taken.
async fn refuse_connection(mut stream: TcpStream, why: Refused, svc: &crate::service::Service) {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 64];
    let mut len = 0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while len < head.len() && !head[..len].contains(&b'\n') {
            match stream.read(&mut head[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    })
    .await;
    let line = &head[..len];
    let response = if line.starts_with(b"GET /healthz ") {
        plain_closing_answer(200, "ok")
    } else if line.starts_with(b"GET /readyz ") {
        match svc.ping().await {
            Ok(()) => plain_closing_answer(200, "ready"),
            Err(_) => closing_scim_answer(503, "the database does not answer"),
        }
    } else {
        let detail = match why {
            Refused::Total => {
                "the server has as many connections open as it accepts (--max-connections); retry shortly"
            }
            Refused::PerAddress => {
                "this client address has as many connections open as one address may \
                 (--max-connections-per-address); close some or retry shortly"
            }
        };
        closing_scim_answer(503, detail)
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
}

/// A probe's plain-text answer, after which the connection closes.
fn plain_closing_answer(status: u16, text: &str) -> String {
    format!(
        "HTTP/1.1 {status} OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{text}",
        text.len()
    )
}

/// A whole HTTP answer written below hyper: a SCIM error, after which the
/// connection closes (a 503 also says when to come back, as the router's do).
fn closing_scim_answer(status: u16, detail: &str) -> String {
    let body = scim_core::ScimError::new(status, None, detail).to_json().to_string();
    let reason = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let retry = if status == 503 { "retry-after: 1\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        http::SCIM_JSON,
        body.len()
    )
}

/// hyper answers a request it cannot parse (a bad request line, a URL past
/// 64 KiB, too many or too large headers) itself, with an empty body. This
/// wrapper of the socket recognises those answers (a 4xx head with
/// `content-length: 0` and no content type: every answer of scimd's own has
/// one) and writes a SCIM error in their place. hyper closes the connection
/// after such an answer, so nothing follows it.
struct BareErrorsAsScim {
    /// The socket; taken at drop by the lingering close after a replacement.
    inner: Option<TcpStream>,
    /// The replacement being written, how much of it is written, and how
    /// many bytes of hyper's answer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
    /// Whether the request line of the request being read has ended. hyper
    /// answers a head past its buffer 431 whether the URL or the headers
    /// filled it; a request line that never ended makes it a 414.
    line_ended: bool,
    /// A replacement was written: the client may still be sending.
    replaced: bool,
}

impl BareErrorsAsScim {
    fn new(inner: TcpStream) -> Self {
        BareErrorsAsScim { inner: Some(inner), pending: None, line_ended: false, replaced: false }
    }

    fn io(&mut self) -> io::Result<&mut TcpStream> {
        self.inner.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

/// hyper drops the socket right after its error answer, with the rest of
/// the request (a 1 MB URL, say) unread: the kernel would then reset the
/// connection, and a client still writing might never read the answer. So
/// the socket is closed gently: our side first, then what the client still
/// sends is read and dropped, for a bounded time and size.
impl Drop for BareErrorsAsScim {
    fn drop(&mut self) {
        if !self.replaced {
            return;
        }
        let Some(mut stream) = self.inner.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                use tokio::io::AsyncReadExt;
                let _ = stream.shutdown().await;
                let mut scratch = vec![0u8; 16 * 1024];
                let mut read = 0usize;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while read < 4 << 20 {
                        match stream.read(&mut scratch).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => read += n,
                        }
                    }
                })
                .await;
            });
        }
    }
}

/// The SCIM replacement for hyper's bare error answer at the start of `buf`,
/// and the length of that answer.
fn scim_answer_for_bare_error(buf: &[u8], line_ended: bool) -> Option<(Vec<u8>, usize)> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ").or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let mut status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if status == 431 && !line_ended {
        status = 414;
    }
    if !(400..500).contains(&status) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if head.contains("\r\ncontent-type:") || !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let detail = match status {
        414 => {
            "the request URL is longer than the server accepts (at most 64 KiB): send a long filter with POST .search"
        }
        431 => "the request headers are more or larger than the server accepts (at most 100 headers)",
        400 => "the request could not be read as HTTP/1.1: check the request line, the headers and the URL encoding",
        _ => "the request could not be read",
    };
    Some((closing_scim_answer(status, detail).into_bytes(), end))
}

impl AsyncRead for BareErrorsAsScim {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(this.io()?).poll_read(cx, buf);
        if !this.line_ended && buf.filled()[before..].contains(&b'\n') {
            this.line_ended = true;
        }
        polled
    }
}

impl AsyncWrite for BareErrorsAsScim {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match scim_answer_for_bare_error(buf, this.line_ended) {
                Some((answer, stands_for)) => {
                    this.pending = Some((answer, 0, stands_for));
                    this.replaced = true;
                }
                None => {
                    // An answer: what is read next is the next request.
                    this.line_ended = false;
                    return Pin::new(this.io()?).poll_write(cx, buf);
                }
            }
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let Some((answer, written, stands_for)) = &mut this.pending else {
            return Poll::Ready(Ok(0));
        };
        while *written < answer.len() {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let done = *stands_for;
        this.pending = None;
        Poll::Ready(Ok(done))
    }

    /// Vectored writes pass through (hyper then sends a large page without
    /// copying it into its own buffer); a bare error head is always the
    /// first slice of its write, and nothing follows it.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let line_ended = this.line_ended;
        let bare =
            this.pending.is_some() || bufs.first().is_some_and(|b| scim_answer_for_bare_error(b, line_ended).is_some());
        if !bare {
            this.line_ended = false;
            return Pin::new(this.io()?).poll_write_vectored(cx, bufs);
        }
        let first: &[u8] = bufs.first().map(|b| &**b).unwrap_or_default();
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().io()?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().io()?).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::scim_answer_for_bare_error;

    #[test]
    fn a_bare_431_becomes_a_scim_error() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let (answer, len) = scim_answer_for_bare_error(hyper, true).unwrap_or_default();
        assert_eq!(len, hyper.len());
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("content-type: application/scim+json"), "{text}");
        assert!(text.contains("\"status\":\"431\""), "{text}");
    }

    #[test]
    fn answers_with_a_content_type_pass_untouched() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/scim+json\r\ncontent-length: 0\r\n\r\n";
        assert!(scim_answer_for_bare_error(ours, true).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(scim_answer_for_bare_error(ok, true).is_none());
    }
}
