//! Webhooks, as a product's endpoint meets them: signed as Standard
//! Webhooks 1.0 says, in order per subject, retried on the schedule and
//! then dead-lettered, disabled by a 410, refused for private targets, and
//! a secret rotated without a gap.

use super::*;
use scimd::events::signature::{self, Secret};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

on_both_backends!(
    deliveries_are_signed_and_in_order_per_subject,
    failures_are_retried_then_dead_lettered_and_retried_by_hand,
    a_failing_event_holds_back_its_subject_only,
    a_410_disables_the_endpoint_until_it_is_enabled,
    an_endpoint_failing_for_five_days_is_disabled,
    targets_and_types_are_checked_and_secrets_rotate_without_a_gap
);

/// What a receiver was sent: the three headers and the body.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    pub(crate) signature: String,
    pub(crate) body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A product's webhook endpoint on 127.0.0.1: it records what it is sent
/// and answers with the statuses queued for it (then 204).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    /// Answer this to every request whose body contains the text.
    fail_matching: Arc<Mutex<Option<(String, u16)>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/scim", listener.local_addr().unwrap());
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hooks/scim",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    let got = Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap_or_default(),
                        signature: h("webhook-signature"),
                        body: body.clone(),
                    };
                    let failing = state.fail_matching.lock().unwrap().clone();
                    let status = match failing {
                        Some((text, status)) if body.contains(&text) => status,
                        _ => state.answers.lock().unwrap().pop_front().unwrap_or(204),
                    };
                    state.got.lock().unwrap().push(got);
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// What it was sent, once at least `n` requests came.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the receiver got {} requests, not {n}", self.received().len());
    }
}

