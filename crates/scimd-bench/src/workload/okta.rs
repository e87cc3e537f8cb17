//! `mixed_okta`: an Okta import (pages of 100 through every user), then an
//! assignment wave of lookups, creates or updates, and group additions.

use super::bodies::{GROUP_PATCH_QUERY, active_patch, add_members_patch, filter_path, user_body};
use super::group::create_group;
use super::{Op, Runner, Stop, User};
use crate::http::{id_of, parse, scan_int};
use crate::stats::{Recorder, ScenarioResult, Snapshot};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// An Okta import (pages of 100 through every user, one page at a time),
/// then an assignment wave: per user, filter `userName eq`, POST when
/// missing or PATCH `active` when present, and add to a group.
pub(super) async fn mixed_okta(r: &mut Runner<'_>, users: Arc<Vec<User>>) {
    let plan = r.plan;
    // Import.
    let snap = Snapshot::take(plan.server_pid);
    let mut rec = Recorder::default();
    let started = Instant::now();
    let mut start = 1u64;
    let mut total = u64::MAX;
    while start <= total && started.elapsed() < plan.duration {
        let path = format!("/Users?startIndex={start}&count=100");
        let t = Instant::now();
        let out = r.http.expect(Method::GET, &path, None, &[200]).await;
        rec.record(t.elapsed(), out.as_ref().map(|_| ()).map_err(Clone::clone));
        match out {
            Ok(body) => total = scan_int(&body, "totalResults").unwrap_or(0),
            Err(_) => break,
        }
        start += 100;
    }
    let pages = rec.lat_us.len();
    let all_pages = if total == u64::MAX { 0 } else { total.div_ceil(100) };
    let note =
        Some(format!("{pages} of {all_pages} pages of 100 in {:.1} s, one at a time", started.elapsed().as_secs_f64()));
    let res = snap.finish("okta_import_page", 1, rec, note);
    r.push(res);

    // Assignment wave.
    let gid = match create_group(&r.http, &format!("{}-wave", plan.run_id)).await {
        Ok(g) => g,
        Err(e) => {
            r.push(ScenarioResult {
                name: "okta_wave_event".into(),
                errors: 1,
                first_error: Some(e),
                ..Default::default()
            });
            return;
        }
    };
    let (http, run_id) = (r.http.clone(), plan.run_id.clone());
    let group_path = Arc::new(format!("/Groups/{gid}{GROUP_PATCH_QUERY}"));
    let op: Op = Arc::new(move |i, rnd| {
        let (http, group_path) = (http.clone(), group_path.clone());
        // Half the wave are users the target has, half are new.
        let user_name = if i % 2 == 0 {
            users[(rnd % users.len() as u64) as usize].user_name.clone()
        } else {
            format!("{run_id}-okta-{i}@bench.example")
        };
        Box::pin(async move {
            let found = http.expect(Method::GET, &filter_path(&user_name), None, &[200]).await?;
            let found = parse(&found)?;
            let existing = found
                .get("Resources")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let id = match existing {
                Some(id) => {
                    http.expect(Method::PATCH, &format!("/Users/{id}"), Some(active_patch(true)), &[200, 204]).await?;
                    id
                }
                None => {
                    let body = http.expect(Method::POST, "/Users", Some(user_body(&user_name, i)), &[201]).await?;
                    id_of(&body)?
                }
            };
            http.expect(Method::PATCH, &group_path, Some(add_members_patch(&[&id])), &[200, 204]).await?;
            Ok(())
        })
    });
    let note = Some(
        "one event = filter userName eq, then POST (new) or PATCH active (existing), then PATCH group add; half new"
            .into(),
    );
    r.scenario("okta_wave_event", plan.concurrency, Stop::CountOrTime(plan.wave as u64, plan.duration), op, note).await;
}
