//! Raw TCP connections that hold the server: idle ones that send nothing,
//! and dripping ones that send their headers a byte at a time (slowloris).

use super::measure::measured;
use super::{Outcome, Sizes, Target};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections that connect and send nothing, while others are served.
pub(super) async fn idle_connections(t: &Target, sizes: &Sizes) -> Outcome {
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
pub(super) async fn dripping_connections(t: &Target, sizes: &Sizes) -> Outcome {
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