async fn create_hook(s: &Server, url: &str, events: Option<Value>) -> (String, Secret) {
    let mut body = json!({"url": url});
    if let Some(events) = events {
        body["events"] = events;
    }
    let r = s.adm(Method::POST, "/webhooks", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (Server::id_of(&r.body), Secret::parse(secret).unwrap())
}

/// A test server whose webhook retries come at once, `attempts` times.
pub(crate) async fn start_fast(b: Backend, attempts: usize) -> Server {
    let webhooks = scimd::service::webhooks::WebhookOptions {
        key: Some(scimd::events::sealed::SealingKey::generate().unwrap()),
        allow_private: true,
        schedule: vec![0; attempts],
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let options = scimd::service::Options { webhooks, ..Default::default() };
    start_with_options(b, test_config(), options).await
}

async fn deliveries(s: &Server, hook: &str, status: &str) -> Vec<Value> {
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}/deliveries?status={status}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

pub(crate) async fn deliveries_settle(s: &Server, hook: &str, status: &str, n: usize) -> Vec<Value> {
    for _ in 0..1000 {
        let d = deliveries(s, hook, status).await;
        if d.len() >= n {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} deliveries are {status}");
}

async fn deliveries_are_signed_and_in_order_per_subject(b: Backend) {
    let s = start(b).await;
    // Events before the endpoint existed are not sent to it (once the feed
    // shows them: on PostgreSQL an event shows when every older transaction
    // of the server has ended, and one committed but not yet shown is sent).
    s.create_user("before@acme.com").await;
    for _ in 0..500 {
        let r = s.adm(Method::GET, "/events", None).await;
        if !r.body["data"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rx, url) = Receiver::start().await;
    let (hook, secret) = create_hook(&s, &url, None).await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(Server::id_of(&s.create_user(&format!("u{i}@acme.com")).await));
    }
    for (i, id) in users.iter().enumerate() {
        let r = s
            .patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let got = rx.wait_for(18).await;
    for g in &got {
        assert!(signature::verify(&secret, &g.signature, &g.id, g.timestamp, g.body.as_bytes()), "{g:?}");
        // The signature covers the body: one changed byte fails it.
        let tampered = g.body.replacen("acme", "acmf", 1);
        assert!(!signature::verify(&secret, &g.signature, &g.id, g.timestamp, tampered.as_bytes()));
        let body = g.json();
        assert_eq!(body["id"], g.id.as_str(), "webhook-id is the event id");
        assert_eq!(body["tenant"], "acme");
        assert_ne!(body["data"]["userName"], "before@acme.com");
    }
    for id in &users {
        let of_user: Vec<String> = got
            .iter()
            .map(|g| g.json())
            .filter(|b| b["subject"]["id"] == id.as_str())
            .map(|b| b["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(of_user, ["user.created", "user.updated", "user.deactivated"], "in order for {id}");
    }
    let done = deliveries_settle(&s, &hook, "delivered", 18).await;
    assert_eq!(done.len(), 18);
    assert_eq!(done[0]["attempts"], 1);
    assert_eq!(done[0]["last_status"], 204);
    assert!(deliveries(&s, &hook, "failed").await.is_empty());
    // Delivered once each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 18);
}

async fn failures_are_retried_then_dead_lettered_and_retried_by_hand(b: Backend) {
    let s = start_fast(b, 3).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = create_hook(&s, &url, Some(json!(["user.created"]))).await;
    // (A 429 or 503 would also pause the endpoint: the unit tests of the sender show that.)
    rx.answer(&[500, 404, 302]);
    let ada = Server::id_of(&s.create_user("ada@acme.com").await);
    // Only the types it asked for.
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "title", "value": "x"}])).await;
    assert_eq!(r.status, 200);
    let failed = deliveries_settle(&s, &hook, "failed", 1).await;
    assert_eq!(rx.received().len(), 3, "three attempts on a schedule of three");
    let got = rx.received();
    assert!(got.iter().all(|g| g.id == got[0].id), "the same webhook-id on every retry");
    let dead = &failed[0];
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_status"], 302);
    assert!(dead["last_error"].as_str().unwrap().contains("redirect"), "{dead}");
    assert_eq!(dead["event"]["type"], "user.created");
    // An admin sends it again once the endpoint is fixed.
    let r = s.adm(Method::POST, &format!("/deliveries/{}/retry", dead["id"].as_str().unwrap()), None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    let done = deliveries_settle(&s, &hook, "delivered", 1).await;
    assert_eq!(done[0]["id"], dead["id"]);
    assert_eq!(rx.received().len(), 4);
    // A pending delivery is not retried by hand; an unknown one is named.
    let r = s.adm(Method::POST, "/deliveries/dlv_nope/retry", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("dlv_nope"));
}

async fn a_failing_event_holds_back_its_subject_only(b: Backend) {
    let s = start_fast(b, 2).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = create_hook(&s, &url, None).await;
    // Every delivery about ada fails; bob's go through meanwhile.
    *rx.fail_matching.lock().unwrap() = Some(("ada@acme.com".into(), 500));
    let ada = Server::id_of(&s.create_user("ada@acme.com").await);
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "title", "value": "x"}])).await;
    assert_eq!(r.status, 200);
    let bob = Server::id_of(&s.create_user("bob@acme.com").await);
    let r = s.patch(&format!("/Users/{bob}"), json!([{"op": "replace", "path": "title", "value": "x"}])).await;
    assert_eq!(r.status, 200);
    // ada's created is tried twice and given up; only then her update goes
    // (and fails twice too). bob's go through meanwhile, whenever they show
    // (on PostgreSQL, once the transactions before them have ended).
    deliveries_settle(&s, &hook, "failed", 2).await;
    deliveries_settle(&s, &hook, "delivered", 2).await;
    let got: Vec<Value> = rx.received().iter().map(Received::json).collect();
    let of = |id: &str| -> Vec<String> {
        got.iter().filter(|b| b["subject"]["id"] == id).map(|b| b["type"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(of(&ada), ["user.created", "user.created", "user.updated", "user.updated"]);
    assert_eq!(of(&bob), ["user.created", "user.updated"]);
    assert_eq!(deliveries(&s, &hook, "delivered").await.len(), 2);
}

async fn a_410_disables_the_endpoint_until_it_is_enabled(b: Backend) {
    let s = start(b).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = create_hook(&s, &url, None).await;
    rx.answer(&[410]);
    s.create_user("ada@acme.com").await;
    for _ in 0..500 {
        if s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await.body["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await;
    assert_eq!(r.body["enabled"], false, "{}", r.body);
    assert!(r.body["disabled_reason"].as_str().unwrap().contains("410"), "{}", r.body);
    s.create_user("bob@acme.com").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.received().len(), 1, "nothing goes to a disabled endpoint");
    // What waits behind the disabled endpoint is listed, not only what was queued before.
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}/deliveries?status=pending"), None).await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = s.adm(Method::POST, &format!("/webhooks/{hook}/enable"), None).await;
    assert_eq!((r.status.as_u16(), r.body["enabled"].clone()), (200, json!(true)), "{}", r.body);
    let got = rx.wait_for(3).await;
    let mut names: Vec<String> =
        got.iter().map(|g| g.json()["data"]["userName"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["ada@acme.com", "ada@acme.com", "bob@acme.com"], "the refused one again, and what waited");
    assert_eq!(deliveries_settle(&s, &hook, "delivered", 2).await.len(), 2);
}

async fn targets_and_types_are_checked_and_secrets_rotate_without_a_gap(b: Backend) {
    // A server as deployed: private targets refused.
    let strict = scimd::service::webhooks::WebhookOptions {
        key: Some(scimd::events::sealed::SealingKey::generate().unwrap()),
        ..Default::default()
    };
    let s =
        start_with_options(b, test_config(), scimd::service::Options { webhooks: strict, ..Default::default() }).await;
    for (url, words) in [
        ("http://127.0.0.1:9/hook", "loopback (127.0.0.0/8)"),
        ("http://localhost:9/hook", "loopback"),
        ("http://169.254.169.254/latest", "link-local (169.254.0.0/16)"),
        ("http://[::1]/hook", "loopback (::1/128)"),
        ("ftp://example.com/", "not an http:// or https:// URL"),
        ("https://user:pw@example.com/", "user name or password"),
    ] {
        let r = s.adm(Method::POST, "/webhooks", Some(json!({"url": url}))).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.body["error"]["detail"].as_str().unwrap().contains(words), "{url}: {}", r.body);
    }
    // Every special-use block, and IPv4 carried inside IPv6. Only literal
    // addresses: nothing is resolved or connected to.
    for (host, words) in [
        ("0.1.2.3", "\"this network\""),
        ("10.1.2.3", "private-use (10.0.0.0/8)"),
        ("100.64.0.1", "shared address space"),
        ("172.20.0.1", "private-use (172.16.0.0/12)"),
        ("192.0.0.170", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.1", "TEST-NET-1"),
        ("192.31.196.1", "AS112-v4"),
        ("192.52.193.1", "AMT"),
        ("192.88.99.1", "6to4 relay anycast"),
        ("192.168.0.1", "private-use (192.168.0.0/16)"),
        ("192.175.48.1", "AS112 service"),
        ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.1", "TEST-NET-2"),
        ("203.0.113.1", "TEST-NET-3"),
        ("224.0.0.1", "multicast (224.0.0.0/4)"),
        ("240.0.0.1", "reserved (240.0.0.0/4)"),
        ("255.255.255.255", "reserved (240.0.0.0/4)"),
        ("[::]", "unspecified"),
        ("[::ffff:10.0.0.1]", "IPv4-mapped IPv6 carrying the IPv4 address 10.0.0.1"),
        ("[::ffff:0:7f00:1]", "IPv4-translated IPv6 carrying the IPv4 address 127.0.0.1"),
        ("[::127.0.0.1]", "IPv4-compatible IPv6 carrying the IPv4 address 127.0.0.1"),
        ("[64:ff9b::a9fe:a9fe]", "NAT64 (64:ff9b::/96) carrying the IPv4 address 169.254.169.254"),
        ("[64:ff9b:1::1]", "local-use IPv4/IPv6 translation"),
        ("[100::1]", "discard-only"),
        ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "Teredo (2001::/32) carrying the IPv4 address 127.0.0.1"),
        ("[2001:2::1]", "IETF protocol assignments"),
        ("[2001:db8::1]", "documentation (2001:db8::/32)"),
        ("[2002:7f00:1::1]", "6to4 (2002::/16) carrying the IPv4 address 127.0.0.1"),
        ("[2002:a9fe:a9fe::1]", "6to4 (2002::/16) carrying the IPv4 address 169.254.169.254"),
        ("[2620:4f:8000::1]", "AS112 service"),
        ("[3fff::1]", "documentation (3fff::/20)"),
        ("[5f00::1]", "reserved outside global unicast"),
        ("[fd00::1]", "unique local (fc00::/7)"),
        ("[fe80::1]", "link-local (fe80::/10)"),
        ("[fec0::1]", "site-local (fec0::/10)"),
        ("[ff02::1]", "multicast (ff00::/8)"),
    ] {
        let url = format!("http://{host}/hook");
        let r = s.adm(Method::POST, "/webhooks", Some(json!({"url": url}))).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        let detail = r.body["error"]["detail"].as_str().unwrap();
        assert!(detail.contains(words) && detail.contains("special-use"), "{url}: {detail}");
    }
    let r = s
        .adm(Method::POST, "/webhooks", Some(json!({"url": "http://127.0.0.1:9/", "events": ["users.created"]})))
        .await;
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("'users.created' is not an event type"), "{}", r.body);
    let r = s.adm(Method::POST, "/webhooks", Some(json!({"uri": "http://x"}))).await;
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("'uri'"), "{}", r.body);
    assert_eq!(s.adm(Method::GET, "/webhooks", None).await.body["data"], json!([]));
    drop(s);

    // Rotation: both secrets sign during the grace period.
    let s = start(b).await;
    let (rx, url) = Receiver::start().await;
    let (hook, old) = create_hook(&s, &url, Some(json!(["user."]))).await;
    let r = s.adm(Method::GET, "/webhooks", None).await;
    assert!(r.body["data"][0].get("secret").is_none(), "a secret is shown once: {}", r.body);
    let r = s.adm(Method::POST, &format!("/webhooks/{hook}/rotate-secret"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = Secret::parse(r.body["secret"].as_str().unwrap()).unwrap();
    assert!(r.body["previous_secret_signs_until"].is_string());
    s.create_user("ada@acme.com").await;
    s.create_group("not a user event").await;
    let got = rx.wait_for(1).await;
    let g = &got[0];
    assert_eq!(g.signature.split(' ').count(), 2, "{}", g.signature);
    assert!(signature::verify(&new, &g.signature, &g.id, g.timestamp, g.body.as_bytes()));
    assert!(signature::verify(&old, &g.signature, &g.id, g.timestamp, g.body.as_bytes()));
    // After the grace period only the new one signs. (Ada's delivery is
    // recorded first: moving the clock past a lease in flight would send it again.)
    deliveries_settle(&s, &hook, "delivered", 1).await;
    s.clock.advance(Duration::from_secs(25 * 3600));
    s.create_user("bob@acme.com").await;
    let got = rx.wait_for(2).await;
    let g = &got[1];
    assert!(signature::verify(&new, &g.signature, &g.id, g.timestamp, g.body.as_bytes()));
    assert!(!signature::verify(&old, &g.signature, &g.id, g.timestamp, g.body.as_bytes()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 2, "the group event was not wanted");
    // Deleted: gone, and named when asked for.
    assert_eq!(s.adm(Method::DELETE, &format!("/webhooks/{hook}"), None).await.status, 204);
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains(&hook));
}

async fn an_endpoint_failing_for_five_days_is_disabled(b: Backend) {
    let s = start_fast(b, 1000).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = create_hook(&s, &url, None).await;
    *rx.fail_matching.lock().unwrap() = Some(("acme.com".into(), 500));
    s.create_user("ada@acme.com").await;
    rx.wait_for(2).await;
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await;
    assert!(r.body["failing_since"].is_string(), "{}", r.body);
    assert_eq!(r.body["enabled"], true, "failing a while is not yet disabled");
    s.clock.advance(Duration::from_secs(5 * 86400 + 60));
    let mut body = Value::Null;
    for _ in 0..500 {
        body = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await.body;
        if body["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(body["enabled"], false, "{body}");
    assert!(body["disabled_reason"].as_str().unwrap().contains("5 days"), "{body}");
    // Its delivery waits (pending) for the endpoint to be enabled again.
    assert_eq!(deliveries(&s, &hook, "pending").await.len(), 1);
}
