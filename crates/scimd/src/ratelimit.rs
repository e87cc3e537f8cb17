//! Token buckets that keep one client from taking the server: requests per
//! tenant, and failed authentications per client address.
//!
//! A bucket holds up to `burst` tokens and gains `per_second` a second; a
//! request takes one. An empty bucket answers how long until the next token,
//! which becomes the 429's `Retry-After`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// 0: unlimited.
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    pub const OFF: Rate = Rate { per_second: 0.0, burst: 0.0 };

    pub fn new(per_second: u32, burst: u32) -> Rate {
        Rate { per_second: f64::from(per_second), burst: f64::from(burst.max(1)) }
    }
    pub fn is_off(&self) -> bool {
        self.per_second <= 0.0
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets by key, bounded: past `max_keys` the full (idle) ones are dropped,
/// which loses nothing, since a new bucket starts full.
pub struct Buckets<K> {
    map: Mutex<HashMap<K, Bucket>>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(max_keys: usize) -> Self {
        Buckets { map: Mutex::new(HashMap::new()), max_keys }
    }

    /// The buckets. A panic while they were held (a bug) poisons the lock;
    /// that is logged and the buckets are used as they are: limits stay on
    /// rather than every request passing unlimited.
    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        self.map.lock().unwrap_or_else(|poisoned| {
            tracing::error!("a rate limiter's lock was poisoned by a panic; its buckets are kept and limits stay on");
            poisoned.into_inner()
        })
    }

    fn refill(bucket: &mut Bucket, rate: Rate, now: Instant) {
        let gained = now.saturating_duration_since(bucket.last).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + gained).min(rate.burst);
        bucket.last = now;
    }

    /// Take a token for `key`, or say how long until one is there.
    pub fn take(&self, key: &K, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.take_many(key, rate, now, 1)
    }

    /// Take `n` tokens for `key` at once (a Bulk request's operations), or
    /// take none and say how long until `n` are there. More than the burst
    /// never are: the caller keeps `n` within it.
    pub fn take_many(&self, key: &K, rate: Rate, now: Instant, n: u32) -> Result<(), Duration> {
        let n = f64::from(n);
        if rate.is_off() || n <= 0.0 {
            return Ok(());
        }
        let mut map = self.buckets();
        if map.len() >= self.max_keys && !map.contains_key(key) {
            map.retain(|_, b| {
                Self::refill(b, rate, now);
                b.tokens < rate.burst
            });
            // Still nearly full: start afresh, so that this pass over the map
            // is paid once per max_keys/10 new keys, never once per request.
            if map.len() >= self.max_keys - self.max_keys / 10 {
                map.clear();
            }
        }
        let bucket = map.entry(key.clone()).or_insert(Bucket { tokens: rate.burst, last: now });
        Self::refill(bucket, rate, now);
        if bucket.tokens >= n {
            bucket.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((n - bucket.tokens) / rate.per_second))
        }
    }

    /// Would `take` succeed? (Takes nothing.)
    pub fn has_token(&self, key: &K, rate: Rate, now: Instant) -> bool {
        if rate.is_off() {
            return true;
        }
        let mut map = self.buckets();
        match map.get_mut(key) {
            Some(bucket) => {
                Self::refill(bucket, rate, now);
                bucket.tokens >= 1.0
            }
            None => true,
        }
    }

    /// Forget `key`'s bucket (its rate changed).
    pub fn forget(&self, key: &K) {
        self.buckets().remove(key);
    }
}

/// The key a client address is limited under: an IPv4 address, or the /64
/// network of an IPv6 one (a single host is handed a whole /64 and can
/// send from any address in it).
pub fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Whole seconds for a `Retry-After` header: at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let buckets = Buckets::new(10);
        let rate = Rate::new(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take(&1, rate, t0).is_ok());
        }
        let wait = buckets.take(&1, rate, t0).err().unwrap_or_default();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(buckets.take(&1, rate, t0 + Duration::from_millis(100)).is_ok());
        // Another key has its own bucket.
        assert!(buckets.take(&2, rate, t0).is_ok());
    }

    #[test]
    fn many_tokens_are_taken_at_once_or_not_at_all() {
        let buckets = Buckets::new(10);
        let rate = Rate::new(10, 5);
        let t0 = Instant::now();
        assert!(buckets.take_many(&1, rate, t0, 4).is_ok());
        // One is left: three more are 200 ms away, and none is taken meanwhile.
        let wait = buckets.take_many(&1, rate, t0, 3).err().unwrap_or_default();
        assert!(wait > Duration::from_millis(190) && wait <= Duration::from_millis(200), "{wait:?}");
        assert!(buckets.take(&1, rate, t0).is_ok());
        assert!(buckets.take(&1, rate, t0).is_err());
        assert!(buckets.take_many(&1, rate, t0 + Duration::from_millis(300), 3).is_ok());
        assert!(buckets.take_many(&1, rate, t0, 0).is_ok());
    }

    #[test]
    fn buckets_stay_bounded() {
        let buckets = Buckets::new(4);
        let rate = Rate::new(1, 1);
        let t0 = Instant::now();
        for key in 0..100 {
            assert!(buckets.take(&key, rate, t0).is_ok());
        }
        assert!(buckets.map.lock().map(|m| m.len()).unwrap_or(0) <= 4);
    }

    #[test]
    fn a_poisoned_lock_keeps_limiting() {
        let buckets = std::sync::Arc::new(Buckets::new(10));
        let rate = Rate::new(1, 1);
        let t0 = Instant::now();
        assert!(buckets.take(&1, rate, t0).is_ok());
        let held = buckets.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.map.lock();
            panic!("a bug while the buckets are held");
        })
        .join();
        assert!(buckets.map.is_poisoned());
        assert!(buckets.take(&1, rate, t0).is_err(), "the emptied bucket still refuses");
    }

    #[test]
    fn an_ipv6_host_is_limited_as_its_64_network() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(std::net::IpAddr::V4([0; 4].into()));
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(std::net::IpAddr::V4([0; 4].into()));
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap_or(std::net::IpAddr::V4([0; 4].into()));
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let v4: std::net::IpAddr = std::net::Ipv4Addr::new(10, 1, 2, 3).into();
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn an_off_rate_never_limits() {
        let buckets = Buckets::new(1);
        for _ in 0..1000 {
            assert!(buckets.take(&0, Rate::OFF, Instant::now()).is_ok());
        }
    }
}
