//! Logs and Prometheus metrics: the log format, and the one recorder every
//! metric of this process goes to, rendered at `GET /metrics`.

use metrics::SharedString;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr; colour only where stderr is a terminal.
pub fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SCIMD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    if let Err(e) = result {
        eprintln!("scimd: logging was set up already: {e}");
    }
}

/// Latency buckets in seconds: SCIM requests take from 0.1 ms to seconds.
const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (tests start many servers
/// in one process; there is one recorder for all of them).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .map_err(|e| tracing::warn!(error = %e, "metrics buckets refused"))
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was installed already; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Every series whose labels are known in advance, at zero, so that each
/// shows from the start (a rate over a series that appears only at its
/// first increment misses it).
pub fn register_series() {
    for reason in ["queue_full", "stopped", "write_failed"] {
        metrics::counter!("scimd_audit_dropped_total", "reason" => reason).increment(0);
    }
    for cap in ["total", "per_address"] {
        metrics::counter!("scimd_connections_refused_total", "cap" => cap).increment(0);
    }
    for outcome in ["hit", "miss"] {
        metrics::counter!("scimd_read_cache_lookups_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("scimd_body_budget_refusals_total").increment(0);
    metrics::gauge!("scimd_connections_open").increment(0.0);
    metrics::gauge!("scimd_event_feed_lag_seconds").set(0.0);
}

/// The text of `GET /metrics`.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One request: counted and timed by route template, method, status class
/// and tenant (a name only for authenticated requests, so the series stay few).
pub fn record_request(
    route: Option<String>,
    method: &axum::http::Method,
    status: u16,
    tenant: &str,
    elapsed: Duration,
) {
    let labels = [
        ("route", route.map_or(SharedString::from("unmatched"), SharedString::from)),
        ("method", method_label(method).into()),
        ("status", status_class(status).into()),
        ("tenant", tenant.to_string().into()),
    ];
    metrics::counter!("scimd_http_requests_total", &labels).increment(1);
    metrics::histogram!("scimd_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    if status == 429 {
        metrics::counter!("scimd_rate_limited_total", "tenant" => tenant.to_string()).increment(1);
    }
}

/// A method as a label without an allocation; anything unusual is "other".
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
