//! Replicas: two scimd processes on one PostgreSQL database; and on either
//! database, a replica that does not hold the shared secrets key.

use super::*;

on_both_backends!(
    a_replica_without_the_shared_secrets_key_is_refused_while_webhooks_exist,
    sigterm_mid_delivery_sends_nothing_twice_after_the_restart,
    after_a_rotation_every_replica_signs_with_the_new_secret_at_once,
    feed_lag_and_webhook_backlogs_show_in_metrics,
    after_kill_9_every_answered_write_and_refusal_has_its_audit_row
);

/// A scimd process, killed when dropped.
struct Replica(std::process::Child, String);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn_replica(db_url: &str) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let replica = std::process::Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--no-bootstrap", "--listen", &format!("127.0.0.1:{port}"), "--database", db_url])
        .env("SCIMD_LOG", "warn")
        .spawn()
        .map(|child| Replica(child, format!("http://127.0.0.1:{port}")))
        .unwrap();
    for _ in 0..100 {
        if reqwest::get(format!("{}/readyz", replica.1)).await.is_ok_and(|r| r.status() == 200) {
            return replica;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("replica on port {port} did not become ready");
}

/// Two scimd processes on one PostgreSQL database: uniqueness, membership
/// and If-Match hold across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_postgres_database() {
    if postgres_url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(unique_name("scimd-replicas-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(Backend::Postgres, &dir).await;
    let (svc, background) = cli::open_default(&url).await.unwrap();
    svc.create_tenant("acme").await.unwrap();
    let token = cli::create_token(&svc, "acme", "okta", None).await.unwrap();
    let replicas = [spawn_replica(&url).await, spawn_replica(&url).await];
    let bases: Vec<String> = replicas.iter().map(|r| format!("{}/scim/v2/acme", r.1)).collect();
    let client = reqwest::Client::new();
    let send = |i: usize, method: Method, path: String, body: Option<Value>, if_match: Option<String>| {
        let client = client.clone();
        let url = format!("{}{path}", bases[i % 2]);
        let token = token.clone();
        async move {
            let mut req =
                client.request(method, url).bearer_auth(token).header("Content-Type", "application/scim+json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            if let Some(tag) = if_match {
                req = req.header("If-Match", tag);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, etag, body)
        }
    };

    // 50 concurrent creates of one userName, spread over both replicas.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(send(
                i,
                Method::POST,
                "/Users".into(),
                Some(json!({"schemas": [USER], "userName": "Same@Example.com"})),
                None,
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        if status == 409 {
            assert_eq!(body["scimType"], "uniqueness");
        }
        statuses.push(status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    eprintln!("replicas: 50 concurrent creates of one userName -> {created} x 201, {conflicts} x 409");
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");

    // 200 users, then 200 concurrent member additions to one group over both.
    let mut users = Vec::new();
    for i in 0..200 {
        let (status, _, body) = send(
            i,
            Method::POST,
            "/Users".into(),
            Some(json!({"schemas": [USER], "userName": format!("m{i}@x.org")})),
            None,
        )
        .await;
        assert_eq!(status, 201);
        users.push(body["id"].as_str().unwrap().to_string());
    }
    let (_, _, group) =
        send(0, Method::POST, "/Groups".into(), Some(json!({"schemas": [GROUP], "displayName": "Everyone"})), None)
            .await;
    let gid = group["id"].as_str().unwrap().to_string();
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, uid)| {
            let ops = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
            tokio::spawn(send(i, Method::PATCH, format!("/Groups/{gid}?excludedAttributes=members"), Some(ops), None))
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().0, 200);
    }
    let (_, etag, group) = send(1, Method::GET, format!("/Groups/{gid}"), None, None).await;
    let mut members: Vec<String> =
        group["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string()).collect();
    let listed = members.len();
    members.sort();
    members.dedup();
    eprintln!("replicas: 200 concurrent member additions -> {listed} members listed, {} distinct", members.len());
    assert_eq!((listed, members.len()), (200, 200));

    // If-Match across replicas: a change through one makes the other refuse the old ETag.
    let etag = etag.unwrap();
    let rename = |name: &str| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": name}]});
    let (status, _, _) = send(0, Method::PATCH, format!("/Groups/{gid}"), Some(rename("A")), Some(etag.clone())).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(1, Method::PATCH, format!("/Groups/{gid}"), Some(rename("B")), Some(etag)).await;
    assert_eq!(status, 412);

    // The list order is the same whichever replica answers.
    let (_, _, a) = send(0, Method::GET, "/Users?startIndex=50&count=30&attributes=userName".into(), None, None).await;
    let (_, _, b) = send(1, Method::GET, "/Users?startIndex=50&count=30&attributes=userName".into(), None, None).await;
    assert_eq!(a["Resources"], b["Resources"]);
    drop(replicas);
    drop((svc, background));
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((admin, name)) = pg {
        drop_database(admin, name);
    }
}

/// A fresh database with tenant `acme`, an operator admin token and a SCIM
/// token, made through the library before any scimd process serves it; a
/// PostgreSQL database goes with it.
struct Prepared {
    dir: std::path::PathBuf,
    url: String,
    pg: Option<(String, String)>,
    admin: String,
    token: String,
}

impl Prepared {
    async fn new(b: Backend, prefix: &str) -> Prepared {
        let dir = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&dir).unwrap();
        let (url, pg) = fresh_database(b, &dir).await;
        let (svc, background) = cli::open_default(&url).await.unwrap();
        svc.create_tenant("acme").await.unwrap();
        let admin = cli::create_admin_token(&svc, "ops").await.unwrap();
        let token = cli::create_token(&svc, "acme", "okta", None).await.unwrap();
        drop((svc, background));
        Prepared { dir, url, pg, admin, token }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            drop_database(admin, name);
        }
    }
}

