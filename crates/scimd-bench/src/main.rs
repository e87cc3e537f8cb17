//! scimd-bench: drive a SCIM 2.0 server (scimd, a peer, or both beside the
//! bare HTTP route) with a provisioning workload and report, per scenario,
//! operations per second, p50 and p99 latency and errors.
//!
//! Exit status: 0 when every scenario ran without errors, 1 when any had
//! errors, 2 on bad arguments. Never on time: speed is reported, not judged.

mod abuse;
mod chart;
mod events;
mod http;
mod report;
mod stats;
mod workload;

use clap::{Args, Parser, Subcommand};
use http::Http;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use workload::{NAMED_ONLY, Plan, SCENARIOS};

#[derive(Parser, Debug)]
#[command(name = "scimd-bench", version, about = "Load tool for SCIM 2.0 servers (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the workload against one SCIM base URL.
    Run(RunArgs),
    /// Run the same workload, in one run, against the bare route, scimd and a peer, and print ratios.
    Compare(CompareArgs),
    /// What one hostile client can do: huge attributes and PATCHes, idle and
    /// dripping connections, big bodies, bad-token and rate-limited floods.
    Abuse(AbuseArgs),
    /// Webhook delivery rate to a receiver of its own, and event feed pages.
    Events(EventsArgs),
    /// Draw an SVG chart from saved JSON results (--json of run or compare), without a new run.
    Chart(ChartArgs),
}

#[derive(Args, Debug)]
struct ChartArgs {
    /// A JSON result file of `run` or `compare`; repeat for more (their targets side by side).
    #[arg(long = "json", required = true)]
    json: Vec<PathBuf>,
    /// The SVG file to write.
    #[arg(long)]
    out: PathBuf,
    /// Cost per operation as users grow: one file per tenant size (runs of `run --existing-users`
    /// on N loaded users, bench/scale.sh), x = users, one line per scenario.
    #[arg(long)]
    scale: bool,
    /// The chart's heading, e.g. backend, date, commit and build [default: the targets and the run's date].
    #[arg(long)]
    title: Option<String>,
    /// With --scale: the y axis.
    #[arg(long, value_enum, default_value_t = chart::Metric::ServerUs)]
    metric: chart::Metric,
    /// With --scale: the scenarios drawn [default: get_by_id, filter_username, list_page_100,
    /// seed_users, patch_active].
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
}

