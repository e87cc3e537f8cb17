//! One group, filled in batches of 100 to each of the plan's sizes, with
//! single member removals and additions timed at each size.

use super::bodies::{GROUP_PATCH_QUERY, add_members_patch, remove_member_patch};
use super::{GROUP_SCHEMA, Rng, Runner, User};
use crate::http::{Http, id_of};
use crate::stats::{Recorder, ScenarioResult, Snapshot};
use reqwest::Method;
use std::time::Instant;

pub(super) async fn create_group(http: &Http, name: &str) -> Result<String, String> {
    let body = format!(r#"{{"schemas":["{GROUP_SCHEMA}"],"displayName":"{name}"}}"#);
    let resp = http.expect(Method::POST, "/Groups", Some(body), &[201]).await?;
    id_of(&resp)
}

/// Fill one group to each size in turn (PATCH add, 100 members a request,
/// one request at a time), and at each size time single removals and
/// additions (one at a time: remove a random member, add it back).
pub(super) async fn fill_and_measure(r: &mut Runner<'_>, users: &[User], sizes: &[usize]) -> Option<String> {
    let plan = r.plan;
    let gid = match create_group(&r.http, &format!("{}-big", plan.run_id)).await {
        Ok(g) => g,
        Err(e) => {
            r.push(ScenarioResult { name: "group_fill".into(), errors: 1, first_error: Some(e), ..Default::default() });
            return None;
        }
    };
    let patch_path = format!("/Groups/{gid}{GROUP_PATCH_QUERY}");
    let mut current = 0usize;
    let fill_started = Instant::now();
    let mut fill_rec = Recorder::default();
    let mut fill_secs = 0.0;
    let mut stopped_at: Option<usize> = None;
    let mut rng = Rng::new(r.next_seed());
    for &size in sizes {
        let size = size.min(users.len());
        let t0 = Instant::now();
        while current < size {
            if fill_started.elapsed() > plan.fill_cap {
                stopped_at = Some(current);
                break;
            }
            let batch = (size - current).min(100);
            let ids: Vec<&str> = users[current..current + batch].iter().map(|u| u.id.as_str()).collect();
            let t = Instant::now();
            let outcome =
                r.http.expect(Method::PATCH, &patch_path, Some(add_members_patch(&ids)), &[200, 204]).await.map(|_| ());
            fill_rec.record(t.elapsed(), outcome);
            current += batch;
        }
        fill_secs += t0.elapsed().as_secs_f64();
        if stopped_at.is_some() || current < size {
            break;
        }
        if !plan.wants("member_add_remove") || size == 0 {
            continue;
        }
        // Single changes at this size.
        let snap = Snapshot::take(plan.server_pid);
        let mut rec_remove = Recorder::default();
        let mut rec_add = Recorder::default();
        let mut rec_both = Recorder::default();
        let started = Instant::now();
        let mut pairs = 0;
        while pairs < plan.member_ops.max(1) && (pairs == 0 || started.elapsed() < plan.duration) {
            let uid = &users[(rng.next() % size as u64) as usize].id;
            let t = Instant::now();
            let out = r.http.expect(Method::PATCH, &patch_path, Some(remove_member_patch(uid)), &[200, 204]).await;
            rec_remove.record(t.elapsed(), out.map(|_| ()));
            rec_both.record(t.elapsed(), Ok(()));
            let t = Instant::now();
            let out = r.http.expect(Method::PATCH, &patch_path, Some(add_members_patch(&[uid])), &[200, 204]).await;
            rec_add.record(t.elapsed(), out.map(|_| ()));
            rec_both.record(t.elapsed(), Ok(()));
            pairs += 1;
        }
        let both_secs = started.elapsed().as_secs_f64();
        let readings = snap.finish_with_secs("member_changes", 1, rec_both, None, both_secs);
        let note = Some(format!(
            "group of {size}, one PATCH at a time, ?excludedAttributes=members; CPU columns cover removals and additions"
        ));
        for (kind, rec) in [("remove", rec_remove), ("add", rec_add)] {
            let secs = rec.lat_us.iter().map(|&u| f64::from(u)).sum::<f64>() / 1e6;
            let name = format!("member_{kind}@{size}");
            r.push(ScenarioResult::from_recorder(&name, 1, rec, note.clone(), secs).with_readings_of(&readings));
        }
    }
    let note = match stopped_at {
        Some(at) => Some(format!(
            "{current} members in {fill_secs:.1} s; stopped at {at} members after the {:.0} s fill cap: larger sizes skipped",
            plan.fill_cap.as_secs_f64()
        )),
        None => Some(format!(
            "{current} members in {fill_secs:.1} s ({:.0} members/s), PATCH add of 100 members",
            current as f64 / fill_secs.max(1e-9)
        )),
    };
    if plan.wants("group_fill") {
        // No CPU columns: the fill is interleaved with the single-change loops.
        r.push(ScenarioResult::from_recorder("group_fill", 1, fill_rec, note, fill_secs));
    } else if let Some(n) = note {
        r.report.notes.push(format!("group fill: {n}"));
    }
    Some(gid)
}
