//! `scimd-bench abuse`: what one hostile or broken client can do to a server.
//! Each scenario sends what an attacker holding one tenant's token (or no
//! token at all) would send, and reports the answers it got, how long they
//! took, how `/healthz` answered meanwhile and the server's memory.
//!
//! A scenario fails only on a 5xx that is not a 503 with `Retry-After` (a
//! refusal that says when to come back), or when the server stops answering:
//! never on time.

use crate::http::{Http, SCIM_JSON, check_loopback, id_of};
use crate::workload::{GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sizes of what is sent: the figures, or small ones for CI.
#[derive(Clone, Debug)]
pub struct Sizes {
    pub multi_values: usize,
    pub group_members: usize,
    pub patch_members: usize,
    pub patch_ops: usize,
    pub idle_connections: usize,
    pub dripping_connections: usize,
    pub bad_tokens: usize,
    pub flood: usize,
    pub big_body_bytes: usize,
    pub big_bodies_at_once: usize,
    pub small_writes: usize,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            multi_values: 20_000,
            group_members: 20_000,
            patch_members: 100_000,
            patch_ops: 20_000,
            idle_connections: 1_100,
            dripping_connections: 50,
            bad_tokens: 20_000,
            flood: 5_000,
            big_body_bytes: 10 * 1024 * 1024 - 4096,
            big_bodies_at_once: 16,
            small_writes: 200,
        }
    }
    pub fn smoke() -> Sizes {
        Sizes {
            multi_values: 2_000,
            group_members: 12_000,
            patch_members: 20_000,
            patch_ops: 2_000,
            idle_connections: 200,
            dripping_connections: 10,
            bad_tokens: 500,
            flood: 600,
            big_body_bytes: 1024 * 1024,
            big_bodies_at_once: 4,
            small_writes: 30,
        }
    }
}

pub struct Target {
    /// The attacked tenant.
    pub scim: Http,
    /// Another tenant, whose small writes should not notice.
    pub other: Option<Http>,
    /// `http://host:port`, for `/healthz` and raw connections.
    pub root: String,
    pub server_pid: Option<u32>,
}

/// One scenario's outcome.
pub struct Outcome {
    pub name: &'static str,
    pub sent: String,
    /// Status (or "conn-error", "closed") -> count.
    pub answers: BTreeMap<String, u64>,
    pub secs: f64,
    pub healthz_p50_ms: Option<f64>,
    pub healthz_max_ms: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub rss_after_mib: Option<f64>,
    pub note: String,
    pub failed: Option<String>,
}

impl Outcome {
    fn new(name: &'static str, sent: String) -> Outcome {
        Outcome {
            name,
            sent,
            answers: BTreeMap::new(),
            secs: 0.0,
            healthz_p50_ms: None,
            healthz_max_ms: None,
            peak_rss_mib: None,
            rss_after_mib: None,
            note: String::new(),
            failed: None,
        }
    }
    fn count(&mut self, answer: impl Into<String>) {
        *self.answers.entry(answer.into()).or_default() += 1;
    }
    fn answers_text(&self) -> String {
        self.answers.iter().map(|(k, v)| format!("{v}x{k}")).collect::<Vec<_>>().join(" ")
    }
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name, "sent": self.sent, "answers": self.answers, "secs": self.secs,
            "healthz_p50_ms": self.healthz_p50_ms, "healthz_max_ms": self.healthz_max_ms,
            "peak_rss_mib": self.peak_rss_mib, "rss_after_mib": self.rss_after_mib,
            "note": self.note, "failed": self.failed,
        })
    }
}

fn status_of(status: u16, retry_after: bool) -> String {
    if status == 503 && retry_after { "503+retry".into() } else { status.to_string() }
}

/// A 5xx other than a 503 that says when to retry.
fn is_failure(answer: &str) -> bool {
    answer.starts_with('5') && answer != "503+retry"
}

