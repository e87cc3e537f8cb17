//! Webhooks, as a product's endpoint meets them: signed as Standard
//! Webhooks 1.0 says, in order per subject, retried on the schedule and
//! then dead-lettered, disabled by a 410, refused for private targets, and
//! a secret rotated without a gap. And the tools an engineer reaches for:
//! a test send, an endpoint changed in place, deliveries in flight bounded
//! per endpoint, and events replayed from a point.

use super::*;
use scimd::events::signature::{self, Secret};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

on_both_backends!(
    deliveries_are_signed_and_in_order_per_subject,
    failures_are_retried_then_dead_lettered_and_retried_by_hand,
    a_failing_event_holds_back_its_subject_only,
    a_410_disables_the_endpoint_until_it_is_enabled,
    an_endpoint_failing_for_five_days_is_disabled,
    targets_and_types_are_checked_and_secrets_rotate_without_a_gap,
    a_test_send_is_signed_answers_what_the_receiver_said_and_records_nothing,
    a_patch_changes_what_it_sends_and_keeps_the_secret_and_the_backlog,
    max_in_flight_bounds_an_endpoints_deliveries_at_once,
    a_replay_queues_the_events_from_a_point_again_in_order,
);

/// What a receiver was sent: the three headers and the body.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    pub(crate) signature: String,
    pub(crate) body: String,
    /// What the receiver answered it.
    pub(crate) status: u16,
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
    /// The body of every answer (none unless set).
    reply_body: Arc<Mutex<String>>,
    /// How long it takes to answer.
    delay: Arc<Mutex<Duration>>,
    /// Requests it is answering now, and the most it answered at once.
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
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
                    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    state.most_in_flight.fetch_max(now, Ordering::SeqCst);
                    let delay = *state.delay.lock().unwrap();
                    tokio::time::sleep(delay).await;
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    let failing = state.fail_matching.lock().unwrap().clone();
                    let status = match failing {
                        Some((text, status)) if body.contains(&text) => status,
                        _ => state.answers.lock().unwrap().pop_front().unwrap_or(204),
                    };
                    let got = Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap_or_default(),
                        signature: h("webhook-signature"),
                        body: body.clone(),
                        status,
                    };
                    state.got.lock().unwrap().push(got);
                    state.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let reply = state.reply_body.lock().unwrap().clone();
                    (axum::http::StatusCode::from_u16(status).unwrap(), reply)
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
    *rx.reply_body.lock().unwrap() = "busy, try later".into();
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
    // Its history: every try, oldest first, with what the receiver answered.
    let id = dead["id"].as_str().unwrap();
    let r = s.adm(Method::GET, &format!("/deliveries/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["id"].as_str(), r.body["status"].as_str()), (Some(id), Some("delivered")));
    let tries = r.body["history"].as_array().unwrap();
    let statuses: Vec<Value> = tries.iter().map(|t| t["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(404), json!(302), json!(204)], "{}", r.body);
    assert!(tries.iter().all(|t| t["duration_ms"].as_i64().is_some_and(|ms| ms >= 0) && t["at"].is_string()));
    assert_eq!(tries[0]["answer"], "busy, try later");
    assert!(tries[0]["error"].as_str().unwrap().starts_with("answered 500"), "{}", tries[0]);
    assert!(tries[2]["error"].as_str().unwrap().contains("redirect"), "{}", tries[2]);
    assert_eq!(tries[3]["error"], Value::Null);
    let under_hook = s.adm(Method::GET, &format!("/webhooks/{hook}/deliveries/{id}"), None).await;
    assert_eq!((under_hook.status.as_u16(), under_hook.body["history"].as_array().map(Vec::len)), (200, Some(4)));
    let (other, _) = create_hook(&s, &url, None).await;
    let r = s.adm(Method::GET, &format!("/webhooks/{other}/deliveries/{id}"), None).await;
    assert_eq!(r.status, 404, "not a delivery of that webhook: {}", r.body);
    let r = s.adm(Method::GET, "/deliveries/dlv_nope", None).await;
    assert!(r.status == 404 && r.body["error"]["detail"].as_str().unwrap().contains("dlv_nope"), "{}", r.body);
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
    // Deliveries found by subject, type (or prefix), event, with status too.
    let found = |query: String| {
        let s = &s;
        let hook = hook.clone();
        async move {
            let r = s.adm(Method::GET, &format!("/webhooks/{hook}/deliveries?{query}"), None).await;
            assert_eq!(r.status, 200, "{query}: {}", r.body);
            r.body["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    let of_ada = found(format!("subject={ada}")).await;
    assert_eq!(of_ada.len(), 2);
    assert_eq!(found(format!("subject=user:{ada}&status=failed")).await, of_ada);
    assert_eq!(found("type=user.updated".into()).await.len(), 2);
    assert_eq!(found("type=user.&type=group.".into()).await.len(), 4);
    assert_eq!(found(format!("subject={bob}&type=user.created")).await.len(), 1);
    let event = rx.received().iter().map(Received::json).find(|b| b["subject"]["id"] == bob.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_event = found(format!("event={event}")).await;
    assert_eq!(by_event.len(), 1);
    let r = s.adm(Method::GET, &format!("/deliveries/{}", by_event[0]), None).await;
    assert_eq!(r.body["event"]["id"], event.as_str(), "{}", r.body);
    assert!(found("subject=nobody".into()).await.is_empty());
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}/deliveries?type=users."), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"]["detail"].as_str().unwrap().contains("'users.' is not an event type"), "{}", r.body);
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

impl Receiver {
    /// Answer every request with this body, after this long.
    fn reply(&self, body: &str, delay: Duration) {
        *self.reply_body.lock().unwrap() = body.to_string();
        *self.delay.lock().unwrap() = delay;
    }
}

/// Another server on the test server's database, with other webhook
/// options (a replica set up otherwise), serving requests only (no webhook
/// sender of its own to take the test server's deliveries); answers its
/// admin API of `acme`.
async fn beside(s: &Server, webhooks: scimd::service::webhooks::WebhookOptions) -> String {
    let options = scimd::service::Options { webhooks, ..Default::default() };
    let clock = FixedClock::ticking("2026-01-01T00:00:00Z", Duration::from_millis(1));
    let (svc, tasks) = cli::open(&s.url, &Default::default(), options, clock).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = scimd::http::app(AppState::new(svc, test_config()));
    tokio::spawn(async move {
        let _store = tasks;
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await
    });
    format!("http://{addr}/admin/v1/tenants/acme")
}

/// A call to another server's admin API (see [`beside`]).
async fn adm_at(s: &Server, admin: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    let auth = format!("Bearer {}", s.admin_token);
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    s.raw(method, &format!("{admin}{path}"), body.map(|b| b.to_string()), &headers).await
}

/// Every event of the feed, in order.
async fn feed(s: &Server) -> Vec<Value> {
    let r = s.adm(Method::GET, "/events?limit=1000", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn is_user_event(e: &Value) -> bool {
    e["type"].as_str().unwrap().starts_with("user.")
}

fn detail(r: &Resp) -> String {
    r.body["error"]["detail"].as_str().unwrap_or_default().to_string()
}

async fn a_test_send_is_signed_answers_what_the_receiver_said_and_records_nothing(b: Backend) {
    // Attempts time out after a second here (the test send's too).
    let webhooks = scimd::service::webhooks::WebhookOptions {
        key: Some(scimd::events::sealed::SealingKey::generate().unwrap()),
        allow_private: true,
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let s = start_with_options(b, test_config(), scimd::service::Options { webhooks, ..Default::default() }).await;
    let (rx, url) = Receiver::start().await;
    let (hook, secret) = create_hook(&s, &url, Some(json!(["user."]))).await;
    // A receiver that is unwell: 503 after 60 ms, with a long body that is not all ASCII.
    rx.answer(&[503]);
    rx.reply(&format!("x{}", "é".repeat(1000)), Duration::from_millis(60));
    let r = s.adm(Method::POST, &format!("/webhooks/{hook}/test"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["status"].clone(), r.body["delivered"].clone()), (json!(503), json!(false)), "{}", r.body);
    assert!(r.body["latency_ms"].as_u64().unwrap() >= 60, "{}", r.body);
    assert_eq!(r.body["error"], Value::Null);
    assert_eq!(r.body["url"], url.as_str());
    // The first 1 KiB of the body, as text: 1 + 511 × 2 bytes, then half an 'é'.
    let shown = r.body["body"].as_str().unwrap();
    assert_eq!(shown, format!("x{}\u{FFFD}", "é".repeat(511)));
    assert!(!r.body.to_string().contains("whsec_"), "the secret is not answered: {}", r.body);
    // What arrived is signed with the endpoint's secret, as a delivery is.
    let got = rx.wait_for(1).await;
    let g = &got[0];
    assert!(signature::verify(&secret, &g.signature, &g.id, g.timestamp, g.body.as_bytes()), "{g:?}");
    assert_eq!(g.id, r.body["event_id"].as_str().unwrap());
    let event = g.json();
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(event["id"], g.id.as_str());
    assert_eq!(event["subject"], json!({"type": "webhook", "id": hook}));
    assert_eq!(event["tenant"], "acme");
    assert_eq!(event["data"]["webhook"]["url"], url.as_str());
    assert_eq!(event["cause"]["actor"], json!({"type": "admin", "name": "tests"}));
    // A probe: nothing in the feed, no delivery, and the endpoint is neither failing nor paused.
    assert!(feed(&s).await.is_empty(), "the test event is in no feed");
    assert!(deliveries(&s, &hook, "").await.is_empty(), "nor in the deliveries");
    let r = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await;
    assert_eq!((r.body["enabled"].clone(), r.body["failing_since"].clone()), (json!(true), Value::Null), "{}", r.body);
    rx.reply("", Duration::ZERO);
    s.create_user("ada@acme.com").await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].json()["type"], "user.created", "real deliveries go on at once");

    // A disabled endpoint takes a test send: that is how one checks it before enabling it.
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"enabled": false}))).await;
    assert_eq!(r.body["enabled"], false, "{}", r.body);
    rx.reply("ok", Duration::ZERO);
    rx.answer(&[200]);
    let r = s.adm(Method::POST, &format!("/webhooks/{hook}/test"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["status"].clone(), r.body["delivered"].clone()), (json!(200), json!(true)), "{}", r.body);
    assert_eq!(r.body["body"], "ok");
    assert_eq!(rx.wait_for(3).await[2].json()["type"], "webhook.test");

    // No answer: the connection error in words, or the attempt's timeout.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (nobody, _) = create_hook(&s, &format!("http://127.0.0.1:{closed}/hook"), None).await;
    let r = s.adm(Method::POST, &format!("/webhooks/{nobody}/test"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["status"].clone(), r.body["body"].clone()), (Value::Null, Value::Null), "{}", r.body);
    let error = r.body["error"].as_str().unwrap();
    assert!(error.contains(&format!("cannot connect to 127.0.0.1:{closed}")), "{error}");
    rx.reply("late", Duration::from_millis(1500));
    let r = s.adm(Method::POST, &format!("/webhooks/{hook}/test"), None).await;
    assert_eq!(r.body["error"], "no answer within 1 s", "{}", r.body);
    assert!((1000..1500).contains(&r.body["latency_ms"].as_u64().unwrap()), "{}", r.body);
    rx.reply("", Duration::ZERO);
    let r = s.adm(Method::POST, "/webhooks/wh_nope/test", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(detail(&r).contains("wh_nope"), "{}", r.body);

    // A server that refuses private targets refuses the test send's too,
    // before connecting; one without the secrets key refuses it in words.
    let sent = rx.received().len();
    let strict =
        scimd::service::webhooks::WebhookOptions { key: s.svc.webhook_options().key.clone(), ..Default::default() };
    let strict = beside(&s, strict).await;
    let r = adm_at(&s, &strict, Method::POST, &format!("/webhooks/{hook}/test"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let error = r.body["error"].as_str().unwrap();
    assert!(error.contains("special-use address") && error.contains("loopback"), "{error}");
    assert_eq!(r.body["status"], Value::Null);
    let keyless = beside(&s, scimd::service::webhooks::WebhookOptions::default()).await;
    let r = adm_at(&s, &keyless, Method::POST, &format!("/webhooks/{hook}/test"), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(detail(&r).contains("webhooks are off on this server"), "{}", r.body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.received().len(), sent, "neither connected to the receiver");
}

async fn a_patch_changes_what_it_sends_and_keeps_the_secret_and_the_backlog(b: Backend) {
    let s = start_fast(b, 1000).await;
    let (old_rx, old_url) = Receiver::start().await;
    let (new_rx, new_url) = Receiver::start().await;
    // Made with a description and its own limit, shown wherever the endpoint is.
    let body = json!({"url": old_url, "description": "CRM sync", "max_in_flight": 4});
    let r = s.adm(Method::POST, "/webhooks", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!((r.body["description"].clone(), r.body["max_in_flight"].clone()), (json!("CRM sync"), json!(4)));
    let hook = Server::id_of(&r.body);
    let secret = Secret::parse(r.body["secret"].as_str().unwrap()).unwrap();
    let r = s.adm(Method::GET, "/webhooks", None).await;
    assert_eq!(r.body["data"][0]["description"], "CRM sync", "{}", r.body);
    assert_eq!(r.body["data"][0]["max_in_flight"], 4, "{}", r.body);
    let r = s.adm(Method::POST, "/webhooks", Some(json!({"url": old_url}))).await;
    assert_eq!((r.body["description"].clone(), r.body["max_in_flight"].clone()), (json!(""), json!(32)), "defaults");
    assert_eq!(s.adm(Method::DELETE, &format!("/webhooks/{}", Server::id_of(&r.body)), None).await.status, 204);

    // A delivery waits, failing, at the old URL; the URL changes; it goes to the new one.
    *old_rx.fail_matching.lock().unwrap() = Some(("acme.com".into(), 500));
    s.create_user("ada@acme.com").await;
    old_rx.wait_for(2).await;
    let pending = deliveries(&s, &hook, "pending").await;
    assert_eq!(pending.len(), 1);
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"url": new_url}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["url"], new_url.as_str());
    assert_eq!(r.body["description"], "CRM sync", "only what was sent changes");
    assert_eq!((r.body["max_in_flight"].clone(), r.body["events"].clone()), (json!(4), json!([])));
    assert!(r.body.get("secret").is_none(), "{}", r.body);
    assert_eq!(r.body, s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await.body, "answered as GET does");
    let got = new_rx.wait_for(1).await;
    assert!(signature::verify(&secret, &got[0].signature, &got[0].id, got[0].timestamp, got[0].body.as_bytes()));
    assert_eq!(got[0].json()["data"]["userName"], "ada@acme.com");
    let done = deliveries_settle(&s, &hook, "delivered", 1).await;
    assert_eq!(done[0]["id"], pending[0]["id"], "the same delivery, not a new one");
    // The next one goes there too, with the same secret.
    s.create_user("bob@acme.com").await;
    let got = new_rx.wait_for(2).await;
    assert_eq!(got[1].json()["data"]["userName"], "bob@acme.com");
    assert!(signature::verify(&secret, &got[1].signature, &got[1].id, got[1].timestamp, got[1].body.as_bytes()));
    assert!(!old_rx.received().iter().any(|g| g.body.contains("bob@acme.com")), "nothing more to the old URL");

    // Refused in the words a new endpoint's are, and nothing changes.
    let before = s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await.body;
    for (patch, words) in [
        (json!({"url": "ftp://example.com/"}), "not an http:// or https:// URL".to_string()),
        (json!({"url": "https://user:pw@example.com/"}), "user name or password".to_string()),
        (json!({"events": ["users.created"]}), "'users.created' is not an event type".to_string()),
        (json!({"max_in_flight": 0}), "'max_in_flight'".to_string()),
        (json!({"max_in_flight": 65}), "from 1 to 64".to_string()),
        (json!({"max_in_flight": "many"}), "'max_in_flight'".to_string()),
        (json!({"description": "x".repeat(501)}), "at most 500 characters".to_string()),
        (json!({"enabled": "yes"}), "'enabled'".to_string()),
        (json!({"secret": "whsec_x"}), "there is no setting 'secret'".to_string()),
        (json!({"url": new_url, "events": ["nope."]}), "'nope.' is not an event type".to_string()),
    ] {
        let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(patch.clone())).await;
        assert_eq!(r.status, 400, "{patch}: {}", r.body);
        assert!(detail(&r).contains(&words), "{patch}: {}", r.body);
    }
    let r = s.adm(Method::PATCH, "/webhooks/wh_nope", Some(json!({"url": new_url}))).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(detail(&r).contains("wh_nope"), "{}", r.body);
    let strict =
        scimd::service::webhooks::WebhookOptions { key: s.svc.webhook_options().key.clone(), ..Default::default() };
    let strict = beside(&s, strict).await;
    let r = adm_at(&s, &strict, Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"url": "http://10.1.2.3/"})))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(detail(&r).contains("private-use (10.0.0.0/8)") && detail(&r).contains("special-use"), "{}", r.body);
    assert_eq!(s.adm(Method::GET, &format!("/webhooks/{hook}"), None).await.body, before, "nothing changed");
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({}))).await;
    assert_eq!(r.body, before, "an empty PATCH changes nothing");

    // The types change: only groups from now on.
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"events": ["group."]}))).await;
    assert_eq!(r.body["events"], json!(["group."]), "{}", r.body);
    s.create_user("cy@acme.com").await;
    s.create_group("Engineering").await;
    let got = new_rx.wait_for(3).await;
    assert_eq!(got[2].json()["type"], "group.created");
    // Switched off: what happens waits; switched on: it goes (the description cleared meanwhile).
    let off = json!({"enabled": false, "events": [], "description": null, "max_in_flight": 1});
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(off)).await;
    assert_eq!(r.body["enabled"], false, "{}", r.body);
    assert!(r.body["disabled_reason"].as_str().unwrap().contains("disabled by an admin"), "{}", r.body);
    assert_eq!((r.body["description"].clone(), r.body["max_in_flight"].clone()), (json!(""), json!(1)));
    s.create_user("dan@acme.com").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(new_rx.received().len(), 3, "nothing goes to a disabled endpoint");
    let r = s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"enabled": true}))).await;
    assert_eq!((r.body["enabled"].clone(), r.body["disabled_reason"].clone()), (json!(true), Value::Null));
    let got = new_rx.wait_for(4).await;
    assert_eq!(got[3].json()["data"]["userName"], "dan@acme.com");
    assert!(!got.iter().any(|g| g.body.contains("cy@acme.com")), "cy came while only groups were wanted");
}

