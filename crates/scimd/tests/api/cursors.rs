//! Cursor pagination (RFC 9865) over real HTTP, as a client walks a list:
//! `cursor` and `count` in, `nextCursor` and `previousCursor` out (§2), the
//! errors of §2.1, `.search` bodies (§3), ServiceProviderConfig (§4); and
//! deep index pages on PostgreSQL (the kept counts of migration 0023).

use super::*;

on_both_backends!(
    rfc9865_s2_a_filtered_sorted_walk_by_next_cursor_gives_each_resource_once_in_order,
    rfc9865_s2_a_walk_while_resources_come_and_go_has_no_duplicates_and_no_gaps,
    rfc9865_s2_previous_cursor_walks_back_page_by_page,
    rfc9865_s2_1_a_changed_or_made_up_cursor_is_invalid_cursor,
    rfc9865_s5_2_a_cursor_of_another_tenant_or_another_query_is_invalid_cursor,
    rfc9865_s2_1_a_cursor_older_than_cursor_timeout_is_expired_cursor,
    rfc9865_s2_1_a_bad_or_changed_count_is_invalid_count,
    rfc9865_s2_4_cursor_and_start_index_together_are_refused_and_index_stays_the_default,
    rfc9865_s4_service_provider_config_tells_the_truth,
    rfc9865_s3_search_bodies_carry_the_cursor_and_the_root_search_walks_users_then_groups,
    cursor_walks_keep_hand_made_users_outside_the_allowed_domains_hidden,
    a_cursor_from_one_replica_continues_on_another_with_the_same_secrets_key,
    index_pages_at_every_depth_and_their_totals_stay_exact_as_users_come_and_go
);

/// Create `n` users `{prefix}NNN@acme.com` through POST; `title` of user i
/// is `titles(i)` (`None`: no title). Answers their ids.
async fn users(s: &Server, prefix: &str, n: usize, titles: impl Fn(usize) -> Option<String>) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut u = json!({"schemas": [USER], "userName": format!("{prefix}{i:03}@acme.com")});
        if let Some(t) = titles(i) {
            u["title"] = json!(t);
        }
        let r = s.post("/Users", u).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(Server::id_of(&r.body));
    }
    ids
}

/// A page by GET: its ids, nextCursor and previousCursor, and the body.
async fn page(s: &Server, path: &str) -> (Vec<String>, Option<String>, Option<String>, Value) {
    let r = s.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let ids: Vec<String> =
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(r.body["itemsPerPage"], ids.len(), "{}", r.body);
    // Cursor paging has no startIndex (RFC 9865 §2's examples).
    assert!(r.body.get("startIndex").is_none(), "{}", r.body);
    let text = |k: &str| r.body.get(k).map(|c| c.as_str().unwrap().to_string());
    (ids, text("nextCursor"), text("previousCursor"), r.body)
}

