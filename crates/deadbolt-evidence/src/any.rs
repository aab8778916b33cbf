//! One evidence source chosen at run time (CLI flags, the enricher's configuration), so the
//! callers stay generic over `EvidenceSource` without a type per combination.

use deadbolt_trail::source::{Budget, Coverage, EventFilter, EvidenceError, EvidenceSource};
use deadbolt_trail::{FileSource, Record, Window};

use crate::{AthenaSource, CloudWatchLogsSource, LookupEventsSource, S3LogSource};

pub enum AnySource {
    LookupEvents(LookupEventsSource),
    Logs(CloudWatchLogsSource),
    S3(S3LogSource),
    Files(FileSource),
    Athena(AthenaSource),
}

impl AnySource {
    /// `s3://bucket/prefix` as a bucket and a prefix, or `None` if `location` is not one.
    pub fn parse_s3_url(location: &str) -> Option<(String, String)> {
        let rest = location.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
    }
}

impl EvidenceSource for AnySource {
    fn name(&self) -> &'static str {
        match self {
            AnySource::LookupEvents(s) => s.name(),
            AnySource::Logs(s) => s.name(),
            AnySource::S3(s) => s.name(),
            AnySource::Files(s) => s.name(),
            AnySource::Athena(s) => s.name(),
        }
    }

    fn for_account(&self, account_id: &str) -> Option<Self> {
        match self {
            AnySource::Athena(s) => s.for_account(account_id).map(AnySource::Athena),
            AnySource::LookupEvents(_)
            | AnySource::Logs(_)
            | AnySource::S3(_)
            | AnySource::Files(_) => None,
        }
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        match self {
            AnySource::LookupEvents(s) => s.events(filter, window, budget, sink).await,
            AnySource::Logs(s) => s.events(filter, window, budget, sink).await,
            AnySource::S3(s) => s.events(filter, window, budget, sink).await,
            AnySource::Files(s) => s.events(filter, window, budget, sink).await,
            AnySource::Athena(s) => s.events(filter, window, budget, sink).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AnySource;

    #[test]
    fn s3_urls() {
        assert_eq!(
            AnySource::parse_s3_url("s3://trail-logs/AWSLogs/123456789012/"),
            Some(("trail-logs".into(), "AWSLogs/123456789012/".into()))
        );
        assert_eq!(
            AnySource::parse_s3_url("s3://trail-logs"),
            Some(("trail-logs".into(), String::new()))
        );
        assert_eq!(AnySource::parse_s3_url("s3://"), None);
        assert_eq!(AnySource::parse_s3_url("/var/log/trail"), None);
    }
}
