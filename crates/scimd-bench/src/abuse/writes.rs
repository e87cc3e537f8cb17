//! The largest writes: small creates in another tenant beside huge PATCHes
//! and PUTs, and bodies just under the size limit, alone and several at once.

use super::measure::{measured, send, status_file};
use super::{Outcome, Sizes, Target, member_values, user};
use crate::http::Http;
use crate::workload::{GROUP_SCHEMA, PATCH_OP};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Small creates in another tenant, alone and then while this tenant sends
/// the largest writes the limits allow.
pub(super) async fn large_write_vs_small(
    t: &Target,
    sizes: &Sizes,
    run_id: &str,
    victim: &str,
    group: &str,
) -> Outcome {
    let small = t.other.clone().unwrap_or_else(|| t.scim.clone());
    let n = sizes.small_writes;
    let sent = format!(
        "{n} small creates in another tenant, alone, then beside 1,000-op user PATCHes, group PATCHes of one op per member (1,000 users join, then leave) and 10,000-member PUTs"
    );
    // Real users for the group PATCHes to move (unknown ids would be dropped before the write).
    let mut members = Vec::with_capacity(sizes.patch_ops.min(1000));
    for k in 0..sizes.patch_ops.min(1000) {
        if let Ok(id) = super::make_user(&t.scim, &format!("{run_id}-member{k}@example.com")).await {
            members.push(id);
        }
    }
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
                // Group PATCHes of one operation per member: all of the
                // tenant's real users join, then leave (events, versions).
                for op in ["add", "remove"] {
                    let ops: Vec<Value> = members
                        .iter()
                        .map(|id| match op {
                            "add" => json!({"op": "add", "path": "members", "value": [{"value": id}]}),
                            _ => json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}),
                        })
                        .collect();
                    let body = json!({"schemas": [PATCH_OP], "Operations": ops}).to_string();
                    answers.push(send(&big, Method::PATCH, &format!("/Groups/{group}"), Some(body)).await.0);
                }
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

/// One body just under the size limit, then several at once; the memory
/// they cost, and what is left after a pause.
pub(super) async fn big_bodies(t: &Target, sizes: &Sizes, run_id: &str) -> Vec<Outcome> {
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

/// A body sent with `Transfer-Encoding: chunked`, so no length is declared:
/// `sizes.chunked_body_bytes` of it, more than `--max-body-bytes`, then the
/// answer. The server must refuse it once the limit is passed (413), not
/// read it whole.
pub(super) async fn chunked_body(t: &Target, sizes: &Sizes) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bytes = sizes.chunked_body_bytes;
    let mib = bytes as f64 / 1048576.0;
    let addr = t.root.trim_start_matches("http://").to_string();
    let path = format!("{}/Users", t.scim.base().trim_start_matches(&t.root));
    let auth = t.scim.authorization().unwrap_or_default().to_string();
    measured(
        t,
        "chunked_body",
        format!("POST /Users of {mib:.0} MiB in 64 KiB chunks, no Content-Length"),
        |mut o| async move {
            let Ok(mut c) = tokio::net::TcpStream::connect(&addr).await else {
                o.count("conn-error");
                return o;
            };
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/scim+json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
            );
            let chunk = {
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
                chunk.extend_from_slice(b"\r\n");
                chunk
            };
            let (mut reader, mut writer) = c.split();
            let send = async {
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(b"1\r\n{\r\n").await?;
                let mut sent = 0;
                while sent < bytes {
                    writer.write_all(&chunk).await?;
                    sent += 64 * 1024;
                }
                writer.write_all(b"1\r\n}\r\n0\r\n\r\n").await?;
                Ok::<usize, std::io::Error>(sent)
            };
            let mut answer = Vec::new();
            let read = async {
                let _ = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer)).await;
            };
            let (sent, ()) = tokio::join!(send, read);
            let status =
                if answer.len() >= 12 { String::from_utf8_lossy(&answer[9..12]).into_owned() } else { "closed".into() };
            o.count(status.clone());
            o.note = match sent {
                Ok(n) => format!("all {:.1} MiB sent; answered {status}", n as f64 / 1048576.0),
                Err(_) => format!("the server stopped reading and answered {status}"),
            };
            if status != "413" {
                o.failed = Some(format!("a chunked body past the limit was answered {status}, not 413"));
            }
            o
        },
    )
    .await
}
