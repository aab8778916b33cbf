//! The circuit breaker: at most N enforced containments per sliding hour. A misfiring detector
//! or a bad configuration could otherwise lock out half an account in minutes; past the limit
//! the responder falls back to dry-run and records `circuit_breaker_open`.
//!
//! Pure: the caller passes the clock, so tests need no sleeping. The state is in memory, i.e.
//! per process (per Lambda execution environment); a limit shared across concurrent
//! environments needs shared state, which is an adapter's job.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::ports::{IamError, SharedBreaker};

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

    pub fn max_per_hour(&self) -> u32 {
        self.max_per_hour
    }

    /// The configured number of enforcements per hour.
    pub fn limit(&self) -> u32 {
        self.max_per_hour
    }

    /// May one more enforcement happen at `now_ms`? `true` counts it; `false` means the
    /// breaker is open and the caller must fall back to dry-run.
    pub fn admit(&mut self, now_ms: i64) -> bool {
        self.expire(now_ms);
        if self.admitted.len() >= self.max_per_hour as usize {
            return false;
        }
        // Kept sorted even if the clock steps back, so `expire` can pop from the front.
        let at = self
            .admitted
            .back()
            .map_or(now_ms, |last| now_ms.max(*last));
        self.admitted.push_back(at);
        true
    }

    /// Is the breaker open at `now_ms` (would `admit` refuse)? Does not count anything.
    pub fn is_open(&mut self, now_ms: i64) -> bool {
        self.expire(now_ms);
        self.admitted.len() >= self.max_per_hour as usize
    }

    /// Enforcements admitted in the hour up to `now_ms`.
    pub fn admitted_in_window(&mut self, now_ms: i64) -> usize {
        self.expire(now_ms);
        self.admitted.len()
    }

    /// When the oldest admitted enforcement leaves the window, i.e. when an open breaker
    /// admits again (`None` if nothing is counted).
    pub fn reopens_at_ms(&self) -> Option<i64> {
        self.admitted.front().map(|t| t.saturating_add(WINDOW_MS))
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
#[derive(Debug)]
pub enum BreakerRefusal {
    /// This process's own sliding hour is full.
    Local { limit: u32 },
    /// The shared count's UTC hour is full.
    Shared { limit: u32 },
    /// The shared count could not be updated, so the limit cannot be honoured.
    SharedUnavailable(IamError),
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

/// The breaker a long-lived process keeps (the responder, the enricher's follow-ups): its own
/// sliding hour, created on first use and started afresh when the configured limit changes,
/// then the count shared by every instance.
#[derive(Debug, Default)]
pub struct ProcessBreaker {
    local: Mutex<Option<CircuitBreaker>>,
}

impl ProcessBreaker {
    /// Count one enforcement at `now_ms` under `limit` (`None`: no breaker), or say why not.
    pub async fn admit<B: SharedBreaker>(
        &self,
        shared: &B,
        limit: Option<u32>,
        now_ms: i64,
    ) -> Result<(), BreakerRefusal> {
        let Some(limit) = limit else {
            return Ok(());
        };
        {
            let mut slot = self.local.lock().unwrap_or_else(|p| p.into_inner());
            // A changed limit (new settings document) starts a new count under the new limit.
            let breaker = match slot.as_mut() {
                Some(b) if b.limit() == limit => b,
                _ => slot.insert(CircuitBreaker::new(limit)),
            };
            if !breaker.admit(now_ms) {
                return Err(BreakerRefusal::Local { limit });
            }
        }
        match shared.try_admit(limit, now_ms).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(BreakerRefusal::Shared { limit }),
            Err(e) => Err(BreakerRefusal::SharedUnavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000_000;
    const MINUTE: i64 = 60_000;

    #[test]
    fn trips_at_n_plus_one_and_recovers_after_an_hour() {
        let mut b = CircuitBreaker::new(10);
        for i in 0..10 {
            assert!(b.admit(T0 + i * MINUTE), "enforcement {} admitted", i + 1);
        }
        assert!(!b.admit(T0 + 10 * MINUTE), "the 11th in the hour trips");
        assert!(b.is_open(T0 + 30 * MINUTE));
        assert_eq!(b.reopens_at_ms(), Some(T0 + WINDOW_MS));
        // Refusals are not counted: one hour after the first, exactly one slot is free again.
        assert!(!b.admit(T0 + WINDOW_MS - 1));
        assert!(b.admit(T0 + WINDOW_MS));
        assert!(!b.admit(T0 + WINDOW_MS));
        // Two hours on, the whole window has passed.
        assert_eq!(b.admitted_in_window(T0 + 2 * WINDOW_MS + 10 * MINUTE), 0);
        for _ in 0..10 {
            assert!(b.admit(T0 + 3 * WINDOW_MS));
        }
        assert!(!b.admit(T0 + 3 * WINDOW_MS));
    }

    #[test]
    fn the_window_slides_rather_than_resetting_on_the_hour() {
        let mut b = CircuitBreaker::new(2);
        assert!(b.admit(T0));
        assert!(b.admit(T0 + 59 * MINUTE));
        assert!(!b.admit(T0 + 59 * MINUTE + 1));
        assert!(b.admit(T0 + 60 * MINUTE)); // the first has left the window
        assert!(!b.admit(T0 + 61 * MINUTE)); // the second has not
    }

    #[test]
    fn zero_admits_nothing_and_a_clock_stepping_back_does_not_free_slots() {
        let mut b = CircuitBreaker::new(0);
        assert!(!b.admit(T0));
        assert!(b.is_open(T0));

        let mut b = CircuitBreaker::new(2);
        assert!(b.admit(T0));
        assert!(b.admit(T0 - 10 * MINUTE));
        assert!(!b.admit(T0 - 20 * MINUTE));
        assert_eq!(b.admitted_in_window(T0), 2);
    }
}