/// `/healthz` every 20 ms on a connection of its own while a scenario runs.
struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl Probe {
    fn start(root: &str) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{root}/healthz");
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let client = match reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build() {
                Ok(c) => c,
                Err(_) => return Vec::new(),
            };
            let mut took = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = client.get(&url).send().await.is_ok_and(|r| r.status().is_success());
                took.push(if ok { t.elapsed().as_secs_f64() * 1000.0 } else { f64::INFINITY });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            took
        });
        Probe { stop, task }
    }

    async fn finish(self, out: &mut Outcome) {
        self.stop.store(true, Ordering::Relaxed);
        let mut took = self.task.await.unwrap_or_default();
        took.sort_by(f64::total_cmp);
        if took.iter().any(|t| t.is_infinite()) {
            out.note.push_str(" /healthz failed during the scenario;");
        }
        let finite: Vec<f64> = took.into_iter().filter(|t| t.is_finite()).collect();
        out.healthz_p50_ms = finite.get(finite.len() / 2).copied();
        out.healthz_max_ms = finite.last().copied();
    }
}

fn status_file(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|kb| kb / 1024.0)
}

/// Reset the peak resident size (Linux: `5` to clear_refs), so each
/// scenario reports its own peak. Without permission the peak is the process's.
fn reset_peak(pid: Option<u32>) {
    if let Some(pid) = pid {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
}

async fn measured<F, Fut>(t: &Target, name: &'static str, sent: String, work: F) -> Outcome
where
    F: FnOnce(Outcome) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    reset_peak(t.server_pid);
    let probe = Probe::start(&t.root);
    let started = Instant::now();
    let mut out = work(Outcome::new(name, sent)).await;
    out.secs = started.elapsed().as_secs_f64();
    probe.finish(&mut out).await;
    if let Some(pid) = t.server_pid {
        out.peak_rss_mib = status_file(pid, "VmHWM:");
        out.rss_after_mib = status_file(pid, "VmRSS:");
    }
    if let Some(bad) = out.answers.keys().find(|a| is_failure(a)) {
        out.failed = Some(format!("answered {bad}"));
    }
    out
}

async fn send(http: &Http, method: Method, path: &str, body: Option<String>) -> (String, Vec<u8>) {
    match http.call_with_headers(method, path, body).await {
        Ok((status, retry, bytes)) => (status_of(status, retry), bytes),
        Err(_) => ("conn-error".into(), Vec::new()),
    }
}

fn user(name: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": name, "active": true})
}

async fn make_user(http: &Http, name: &str) -> Result<String, String> {
    let bytes = http.expect(Method::POST, "/Users", Some(user(name).to_string()), &[201]).await?;
    id_of(&bytes)
}

async fn make_group(http: &Http, name: &str) -> Result<String, String> {
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": []});
    id_of(&http.expect(Method::POST, "/Groups", Some(body.to_string()), &[201]).await?)
}

fn member_values(n: usize, run: &str) -> Vec<Value> {
    (0..n).map(|i| json!({"value": format!("{run}-member-{i}")})).collect()
}

/// Every scenario, in order.
pub const SCENARIOS: &[&str] = &[
    "multi_values",
    "group_members",
    "patch_members",
    "patch_operations",
    "large_write_vs_small",
    "idle_connections",
    "dripping_connections",
    "big_bodies",
    "bad_token_flood",
    "rate_limited_flood",
];

/// The scenarios named in `only` (all when empty), in order; the floods
/// last (they empty the tenant's bucket).
pub async fn run(t: &Target, sizes: &Sizes, run_id: &str, only: &[String]) -> Vec<Outcome> {
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut out = Vec::new();
    let victim = match make_user(&t.scim, &format!("{run_id}-victim@example.com")).await {
        Ok(id) => id,
        Err(e) => {
            let mut o = Outcome::new("setup", "a user to patch".into());
            o.failed = Some(e);
            return vec![o];
        }
    };
    let group = make_group(&t.scim, &format!("{run_id}-group")).await.unwrap_or_default();

    let n = sizes.multi_values;
    if wants("multi_values") {
        out.push(
            measured(t, "multi_values", format!("POST /Users with {n} emails"), |mut o| async move {
                let emails: Vec<Value> =
                    (0..n).map(|i| json!({"value": format!("{run_id}.{i}@example.com"), "type": "work"})).collect();
                let mut body = user(&format!("{run_id}-many@example.com"));
                body["emails"] = Value::Array(emails);
                o.count(send(&t.scim, Method::POST, "/Users", Some(body.to_string())).await.0);
                o
            })
            .await,
        );
    }

    let n = sizes.group_members;
    if wants("group_members") {
        out.push(
            measured(t, "group_members", format!("POST /Groups with {n} members"), |mut o| async move {
                let body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("{run_id}-big"),
                              "members": member_values(n, run_id)});
                o.count(send(&t.scim, Method::POST, "/Groups", Some(body.to_string())).await.0);
                o
            })
            .await,
        );
    }

    let n = sizes.patch_members;
    let path = format!("/Groups/{group}");
    if wants("patch_members") {
        out.push(
            measured(t, "patch_members", format!("PATCH a group with {n} member values"), |mut o| async move {
                let body = json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": member_values(n, run_id)}]});
                o.count(send(&t.scim, Method::PATCH, &path, Some(body.to_string())).await.0);
                o
            })
            .await,
        );
    }

    let n = sizes.patch_ops;
    let path = format!("/Users/{victim}");
    if wants("patch_operations") {
        out.push(
            measured(t, "patch_operations", format!("PATCH a user with {n} operations"), |mut o| async move {
                let ops: Vec<Value> =
                    (0..n).map(|i| json!({"op": "replace", "path": "displayName", "value": format!("d{i}")})).collect();
                let body = json!({"schemas": [PATCH_OP], "Operations": ops});
                o.count(send(&t.scim, Method::PATCH, &path, Some(body.to_string())).await.0);
                o
            })
            .await,
        );
    }

    if wants("large_write_vs_small") {
        out.push(large_write_vs_small(t, sizes, run_id, &victim, &group).await);
    }
    if wants("idle_connections") {
        out.push(idle_connections(t, sizes).await);
    }
    if wants("dripping_connections") {
        out.push(dripping_connections(t, sizes).await);
    }
    if wants("big_bodies") {
        out.extend(big_bodies(t, sizes, run_id).await);
    }
    if wants("bad_token_flood") {
        out.push(bad_token_flood(t, sizes).await);
    }
    if wants("rate_limited_flood") {
        out.push(rate_limited_flood(t, sizes).await);
    }
    out
}

