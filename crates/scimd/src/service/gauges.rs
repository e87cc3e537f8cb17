//! What `/metrics` reads from the database at each scrape: how far the
//! event feed and each webhook endpoint are behind. Counters of what the
//! sender did are kept where it does it (`crate::webhooks::sender`).

use super::{Error, Service};
use std::collections::HashSet;
use std::sync::Mutex;

/// The endpoints the last scrape showed, so that one deleted since drops to 0
/// (the exporter keeps a series once it has been set).
static SHOWN: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);

impl Service {
    /// Seconds since `stored` (a stored timestamp); 0 when it cannot be read.
    fn age_of(&self, stored: &str) -> f64 {
        let Some(then) = scim_core::datetime::parse(stored) else { return 0.0 };
        let then = then.secs as f64 + f64::from(then.nanos) / 1e9;
        (self.clock().since_epoch().as_secs_f64() - then).max(0.0)
    }

    /// Set the feed-lag and per-endpoint backlog gauges from the database.
    pub async fn refresh_event_gauges(&self) -> Result<(), Error> {
        let held = self.store().oldest_held_back_event().await?;
        metrics::gauge!("scimd_event_feed_lag_seconds").set(held.as_deref().map_or(0.0, |t| self.age_of(t)));
        let mut shown = HashSet::new();
        for b in self.store().webhook_backlogs().await? {
            let tenant = self.tenant_name(b.tenant_id).await;
            let labels = [("tenant", tenant.clone()), ("webhook", b.webhook_id.clone())];
            metrics::gauge!("scimd_webhook_pending_deliveries", &labels).set(b.pending as f64);
            let age = b.oldest.as_deref().map_or(0.0, |t| self.age_of(t));
            metrics::gauge!("scimd_webhook_oldest_pending_seconds", &labels).set(age);
            // Present from the endpoint's first scrape, before its first delivery.
            for outcome in crate::webhooks::sender::OUTCOMES {
                let labels =
                    [("tenant", tenant.clone()), ("webhook", b.webhook_id.clone()), ("outcome", outcome.to_string())];
                metrics::counter!("scimd_webhook_deliveries_total", &labels).increment(0);
            }
            shown.insert((tenant, b.webhook_id));
        }
        if let Ok(mut last) = SHOWN.lock() {
            for (tenant, webhook) in last.take().unwrap_or_default().difference(&shown) {
                let labels = [("tenant", tenant.clone()), ("webhook", webhook.clone())];
                metrics::gauge!("scimd_webhook_pending_deliveries", &labels).set(0.0);
                metrics::gauge!("scimd_webhook_oldest_pending_seconds", &labels).set(0.0);
            }
            *last = Some(shown);
        }
        Ok(())
    }
}
