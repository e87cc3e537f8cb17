//! One scenario measured: its answers and time, `/healthz` probed on a
//! connection of its own meanwhile, and the server's peak and final memory.

use super::{Outcome, Target, is_failure, status_of};
use crate::http::Http;
use reqwest::Method;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

pub(super) fn status_file(pid: u32, key: &str) -> Option<f64> {
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

pub(super) async fn measured<F, Fut>(t: &Target, name: &'static str, sent: String, work: F) -> Outcome
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

pub(super) async fn send(http: &Http, method: Method, path: &str, body: Option<String>) -> (String, Vec<u8>) {
    match http.call_with_headers(method, path, body).await {
        Ok((status, retry, bytes)) => (status_of(status, retry), bytes),
        Err(_) => ("conn-error".into(), Vec::new()),
    }
}
