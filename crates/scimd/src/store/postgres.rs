//! PostgreSQL's side of the store: table maintenance while autovacuum is off.
//! (Its row locks are taken by the statements themselves: `FOR UPDATE` in
//! [`super::tx::Core::lock`].)

use sqlx::{PgPool, Row};
use std::time::Duration;

/// PostgreSQL plans from statistics that only ANALYZE refreshes, and reads
/// an index alone (no table visits) only where VACUUM has marked pages
/// all-visible. Where autovacuum is off (seen on this project's own
/// machines), a tenant loaded after start-up keeps the plans of an empty
/// table (a user read by id through the userName index) and a deep page
/// visits a million table rows. So scimd does autovacuum's job itself, by
/// autovacuum's default measures, and only while autovacuum is off.
pub(super) async fn keep_statistics_fresh(pool: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let counters = sqlx::query(
            "SELECT current_setting('autovacuum') = 'on' AS auto, \
             COALESCE(SUM(n_mod_since_analyze), 0)::BIGINT AS changed, \
             COALESCE(SUM(n_ins_since_vacuum), 0)::BIGINT AS inserted, \
             COALESCE(SUM(n_dead_tup), 0)::BIGINT AS dead, \
             COALESCE(SUM(n_live_tup), 0)::BIGINT AS live FROM pg_stat_user_tables \
             WHERE relname IN ('resources', 'members', 'events', 'deliveries', 'audit')",
        )
        .fetch_one(&pool)
        .await
        .and_then(|row| {
            let n = |col: &str| row.try_get::<i64, _>(col);
            Ok((row.try_get::<bool, _>("auto")?, n("changed")?, n("inserted")?, n("dead")?, n("live")?))
        });
        let (auto, changed, inserted, dead, live) = match counters {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "could not read table statistics");
                continue;
            }
        };
        let work = if auto {
            None
        } else if dead > 50 + live / 5 || inserted > 1000 + live / 5 {
            Some("VACUUM (ANALYZE) resources, members, events, deliveries, audit")
        } else if changed > 50 + live / 10 {
            Some("ANALYZE resources, members, events, deliveries, audit")
        } else {
            None
        };
        if let Some(sql) = work
            && let Err(e) = sqlx::raw_sql(sql).execute(&pool).await
        {
            tracing::warn!(error = %e, sql, "table maintenance failed; plans may be poor until autovacuum runs");
        }
    }
}