/// Walk `path` (which ends in `cursor=`) by nextCursor to the end: every
/// page's ids, and the totals the pages said.
async fn walk(s: &Server, path: &str) -> (Vec<Vec<String>>, Vec<i64>) {
    let (mut pages, mut totals, mut cursor) = (Vec::new(), Vec::new(), String::new());
    for n in 0.. {
        assert!(n < 1000, "a walk that does not end");
        let (ids, next, previous, body) = page(s, &format!("{path}{cursor}")).await;
        // No previousCursor with the first page (§2, Table 2).
        assert_eq!(previous.is_some(), n > 0, "page {n}: {body}");
        totals.push(body["totalResults"].as_i64().unwrap());
        pages.push(ids);
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    (pages, totals)
}

fn titled(i: usize) -> Option<String> {
    // Duplicates, case differences, empty strings and missing titles: ties
    // and the missing values that sort last ascending and first descending.
    match i % 6 {
        0 => None,
        1 => Some(String::new()),
        2 => Some(format!("T{:02}", i % 17)),
        3 => Some(format!("t{:02}", i % 17)),
        _ => Some(format!("title {}", i % 40)),
    }
}

async fn rfc9865_s2_a_filtered_sorted_walk_by_next_cursor_gives_each_resource_once_in_order(b: Backend) {
    let s = start(b).await;
    users(&s, "w", 250, titled).await;
    users(&s, "other", 20, titled).await;
    let filter = q("userName sw \"w\"");
    for sort in [
        "",
        "&sortBy=title",
        "&sortBy=title&sortOrder=descending",
        "&sortBy=meta.lastModified&sortOrder=descending",
        "&sortBy=userName",
    ] {
        // The same list in one index page is the order to match.
        let whole = s.ids(&format!("/Users?filter={filter}{sort}&count=1000")).await;
        assert_eq!(whole.len(), 250);
        let (pages, totals) = walk(&s, &format!("/Users?filter={filter}{sort}&count=7&cursor=")).await;
        assert_eq!(pages.len(), 250_usize.div_ceil(7), "{sort}");
        assert!(pages[..pages.len() - 1].iter().all(|p| p.len() == 7), "{sort}");
        assert_eq!(pages.concat(), whole, "{sort}: each once, in the list's order");
        assert!(totals.iter().all(|t| *t == 250), "{sort}: {totals:?}");
    }
    // Without a filter: every user, plain stored order.
    let (pages, totals) = walk(&s, "/Users?count=100&cursor=").await;
    assert_eq!(pages.concat(), s.ids("/Users?count=1000").await);
    assert_eq!((pages.len(), totals), (3, vec![270, 270, 270]));
}

async fn rfc9865_s2_a_walk_while_resources_come_and_go_has_no_duplicates_and_no_gaps(b: Backend) {
    let s = start(b).await;
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    for sort in ["", "&sortBy=title", "&sortBy=title&sortOrder=descending"] {
        let prefix = format!("m{}", sort.len());
        let ids = users(&s, &prefix, 60, titled).await;
        let filter = q(&format!("userName sw \"{prefix}\""));
        let path = format!("/Users?filter={filter}{sort}&count=7&cursor=");
        let (mut seen, mut cursor, mut deleted, mut step) = (Vec::<String>::new(), String::new(), Vec::new(), 0);
        loop {
            let (page_ids, next, _, _) = page(&s, &format!("{path}{cursor}")).await;
            seen.extend(page_ids);
            // Between pages: delete one seen and one not yet seen, and create
            // two that sort anywhere.
            let unseen: Vec<&String> = ids.iter().filter(|id| !seen.contains(id) && !deleted.contains(*id)).collect();
            if let Some(victim) = unseen.last().map(|id| id.to_string()) {
                assert_eq!(s.delete(&format!("/Users/{victim}")).await.status, 204);
                deleted.push(victim);
            }
            if let Some(victim) = seen.iter().find(|id| !deleted.contains(*id)).cloned() {
                assert_eq!(s.delete(&format!("/Users/{victim}")).await.status, 204);
                deleted.push(victim);
            }
            users(&s, &format!("{prefix}new{step}x"), 2, |i| titled(i + step)).await;
            step += 1;
            match next {
                Some(n) => cursor = n,
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{sort}: no resource twice");
        for id in &ids {
            if !deleted.contains(id) {
                assert!(seen.contains(id), "{sort}: {id} existed throughout and was missed");
            }
        }
    }
}

async fn rfc9865_s2_previous_cursor_walks_back_page_by_page(b: Backend) {
    let s = start(b).await;
    users(&s, "p", 40, titled).await;
    for sort in ["", "&sortBy=title", "&sortBy=title&sortOrder=descending"] {
        let path = format!("/Users?count=6{sort}&cursor=");
        let mut forward = Vec::new();
        let mut cursor = String::new();
        let last_previous = loop {
            let (ids, next, previous, _) = page(&s, &format!("{path}{cursor}")).await;
            forward.push(ids);
            match next {
                Some(n) => cursor = n,
                None => break previous,
            }
        };
        assert_eq!(forward.len(), 7, "{sort}");
        // From the last page back to the first, by previousCursor.
        let mut back = vec![forward.last().unwrap().clone()];
        let mut previous = last_previous;
        while let Some(p) = previous {
            let (ids, next, prev, body) = page(&s, &format!("{path}{p}")).await;
            assert!(next.is_some(), "a page reached backward has one after it: {body}");
            back.push(ids);
            previous = prev;
        }
        back.reverse();
        assert_eq!(back, forward, "{sort}");
    }
}

async fn rfc9865_s2_1_a_changed_or_made_up_cursor_is_invalid_cursor(b: Backend) {
    let s = start(b).await;
    users(&s, "c", 5, titled).await;
    let (_, next, _, _) = page(&s, "/Users?count=2&cursor").await;
    let next = next.unwrap();
    // Any one character changed.
    let mut changed: Vec<char> = next.chars().collect();
    for i in [0, changed.len() / 2, changed.len() - 1] {
        let was = changed[i];
        changed[i] = if was == 'A' { 'B' } else { 'A' };
        let r = s.get(&format!("/Users?count=2&cursor={}", changed.iter().collect::<String>())).await;
        r.assert_error(400, Some("invalidCursor"));
        assert!(r.body["detail"].as_str().unwrap().contains("empty cursor"), "{}", r.body);
        changed[i] = was;
    }
    for made_up in ["abc", "VZUTiyhEQJ94IR", &next[..next.len() - 3], &format!("{next}AA")] {
        s.get(&format!("/Users?count=2&cursor={made_up}")).await.assert_error(400, Some("invalidCursor"));
    }
    // Only RFC 3986 unreserved characters make a cursor (§2, Table 1).
    s.get(&format!("/Users?count=2&cursor={}", q("a+b/c="))).await.assert_error(400, Some("invalidCursor"));
    // The genuine one still works.
    assert_eq!(page(&s, &format!("/Users?count=2&cursor={next}")).await.0.len(), 2);
}

async fn rfc9865_s5_2_a_cursor_of_another_tenant_or_another_query_is_invalid_cursor(b: Backend) {
    let s = start(b).await;
    users(&s, "a", 6, titled).await;
    s.create_group("g1").await;
    s.create_group("g2").await;
    s.create_group("g3").await;
    let cursor_of = |path: String| {
        let s = &s;
        async move { page(s, &path).await.1.unwrap() }
    };
    let next = cursor_of("/Users?count=2&sortBy=title&cursor=".into()).await;
    // The same tenant, another query: another filter, sortBy, sortOrder, endpoint.
    for other in [
        format!("/Users?count=2&sortBy=title&filter={}&cursor={next}", q("userName pr")),
        format!("/Users?count=2&sortBy=userName&cursor={next}"),
        format!("/Users?count=2&cursor={next}"),
        format!("/Users?count=2&sortBy=title&sortOrder=descending&cursor={next}"),
        format!("/Groups?count=2&sortBy=title&cursor={next}"),
    ] {
        let r = s.get(&other).await;
        r.assert_error(400, Some("invalidCursor"));
        assert!(r.body["detail"].as_str().unwrap().contains("another list"), "{other}: {}", r.body);
    }
    // The projection is not part of the query a cursor belongs to.
    let r = s.get(&format!("/Users?count=2&sortBy=title&attributes=userName&cursor={next}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Another tenant, the same query: refused, in words that say nothing of acme.
    s.svc.create_tenant("beta").await.unwrap();
    let beta = cli::create_token(&s.svc, "beta", "okta", None).await.unwrap();
    let auth = format!("Bearer {beta}");
    let url = format!("{}/scim/v2/beta/Users?count=2&sortBy=title&cursor={next}", s.root);
    let r = s.raw(Method::GET, &url, None, &[("Authorization", &auth)]).await;
    r.assert_error(400, Some("invalidCursor"));
    assert!(!r.body["detail"].as_str().unwrap().contains("acme"), "{}", r.body);
    // A root .search cursor is not a /Users cursor, nor the reverse.
    let root = s.post(&format!("{}/scim/v2/acme/.search", s.root), json!({"cursor": "", "count": 2})).await;
    let root_next = root.body["nextCursor"].as_str().unwrap().to_string();
    s.get(&format!("/Users?count=2&cursor={root_next}")).await.assert_error(400, Some("invalidCursor"));
    let r = s.post(&format!("{}/scim/v2/acme/.search", s.root), json!({"cursor": next, "count": 2})).await;
    r.assert_error(400, Some("invalidCursor"));
}

async fn rfc9865_s2_1_a_cursor_older_than_cursor_timeout_is_expired_cursor(b: Backend) {
    let config = Config { cursor_timeout: std::time::Duration::from_secs(30), ..test_config() };
    let s = start_with(b, config).await;
    users(&s, "e", 5, titled).await;
    let (_, next, _, _) = page(&s, "/Users?count=2&cursor=").await;
    let next = next.unwrap();
    s.clock.advance(std::time::Duration::from_secs(20));
    // Within the timeout; the page it gives carries a fresh cursor.
    let (_, fresh, _, _) = page(&s, &format!("/Users?count=2&cursor={next}")).await;
    let fresh = fresh.unwrap();
    s.clock.advance(std::time::Duration::from_secs(15));
    let r = s.get(&format!("/Users?count=2&cursor={next}")).await;
    r.assert_error(400, Some("expiredCursor"));
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("30 s") && detail.contains("empty cursor"), "{detail}");
    assert_eq!(page(&s, &format!("/Users?count=2&cursor={fresh}")).await.0.len(), 1);
}

async fn rfc9865_s2_1_a_bad_or_changed_count_is_invalid_count(b: Backend) {
    let s = start(b).await;
    users(&s, "n", 5, titled).await;
    for bad in ["abc", "1.5", "1001"] {
        let r = s.get(&format!("/Users?count={bad}&cursor=")).await;
        r.assert_error(400, Some("invalidCount"));
        assert!(r.body["detail"].as_str().unwrap().contains("1000"), "{}", r.body);
    }
    // Index paging keeps RFC 7644's rules: a count past the maximum is cut to it.
    assert_eq!(s.get("/Users?count=1001").await.status, 200);
    // The count may not change along a walk (§2.1, Table 3).
    let (_, next, _, _) = page(&s, "/Users?count=2&cursor=").await;
    let next = next.unwrap();
    let r = s.get(&format!("/Users?count=3&cursor={next}")).await;
    r.assert_error(400, Some("invalidCount"));
    assert!(r.body["detail"].as_str().unwrap().contains("stay 2"), "{}", r.body);
    s.get(&format!("/Users?cursor={next}")).await.assert_error(400, Some("invalidCount"));
    // 0 (and a negative count, read as 0) asks for totalResults alone (§2, Table 1).
    for zero in ["0", "-4"] {
        let (ids, next, previous, body) = page(&s, &format!("/Users?count={zero}&cursor=")).await;
        assert_eq!((ids.len(), next, previous, body["totalResults"].clone()), (0, None, None, json!(5)));
    }
    let r = s.post("/Users/.search", json!({"cursor": "", "count": 5000})).await;
    r.assert_error(400, Some("invalidCount"));
}

async fn rfc9865_s2_4_cursor_and_start_index_together_are_refused_and_index_stays_the_default(b: Backend) {
    let s = start(b).await;
    users(&s, "i", 5, titled).await;
    let r = s.get("/Users?startIndex=1&count=2&cursor=").await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("not both"), "{}", r.body);
    let r = s.post("/Users/.search", json!({"startIndex": 3, "cursor": ""})).await;
    r.assert_error(400, Some("invalidValue"));
    // No pagination parameter: index paging, as before (§2.4).
    let r = s.get("/Users?count=2").await;
    assert_eq!((r.body["startIndex"].clone(), r.body["itemsPerPage"].clone()), (json!(1), json!(2)));
    assert!(r.body.get("nextCursor").is_none(), "{}", r.body);
}

async fn rfc9865_s4_service_provider_config_tells_the_truth(b: Backend) {
    let config = Config { cursor_timeout: std::time::Duration::from_secs(900), ..test_config() };
    let s = start_with(b, config).await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(
        r.body["pagination"],
        json!({"cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 1000,
               "maxPageSize": 1000, "cursorTimeout": 900})
    );
    // What it says holds: the default page, the maximum, the timeout.
    users(&s, "d", 3, titled).await;
    assert_eq!(s.get("/Users").await.body["startIndex"], 1);
    s.get("/Users?count=1001&cursor=").await.assert_error(400, Some("invalidCount"));
    let (_, next, _, _) = page(&s, "/Users?count=1&cursor=").await;
    s.clock.advance(std::time::Duration::from_secs(901));
    s.get(&format!("/Users?count=1&cursor={}", next.unwrap())).await.assert_error(400, Some("expiredCursor"));
    // Without a secrets key nothing signs cursors: the server says so, and refuses them.
    let bare = start_with_options(b, test_config(), scimd::service::Options::default()).await;
    let r = bare.get("/ServiceProviderConfig").await;
    assert_eq!(r.body["pagination"]["cursor"], false, "{}", r.body);
    assert_eq!(r.body["pagination"]["index"], true, "{}", r.body);
    let r = bare.get("/Users?cursor=").await;
    r.assert_error(400, Some("invalidCursor"));
    assert!(r.body["detail"].as_str().unwrap().contains("startIndex"), "{}", r.body);
}

async fn rfc9865_s3_search_bodies_carry_the_cursor_and_the_root_search_walks_users_then_groups(b: Backend) {
    let s = start(b).await;
    let users_ids = users(&s, "s", 10, titled).await;
    let mut group_ids = Vec::new();
    for i in 0..5 {
        group_ids.push(Server::id_of(&s.create_group(&format!("group {i}")).await));
    }
    // POST /Users/.search: the cursor in the body.
    let (mut seen, mut cursor) = (Vec::new(), Value::String(String::new()));
    loop {
        let r = s
            .post(
                "/Users/.search",
                json!({"schemas": [scim_core::list::SEARCH_REQUEST], "count": 4,
                                                "cursor": cursor, "sortBy": "userName"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["totalResults"], 10);
        seen.extend(r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match r.body.get("nextCursor") {
            Some(n) => cursor = n.clone(),
            None => break,
        }
    }
    assert_eq!(seen, users_ids);
    // A cursor that is not a string is no cursor.
    s.post("/Users/.search", json!({"cursor": 5})).await.assert_error(400, Some("invalidCursor"));
    // The root: users first, then groups, across the boundary (count 4: 10 + 5 in 4 pages).
    let root = format!("{}/scim/v2/acme/.search", s.root);
    let (mut seen, mut cursor, mut pages) = (Vec::new(), Value::String(String::new()), 0);
    loop {
        let r = s.post(&root, json!({"count": 4, "cursor": cursor, "attributes": ["id"]})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["totalResults"], 15);
        assert!(r.body.get("previousCursor").is_none());
        pages += 1;
        seen.extend(r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match r.body.get("nextCursor") {
            Some(n) => cursor = n.clone(),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, [users_ids.clone(), group_ids.clone()].concat());
    // A filter only Groups has: the walk is of groups alone.
    let r = s.post(&root, json!({"count": 3, "cursor": "", "filter": "members pr or displayName sw \"group\""})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5, "{}", r.body);
}

async fn cursor_walks_keep_hand_made_users_outside_the_allowed_domains_hidden(b: Backend) {
    let s = start(b).await;
    let scim = users(&s, "h", 8, titled).await;
    let mut visible = scim.clone();
    for name in ["hand1@acme.com", "vendor1@other.io", "hand2@acme.com", "vendor2@other.io"] {
        let r = s.adm(Method::POST, "/users", Some(json!({"userName": name}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        if name.ends_with("acme.com") {
            visible.push(Server::id_of(&r.body));
        }
    }
    let r = s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for sort in ["", "&sortBy=title"] {
        let (pages, totals) = walk(&s, &format!("/Users?count=3{sort}&cursor=")).await;
        let mut seen = pages.concat();
        seen.sort();
        let mut want = visible.clone();
        want.sort();
        assert_eq!(seen, want, "{sort}");
        assert!(totals.iter().all(|t| *t == 10), "{sort}: {totals:?}");
    }
}

async fn a_cursor_from_one_replica_continues_on_another_with_the_same_secrets_key(b: Backend) {
    let key = scimd::events::sealed::SealingKey::generate().unwrap();
    let options = |key: scimd::events::sealed::SealingKey| scimd::service::Options {
        webhooks: scimd::service::webhooks::WebhookOptions { key: Some(key), ..Default::default() },
        ..Default::default()
    };
    let s = start_with_options(b, test_config(), options(key.clone())).await;
    let ids = users(&s, "r", 9, titled).await;
    // Two more servers on the same database: one with the key, one with another.
    let replica = |key| {
        let (url, clock) = (s.url.clone(), s.clock.clone());
        async move {
            let (svc, tasks) = cli::open(&url, &Default::default(), options(key), clock).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(cli::run_server(listener, AppState::new(svc, test_config()), tasks, std::future::pending()));
            format!("http://{addr}/scim/v2/acme")
        }
    };
    let same = replica(key).await;
    let other = replica(scimd::events::sealed::SealingKey::generate().unwrap()).await;
    // Pages alternate between the first server and the replica.
    let (mut seen, mut cursor, mut n) = (Vec::new(), String::new(), 0);
    loop {
        let base = if n % 2 == 0 { &s.base } else { &same };
        let (ids, next, _, _) = page(&s, &format!("{base}/Users?count=2&sortBy=title&cursor={cursor}")).await;
        seen.extend(ids);
        n += 1;
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(seen, s.ids("/Users?count=100&sortBy=title").await);
    assert_eq!(seen.len(), ids.len());
    // A replica with another secrets key cannot tell the cursor from a forged one.
    let (_, next, _, _) = page(&s, "/Users?count=2&cursor=").await;
    let r = s.get(&format!("{other}/Users?count=2&cursor={}", next.unwrap())).await;
    r.assert_error(400, Some("invalidCursor"));
}

/// Issue 22, item 3: on PostgreSQL an unfiltered list's total is the kept
/// count and a page past the middle is read from the end; on SQLite the
/// roster. Every depth gives the same resources as one whole page, and the
/// total follows creates, deletes, soft deletes and restores.
async fn index_pages_at_every_depth_and_their_totals_stay_exact_as_users_come_and_go(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "soft"}))).await;
    let ids = users(&s, "k", 23, |_| None).await;
    let check = |want: usize| {
        let s = &s;
        async move {
            let whole = s.ids("/Users?count=1000").await;
            assert_eq!(whole.len(), want);
            let mut paged = Vec::new();
            for start in (1..=want + 3).step_by(4) {
                let r = s.get(&format!("/Users?startIndex={start}&count=4")).await;
                assert_eq!(r.body["totalResults"], want, "startIndex {start}: {}", r.body);
                paged.extend(
                    r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()),
                );
            }
            assert_eq!(paged, whole);
            // The last page, whatever its size, and a page past the end.
            let r = s.get(&format!("/Users?startIndex={want}&count=10")).await;
            assert_eq!(r.body["Resources"].as_array().unwrap().len(), 1.min(want));
            let r = s.get(&format!("/Users?startIndex={}&count=10", want + 1)).await;
            assert_eq!((r.body["totalResults"].clone(), r.body["Resources"].clone()), (json!(want), json!([])));
            whole
        }
    };
    check(23).await;
    // A soft delete and a hard one (by the admin API's policy), a restore, new users.
    assert_eq!(s.delete(&format!("/Users/{}", ids[3])).await.status, 204);
    assert_eq!(s.delete(&format!("/Users/{}", ids[20])).await.status, 204);
    check(21).await;
    let r = s.adm(Method::POST, &format!("/users/{}/restore", ids[3]), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    check(22).await;
    s.adm(Method::PUT, "/policy", Some(json!({"on_delete": "hard"}))).await;
    assert_eq!(s.delete(&format!("/Users/{}", ids[0])).await.status, 204);
    users(&s, "k2", 3, |_| None).await;
    let whole = check(24).await;
    assert!(!whole.contains(&ids[0]) && whole.contains(&ids[3]));
    // Groups are counted apart from users.
    s.create_group("counted").await;
    assert_eq!(s.get("/Groups?startIndex=1&count=0").await.body["totalResults"], 1);
    assert_eq!(s.get("/Users?count=0").await.body["totalResults"], 24);
}
