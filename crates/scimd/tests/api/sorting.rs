//! sortBy on every kind of attribute, and `meta.lastModified` polling: the
//! order RFC 7644 §3.4.2.3 gives (values missing last ascending, first
//! descending; ties in stored order), pages across a sort, and the index a
//! poll uses.

use super::*;
use scimd::store::{Kind, ListQuery};

on_both_backends!(
    sort_by_puts_missing_values_last_ascending_and_first_descending,
    pages_across_a_sort_neither_overlap_nor_skip,
    sort_by_a_group_s_members,
    sort_by_what_cannot_sort_is_a_scim_error,
    last_modified_filters_find_exactly_what_changed,
    last_modified_polls_use_the_index
);

/// Five users `u0`..`u4`, each attribute set on some and missing on others;
/// `u1` is changed last. Answers their ids in creation order.
async fn five_users(s: &Server) -> Vec<String> {
    let users = [
        json!({"schemas": [USER, ENTERPRISE], "userName": "u0", "title": "Beta", "externalId": "E-2",
               "name": {"familyName": "smith"}, "active": true,
               "emails": [{"value": "z@x.org", "type": "home"}, {"value": "a@x.org", "type": "work", "primary": true}],
               ENTERPRISE: {"employeeNumber": "300"}}),
        json!({"schemas": [USER], "userName": "u1", "name": {"givenName": "No Family"}, "active": false,
               "emails": [{"value": "m@x.org"}]}),
        json!({"schemas": [USER, ENTERPRISE], "userName": "u2", "title": "alpha", "externalId": "e-1",
               "name": {"familyName": "Jones"}, ENTERPRISE: {"employeeNumber": "100"}}),
        json!({"schemas": [USER, ENTERPRISE], "userName": "u3", "title": "beta", "name": {"familyName": "adams"},
               "active": true, "emails": [{"value": "B@x.org", "primary": false}, {"value": "c@x.org"}],
               ENTERPRISE: {"employeeNumber": "200"}}),
        json!({"schemas": [USER], "userName": "u4"}),
    ];
    let mut ids = Vec::new();
    for u in users {
        let r = s.post("/Users", u).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(Server::id_of(&r.body));
    }
    // Managers (ids) for u0 and u3; then u1 changes last of all.
    for (who, manager) in [(0, 2), (3, 1)] {
        let ops = json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": ids[manager]}}]);
        let r = s.patch(&format!("/Users/{}", ids[who]), ops).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s.clock.advance(std::time::Duration::from_secs(1));
    let r = s.patch(&format!("/Users/{}", ids[1]), json!([{"op": "replace", "path": "nickName", "value": "n"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    ids
}

/// The userNames of a sorted list, in its order.
async fn sorted(s: &Server, sort_by: &str, order: &str) -> Vec<String> {
    let r = s.get(&format!("/Users?sortBy={}&sortOrder={order}&count=100", q(sort_by))).await;
    assert_eq!(r.status, 200, "sortBy={sort_by}: {}", r.body);
    r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_string()).collect()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn sort_by_puts_missing_values_last_ascending_and_first_descending(b: Backend) {
    let s = start(b).await;
    let ids = five_users(&s).await;
    // (sortBy, ascending, descending). Ties keep stored order in both.
    let cases = [
        // Case-insensitive string: "Beta" and "beta" tie.
        ("title", ["u2", "u0", "u3", "u1", "u4"], ["u1", "u4", "u0", "u3", "u2"]),
        // Case-exact string: "E-2" before "e-1".
        ("externalId", ["u0", "u2", "u1", "u3", "u4"], ["u1", "u3", "u4", "u2", "u0"]),
        // A sub-attribute; u1 has a name without familyName, u4 no name.
        ("name.familyName", ["u3", "u2", "u0", "u1", "u4"], ["u1", "u4", "u0", "u2", "u3"]),
        // An extension attribute, by its full URN path.
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            ["u2", "u3", "u0", "u1", "u4"],
            ["u1", "u4", "u0", "u3", "u2"],
        ),
        // A boolean: false before true.
        ("active", ["u1", "u0", "u3", "u2", "u4"], ["u2", "u4", "u0", "u3", "u1"]),
        // Multi-valued: the primary value (u0's second), else the first (u3's "B@x.org").
        ("emails.value", ["u0", "u3", "u1", "u2", "u4"], ["u2", "u4", "u1", "u3", "u0"]),
        ("emails", ["u0", "u3", "u1", "u2", "u4"], ["u2", "u4", "u1", "u3", "u0"]),
        // dateTimes: u0 and u3 changed after the creations, u1 last.
        ("meta.lastModified", ["u2", "u4", "u0", "u3", "u1"], ["u1", "u3", "u0", "u4", "u2"]),
        ("meta.created", ["u0", "u1", "u2", "u3", "u4"], ["u4", "u3", "u2", "u1", "u0"]),
        ("userName", ["u0", "u1", "u2", "u3", "u4"], ["u4", "u3", "u2", "u1", "u0"]),
    ];
    for (sort_by, asc, desc) in cases {
        assert_eq!(sorted(&s, sort_by, "ascending").await, names(&asc), "sortBy={sort_by} ascending");
        assert_eq!(sorted(&s, sort_by, "descending").await, names(&desc), "sortBy={sort_by} descending");
    }
    // sortOrder defaults to ascending.
    let r = s.get("/Users?sortBy=title").await;
    let first = r.body["Resources"][0]["userName"].clone();
    assert_eq!(first, "u2", "{}", r.body);

    // Ids (and the manager's id, an extension sub-attribute): compared as the ids are.
    let mut by_id: Vec<(String, &str)> = ids.iter().cloned().zip(["u0", "u1", "u2", "u3", "u4"]).collect();
    by_id.sort();
    let asc: Vec<String> = by_id.iter().map(|(_, n)| n.to_string()).collect();
    assert_eq!(sorted(&s, "id", "ascending").await, asc);
    assert_eq!(sorted(&s, "meta.location", "ascending").await, asc);
    let mut managed = [(ids[2].clone(), "u0"), (ids[1].clone(), "u3")];
    managed.sort();
    let mut asc: Vec<String> = managed.iter().map(|(_, n)| n.to_string()).collect();
    asc.extend(names(&["u1", "u2", "u4"]));
    let manager = format!("{ENTERPRISE}:manager.value");
    assert_eq!(sorted(&s, &manager, "ascending").await, asc);
    let mut desc = names(&["u1", "u2", "u4"]);
    desc.extend(managed.iter().rev().map(|(_, n)| n.to_string()));
    assert_eq!(sorted(&s, &manager, "descending").await, desc);
    // meta.version: u0, u1 and u3 were written twice.
    assert_eq!(sorted(&s, "meta.version", "descending").await, names(&["u0", "u1", "u3", "u2", "u4"]));
}

/// Pages of 2 across each sort, in both orders, put together are the whole sorted list.
async fn pages_across_a_sort_neither_overlap_nor_skip(b: Backend) {
    let s = start(b).await;
    five_users(&s).await;
    let enterprise = format!("{ENTERPRISE}:employeeNumber");
    for sort_by in ["title", "name.familyName", enterprise.as_str(), "active", "emails.value", "meta.lastModified"] {
        for order in ["ascending", "descending"] {
            let whole = sorted(&s, sort_by, order).await;
            let mut paged = Vec::new();
            for start in [1, 3, 5] {
                let path = format!("/Users?sortBy={}&sortOrder={order}&startIndex={start}&count=2", q(sort_by));
                let r = s.get(&path).await;
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(r.body["totalResults"], 5, "{path}");
                assert_eq!(r.body["startIndex"], start, "{path}");
                let page = r.body["Resources"].as_array().unwrap();
                assert_eq!(page.len(), if start == 5 { 1 } else { 2 }, "{path}");
                paged.extend(page.iter().map(|u| u["userName"].as_str().unwrap().to_string()));
            }
            assert_eq!(paged, whole, "sortBy={sort_by} {order}");
        }
    }
    // Filtered and sorted together.
    let path = format!("/Users?filter={}&sortBy=title&sortOrder=descending", q("userName ne \"u4\""));
    let r = s.get(&path).await;
    let got: Vec<&str> =
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(got, ["u1", "u0", "u3", "u2"], "{}", r.body);
}

/// A group's members are rows, not part of its document: sorting by them
/// uses the first member in stored order, as the group shows them.
async fn sort_by_a_group_s_members(b: Backend) {
    let s = start(b).await;
    let u: Vec<String> =
        [s.create_user("m0@x.org").await, s.create_user("m1@x.org").await].iter().map(Server::id_of).collect();
    let empty = Server::id_of(&s.create_group("Empty").await);
    let late = Server::id_of(&s.create_group("Late").await);
    let early = Server::id_of(&s.create_group("Early").await);
    let (low, high) = if u[0] < u[1] { (&u[0], &u[1]) } else { (&u[1], &u[0]) };
    // `late` gets the higher id first, then the lower: it sorts by the higher.
    s.add_member(&late, high).await;
    s.add_member(&late, low).await;
    s.add_member(&early, low).await;
    let path = |order: &str| format!("/Groups?sortBy=members.value&sortOrder={order}&excludedAttributes=members");
    assert_eq!(s.ids(&path("ascending")).await, vec![early.clone(), late.clone(), empty.clone()]);
    assert_eq!(s.ids(&path("descending")).await, vec![empty, late, early]);
}

async fn sort_by_what_cannot_sort_is_a_scim_error(b: Backend) {
    let s = start(b).await;
    s.create_user("one@x.org").await;
    for (sort_by, named) in
        [("nosuch", "nosuch"), ("name", "name"), ("name.nosuch", "nosuch"), ("password", "password")]
    {
        let r = s.get(&format!("/Users?sortBy={}", q(sort_by))).await;
        r.assert_error(400, Some("invalidValue"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.starts_with("sortBy: ") && detail.contains(named), "sortBy={sort_by}: {detail}");
    }
}

/// `filter=meta.lastModified gt "T"` (how a product polls for changes)
/// returns exactly the users changed after T, however T is written.
async fn last_modified_filters_find_exactly_what_changed(b: Backend) {
    let s = start(b).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ids.push(Server::id_of(&s.create_user(&format!("{name}@x.org")).await));
    }
    // The users above were written in the first second of 2026; these ten seconds later.
    s.clock.advance(std::time::Duration::from_secs(10));
    let mut changed_at = Vec::new();
    for i in [0, 2] {
        let r = s.patch(&format!("/Users/{}", ids[i]), json!([{"op": "replace", "path": "title", "value": "t"}])).await;
        assert_eq!(r.status, 200, "{}", r.body);
        changed_at.push(r.body["meta"]["lastModified"].as_str().unwrap().to_string());
    }
    let (a, b_, c, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let la = &changed_at[0];
    assert!(la.len() == "2026-01-01T00:00:10.000Z".len() && la.starts_with("2026-01-01T00:00:1"), "{la}");
    // a's time with half a millisecond more, and a's time in +01:00.
    let la_finer = la.replace('Z', "5Z");
    let la_offset = la.replacen("T00:", "T01:", 1).replace('Z', "+01:00");
    let cases: Vec<(String, Vec<&String>)> = vec![
        ("meta.lastModified gt \"2026-01-01T00:00:05Z\"".into(), vec![a, c]),
        ("meta.lastModified gt \"2026-01-01T00:00:05.000Z\"".into(), vec![a, c]),
        ("meta.lastModified gt \"2026-01-01T01:00:05+01:00\"".into(), vec![a, c]),
        ("meta.lastModified gt \"2025-12-31T19:00:05-05:00\"".into(), vec![a, c]),
        ("meta.lastModified lt \"2026-01-01T00:00:05Z\"".into(), vec![b_, d]),
        (format!("meta.lastModified gt \"{la}\""), vec![c]),
        (format!("meta.lastModified gt \"{la_offset}\""), vec![c]),
        (format!("meta.lastModified ge \"{la}\""), vec![a, c]),
        (format!("meta.lastModified ge \"{la_offset}\""), vec![a, c]),
        (format!("meta.lastModified ge \"{la_finer}\""), vec![c]),
        (format!("meta.lastModified gt \"{la_finer}\""), vec![c]),
        (format!("meta.lastModified lt \"{la}\""), vec![b_, d]),
        (format!("meta.lastModified lt \"{la_finer}\""), vec![a, b_, d]),
        (format!("meta.lastModified le \"{la}\""), vec![a, b_, d]),
        (format!("meta.lastModified le \"{la_finer}\""), vec![a, b_, d]),
        (format!("meta.lastModified eq \"{la}\""), vec![a]),
        (format!("meta.lastModified eq \"{la_offset}\""), vec![a]),
        (format!("meta.lastModified eq \"{la_finer}\""), vec![]),
    ];
    let all = s.get("/Users").await.body["Resources"].as_array().unwrap().clone();
    let rt = scim_core::ResourceType::user();
    for (text, want) in &cases {
        let mut want: Vec<String> = want.iter().map(|id| id.to_string()).collect();
        want.sort();
        let mut got = s.ids(&format!("/Users?filter={}", q(text))).await;
        got.sort();
        assert_eq!(got, want, "filter: {text}");
        // The reference evaluator agrees.
        let f = scim_core::parse_filter(text).unwrap();
        let mut reference: Vec<String> = all
            .iter()
            .filter(|u| scim_core::filter::matches(&f, u, &rt))
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        reference.sort();
        assert_eq!(reference, want, "reference evaluator, filter: {text}");
    }
    // A poll in change order, and newest first.
    let poll = q("meta.lastModified gt \"2026-01-01T00:00:05Z\"");
    assert_eq!(s.ids(&format!("/Users?filter={poll}&sortBy=meta.lastModified")).await, vec![a.clone(), c.clone()]);
    let newest = format!("/Users?filter={poll}&sortBy=meta.lastModified&sortOrder=descending");
    assert_eq!(s.ids(&newest).await, vec![c.clone(), a.clone()]);
    let r = s.get("/Users?filter=meta.lastModified%20gt%20%22yesterday%22").await;
    r.assert_error(400, Some("invalidFilter"));
}

/// 20,000 users written straight into the database (as bench/load_users.sh
/// does), one changed a second through 2025; a poll for the last ~200
/// seconds' changes, and an `lt` for the first ones, must read the
/// lastModified index for both the total and the page, as the database
/// plans the very statements the server runs.
async fn last_modified_polls_use_the_index(b: Backend) {
    let s = start(b).await;
    let n = 20_000;
    let fill_sqlite = "
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
        INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version,
                               created_at, updated_at)
        SELECT t.id, 'User', printf('%08x-0000-7000-8000-%012x', i, i), 'fill-' || i || '@x.org', NULL, NULL, 1,
               json_object('userName', 'fill-' || i || '@x.org',
                           'schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User')),
               1, '2025-01-01T00:00:00.000Z', strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01', '+' || i || ' seconds')
        FROM s, tenants t WHERE t.name = 'acme'";
    let fill_postgres = format!(
        "INSERT INTO resources (tenant_id, kind, id, user_name, external_id, display_name, active, doc, version,
                                created_at, updated_at)
         SELECT t.id, 'User', lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'),
                'fill-' || i || '@x.org', NULL, NULL, 1,
                jsonb_build_object('userName', 'fill-' || i || '@x.org',
                                   'schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User')),
                1, '2025-01-01T00:00:00.000Z',
                to_char(timestamp '2025-01-01' + i * interval '1 second', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
         FROM tenants t, generate_series(1, {n}) AS i WHERE t.name = 'acme'"
    );
    match b {
        Backend::Sqlite => {
            let db = rusqlite::Connection::open(s.dir.join("scimd.db")).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            assert_eq!(db.execute(fill_sqlite, [n]).unwrap(), n as usize);
            db.execute_batch("ANALYZE").unwrap();
        }
        Backend::Postgres => {
            let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&s.url).await.unwrap();
            sqlx::Executor::execute(&mut db, sqlx::AssertSqlSafe(fill_postgres)).await.unwrap();
            sqlx::Executor::execute(&mut db, "VACUUM ANALYZE resources").await.unwrap();
        }
    }
    // The ~200 users changed last, and the ~200 changed first (i seconds into 2025).
    let recent = "2025-01-01T05:30:00Z"; // i = 19,800
    let early = "2025-01-01T00:03:20.000+00:00"; // i = 200
    let tenant = s.svc.tenant_by_name("acme").await.unwrap().unwrap().id;
    let rt = scim_core::ResourceType::user();
    let cases = [
        (format!("meta.lastModified gt \"{recent}\""), None, false),
        (format!("meta.lastModified ge \"{recent}\""), None, false),
        (format!("meta.lastModified lt \"{early}\""), None, false),
        (format!("meta.lastModified gt \"{recent}\""), Some("meta.lastModified"), false),
        (format!("meta.lastModified gt \"{recent}\""), Some("meta.lastModified"), true),
    ];
    for (filter, sort_by, descending) in cases {
        let query = ListQuery {
            filter: Some(scim_core::parse_filter(&filter).unwrap()),
            sort_by: sort_by.map(|p| scim_core::AttrPath::parse(p).unwrap()),
            descending,
            offset: 0,
            limit: 100,
            hand_made_only_in: Vec::new(),
        };
        let (count, page) = s.svc.list_plan(tenant, Kind::User, &query, &rt).await.unwrap();
        let what = format!("{b:?}: filter={filter} sortBy={sort_by:?} descending={descending}");
        println!("{what}\n  count: {}\n  page: {}", count.join(" | "), page.join(" | "));
        assert!(count.iter().any(|l| l.contains("resources_modified")), "{what}: the count reads {count:?}");
        assert!(page.iter().any(|l| l.contains("resources_modified")), "{what}: the page reads {page:?}");
        // And the server answers it: 200 users changed after 05:30:00 (i = 19,801..20,000).
        let (total, rows) = s.svc.list(tenant, Kind::User, &query, &rt).await.unwrap();
        if filter.contains(" gt ") {
            assert_eq!((total, rows.len()), (200, 100), "{what}");
        }
    }
}
