//! The closed-loop driver: `concurrency` workers, each sending its next
//! request as soon as the last one answered, until a [`Stop`]; and the random
//! numbers the operations are given.

use crate::stats::Recorder;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// xorshift64*: fast and good enough to pick users and offsets.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub(super) type OpFut = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// One operation: (its index, a random number) -> the requests it sends.
pub(crate) type Op = Arc<dyn Fn(u64, u64) -> OpFut + Send + Sync>;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    Time(Duration),
    Count(u64),
    CountOrTime(u64, Duration),
}

/// Run `op` from `concurrency` workers until `stop`; every latency recorded.
pub(crate) async fn drive(concurrency: usize, stop: Stop, seed: u64, op: Op) -> (Recorder, Duration) {
    let (limit, time) = match stop {
        Stop::Time(d) => (u64::MAX, Some(d)),
        Stop::Count(n) => (n, None),
        Stop::CountOrTime(n, d) => (n, Some(d)),
    };
    let workers = concurrency.clamp(1, usize::try_from(limit).unwrap_or(usize::MAX).max(1));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = time.map(|d| started + d);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (op, next) = (op.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (w as u64).wrapping_mul(0x9E37_79B9));
            let mut rec = Recorder::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let r = rng.next();
                let t0 = Instant::now();
                let outcome = op(i, r).await;
                rec.record(t0.elapsed(), outcome);
            }
            rec
        }));
    }
    let mut all = Recorder::default();
    for h in handles {
        match h.await {
            Ok(rec) => all.merge(rec),
            Err(e) => {
                all.errors += 1;
                all.first_error.get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    (all, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_streams_differ() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(2));
        assert_ne!(a.next(), b.next());
    }

    #[tokio::test]
    async fn drive_stops_on_count() {
        let op: Op = Arc::new(|i, _| Box::pin(async move { if i == 3 { Err("three".into()) } else { Ok(()) } }));
        let (rec, _) = drive(4, Stop::Count(10), 7, op).await;
        assert_eq!(rec.lat_us.len(), 10);
        assert_eq!(rec.errors, 1);
        assert_eq!(rec.first_error.as_deref(), Some("three"));
    }
}
