//! `scimd-bench events`: how fast scimd delivers webhooks, and how fast its
//! event feed pages, measured from outside.
//!
//! Delivery: a receiver of this tool's own (HTTP/1.1, keep-alive, 204 to
//! everything but its first request) on loopback; a webhook to it is made
//! and disabled by a 410 on its first delivery; N users are created (N
//! events wait, fanned out once the endpoint is on again); then the endpoint
//! is enabled and the time until the receiver has every one is taken: the
//! rate of the whole path (fan-out, lease, sign, send, record). The scimd
//! under test runs with `--webhook-allow-private-targets`.
//!
//! Feed: pages of 100 at cursors spread over the whole feed (the first
//! walk with limit=1000 collects them), then each timed at concurrency 1.

use crate::http::Http;
use crate::stats::{Recorder, quantile};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Requests the receiver got.
#[derive(Default)]
pub(crate) struct Received {
    count: AtomicU64,
    /// The `webhook-id` of each request, in arrival order.
    ids: std::sync::Mutex<Vec<String>>,
}

/// Serve webhook requests on 127.0.0.1: the first is answered 410, the rest 204.
pub(crate) async fn receiver() -> Result<(String, Arc<Received>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let url = format!("http://{}/hook", listener.local_addr().map_err(|e| e.to_string())?);
    let received = Arc::new(Received::default());
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        match stream.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if !first && let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            } else if name.eq_ignore_ascii_case("webhook-id")
                                && let Ok(mut ids) = counter.ids.lock()
                            {
                                ids.push(value.trim().to_string());
                            }
                        }
                        first = false;
                    }
                    let mut body = vec![0u8; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let n = counter.count.fetch_add(1, Ordering::Relaxed);
                    let answer: &[u8] = if n == 0 {
                        b"HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n\r\n"
                    } else {
                        b"HTTP/1.1 204 No Content\r\n\r\n"
                    };
                    if stream.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((url, received))
}

pub(crate) struct DeliveryResult {
    pub events: u64,
    pub write_rate: f64,
    pub seconds: f64,
    pub rate: f64,
}

async fn json_of(admin: &Http, method: Method, path: &str, body: Option<Value>, ok: &[u16]) -> Result<Value, String> {
    let bytes = admin.expect(method, path, body.map(|b| b.to_string()), ok).await?;
    crate::http::parse(&bytes)
}

/// Wait until `done` holds, up to `limit`.
async fn until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> Result<bool, String>) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(format!("timed out waiting for {what}"))
}

/// Wait until the webhook `id` is disabled (the receiver's first answer is a 410).
async fn disabled_by_its_410(admin: &Http, id: &str) -> Result<(), String> {
    until(Duration::from_secs(60), "the webhook to be disabled by its 410", async || {
        let w = json_of(admin, Method::GET, &format!("/webhooks/{id}"), None, &[200]).await?;
        Ok(w.get("enabled") == Some(&Value::Bool(false)))
    })
    .await
}

/// Enable the webhook `id` and time until the receiver has `total` events
/// besides the refused first one; then delete the webhook. Answers the seconds.
async fn release_backlog(admin: &Http, id: &str, received: &Received, total: u64) -> Result<f64, String> {
    let enabled = Instant::now();
    json_of(admin, Method::POST, &format!("/webhooks/{id}/enable"), None, &[200]).await?;
    until(Duration::from_secs(600), "every event to reach the receiver", async || {
        Ok(received.count.load(Ordering::Relaxed) > total)
    })
    .await?;
    let seconds = enabled.elapsed().as_secs_f64();
    admin.expect(Method::DELETE, &format!("/webhooks/{id}"), None, &[204]).await?;
    Ok(seconds)
}

pub(crate) async fn delivery(
    scim: &Http,
    admin: &Http,
    events: u64,
    concurrency: usize,
    run_id: &str,
) -> Result<DeliveryResult, String> {
    let (url, received) = receiver().await?;
    let hook = json_of(admin, Method::POST, "/webhooks", Some(json!({"url": url, "events": ["user.created"]})), &[201])
        .await?;
    let id = hook.get("id").and_then(Value::as_str).ok_or("the webhook has no id")?.to_string();
    let (scim, run_id) = (scim.clone(), Arc::<str>::from(run_id));
    let create = move |i: u64| {
        let user_name = format!("{run_id}-ev{i}@bench.test");
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name});
        let scim = scim.clone();
        async move { scim.expect(Method::POST, "/Users", Some(body.to_string()), &[201]).await.map(|_| ()) }
    };
    create(0).await?;
    disabled_by_its_410(admin, &id).await?;
    // N events while the endpoint is off: they wait in the feed.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(1));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, create) = (next.clone(), create.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > events {
                    return Ok::<(), String>(());
                }
                create(i).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let write_rate = events as f64 / started.elapsed().as_secs_f64();
    let total = events + 1;
    let seconds = release_backlog(admin, &id, &received, total).await?;
    Ok(DeliveryResult { events: total, write_rate, seconds, rate: total as f64 / seconds })
}

pub(crate) struct GroupDeliveryResult {
    pub events: u64,
    pub seconds: f64,
    pub rate: f64,
    /// Each event reached the receiver first in feed order.
    pub in_order: bool,
}