#[derive(Args, Debug)]
struct EventsArgs {
    /// The tenant's SCIM base URL.
    #[arg(long)]
    base_url: String,
    /// Its bearer token (or SCIMD_BENCH_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The tenant's admin API, e.g. http://127.0.0.1:8080/admin/v1/tenants/bench.
    #[arg(long)]
    admin_url: String,
    /// An admin token (or SCIMD_BENCH_ADMIN_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Events to deliver (0: skip delivery).
    #[arg(long, default_value_t = 20_000)]
    deliver: u64,
    /// One subject's delivery rate: a group of this many members pushed in
    /// one go (N `group.member_added` events of one group, delivered in
    /// order) to a receiver of its own (0: skip).
    #[arg(long, default_value_t = 0)]
    group_members: u64,
    /// Feed pages to time (0: skip the feed).
    #[arg(long, default_value_t = 200)]
    feed_pages: usize,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value = "ev")]
    run_id: String,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct AbuseArgs {
    /// The attacked tenant's SCIM base URL.
    #[arg(long)]
    base_url: String,
    /// Its bearer token (or SCIMD_BENCH_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Another tenant's base URL: its small writes are timed beside the large ones.
    #[arg(long)]
    other_base_url: Option<String>,
    /// The other tenant's token (or SCIMD_BENCH_OTHER_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_OTHER_TOKEN", hide_env_values = true)]
    other_token: Option<String>,
    /// The server's process id (memory readings).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Small sizes (CI): fails on a 5xx or a dead server, never on time.
    #[arg(long)]
    smoke: bool,
    /// Scenarios to run (comma-separated) [default: all]. Known: multi_values, group_members,
    /// patch_members, patch_operations, large_write_vs_small, idle_connections,
    /// dripping_connections, address_flood, big_bodies, chunked_body, bad_token_flood,
    /// rate_limited_flood.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2/bench.
    #[arg(long)]
    base_url: String,
    /// Bearer token (or SCIMD_BENCH_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Name of the target in the report.
    #[arg(long, default_value = "target")]
    label: String,
    /// The server's process id, to report its CPU time and resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(flatten)]
    work: Workload,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// scimd's SCIM base URL.
    #[arg(long)]
    scimd_url: String,
    /// scimd's bearer token (or SCIMD_BENCH_TOKEN).
    #[arg(long, env = "SCIMD_BENCH_TOKEN", hide_env_values = true)]
    scimd_token: Option<String>,
    /// scimd's process id (CPU time and resident memory in the report).
    #[arg(long)]
    scimd_pid: Option<u32>,
    /// A bare route of the same HTTP stack, e.g. http://127.0.0.1:8080/healthz: the limit.
    #[arg(long)]
    bare_url: Option<String>,
    /// The peer's SCIM base URL (bench/peer.sh serves scim2-server at http://127.0.0.1:PORT/bench/v2).
    #[arg(long)]
    peer_url: Option<String>,
    /// The peer's bearer token (or PEER_BENCH_TOKEN).
    #[arg(long, env = "PEER_BENCH_TOKEN", hide_env_values = true)]
    peer_token: Option<String>,
    /// The peer's process id.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// Users seeded on the peer (default: --users).
    #[arg(long)]
    peer_users: Option<usize>,
    /// Group sizes on the peer (default: those of --group-sizes up to 10000).
    #[arg(long, value_delimiter = ',')]
    peer_group_sizes: Option<Vec<usize>>,
    /// Events in the peer's Okta wave (default: --wave).
    #[arg(long)]
    peer_wave: Option<usize>,
    /// Label for scimd in the report (e.g. scimd-sqlite).
    #[arg(long, default_value = "scimd")]
    scimd_label: String,
    #[command(flatten)]
    work: Workload,
}

