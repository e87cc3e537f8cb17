//! [`run_bare`] and [`run_target`]: the plan's scenarios against one target,
//! in order; the single-request ones are here, the group and Okta ones in
//! their own files.

use super::bodies::{active_patch, filter_path, user_body};
use super::group::{create_group, fill_and_measure};
use super::okta::mixed_okta;
use super::{BULK_CREATES, Op, Plan, Runner, Stop, TargetReport};
use crate::http::{Http, scan_int};
use reqwest::Method;
use std::sync::Arc;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// GET the bare route: the HTTP stack's limit.
pub(crate) async fn run_bare(label: &str, http: Http, plan: &Plan) -> TargetReport {
    let report = TargetReport {
        label: label.to_string(),
        base_url: http.base().to_string(),
        users: 0,
        total_users: None,
        scenarios: Vec::new(),
        notes: Vec::new(),
    };
    let mut runner = Runner { http: http.clone(), plan, report, seed: plan.seed };
    let op: Op = Arc::new(move |_, _| {
        let http = http.clone();
        Box::pin(async move { http.expect(Method::GET, "", None, &[200]).await.map(|_| ()) })
    });
    runner.scenario("bare_get", plan.concurrency, Stop::Time(plan.duration), op, None).await;
    runner.report
}

/// Run the plan's scenarios against one SCIM base URL.
pub(crate) async fn run_target(label: &str, http: Http, plan: &Plan) -> TargetReport {
    let report = TargetReport {
        label: label.to_string(),
        base_url: http.base().to_string(),
        users: 0,
        total_users: None,
        scenarios: Vec::new(),
        notes: Vec::new(),
    };
    let mut r = Runner { http, plan, report, seed: plan.seed };
    let c = plan.concurrency;
    let d = plan.duration;

    // ---- users: seed them, or sample the target's
    let mut users = if plan.wants("seed_users") && !plan.existing_users {
        r.create_users("seed_users", 0, plan.users).await
    } else {
        r.discover_users().await
    };
    let users_arc = Arc::new(users.clone());
    r.report.users = users.len();
    let have_users = !users.is_empty();
    if !have_users {
        r.report.notes.push("no users: the scenarios that need users were skipped".into());
    }

    if have_users && plan.wants("get_by_id") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = format!("/Users/{}", u[(rnd % u.len() as u64) as usize].id);
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        r.scenario("get_by_id", c, Stop::Time(d), op, None).await;
    }

    if have_users && plan.wants("filter_username") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = filter_path(&u[(rnd % u.len() as u64) as usize].user_name);
            Box::pin(async move {
                let body = http.expect(Method::GET, &path, None, &[200]).await?;
                match scan_int(&body, "totalResults") {
                    Some(1) => Ok(()),
                    other => Err(format!("filter userName eq: expected totalResults 1, got {other:?}")),
                }
            })
        });
        r.scenario("filter_username", c, Stop::Time(d), op, None).await;
    }

    if have_users && plan.wants("patch_active") {
        let (http, u) = (r.http.clone(), users_arc.clone());
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let path = format!("/Users/{}", u[(rnd % u.len() as u64) as usize].id);
            let body = active_patch(rnd >> 63 == 1);
            Box::pin(async move { http.expect(Method::PATCH, &path, Some(body), &[200, 204]).await.map(|_| ()) })
        });
        r.scenario("patch_active", c, Stop::Time(d), op, Some("PATCH replace active false/true".into())).await;
    }

    if plan.wants("singles_create") || plan.wants("bulk_create") {
        bulk_comparison(&mut r).await;
    }

    if have_users && plan.wants("list_page_100") {
        let total = r.total_users().await.unwrap_or(users.len() as u64).max(1);
        let http = r.http.clone();
        let span = total.saturating_sub(99).max(1);
        let want = total.min(100);
        let op: Op = Arc::new(move |_, rnd| {
            let http = http.clone();
            let start = 1 + rnd % span;
            let path = format!("/Users?startIndex={start}&count=100");
            Box::pin(async move {
                let body = http.expect(Method::GET, &path, None, &[200]).await?;
                match scan_int(&body, "itemsPerPage") {
                    Some(n) if n >= want => Ok(()),
                    other => Err(format!("page at startIndex {start}: expected {want} items, got {other:?}")),
                }
            })
        });
        let note = Some(format!("random startIndex in 1..={span} of {total} users"));
        r.scenario("list_page_100", c, Stop::Time(d), op, note).await;
    }

    if have_users && plan.wants("list_page_deep") {
        let total = r.total_users().await.unwrap_or(users.len() as u64).max(1);
        let http = r.http.clone();
        let start = total.saturating_sub(99).max(1);
        let op: Op = Arc::new(move |_, _| {
            let http = http.clone();
            let path = format!("/Users?startIndex={start}&count=100");
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        let note = Some(format!("the last page: startIndex {start} of {total}, one at a time"));
        r.scenario("list_page_deep", 1, Stop::Time(d), op, note).await;
    }

    if have_users && plan.wants("list_page_middle") {
        // The deepest an index page gets where a kept total lets the far half be read from the end.
        let total = r.total_users().await.unwrap_or(users.len() as u64).max(1);
        let http = r.http.clone();
        let start = total / 2 + 1;
        let op: Op = Arc::new(move |_, _| {
            let http = http.clone();
            let path = format!("/Users?startIndex={start}&count=100");
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        let note = Some(format!("the middle page: startIndex {start} of {total}, one at a time"));
        r.scenario("list_page_middle", 1, Stop::Time(d), op, note).await;
    }

    if have_users && plan.wants("cursor_pages") {
        cursor_pages(&mut r).await;
    }

    if plan.wants("filter_last_modified") {
        match plan.modified_after.clone() {
            Some(t) => {
                let http = r.http.clone();
                let filter: String = form_urlencoded_encode(&format!("meta.lastModified gt \"{t}\""));
                let path = format!("/Users?filter={filter}&count=100");
                let op: Op = Arc::new(move |_, _| {
                    let (http, path) = (http.clone(), path.clone());
                    Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
                });
                let note = Some(format!("filter=meta.lastModified gt \"{t}\"&count=100, one at a time"));
                r.scenario("filter_last_modified", 1, Stop::Time(d), op, note).await;
            }
            None => r.report.notes.push("filter_last_modified needs --modified-after: skipped".into()),
        }
    }

    // ---- one group, filled in batches of 100; single changes measured at each size
    let mut group_id: Option<String> = None;
    let wants_group = plan.wants("group_fill") || plan.wants("member_add_remove");
    if have_users && wants_group && !plan.group_sizes.is_empty() {
        let mut sizes = plan.group_sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        let largest = sizes.last().copied().unwrap_or(0);
        if users.len() < largest {
            let extra = largest - users.len();
            let from = plan.users.max(users.len()) + 1_000_000;
            let created = r.create_users("seed_users_for_group", from, extra).await;
            users.extend(created);
        }
        group_id = fill_and_measure(&mut r, &users, &sizes).await;
    }

    if plan.wants("group_get_excluded_members") {
        if group_id.is_none() {
            group_id = create_group(&r.http, &format!("{}-group", plan.run_id)).await.ok();
            r.report.notes.push("group_get_excluded_members ran on an empty group (no group_fill)".into());
        }
        if let Some(gid) = group_id.clone() {
            let http = r.http.clone();
            let path = format!("/Groups/{gid}?excludedAttributes=members");
            let op: Op = Arc::new(move |_, _| {
                let (http, path) = (http.clone(), path.clone());
                Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
            });
            r.scenario("group_get_excluded_members", c, Stop::Time(d), op, None).await;
        }
    }

    if have_users && plan.wants("mixed_okta") {
        mixed_okta(&mut r, Arc::new(users)).await;
    }

    // With --existing-users, seed_users (when named) POSTs --users new users
    // last: the cost of a create at the target's size, after the reads ran on
    // the loaded users alone.
    if plan.existing_users && plan.wants("seed_users") {
        r.create_users("seed_users", 6_000_000, plan.users).await;
    }
    r.report
}

/// Percent-encoding of a query parameter's value.
fn form_urlencoded_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// RFC 9865 cursor pages of 100, one at a time, at three depths of the
/// whole list: the second page, the middle and the last page. A cursor is
/// only had by walking there (it is signed), so the tool first walks the list
/// by nextCursor (timed as `cursor_walk`), keeping the cursors at those
/// depths; then each is asked for again and again (a cursor is stateless:
/// the same one gives the same page).
async fn cursor_pages(r: &mut Runner<'_>) {
    let total = match r.total_users().await {
        Ok(t) => t,
        Err(e) => {
            r.report.notes.push(format!("cursor_pages: {e}"));
            return;
        }
    };
    let depth = |n: u64| n / 100 * 100;
    let wanted = [100.min(depth(total.saturating_sub(1))), depth(total / 2), depth(total.saturating_sub(1))];
    let mut found: Vec<(u64, String)> = Vec::new();
    let (mut cursor, mut at, mut pages) = (String::new(), 0u64, 0u64);
    let started = std::time::Instant::now();
    while let Ok(body) = r.http.expect(Method::GET, &format!("/Users?count=100&cursor={cursor}"), None, &[200]).await {
        pages += 1;
        at += scan_int(&body, "itemsPerPage").unwrap_or(0);
        let next = crate::http::parse(&body).ok().and_then(|v| v["nextCursor"].as_str().map(str::to_string));
        let Some(next) = next else { break };
        if wanted.contains(&at) && !found.iter().any(|(d, _)| *d == at) {
            found.push((at, next.clone()));
        }
        cursor = next;
    }
    let took = started.elapsed();
    r.report.notes.push(format!(
        "cursor_walk: {pages} pages of 100 to the end of {at} users in {:.1} s ({:.2} ms a page)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / pages.max(1) as f64
    ));
    for (name, (depth, cursor)) in ["cursor_page_second", "cursor_page_middle", "cursor_page_last"].iter().zip(found) {
        let http = r.http.clone();
        let path = format!("/Users?count=100&cursor={cursor}");
        let op: Op = Arc::new(move |_, _| {
            let (http, path) = (http.clone(), path.clone());
            Box::pin(async move { http.expect(Method::GET, &path, None, &[200]).await.map(|_| ()) })
        });
        let note = Some(format!("the page after {depth} of {total} users by cursor, one at a time"));
        r.scenario(name, 1, Stop::Time(r.plan.duration), op, note).await;
    }
}

/// A Bulk request of [`BULK_CREATES`] user creates against as many single
/// POSTs sent one after the other (one client, as an importer sends them).
async fn bulk_comparison(r: &mut Runner<'_>) {
    let n = BULK_CREATES;
    if r.plan.wants("singles_create") {
        let created = r.create_users_one_at_a_time("singles_create", 3_000_000, n).await;
        if created < n {
            r.report.notes.push(format!("singles_create: {created} of {n} users created"));
        }
    }
    if r.plan.wants("bulk_create") {
        let (http, run_id) = (r.http.clone(), r.plan.run_id.clone());
        let op: Op = Arc::new(move |i, _| {
            let http = http.clone();
            let from = 4_000_000 + i * n as u64;
            let body = bulk_body(&run_id, from, n);
            Box::pin(async move {
                let answer = http.expect(Method::POST, "/Bulk", Some(body), &[200]).await?;
                let text = String::from_utf8_lossy(&answer);
                let created = text.matches(r#""status":"201""#).count();
                if created == n { Ok(()) } else { Err(format!("Bulk of {n} creates: {created} answered 201")) }
            })
        });
        let note = Some(format!("one POST /Bulk of {n} user creates; p50 = the whole request"));
        r.scenario("bulk_create", 1, Stop::Count(1), op, note).await;
    }
}

fn bulk_body(run_id: &str, from: u64, n: usize) -> String {
    let ops: Vec<String> = (from..from + n as u64)
        .map(|i| {
            let user = user_body(&format!("{run_id}-{i}@bench.example"), i);
            format!(r#"{{"method":"POST","path":"/Users","bulkId":"u{i}","data":{user}}}"#)
        })
        .collect();
    format!(r#"{{"schemas":["{BULK_REQUEST}"],"Operations":[{}]}}"#, ops.join(","))
}
