//! The circuit breaker: at most N enforced containments per sliding hour. A misfiring detector
//! or a bad configuration could otherwise lock out half an account in minutes; past the limit
//! the responder falls back to dry-run and records `circuit_breaker_open`.
//!
//! What it counts is *enforcements*: a containment that writes. A redelivered finding, or one
//! whose principal is already contained, writes nothing and consumes nothing, because the
//! executor asks for admission only right before the first write a plan actually needs
//! ([`Admission`]).
//!
//! Pure: the caller passes the clock, so tests need no sleeping. [`CircuitBreaker`] is in
//! memory, per process (per Lambda execution environment); the count shared across instances
//! is a [`SharedBreaker`] port (DynamoDB in the Lambdas).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::ports::{AwsError, SharedBreaker};

/// One hour in milliseconds: the breaker's window.
pub const WINDOW_MS: i64 = 3_600_000;

/// Counts admitted enforcements over the last hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    max_per_hour: u32,
    /// Times (ms since 1970) of the enforcements admitted in the current window, oldest first.
    /// Never longer than `max_per_hour`, so memory is bounded by the configuration.
    admitted: VecDeque<i64>,
}

impl CircuitBreaker {
    /// A breaker admitting `max_per_hour` enforcements per sliding hour. `0` admits none (every
    /// finding is dry-run); the configuration document refuses 0, so only code can ask for it.
    pub fn new(max_per_hour: u32) -> Self {
        CircuitBreaker {
            max_per_hour,
            admitted: VecDeque::new(),
        }
    }

    /// The configured number of enforcements per hour.
    pub fn limit(&self) -> u32 {
        self.max_per_hour
    }

    /// May one more enforcement happen at `now_ms`? `Some(at)` counts it (at `at`, the time to
    /// hand to [`CircuitBreaker::refund`] if it does not happen after all); `None` means the
    /// breaker is open and the caller must fall back to dry-run.
    pub fn admit(&mut self, now_ms: i64) -> Option<i64> {
        self.expire(now_ms);
        if self.admitted.len() >= self.max_per_hour as usize {
            return None;
        }
        // Kept sorted even if the clock steps back, so `expire` can pop from the front.
        let at = self
            .admitted
            .back()
            .map_or(now_ms, |last| now_ms.max(*last));
        self.admitted.push_back(at);
        Some(at)
    }

    /// Give back a slot `admit` counted at `at` for an enforcement that did not happen.
    pub fn refund(&mut self, at: i64) {
        if let Some(i) = self.admitted.iter().rposition(|t| *t == at) {
            self.admitted.remove(i);
        }
    }

    /// Drop enforcements older than one hour. An enforcement at `t` counts until `t + 1h`
    /// (exclusive).
    fn expire(&mut self, now_ms: i64) {
        while self
            .admitted
            .front()
            .is_some_and(|t| t.saturating_add(WINDOW_MS) <= now_ms)
        {
            self.admitted.pop_front();
        }
    }
}

/// Why an enforcement was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum BreakerRefusal {
    /// This process's own sliding hour is full.
    Local { limit: u32 },
    /// The shared count's UTC hour is full.
    Shared { limit: u32 },
    /// The shared count could not be updated, so the limit cannot be honoured.
    SharedUnavailable(AwsError),
}

impl BreakerRefusal {
    pub fn message(&self) -> String {
        match self {
            BreakerRefusal::Local { limit } => {
                format!("{limit} enforced containment(s) in the last hour")
            }
            BreakerRefusal::Shared { limit } => format!(
                "{limit} enforced containment(s) this UTC hour across all deadbolt instances"
            ),
            BreakerRefusal::SharedUnavailable(e) => format!(
                "the shared containment count could not be updated ({e}); not enforcing without it"
            ),
        }
    }

    /// Delivered again, the finding is contained once the shared count is readable.
    pub fn retryable(&self) -> bool {
        matches!(self, BreakerRefusal::SharedUnavailable(_))
    }
}

/// The breaker a long-lived process keeps (one per responder engine, so containments and
/// follow-ups share it): its own sliding hour, created on first use and started afresh when the
/// configured limit changes, then the count shared by every instance.
#[derive(Debug, Default)]
pub struct ProcessBreaker {
    local: Mutex<Option<CircuitBreaker>>,
}

