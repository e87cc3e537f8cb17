//! `scimd-bench abuse`: what one hostile or broken client can do to a server.
//! Each scenario sends what an attacker holding one tenant's token (or no
//! token at all) would send, and reports the answers it got, how long they
//! took, how `/healthz` answered meanwhile and the server's memory.
//!
//! A scenario fails only on a 5xx that is not a 503 with `Retry-After` (a
//! refusal that says when to come back), or when the server stops answering:
//! never on time.
//!
//! The parts: `measure` (a scenario timed, with `/healthz` probed and memory
//! read meanwhile), `writes` (the largest writes, big and chunked bodies),
//! `connections` (idle and dripping connections, one address's flood) and `floods` (unknown
//! tokens, and one tenant past its rate). This file holds the sizes, the
//! outcome, [`run`] with the scenarios that are one request, and the table.

mod connections;
mod floods;
mod measure;
mod writes;

use crate::http::{Http, SCIM_JSON, check_loopback, id_of};
use crate::workload::{GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};
use connections::{address_flood, dripping_connections, idle_connections};
use floods::{bad_token_flood, rate_limited_flood};
use measure::{measured, send};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use writes::{big_bodies, chunked_body, large_write_vs_small};

/// Sizes of what is sent: the figures, or small ones for CI.
#[derive(Clone, Debug)]
pub(crate) struct Sizes {
    pub multi_values: usize,
    pub group_members: usize,
    pub patch_members: usize,
    pub patch_ops: usize,
    pub idle_connections: usize,
    pub dripping_connections: usize,
    pub address_flood: usize,
    pub chunked_body_bytes: usize,
    pub bad_tokens: usize,
    pub flood: usize,
    pub big_body_bytes: usize,
    pub big_bodies_at_once: usize,
    pub small_writes: usize,
}

impl Sizes {
    pub(crate) fn full() -> Sizes {
        Sizes {
            multi_values: 20_000,
            group_members: 20_000,
            patch_members: 100_000,
            patch_ops: 20_000,
            idle_connections: 1_100,
            dripping_connections: 50,
            address_flood: 4_200,
            chunked_body_bytes: 256 * 1024 * 1024,
            bad_tokens: 20_000,
            flood: 5_000,
            big_body_bytes: 10 * 1024 * 1024 - 4096,
            big_bodies_at_once: 16,
            small_writes: 200,
        }
    }
    pub(crate) fn smoke() -> Sizes {
        Sizes {
            multi_values: 2_000,
            group_members: 12_000,
            patch_members: 20_000,
            patch_ops: 2_000,
            idle_connections: 200,
            dripping_connections: 10,
            address_flood: 700,
            chunked_body_bytes: 30 * 1024 * 1024,
            bad_tokens: 500,
            flood: 600,
            big_body_bytes: 1024 * 1024,
            big_bodies_at_once: 4,
            small_writes: 30,
        }
    }
}

pub(crate) struct Target {
    /// The attacked tenant.
    pub scim: Http,
    /// Another tenant, whose small writes should not notice.
    pub other: Option<Http>,
    /// `http://host:port`, for `/healthz` and raw connections.
    pub root: String,
    pub server_pid: Option<u32>,
}

/// One scenario's outcome.
pub(crate) struct Outcome {
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
    pub(crate) fn to_json(&self) -> Value {
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
pub(crate) const SCENARIOS: &[&str] = &[
    "multi_values",
    "group_members",
    "patch_members",
    "patch_operations",
    "large_write_vs_small",
    "idle_connections",
    "dripping_connections",
    "address_flood",
    "big_bodies",
    "chunked_body",
    "bad_token_flood",
    "rate_limited_flood",
];

/// The scenarios named in `only` (all when empty), in order; the floods
/// last (they empty the tenant's bucket).
pub(crate) async fn run(t: &Target, sizes: &Sizes, run_id: &str, only: &[String]) -> Vec<Outcome> {
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
    if wants("address_flood") {
        out.push(address_flood(t, sizes).await);
    }
    if wants("big_bodies") {
        out.extend(big_bodies(t, sizes, run_id).await);
    }
    if wants("chunked_body") {
        out.push(chunked_body(t, sizes).await);
    }
    if wants("bad_token_flood") {
        out.push(bad_token_flood(t, sizes).await);
    }
    if wants("rate_limited_flood") {
        out.push(rate_limited_flood(t, sizes).await);
    }
    out
}

pub(crate) fn table(outcomes: &[Outcome]) -> String {
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

pub(crate) fn root_of(base: &str) -> Result<String, String> {
    check_loopback(base)?;
    let after_scheme = base.strip_prefix("http://").ok_or("only http:// URLs")?;
    let host = after_scheme.split('/').next().unwrap_or(after_scheme);
    Ok(format!("http://{host}"))
}

/// Is the server still there?
pub(crate) async fn alive(root: &str) -> bool {
    let Ok(c) = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build() else { return false };
    c.get(format!("{root}/healthz")).header("accept", SCIM_JSON).send().await.is_ok_and(|r| r.status().is_success())
}