#[derive(Args, Debug)]
struct Workload {
    /// Concurrent connections (closed loop: each sends its next request when the last one answered).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds each time-bound scenario runs [default: 10; --smoke: 1].
    #[arg(long)]
    duration_secs: Option<f64>,
    /// Users to seed with POST [default: 10000; --smoke: 200].
    #[arg(long)]
    users: Option<usize>,
    /// Group sizes at which single member changes are timed [default: 10,10000,100000; --smoke: 10,100].
    #[arg(long, value_delimiter = ',')]
    group_sizes: Option<Vec<usize>>,
    /// Scenarios to run (comma-separated) [default: all]. Known: seed_users, get_by_id, filter_username,
    /// patch_active, list_page_100, list_page_deep, group_fill, member_add_remove,
    /// group_get_excluded_members, mixed_okta; only when named: singles_create (1,000 POSTs one at a
    /// time), bulk_create (one Bulk request of 1,000 POSTs), cursor_pages (RFC 9865 pages of 100 near
    /// the start, in the middle and at the end, after a walk there), filter_last_modified (needs
    /// --modified-after).
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// Remove-then-add pairs per group size, at most [default: 200; --smoke: 10].
    #[arg(long)]
    member_ops: Option<usize>,
    /// Provisioning events in the Okta assignment wave, at most [default: 2000; --smoke: 40].
    #[arg(long)]
    wave: Option<usize>,
    /// Do not create users: sample the target's existing users (e.g. a database loaded beforehand).
    #[arg(long)]
    existing_users: bool,
    /// How many existing users to sample with --existing-users.
    #[arg(long, default_value_t = 10_000)]
    sample: usize,
    /// Seconds the group fill may take before larger sizes are skipped.
    #[arg(long, default_value_t = 900)]
    fill_cap_secs: u64,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Runtime worker threads of the load tool.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Seed of the random choices (users, offsets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The time `filter_last_modified` sends in `filter=meta.lastModified gt "T"` (e.g. the last
    /// 1,000 users of bench/load_users.sh with LOAD_USERS_SPREAD=1: 2026-01-12T13:30:00Z).
    #[arg(long)]
    modified_after: Option<String>,
    /// Prefix of the userNames this run creates [default: derived from the time].
    #[arg(long)]
    run_id: Option<String>,
    /// Smoke mode: a few seconds, small sizes (CI); explicit flags still win.
    #[arg(long)]
    smoke: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG chart of the results to this file: ops/s per scenario and target, log scale.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// The chart's heading, e.g. "SQLite · 2026-12-07 · scimd abc1234 · release build"
    /// [default: the targets and the date].
    #[arg(long)]
    title: Option<String>,
}

impl Workload {
    fn plan(&self, server_pid: Option<u32>) -> Result<Plan, String> {
        let s = self.smoke;
        let scenarios = match &self.scenarios {
            // With --existing-users, seed_users runs only when named (it then POSTs --users more).
            None => SCENARIOS
                .iter()
                .filter(|&&n| !(self.existing_users && n == "seed_users"))
                .map(|s| s.to_string())
                .collect(),
            Some(list) => {
                let list: Vec<String> = list.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                let known = |n: &str| SCENARIOS.contains(&n) || NAMED_ONLY.contains(&n);
                if let Some(bad) = list.iter().find(|n| !known(n)) {
                    return Err(format!(
                        "unknown scenario '{bad}'; known: {}, and when named: {}",
                        SCENARIOS.join(", "),
                        NAMED_ONLY.join(", ")
                    ));
                }
                list
            }
        };
        let duration = self.duration_secs.unwrap_or(if s { 1.0 } else { 10.0 });
        if !(duration > 0.0 && duration < 86_400.0) {
            return Err("--duration-secs must be between 0 and 86400".into());
        }
        if self.concurrency == 0 || self.concurrency > 4096 {
            return Err("--concurrency must be between 1 and 4096".into());
        }
        let run_id = match &self.run_id {
            Some(r) if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !r.is_empty() => r.clone(),
            Some(_) => return Err("--run-id may hold only letters, digits and '-'".into()),
            None => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
                format!("b{now:x}")
            }
        };
        Ok(Plan {
            concurrency: self.concurrency,
            duration: Duration::from_secs_f64(duration),
            users: self.users.unwrap_or(if s { 200 } else { 10_000 }),
            group_sizes: self.group_sizes.clone().unwrap_or(if s { vec![10, 100] } else { vec![10, 10_000, 100_000] }),
            scenarios,
            member_ops: self.member_ops.unwrap_or(if s { 10 } else { 200 }),
            wave: self.wave.unwrap_or(if s { 40 } else { 2000 }),
            existing_users: self.existing_users,
            sample: self.sample,
            fill_cap: Duration::from_secs(self.fill_cap_secs),
            seed: self.seed,
            modified_after: self.modified_after.clone(),
            run_id,
            server_pid,
        })
    }
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn client(url: &str, token: Option<&str>, w: &Workload) -> Result<Http, String> {
    Http::new(url, token, w.concurrency, Duration::from_secs(w.timeout_secs))
}

fn run(args: RunArgs) -> Result<bool, String> {
    let plan = args.work.plan(args.server_pid)?;
    let http = client(&args.base_url, args.token.as_deref(), &args.work)?;
    let rt = runtime(args.work.client_threads)?;
    let target = rt.block_on(workload::run_target(&args.label, http, &plan));
    let targets = vec![target];
    print!("{}", report::tables(&targets));
    let doc = report::json(&targets, &[], &[plan_json("run", &plan)]);
    write_json(args.work.json.as_ref(), &doc)?;
    write_chart(&args.work, doc)?;
    Ok(targets.iter().all(|t| t.errors() == 0))
}

fn compare(args: CompareArgs) -> Result<bool, String> {
    let w = &args.work;
    let plan = w.plan(args.scimd_pid)?;
    let rt = runtime(w.client_threads)?;
    let mut targets = Vec::new();
    let mut plans = Vec::new();
    if let Some(bare) = &args.bare_url {
        let http = client(bare, args.scimd_token.as_deref(), w)?;
        targets.push(rt.block_on(workload::run_bare("bare", http, &plan)));
    }
    let http = client(&args.scimd_url, args.scimd_token.as_deref(), w)?;
    targets.push(rt.block_on(workload::run_target(&args.scimd_label, http, &plan)));
    plans.push(plan_json(&args.scimd_label, &plan));
    if let Some(peer) = &args.peer_url {
        let mut peer_plan = plan.clone();
        peer_plan.server_pid = args.peer_pid;
        peer_plan.users = args.peer_users.unwrap_or(plan.users);
        peer_plan.group_sizes = args
            .peer_group_sizes
            .clone()
            .unwrap_or_else(|| plan.group_sizes.iter().copied().filter(|&s| s <= 10_000).collect());
        peer_plan.wave = args.peer_wave.unwrap_or(plan.wave);
        let http = client(peer, args.peer_token.as_deref(), w)?;
        targets.push(rt.block_on(workload::run_target("peer", http, &peer_plan)));
        plans.push(plan_json("peer", &peer_plan));
    }
    print!("{}", report::tables(&targets));
    let ratios = report::ratios(&targets, &args.scimd_label);
    print!("{}", report::ratio_table(&ratios));
    let checks = report::targets(&targets, &args.scimd_label);
    print!("{}", report::target_table(&checks));
    let mut doc = report::json(&targets, &ratios, &plans);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("targets_check".into(), report::checks_json(&checks));
    }
    write_json(w.json.as_ref(), &doc)?;
    write_chart(w, doc)?;
    Ok(targets.iter().all(|t| t.errors() == 0))
}

/// The bar chart of this run, when --chart names a file.
fn write_chart(w: &Workload, doc: serde_json::Value) -> Result<(), String> {
    let Some(path) = &w.chart else { return Ok(()) };
    let docs = [chart::Doc { name: "this run".into(), value: doc }];
    write_text(path, &chart::bar_svg(&chart::bars_from_docs(&docs, w.title.as_deref())))
}

fn chart_run(args: ChartArgs) -> Result<bool, String> {
    let mut docs = Vec::new();
    for path in &args.json {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        docs.push(chart::Doc { name, value });
    }
    let svg = if args.scale {
        let wanted =
            args.scenarios.clone().unwrap_or_else(|| chart::SCALE_SCENARIOS.iter().map(|s| s.to_string()).collect());
        chart::line_svg(&chart::scale_from_docs(&docs, args.title.as_deref(), args.metric, &wanted)?)
    } else {
        chart::bar_svg(&chart::bars_from_docs(&docs, args.title.as_deref()))
    };
    write_text(&args.out, &svg)?;
    Ok(true)
}

fn write_text(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn abuse_run(args: AbuseArgs) -> Result<bool, String> {
    let root = abuse::root_of(&args.base_url)?;
    let timeout = Duration::from_secs(300);
    let scim = Http::new(&args.base_url, args.token.as_deref(), 64, timeout)?;
    let other = match &args.other_base_url {
        Some(url) => Some(Http::new(url, args.other_token.as_deref(), 4, timeout)?),
        None => None,
    };
    let target = abuse::Target { scim, other, root: root.clone(), server_pid: args.server_pid };
    let sizes = if args.smoke { abuse::Sizes::smoke() } else { abuse::Sizes::full() };
    if let Some(bad) = args.scenarios.iter().find(|s| !abuse::SCENARIOS.contains(&s.as_str())) {
        return Err(format!("unknown abuse scenario '{bad}'; known: {}", abuse::SCENARIOS.join(", ")));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let rt = runtime(2)?;
    let (outcomes, alive) = rt.block_on(async {
        let outcomes = abuse::run(&target, &sizes, &format!("a{now:x}"), &args.scenarios).await;
        (outcomes, abuse::alive(&root).await)
    });
    print!("{}", abuse::table(&outcomes));
    if !alive {
        println!("\nthe server no longer answers /healthz");
    }
    let doc = serde_json::json!({
        "abuse": outcomes.iter().map(abuse::Outcome::to_json).collect::<Vec<_>>(),
        "server_alive_after": alive,
    });
    write_json(args.json.as_ref(), &doc)?;
    Ok(alive && outcomes.iter().all(|o| o.failed.is_none()))
}

fn events_run(args: EventsArgs) -> Result<bool, String> {
    let timeout = Duration::from_secs(120);
    let scim = Http::new(&args.base_url, args.token.as_deref(), args.concurrency, timeout)?;
    let admin = Http::new(&args.admin_url, args.admin_token.as_deref(), 4, timeout)?;
    let rt = runtime(2)?;
    let mut doc = serde_json::Map::new();
    if args.deliver > 0 {
        let d = rt.block_on(events::delivery(&scim, &admin, args.deliver, args.concurrency, &args.run_id))?;
        println!(
            "webhook delivery: {} events in {:.2} s after the endpoint was enabled: {:.0} events/s \
             (they were written at {:.0}/s beforehand)",
            d.events, d.seconds, d.rate, d.write_rate
        );
        doc.insert(
            "delivery".into(),
            serde_json::json!({"events": d.events, "seconds": d.seconds,
            "events_per_sec": d.rate, "write_rate": d.write_rate}),
        );
    }
    if args.group_members > 0 {
        let d =
            rt.block_on(events::group_delivery(&scim, &admin, args.group_members, args.concurrency, &args.run_id))?;
        println!(
            "one subject: a group of {} members reached the receiver in {:.2} s after the endpoint was enabled: \
             {:.0} events/s, in order: {}",
            d.events - 1,
            d.seconds,
            d.rate,
            d.in_order
        );
        doc.insert(
            "one_subject".into(),
            serde_json::json!({"events": d.events, "seconds": d.seconds, "events_per_sec": d.rate, "in_order": d.in_order}),
        );
        if !d.in_order {
            return Err("one subject's events reached the receiver out of order".into());
        }
    }
    if args.feed_pages > 0 {
        let f = rt.block_on(events::feed(&admin, args.feed_pages))?;
        let (p50, p99) = events::p50_p99(&f.page);
        let (t50, t99) = events::p50_p99(&f.typed_page);
        println!(
            "event feed: {} events (walked in {:.1} s, pages of 1,000); a page of 100: p50 {p50:.2} ms, p99 {p99:.2} ms; \
             with type=user.: p50 {t50:.2} ms, p99 {t99:.2} ms ({} pages each)",
            f.events,
            f.walk_seconds,
            f.page.lat_us.len()
        );
        doc.insert(
            "feed".into(),
            serde_json::json!({"events": f.events, "walk_seconds": f.walk_seconds,
            "page_p50_ms": p50, "page_p99_ms": p99, "typed_page_p50_ms": t50, "typed_page_p99_ms": t99}),
        );
    }
    write_json(args.json.as_ref(), &serde_json::Value::Object(doc))?;
    Ok(true)
}

fn plan_json(label: &str, p: &Plan) -> serde_json::Value {
    serde_json::json!({
        "target": label,
        "concurrency": p.concurrency,
        "duration_secs": p.duration.as_secs_f64(),
        "users": p.users,
        "group_sizes": p.group_sizes,
        "scenarios": p.scenarios,
        "member_ops": p.member_ops,
        "wave": p.wave,
        "existing_users": p.existing_users,
        "run_id": p.run_id,
    })
}

fn write_json(path: Option<&PathBuf>, doc: &serde_json::Value) -> Result<(), String> {
    let Some(path) = path else { return Ok(()) };
    let text = serde_json::to_string_pretty(doc).map_err(|e| format!("cannot encode the results: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(a) => run(a),
        Command::Compare(a) => compare(a),
        Command::Abuse(a) => abuse_run(a),
        Command::Events(a) => events_run(a),
        Command::Chart(a) => chart_run(a),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("scimd-bench: some scenarios had errors (see the errors column)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("scimd-bench: {e}");
            ExitCode::from(2)
        }
    }
}
