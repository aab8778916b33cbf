//! AWS adapters for `deadbolt-trail`'s ports: where CloudTrail records come from when they are
//! not files on disk (LookupEvents, CloudWatch Logs, S3), and where investigation summaries go
//! (SNS). Kept apart from `deadbolt-aws` so the responder Lambda, whose critical path is
//! containment, links none of this.

pub mod any;
pub mod athena;
pub mod insights;
pub mod logs;
pub mod lookup_events;
pub mod reports;
pub mod s3;
pub mod sns;

pub use any::AnySource;
pub use athena::AthenaSource;
pub use insights::{run_insights, InsightsResult};
pub use logs::CloudWatchLogsSource;
pub use lookup_events::{LookupEventsSource, RateLimiter};
pub use reports::S3ReportStore;
pub use s3::S3LogSource;
pub use sns::SnsNotifier;

/// `CODE: message` of a failed AWS call (the service's words), or the SDK's whole account of
/// it when the service said nothing (a timeout, a connection refused).
pub(crate) fn call_error<E>(e: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
    }
}

/// A short cause for a failed page, for the report's "incomplete" line: the AWS error code, or
/// the HTTP status when the body could not be read, never the whole raw response.
pub(crate) fn short_cause(code: &str, http_status: Option<u16>) -> String {
    match (code.is_empty(), http_status) {
        (false, _) => code.to_string(),
        (true, Some(status)) => format!("HTTP {status}"),
        (true, None) => "no response (network error or timeout)".to_string(),
    }
}