/// Small creates in another tenant, alone and then while this tenant sends
/// the largest writes the limits allow.
async fn large_write_vs_small(t: &Target, sizes: &Sizes, run_id: &str, victim: &str, group: &str) -> Outcome {
    let small = t.other.clone().unwrap_or_else(|| t.scim.clone());
    let n = sizes.small_writes;
    let sent =
        format!("{n} small creates in another tenant, alone, then beside 1,000-op PATCHes and 10,000-member PUTs");
    measured(t, "large_write_vs_small", sent, |mut o| async move {
        // Paced below any default rate limit: this measures waiting, not refusals.
        async fn creates(http: &Http, n: usize, tag: &str, o: &mut Outcome) -> Vec<f64> {
            let mut took = Vec::with_capacity(n);
            for i in 0..n {
                let t0 = Instant::now();
                let (answer, _) =
                    send(http, Method::POST, "/Users", Some(user(&format!("{tag}-{i}@example.com")).to_string())).await;
                took.push(t0.elapsed().as_secs_f64() * 1000.0);
                o.count(answer);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            took.sort_by(f64::total_cmp);
            took
        }
        let alone = creates(&small, n, &format!("{run_id}-alone"), &mut o).await;
        let stop = Arc::new(AtomicBool::new(false));
        let (big, flag) = (t.scim.clone(), stop.clone());
        let (victim, group) = (victim.to_string(), group.to_string());
        let run = run_id.to_string();
        let heavy = tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let ops: Vec<Value> = (0..1000)
                    .map(|k| json!({"op": "replace", "path": "displayName", "value": format!("h{i}-{k}")}))
                    .collect();
                let body = json!({"schemas": [PATCH_OP], "Operations": ops}).to_string();
                answers.push(send(&big, Method::PATCH, &format!("/Users/{victim}"), Some(body)).await.0);
                let body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("{run}-group"),
                                  "members": member_values(10_000, &format!("{run}-{i}"))})
                .to_string();
                answers.push(send(&big, Method::PUT, &format!("/Groups/{group}"), Some(body)).await.0);
                i += 1;
            }
            answers
        });
        let beside = creates(&small, n, &format!("{run_id}-beside"), &mut o).await;
        stop.store(true, Ordering::Relaxed);
        let heavy_answers = heavy.await.unwrap_or_default();
        let large = heavy_answers.len();
        for a in heavy_answers {
            o.count(format!("large:{a}"));
        }
        let q = |v: &[f64], p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
        o.note = format!(
            "small create alone p50 {:.2} / p99 {:.2} / max {:.2} ms; beside {large} large writes p50 {:.2} / p99 {:.2} / max {:.2} ms{}",
            q(&alone, 0.5),
            q(&alone, 0.99),
            q(&alone, 1.0),
            q(&beside, 0.5),
            q(&beside, 0.99),
            q(&beside, 1.0),
            if t.other.is_none() { " (same tenant: no other tenant given)" } else { "" }
        );
        o
    })
    .await
}