async fn max_in_flight_bounds_an_endpoints_deliveries_at_once(b: Backend) {
    let s = start(b).await;
    let (rx, url) = Receiver::start().await;
    rx.reply("", Duration::from_millis(150));
    let r = s
        .adm(Method::POST, "/webhooks", Some(json!({"url": url, "events": ["user.created"], "max_in_flight": 1})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = Server::id_of(&r.body);
    // Six subjects ready at once (queued while the endpoint was off), one at a time.
    let off = |on: bool| json!({"enabled": on});
    s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(off(false))).await;
    for i in 0..6 {
        s.create_user(&format!("one{i}@acme.com")).await;
    }
    s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(off(true))).await;
    rx.wait_for(6).await;
    assert_eq!(rx.most_in_flight.load(Ordering::SeqCst), 1, "max_in_flight 1");
    // Three.
    deliveries_settle(&s, &hook, "delivered", 6).await;
    let r =
        s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(json!({"max_in_flight": 3, "enabled": false}))).await;
    assert_eq!(r.body["max_in_flight"], 3, "{}", r.body);
    for i in 0..9 {
        s.create_user(&format!("three{i}@acme.com")).await;
    }
    rx.most_in_flight.store(0, Ordering::SeqCst);
    s.adm(Method::PATCH, &format!("/webhooks/{hook}"), Some(off(true))).await;
    rx.wait_for(15).await;
    assert_eq!(rx.most_in_flight.load(Ordering::SeqCst), 3, "max_in_flight 3");
}

