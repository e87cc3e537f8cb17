//! The scenarios, and the closed-loop driver that runs them: `concurrency`
//! workers, each sending its next request as soon as the last one answered,
//! for a duration or a number of operations.
//!
//! The parts: `drive` (the closed-loop driver, its random numbers and stop
//! conditions), `bodies` (the request bodies and paths sent), `scenarios`
//! ([`run_bare`] and [`run_target`], the plan's scenarios in order), `group`
//! (one group filled and its single member changes timed) and `okta` (an
//! Okta import and assignment wave). This file holds the plan, the report
//! and the runner they share.

mod bodies;
mod drive;
mod group;
mod okta;
mod scenarios;

use crate::http::{Http, id_of, parse, scan_int};
use crate::stats::{ScenarioResult, Snapshot};
use bodies::user_body;
use reqwest::Method;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub(crate) use drive::{Op, Rng, Stop, drive};
pub(crate) use scenarios::{run_bare, run_target};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every scenario, in the order they run.
pub(crate) const SCENARIOS: &[&str] = &[
    "seed_users",
    "get_by_id",
    "filter_username",
    "patch_active",
    "list_page_100",
    "list_page_deep",
    "group_fill",
    "member_add_remove",
    "group_get_excluded_members",
    "mixed_okta",
];

/// Scenarios run only when named (`--scenarios`): servers without Bulk
/// would only fail them.
pub(crate) const NAMED_ONLY: &[&str] =
    &["singles_create", "bulk_create", "cursor_pages", "filter_last_modified", "list_page_middle"];

/// Creates in the Bulk comparison: one Bulk request of this many POSTs
/// against as many single POSTs one after the other.
pub(crate) const BULK_CREATES: usize = 1000;

/// The workload for one target, every default resolved.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub concurrency: usize,
    pub duration: Duration,
    pub users: usize,
    pub group_sizes: Vec<usize>,
    pub scenarios: Vec<String>,
    /// Remove-then-add pairs per group size (at most; the duration also bounds them).
    pub member_ops: usize,
    /// Provisioning events in the Okta assignment wave (at most; the duration also bounds them).
    pub wave: usize,
    /// Do not create users: sample the target's existing ones.
    pub existing_users: bool,
    pub sample: usize,
    /// Most time the group fill may take before the larger sizes are skipped.
    pub fill_cap: Duration,
    pub seed: u64,
    /// `filter_last_modified` asks for `meta.lastModified gt` this time.
    pub modified_after: Option<String>,
    pub run_id: String,
    pub server_pid: Option<u32>,
}

impl Plan {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub user_name: String,
}

/// A target's results.
pub(crate) struct TargetReport {
    pub label: String,
    pub base_url: String,
    pub users: usize,
    /// The users on the target when they were sampled (`--existing-users`).
    pub total_users: Option<u64>,
    pub scenarios: Vec<ScenarioResult>,
    pub notes: Vec<String>,
}

impl TargetReport {
    pub(crate) fn get(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
    pub(crate) fn errors(&self) -> u64 {
        self.scenarios.iter().map(|s| s.errors).sum()
    }
}

struct Runner<'a> {
    http: Http,
    plan: &'a Plan,
    report: TargetReport,
    seed: u64,
}

