//! Where CloudTrail evidence comes from: one trait, several adapters (LookupEvents, CloudWatch
//! Logs, log files). The investigation asks narrow questions ("calls made with key K", "the
//! event that issued key K") so that sources which can filter natively stay cheap; every
//! adapter also applies [`EventFilter::matches`] locally, so all sources answer identically.

use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use thiserror::Error;

use crate::activity::Window;
use crate::files::{read_path, read_path_matching, ReadStats};
use crate::record::Record;

/// One question asked of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Calls made with this access key (`userIdentity.accessKeyId`).
    /// LookupEvents: `AccessKeyId`, the most selective attribute it has.
    CallerAccessKey(String),
    /// The STS call that issued this key (`responseElements.credentials.accessKeyId`).
    /// LookupEvents: `ResourceName` (CloudTrail lists the issued key as a resource).
    IssuedAccessKey(String),
    /// Calls by this IAM user name or role session name. LookupEvents: `Username`.
    Username(String),
    /// Calls from this source IP address (no LookupEvents attribute: a scan).
    SourceIp(String),
    /// Events with this name. LookupEvents: `EventName`.
    EventName(String),
    /// Failed calls whose error code matches the playbook's `Unauthorized|Denied|Forbidden`.
    AccessDenied,
}

impl EventFilter {
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            EventFilter::CallerAccessKey(k) => r.user_identity.access_key_id.as_deref() == Some(k),
            EventFilter::IssuedAccessKey(k) => {
                r.response_str("credentials.accessKeyId") == Some(k.as_str())
            }
            EventFilter::Username(u) => {
                r.user_identity.user_name.as_deref() == Some(u.as_str())
                    || r.user_identity
                        .arn
                        .as_deref()
                        .is_some_and(|arn| arn.rsplit('/').next() == Some(u.as_str()))
            }
            EventFilter::SourceIp(ip) => r.source_ip_address.as_deref() == Some(ip.as_str()),
            EventFilter::EventName(n) => &r.event_name == n,
            EventFilter::AccessDenied => r.error_code.as_deref().is_some_and(|c| {
                c.contains("Unauthorized") || c.contains("Denied") || c.contains("Forbidden")
            }),
        }
    }

    /// False only when `raw` (one record's JSON text) certainly cannot match: the value looked
    /// for does not occur in it. Values with characters JSON escapes, or records using `\u`
    /// escapes, are never ruled out this way, so the test cannot hide a match.
    pub fn could_match(&self, raw: &str) -> bool {
        let needle = match self {
            EventFilter::CallerAccessKey(v)
            | EventFilter::IssuedAccessKey(v)
            | EventFilter::Username(v)
            | EventFilter::SourceIp(v)
            | EventFilter::EventName(v) => v.as_str(),
            EventFilter::AccessDenied => "errorCode",
        };
        let plain = !needle.is_empty()
            && needle
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
        !plain || raw.contains(needle) || raw.contains("\\u")
    }

    /// A short label for reports: `caller_access_key=AKIA…`.
    pub fn describe(&self) -> String {
        match self {
            EventFilter::CallerAccessKey(k) => format!("caller_access_key={k}"),
            EventFilter::IssuedAccessKey(k) => format!("issued_access_key={k}"),
            EventFilter::Username(u) => format!("username={u}"),
            EventFilter::SourceIp(ip) => format!("source_ip={ip}"),
            EventFilter::EventName(n) => format!("event_name={n}"),
            EventFilter::AccessDenied => "access_denied".to_string(),
        }
    }
}

/// What an investigation may spend. Shared across all its questions.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Remote requests left (LookupEvents pages, FilterLogEvents pages, S3 objects).
    pub requests_left: u32,
    /// Records left to collect: keeps the report and memory bounded.
    pub records_left: u64,
    /// Stop asking after this instant (the Lambda deadline minus a margin).
    pub deadline: Option<Instant>,
}

impl Budget {
    pub fn new(requests: u32, records: u64, deadline: Option<Instant>) -> Self {
        Budget {
            requests_left: requests,
            records_left: records,
            deadline,
        }
    }

    /// Why no more may be spent, if that is so.
    pub fn exhausted(&self) -> Option<&'static str> {
        if self.requests_left == 0 {
            Some("request budget exhausted")
        } else if self.records_left == 0 {
            Some("record budget exhausted")
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("time budget exhausted")
        } else {
            None
        }
    }

    /// Take one request; false if none is left.
    pub fn take_request(&mut self) -> bool {
        if self.exhausted().is_some() {
            return false;
        }
        self.requests_left -= 1;
        true
    }
}

/// What became of one record a source read (see [`Budget::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// In the window, matching, within budget: handed to the sink.
    Delivered,
    /// Outside the window or not matching the question.
    NotAsked,
    /// Would have been delivered, but the record budget is spent.
    BudgetFull,
}

