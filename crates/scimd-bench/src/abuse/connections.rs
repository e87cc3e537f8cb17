//! Raw TCP connections that hold the server: idle ones that send nothing,
//! dripping ones that send their headers a byte at a time (slowloris), and
//! one address opening more than its share while another is served.

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

/// One client address (127.0.0.1) opens `sizes.address_flood` connections
/// and keeps them; meanwhile another (127.0.0.2, still loopback) must be
/// served on new connections, and probes from the flooding address answered.
pub(super) async fn address_flood(t: &Target, sizes: &Sizes) -> Outcome {
    let n = sizes.address_flood;
    let addr = t.root.trim_start_matches("http://").to_string();
    let scim_path = t.scim.base().trim_start_matches(&t.root).to_string();
    let auth = t.scim.authorization().unwrap_or_default().to_string();
    measured(
        t,
        "address_flood",
        format!("{n} connections held from 127.0.0.1, then 15 health checks and 15 SCIM reads from 127.0.0.2"),
        |mut o| async move {
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                match TcpStream::connect(&addr).await {
                    Ok(c) => held.push(c),
                    Err(_) => o.count("flood:connect-refused"),
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let scim =
                format!("GET {scim_path}/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n");
            let mut served = 0;
            for _ in 0..15 {
                for (what, request) in
                    [("healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_string()), ("scim", scim.clone())]
                {
                    let status = exchange_from("127.0.0.2", &addr, &request).await;
                    served += usize::from(status == "200");
                    o.count(format!("other-address {what}:{status}"));
                }
            }
            for _ in 0..5 {
                let status = exchange_from("127.0.0.1", &addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                o.count(format!("flooding-address healthz:{status}"));
            }
            o.note = format!("{} held open; {served} of 30 requests from another address answered 200", held.len());
            if served < 30 {
                o.failed = Some("another address was not served while one address flooded".into());
            }
            drop(held);
            o
        },
    )
    .await
}

/// One request (`head` without its closing blank line) on a new connection
/// from `local` (a loopback address); the answer's status, or what went wrong.
async fn exchange_from(local: &str, addr: &str, head: &str) -> String {
    let (Ok(local), Ok(remote)) = (format!("{local}:0").parse(), addr.parse()) else {
        return "bad-address".into();
    };
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return "no-socket".into() };
    if socket.bind(local).is_err() {
        return "bind-failed".into();
    }
    let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(5), socket.connect(remote)).await else {
        return "conn-error".into();
    };
    let request = format!("{head}Connection: close\r\n\r\n");
    if c.write_all(request.as_bytes()).await.is_err() {
        return "write-error".into();
    }
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await {
        Ok(_) if out.len() >= 12 => String::from_utf8_lossy(&out[9..12]).into_owned(),
        Ok(_) => "closed".into(),
        Err(_) => "timeout".into(),
    }
}
