//! AWS adapters for `deadbolt-trail`'s ports: where CloudTrail records come from when they are
//! not files on disk (LookupEvents, CloudWatch Logs, S3), and where investigation summaries go
//! (SNS). Kept apart from `deadbolt-aws` so the responder Lambda, whose critical path is
//! containment, links none of this.

pub mod any;
pub mod insights;
pub mod logs;
pub mod lookup_events;
pub mod s3;
pub mod sns;

pub use any::AnySource;
pub use insights::{run_insights, InsightsResult};
pub use logs::CloudWatchLogsSource;
pub use lookup_events::{LookupEventsSource, RateLimiter};
pub use s3::S3LogSource;
pub use sns::SnsNotifier;
