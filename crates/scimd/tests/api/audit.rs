//! The audit trail: a row for every SCIM request (successes, refusals,
//! unauthenticated and missing ones), read back over the admin API newest
//! first with its filters and pages, written at shutdown too, pruned past
//! its retention, and nothing at all with `--no-audit`.

use super::*;
use std::time::Duration;

on_both_backends!(
    a_create_is_audited_with_what_it_changed_and_its_events,
    a_refusal_by_policy_is_audited_with_what_the_client_was_shown,
    unauthenticated_and_missing_requests_are_audited,
    the_trail_filters_by_status_and_target_and_pages_newest_first,
    rows_past_the_retention_are_pruned,
    rows_still_queued_are_written_at_shutdown,
    no_audit_records_nothing,
    admin_changes_are_audited_with_who_and_from_where,
);

/// Rows of tenant `acme`'s trail matching `query`, newest first, once at
/// least `n` show (a read's row is written about a second after its request).
async fn trail_n(s: &Server, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..1000 {
        let rows = trail(s, query).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} audit rows showed for '{query}'");
}

/// Every row of the trail matching `query` that shows now, a page at a time.
async fn trail(s: &Server, query: &str) -> Vec<Value> {
    let r = s.adm(Method::GET, &format!("/audit?limit=1000&{query}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["next"], Value::Null, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// The ids of the events the feed shows, once at least `n` do.
async fn event_ids(s: &Server, query: &str, n: usize) -> Vec<Value> {
    s.feed_at_least(query, n).await.iter().map(|e| e["id"].clone()).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

async fn a_create_is_audited_with_what_it_changed_and_its_events(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "ada@acme.com"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ada = Server::id_of(&r.body);
    let request_id = r.header("x-request-id").unwrap().to_string();
    assert_eq!(s.client.get(format!("{}/healthz", s.root)).send().await.unwrap().status(), 200);

    // The trail's newest row is the create; the rest are the admin API's configuration changes.
    let rows = trail_n(&s, "", 8).await;
    assert!(
        rows[1..].iter().all(|r| r["route"].as_str().unwrap().starts_with("/admin/v1/") && r["method"] != "GET"),
        "SCIM requests and the admin API's changes are audited, not health: {rows:?}"
    );
    let row = &rows[0];
    assert!(row["id"].as_str().unwrap().parse::<i64>().is_ok(), "{row}");
    assert!(row["time"].as_str().unwrap().starts_with("2026-01-01T"), "{row}");
    assert_eq!(row["tenant"], "acme");
    assert_eq!(row["token"], "okta");
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!(row["method"], "POST");
    assert_eq!(row["route"], "/scim/v2/{tenant}/Users");
    assert_eq!(row["target"], json!({"id": ada, "name": "ada@acme.com"}));
    assert_eq!(row["status"], 201);
    assert_eq!((&row["scimType"], &row["detail"]), (&Value::Null, &Value::Null));
    assert!(row["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{row}");
    let changes = strs(&row["changes"]);
    assert_eq!(changes[0], format!("user {ada} created"));
    assert!(changes.iter().any(|c| c.starts_with("role ") && c.ends_with(&format!("user {ada} (default)"))), "{row}");
    assert!(changes.iter().any(|c| c.starts_with("licence ")), "{row}");
    // The request's events, as the feed shows them.
    let events = event_ids(&s, "", 3).await;
    assert_eq!(row["event_ids"].as_array().unwrap(), &events);
}

async fn a_refusal_by_policy_is_audited_with_what_the_client_was_shown(b: Backend) {
    let s = start(b).await;
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await.status, 200);
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "vendor@other.io"})).await;
    r.assert_error(403, None);
    let shown = r.body["detail"].as_str().unwrap().to_string();
    let rows = trail_n(&s, "", 1).await;
    let row = &rows[0];
    assert_eq!(row["status"], 403);
    assert_eq!(row["detail"], shown.as_str());
    assert_eq!(row["scimType"], Value::Null);
    assert_eq!(row["token"], "okta");
    assert_eq!(row["target"], json!({"id": null, "name": "vendor@other.io"}));
    assert_eq!(strs(&row["changes"]), [format!("refused (domain_not_allowed): {shown}")]);
    // The refusal the product was told of is the row's event.
    let refused = event_ids(&s, "type=provisioning.", 1).await;
    assert_eq!(row["event_ids"].as_array().unwrap(), &refused);
}

async fn unauthenticated_and_missing_requests_are_audited(b: Backend) {
    let s = start(b).await;
    let r = s.raw(Method::GET, "/Users", None, &[("Authorization", "Bearer not-a-token")]).await;
    r.assert_error(401, None);
    let bad_token = r.body["detail"].as_str().unwrap().to_string();
    let r = s.get("/Users/no-such-user").await;
    r.assert_error(404, None);
    let missing = r.body["detail"].as_str().unwrap().to_string();
    let r = s.get(&format!("{}/scim/v2/acme/Nothing", s.root)).await;
    r.assert_error(404, None);
    // Another tenant's name (acme's token cannot reach it: 404): not acme's trail.
    let r = s.raw(Method::GET, &format!("{}/scim/v2/nobody/Users", s.root), None, &[]).await;
    r.assert_error(404, None);
    let r = s.get("/Users?filter=userName%20eq").await;
    r.assert_error(400, Some("invalidFilter"));

    let rows = trail_n(&s, "", 4).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (invalid, nothing, not_found, unauthenticated) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    assert_eq!(unauthenticated["status"], 401);
    assert_eq!(unauthenticated["token"], Value::Null, "the token is not known");
    assert_eq!(unauthenticated["tenant"], "acme");
    assert_eq!(unauthenticated["detail"], bad_token.as_str());
    assert_eq!(unauthenticated["changes"], json!([]));
    assert_eq!(not_found["status"], 404);
    assert_eq!(not_found["route"], "/scim/v2/{tenant}/Users/{id}");
    assert_eq!(not_found["method"], "GET");
    assert_eq!(not_found["target"], json!({"id": "no-such-user", "name": null}));
    assert_eq!(not_found["detail"], missing.as_str());
    assert_eq!(not_found["token"], "okta");
    // No route matched: the path stands for one.
    assert_eq!(nothing["route"], "/scim/v2/acme/Nothing");
    assert_eq!(nothing["status"], 404);
    assert_eq!(invalid["scimType"], "invalidFilter");
    assert_eq!(invalid["route"], "/scim/v2/{tenant}/Users", "never the query string: {invalid}");
}

async fn the_trail_filters_by_status_and_target_and_pages_newest_first(b: Backend) {
    let s = start(b).await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(Server::id_of(&s.create_user(&format!("u{i}@acme.com")).await));
    }
    // Reads are counted, not kept as rows (issue 21): three GETs of one route, a list.
    for _ in 0..3 {
        assert_eq!(s.get(&format!("/Users/{}", users[2])).await.status, 200);
    }
    assert_eq!(s.get("/Users?count=1").await.status, 200);
    // Refusals keep their rows, reads and writes alike.
    s.get("/Users/gone").await.assert_error(404, None);
    s.delete("/Users/gone").await.assert_error(404, None);
    let all = trail_n(&s, "", 7).await;
    assert_eq!(all.len(), 7, "{all:?}");
    assert!(all.iter().all(|r| r["status"] != 200), "no row for a successful read: {all:?}");
    let seqs: Vec<i64> = all.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    assert_eq!(all[0]["method"], "DELETE");
    assert_eq!(all[6]["target"]["name"], "u0@acme.com");
    // The counts: written with the next rows (the refusals above), each route and status apart.
    let reads = s.adm(Method::GET, "/audit/reads", None).await;
    assert_eq!(reads.status, 200, "{}", reads.body);
    let counted: Vec<(String, u64)> = reads.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(
                (r["token"].as_str(), r["method"].as_str(), r["status"].as_u64()),
                (Some("okta"), Some("GET"), Some(200)),
                "{r}"
            );
            assert!(r["latency_ms_max"].as_f64().unwrap() >= r["latency_ms_mean"].as_f64().unwrap(), "{r}");
            (r["route"].as_str().unwrap().to_string(), r["requests"].as_u64().unwrap())
        })
        .collect();
    let mut counted = counted;
    counted.sort();
    assert_eq!(
        counted,
        [("/scim/v2/{tenant}/Users".to_string(), 1), ("/scim/v2/{tenant}/Users/{id}".to_string(), 3)],
        "{}",
        reads.body
    );

    assert_eq!(trail(&s, "status=201").await.len(), 5);
    assert_eq!(trail(&s, "status=4xx").await.len(), 2);
    assert_eq!(trail(&s, "status=404&target=gone").await.len(), 2);
    assert_eq!(trail(&s, "status=2xx").await.len(), 5);
    assert!(trail(&s, "status=500").await.is_empty());
    let u2 = trail(&s, &format!("target={}", users[2])).await;
    assert_eq!(u2.iter().map(|r| r["status"].as_u64().unwrap()).collect::<Vec<_>>(), [201]);
    let by_name = trail(&s, &format!("target={}", q("u3@acme.com"))).await;
    assert_eq!((by_name.len(), &by_name[0]["target"]["id"]), (1, &json!(users[3])));
    // A name matches in any case, as userName does.
    let any_case = trail(&s, &format!("target={}", q("U3@Acme.COM"))).await;
    assert_eq!((any_case.len(), &any_case[0]["target"]["id"]), (1, &json!(users[3])));

    // Pages of 3: 3, 3, 1, then nothing older.
    let mut paged = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let r = s.adm(Method::GET, &format!("/audit?limit=3&after={after}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        paged.extend(r.body["data"].as_array().unwrap().iter().cloned());
        match r.body["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!((pages, &paged), (3, &all));
    let r = s.adm(Method::GET, "/audit?limit=4", None).await;
    let r = s.adm(Method::GET, &format!("/audit?limit=3&after={}", r.body["next"].as_str().unwrap()), None).await;
    let last = s.adm(Method::GET, &format!("/audit?after={}", r.body["next"].as_str().unwrap()), None).await;
    assert_eq!((last.body["data"].as_array().unwrap().len(), &last.body["next"]), (0, &Value::Null));

    // Mistakes in plain words.
    for (query, words) in [
        ("after=yesterday", "'yesterday' is not an audit cursor"),
        ("after=-3", "'-3' is not an audit cursor"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=many", "limit must be a whole number"),
        ("status=teapot", "status must be an HTTP status such as 404, or a class such as 4xx; not 'teapot'"),
        ("status=6xx", "not '6xx'"),
        ("target=a%00b", "target cannot contain a NUL character"),
    ] {
        let r = s.adm(Method::GET, &format!("/audit?{query}"), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{query}: {}", r.body);
        assert!(r.body["error"]["detail"].as_str().unwrap().contains(words), "{query}: {}", r.body);
    }
}

async fn rows_past_the_retention_are_pruned(b: Backend) {
    let s = start(b).await;
    s.create_user("old@acme.com").await;
    s.get("/Users/gone").await.assert_error(404, None);
    trail_n(&s, "", 2).await;
    s.clock.advance(Duration::from_secs(91 * 86_400));
    s.create_user("new@acme.com").await;
    assert_eq!(trail_n(&s, "", 3).await.len(), 3);
    let pruned = s.svc.prune_audit(Duration::from_secs(90 * 86_400)).await.unwrap();
    assert_eq!(pruned, 2);
    let rows = trail(&s, "").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["target"]["name"], "new@acme.com");
    assert!(rows[0]["time"].as_str().unwrap().starts_with("2026-04-02T"), "{}", rows[0]);
    assert_eq!(s.svc.prune_audit(Duration::from_secs(90 * 86_400)).await.unwrap(), 0);
}

async fn rows_still_queued_are_written_at_shutdown(b: Backend) {
    let dir = std::env::temp_dir().join(unique_name("scimd-audit-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (url, pg) = fresh_database(b, &dir).await;
    let clock = FixedClock::ticking("2026-01-01T00:00:00Z", Duration::from_millis(1));
    let (svc, tasks) = cli::open(&url, &Default::default(), Default::default(), clock).await.unwrap();
    let acme = svc.create_tenant("acme").await.unwrap();
    let token = cli::create_token(&svc, "acme", "okta", None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/scim/v2/acme", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cli::run_server(listener, AppState::new(svc.clone(), test_config()), tasks, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for i in 0..3 {
        let r = client
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .json(&json!({"schemas": [USER], "userName": format!("u{i}@acme.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // Well within the flusher's window: the rows are still queued.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
    let query = scimd::store::audit::AuditQuery { limit: 100, ..Default::default() };
    let rows = svc.audit_page(acme.id, &query).await.unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.row.target_name.clone().unwrap_or_default()).collect();
    assert_eq!(names, ["u2@acme.com", "u1@acme.com", "u0@acme.com"]);
    drop(svc);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((admin, name)) = pg {
        drop_database(admin, name);
    }
}

async fn no_audit_records_nothing(b: Backend) {
    let mut config = test_config();
    config.audit.enabled = false;
    let s = start_with(b, config).await;
    s.create_user("ada@acme.com").await;
    s.get("/Users/gone").await.assert_error(404, None);
    // Past the flusher's window, where rows would have shown.
    tokio::time::sleep(scimd::audit::FLUSH_WINDOW + Duration::from_millis(500)).await;
    assert!(trail(&s, "").await.is_empty());
    // The trail still answers (rows kept from before would be listed).
    let r = s.adm(Method::GET, "/audit?status=4xx", None).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({"data": [], "next": null})));
}

/// Issue 20, item 6: the admin API's changes to a tenant leave rows too
/// (who changed which setting, rotated or deleted what), not its reads;
/// every row names the client's address and user agent.
async fn admin_changes_are_audited_with_who_and_from_where(b: Backend) {
    let s = start(b).await;
    let ua = [("User-Agent", "okta-provisioning/1.0"), ("Content-Type", "application/scim+json")];
    let body = json!({"schemas": [USER], "userName": "ada@acme.com"}).to_string();
    assert_eq!(s.raw(Method::POST, "/Users", Some(body), &ua).await.status, 201);
    let auth = format!("Bearer {}", s.admin_token);
    let headers =
        [("Authorization", auth.as_str()), ("Content-Type", "application/json"), ("User-Agent", "ops-script/2")];
    let r = s
        .raw(Method::POST, &format!("{}/workspaces", s.admin), Some(json!({"name": "c3.acme"}).to_string()), &headers)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(s.adm(Method::GET, "/workspaces", None).await.status, 200);
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "sometimes"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let rows = trail_n(&s, "", 4).await;
    let routes: Vec<(&str, &str, u64)> = rows
        .iter()
        .map(|r| (r["method"].as_str().unwrap(), r["route"].as_str().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        routes,
        [
            ("PUT", "/admin/v1/tenants/{tenant}/policy", 400),
            ("PUT", "/admin/v1/tenants/{tenant}/policy", 200),
            ("POST", "/admin/v1/tenants/{tenant}/workspaces", 201),
            ("POST", "/scim/v2/{tenant}/Users", 201),
        ],
        "no row for the GET: {:#}",
        json!(rows)
    );
    let workspace = &rows[2];
    assert_eq!((workspace["token"].as_str(), workspace["user_agent"].as_str()), (Some("tests"), Some("ops-script/2")));
    assert!(strs(&workspace["changes"]).contains(&"provisioning configuration changed"), "{workspace}");
    assert!(rows[0]["detail"].as_str().is_some_and(|d| d.contains("sometimes")), "the refusal as shown: {}", rows[0]);
    assert_eq!(rows[3]["user_agent"], "okta-provisioning/1.0");
    assert!(rows.iter().all(|r| r["client"] == "127.0.0.1"), "{:#}", json!(rows));
}
