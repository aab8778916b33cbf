//! Per-stage latency of one finding, measured inside the engine: how long GuardDuty took to
//! answer (verify), and how long IAM reads and writes took. [`Timed`] wraps the IAM port and
//! adds up the time of every read and every write made through it; the responder puts the sums
//! in the record's [`Timings`](crate::record::Timings), which the Lambda turns into metrics
//! ([`crate::metrics`]). Measuring is all it does: every call is passed through unchanged.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::ports::{AccessKeys, AwsError, InlinePolicies, ManagedPolicies};
use crate::principal::ContainmentTarget;

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

    async fn read<T>(&self, call: impl Future<Output = T>) -> T {
        let (out, us) = timed(call).await;
        self.read_us.fetch_add(us, Ordering::Relaxed);
        self.reads.fetch_add(1, Ordering::Relaxed);
        out
    }

    async fn write<T>(&self, call: impl Future<Output = T>) -> T {
        let (out, us) = timed(call).await;
        self.write_us.fetch_add(us, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
        out
    }
}

/// `call`'s output and how long it took, in microseconds.
pub async fn timed<T>(call: impl Future<Output = T>) -> (T, u64) {
    let start = Instant::now();
    let out = call.await;
    let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    (out, us)
}

/// The IAM port, with every read and write timed on a [`Stopwatch`].
pub struct Timed<'a, P> {
    inner: &'a P,
    pub watch: Stopwatch,
}

impl<'a, P> Timed<'a, P> {
    pub fn new(inner: &'a P) -> Self {
        Timed {
            inner,
            watch: Stopwatch::default(),
        }
    }
}

impl<P: InlinePolicies> InlinePolicies for Timed<'_, P> {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        self.watch
            .read(self.inner.get_policy(target, policy_name))
            .await
    }
    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.put_policy(target, policy_name, document))
            .await
    }
    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.delete_policy(target, policy_name))
            .await
    }
}

impl<P: AccessKeys> AccessKeys for Timed<'_, P> {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        self.watch
            .read(self.inner.access_key_active(user_name, access_key_id))
            .await
    }
    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        self.watch
            .write(
                self.inner
                    .set_access_key_status(user_name, access_key_id, active),
            )
            .await
    }
}

impl<P: ManagedPolicies> ManagedPolicies for Timed<'_, P> {
    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        self.watch.read(self.inner.attached_policies(target)).await
    }
    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.attach_policy(target, arn))
            .await
    }
    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.detach_policy(target, arn))
            .await
    }
    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        self.watch.read(self.inner.tags(target)).await
    }
    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.watch.write(self.inner.tag(target, key, value)).await
    }
    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        self.watch.write(self.inner.untag(target, key)).await
    }
    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        self.watch
            .read(self.inner.permissions_boundary(target))
            .await
    }
    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.put_permissions_boundary(target, arn))
            .await
    }
    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        self.watch
            .write(self.inner.delete_permissions_boundary(target))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPolicies;
    use crate::principal::TargetKind;

    #[tokio::test]
    async fn counts_reads_and_writes_apart_and_passes_calls_through() {
        let target = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
        let iam = MemoryPolicies::new().with_entity(&target);
        let timed = Timed::new(&iam);
        assert_eq!(
            (timed.watch.read_ms(), timed.watch.write_ms()),
            (None, None)
        );
        assert_eq!(timed.get_policy(&target, "DenyAll").await, Ok(None));
        assert!(timed.watch.read_ms().is_some());
        assert_eq!(timed.watch.write_ms(), None);
        timed.put_policy(&target, "DenyAll", "{}").await.unwrap();
        assert!(timed.watch.write_ms().is_some());
        assert_eq!(
            timed.get_policy(&target, "DenyAll").await,
            Ok(Some("{}".to_string()))
        );
        assert_eq!(timed.watch.reads.load(Ordering::Relaxed), 2);
        assert_eq!(timed.watch.writes.load(Ordering::Relaxed), 1);
    }
}
