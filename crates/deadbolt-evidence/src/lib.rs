//! AWS adapters for the evidence sources of `deadbolt-trail`: where CloudTrail records come
//! from when they are not files on disk. Kept apart from `deadbolt-aws` so the responder
//! Lambda, whose critical path is containment, links none of this.

pub mod logs;
pub mod lookup_events;
pub mod s3;

pub use logs::CloudWatchLogsSource;
pub use lookup_events::{LookupEventsSource, RateLimiter};
pub use s3::S3LogSource;
