//! No single client can stop the server: connections, timeouts, rate limits,
//! the body budget, the shutdown deadline, and SCIM errors from the HTTP layer.

use super::*;
use scimd::ratelimit::Rate;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

on_both_backends!(
    tenants_are_rate_limited_with_a_scim_429,
    locations_come_from_the_public_url,
    members_are_resources_of_the_tenant_and_versions_follow_membership,
    sorting_puts_missing_values_last_ascending_and_first_descending,
    nul_characters_get_the_same_clear_answer_on_both_backends,
    request_size_limits_answer_413_naming_their_flag,
    strings_an_index_cannot_hold_are_refused_clearly,
    unquoted_values_of_authentik_and_keycloak_are_read_as_strings,
    a_nul_in_any_admin_path_id_names_nothing,
);

impl Server {
    fn addr(&self) -> String {
        self.root.trim_start_matches("http://").to_string()
    }
}

/// Send raw bytes, read the answer until the server closes or `wait` passes.
pub(super) fn raw_exchange(addr: &str, request: &[u8], wait: Duration) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(wait)).unwrap();
    let _ = conn.write_all(request);
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The SCIM error body at the end of a raw HTTP answer.
#[track_caller]
pub(super) fn assert_scim_error_text(answer: &str, status: u16) {
    assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/scim+json"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(body["schemas"], json!([ERROR]), "{answer}");
    assert_eq!(body["status"], json!(status.to_string()), "{answer}");
    assert!(body["detail"].as_str().is_some_and(|d| d.len() > 10), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_http_layer_refuses_is_a_scim_error() {
    let s = start(Backend::Sqlite).await;
    let addr = s.addr();
    let answers = tokio::task::spawn_blocking(move || {
        let headers: String = (0..2000).map(|i| format!("X-Filler-{i}: v\r\n")).collect();
        let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let long_url = format!("GET /scim/v2/acme/Users/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
        // Past hyper's buffer for a whole head: still the URL's fault, and the answer is read.
        let huge_url = format!("GET /scim/v2/acme/Users?filter={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20));
        let mut bad_byte = b"GET /scim/v2/acme/Users/".to_vec();
        bad_byte.extend_from_slice(b"\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n");
        let wait = Duration::from_secs(5);
        [
            (431, raw_exchange(&addr, many_headers.as_bytes(), wait)),
            (414, raw_exchange(&addr, long_url.as_bytes(), wait)),
            (414, raw_exchange(&addr, huge_url.as_bytes(), wait)),
            (400, raw_exchange(&addr, &bad_byte, wait)),
            (400, raw_exchange(&addr, b"NONSENSE\r\n\r\n", wait)),
        ]
    })
    .await
    .unwrap();
    for (status, answer) in answers {
        assert_scim_error_text(&answer, status);
        if status == 414 {
            assert!(answer.contains("URL is longer") && !answer.contains("header"), "{answer}");
        }
    }
    // A percent-encoded path that is not UTF-8 reaches the router.
    let r = s.get("/Users/%ff%fe").await;
    r.assert_error(400, None);
    assert!(r.body["detail"].as_str().unwrap().contains("UTF-8"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_while_others_are_served() {
    let mut config = test_config();
    config.net.header_read_timeout = Duration::from_secs(1);
    config.net.body_read_timeout = Duration::from_secs(1);
    let s = start_with(Backend::Sqlite, config).await;
    let addr = s.addr();
    let (dripping, idle, slow_body) = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            // Headers that never finish (slowloris): closed without an answer.
            let dripping = raw_exchange(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: ", Duration::from_secs(5));
            let dripping_took = started.elapsed();
            // A kept-alive connection that sends nothing more.
            let mut conn = TcpStream::connect(&addr).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut first = [0u8; 256];
            let n = conn.read(&mut first).unwrap();
            assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
            let idle_started = Instant::now();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
            let idle_took = idle_started.elapsed();
            // A body that stops arriving: 408.
            let slow_body = raw_exchange(
                &addr,
                b"POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n\
                  Content-Length: 100\r\n\r\n{\"userName\":",
                Duration::from_secs(5),
            );
            ((dripping, dripping_took), idle_took, slow_body)
        })
        .await
        .unwrap()
    };
    assert_eq!(dripping.0, "", "a client that never finishes its headers gets no answer");
    assert!(dripping.1 < Duration::from_secs(4), "closed after the header timeout, took {:?}", dripping.1);
    assert!(idle < Duration::from_secs(4), "an idle kept-alive connection is closed, took {idle:?}");
    // The slow body was sent without a token: authentication answers first.
    assert!(slow_body.starts_with("HTTP/1.1 401") || slow_body.starts_with("HTTP/1.1 408"), "{slow_body}");
    // With a token, the body timeout answers 408.
    let auth = format!("Authorization: Bearer {}\r\n", s.token);
    let request = format!(
        "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/scim+json\r\n\
         Content-Length: 100\r\n\r\n{{\"userName\":"
    );
    let answer = tokio::task::spawn_blocking(move || raw_exchange(&addr, request.as_bytes(), Duration::from_secs(5)))
        .await
        .unwrap();
    assert_scim_error_text(&answer, 408);
    // Everyone else was served meanwhile.
    assert_eq!(s.get("/Users").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_with_a_scim_503() {
    let mut config = test_config();
    config.net.max_connections = 2;
    let s = start_with(Backend::Sqlite, config).await;
    let addr = s.addr();
    let answer = tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let answer =
            raw_exchange(&addr, b"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5));
        drop(held);
        answer
    })
    .await
    .unwrap();
    assert_scim_error_text(&answer, 503);
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    // Once the held connections are gone, new clients are served again.
    let mut served = false;
    for _ in 0..50 {
        if s.client.get(format!("{}/healthz", s.root)).send().await.is_ok_and(|r| r.status() == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection_and_probes_are_still_answered() {
    let mut config = test_config();
    config.net.max_connections = 100;
    config.net.max_connections_per_address = 3;
    let s = start_with(Backend::Sqlite, config).await;
    let addr = s.addr();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let (refused, probes, other) = tokio::task::spawn_blocking(move || {
        let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let wait = Duration::from_secs(5);
        let refused = raw_exchange(&addr, b"GET /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\n\r\n", wait);
        let probes = [
            raw_exchange(&addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", wait),
            raw_exchange(&addr, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", wait),
        ];
        // Another loopback address has places of its own.
        let socket = healthz_from_another_loopback_address(port);
        drop(held);
        (refused, probes, socket)
    })
    .await
    .unwrap();
    assert_scim_error_text(&refused, 503);
    assert!(refused.contains("--max-connections-per-address"), "{refused}");
    assert!(probes[0].starts_with("HTTP/1.1 200") && probes[0].ends_with("ok"), "{}", probes[0]);
    assert!(probes[1].starts_with("HTTP/1.1 200") && probes[1].ends_with("ready"), "{}", probes[1]);
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
}

/// `GET /healthz` from 127.0.0.2 (another address of the loopback range).
fn healthz_from_another_loopback_address(port: u16) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut conn = socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    })
}

async fn tenants_are_rate_limited_with_a_scim_429(b: Backend) {
    let mut config = test_config();
    config.tenant_rate = Rate::new(1, 3);
    let s = start_with(b, config).await;
    for _ in 0..3 {
        assert_eq!(s.get("/Users").await.status, 200);
    }
    let r = s.get("/Users").await;
    r.assert_error(429, None);
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n >= 1)), "{:?}", r.headers);
    assert!(r.body["detail"].as_str().unwrap().contains("acme"));
    // Another tenant has its own bucket.
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "entra", None).await.unwrap();
    let auth = format!("Bearer {beta}");
    let r = s.raw(Method::GET, &format!("{}/scim/v2/beta/Users", s.root), None, &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200);
    // A tenant's policy may give it its own rate.
    let own = json!({"rate_limit": {"requests_per_second": 1000, "burst": 1000}});
    let r = s.adm(Method::PUT, "/policy", Some(own)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rate_limit"]["burst"], 1000);
    for _ in 0..20 {
        assert_eq!(s.get("/Users").await.status, 200);
    }
    // `null` goes back to the server's rate.
    let r = s.adm(Method::PUT, "/policy", Some(json!({"rate_limit": null}))).await;
    assert_eq!(r.body["rate_limit"], Value::Null);
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(s.get("/Users").await.status.as_u16());
        }
        v
    };
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tokens_are_limited_per_address_without_a_lookup_each() {
    let mut config = test_config();
    config.unknown_token_rate = Rate::new(1, 3);
    let s = start_with(Backend::Sqlite, config).await;
    assert_eq!(s.get("/Users").await.status, 200); // the good token is now known
    let bad = [("Authorization", "Bearer scimd_not_a_real_token")];
    for _ in 0..3 {
        s.raw(Method::GET, "/Users", None, &bad).await.assert_error(401, None);
    }
    let r = s.raw(Method::GET, "/Users", None, &bad).await;
    r.assert_error(429, None);
    assert!(r.header("retry-after").is_some());
    // A token the server knows keeps working from the same address (with
    // no auth cache here, it is looked up: it was valid before).
    assert_eq!(s.get("/Users").await.status, 200);
    // A second unknown token from the address is refused before any look-up.
    let other = [("Authorization", "Bearer scimd_another_unknown_token")];
    s.raw(Method::GET, "/Users", None, &other).await.assert_error(429, None);
}

async fn locations_come_from_the_public_url(b: Backend) {
    let mut config = test_config();
    config.public_url = Some("https://scim.example.com/idp".into());
    let s = start_with(b, config).await;
    let r = s
        .raw(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "loc@acme.com"}).to_string()),
            &[("Host", "evil.example"), ("Content-Type", "application/scim+json")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let expected = format!("https://scim.example.com/idp/scim/v2/acme/Users/{id}");
    assert_eq!(r.header("location"), Some(expected.as_str()));
    assert_eq!(r.body["meta"]["location"], expected);
    // Without --public-url, the Host header is used (documented).
    let plain = start(b).await;
    let r = plain.raw(Method::GET, "/ServiceProviderConfig", None, &[("Host", "scim.internal:8080")]).await;
    assert!(r.body["meta"]["location"].as_str().unwrap_or_default().starts_with("http://scim.internal:8080/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_memory_budget_wait_with_503() {
    let mut config = test_config();
    config.max_inflight_body_bytes = 64 * 1024;
    config.net.body_read_timeout = Duration::from_secs(3);
    let s = start_with(Backend::Sqlite, config).await;
    let addr = s.addr();
    let token = s.token.clone();
    // One client declares a 60 KB body and sends it slowly: it holds the budget.
    let holder = std::thread::spawn(move || {
        let head = format!(
            "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: 60000\r\n\r\n{{"
        );
        raw_exchange(&addr, head.as_bytes(), Duration::from_secs(6))
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = json!({"schemas": [USER], "userName": "budget@acme.com", "title": "x".repeat(20_000)});
    let r = s.post("/Users", body.clone()).await;
    r.assert_error(503, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.body["detail"].as_str().unwrap().contains("--max-inflight-body-mb"));
    let held = tokio::task::spawn_blocking(move || holder.join().unwrap()).await.unwrap();
    assert!(held.starts_with("HTTP/1.1 408"), "{held}");
    // Once the budget is free, the same request is served.
    assert_eq!(s.post("/Users", body).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_requests_past_its_deadline() {
    let dir = std::env::temp_dir().join(unique_name("scimd-shutdown-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (svc, tasks) = cli::open_default(&format!("sqlite://{}", dir.join("s.db").display())).await.unwrap();
    svc.create_tenant("acme").await.unwrap();
    let token = cli::create_token(&svc, "acme", "okta", None).await.unwrap();
    let mut config = test_config();
    config.net.shutdown_timeout = Duration::from_millis(500);
    config.net.body_read_timeout = Duration::from_secs(60);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cli::run_server(listener, AppState::new(svc, config), tasks, async {
        let _ = stopped.await;
    }));
    // A request whose body never comes keeps a connection busy.
    let slow = std::thread::spawn(move || {
        let head = format!(
            "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 100\r\n\r\n{{"
        );
        raw_exchange(&addr, head.as_bytes(), Duration::from_secs(10))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown waited past its deadline")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
    let _ = tokio::task::spawn_blocking(move || slow.join()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template() {
    let s = start(Backend::Sqlite).await;
    let user = s.create_user("metrics@acme.com").await;
    let id = Server::id_of(&user);
    assert_eq!(s.get(&format!("/Users/{id}")).await.status, 200);
    assert_eq!(s.adm(Method::GET, "/workspaces", None).await.status, 200);
    let r = s.client.get(format!("{}/metrics", s.root)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("scimd_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/scim/v2/{tenant}/Users/{id}\""), "{text}");
    assert!(text.contains("scimd_http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains(&id), "a raw id in the metrics");
    // Admin requests carry their tenant too (the metrics are the process's:
    // other tests' unauthenticated admin requests have none).
    let admin = text.lines().any(|l| {
        l.starts_with("scimd_http_requests_total")
            && l.contains("/admin/v1/tenants/{tenant}/workspaces\"")
            && l.contains("tenant=\"acme\"")
    });
    assert!(admin, "{text}");
}

// ------------------------------------------------------------------ membership integrity

async fn members_are_resources_of_the_tenant_and_versions_follow_membership(b: Backend) {
    let s = start(b).await;
    let alice = Server::id_of(&s.create_user("alice@acme.com").await);
    let bob = Server::id_of(&s.create_user("bob@acme.com").await);
    let alice_v1 = s.get(&format!("/Users/{alice}")).await.body["meta"]["version"].clone();
    // Unknown member values are not stored; the request succeeds for the rest.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Eng", "members": [{"value": alice}, {"value": "not-a-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let eng = Server::id_of(&r.body);
    let members: Vec<&str> =
        r.body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(members, [alice.as_str()]);
    // Alice's representation changed (groups): so did her version.
    let a = s.get(&format!("/Users/{alice}")).await;
    assert_ne!(a.body["meta"]["version"], alice_v1);
    assert_eq!(a.body["groups"][0]["value"], eng);
    s.add_member(&eng, "ghost").await;
    let g = s.get(&format!("/Groups/{eng}")).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 1, "{}", g.body);
    // A group cannot contain itself.
    let r =
        s.patch(&format!("/Groups/{eng}"), json!([{"op": "add", "path": "members", "value": [{"value": eng}]}])).await;
    r.assert_error(400, Some("invalidValue"));
    // Nested: a group in a group; deleting the inner one removes it from the outer.
    let all = Server::id_of(&s.create_group("All").await);
    s.add_member(&all, &eng).await;
    s.add_member(&all, &bob).await;
    let all_before = s.get(&format!("/Groups/{all}")).await;
    assert_eq!(all_before.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(s.delete(&format!("/Groups/{eng}")).await.status, 204);
    let all_after = s.get(&format!("/Groups/{all}")).await;
    let left: Vec<&str> =
        all_after.body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(left, [bob.as_str()]);
    assert_ne!(all_after.body["meta"]["version"], all_before.body["meta"]["version"]);
    // Alice lost her group with it, and her version moved.
    let a2 = s.get(&format!("/Users/{alice}")).await;
    assert!(a2.body.get("groups").is_none(), "{}", a2.body);
    assert_ne!(a2.body["meta"]["version"], a.body["meta"]["version"]);
    // Deleting a member moves the group's version.
    assert_eq!(s.delete(&format!("/Users/{bob}")).await.status, 204);
    let all_last = s.get(&format!("/Groups/{all}")).await;
    assert!(all_last.body.get("members").is_none_or(|m| m.as_array().is_some_and(Vec::is_empty)));
    assert_ne!(all_last.body["meta"]["version"], all_after.body["meta"]["version"]);
    // If-None-Match with the old ETag no longer answers 304.
    let old = all_after.header("etag").unwrap().to_string();
    let r = s.raw(Method::GET, &format!("/Groups/{all}"), None, &[("If-None-Match", &old)]).await;
    assert_eq!(r.status, 200);
}

async fn sorting_puts_missing_values_last_ascending_and_first_descending(b: Backend) {
    let s = start(b).await;
    for (name, title) in [("a@acme.com", Some("B")), ("b@acme.com", None), ("c@acme.com", Some("A"))] {
        let mut u = json!({"schemas": [USER], "userName": name});
        if let Some(t) = title {
            u["title"] = json!(t);
        }
        assert_eq!(s.post("/Users", u).await.status, 201);
    }
    let names = |r: &Resp| -> Vec<String> {
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_string()).collect()
    };
    let asc = s.get("/Users?sortBy=title").await;
    assert_eq!(names(&asc), ["c@acme.com", "a@acme.com", "b@acme.com"]);
    let desc = s.get("/Users?sortBy=title&sortOrder=descending").await;
    assert_eq!(names(&desc), ["b@acme.com", "a@acme.com", "c@acme.com"]);
}

/// A chunked request head for `path` with a token, and `chunks` chunks of `size` bytes
/// of a JSON string (no last chunk: the client stops there and reads).
fn chunked_request(token: &str, chunks: usize, size: usize) -> Vec<u8> {
    let mut req = format!(
        "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let opening =
        br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"chunked@acme.com","title":""#;
    req.extend_from_slice(format!("{:x}\r\n", opening.len()).as_bytes());
    req.extend_from_slice(opening);
    req.extend_from_slice(b"\r\n");
    for _ in 0..chunks {
        req.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        req.extend(std::iter::repeat_n(b'x', size));
        req.extend_from_slice(b"\r\n");
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_are_counted_against_every_limit_as_they_arrive() {
    // Past --max-body-bytes (64 KiB here): 413 once the limit is passed.
    let s = start(Backend::Sqlite).await;
    let (addr, token) = (s.addr(), s.token.clone());
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(&addr, &chunked_request(&token, 20, 4096), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert_scim_error_text(&answer, 413);
    assert!(answer.contains("--max-body-bytes"), "{answer}");
    // Past the in-flight budget (32 KiB, under a 1 MiB body limit): 503.
    let mut config = test_config();
    config.max_body_bytes = 1 << 20;
    config.max_inflight_body_bytes = 32 * 1024;
    let budget = start_with(Backend::Sqlite, config).await;
    let (addr, token) = (budget.addr(), budget.token.clone());
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(&addr, &chunked_request(&token, 12, 4096), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert_scim_error_text(&answer, 503);
    assert!(answer.contains("--max-inflight-body-mb"), "{answer}");
    // Neither was written, and a chunked body within the limits is served.
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
    let (addr, token) = (s.addr(), s.token.clone());
    let answer = tokio::task::spawn_blocking(move || {
        let mut req = chunked_request(&token, 2, 1000);
        req.extend_from_slice(b"2\r\n\"}\r\n0\r\n\r\n");
        let mut conn = TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(&req).unwrap();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_with_a_small_body_reads_it_and_answers() {
    let s = start(Backend::Sqlite).await;
    let addr = s.addr();
    let token = s.token.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let body = format!("{{\"userName\":\"{}\"}}", "x".repeat(300_000));
        let requests = [
            // No token: 401 before the body is looked at.
            format!("POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
            // Declared past --max-body-bytes (64 KiB here), within what is read to answer.
            format!("POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        ];
        requests
            .iter()
            .map(|req| {
                // The client writes its whole body before it reads, and the
                // connection stays usable for the next request.
                let mut conn = TcpStream::connect(&addr).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let wrote = conn.write_all(req.as_bytes());
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).unwrap_or(0);
                let first = String::from_utf8_lossy(&buf[..n]).into_owned();
                let again = conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").and_then(|_| {
                    let n = conn.read(&mut buf)?;
                    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
                });
                (wrote.is_ok(), first, again.unwrap_or_default())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for ((wrote, answer, again), status) in answers.into_iter().zip([401, 413]) {
        assert!(wrote, "the whole body was taken");
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        assert!(answer.contains("application/scim+json"), "{answer}");
        assert!(again.starts_with("HTTP/1.1 200"), "kept alive: {again}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_waits_past_the_statement_timeout_is_a_503_to_retry() {
    if postgres_url().is_none() {
        return;
    }
    let pool = scimd::store::PoolConfig { statement_timeout: Duration::from_millis(400), ..Default::default() };
    let s = start_with_pool(Backend::Postgres, test_config(), Default::default(), &pool).await;
    let group = Server::id_of(&s.create_group("Locked").await);
    let user = Server::id_of(&s.create_user("waits@acme.com").await);
    // Another writer holds the group's row (another replica's long PATCH, say).
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&s.url).await.unwrap();
    sqlx::Executor::execute(&mut other, "BEGIN").await.unwrap();
    let lock = format!("SELECT 1 FROM resources WHERE id = '{group}' FOR UPDATE");
    sqlx::Executor::execute(&mut other, sqlx::AssertSqlSafe(lock)).await.unwrap();
    let add = json!([{"op": "add", "path": "members", "value": [{"value": user}]}]);
    let r = s.patch(&format!("/Groups/{group}"), add.clone()).await;
    r.assert_error(503, None);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.body["detail"].as_str().unwrap().contains("retry"), "{}", r.body);
    sqlx::Executor::execute(&mut other, "ROLLBACK").await.unwrap();
    // Nothing was half-written, and the same request then goes through.
    let members = s.get(&format!("/Groups/{group}")).await.body["members"].clone();
    assert!(members.as_array().is_none_or(Vec::is_empty), "{members}");
    assert_eq!(s.patch(&format!("/Groups/{group}"), add).await.status, 200);
}

// ------------------------------------------------------------------ input the database cannot hold

async fn a_nul_in_any_admin_path_id_names_nothing(b: Backend) {
    let s = start(b).await;
    for (method, path) in [
        (Method::GET, "/users/x%00y"),
        (Method::PATCH, "/users/x%00y"),
        (Method::POST, "/users/x%00y/restore"),
        (Method::GET, "/users/x%00y/access"),
        (Method::DELETE, "/users/x%00y/roles/w%00/r"),
        (Method::GET, "/webhooks/x%00y"),
        (Method::DELETE, "/webhooks/x%00y"),
        (Method::GET, "/webhooks/x%00y/deliveries"),
        (Method::POST, "/deliveries/x%00y/retry"),
        (Method::POST, "/webhooks/wh/deliveries/x%00y/retry"),
        (Method::GET, "/workspaces/x%00y"),
        (Method::DELETE, "/roles/x%00y"),
        (Method::GET, "/licence-types/x%00y"),
        (Method::GET, "/group-mappings/x%00y"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"active": false}));
        let r = s.adm(method.clone(), path, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "not_found", "{method} {path}: {}", r.body);
    }
}

async fn nul_characters_get_the_same_clear_answer_on_both_backends(b: Backend) {
    let s = start(b).await;
    let user = Server::id_of(&s.create_user("nul@acme.com").await);
    let with_nul = json!({"schemas": [USER], "userName": "n\u{0}ul@acme.com"});
    s.post("/Users", with_nul.clone()).await.assert_error(400, Some("invalidValue"));
    let unknown_attr = json!({"schemas": [USER], "userName": "x@acme.com", "nickName\u{0}": "a"});
    s.post("/Users", unknown_attr).await.assert_error(400, Some("invalidValue"));
    s.put(&format!("/Users/{user}"), with_nul).await.assert_error(400, Some("invalidValue"));
    s.patch(&format!("/Users/{user}"), json!([{"op": "replace", "path": "displayName", "value": "a\u{0}b"}]))
        .await
        .assert_error(400, Some("invalidValue"));
    let group = json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": user, "display": "a\u{0}"}]});
    s.post("/Groups", group).await.assert_error(400, Some("invalidValue"));
    // Ids in paths: nothing has them.
    s.get("/Users/abc%00def").await.assert_error(404, None);
    s.delete("/Groups/%00").await.assert_error(404, None);
    // Filters and other query parameters.
    s.get(&format!("/Users?filter={}", q("userName eq \"a\u{0}b\""))).await.assert_error(400, Some("invalidValue"));
    s.get("/Users?attributes=userName%00").await.assert_error(400, Some("invalidValue"));
    // A tenant name.
    s.get(&format!("{}/scim/v2/ac%00me/Users", s.root)).await.assert_error(404, None);
    // The admin API says it in its own words.
    let r = s.adm(Method::POST, "/workspaces", Some(json!({"name": "w\u{0}"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("NUL"), "{}", r.body);
    // Nothing was written.
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

async fn request_size_limits_answer_413_naming_their_flag(b: Backend) {
    let mut config = test_config();
    config.max_body_bytes = 4 << 20;
    config.limits = scim_core::Limits { max_multi_values: 50, max_members: 100, max_patch_operations: 20 };
    let s = start_with(b, config).await;
    let user = Server::id_of(&s.create_user("limits@acme.com").await);
    let group = Server::id_of(&s.create_group("Limits").await);
    let emails: Vec<Value> = (0..51).map(|i| json!({"value": format!("e{i}@acme.com")})).collect();
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "many@acme.com", "emails": emails})).await;
    r.assert_error(413, None);
    assert!(r.body["detail"].as_str().unwrap().contains("--max-multi-values"), "{}", r.body);
    let members: Vec<Value> = (0..101).map(|i| json!({"value": format!("m{i}")})).collect();
    let r = s.post("/Groups", json!({"schemas": [GROUP], "displayName": "Big", "members": members.clone()})).await;
    r.assert_error(413, None);
    assert!(r.body["detail"].as_str().unwrap().contains("--max-members-per-request"), "{}", r.body);
    let r = s.patch(&format!("/Groups/{group}"), json!([{"op": "add", "path": "members", "value": members}])).await;
    r.assert_error(413, None);
    let ops: Vec<Value> =
        (0..21).map(|i| json!({"op": "replace", "path": "displayName", "value": format!("d{i}")})).collect();
    let r = s.patch(&format!("/Users/{user}"), json!(ops)).await;
    r.assert_error(413, None);
    assert!(r.body["detail"].as_str().unwrap().contains("--max-patch-operations"), "{}", r.body);
    // PATCH cannot grow an attribute past the limit either.
    let more: Vec<Value> = (0..51).map(|i| json!({"value": format!("p{i}@acme.com")})).collect();
    s.patch(&format!("/Users/{user}"), json!([{"op": "add", "path": "emails", "value": more}]))
        .await
        .assert_error(413, None);
    // At the limits, everything is accepted; and a 100,000-value body is refused as quickly.
    let fifty: Vec<Value> = (0..50).map(|i| json!({"value": format!("f{i}@acme.com")})).collect();
    assert_eq!(
        s.post("/Users", json!({"schemas": [USER], "userName": "fifty@acme.com", "emails": fifty})).await.status,
        201
    );
    let huge: Vec<Value> = (0..100_000).map(|i| json!({"value": format!("h{i}")})).collect();
    s.post("/Groups", json!({"schemas": [GROUP], "displayName": "Huge", "members": huge}))
        .await
        .assert_error(413, None);
    assert_eq!(s.get("/Groups").await.body["totalResults"], 1, "nothing of the refused requests was written");
}

async fn strings_an_index_cannot_hold_are_refused_clearly(b: Backend) {
    let s = start(b).await;
    let long = "x".repeat(2_800);
    for (body, attr) in [
        (json!({"schemas": [USER], "userName": format!("{long}@acme.com")}), "userName"),
        (json!({"schemas": [USER], "userName": "ext@acme.com", "externalId": long}), "externalId"),
        (json!({"schemas": [USER], "userName": "dn@acme.com", "displayName": "d".repeat(8_200)}), "displayName"),
    ] {
        let r = s.post("/Users", body).await;
        r.assert_error(400, Some("invalidValue"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(attr) && detail.contains("1024"), "{detail}");
    }
    let r = s.post("/Groups", json!({"schemas": [GROUP], "displayName": "g".repeat(8_200)})).await;
    r.assert_error(400, Some("invalidValue"));
    let group = Server::id_of(&s.create_group("G").await);
    s.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "add", "path": "members", "value": [{"value": "m".repeat(8_200)}]}]),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    // Blank userNames, and bodies that do not say what they are.
    s.post("/Users", json!({"schemas": [USER], "userName": "  "})).await.assert_error(400, Some("invalidValue"));
    s.post("/Users", json!({"schemas": [USER], "userName": ""})).await.assert_error(400, Some("invalidValue"));
    s.post("/Users", json!({"schemas": "x", "userName": "s@acme.com"})).await.assert_error(400, Some("invalidValue"));
    s.post("/Users", json!({"schemas": [GROUP], "userName": "s@acme.com"}))
        .await
        .assert_error(400, Some("invalidValue"));
    let user = Server::id_of(&s.create_user("blank@acme.com").await);
    s.patch(&format!("/Users/{user}"), json!([{"op": "replace", "path": "userName", "value": " "}]))
        .await
        .assert_error(400, Some("invalidValue"));
    // RFC 7644 §3.5.2.3: a replace whose value filter matches nothing has no target...
    s.patch(
        &format!("/Users/{user}"),
        json!([{"op": "replace", "path": "emails[value eq \"none\"].type", "value": "home"}]),
    )
    .await
    .assert_error(400, Some("noTarget"));
    // ...except Entra's form, which creates the element.
    let r = s
        .patch(
            &format!("/Users/{user}"),
            json!([{"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["phoneNumbers"][0]["value"], "+1 555");
}

/// Named tolerances: authentik up to 2025.6 sends `userName eq alice`; a
/// Keycloak SCIM client (suvera keycloak-scim2-storage) `emails[type eq work].value`.
async fn unquoted_values_of_authentik_and_keycloak_are_read_as_strings(b: Backend) {
    let s = start(b).await;
    let id = Server::id_of(&s.create_user("alice").await);
    let r = s.get(&format!("/Users?filter={}", q("userName eq alice"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq work].value", "value": "a@kc.example"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"][0]["value"], "a@kc.example");
}