async fn a_replay_queues_the_events_from_a_point_again_in_order(b: Backend) {
    // A failed attempt is tried again 5 s later (on the test clock, which the test moves).
    let webhooks = scimd::service::webhooks::WebhookOptions {
        key: Some(scimd::events::sealed::SealingKey::generate().unwrap()),
        allow_private: true,
        schedule: [0].into_iter().chain([5; 100]).collect(),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let s = start_with_options(b, test_config(), scimd::service::Options { webhooks, ..Default::default() }).await;
    let (rx, url) = Receiver::start().await;
    let (hook, secret) = create_hook(&s, &url, Some(json!(["user."]))).await;
    let mut users = Vec::new();
    for name in ["ada", "bob", "cy"] {
        let id = Server::id_of(&s.create_user(&format!("{name}@acme.com")).await);
        let r = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "title", "value": "t"}])).await;
        assert_eq!(r.status, 200, "{}", r.body);
        users.push(id);
    }
    s.create_group("not wanted").await;
    rx.wait_for(6).await;
    deliveries_settle(&s, &hook, "delivered", 6).await;
    let events = feed(&s).await;
    let wanted = |from: usize| events[from..].iter().filter(|e| is_user_event(e)).count();
    let replay = |body: Value| {
        let path = format!("/webhooks/{hook}/replay");
        let s = &s;
        async move { s.adm(Method::POST, &path, Some(body)).await }
    };

    // From a feed cursor: what came after it, again, each subject's in feed order.
    let cursor = s.adm(Method::GET, "/events?limit=2", None).await.body["next"].as_str().unwrap().to_string();
    let r = replay(json!({"after": cursor})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let queued = wanted(2);
    assert_eq!(r.body["queued"], queued, "{}", r.body);
    assert_eq!((r.body["limit_reached"].clone(), r.body["next"].clone()), (json!(false), Value::Null), "{}", r.body);
    let got = rx.wait_for(6 + queued).await;
    let again = &got[6..];
    for g in again {
        assert!(signature::verify(&secret, &g.signature, &g.id, g.timestamp, g.body.as_bytes()), "{g:?}");
    }
    for id in &users {
        let of = |list: &mut dyn Iterator<Item = Value>| -> Vec<String> {
            list.filter(|e| e["subject"]["id"] == id.as_str()).map(|e| e["id"].as_str().unwrap().to_string()).collect()
        };
        let expected = of(&mut events[2..].iter().filter(|e| is_user_event(e)).cloned());
        assert_eq!(of(&mut again.iter().map(Received::json)), expected, "in feed order for {id}");
    }
    assert_eq!(deliveries_settle(&s, &hook, "delivered", 6 + queued).await.len(), 6 + queued);
    assert_eq!(feed(&s).await.len(), events.len(), "a replay adds no event");

    // From a time (any zone), and a limit with the cursor to go on from.
    let since = events[3]["timestamp"].as_str().unwrap();
    let expected = events.iter().filter(|e| e["timestamp"].as_str().unwrap() >= since && is_user_event(e)).count();
    let r = replay(json!({"since": since})).await;
    assert_eq!(r.body["queued"], expected, "{}", r.body);
    let r = replay(json!({"since": "2026-01-01T01:00:00+01:00"})).await;
    assert_eq!(r.body["queued"], 6, "everything since the clock's start: {}", r.body);
    let r = replay(json!({"since": "2026-01-02"})).await;
    assert_eq!(r.body["queued"], 0, "nothing since the next day: {}", r.body);
    let r = replay(json!({"after": "", "limit": 2})).await;
    assert_eq!((r.body["queued"].clone(), r.body["limit_reached"].clone()), (json!(2), json!(true)), "{}", r.body);
    let user_events: Vec<&Value> = events.iter().filter(|e| is_user_event(e)).collect();
    let next = r.body["next"].as_str().unwrap().to_string();
    let r = replay(json!({"after": next})).await;
    assert_eq!((r.body["queued"].clone(), r.body["limit_reached"].clone()), (json!(4), json!(false)), "{}", r.body);
    let total = 6 + queued + expected + 6 + 2 + 4;
    rx.wait_for(total).await;
    deliveries_settle(&s, &hook, "delivered", total).await;
    assert_eq!(user_events.len(), 6);

    // Refused in words.
    for (body, words) in [
        (json!({}), "exactly one of 'after'"),
        (json!({"after": "", "since": since}), "exactly one of 'after'"),
        (json!({"after": "yesterday"}), "'yesterday' is not an event cursor"),
        (json!({"since": "yesterday"}), "'yesterday' is not an ISO 8601 time"),
        (json!({"after": "", "limit": 0}), "'limit'"),
        (json!({"after": "", "limit": 100_001}), "from 1 to 100000"),
        (json!({"from": "0.0"}), "there is no setting 'from'"),
    ] {
        let r = replay(body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(detail(&r).contains(words), "{body}: {}", r.body);
    }
    let r = s.adm(Method::POST, "/webhooks/wh_nope/replay", Some(json!({"after": ""}))).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Replayed events wait behind a pending delivery of their subject (one
    // failed, tried again in 5 s), and follow it in feed order; other
    // subjects' go at once.
    let (rx2, url2) = Receiver::start().await;
    let (second, _) = create_hook(&s, &url2, Some(json!(["user."]))).await;
    *rx2.fail_matching.lock().unwrap() = Some(("ada@acme.com".into(), 500));
    let ada = &users[0];
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "title", "value": "u"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let failed = rx2.wait_for(1).await[0].id.clone();
    // Only that delivery fails now: a replayed one of ada's sent before it would go through.
    *rx2.fail_matching.lock().unwrap() = Some((failed.clone(), 500));
    let r = s.adm(Method::POST, &format!("/webhooks/{second}/replay"), Some(json!({"after": ""}))).await;
    assert_eq!(r.body["queued"], 7, "{}", r.body);
    // bob's and cy's go at once; nothing of ada's while her failed one waits for its retry.
    let others = rx2.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let of_ada_so_far = rx2.received().iter().filter(|g| g.body.contains("ada@acme.com")).count();
    assert_eq!((others.len(), of_ada_so_far), (5, 1), "{:?}", rx2.received());
    *rx2.fail_matching.lock().unwrap() = None;
    s.clock.advance(Duration::from_secs(7));
    deliveries_settle(&s, &second, "delivered", 8).await;
    let events = feed(&s).await;
    let of_ada: Vec<String> = events
        .iter()
        .filter(|e| is_user_event(e) && e["subject"]["id"] == ada.as_str())
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(of_ada.len(), 3);
    let delivered: Vec<String> = rx2
        .received()
        .iter()
        .filter(|g| g.status == 204 && g.json()["subject"]["id"] == ada.as_str())
        .map(|g| g.id.clone())
        .collect();
    let mut expected = vec![of_ada[2].clone()];
    expected.extend(of_ada.iter().cloned());
    assert_eq!(delivered, expected, "the pending one first, then the replayed ones in feed order");

    // A disabled endpoint keeps what a replay queued until it is on again.
    s.adm(Method::PATCH, &format!("/webhooks/{second}"), Some(json!({"enabled": false}))).await;
    let sent = rx2.received().len();
    let r = s.adm(Method::POST, &format!("/webhooks/{second}/replay"), Some(json!({"after": ""}))).await;
    assert_eq!(r.body["queued"], 7, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx2.received().len(), sent);
    assert_eq!(deliveries(&s, &second, "pending").await.len(), 7);
    s.adm(Method::PATCH, &format!("/webhooks/{second}"), Some(json!({"enabled": true}))).await;
    rx2.wait_for(sent + 7).await;
}