impl Runner<'_> {
    fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x1234_5678_9ABC_DEF1);
        self.seed
    }

    fn push(&mut self, r: ScenarioResult) {
        print_progress(&self.report.label, &r);
        self.report.scenarios.push(r);
    }

    /// Run a closed-loop scenario and record it.
    async fn scenario(&mut self, name: &str, concurrency: usize, stop: Stop, op: Op, note: Option<String>) {
        let snap = Snapshot::take(self.plan.server_pid);
        let seed = self.next_seed();
        let (rec, took) = drive(concurrency, stop, seed, op).await;
        let r = snap.finish_with_secs(name, concurrency, rec, note, took.as_secs_f64());
        self.push(r);
    }

    /// POST `count` users numbered from `from`; returns the ones created.
    async fn create_users(&mut self, name: &str, from: usize, count: usize) -> Vec<User> {
        let slots: Arc<Vec<OnceLock<User>>> = Arc::new((0..count).map(|_| OnceLock::new()).collect());
        let (http, run_id, s) = (self.http.clone(), self.plan.run_id.clone(), slots.clone());
        let op: Op = Arc::new(move |i, _| {
            let (http, s) = (http.clone(), s.clone());
            let n = from as u64 + i;
            let user_name = format!("{run_id}-{n}@bench.example");
            Box::pin(async move {
                let body = http.expect(Method::POST, "/Users", Some(user_body(&user_name, n)), &[201]).await?;
                let id = id_of(&body)?;
                if let Some(slot) = s.get(usize::try_from(i).unwrap_or(usize::MAX)) {
                    let _ = slot.set(User { id, user_name });
                }
                Ok(())
            })
        });
        let note = Some(format!("POST /Users, users {from}..{}", from + count));
        self.scenario(name, self.plan.concurrency, Stop::Count(count as u64), op, note).await;
        match Arc::try_unwrap(slots) {
            Ok(v) => v.into_iter().filter_map(OnceLock::into_inner).collect(),
            Err(shared) => shared.iter().filter_map(|s| s.get().cloned()).collect(),
        }
    }

    /// POST `count` users numbered from `from`, one request at a time;
    /// answers how many were created.
    async fn create_users_one_at_a_time(&mut self, name: &str, from: usize, count: usize) -> usize {
        let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (http, run_id, done) = (self.http.clone(), self.plan.run_id.clone(), created.clone());
        let op: Op = Arc::new(move |i, _| {
            let (http, done) = (http.clone(), done.clone());
            let n = from as u64 + i;
            let user_name = format!("{run_id}-{n}@bench.example");
            Box::pin(async move {
                http.expect(Method::POST, "/Users", Some(user_body(&user_name, n)), &[201]).await?;
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
        });
        let note = Some(format!("{count} POST /Users, one at a time"));
        self.scenario(name, 1, Stop::Count(count as u64), op, note).await;
        created.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The total number of users on the target.
    async fn total_users(&self) -> Result<u64, String> {
        let body = self.http.expect(Method::GET, "/Users?count=1&attributes=userName", None, &[200]).await?;
        scan_int(&body, "totalResults").ok_or_else(|| "the list response has no totalResults".to_string())
    }

    /// Sample up to `plan.sample` existing users, in pages of 1000 spread over the whole list.
    async fn discover_users(&mut self) -> Vec<User> {
        let total = match self.total_users().await {
            Ok(t) => t,
            Err(e) => {
                self.report.notes.push(format!("could not count the existing users: {e}"));
                return Vec::new();
            }
        };
        let want = (self.plan.sample as u64).min(total);
        let pages = want.div_ceil(1000).max(1);
        let stride = (total / pages).max(1);
        let mut users = Vec::new();
        for p in 0..pages {
            let start = 1 + p * stride;
            let path = format!("/Users?attributes=userName&startIndex={start}&count=1000");
            let page = match self.http.expect(Method::GET, &path, None, &[200]).await.and_then(|b| parse(&b)) {
                Ok(v) => v,
                Err(e) => {
                    self.report.notes.push(format!("sampling users failed: {e}"));
                    break;
                }
            };
            for r in page.get("Resources").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(id), Some(name)) =
                    (r.get("id").and_then(Value::as_str), r.get("userName").and_then(Value::as_str))
                {
                    users.push(User { id: id.to_string(), user_name: name.to_string() });
                }
            }
        }
        users.truncate(self.plan.sample);
        self.report.total_users = Some(total);
        self.report.notes.push(format!("used {} of the target's {total} existing users (sampled)", users.len()));
        users
    }
}

fn print_progress(label: &str, r: &ScenarioResult) {
    eprintln!(
        "[{label}] {:<28} {:>8} ops {:>10.1} ops/s  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {}{}",
        r.name,
        r.ops,
        r.ops_per_sec,
        r.p50_ms,
        r.p99_ms,
        r.errors,
        r.first_error.as_deref().map(|e| format!("  first: {e}")).unwrap_or_default()
    );
}