impl ProcessBreaker {
    /// Count one enforcement at `now_ms` under `limit` (`None`: no breaker), or say why not.
    /// A refusal by the shared count gives the local slot back: an enforcement that did not
    /// happen must not count against this instance's hour.
    pub async fn admit<B: SharedBreaker>(
        &self,
        shared: &B,
        limit: Option<u32>,
        now_ms: i64,
    ) -> Result<(), BreakerRefusal> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let at = {
            let mut slot = self.local.lock().unwrap_or_else(|p| p.into_inner());
            // A changed limit (new settings document) starts a new count under the new limit.
            let breaker = match slot.as_mut() {
                Some(b) if b.limit() == limit => b,
                _ => slot.insert(CircuitBreaker::new(limit)),
            };
            breaker
                .admit(now_ms)
                .ok_or(BreakerRefusal::Local { limit })?
        };
        let refusal = match shared.try_admit(limit, now_ms).await {
            Ok(true) => return Ok(()),
            Ok(false) => BreakerRefusal::Shared { limit },
            Err(e) => BreakerRefusal::SharedUnavailable(e),
        };
        self.give_back(limit, at);
        Err(refusal)
    }

    /// Give back an enforcement `admit` counted at `now_ms` whose write then failed: locally,
    /// and in the shared count (best effort; a refund that fails errs on the safe side).
    pub async fn refund<B: SharedBreaker>(&self, shared: &B, limit: Option<u32>, now_ms: i64) {
        let Some(limit) = limit else {
            return;
        };
        self.give_back(limit, now_ms);
        if let Err(e) = shared.refund(now_ms).await {
            tracing::warn!(error = %e, "circuit breaker: the shared count could not be given back its slot");
        }
    }

    fn give_back(&self, limit: u32, at: i64) {
        let mut slot = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = slot.as_mut().filter(|b| b.limit() == limit) {
            b.refund(at);
        }
    }

    /// Enforcements this instance counted in the hour up to `now_ms` (for tests and logs).
    pub fn counted(&self, now_ms: i64) -> usize {
        let mut slot = self.local.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_mut().map_or(0, |b| {
            b.expire(now_ms);
            b.admitted.len()
        })
    }
}

/// One plan's admission: asked for right before the plan's first write, at most once, so a
/// plan that turns out to need no write (already contained, a redelivery) consumes nothing.
pub struct Admission<'a, B> {
    breaker: &'a ProcessBreaker,
    shared: &'a B,
    limit: Option<u32>,
    now_ms: i64,
    granted: bool,
}

impl<'a, B: SharedBreaker> Admission<'a, B> {
    pub fn new(
        breaker: &'a ProcessBreaker,
        shared: &'a B,
        limit: Option<u32>,
        now_ms: i64,
    ) -> Self {
        Admission {
            breaker,
            shared,
            limit,
            now_ms,
            granted: false,
        }
    }
}

/// What containment asks before each write it is about to make.
pub trait WriteGate: Send {
    /// `Ok` lets the write happen; the first `Ok` may count an enforcement, later ones do not.
    fn before_write(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), BreakerRefusal>> + Send;

    /// The writes this gate admitted all failed: nothing was enforced, so the enforcement it
    /// counted is given back (a plan that writes nothing must not use up the hour's budget).
    fn nothing_written(&mut self) -> impl std::future::Future<Output = ()> + Send {
        async {}
    }
}

impl<B: SharedBreaker> WriteGate for Admission<'_, B> {
    async fn before_write(&mut self) -> Result<(), BreakerRefusal> {
        if self.granted {
            return Ok(());
        }
        self.breaker
            .admit(self.shared, self.limit, self.now_ms)
            .await?;
        self.granted = true;
        Ok(())
    }

    async fn nothing_written(&mut self) {
        if std::mem::take(&mut self.granted) {
            self.breaker
                .refund(self.shared, self.limit, self.now_ms)
                .await;
        }
    }
}

/// No breaker: an operator's own `deadbolt block` is not rate-limited.
pub struct Ungated;

