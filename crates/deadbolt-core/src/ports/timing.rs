//! Per-stage latency of one finding, measured inside the engine: how long GuardDuty took to
//! answer (verify), and how long IAM reads and writes took. [`Timed`] wraps the IAM port and
//! adds up the time of every read and every write made through it; the responder puts the sums
//! in the record's [`Timings`](crate::record::Timings), which the Lambda turns into metrics
//! ([`crate::metrics`]). Measuring is all it does: every call is passed through unchanged.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::decorate::{Decorated, IamAnswer, IamCall, IamHook};

/// Microseconds spent in reads and in writes (summed: calls of one kind never overlap within
/// a plan, except the early read, which overlaps GuardDuty's answer, not another read).
#[derive(Debug, Default)]
pub struct Stopwatch {
    read_us: AtomicU64,
    write_us: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Stopwatch {
    /// Milliseconds spent reading, `None` if nothing was read.
    pub fn read_ms(&self) -> Option<f64> {
        (self.reads.load(Ordering::Relaxed) > 0)
            .then(|| self.read_us.load(Ordering::Relaxed) as f64 / 1000.0)
    }

    /// Milliseconds spent writing, `None` if nothing was written.
    pub fn write_ms(&self) -> Option<f64> {
        (self.writes.load(Ordering::Relaxed) > 0)
            .then(|| self.write_us.load(Ordering::Relaxed) as f64 / 1000.0)
    }
}

impl IamHook for Stopwatch {
    fn after(&self, call: IamCall<'_>, _: IamAnswer<'_>, elapsed_us: u64) {
        let (us, count) = if call.is_write() {
            (&self.write_us, &self.writes)
        } else {
            (&self.read_us, &self.reads)
        };
        us.fetch_add(elapsed_us, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// `call`'s output and how long it took, in microseconds.
pub async fn timed<T>(call: impl Future<Output = T>) -> (T, u64) {
    let start = Instant::now();
    let out = call.await;
    let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    (out, us)
}

/// The IAM port, with every read and write timed on a [`Stopwatch`] (its `hook`).
pub type Timed<'a, P> = Decorated<'a, P, Stopwatch>;

/// `inner`, timed.
pub fn timed_port<P>(inner: &P) -> Timed<'_, P> {
    Decorated::new(inner, Stopwatch::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPolicies;
    use crate::ports::InlinePolicies;
    use crate::principal::{ContainmentTarget, TargetKind};

    #[tokio::test]
    async fn counts_reads_and_writes_apart_and_passes_calls_through() {
        let target = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
        let iam = MemoryPolicies::new().with_entity(&target);
        let timed = timed_port(&iam);
        assert_eq!((timed.hook.read_ms(), timed.hook.write_ms()), (None, None));
        assert_eq!(timed.get_policy(&target, "DenyAll").await, Ok(None));
        assert!(timed.hook.read_ms().is_some());
        assert_eq!(timed.hook.write_ms(), None);
        timed.put_policy(&target, "DenyAll", "{}").await.unwrap();
        assert!(timed.hook.write_ms().is_some());
        assert_eq!(
            timed.get_policy(&target, "DenyAll").await,
            Ok(Some("{}".to_string()))
        );
        assert_eq!(timed.hook.reads.load(Ordering::Relaxed), 2);
        assert_eq!(timed.hook.writes.load(Ordering::Relaxed), 1);
    }
}
