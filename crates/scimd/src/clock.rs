//! Time, passed in: the server runs on the [`SystemClock`], tests on a
//! [`FixedClock`] they move (token expiry is tested by moving time). scim-core
//! never reads a clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Now, as time since the Unix epoch.
    fn since_epoch(&self) -> Duration;

    /// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ`: the format every timestamp is
    /// stored in, so stored times order as text.
    fn now(&self) -> String {
        self.at_offset_secs(0)
    }

    /// Now plus `secs` seconds, in the same format.
    fn at_offset_secs(&self, secs: i64) -> String {
        let d = self.since_epoch();
        let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2).saturating_add(secs);
        scim_core::datetime::format_millis(s, d.subsec_nanos())
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn since_epoch(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told, and by `step` on every reading
/// (zero: it stands still), so that times stay distinct and in order.
pub struct FixedClock {
    now: Mutex<Duration>,
    step: Duration,
}

impl FixedClock {
    /// At `rfc3339` (`2026-01-01T00:00:00Z`), standing still; the Unix epoch if it cannot be read.
    pub fn at(rfc3339: &str) -> Arc<FixedClock> {
        FixedClock::ticking(rfc3339, Duration::ZERO)
    }

    /// At `rfc3339`, moving by `step` on every reading.
    pub fn ticking(rfc3339: &str, step: Duration) -> Arc<FixedClock> {
        let secs = scim_core::datetime::parse(rfc3339).map(|t| t.secs).unwrap_or(0);
        Arc::new(FixedClock { now: Mutex::new(Duration::from_secs(u64::try_from(secs).unwrap_or(0))), step })
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Clock for FixedClock {
    fn since_epoch(&self) -> Duration {
        let Ok(mut now) = self.now.lock() else { return Duration::ZERO };
        let read = *now;
        *now += self.step;
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at("2026-01-01T00:00:00Z");
        assert_eq!(clock.now(), "2026-01-01T00:00:00.000Z");
        assert_eq!(clock.at_offset_secs(86_400), "2026-01-02T00:00:00.000Z");
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), "2026-01-01T00:00:01.500Z");
        let ticking = FixedClock::ticking("2026-01-01T00:00:00Z", Duration::from_millis(1));
        assert_eq!(
            (ticking.now(), ticking.now()),
            ("2026-01-01T00:00:00.000Z".into(), "2026-01-01T00:00:00.001Z".into())
        );
    }
}
