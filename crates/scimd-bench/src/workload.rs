//! The scenarios, and the closed-loop driver that runs them: `concurrency`
//! workers, each sending its next request as soon as the last one answered,
//! for a duration or a number of operations.

use crate::http::{Http, enc, id_of, parse, scan_int};
use crate::stats::{Recorder, ScenarioResult, Snapshot};
use reqwest::Method;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every scenario, in the order they run.
pub const SCENARIOS: &[&str] = &[
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

/// The workload for one target, every default resolved.
#[derive(Clone, Debug)]
pub struct Plan {
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
    pub run_id: String,
    pub server_pid: Option<u32>,
}

impl Plan {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub user_name: String,
}

/// A target's results.
pub struct TargetReport {
    pub label: String,
    pub base_url: String,
    pub users: usize,
    pub scenarios: Vec<ScenarioResult>,
    pub notes: Vec<String>,
}

impl TargetReport {
    pub fn get(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
    pub fn errors(&self) -> u64 {
        self.scenarios.iter().map(|s| s.errors).sum()
    }
}

/// xorshift64*: fast and good enough to pick users and offsets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub type OpFut = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// One operation: (its index, a random number) -> the requests it sends.
pub type Op = Arc<dyn Fn(u64, u64) -> OpFut + Send + Sync>;

#[derive(Clone, Copy, Debug)]
pub enum Stop {
    Time(Duration),
    Count(u64),
    CountOrTime(u64, Duration),
}

/// Run `op` from `concurrency` workers until `stop`; every latency recorded.
pub async fn drive(concurrency: usize, stop: Stop, seed: u64, op: Op) -> (Recorder, Duration) {
    let (limit, time) = match stop {
        Stop::Time(d) => (u64::MAX, Some(d)),
        Stop::Count(n) => (n, None),
        Stop::CountOrTime(n, d) => (n, Some(d)),
    };
    let workers = concurrency.clamp(1, usize::try_from(limit).unwrap_or(usize::MAX).max(1));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = time.map(|d| started + d);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (op, next) = (op.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (w as u64).wrapping_mul(0x9E37_79B9));
            let mut rec = Recorder::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let r = rng.next();
                let t0 = Instant::now();
                let outcome = op(i, r).await;
                rec.record(t0.elapsed(), outcome);
            }
            rec
        }));
    }
    let mut all = Recorder::default();
    for h in handles {
        match h.await {
            Ok(rec) => all.merge(rec),
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    (all, started.elapsed())
}

fn user_body(user_name: &str, i: u64) -> String {
    format!(
        r#"{{"schemas":["{USER_SCHEMA}"],"userName":"{user_name}","externalId":"ext-{user_name}","name":{{"givenName":"Given{i}","familyName":"Family{i}","formatted":"Given{i} Family{i}"}},"displayName":"Given{i} Family{i}","emails":[{{"value":"{user_name}","type":"work","primary":true}}],"active":true}}"#
    )
}

fn active_patch(active: bool) -> String {
    format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","value":{{"active":{active}}}}}]}}"#)
}

fn add_members_patch(ids: &[&str]) -> String {
    let values: Vec<String> = ids.iter().map(|id| format!(r#"{{"value":"{id}"}}"#)).collect();
    format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","path":"members","value":[{}]}}]}}"#,
        values.join(",")
    )
}

fn remove_member_patch(id: &str) -> String {
    format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"remove","path":"members[value eq \"{id}\"]"}}]}}"#)
}

fn filter_path(user_name: &str) -> String {
    format!("/Users?filter={}", enc(&format!("userName eq \"{user_name}\"")))
}

/// Membership PATCHes ask for the group without its members, so the answer
/// does not carry the member list.
const GROUP_PATCH_QUERY: &str = "?excludedAttributes=members";

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

/// GET the bare route: the HTTP stack's limit.
pub async fn run_bare(label: &str, http: Http, plan: &Plan) -> TargetReport {
    let report = TargetReport {
        label: label.to_string(),
        base_url: http.base().to_string(),
        users: 0,
        scenarios: Vec::new(),
        notes: Vec::new(),
    };
    let mut runner = Runner { http: http.clone(), plan, report, seed: plan.seed };
    let op: Op = Arc::new(move |_, _| {
        let http = http.clone();
        Box::pin(async move { http.expect(Method::GET, "", None, &[200]).await.map(|_| ()) })
    });
    runner.scenario("bare_get", plan.concurrency, Stop::Time(plan.duration), op, None).await;
    runner.report
}

