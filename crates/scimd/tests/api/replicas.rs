//! Replicas: two scimd processes on one PostgreSQL database.

use super::*;

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