/// A secrets key for replicas to share, as `SCIMD_SECRETS_KEY` takes it.
fn shared_key() -> String {
    scimd::events::sealed::SealingKey::generate().unwrap().to_base64()
}

/// Start `scimd serve` on `db_url` in `dir`, with `env` set: the replica once
/// it is ready, or what it printed when it exited instead.
async fn serve_in(dir: &std::path::Path, db_url: &str, env: &[(&str, &str)]) -> Result<Replica, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scimd"));
    cmd.args(["serve", "--no-bootstrap", "--webhook-allow-private-targets", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", db_url])
        .current_dir(dir)
        .env("SCIMD_LOG", "warn")
        .env_remove("SCIMD_SECRETS_KEY")
        .env_remove("SCIMD_SECRETS_KEY_FILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut replica = Replica(cmd.spawn().unwrap(), format!("http://127.0.0.1:{port}"));
    for _ in 0..200 {
        if let Ok(Some(_)) = replica.0.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(replica.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            return Err(err);
        }
        if reqwest::get(format!("{}/readyz", replica.1)).await.is_ok_and(|r| r.status() == 200) {
            return Ok(replica);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("scimd on port {port} neither became ready nor exited");
}

/// Issue 20, item 1: the database keeps the fingerprint of the key its
/// webhook secrets are sealed with. A replica with no key, or another one,
/// refuses to start while webhooks exist (it makes no key of its own); with
/// none left it starts, serves SCIM, and says webhooks are off.
async fn a_replica_without_the_shared_secrets_key_is_refused_while_webhooks_exist(b: Backend) {
    let db = Prepared::new(b, "scimd-keys-").await;
    let (url, admin) = (&db.url, &db.admin);
    let (first_dir, other_dir) = (db.dir.join("first"), db.dir.join("other"));
    std::fs::create_dir_all(&first_dir).unwrap();
    std::fs::create_dir_all(&other_dir).unwrap();
    let client = reqwest::Client::new();
    let first = serve_in(&first_dir, url, &[]).await.expect("the first server starts and makes the key");
    let key = std::fs::read_to_string(first_dir.join("scimd-secrets.key")).unwrap();
    let hooks = format!("{}/admin/v1/tenants/acme/webhooks", first.1);
    let r =
        client.post(&hooks).bearer_auth(admin).json(&json!({"url": "http://127.0.0.1:9/hook"})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // No key where this replica starts: refused, naming the path and the recorded key; it made none.
    let err = serve_in(&other_dir, url, &[]).await.err().expect("a replica without the key is refused");
    assert!(err.contains("there is no secrets key at") && err.contains("sha256:"), "{err}");
    assert!(err.contains(&other_dir.join("scimd-secrets.key").display().to_string()), "{err}");
    assert!(!other_dir.join("scimd-secrets.key").exists(), "no key of its own");
    // Another key: refused too.
    let other = scimd::events::sealed::SealingKey::generate().unwrap().to_base64();
    let err = serve_in(&other_dir, url, &[("SCIMD_SECRETS_KEY", &other)]).await.err().expect("another key is refused");
    assert!(err.contains("is not the key this database's webhook secrets are sealed with"), "{err}");
    assert!(err.contains("Not starting") && err.contains("1 webhook endpoint"), "{err}");
    assert!(!err.contains(other.trim()) && !err.contains(key.trim()), "no key is printed: {err}");
    // The same key, given as text: a replica like the first.
    let same = serve_in(&other_dir, url, &[("SCIMD_SECRETS_KEY", key.trim())]).await.expect("the shared key works");
    assert_eq!(client.get(format!("{}/readyz", same.1)).send().await.unwrap().text().await.unwrap(), "ready");
    drop(same);
    // With no webhook left, another key starts with webhooks off and says why.
    let list: Value = client.get(&hooks).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
    let id = list["data"][0]["id"].as_str().or(list[0]["id"].as_str()).unwrap().to_string();
    let r = client.delete(format!("{hooks}/{id}")).bearer_auth(admin).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let off = serve_in(&other_dir, url, &[("SCIMD_SECRETS_KEY", &other)]).await.expect("serves SCIM with webhooks off");
    let ready = client.get(format!("{}/readyz", off.1)).send().await.unwrap().text().await.unwrap();
    assert!(ready.starts_with("ready; webhooks are off: the secrets key SCIMD_SECRETS_KEY"), "{ready}");
    let off_hooks = format!("{}/admin/v1/tenants/acme/webhooks", off.1);
    let r =
        client.post(&off_hooks).bearer_auth(admin).json(&json!({"url": "http://127.0.0.1:9/x"})).send().await.unwrap();
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert!(status.is_client_error() && body.contains("webhooks are off on this server"), "{status} {body}");
    drop(off);
    // The operator adopts the new key: from then on it is the one.
    let run = |args: &[&str], key: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args(args)
            .args(["--database", url])
            .env("SCIMD_SECRETS_KEY", key)
            .current_dir(&other_dir)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, out) = run(&["secrets-key", "status"], &other);
    assert!(!ok && out.contains("the keys differ"), "{out}");
    let (ok, out) = run(&["secrets-key", "adopt"], &other);
    assert!(ok && out.contains("now records the secrets key sha256:"), "{out}");
    assert!(run(&["secrets-key", "status"], &other).0);
    let adopted = serve_in(&other_dir, url, &[("SCIMD_SECRETS_KEY", &other)]).await.expect("the adopted key works");
    assert_eq!(client.get(format!("{}/readyz", adopted.1)).send().await.unwrap().text().await.unwrap(), "ready");
    drop((first, adopted));
}

/// A receiver that holds each request 200 ms (so some are in flight when the
/// server is told to stop) and keeps every `webhook-id` it was sent.
async fn slow_receiver() -> (Arc<std::sync::Mutex<Vec<String>>>, String) {
    let got: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                seen.lock().unwrap().push(id);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, url)
}

/// Issue 20, item 5: SIGTERM while deliveries are in flight. The sender
/// stops leasing, its requests finish and their answers are recorded before
/// the store closes, so after the restart every event arrives exactly once.
async fn sigterm_mid_delivery_sends_nothing_twice_after_the_restart(b: Backend) {
    let db = Prepared::new(b, "scimd-sigterm-").await;
    let (dir, url, admin, token) = (&db.dir, &db.url, &db.admin, &db.token);
    let key = shared_key();
    let env = [("SCIMD_SECRETS_KEY", key.as_str())];
    let (got, hook_url) = slow_receiver().await;
    let client = reqwest::Client::new();
    let mut server = serve_in(dir, url, &env).await.unwrap();
    let hooks = format!("{}/admin/v1/tenants/acme/webhooks", server.1);
    let r = client.post(&hooks).bearer_auth(admin).json(&json!({"url": hook_url})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    const USERS: usize = 300;
    let base = format!("{}/scim/v2/acme/Users", server.1);
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..USERS {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        writes.spawn(async move {
            let body = json!({"schemas": [USER], "userName": format!("u{i}@acme.com")});
            let r = client.post(&base).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
        });
        if writes.len() >= 16 {
            writes.join_next().await;
        }
    }
    while writes.join_next().await.is_some() {}
    // Deliveries are under way (at most 32 at once, each held 200 ms): stop the server now.
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let arrived = got.lock().unwrap().len();
    assert!(arrived > 0 && arrived < USERS, "mid-delivery: {arrived} of {USERS} arrived");
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "a graceful stop: {status}");
    drop(server);
    let _restarted = serve_in(dir, url, &env).await.unwrap();
    let mut seen = 0;
    for _ in 0..600 {
        seen = got.lock().unwrap().iter().collect::<std::collections::HashSet<_>>().len();
        if seen >= USERS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, USERS, "every user.created arrived");
    // Anything sent twice would have come by now (the restarted sender leases at once).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let all = got.lock().unwrap().clone();
    assert_eq!(all.len(), USERS, "{} deliveries for {USERS} events: {} duplicates", all.len(), all.len() - USERS);
}

/// Issue 20, item 5: a rotation made through one replica; a write through
/// the other at once. Its delivery verifies with the new secret: the secrets
/// are read with the lease, not from the endpoint list a sender holds.
async fn after_a_rotation_every_replica_signs_with_the_new_secret_at_once(b: Backend) {
    use scimd::events::signature::{self, Secret};
    let db = Prepared::new(b, "scimd-rotate-").await;
    let (dir, url, admin, token) = (&db.dir, &db.url, &db.admin, &db.token);
    let key = shared_key();
    let env = [("SCIMD_SECRETS_KEY", key.as_str())];
    let (a, b2) = (serve_in(dir, url, &env).await.unwrap(), serve_in(dir, url, &env).await.unwrap());
    let (rx, hook_url) = super::webhooks::Receiver::start().await;
    let client = reqwest::Client::new();
    let hooks = format!("{}/admin/v1/tenants/acme/webhooks", a.1);
    let r: Value = client
        .post(&hooks)
        .bearer_auth(admin)
        .json(&json!({"url": hook_url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    // Both senders have read the endpoint list (they read it every half second).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for round in 0..5 {
        let r: Value = client
            .post(format!("{hooks}/{id}/rotate-secret"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let new = Secret::parse(r["secret"].as_str().unwrap()).unwrap();
        let body = json!({"schemas": [USER], "userName": format!("r{round}@acme.com")});
        let r =
            client.post(format!("{}/scim/v2/acme/Users", b2.1)).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let got = rx.wait_for(round + 1).await;
        let g = got.iter().find(|g| g.body.contains(&format!("r{round}@acme.com"))).unwrap();
        assert!(
            signature::verify(&new, &g.signature, &g.id, g.timestamp, g.body.as_bytes()),
            "round {round}: signed {} without the secret rotated in just before",
            g.signature
        );
    }
    drop((a, b2));
}

/// The value of the first `/metrics` series named `name` whose labels contain `with`.
fn metric(text: &str, name: &str, with: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(with))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Issue 20, items 4 and 6: `/metrics` shows from the start every series
/// whose labels are known, each endpoint's backlog and the age of its oldest
/// waiting delivery, what deliveries came to, and (PostgreSQL) how far an
/// open write transaction elsewhere on the server holds the feed back.
async fn feed_lag_and_webhook_backlogs_show_in_metrics(b: Backend) {
    let db = Prepared::new(b, "scimd-metrics-").await;
    let (admin, token) = (&db.admin, &db.token);
    let key = shared_key();
    let server = serve_in(&db.dir, &db.url, &[("SCIMD_SECRETS_KEY", key.as_str())]).await.unwrap();
    let client = reqwest::Client::new();
    let scrape = async || client.get(format!("{}/metrics", server.1)).send().await.unwrap().text().await.unwrap();
    let text = scrape().await;
    for (name, with) in [
        ("scimd_event_feed_lag_seconds", ""),
        ("scimd_audit_dropped_total", "reason=\"queue_full\""),
        ("scimd_connections_refused_total", "cap=\"per_address\""),
        ("scimd_body_budget_refusals_total", ""),
        ("scimd_read_cache_lookups_total", "outcome=\"miss\""),
    ] {
        assert_eq!(metric(&text, name, with), Some(0.0), "{name}{{{with}}} from the start:\n{text}");
    }
    // An endpoint nobody answers (nothing listens on port 9 here): its deliveries wait.
    let hooks = format!("{}/admin/v1/tenants/acme/webhooks", server.1);
    let hook: Value = client
        .post(&hooks)
        .bearer_auth(admin)
        .json(&json!({"url": "http://127.0.0.1:9/x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = format!("webhook=\"{}\"", hook["id"].as_str().unwrap());
    assert_eq!(metric(&scrape().await, "scimd_webhook_pending_deliveries", &id), Some(0.0));
    let body = json!({"schemas": [USER], "userName": "ada@acme.com"});
    let scim = format!("{}/scim/v2/acme/Users", server.1);
    assert_eq!(client.post(&scim).bearer_auth(token).json(&body).send().await.unwrap().status(), 201);
    let mut text = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        text = scrape().await;
        let retried =
            metric(&text, "scimd_webhook_deliveries_total", &format!("outcome=\"retry\",tenant=\"acme\",{id}"));
        if retried.is_some_and(|n| n >= 1.0)
            && metric(&text, "scimd_webhook_oldest_pending_seconds", &id).is_some_and(|s| s >= 1.0)
        {
            break;
        }
    }
    assert_eq!(metric(&text, "scimd_webhook_pending_deliveries", &id), Some(1.0), "{text}");
    assert!(metric(&text, "scimd_webhook_oldest_pending_seconds", &id).is_some_and(|s| s >= 1.0), "{text}");
    assert!(metric(&text, "scimd_webhook_deliveries_total", "outcome=\"retry\"").is_some_and(|n| n >= 1.0), "{text}");
    if let Some((admin_url, _)) = &db.pg {
        // A write transaction left open in another database of the server holds the feed back.
        let holder = std::process::Command::new("psql")
            .args([admin_url.as_str(), "-qc", "BEGIN; CREATE TEMP TABLE held (a int); SELECT pg_sleep(3); COMMIT;"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let body = json!({"schemas": [USER], "userName": "bob@acme.com"});
        assert_eq!(client.post(&scim).bearer_auth(token).json(&body).send().await.unwrap().status(), 201);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let lag = metric(&scrape().await, "scimd_event_feed_lag_seconds", "").unwrap();
        assert!(lag >= 1.0, "held back for 1.5 s: the lag says {lag}");
        let out = holder.wait_with_output().unwrap();
        assert!(out.status.success());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(metric(&scrape().await, "scimd_event_feed_lag_seconds", ""), Some(0.0), "the feed caught up");
    }
    drop(server);
}

/// Issue 20, item 3: kill -9 while writes and refusals are being answered.
/// Every request a client got an answer to (a create, a PATCH, a 409) has
/// its audit row after the restart, and the row says what the client saw.
async fn after_kill_9_every_answered_write_and_refusal_has_its_audit_row(b: Backend) {
    let db = Prepared::new(b, "scimd-kill-audit-").await;
    let (dir, url, admin, token) = (&db.dir, &db.url, &db.admin, &db.token);
    let server = serve_in(dir, url, &[]).await.unwrap();
    let client = reqwest::Client::new();
    let base = format!("{}/scim/v2/acme/Users", server.1);
    let answered: Arc<std::sync::Mutex<Vec<(String, u16)>>> = Arc::default();
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..8 {
        let (client, base, token, answered) = (client.clone(), base.clone(), token.clone(), answered.clone());
        clients.spawn(async move {
            for i in 0.. {
                let body = json!({"schemas": [USER], "userName": format!("c{c}-{i}@acme.com")});
                let patch =
                    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "t"}]});
                let Ok(r) = client.post(&base).bearer_auth(&token).json(&body).send().await else { return };
                let Some((id, created)) = answer(r).await else { return };
                let id = id.unwrap_or_default();
                let Ok(r) = client.post(&base).bearer_auth(&token).json(&body).send().await else { return };
                let Some((_, clash)) = answer(r).await else { return };
                let Ok(r) = client.patch(format!("{base}/{id}")).bearer_auth(&token).json(&patch).send().await else {
                    return;
                };
                let Some((_, patched)) = answer(r).await else { return };
                answered.lock().unwrap().extend([created, clash, patched]);
            }
        });
    }
    /// The request id and status of an answer read in full, and the id it
    /// names; `None` when the server died before the answer was whole.
    async fn answer(r: reqwest::Response) -> Option<(Option<String>, (String, u16))> {
        let (status, request_id) = (r.status().as_u16(), r.headers().get("x-request-id")?.to_str().ok()?.to_string());
        let body: Value = r.json().await.ok()?;
        Some((body["id"].as_str().map(str::to_string), (request_id, status)))
    }
    // Long enough for several audit batches, and for rows of the last moment to be in flight.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    drop(server); // SIGKILL, then reaped
    while clients.join_next().await.is_some() {}
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() > 30, "enough requests were answered before the kill: {}", answered.len());
    assert!(answered.iter().any(|(_, s)| *s == 409), "refusals among them");
    let restarted = serve_in(dir, url, &[]).await.unwrap();
    let mut rows = std::collections::HashMap::new();
    let mut before = String::new();
    loop {
        let page = format!("{}/admin/v1/tenants/acme/audit?limit=1000{before}", restarted.1);
        let r: Value = client.get(&page).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
        for row in r["data"].as_array().unwrap() {
            rows.insert(row["request_id"].as_str().unwrap().to_string(), row["status"].as_u64().unwrap() as u16);
        }
        match r["next"].as_str() {
            Some(next) => before = format!("&after={next}"),
            None => break,
        }
    }
    let missing: Vec<_> = answered.iter().filter(|(id, status)| rows.get(id) != Some(status)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no row as answered: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(5)]
    );
}