/// One subject's backlog: `members` users are created, the webhook (for
/// `group.` events) is disabled by its 410, then one group gets them all
/// (a group push: one `group.member_added` per member, one subject); the
/// endpoint is enabled and the time until the receiver has every event is
/// taken, and their order compared with the feed's.
pub(crate) async fn group_delivery(
    scim: &Http,
    admin: &Http,
    members: u64,
    concurrency: usize,
    run_id: &str,
) -> Result<GroupDeliveryResult, String> {
    let (url, received) = receiver().await?;
    let hook =
        json_of(admin, Method::POST, "/webhooks", Some(json!({"url": url, "events": ["group."]})), &[201]).await?;
    let id = hook.get("id").and_then(Value::as_str).ok_or("the webhook has no id")?.to_string();
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, ids, scim, run_id) = (next.clone(), ids.clone(), scim.clone(), run_id.to_string());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= members {
                    return Ok::<(), String>(());
                }
                let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                  "userName": format!("{run_id}-gm{i}@bench.test")});
                let made = scim.expect(Method::POST, "/Users", Some(body.to_string()), &[201]).await?;
                let id = crate::http::parse(&made)?.get("id").and_then(Value::as_str).map(str::to_string);
                if let (Some(id), Ok(mut ids)) = (id, ids.lock()) {
                    ids.push(id);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let ids: Vec<String> = ids.lock().map(|ids| ids.clone()).map_err(|_| "the user ids were lost")?;
    // The group's creation is the first event: its 410 disables the endpoint.
    let body =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("{run_id} push")});
    let group = crate::http::parse(&scim.expect(Method::POST, "/Groups", Some(body.to_string()), &[201]).await?)?;
    let group_id = group.get("id").and_then(Value::as_str).ok_or("the group has no id")?.to_string();
    disabled_by_its_410(admin, &id).await?;
    for chunk in ids.chunks(1000) {
        let values: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": "add", "path": "members", "value": values}]});
        scim.expect(Method::PATCH, &format!("/Groups/{group_id}"), Some(patch.to_string()), &[200, 204]).await?;
    }
    let total = members + 1;
    let seconds = release_backlog(admin, &id, &received, total).await?;
    // The feed's order of the group's events against the order they arrived in.
    let mut feed = Vec::new();
    let mut after = String::new();
    loop {
        let page =
            json_of(admin, Method::GET, &format!("/events?limit=1000&type=group.&after={after}"), None, &[200]).await?;
        let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        if data.is_empty() {
            break;
        }
        feed.extend(data.iter().filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_string)));
        after = page.get("next").and_then(Value::as_str).unwrap_or_default().to_string();
    }
    let arrived: Vec<String> =
        received.ids.lock().map(|ids| ids.clone()).map_err(|_| "the receiver's ids were lost")?;
    let mut seen = std::collections::HashSet::new();
    let first_arrivals: Vec<&String> = arrived.iter().filter(|id| seen.insert(id.as_str())).collect();
    let in_order = first_arrivals.len() == feed.len() && first_arrivals.iter().zip(&feed).all(|(a, f)| *a == f);
    Ok(GroupDeliveryResult { events: total, seconds, rate: total as f64 / seconds, in_order })
}

pub(crate) struct FeedResult {
    pub events: u64,
    pub walk_seconds: f64,
    pub page: Recorder,
    pub typed_page: Recorder,
}

/// Walk the whole feed, then time pages of 100 at cursors spread over it.
pub(crate) async fn feed(admin: &Http, pages: usize) -> Result<FeedResult, String> {
    let started = Instant::now();
    let mut cursors = vec![String::new()];
    let mut after = String::new();
    let mut events = 0u64;
    loop {
        let page = json_of(admin, Method::GET, &format!("/events?limit=1000&after={after}"), None, &[200]).await?;
        let n = page.get("data").and_then(Value::as_array).map_or(0, Vec::len);
        if n == 0 {
            break;
        }
        events += n as u64;
        after = page.get("next").and_then(Value::as_str).ok_or("a full page without 'next'")?.to_string();
        cursors.push(after.clone());
    }
    let walk_seconds = started.elapsed().as_secs_f64();
    let step = (cursors.len() / pages.max(1)).max(1);
    let mut page = Recorder::default();
    let mut typed_page = Recorder::default();
    for cursor in cursors.iter().step_by(step).take(pages) {
        let t = Instant::now();
        admin.expect(Method::GET, &format!("/events?limit=100&after={cursor}"), None, &[200]).await?;
        page.record(t.elapsed(), Ok(()));
        let t = Instant::now();
        admin.expect(Method::GET, &format!("/events?limit=100&type=user.&after={cursor}"), None, &[200]).await?;
        typed_page.record(t.elapsed(), Ok(()));
    }
    Ok(FeedResult { events, walk_seconds, page, typed_page })
}

/// (p50, p99) in milliseconds.
pub(crate) fn p50_p99(r: &Recorder) -> (f64, f64) {
    let mut sorted = r.lat_us.clone();
    sorted.sort_unstable();
    (f64::from(quantile(&sorted, 0.5)) / 1000.0, f64::from(quantile(&sorted, 0.99)) / 1000.0)
}
