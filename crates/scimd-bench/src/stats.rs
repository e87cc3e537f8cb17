//! Latencies, percentiles, and CPU/memory readings from /proc.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What one scenario (or one worker of it) recorded.
#[derive(Default)]
pub(crate) struct Recorder {
    /// Latency of each operation, in microseconds.
    pub lat_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Recorder {
    pub(crate) fn record(&mut self, took: Duration, outcome: Result<(), String>) {
        self.lat_us.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        if let Err(e) = outcome {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        self.lat_us.extend(other.lat_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub(crate) fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One scenario's line in the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScenarioResult {
    pub name: String,
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub concurrency: usize,
    pub first_error: Option<String>,
    pub note: Option<String>,
    /// The load tool's own CPU, in % of one core.
    pub client_cpu_pct: Option<f64>,
    /// The server process's CPU (when its pid is known), in % of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU time per operation, in microseconds.
    pub server_us_per_op: Option<f64>,
    /// The whole machine's busy share, in % of all cores.
    pub machine_busy_pct: Option<f64>,
    /// The server process's resident memory after the scenario, in MiB.
    pub server_rss_mib: Option<f64>,
}

impl ScenarioResult {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "ops": self.ops,
            "errors": self.errors,
            "secs": self.secs,
            "ops_per_sec": self.ops_per_sec,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "concurrency": self.concurrency,
            "first_error": self.first_error,
            "note": self.note,
            "client_cpu_pct": self.client_cpu_pct,
            "server_cpu_pct": self.server_cpu_pct,
            "server_us_per_op": self.server_us_per_op,
            "machine_busy_pct": self.machine_busy_pct,
            "server_rss_mib": self.server_rss_mib,
        })
    }
}

/// Linux reports process CPU times in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time of a process (user + system, all threads), in ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let tail = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // tail[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) jiffies of all cores.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let nums: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = nums.iter().take(8).sum();
    let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Resident memory of a process, in MiB.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU readings at the start of a scenario.
pub(crate) struct Snapshot {
    at: Instant,
    client: Option<u64>,
    server: Option<u64>,
    machine: Option<(u64, u64)>,
    server_pid: Option<u32>,
}

impl Snapshot {
    pub(crate) fn take(server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            client: process_ticks("self"),
            server: server_pid.and_then(|p| process_ticks(&p.to_string())),
            machine: machine_ticks(),
            server_pid,
        }
    }

    /// The scenario's result from what it recorded since this snapshot.
    pub(crate) fn finish(self, name: &str, concurrency: usize, rec: Recorder, note: Option<String>) -> ScenarioResult {
        let secs = self.at.elapsed().as_secs_f64().max(1e-9);
        self.finish_with_secs(name, concurrency, rec, note, secs)
    }

    /// As [`Snapshot::finish`], with the time the operations took (not the wall time since the snapshot).
    pub(crate) fn finish_with_secs(
        self,
        name: &str,
        concurrency: usize,
        rec: Recorder,
        note: Option<String>,
        secs: f64,
    ) -> ScenarioResult {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let mut r = ScenarioResult::from_recorder(name, concurrency, rec, note, secs);
        r.client_cpu_pct = match (self.client, process_ticks("self")) {
            (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / TICKS_PER_SEC / wall * 100.0),
            _ => None,
        };
        let server_ticks = match (self.server, self.server_pid.and_then(|p| process_ticks(&p.to_string()))) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        r.machine_busy_pct = match (self.machine, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0),
            _ => None,
        };
        r.server_cpu_pct = server_ticks.map(|t| t / TICKS_PER_SEC / wall * 100.0);
        r.server_us_per_op = server_ticks.filter(|_| r.ops > 0).map(|t| t / TICKS_PER_SEC * 1e6 / r.ops as f64);
        r.server_rss_mib = self.server_pid.and_then(rss_mib);
        r
    }
}

impl ScenarioResult {
    /// Counts and percentiles only (no CPU readings).
    pub(crate) fn from_recorder(
        name: &str,
        concurrency: usize,
        mut rec: Recorder,
        note: Option<String>,
        secs: f64,
    ) -> Self {
        rec.lat_us.sort_unstable();
        let ops = rec.lat_us.len() as u64;
        let ms = |us: u32| f64::from(us) / 1000.0;
        ScenarioResult {
            name: name.to_string(),
            ops,
            errors: rec.errors,
            secs,
            ops_per_sec: ops as f64 / secs.max(1e-9),
            p50_ms: ms(quantile(&rec.lat_us, 0.50)),
            p99_ms: ms(quantile(&rec.lat_us, 0.99)),
            max_ms: ms(rec.lat_us.last().copied().unwrap_or(0)),
            concurrency,
            first_error: rec.first_error,
            note,
            ..Default::default()
        }
    }

    /// Take the CPU and memory readings of another result (measured over a loop that covered both).
    pub(crate) fn with_readings_of(mut self, other: &ScenarioResult) -> Self {
        self.client_cpu_pct = other.client_cpu_pct;
        self.server_cpu_pct = other.server_cpu_pct;
        self.server_us_per_op = other.server_us_per_op;
        self.machine_busy_pct = other.machine_busy_pct;
        self.server_rss_mib = other.server_rss_mib;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn recorder_counts_errors_and_keeps_the_first() {
        let mut r = Recorder::default();
        r.record(Duration::from_micros(5), Ok(()));
        r.record(Duration::from_micros(6), Err("a".into()));
        let mut other = Recorder::default();
        other.record(Duration::from_micros(7), Err("b".into()));
        r.merge(other);
        assert_eq!(r.lat_us, vec![5, 6, 7]);
        assert_eq!(r.errors, 2);
        assert_eq!(r.first_error.as_deref(), Some("a"));
    }

    #[test]
    fn reads_its_own_cpu_time() {
        assert!(process_ticks("self").is_some());
        assert!(rss_mib(std::process::id()).is_some_and(|m| m > 0.0));
    }
}
