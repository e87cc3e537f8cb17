//! Tables, ratios, the targets, and the JSON document.

use crate::chart::BARE_LIKE;
use crate::workload::TargetReport;
use serde_json::{Value, json};
use std::fmt::Write;

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_else(|| "-".into())
}

/// One table per target.
pub(crate) fn tables(targets: &[TargetReport]) -> String {
    let mut out = String::new();
    for t in targets {
        let _ = writeln!(
            out,
            "\n== {} ({}){}",
            t.label,
            t.base_url,
            if t.users > 0 { format!(", {} users", t.users) } else { String::new() }
        );
        let _ = writeln!(
            out,
            "{:<28} {:>4} {:>8} {:>10} {:>9} {:>9} {:>9} {:>6} {:>5} {:>5} {:>8} {:>5} {:>7}",
            "scenario",
            "conc",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "cli%",
            "srv%",
            "srv us/op",
            "busy%",
            "rss MiB"
        );
        for s in &t.scenarios {
            let _ = writeln!(
                out,
                "{:<28} {:>4} {:>8} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>6} {:>5} {:>5} {:>8} {:>5} {:>7}",
                s.name,
                s.concurrency,
                s.ops,
                s.ops_per_sec,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                s.errors,
                opt(s.client_cpu_pct, 0),
                opt(s.server_cpu_pct, 0),
                opt(s.server_us_per_op, 0),
                opt(s.machine_busy_pct, 0),
                opt(s.server_rss_mib, 1),
            );
        }
        for s in &t.scenarios {
            if let Some(n) = &s.note {
                let _ = writeln!(out, "  {}: {n}", s.name);
            }
            if let Some(e) = &s.first_error {
                let _ = writeln!(out, "  {}: {} errors, first: {e}", s.name, s.errors);
            }
        }
        for n in &t.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    out
}

pub(crate) struct Ratio {
    pub scenario: String,
    pub against: String,
    pub scimd_ops: f64,
    pub other_ops: f64,
    pub ops_ratio: f64,
    pub scimd_p50: f64,
    pub other_p50: f64,
    /// other p50 / scimd p50: how many times faster scimd answers.
    pub p50_ratio: f64,
}

pub(crate) fn ratios(targets: &[TargetReport], scimd: &str) -> Vec<Ratio> {
    let mut out = Vec::new();
    let Some(s) = targets.iter().find(|t| t.label == scimd) else { return out };
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    if let Some(bare) = targets.iter().find(|t| t.label == "bare").and_then(|t| t.get("bare_get")) {
        for name in BARE_LIKE {
            if let Some(x) = s.get(name) {
                out.push(Ratio {
                    scenario: name.to_string(),
                    against: "bare".into(),
                    scimd_ops: x.ops_per_sec,
                    other_ops: bare.ops_per_sec,
                    ops_ratio: div(x.ops_per_sec, bare.ops_per_sec),
                    scimd_p50: x.p50_ms,
                    other_p50: bare.p50_ms,
                    p50_ratio: div(bare.p50_ms, x.p50_ms),
                });
            }
        }
    }
    if let Some(peer) = targets.iter().find(|t| t.label == "peer") {
        for x in &s.scenarios {
            if let Some(y) = peer.get(&x.name)
                && x.ops > 0
                && y.ops > 0
            {
                out.push(Ratio {
                    scenario: x.name.clone(),
                    against: "peer".into(),
                    scimd_ops: x.ops_per_sec,
                    other_ops: y.ops_per_sec,
                    ops_ratio: div(x.ops_per_sec, y.ops_per_sec),
                    scimd_p50: x.p50_ms,
                    other_p50: y.p50_ms,
                    p50_ratio: div(y.p50_ms, x.p50_ms),
                });
            }
        }
    }
    out
}

pub(crate) fn ratio_table(ratios: &[Ratio]) -> String {
    let mut out = String::new();
    if ratios.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n== ratios (same run, same machine)");
    let _ = writeln!(
        out,
        "{:<28} {:>6} {:>11} {:>11} {:>9} {:>10} {:>10} {:>9}",
        "scenario", "vs", "scimd ops/s", "other ops/s", "x ops/s", "scimd p50", "other p50", "x p50"
    );
    for r in ratios {
        let _ = writeln!(
            out,
            "{:<28} {:>6} {:>11.1} {:>11.1} {:>9.2} {:>10.3} {:>10.3} {:>9.2}",
            r.scenario, r.against, r.scimd_ops, r.other_ops, r.ops_ratio, r.scimd_p50, r.other_p50, r.p50_ratio
        );
    }
    let _ = writeln!(
        out,
        "  x ops/s = scimd ops/s / other ops/s; x p50 = other p50 / scimd p50 (both: higher is better for scimd)"
    );
    out
}

pub(crate) struct Check {
    pub target: String,
    pub measured: String,
    pub status: &'static str,
}

fn check(target: &str, value: Option<f64>, ok: impl Fn(f64) -> bool, fmt: impl Fn(f64) -> String) -> Check {
    match value {
        Some(v) if v.is_finite() => {
            Check { target: target.into(), measured: fmt(v), status: if ok(v) { "met" } else { "MISSED" } }
        }
        _ => Check { target: target.into(), measured: "not measured in this run".into(), status: "n/a" },
    }
}

/// The ratio and latency targets, as far as this run measured them.
pub(crate) fn targets(targets: &[TargetReport], scimd: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let Some(s) = targets.iter().find(|t| t.label == scimd) else { return out };
    let bare = targets.iter().find(|t| t.label == "bare").and_then(|t| t.get("bare_get"));
    let peer = targets.iter().find(|t| t.label == "peer");
    let vs_bare = |name: &str| match (s.get(name), bare) {
        (Some(x), Some(b)) if b.ops_per_sec > 0.0 => Some(x.ops_per_sec / b.ops_per_sec),
        _ => None,
    };
    let vs_peer = |name: &str| match (s.get(name), peer.and_then(|p| p.get(name))) {
        (Some(x), Some(y)) if y.ops_per_sec > 0.0 && x.ops > 0 => Some(x.ops_per_sec / y.ops_per_sec),
        _ => None,
    };
    let pct = |v: f64| format!("{:.0}% of bare", v * 100.0);
    let times = |v: f64| format!("{v:.1}x the peer");
    out.push(check("GET by id >= 60% of bare-route throughput", vs_bare("get_by_id"), |v| v >= 0.6, pct));
    out.push(check(
        "filter userName eq >= 60% of bare-route throughput",
        vs_bare("filter_username"),
        |v| v >= 0.6,
        pct,
    ));
    out.push(check("POST /Users (durable) >= 30x the peer", vs_peer("seed_users"), |v| v >= 30.0, times));
    out.push(check("PATCH active >= 30x the peer", vs_peer("patch_active"), |v| v >= 30.0, times));
    out.push(check("a page of 100 users >= 300x the peer", vs_peer("list_page_100"), |v| v >= 300.0, times));
    let mut sizes: Vec<usize> =
        s.scenarios.iter().filter_map(|x| x.name.strip_prefix("member_add@").and_then(|n| n.parse().ok())).collect();
    sizes.sort_unstable();
    for kind in ["add", "remove"] {
        for size in &sizes {
            let p50 = s.get(&format!("member_{kind}@{size}")).map(|x| x.p50_ms);
            out.push(check(
                &format!("member {kind} at {size}: p50 <= 2 ms"),
                p50,
                |v| v <= 2.0,
                |v| format!("p50 {v:.3} ms"),
            ));
        }
        if let (Some(lo), Some(hi)) = (sizes.first(), sizes.last())
            && lo != hi
        {
            let a = s.get(&format!("member_{kind}@{lo}")).map(|x| x.p50_ms);
            let b = s.get(&format!("member_{kind}@{hi}")).map(|x| x.p50_ms);
            let ratio = match (a, b) {
                (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                _ => None,
            };
            out.push(check(
                &format!("member {kind}: p50 at {hi} <= 1.5x p50 at {lo}"),
                ratio,
                |v| v <= 1.5,
                |v| format!("{v:.2}x ({:.3} ms vs {:.3} ms)", b.unwrap_or(0.0), a.unwrap_or(0.0)),
            ));
        }
    }
    out
}

pub(crate) fn target_table(checks: &[Check]) -> String {
    let mut out = String::new();
    if checks.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n== the issue's targets (informative: the exit status never depends on time)");
    for c in checks {
        let _ = writeln!(out, "{:<7} {:<52} {}", c.status, c.target, c.measured);
    }
    out
}

pub(crate) fn checks_json(checks: &[Check]) -> Value {
    Value::Array(
        checks.iter().map(|c| json!({"target": c.target, "measured": c.measured, "status": c.status})).collect(),
    )
}

pub(crate) fn json(targets: &[TargetReport], ratios: &[Ratio], plans: &[Value]) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    json!({
        "tool": "scimd-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "date": utc_timestamp(now),
        "plans": plans,
        "targets": targets.iter().map(|t| json!({
            "label": t.label,
            "base_url": t.base_url,
            "users": t.users,
            "total_users": t.total_users,
            "errors": t.errors(),
            "notes": t.notes,
            "scenarios": t.scenarios.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ratios": ratios.iter().map(|r| json!({
            "scenario": r.scenario,
            "against": r.against,
            "scimd_ops_per_sec": r.scimd_ops,
            "other_ops_per_sec": r.other_ops,
            "ops_ratio": finite(r.ops_ratio),
            "scimd_p50_ms": r.scimd_p50,
            "other_p50_ms": r.other_p50,
            "p50_ratio": finite(r.p50_ratio),
        })).collect::<Vec<_>>(),
    })
}

fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// Seconds since 1970 as an ISO 8601 UTC timestamp (2026-12-07T15:04:05Z).
pub(crate) fn utc_timestamp(secs: u64) -> String {
    // Days to a civil date: Howard Hinnant's days_from_civil, inverted.
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_timestamp(1_796_655_845), "2026-12-07T15:04:05Z");
    }
}
