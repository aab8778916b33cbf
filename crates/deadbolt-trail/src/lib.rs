//! CloudTrail enrichment for deadbolt: "who really did it".
//!
//! A GuardDuty finding names an access key; for temporary keys (`ASIA...`) that is a role
//! session, not a person. This crate reads CloudTrail log files ([`files`]), walks the chain of
//! STS calls that issued the key back to its origin ([`chain`]), and summarises what every
//! session on that chain did around the finding ([`activity`]). Pure Rust: no AWS SDK, no
//! async, no network; fetching the logs is the caller's job.

pub mod activity;
pub mod chain;
pub mod files;
pub mod record;
pub mod source;

pub use activity::{
    session_activity, ActionSummary, ActivityReport, SessionActivity, Window, WindowError,
};
pub use chain::{
    attribute, AttributionChain, Evidence, Gap, Hop, Origin, CREDENTIAL_ISSUING_EVENTS,
    MAX_CHAIN_HOPS,
};
pub use files::{
    read_log_stream, read_path, FileProblem, ReadError, ReadStats, StreamError, StreamOutcome,
};
pub use record::{parse_rfc3339_ms, Record, RecordError, TimeError, UserIdentity};
pub use source::{Budget, Coverage, EventFilter, EvidenceError, EvidenceSource, FileSource};