/// Run the plan's scenarios against one SCIM base URL.
pub async fn run_target(label: &str, http: Http, plan: &Plan) -> TargetReport {
    let report = TargetReport {
        label: label.to_string(),
        base_url: http.base().to_string(),
        users: 0,
        scenarios: Vec::new(),
        notes: Vec::new(),
    };
    let mut r = Runner { http, plan, report, seed: plan.seed };
    let c = plan.concurrency;
    let d = plan.duration;

    // ---- users: seed them, or sample the target's
    let mut users = if plan.wants("seed_users") && !plan.existing_users {
        r.create_users("seed_users", 0, plan.users).await
    } else {
        r.discover_users().await
    };
    let users_arc = Arc::new(users.clone());
    r.report.users = users.len();
    let have_users = !users.is_empty();
    if !have_users {
        r.report.notes.push("no users: the scenarios that need users were skipped".into());
    }

    if have_users && plan.wants("get_by_id") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = format!("/Users/{}", u[(rnd % u.len() as u64) as usize].id);
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        r.scenario("get_by_id", c, Stop::Time(d), op, None).await;
    }

    if have_users && plan.wants("filter_username") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = filter_path(&u[(rnd % u.len() as u64) as usize].user_name);
            Box::pin(async move {
                let body = http.expect(Method::GET, &path, None, &[200]).await?;
                match scan_int(&body, "totalResults") {
                    Some(1) => Ok(()),
                    other => Err(format!("filter userName eq: expected totalResults 1, got {other:?}")),
                }
            })
        });
        r.scenario("filter_username", c, Stop::Time(d), op, None).await;
    }

    if have_users && plan.wants("patch_active") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = format!("/Users/{}", u[(rnd % u.len() as u64) as usize].id);
            let body = active_patch(rnd >> 63 == 1);
            Box::pin(async move { http.expect(Method::PATCH, &path, Some(body), &[200, 204]).await.map(|_| ()) })
        });
        r.scenario("patch_active", c, Stop::Time(d), op, Some("PATCH replace active false/true".into())).await;
    }

    if have_users && plan.wants("list_page_100") {
        let total = r.total_users().await.unwrap_or(users.len() as u64).max(1);
        let http = r.http.clone();
        let span = total.saturating_sub(99).max(1);
        let want = total.min(100);
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let start = 1 + rnd % span;
            let path = format!("/Users?startIndex={start}&count=100");
            Box::pin(async move {
                let body = http.expect(Method::GET, &path, None, &[200]).await?;
                match scan_int(&body, "itemsPerPage") {
                    Some(n) if n >= want => Ok(()),
                    other => Err(format!("page at startIndex {start}: expected {want} items, got {other:?}")),
                }
            })
        });
        let note = Some(format!("random startIndex in 1..={span} of {total} users"));
        r.scenario("list_page_100", c, Stop::Time(d), op, note).await;
    }

    if have_users && plan.wants("list_page_deep") {
        let total = r.total_users().await.unwrap_or(users.len() as u64).max(1);
        let http = r.http.clone();
        let start = total.saturating_sub(99).max(1);
        let op: Op = Arc::new(move |_, _| {
            let http = http.clone();
            let path = format!("/Users?startIndex={start}&count=100");
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        let note = Some(format!("the last page: startIndex {start} of {total}, one at a time"));
        r.scenario("list_page_deep", 1, Stop::Time(d), op, note).await;
    }

    // ---- one group, filled in batches of 100; single changes measured at each size
    let mut group_id: Option<String> = None;
    let wants_group = plan.wants("group_fill") || plan.wants("member_add_remove");
    if have_users && wants_group && !plan.group_sizes.is_empty() {
        let mut sizes = plan.group_sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        let largest = sizes.last().copied().unwrap_or(0);
        if users.len() < largest {
            let extra = largest - users.len();
            let from = plan.users.max(users.len()) + 1_000_000;
            let created = r.create_users("seed_users_for_group", from, extra).await;
            users.extend(created);
        }
        group_id = fill_and_measure(&mut r, &users, &sizes).await;
    }

    if plan.wants("group_get_excluded_members") {
        if group_id.is_none() {
            group_id = create_group(&r.http, &format!("{}-group", plan.run_id)).await.ok();
            r.report.notes.push("group_get_excluded_members ran on an empty group (no group_fill)".into());
        }
        if let Some(gid) = group_id.clone() {
            let http = r.http.clone();
            let path = format!("/Groups/{gid}?excludedAttributes=members");
            let op: Op = Arc::new(move |_, _| {
                let (http, path) = (http.clone(), path.clone());
                Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
            });
            r.scenario("group_get_excluded_members", c, Stop::Time(d), op, None).await;
        }
    }

    if have_users && plan.wants("mixed_okta") {
        mixed_okta(&mut r, Arc::new(users)).await;
    }
    r.report
}

async fn create_group(http: &Http, name: &str) -> Result<String, String> {
    let body = format!(r#"{{"schemas":["{GROUP_SCHEMA}"],"displayName":"{name}"}}"#);
    let resp = http.expect(Method::POST, "/Groups", Some(body), &[201]).await?;
    id_of(&resp)
}

/// Fill one group to each size in turn (PATCH add, 100 members a request,
/// one request at a time), and at each size time single removals and
/// additions (one at a time: remove a random member, add it back).
async fn fill_and_measure(r: &mut Runner<'_>, users: &[User], sizes: &[usize]) -> Option<String> {
    let plan = r.plan;
    let gid = match create_group(&r.http, &format!("{}-big", plan.run_id)).await {
        Ok(g) => g,
        Err(e) => {
            r.push(ScenarioResult { name: "group_fill".into(), errors: 1, first_error: Some(e), ..Default::default() });
            return None;
        }
    };
    let patch_path = format!("/Groups/{gid}{GROUP_PATCH_QUERY}");
    let mut current = 0usize;
    let fill_started = Instant::now();
    let mut fill_rec = Recorder::default();
    let mut fill_secs = 0.0;
    let mut stopped_at: Option<usize> = None;
    let mut rng = Rng::new(r.next_seed());
    for &size in sizes {
        let size = size.min(users.len());
        let t0 = Instant::now();
        while current < size {
            if fill_started.elapsed() > plan.fill_cap {
                stopped_at = Some(current);
                break;
            }
            let batch = (size - current).min(100);
            let ids: Vec<&str> = users[current..current + batch].iter().map(|u| u.id.as_str()).collect();
            let t = Instant::now();
            let outcome =
                r.http.expect(Method::PATCH, &patch_path, Some(add_members_patch(&ids)), &[200, 204]).await.map(|_| ());
            fill_rec.record(t.elapsed(), outcome);
            current += batch;
        }
        fill_secs += t0.elapsed().as_secs_f64();
        if stopped_at.is_some() || current < size {
            break;
        }
        if !plan.wants("member_add_remove") || size == 0 {
            continue;
        }
        // Single changes at this size.
        let snap = Snapshot::take(plan.server_pid);
        let mut rec_remove = Recorder::default();
        let mut rec_add = Recorder::default();
        let mut rec_both = Recorder::default();
        let started = Instant::now();
        let mut pairs = 0;
        while pairs < plan.member_ops.max(1) && (pairs == 0 || started.elapsed() < plan.duration) {
            let uid = &users[(rng.next() % size as u64) as usize].id;
            let t = Instant::now();
            let out = r.http.expect(Method::PATCH, &patch_path, Some(remove_member_patch(uid)), &[200, 204]).await;
            rec_remove.record(t.elapsed(), out.map(|_| ()));
            rec_both.record(t.elapsed(), Ok(()));
            let t = Instant::now();
            let out = r.http.expect(Method::PATCH, &patch_path, Some(add_members_patch(&[uid])), &[200, 204]).await;
            rec_add.record(t.elapsed(), out.map(|_| ()));
            rec_both.record(t.elapsed(), Ok(()));
            pairs += 1;
        }
        let both_secs = started.elapsed().as_secs_f64();
        let readings = snap.finish_with_secs("member_changes", 1, rec_both, None, both_secs);
        let note = Some(format!(
            "group of {size}, one PATCH at a time, ?excludedAttributes=members; CPU columns cover removals and additions"
        ));
        for (kind, rec) in [("remove", rec_remove), ("add", rec_add)] {
            let secs = rec.lat_us.iter().map(|&u| f64::from(u)).sum::<f64>() / 1e6;
            let name = format!("member_{kind}@{size}");
            r.push(ScenarioResult::from_recorder(&name, 1, rec, note.clone(), secs).with_readings_of(&readings));
        }
    }
    let note = match stopped_at {
        Some(at) => Some(format!(
            "{current} members in {fill_secs:.1} s; stopped at {at} members after the {:.0} s fill cap: larger sizes skipped",
            plan.fill_cap.as_secs_f64()
        )),
        None => Some(format!(
            "{current} members in {fill_secs:.1} s ({:.0} members/s), PATCH add of 100 members",
            current as f64 / fill_secs.max(1e-9)
        )),
    };
    if plan.wants("group_fill") {
        // No CPU columns: the fill is interleaved with the single-change loops.
        r.push(ScenarioResult::from_recorder("group_fill", 1, fill_rec, note, fill_secs));
    } else if let Some(n) = note {
        r.report.notes.push(format!("group fill: {n}"));
    }
    Some(gid)
}

/// An Okta import (pages of 100 through every user, one page at a time),
/// then an assignment wave: per user, filter `userName eq`, POST when
/// missing or PATCH `active` when present, and add to a group.
async fn mixed_okta(r: &mut Runner<'_>, users: Arc<Vec<User>>) {
    let plan = r.plan;
    // Import.
    let snap = Snapshot::take(plan.server_pid);
    let mut rec = Recorder::default();
    let started = Instant::now();
    let mut start = 1u64;
    let mut total = u64::MAX;
    while start <= total && started.elapsed() < plan.duration {
        let path = format!("/Users?startIndex={start}&count=100");
        let t = Instant::now();
        let out = r.http.expect(Method::GET, &path, None, &[200]).await;
        rec.record(t.elapsed(), out.as_ref().map(|_| ()).map_err(Clone::clone));
        match out {
            Ok(body) => total = scan_int(&body, "totalResults").unwrap_or(0),
            Err(_) => break,
        }
        start += 100;
    }
    let pages = rec.lat_us.len();
    let all_pages = if total == u64::MAX { 0 } else { total.div_ceil(100) };
    let note =
        Some(format!("{pages} of {all_pages} pages of 100 in {:.1} s, one at a time", started.elapsed().as_secs_f64()));
    let res = snap.finish("okta_import_page", 1, rec, note);
    r.push(res);

    // Assignment wave.
    let gid = match create_group(&r.http, &format!("{}-wave", plan.run_id)).await {
        Ok(g) => g,
        Err(e) => {
            r.push(ScenarioResult {
                name: "okta_wave_event".into(),
                errors: 1,
                first_error: Some(e),
                ..Default::default()
            });
            return;
        }
    };
    let (http, run_id) = (r.http.clone(), plan.run_id.clone());
    let group_path = Arc::new(format!("/Groups/{gid}{GROUP_PATCH_QUERY}"));
    let op: Op = Arc::new(move |i, rnd| {
        let (http, group_path) = (http.clone(), group_path.clone());
        // Half the wave are users the target has, half are new.
        let user_name = if i % 2 == 0 {
            users[(rnd % users.len() as u64) as usize].user_name.clone()
        } else {
            format!("{run_id}-okta-{i}@bench.example")
        };
        Box::pin(async move {
            let found = http.expect(Method::GET, &filter_path(&user_name), None, &[200]).await?;
            let found = parse(&found)?;
            let existing = found
                .get("Resources")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let id = match existing {
                Some(id) => {
                    http.expect(Method::PATCH, &format!("/Users/{id}"), Some(active_patch(true)), &[200, 204]).await?;
                    id
                }
                None => {
                    let body = http.expect(Method::POST, "/Users", Some(user_body(&user_name, i)), &[201]).await?;
                    id_of(&body)?
                }
            };
            http.expect(Method::PATCH, &group_path, Some(add_members_patch(&[&id])), &[200, 204]).await?;
            Ok(())
        })
    });
    let note = Some(
        "one event = filter userName eq, then POST (new) or PATCH active (existing), then PATCH group add; half new"
            .into(),
    );
    r.scenario("okta_wave_event", plan.concurrency, Stop::CountOrTime(plan.wave as u64, plan.duration), op, note).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json() {
        for body in [
            user_body("a-1@bench.example", 1),
            active_patch(false),
            add_members_patch(&["x", "y"]),
            remove_member_patch("x"),
        ] {
            assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
        }
        let v: Value = serde_json::from_str(&remove_member_patch("abc")).unwrap();
        assert_eq!(v["Operations"][0]["path"], "members[value eq \"abc\"]");
    }

    #[test]
    fn rng_streams_differ() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(2));
        assert_ne!(a.next(), b.next());
    }

    #[tokio::test]
    async fn drive_stops_on_count() {
        let op: Op = Arc::new(|i, _| Box::pin(async move { if i == 3 { Err("three".into()) } else { Ok(()) } }));
        let (rec, _) = drive(4, Stop::Count(10), 7, op).await;
        assert_eq!(rec.lat_us.len(), 10);
        assert_eq!(rec.errors, 1);
        assert_eq!(rec.first_error.as_deref(), Some("three"));
    }
}