/// Connections that connect and send nothing, while others are served.
async fn idle_connections(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.idle_connections;
    let addr = t.root.trim_start_matches("http://").to_string();
    measured(t, "idle_connections", format!("{n} idle TCP connections, then GET /healthz"), |mut o| async move {
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            match TcpStream::connect(&addr).await {
                Ok(c) => held.push(c),
                Err(_) => o.count("connect-refused"),
            }
        }
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build();
        let t0 = Instant::now();
        match client {
            Ok(c) => match c.get(format!("http://{addr}/healthz")).send().await {
                Ok(r) => o.count(format!("healthz:{}", r.status().as_u16())),
                Err(_) => o.count("healthz:conn-error"),
            },
            Err(_) => o.count("healthz:no-client"),
        }
        o.note = format!(
            "{} held open; a new client's /healthz took {:.1} ms",
            held.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        drop(held);
        o
    })
    .await
}

/// Slowloris: headers one byte at a time; how long until the server hangs up.
async fn dripping_connections(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.dripping_connections;
    let addr = t.root.trim_start_matches("http://").to_string();
    measured(
        t,
        "dripping_connections",
        format!("{n} connections sending a header byte every 500 ms"),
        |mut o| async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let addr = addr.clone();
                    tokio::spawn(async move {
                        let t0 = Instant::now();
                        let Ok(mut c) = TcpStream::connect(&addr).await else { return (false, 0.0) };
                        if c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: ").await.is_err() {
                            return (true, t0.elapsed().as_secs_f64());
                        }
                        let mut buf = [0u8; 512];
                        while t0.elapsed() < Duration::from_secs(60) {
                            if c.write_all(b"a").await.is_err() {
                                return (true, t0.elapsed().as_secs_f64());
                            }
                            match tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await {
                                Ok(Ok(0)) | Ok(Err(_)) => return (true, t0.elapsed().as_secs_f64()),
                                _ => {}
                            }
                        }
                        (false, t0.elapsed().as_secs_f64())
                    })
                })
                .collect();
            let mut longest: f64 = 0.0;
            for task in tasks {
                let (closed, secs) = task.await.unwrap_or((false, 0.0));
                o.count(if closed { "closed-by-server" } else { "still-open-at-60s" });
                longest = longest.max(secs);
            }
            o.note = format!("the last one was closed after {longest:.1} s");
            if o.answers.contains_key("still-open-at-60s") {
                o.failed = Some("dripping connections were never closed".into());
            }
            o
        },
    )
    .await
}

