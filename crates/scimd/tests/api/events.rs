//! Events: written with every write from what it changed, read back from the
//! feed in commit order, nothing for a write that was rolled back, refusals
//! told to the product, and the same events streamed to an embedding host.

use super::*;

on_both_backends!(
    every_kind_of_write_emits_its_events_with_their_cause,
    a_refused_or_failed_write_emits_nothing_but_a_refusal,
    the_feed_pages_in_order_and_filters_by_type,
    concurrent_writes_emit_one_event_each_and_the_feed_misses_none,
    an_embedding_host_receives_the_committed_events,
    events_past_their_retention_are_pruned,
    restores_waits_for_seats_and_configuration_changes_emit_their_events,
    writes_that_change_nothing_emit_nothing_and_keep_the_version,
    waiting_for_another_licence_does_not_assign_the_held_one_again
);

/// The events of tenant `acme`, once at least `n` show.
async fn feed_n(s: &Server, query: &str, n: usize) -> Vec<Value> {
    s.feed_at_least(query, n).await
}

/// Every event of tenant `acme` the feed shows now, a page of 50 at a time.
async fn feed(s: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let r = s.adm(Method::GET, &format!("/events?limit=50&after={after}{sep}{query}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.body["data"].as_array().unwrap().clone();
        if page.is_empty() {
            assert_eq!(r.body["next"], Value::Null);
            return out;
        }
        after = r.body["next"].as_str().unwrap().to_string();
        out.extend(page);
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn every_kind_of_write_emits_its_events_with_their_cause(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let r = s
        .adm(
            Method::POST,
            "/group-mappings",
            Some(json!({"group": "Engineering", "workspace": "c3.acme", "role": "Editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(feed(&s, "").await.is_empty(), "configuration changes are not events");

    let r =
        s.post("/Users", json!({"schemas": [USER], "userName": "ada@acme.com", "name": {"givenName": "Ada"}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let request_id = r.header("x-request-id").unwrap().to_string();
    let ada = Server::id_of(&r.body);
    let events = feed_n(&s, "", 3).await;
    assert_eq!(types(&events), ["user.created", "access.role_granted", "licence.assigned"]);
    let created = &events[0];
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["subject"], json!({"type": "user", "id": ada}));
    assert_eq!(created["data"]["userName"], "ada@acme.com");
    assert_eq!(created["data"]["meta"]["version"], "W/\"1\"");
    assert!(created["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(created["cause"]["request_id"], request_id.as_str());
    assert_eq!(created["cause"]["actor"], json!({"type": "identity_provider", "name": "okta"}));
    assert_eq!(events[1]["data"]["source"], "default");
    assert!(events[1]["data"]["workspace"]["id"].is_string());

    // An update shows what it changed; a deactivation is named so.
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "title", "value": "CTO"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "active", "value": true}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = feed_n(&s, "", 10).await;
    let events = &all[3..];
    assert_eq!(
        types(events),
        [
            "user.updated",
            "user.deactivated",
            "access.role_revoked",
            "licence.released",
            "user.reactivated",
            "access.role_granted",
            "licence.assigned"
        ]
    );
    assert_eq!(events[0]["data"]["title"], "CTO");
    assert_eq!(events[0]["data"]["previous"], json!({"title": null}));
    // The user was created without `active` (true by default).
    assert_eq!(events[1]["data"]["previous"], json!({"active": null}));

    // Groups: created, a member in (and the mapping's role), renamed, deleted.
    let group = Server::id_of(&s.create_group("Engineering").await);
    s.add_member(&group, &ada).await;
    let r =
        s.patch(&format!("/Groups/{group}"), json!([{"op": "replace", "path": "displayName", "value": "Eng"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.delete(&format!("/Groups/{group}")).await.status, 204);
    let all = feed_n(&s, "", 18).await;
    let events = &all[10..];
    assert_eq!(
        types(events),
        [
            "group.created",
            "group.member_added",
            // The group's role replaces the default one in that workspace…
            "access.role_revoked",
            "access.role_granted",
            // …follows the group through a rename (the mapping bound to it)…
            "group.updated",
            // …and goes with it, the default coming back.
            "group.deleted",
            "access.role_revoked",
            "access.role_granted"
        ]
    );
    assert_eq!(events[0]["subject"], json!({"type": "group", "id": group}));
    assert!(events[0]["data"].get("members").is_none(), "never a member list: {}", events[0]);
    assert_eq!(events[1]["data"], json!({"group": {"id": group}, "member": {"id": ada}}));
    assert_eq!(events[2]["data"]["source"], "default");
    assert_eq!(events[3]["data"]["source"], format!("group:{group}"));
    assert_eq!(events[4]["data"]["previous"], json!({"displayName": "Engineering"}));

    // The admin API's writes carry the admin as their cause.
    let r = s.adm(Method::POST, "/users", Some(json!({"userName": "vendor@other.io"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let vendor = Server::id_of(&r.body);
    let r = s
        .adm(Method::POST, &format!("/users/{vendor}/roles"), Some(json!({"workspace": "c3.acme-eu", "role": "Admin"})))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.delete(&format!("/Users/{ada}")).await.status, 204);
    let all = feed_n(&s, "", 24).await;
    let events = &all[18..];
    assert_eq!(events[0]["type"], "user.created");
    assert_eq!(events[0]["cause"]["actor"], json!({"type": "admin", "name": "tests"}));
    let manual = events.iter().find(|e| e["data"]["source"] == "manual").unwrap();
    assert_eq!(manual["type"], "access.role_granted");
    let last = &events[events.len() - 3..];
    assert_eq!(types(last), ["user.deleted", "access.role_revoked", "licence.released"]);
    assert_eq!(last[0]["data"]["userName"], "ada@acme.com", "a deleted user is shown as it was");
    assert_eq!(last[0]["data"]["restorable"], false);
}

async fn a_refused_or_failed_write_emits_nothing_but_a_refusal(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"allowed_domains": ["acme.com"]}))).await.status, 200);
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ada = Server::id_of(&s.create_user("ada@acme.com").await);
    let before = feed_n(&s, "", 3).await.len();
    assert_eq!(before, 3, "created, default role, licence");

    // Failed writes: a uniqueness conflict, a failed precondition, a bad PATCH.
    let clash = s.post("/Users", json!({"schemas": [USER], "userName": "ADA@acme.com"})).await;
    clash.assert_error(409, Some("uniqueness"));
    // It names the user it clashed with, so the admin can find that user.
    assert!(clash.body["detail"].as_str().unwrap().contains(&format!("(id '{ada}')")), "{}", clash.body);
    let r = s.raw(Method::DELETE, &format!("/Users/{ada}"), None, &[("If-Match", "W/\"99\"")]).await;
    r.assert_error(412, None);
    let r = s.patch(&format!("/Users/{ada}"), json!([{"op": "replace", "path": "userName", "value": 7}])).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(feed(&s, "").await.len(), before, "a write that failed emits nothing");

    // Refusals by policy reach the product with what the identity provider was told.
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "vendor@other.io"})).await;
    r.assert_error(403, None);
    let shown = r.body["detail"].as_str().unwrap().to_string();
    let r = s.post("/Users", json!({"schemas": [USER], "userName": "bob@acme.com"})).await;
    r.assert_error(409, None);
    let seats = r.body["detail"].as_str().unwrap().to_string();
    assert_eq!(s.adm(Method::PUT, "/policy", Some(json!({"scim_enabled": false}))).await.status, 200);
    let r = s.get(&format!("/Users/{ada}")).await;
    r.assert_error(403, None);
    let events = feed_n(&s, "type=provisioning.", 3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["data"]["reason"], "domain_not_allowed");
    assert_eq!(events[0]["data"]["status"], 403);
    assert_eq!(events[0]["data"]["detail"], shown.as_str());
    assert_eq!(events[0]["data"]["target"]["userName"], "vendor@other.io");
    assert_eq!(events[0]["subject"], json!({"type": "user", "id": "vendor@other.io"}));
    assert_eq!(events[1]["data"]["reason"], "no_seats");
    assert_eq!(events[1]["data"]["detail"], seats.as_str());
    assert_eq!(events[2]["data"]["reason"], "tenant_disabled");
    assert_eq!(events[2]["subject"], json!({"type": "user", "id": ada}));
    assert_eq!(events[2]["cause"]["actor"]["name"], "okta");
    assert_eq!(feed(&s, "").await.len(), before + 3, "only the refusals were added");
}

async fn the_feed_pages_in_order_and_filters_by_type(b: Backend) {
    let s = start(b).await;
    for i in 0..7 {
        s.create_user(&format!("u{i}@acme.com")).await;
    }
    let g = Server::id_of(&s.create_group("G").await);
    feed_n(&s, "", 8).await;
    let r = s.adm(Method::GET, "/events?limit=3", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    let next = r.body["next"].as_str().unwrap().to_string();
    let r = s.adm(Method::GET, &format!("/events?limit=3&after={next}"), None).await;
    let names: Vec<&str> =
        r.body["data"].as_array().unwrap().iter().map(|e| e["data"]["userName"].as_str().unwrap()).collect();
    assert_eq!(names, ["u3@acme.com", "u4@acme.com", "u5@acme.com"]);
    let all = feed(&s, "").await;
    assert_eq!(types(&all).iter().filter(|t| **t == "user.created").count(), 7);
    let groups = feed(&s, "type=group.").await;
    assert_eq!(types(&groups), ["group.created"]);
    assert_eq!(groups[0]["subject"]["id"], g.as_str());
    // Several types: repeated or comma-separated, types and prefixes mixed, as webhooks take them.
    for query in ["type=group.&type=user.created", "type=group.,user.created", "type=user.created,group.created"] {
        assert_eq!(feed(&s, query).await.len(), 8, "{query}");
    }
    assert_eq!(feed(&s, "type=group.created&type=user.deleted").await.len(), 1);
    // The end of the feed: nothing new, and no cursor to move to.
    let last = s.adm(Method::GET, "/events?limit=1000", None).await.body["next"].as_str().unwrap().to_string();
    let r = s.adm(Method::GET, &format!("/events?after={last}"), None).await;
    assert_eq!((r.body["data"].as_array().unwrap().len(), r.body["next"].clone()), (0, Value::Null));
    // Mistakes in plain words.
    for (query, words) in [
        ("after=yesterday", "'yesterday' is not an event cursor"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=many", "limit must be a whole number"),
        ("type=users.", "'users.' is not an event type or a prefix of one"),
        ("type=user", "'user' is not an event type or a prefix of one (ending in '.')"),
        ("type=group.,nope", "'nope' is not an event type"),
    ] {
        let r = s.adm(Method::GET, &format!("/events?{query}"), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body["error"]["detail"].as_str().unwrap().contains(words), "{query}: {}", r.body);
    }
}

async fn concurrent_writes_emit_one_event_each_and_the_feed_misses_none(b: Backend) {
    let s = Arc::new(start(b).await);
    // Half of them conflict on userName: those are rolled back (on SQLite,
    // alone in their batch) and emit nothing.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.post("/Users", json!({"schemas": [USER], "userName": format!("c{}@acme.com", i / 2)})).await.status
            })
        })
        .collect();
    // A reader following the feed while the writes commit.
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = String::new();
            for _ in 0..1000 {
                let r = s.adm(Method::GET, &format!("/events?after={after}"), None).await;
                if let Some(next) = r.body["next"].as_str() {
                    after = next.to_string();
                }
                seen.extend(r.body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()));
                if seen.len() >= 20 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            seen
        })
    };
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == 201 {
            created += 1;
        }
    }
    assert_eq!(created, 20);
    let seen = reader.await.unwrap();
    let all: Vec<String> = feed_n(&s, "", 20).await.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(all.len(), 20, "one event per created user");
    assert_eq!(seen, all, "a reader following the feed sees every event, in the feed's order");
}

async fn an_embedding_host_receives_the_committed_events(b: Backend) {
    let s = start(b).await;
    let mut events = s.svc.subscribe_events();
    let ada = Server::id_of(&s.create_user("ada@acme.com").await);
    s.post("/Users", json!({"schemas": [USER], "userName": "ADA@acme.com"}))
        .await
        .assert_error(409, Some("uniqueness"));
    let g = Server::id_of(&s.create_group("G").await);
    let first = events.recv().await.unwrap();
    assert_eq!((first.event_type.as_str(), first.subject_id.as_str()), ("user.created", ada.as_str()));
    assert_eq!(first.tenant, "acme");
    let envelope: Value = serde_json::from_str(&first.to_json()).unwrap();
    assert_eq!(envelope["data"]["userName"], "ada@acme.com");
    let second = events.recv().await.unwrap();
    assert_eq!((second.event_type.as_str(), second.subject_id.as_str()), ("group.created", g.as_str()));
    // The stream and the feed agree.
    let feed = feed_n(&s, "", 2).await;
    assert_eq!(feed[0]["id"], first.id.as_str());
    assert_eq!(feed[1]["id"], second.id.as_str());
}

async fn events_past_their_retention_are_pruned(b: Backend) {
    let s = start(b).await;
    s.create_user("old@acme.com").await;
    feed_n(&s, "", 1).await;
    s.clock.advance(std::time::Duration::from_secs(31 * 86400));
    s.create_user("new@acme.com").await;
    let pruned = s.svc.prune_events(std::time::Duration::from_secs(30 * 86400)).await.unwrap();
    assert_eq!(pruned, 1);
    let left = feed_n(&s, "", 1).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["data"]["userName"], "new@acme.com");
}

async fn restores_waits_for_seats_and_configuration_changes_emit_their_events(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let r = s.adm(Method::PATCH, "/licence-types/Basic", Some(json!({"seat_limit": 1}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let policy = json!({"seats_exhausted": "create_unlicensed", "on_delete": "soft"});
    assert_eq!(s.adm(Method::PUT, "/policy", Some(policy)).await.status, 200);
    let ada = Server::id_of(&s.create_user("ada@acme.com").await);
    let bob = Server::id_of(&s.create_user("bob@acme.com").await);
    let all = feed_n(&s, "", 6).await;
    let of_bob: Vec<&str> =
        all.iter().filter(|e| e["subject"]["id"] == bob.as_str()).map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(of_bob, ["user.created", "access.role_granted", "licence.waiting"], "no seat left for bob");
    // A soft delete frees ada's seat for bob; a restore brings her back (waiting now).
    assert_eq!(s.delete(&format!("/Users/{ada}")).await.status, 204);
    let r = s.adm(Method::POST, &format!("/users/{ada}/restore"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = feed_n(&s, "", 11).await;
    let later: Vec<(String, &str)> = all[6..]
        .iter()
        .map(|e| {
            let who = if e["subject"]["id"] == ada.as_str() { "ada" } else { "bob" };
            (e["type"].as_str().unwrap().to_string(), who)
        })
        .collect();
    let deleted = all.iter().find(|e| e["type"] == "user.deleted").unwrap();
    assert_eq!(deleted["data"]["restorable"], true);
    assert!(later.contains(&("licence.assigned".to_string(), "bob")), "{later:?}");
    assert!(later.contains(&("user.restored".to_string(), "ada")), "{later:?}");
    let restored = all.iter().find(|e| e["type"] == "user.restored").unwrap();
    assert_eq!(restored["cause"]["actor"]["type"], "admin");
    // A configuration change that moves users emits their role events, caused by the admin.
    let eng = Server::id_of(&s.create_group("Eng").await);
    s.add_member(&eng, &bob).await;
    let before = feed_n(&s, "", 13).await.len();
    let r = s
        .adm(Method::POST, "/group-mappings", Some(json!({"group": "Eng", "workspace": "c3.acme", "role": "Editor"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let after = feed_n(&s, "", before + 1).await;
    let granted = after[before..].iter().find(|e| e["type"] == "access.role_granted").unwrap();
    assert_eq!(granted["subject"]["id"], bob.as_str());
    assert_eq!(granted["data"]["source"], format!("group:{eng}"));
    assert_eq!(granted["cause"]["actor"], json!({"type": "admin", "name": "tests"}));
}

/// Issue 20, item 2: a write that changes nothing stored (the values held
/// again, an identical PUT, Okta's password sync, `active: true` on an active
/// user, members already there) answers 200 with the resource, keeps its
/// version, ETag and lastModified, emits no event, and its audit row says so.
async fn writes_that_change_nothing_emit_nothing_and_keep_the_version(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    let mapping = json!({"group": "Engineering", "workspace": "c3.acme", "role": "Editor", "licence_type": "Pro"});
    assert_eq!(s.adm(Method::POST, "/group-mappings", Some(mapping)).await.status, 201);
    let user = s.create_user("ada@acme.com").await;
    let u = Server::id_of(&user);
    let g = Server::id_of(&s.create_group("Engineering").await);
    s.add_member(&g, &u).await;
    // On PostgreSQL the feed shows a transaction's events once every older
    // one has ended, so its length is only the count before the no-ops once
    // the last write's own events are there.
    let mut before = 0;
    for _ in 0..500 {
        let events = feed(&s, "").await;
        if events.iter().any(|e| e["type"] == "group.member_added") {
            before = events.len();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(before > 0, "the membership's event never showed in the feed");
    let held_user = s.get(&format!("/Users/{u}")).await;
    let held_group = s.get(&format!("/Groups/{g}")).await;
    let same_put = json!({"schemas": [USER], "userName": "ada@acme.com", "name": {"givenName": "G", "familyName": "F"},
                          "emails": [{"primary": true, "value": "ada@acme.com", "type": "work"}], "active": true});
    let mut with_password = same_put.clone();
    with_password["password"] = json!("N3w-secret!");
    let user_path = format!("/Users/{u}");
    let user_writes = [
        (
            "PATCH of the values held",
            s.patch(
                &user_path,
                json!([{"op": "replace", "path": "name.givenName", "value": "G"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@acme.com"}]),
            )
            .await,
        ),
        (
            "active true on an active user",
            s.patch(&user_path, json!([{"op": "replace", "value": {"active": true}}])).await,
        ),
        (
            "password-only PATCH",
            s.patch(&user_path, json!([{"op": "replace", "value": {"password": "S3cret!x"}}])).await,
        ),
        (
            "password-only PATCH by path",
            s.patch(&user_path, json!([{"op": "replace", "path": "password", "value": "y"}])).await,
        ),
        ("identical PUT", s.put(&user_path, same_put).await),
        ("PUT with a password", s.put(&user_path, with_password).await),
    ];
    for (what, r) in &user_writes {
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert_eq!(r.header("etag"), held_user.header("etag"), "{what}");
        assert_eq!(r.body["meta"], held_user.body["meta"], "{what}");
        assert_eq!(r.body["userName"], "ada@acme.com", "{what}: the resource is answered");
        assert!(r.body.get("password").is_none(), "{what}");
    }
    let group_path = format!("/Groups/{g}");
    let group_writes = [
        (
            "add of a member already in",
            s.patch(&group_path, json!([{"op": "add", "path": "members", "value": [{"value": u}]}])).await,
        ),
        (
            "remove of a non-member",
            s.patch(&group_path, json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}])).await,
        ),
        (
            "rename to its own name",
            s.patch(&group_path, json!([{"op": "replace", "value": {"displayName": "Engineering"}}])).await,
        ),
        (
            "identical PUT",
            s.put(&group_path, json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": u}]}))
                .await,
        ),
    ];
    for (what, r) in &group_writes {
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert_eq!(r.header("etag"), held_group.header("etag"), "{what}");
        assert_eq!(r.body["meta"], held_group.body["meta"], "{what}");
        assert_eq!(r.body["members"][0]["value"], json!(u), "{what}");
    }
    // Still the user's access, as the mapping gives it.
    assert_eq!(s.roles(&u).await, vec![w("c3.acme", "Editor", &format!("group:{g}"))]);
    // A real change after them: its event is the first one after the no-ops.
    let r = s.patch(&user_path, json!([{"op": "replace", "path": "name.givenName", "value": "Ada"}])).await;
    assert_ne!(r.header("etag"), held_user.header("etag"));
    let events = feed_n(&s, "", before + 1).await;
    assert_eq!(types(&events[before..]), ["user.updated"], "{:#}", json!(events[before..]));
    assert_eq!(events[before]["data"]["previous"], json!({"name": {"givenName": "G", "familyName": "F"}}));
    // Each no-op's audit row says nothing changed.
    for (target, n) in [(&u, user_writes.len()), (&g, group_writes.len())] {
        let mut rows = Vec::new();
        for _ in 0..500 {
            let r = s.adm(Method::GET, &format!("/audit?limit=100&target={target}"), None).await;
            rows = r.body["data"].as_array().cloned().unwrap_or_default();
            rows.retain(|r| r["changes"].to_string().contains("unchanged: nothing the request sent differs"));
            if rows.len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(rows.len(), n, "{:#}", json!(rows));
        assert!(rows.iter().all(|r| r["event_ids"] == json!([]) && r["status"] == 200), "{:#}", json!(rows));
    }
}

/// A user who holds the default licence and starts waiting for a group's
/// (its seats all taken) gets `licence.waiting` alone: the licence it holds
/// did not change, so no second `licence.assigned` for it.
async fn waiting_for_another_licence_does_not_assign_the_held_one_again(b: Backend) {
    let s = start(b).await;
    s.configure_product().await;
    assert_eq!(s.adm(Method::PATCH, "/licence-types/Pro", Some(json!({"seat_limit": 1}))).await.status, 200);
    let mapping = json!({"group": "Leads", "workspace": "c3.acme", "role": "Editor", "licence_type": "Pro"});
    assert_eq!(s.adm(Method::POST, "/group-mappings", Some(mapping)).await.status, 201);
    let (ada, bob) =
        (Server::id_of(&s.create_user("ada@acme.com").await), Server::id_of(&s.create_user("bob@acme.com").await));
    let leads = Server::id_of(&s.create_group("Leads").await);
    s.add_member(&leads, &ada).await;
    let r = s
        .patch(&format!("/Groups/{leads}"), json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The events this PATCH caused, by its request id: on PostgreSQL the feed
    // may still hide earlier writes' events for a moment (it shows only
    // transactions older than every open one), so a position read before
    // the PATCH could fall short of them.
    let request_id = r.header("x-request-id").unwrap().to_string();
    let caused = |events: &[Value]| -> Vec<Value> {
        events.iter().filter(|e| e["cause"]["request_id"] == request_id.as_str()).cloned().collect()
    };
    let mut of_patch = Vec::new();
    for _ in 0..500 {
        of_patch = caused(&feed_n(&s, "", 1).await);
        if !of_patch.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let of_bob: Vec<&str> = of_patch
        .iter()
        .filter(|e| e["subject"]["id"] == bob.as_str() && e["type"].as_str().unwrap().starts_with("licence."))
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(of_bob, ["licence.waiting"], "{:#}", json!(of_patch));
}
