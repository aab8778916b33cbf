//! CloudTrail enrichment for deadbolt: "who really did it".
//!
//! A GuardDuty finding names an access key; for temporary keys (`ASIA...`) that is a role
//! session, not a person. This crate reads CloudTrail log files ([`files`]), walks the chain of
//! STS calls that issued the key back to its origin ([`chain`]), and summarises what every
//! session on that chain did around the finding ([`activity`]). On top of those,
//! [`investigate()`] asks an [`EvidenceSource`] the questions a responder would, compares the
//! window with the identity's history ([`behaviour`]), sweeps for persistence
//! ([`persistence`]) and writes an [`InvestigationReport`] ([`report`]); [`queries`] holds the
//! playbook's six CloudTrail queries. Pure Rust: no AWS SDK and no runtime; the only async is
//! the [`EvidenceSource`] trait's futures, so fetching the logs is the adapters' job.

pub mod activity;
pub mod athena;
pub mod behaviour;
pub mod chain;
pub mod enrich;
pub mod files;
pub mod html;
pub mod investigate;
pub mod metrics;
pub mod persistence;
pub mod queries;
pub mod record;
pub mod report;
pub mod session_tree;
pub mod source;

pub use activity::{
    session_activity, sessions_activity, ActionSummary, ActivityReport, SessionActivity, Window,
    WindowError,
};
pub use behaviour::{
    new_behaviour, AsnAssessment, AsnStatus, CallVolume, FindingNetwork, NewApiCall, NewBehaviour,
};
pub use chain::{
    attribute, AttributionChain, Evidence, Gap, Hop, Origin, CREDENTIAL_ISSUING_EVENTS,
    MAX_CHAIN_HOPS,
};
pub use enrich::{
    Enricher, EnrichmentOutcome, EnrichmentReason, EnrichmentRecord, Limits, NoReportStore,
    Notifier, NotifyError, OwnAccountOnly, ReportStore, ReportStoreError, SourceRouter,
};
pub use files::{
    read_log_stream, read_path, FileProblem, ReadError, ReadStats, StreamError, StreamOutcome,
};
pub use investigate::{investigate, InvestigationOptions, Subject, SubjectError};
pub use persistence::{
    persistence_sweep, PersistenceCandidate, PersistenceEntity, PERSISTENCE_EVENTS,
};
pub use queries::{
    run_query, run_query_narrowed, Narrowing, PlaybookQuery, QueryArgument, QueryError, QueryName,
    QueryResult, QueryRow, MAX_QUERY_ROWS,
};
pub use record::{
    format_rfc3339_ms, parse_rfc3339_ms, Record, RecordError, TimeError, UserIdentity,
};
pub use report::{
    describe_origin, InvestigationReport, QuestionReport, SourceReport, Truncated, WindowSpan,
    REPORT_VERSION,
};
pub use session_tree::{descendants, issuing_user, session_tree_follow_ups, IssuingUser};
pub use source::{
    Admission, Budget, Coverage, EventFilter, EvidenceError, EvidenceSource, FileSource,
};