impl Budget {
    /// The one rule every source applies to every record it reads: the window, the filter
    /// (so all sources answer identically, whatever they could narrow server-side), then the
    /// record budget.
    pub fn admit(
        &mut self,
        record: Record,
        filter: &EventFilter,
        window: Window,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Admission {
        let in_window = record.event_time_ms().is_ok_and(|t| window.contains(t));
        if !in_window || !filter.matches(&record) {
            return Admission::NotAsked;
        }
        if self.records_left == 0 {
            return Admission::BudgetFull;
        }
        self.records_left -= 1;
        sink(record);
        Admission::Delivered
    }
}

impl Coverage {
    /// Take one page of CloudTrail records as JSON texts (LookupEvents' `CloudTrailEvent`,
    /// a log event's `message`): unparseable or missing texts are counted as skipped, the rest
    /// go through [`Budget::admit`]. `false` when the record budget ran out (and `incomplete`
    /// says so): the caller stops paging.
    pub fn take_page(
        &mut self,
        texts: impl IntoIterator<Item = Option<String>>,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> bool {
        for text in texts {
            let Some(record) = text.and_then(|t| Record::from_json_str(&t).ok()) else {
                self.skipped += 1;
                continue;
            };
            match budget.admit(record, filter, window, sink) {
                Admission::Delivered => self.records += 1,
                Admission::NotAsked => {}
                Admission::BudgetFull => {
                    self.incomplete = Some("record budget exhausted".to_string());
                    return false;
                }
            }
        }
        true
    }
}

/// How completely a source answered one question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Remote requests made for this question.
    pub requests: u32,
    /// Matching records delivered.
    pub records: u64,
    /// Records or files the source could not use (malformed, truncated, not UTF-8).
    pub skipped: u64,
    /// Set when the answer is partial: what stopped it (budget, throttling that outlasted
    /// retries, …). The report carries this instead of failing.
    pub incomplete: Option<String>,
}

/// A source that could not answer at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvidenceError {
    #[error("{source_name}: access denied ({message}); grant {permission} to the caller")]
    AccessDenied {
        source_name: &'static str,
        permission: &'static str,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Unavailable {
        source_name: &'static str,
        message: String,
    },
}

/// A place CloudTrail records can be read from.
pub trait EvidenceSource: Send + Sync {
    /// For reports: `cloudtrail:LookupEvents`, `logs:FilterLogEvents`, `files`.
    fn name(&self) -> &'static str;

    /// This source narrowed to one account's events, for a finding in that account: an
    /// organization trail holds every member account's. `None` (the default) when the source
    /// reads what it was configured to read whatever the account.
    fn for_account(&self, _account_id: &str) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Deliver the records matching `filter` with `eventTime` inside `window` to `sink`,
    /// spending from `budget`, stopping (with [`Coverage::incomplete`]) when it runs out.
    fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> impl Future<Output = Result<Coverage, EvidenceError>> + Send;
}

/// CloudTrail log files on disk (`.json` / `.json.gz`, a file or a folder), streamed: memory
/// holds one record at a time plus the matches.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }

    /// Read every record once, ignoring filters: for benchmarks and whole-folder queries.
    pub fn scan(&self, on_record: impl FnMut(Record)) -> Result<ReadStats, EvidenceError> {
        read_path(&self.path, on_record).map_err(|e| EvidenceError::Unavailable {
            source_name: "files",
            message: e.to_string(),
        })
    }
}

impl EvidenceSource for FileSource {
    fn name(&self) -> &'static str {
        "files"
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        if let Some(why) = budget.exhausted() {
            return Ok(Coverage {
                incomplete: Some(why.to_string()),
                ..Coverage::default()
            });
        }
        let mut delivered = 0u64;
        let mut capped = false;
        let candidate = |raw: &str| filter.could_match(raw);
        let stats = read_path_matching(&self.path, &candidate, |r| {
            match budget.admit(r, filter, window, sink) {
                Admission::Delivered => delivered += 1,
                Admission::BudgetFull => capped = true,
                Admission::NotAsked => {}
            }
        })
        .map_err(|e| EvidenceError::Unavailable {
            source_name: "files",
            message: e.to_string(),
        })?;
        Ok(Coverage {
            requests: 0,
            records: delivered,
            skipped: stats.skipped_records + stats.unreadable_files,
            incomplete: capped.then(|| "record budget exhausted".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_pre_test_never_hides_a_match() {
        let raw = r#"{"userIdentity":{"accessKeyId":"ASIAONE"},"eventName":"RunInstances"}"#;
        assert!(EventFilter::CallerAccessKey("ASIAONE".into()).could_match(raw));
        assert!(!EventFilter::CallerAccessKey("ASIATWO".into()).could_match(raw));
        assert!(!EventFilter::AccessDenied.could_match(raw));
        // An escaped spelling of the key: parsed, not ruled out.
        let escaped = r#"{"userIdentity":{"accessKeyId":"ASIA\u0054WO"}}"#;
        assert!(EventFilter::CallerAccessKey("ASIATWO".into()).could_match(escaped));
        // A value JSON would escape is never ruled out by text.
        assert!(EventFilter::Username("a\"b".into()).could_match(raw));
    }
}