impl WriteGate for Ungated {
    async fn before_write(&mut self) -> Result<(), BreakerRefusal> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{AwsErrorKind, NoSharedBreaker};

    const T0: i64 = 1_790_000_000_000;
    const MINUTE: i64 = 60_000;

    #[test]
    fn trips_at_n_plus_one_and_recovers_after_an_hour() {
        let mut b = CircuitBreaker::new(10);
        for i in 0..10 {
            assert!(
                b.admit(T0 + i * MINUTE).is_some(),
                "enforcement {} admitted",
                i + 1
            );
        }
        assert!(
            b.admit(T0 + 10 * MINUTE).is_none(),
            "the 11th in the hour trips"
        );
        // Refusals are not counted: one hour after the first, exactly one slot is free again.
        assert!(b.admit(T0 + WINDOW_MS - 1).is_none());
        assert!(b.admit(T0 + WINDOW_MS).is_some());
        assert!(b.admit(T0 + WINDOW_MS).is_none());
        for _ in 0..10 {
            assert!(b.admit(T0 + 3 * WINDOW_MS).is_some());
        }
        assert!(b.admit(T0 + 3 * WINDOW_MS).is_none());
    }

    #[test]
    fn the_window_slides_rather_than_resetting_on_the_hour() {
        let mut b = CircuitBreaker::new(2);
        assert!(b.admit(T0).is_some());
        assert!(b.admit(T0 + 59 * MINUTE).is_some());
        assert!(b.admit(T0 + 59 * MINUTE + 1).is_none());
        assert!(b.admit(T0 + 60 * MINUTE).is_some()); // the first has left the window
        assert!(b.admit(T0 + 61 * MINUTE).is_none()); // the second has not
    }

    #[test]
    fn zero_admits_nothing_and_a_clock_stepping_back_does_not_free_slots() {
        let mut b = CircuitBreaker::new(0);
        assert!(b.admit(T0).is_none());

        let mut b = CircuitBreaker::new(2);
        assert!(b.admit(T0).is_some());
        assert!(b.admit(T0 - 10 * MINUTE).is_some());
        assert!(b.admit(T0 - 20 * MINUTE).is_none());
    }

    struct Full;
    impl SharedBreaker for Full {
        async fn try_admit(&self, _: u32, _: i64) -> Result<bool, AwsError> {
            Ok(false)
        }
    }
    struct Down;
    impl SharedBreaker for Down {
        async fn try_admit(&self, _: u32, _: i64) -> Result<bool, AwsError> {
            Err(AwsError::new(
                AwsErrorKind::Unavailable,
                "Timeout",
                "timed out",
            ))
        }
    }

    #[tokio::test]
    async fn a_refused_shared_admission_keeps_the_local_slot() {
        let breaker = ProcessBreaker::default();
        // The shared hour is full (other instances used it): refused, and this instance's own
        // hour is untouched, so its next admission is not refused locally.
        assert_eq!(
            breaker.admit(&Full, Some(1), T0).await,
            Err(BreakerRefusal::Shared { limit: 1 })
        );
        let down = breaker.admit(&Down, Some(1), T0).await.unwrap_err();
        assert!(down.retryable());
        assert_eq!(breaker.counted(T0), 0);
        assert_eq!(breaker.admit(&NoSharedBreaker, Some(1), T0).await, Ok(()));
        assert_eq!(breaker.counted(T0), 1);
        assert_eq!(
            breaker.admit(&NoSharedBreaker, Some(1), T0).await,
            Err(BreakerRefusal::Local { limit: 1 })
        );
    }

    #[tokio::test]
    async fn an_admission_counts_once_and_only_when_a_write_is_asked_for() {
        let breaker = ProcessBreaker::default();
        {
            // A plan that needed no write never asks.
            let _unused = Admission::new(&breaker, &NoSharedBreaker, Some(5), T0);
        }
        assert_eq!(breaker.counted(T0), 0);
        let mut admission = Admission::new(&breaker, &NoSharedBreaker, Some(5), T0);
        admission.before_write().await.unwrap();
        admission.before_write().await.unwrap();
        assert_eq!(breaker.counted(T0), 1, "two writes of one plan count once");
    }
}
