//! The wall clock in the form the domain uses: milliseconds since 1970. Only the edges (the
//! responder, follow-ups, the settings refresh, the CLI) read it; pure functions take it as an
//! argument so tests need no real time.

/// Now, in milliseconds since 1970 (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
