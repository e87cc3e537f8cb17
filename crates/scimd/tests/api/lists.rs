//! Lists and reads: pagination, deep pages, pages as GET shows them, fresh reads, memberships, races.

use super::*;
use std::collections::BTreeSet;

on_both_backends!(
    deleting_a_user_removes_its_memberships,
    reads_never_show_a_stale_user,
    pages_show_resources_as_get_does,
    deep_pages_stay_exact_as_users_come_and_go,
    pagination_is_exact_and_stable,
    concurrent_creates_of_one_user_name,
    large_membership_changes_come_out_as_one_change_would
);

async fn deleting_a_user_removes_its_memberships(b: Backend) {
    let s = start(b).await;
    let u = s.create_user("gone@x.org").await["id"].as_str().unwrap().to_string();
    let g = s.create_group("G").await["id"].as_str().unwrap().to_string();
    s.patch(&format!("/Groups/{g}"), json!([{"op": "add", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    assert_eq!(s.get(&format!("/Groups/{g}")).await.body["members"], json!([]));
}

/// Reads answered from the read cache (SQLite) always show the last write:
/// the user's own changes, its groups' changes, a rename, a delete, a restore.
async fn reads_never_show_a_stale_user(b: Backend) {
    let s = start(b).await;
    let u = Server::id_of(&s.create_user("Cache@x.org").await);
    let path = format!("/Users/{u}");
    let by_name = |name: &str| format!("/Users?filter={}", q(&format!("userName eq \"{name}\"")));
    for _ in 0..2 {
        assert_eq!(s.get(&path).await.body["active"], true);
        assert_eq!(s.ids(&by_name("cache@X.org")).await, vec![u.clone()]);
    }
    let r = s.patch(&path, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(&path).await.body["active"], false);
    assert_eq!(s.get(&by_name("cache@x.org")).await.body["Resources"][0]["active"], false);
    let etag = s.get(&path).await.header("etag").unwrap().to_string();
    assert_eq!(etag, r.header("etag").unwrap());
    assert_eq!(s.raw(Method::GET, &path, None, &[("If-None-Match", &etag)]).await.status, 304);

    let g = Server::id_of(&s.create_group("Cached").await);
    s.add_member(&g, &u).await;
    assert_eq!(s.get(&path).await.body["groups"][0]["value"], g.as_str());
    let r =
        s.patch(&format!("/Groups/{g}"), json!([{"op": "replace", "path": "displayName", "value": "Renamed"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(&path).await.body["groups"][0]["display"], "Renamed");
    assert_eq!(s.get(&by_name("cache@x.org")).await.body["Resources"][0]["groups"][0]["display"], "Renamed");
    assert_eq!(s.delete(&format!("/Groups/{g}")).await.status, 204);
    assert!(s.get(&path).await.body.get("groups").is_none());

    let r = s.patch(&path, json!([{"op": "replace", "path": "userName", "value": "moved@x.org"}])).await;
    assert_eq!(r.status, 200);
    assert!(s.ids(&by_name("cache@x.org")).await.is_empty());
    let other = Server::id_of(&s.create_user("cache@x.org").await);
    assert_eq!(s.ids(&by_name("cache@x.org")).await, vec![other]);
    assert_eq!(s.ids(&by_name("moved@x.org")).await, vec![u.clone()]);
    // The whole user only: a projection is rendered afresh.
    let r = s.get(&format!("{path}?attributes=userName")).await;
    assert_eq!(r.body["userName"], "moved@x.org");
    assert!(r.body.get("active").is_none());

    assert_eq!(s.delete(&path).await.status, 204);
    s.get(&path).await.assert_error(404, None);
    assert!(s.ids(&by_name("moved@x.org")).await.is_empty());
}

/// A page writes whole resources out without parsing them; what it shows
/// must be what GET shows, attribute for attribute.
async fn pages_show_resources_as_get_does(b: Backend) {
    let s = start(b).await;
    let plain = Server::id_of(&s.create_user("plain@x.org").await);
    let rich = json!({"schemas": [USER, ENTERPRISE], "userName": "Rich \"Q\" \\ Ünïcode@x.org",
        "name": {"givenName": "Zoë", "familyName": "O'Brien\n"}, "displayName": "Tab\there", "active": false,
        "emails": [{"value": "r@x.org", "type": "work", "primary": true}, {"value": "r2@x.org", "type": "home"}],
        "phoneNumbers": [{"value": "+1 555", "type": "mobile"}], "externalId": "ext-1",
        ENTERPRISE: {"employeeNumber": "42", "department": "R&D", "manager": {"value": plain}}});
    let r = s.post("/Users", rich).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rich = Server::id_of(&r.body);
    let g = Server::id_of(&s.create_group("Team \"A\"").await);
    s.add_member(&g, &rich).await;
    s.add_member(&g, &plain).await;
    s.create_group("Empty").await;
    for kind in ["Users", "Groups"] {
        let page = s.get(&format!("/{kind}?count=100")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["Resources"].as_array().unwrap();
        assert_eq!(items.len() as u64, page.body["totalResults"].as_u64().unwrap());
        for item in items {
            let one = s.get(&format!("/{kind}/{}", item["id"].as_str().unwrap())).await;
            assert_eq!(item, &one.body, "{kind}: the page and GET differ");
        }
    }
    let items = s.get("/Users?count=100").await.body["Resources"].clone();
    let rich_item = items.as_array().unwrap().iter().find(|u| u["id"] == rich.as_str()).unwrap().clone();
    assert_eq!(rich_item["groups"][0]["display"], "Team \"A\"");
    assert_eq!(rich_item[ENTERPRISE]["department"], "R&D");
    // Through POST /.search as well.
    let r = s.post("/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["Resources"].as_array().unwrap().contains(&rich_item));
}

/// Unfiltered pages start from marks every 256 users (SQLite): they must stay
/// exact however deep, and as users are created and deleted between pages.
async fn deep_pages_stay_exact_as_users_come_and_go(b: Backend) {
    let s = start(b).await;
    let mut all = Vec::new();
    for i in 0..600 {
        all.push(Server::id_of(&s.create_user(&format!("deep{i:03}@x.org")).await));
    }
    let listed = |start: usize, count: usize| format!("/Users?startIndex={start}&count={count}");
    let mut in_order = Vec::new();
    for start in (1..=600).step_by(100) {
        in_order.extend(s.ids(&listed(start, 100)).await);
    }
    assert_eq!(in_order, all, "six pages of 100 hold every user once, in creation order");
    for start in [1, 256, 257, 258, 511, 512, 513, 599, 600] {
        assert_eq!(s.ids(&listed(start, 3)).await, in_order[start - 1..(start + 2).min(600)], "startIndex {start}");
    }
    assert!(s.ids(&listed(601, 10)).await.is_empty());
    assert_eq!(s.get(&listed(1, 1)).await.body["totalResults"], 600);

    assert_eq!(s.delete(&format!("/Users/{}", in_order[9])).await.status, 204);
    in_order.remove(9);
    let r = s.get(&listed(257, 2)).await;
    assert_eq!(r.body["totalResults"], 599);
    assert_eq!(s.ids(&listed(257, 2)).await, in_order[256..258]);
    let newest = Server::id_of(&s.create_user("deep-new@x.org").await);
    in_order.push(newest);
    assert_eq!(s.ids(&listed(599, 5)).await, in_order[598..600]);
    assert_eq!(s.get(&listed(1, 1)).await.body["totalResults"], 600);

    // Creates after a page was read extend the kept roster (SQLite) past
    // the next mark (768): pages there and the total stay exact.
    for i in 0..170 {
        in_order.push(Server::id_of(&s.create_user(&format!("deep-more{i:03}@x.org")).await));
    }
    assert_eq!(s.get(&listed(1, 1)).await.body["totalResults"], 770);
    for start in [600, 767, 768, 769, 770] {
        assert_eq!(s.ids(&listed(start, 3)).await, in_order[start - 1..(start + 2).min(770)], "startIndex {start}");
    }
}

async fn pagination_is_exact_and_stable(b: Backend) {
    let s = start(b).await;
    let mut all = Vec::new();
    for i in 0..25 {
        all.push(s.create_user(&format!("user{i:02}@x.org")).await["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for start in [1, 11, 21] {
        let r = s.get(&format!("/Users?startIndex={start}&count=10")).await;
        assert_eq!(r.body["totalResults"], 25);
        assert_eq!(r.body["startIndex"], start);
        assert_eq!(r.body["itemsPerPage"], if start == 21 { 5 } else { 10 });
        seen.extend(r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, all, "pages neither overlap nor skip, in creation order");
    let r = s.get("/Users?count=0").await;
    assert_eq!((r.body["totalResults"].clone(), r.body["itemsPerPage"].clone()), (json!(25), json!(0)));
    let r = s.get("/Users?startIndex=0&count=2").await;
    assert_eq!(r.body["startIndex"], 1);
    let r = s.get("/Users?startIndex=100").await;
    assert_eq!((r.body["totalResults"].clone(), r.body["Resources"].clone()), (json!(25), json!([])));
    // Sorting.
    let ids = s.ids("/Users?sortBy=userName&sortOrder=descending&count=3").await;
    assert_eq!(ids, vec![all[24].clone(), all[23].clone(), all[22].clone()]);
    // attributes / excludedAttributes.
    let r = s.get("/Users?attributes=userName&count=1").await;
    let mut keys: Vec<_> = r.body["Resources"][0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let r = s.get("/Users?excludedAttributes=emails,name&count=1").await;
    assert!(r.body["Resources"][0].get("emails").is_none() && r.body["Resources"][0].get("userName").is_some());
    // POST .search, per type and at the root.
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"user0\"", "attributes": ["userName"], "startIndex": 1, "count": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 10);
    assert_eq!(r.body["itemsPerPage"], 5);
    s.create_group("Group A").await;
    let r = s
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "startIndex": 25, "count": 10}),
        )
        .await;
    assert_eq!(r.body["totalResults"], 26);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["Resources"][1]["displayName"], "Group A");
    let r = s.post("/.search", json!({"filter": "displayName eq \"group a\""})).await;
    assert_eq!(r.body["totalResults"], 1);
}

async fn concurrent_creates_of_one_user_name(b: Backend) {
    let s = std::sync::Arc::new(start(b).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "Race@Example.com" } else { "race@example.COM" };
            s.post("/Users", json!({"schemas": [USER], "userName": name})).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 201 {
            created += 1;
        } else {
            r.assert_error(409, Some("uniqueness"));
        }
    }
    assert_eq!(created, 1);
    // Failing writes among good ones (SQLite runs them in one batch): each
    // failure is refused alone and every good write is kept.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 4 == 0 { "race@example.com".to_string() } else { format!("batch{i}@example.com") };
            let r = s.post("/Users", json!({"schemas": [USER], "userName": name})).await;
            (i, r)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if i % 4 == 0 {
            r.assert_error(409, Some("uniqueness"));
        } else {
            assert_eq!(r.status, 201, "{}", r.body);
            let id = r.body["id"].as_str().unwrap();
            assert_eq!(s.get(&format!("/Users/{id}")).await.body["userName"], format!("batch{i}@example.com"));
        }
    }
    assert_eq!(s.get("/Users?count=0").await.body["totalResults"], 31);
    // Renaming onto a taken name is refused too, by PATCH and by PUT, naming the holder.
    let holder = s.get(&format!("/Users?filter={}", q("userName eq \"race@example.com\""))).await.body["Resources"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = Server::id_of(&s.create_user("other@example.com").await);
    let r = s
        .patch(&format!("/Users/{other}"), json!([{"op": "replace", "path": "userName", "value": "RACE@example.com"}]))
        .await;
    r.assert_error(409, Some("uniqueness"));
    assert!(r.body["detail"].as_str().unwrap().contains(&format!("(id '{holder}')")), "{}", r.body);
    let r = s.put(&format!("/Users/{other}"), json!({"schemas": [USER], "userName": "race@EXAMPLE.com"})).await;
    r.assert_error(409, Some("uniqueness"));
    assert!(r.body["detail"].as_str().unwrap().contains(&format!("(id '{holder}')")), "{}", r.body);
}

/// Past `MEMBER_CHUNK` values a membership change is written a chunk a
/// transaction: what a group ends up with is what one transaction gives.
async fn large_membership_changes_come_out_as_one_change_would(b: Backend) {
    let s = start(b).await;
    let mut users = Vec::new();
    for i in 0..700 {
        users.push(Server::id_of(&s.create_user(&format!("m{i}@acme.com")).await));
    }
    let group = Server::id_of(&s.create_group("Large").await);
    let path = format!("/Groups/{group}");
    let members_of = |r: &Resp| -> BTreeSet<String> {
        r.body["members"]
            .as_array()
            .map_or_else(BTreeSet::new, |m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
    };
    let values =
        |range: std::ops::Range<usize>| -> Vec<Value> { users[range].iter().map(|id| json!({"value": id})).collect() };
    // 600 in one operation.
    let r = s.patch(&path, json!([{"op": "add", "path": "members", "value": values(0..600)}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(members_of(&s.get(&path).await), users[0..600].iter().cloned().collect());
    // A PUT of 400, half of them new: exactly those.
    let put = json!({"schemas": [GROUP], "displayName": "Large", "members": values(300..700)});
    assert_eq!(s.put(&path, put).await.status, 200);
    assert_eq!(members_of(&s.get(&path).await), users[300..700].iter().cloned().collect());
    // 500 operations of one member each: 250 leave, 250 join.
    let mut ops: Vec<Value> = users[300..550]
        .iter()
        .map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}))
        .collect();
    ops.extend(users[0..250].iter().map(|id| json!({"op": "add", "path": "members", "value": [{"value": id}]})));
    let r = s.patch(&path, json!(ops)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let expected: BTreeSet<String> = users[0..250].iter().chain(&users[550..700]).cloned().collect();
    assert_eq!(members_of(&r), expected, "the answer shows the whole change");
    assert_eq!(members_of(&s.get(&path).await), expected);
    // Each user's groups agree.
    assert_eq!(s.get(&format!("/Users/{}", users[0])).await.body["groups"][0]["value"], group);
    assert!(s.get(&format!("/Users/{}", users[400])).await.body["groups"].as_array().is_none_or(Vec::is_empty));
}