/// One body just under the size limit, then several at once; the memory
/// they cost, and what is left after a pause.
async fn big_bodies(t: &Target, sizes: &Sizes, run_id: &str) -> Vec<Outcome> {
    let (bytes, k) = (sizes.big_body_bytes, sizes.big_bodies_at_once);
    let mib = bytes as f64 / 1048576.0;
    let body = move |i: usize| {
        let mut u = user(&format!("{run_id}-big{i}@example.com"));
        u["title"] = json!("t".repeat(bytes.saturating_sub(200)));
        u.to_string()
    };
    let rss = || t.server_pid.and_then(|p| status_file(p, "VmRSS:"));
    let before = rss();
    let mut once = measured(t, "big_body", format!("POST /Users of {mib:.1} MiB"), |mut o| async move {
        o.count(send(&t.scim, Method::POST, "/Users", Some(body(0))).await.0);
        // Give the allocator a moment to hand memory back.
        tokio::time::sleep(Duration::from_secs(2)).await;
        o
    })
    .await;
    if let (Some(b), Some(p)) = (before, once.peak_rss_mib) {
        once.note = format!("RSS before {b:.1} MiB; peak - before = {:.1} MiB = {:.1}x the body", p - b, (p - b) / mib);
    }
    let before = rss();
    let mut many =
        measured(t, "big_bodies_at_once", format!("{k} POST /Users of {mib:.1} MiB at once"), |mut o| async move {
            let tasks: Vec<_> = (1..=k)
                .map(|i| {
                    let (http, b) = (t.scim.clone(), body(i));
                    tokio::spawn(async move { send(&http, Method::POST, "/Users", Some(b)).await.0 })
                })
                .collect();
            for task in tasks {
                o.count(task.await.unwrap_or_else(|_| "task-failed".into()));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            o
        })
        .await;
    if let Some(b) = before {
        many.note = format!("RSS before {b:.1} MiB");
    }
    vec![once, many]
}

/// Requests with tokens the server never issued.
async fn bad_token_flood(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.bad_tokens;
    let base = t.scim.base().to_string();
    measured(t, "bad_token_flood", format!("{n} requests with unknown tokens, 32 at a time"), |mut o| async move {
        let Ok(bad) = Http::new(&base, Some("scimd_not_a_token"), 32, Duration::from_secs(30)) else {
            o.failed = Some("no client".into());
            return o;
        };
        let answers = flood(&bad, n).await;
        for a in answers {
            o.count(a);
        }
        o
    })
    .await
}

/// One tenant sending far past its rate.
async fn rate_limited_flood(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.flood;
    measured(
        t,
        "rate_limited_flood",
        format!("{n} GET /Users?count=1 with the tenant's token, 32 at a time"),
        |mut o| async move {
            for a in flood(&t.scim, n).await {
                o.count(a);
            }
            o
        },
    )
    .await
}

async fn flood(http: &Http, n: usize) -> Vec<String> {
    let per = n.div_ceil(32);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(per);
                for _ in 0..per {
                    answers.push(send(&http, Method::GET, "/Users?count=1", None).await.0);
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## abuse\n");
    let _ = writeln!(
        s,
        "| scenario | sent | answers | time s | /healthz p50 / max ms | peak RSS MiB | RSS after MiB | note |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
    for o in outcomes {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} / {} | {} | {} | {}{} |",
            o.name,
            o.sent,
            o.answers_text(),
            o.secs,
            f(o.healthz_p50_ms),
            f(o.healthz_max_ms),
            f(o.peak_rss_mib),
            f(o.rss_after_mib),
            o.note.trim(),
            o.failed.as_deref().map(|e| format!(" **FAILED: {e}**")).unwrap_or_default()
        );
    }
    s
}

pub fn root_of(base: &str) -> Result<String, String> {
    check_loopback(base)?;
    let after_scheme = base.strip_prefix("http://").ok_or("only http:// URLs")?;
    let host = after_scheme.split('/').next().unwrap_or(after_scheme);
    Ok(format!("http://{host}"))
}

/// Is the server still there?
pub async fn alive(root: &str) -> bool {
    let Ok(c) = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build() else { return false };
    c.get(format!("{root}/healthz")).header("accept", SCIM_JSON).send().await.is_ok_and(|r| r.status().is_success())
}
