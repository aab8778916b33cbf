//! CloudTrail log files in the trail's S3 bucket, as an evidence source: the only source with
//! data events and history older than LookupEvents' 90 days. S3 cannot filter inside objects,
//! so every question lists the trail's keys and reads the log files whose day-folder can hold
//! the window, one object at a time, through the same streaming parser as files on disk.
//!
//! Keys as CloudTrail delivers them:
//! `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`.

use aws_sdk_s3::error::ProvideErrorMetadata;
use deadbolt_trail::activity::Window;
use deadbolt_trail::files::read_log_object;
use deadbolt_trail::record::{format_rfc3339_ms, parse_rfc3339_ms};
use deadbolt_trail::source::{
    Admission, Budget, Coverage, EventFilter, EvidenceError, EvidenceSource,
};
use deadbolt_trail::Record;
use flate2::read::MultiGzDecoder;

const SOURCE_NAME: &str = "s3";
const DAY_MS: i64 = 86_400_000;

/// S3 log files behind the domain's [`EvidenceSource`].
#[derive(Debug, Clone)]
pub struct S3LogSource {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    page_size: Option<i32>,
}

impl S3LogSource {
    /// `prefix` narrows the listing: `AWSLogs/<account>/CloudTrail/<region>/` lets the source
    /// start listing at the window's first day and stop after its last; anything broader (down
    /// to `""`) still works, skipping downloads outside the window but listing every key.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3LogSource {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            page_size: None,
        }
    }

    /// Keys per ListObjectsV2 page (1..=1000). Unset, S3's maximum of 1000 applies.
    pub fn with_page_size(mut self, keys: i32) -> Self {
        self.page_size = Some(keys.clamp(1, 1000));
        self
    }

    /// Where listing starts when the prefix is one region's folder: just before the first
    /// day-folder that can hold the window. `None` when the key layout below the prefix is not
    /// known to be `YYYY/MM/DD/`.
    fn start_after(&self, days: DayRange) -> Option<String> {
        if !is_region_folder(&self.prefix) {
            return None;
        }
        let date = format_rfc3339_ms(days.first_ms);
        let day_folder = date.get(..10)?.replace('-', "/");
        let mut start = self.prefix.clone();
        if !start.ends_with('/') {
            start.push('/');
        }
        // Exclusive and lexicographic: every key inside `…/YYYY/MM/DD/` sorts after it.
        start.push_str(&day_folder);
        Some(start)
    }
}

/// The day-folders that can hold records of a window. One day of slack on each side: a file
/// is filed under the day CloudTrail delivered it, which for records just before midnight is
/// the next day, and the local `eventTime` check keeps the answer exact.
#[derive(Debug, Clone, Copy)]
struct DayRange {
    first_ms: i64,
    last_ms: i64,
}

impl DayRange {
    fn of(window: Window) -> Self {
        DayRange {
            first_ms: window.start_ms.div_euclid(DAY_MS) * DAY_MS - DAY_MS,
            last_ms: window.end_ms.div_euclid(DAY_MS) * DAY_MS + DAY_MS,
        }
    }
}

/// True for `…/CloudTrail/<region>[/]`: the keys below are `YYYY/MM/DD/…`, in date order.
fn is_region_folder(prefix: &str) -> bool {
    let mut segments = prefix.trim_end_matches('/').rsplit('/');
    let region = segments.next().unwrap_or("");
    !region.is_empty() && segments.next() == Some("CloudTrail")
}

/// The day-folder of a CloudTrail key as epoch ms of its midnight UTC, if the key has the
/// delivery layout.
pub fn key_day_ms(key: &str) -> Option<i64> {
    let segments: Vec<&str> = key.split('/').collect();
    let at = segments.iter().position(|s| *s == "CloudTrail")?;
    let (year, month, day) = (
        segments.get(at + 2)?,
        segments.get(at + 3)?,
        segments.get(at + 4)?,
    );
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    parse_rfc3339_ms(&format!("{year}-{month}-{day}T00:00:00Z")).ok()
}

/// Log files only: CloudTrail also writes digest files (`CloudTrail-Digest/`, no `Records`)
/// and consoles create zero-byte folder markers.
fn is_log_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    (lower.ends_with(".json") || lower.ends_with(".json.gz"))
        && !key.split('/').any(|s| s == "CloudTrail-Digest")
}

/// S3's permission errors arrive as `AccessDenied` (or a KMS variant) in the body, and a HEAD-
/// style or unparsed error only as a 403: either means the caller lacks a permission.
fn is_access_denied<E: ProvideErrorMetadata, R>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
    status: Option<u16>,
) -> bool {
    e.code().is_some_and(|c| c.contains("AccessDenied")) || status == Some(403)
}

/// Feeds one downloaded object through the streaming parser, delivering in-window matches.
/// Returns true when the record budget ran out inside this object.
fn deliver_object(
    key: &str,
    bytes: &[u8],
    filter: &EventFilter,
    window: Window,
    budget: &mut Budget,
    coverage: &mut Coverage,
    sink: &mut (dyn FnMut(Record) + Send),
) -> bool {
    let mut capped = false;
    let mut delivered = 0u64;
    let mut on_record = |r: Record| match budget.admit(r, filter, window, sink) {
        Admission::Delivered => delivered += 1,
        Admission::BudgetFull => capped = true,
        Admission::NotAsked => {}
    };
    // Same detection as files on disk (the `.gz` name), plus the gzip magic number: a key
    // renamed by a copy tool still decompresses, and JSON never starts with 0x1f.
    let gzipped = key.to_ascii_lowercase().ends_with(".gz") || bytes.starts_with(&[0x1f, 0x8b]);
    let outcome = if gzipped {
        // Multi-member, as for files on disk: concatenated gzip streams are valid gzip.
        read_log_object(MultiGzDecoder::new(bytes), &|_| true, &mut on_record)
    } else {
        read_log_object(bytes, &|_| true, &mut on_record)
    };
    coverage.records += delivered;
    // A truncated or corrupt object still delivered what came before the damage; it is
    // counted once as unusable, like an unreadable file on disk.
    coverage.skipped += outcome.skipped_records + u64::from(outcome.error.is_some());
    capped
}

impl EvidenceSource for S3LogSource {
    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        let mut coverage = Coverage::default();
        let days = DayRange::of(window);
        // Keys below a region folder sort by date, so the first key past the window ends the
        // listing; under a broader prefix other regions or accounts may follow.
        let sorted_by_day = is_region_folder(&self.prefix);
        let start_after = self.start_after(days);
        let mut token: Option<String> = None;
        'pages: loop {
            if let Some(why) = budget.exhausted() {
                coverage.incomplete = Some(why.to_string());
                break;
            }
            budget.take_request();
            coverage.requests += 1;
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_start_after(start_after.clone())
                .set_max_keys(self.page_size)
                .set_continuation_token(token.take())
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    if is_access_denied(&e, status) {
                        return Err(EvidenceError::AccessDenied {
                            source_name: SOURCE_NAME,
                            permission: "s3:ListBucket",
                            message: format!(
                                "listing s3://{}/{}: {}",
                                self.bucket,
                                self.prefix,
                                e.message().unwrap_or("forbidden")
                            ),
                        });
                    }
                    if e.code() == Some("NoSuchBucket") || status == Some(404) {
                        return Err(EvidenceError::Unavailable {
                            source_name: SOURCE_NAME,
                            message: format!(
                                "bucket {:?} does not exist; check the trail's S3 bucket \
                                 (S3BucketName) and the region",
                                self.bucket
                            ),
                        });
                    }
                    let detail = e
                        .code()
                        .map(str::to_string)
                        .unwrap_or_else(|| aws_sdk_s3::error::DisplayErrorContext(&e).to_string());
                    coverage.incomplete = Some(format!(
                        "ListObjectsV2 failed after {} request(s): {detail}",
                        coverage.requests - 1
                    ));
                    break;
                }
            };
            for object in page.contents.unwrap_or_default() {
                let Some(key) = object.key else { continue };
                if !is_log_key(&key) {
                    continue;
                }
                if let Some(day) = key_day_ms(&key) {
                    if day > days.last_ms && sorted_by_day {
                        break 'pages;
                    }
                    if day < days.first_ms || day > days.last_ms {
                        continue;
                    }
                }
                if let Some(why) = budget.exhausted() {
                    coverage.incomplete = Some(why.to_string());
                    return Ok(coverage);
                }
                budget.take_request();
                coverage.requests += 1;
                let fetched = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await;
                let object = match fetched {
                    Ok(object) => object,
                    Err(e) => {
                        let status = e.raw_response().map(|r| r.status().as_u16());
                        if is_access_denied(&e, status) {
                            return Err(EvidenceError::AccessDenied {
                                source_name: SOURCE_NAME,
                                permission:
                                    "s3:GetObject (and kms:Decrypt if the trail uses SSE-KMS)",
                                message: format!(
                                    "reading s3://{}/{key}: {}",
                                    self.bucket,
                                    e.message().unwrap_or("forbidden")
                                ),
                            });
                        }
                        // Deleted since the listing, or a fault that outlasted the retries:
                        // one file missing from the answer, counted like an unreadable file.
                        coverage.skipped += 1;
                        continue;
                    }
                };
                // One object in memory at a time: the compressed body, decompressed as it
                // streams through the parser.
                let bytes = match object.body.collect().await {
                    Ok(body) => body.into_bytes(),
                    Err(_) => {
                        coverage.skipped += 1;
                        continue;
                    }
                };
                if deliver_object(&key, &bytes, filter, window, budget, &mut coverage, sink) {
                    coverage.incomplete = Some("record budget exhausted".to_string());
                    return Ok(coverage);
                }
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated == Some(true) && !next.is_empty() => {
                    token = Some(next)
                }
                _ => break,
            }
        }
        Ok(coverage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    const KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T1410Z_a1.json.gz";

    #[test]
    fn reads_the_day_folder_of_delivered_keys() {
        assert_eq!(
            key_day_ms(KEY),
            parse_rfc3339_ms("2026-11-20T00:00:00Z").ok()
        );
        let org = "logs/AWSLogs/o-abc/123456789012/CloudTrail/eu-west-1/2026/01/02/f.json.gz";
        assert_eq!(
            key_day_ms(org),
            parse_rfc3339_ms("2026-01-02T00:00:00Z").ok()
        );
        assert_eq!(key_day_ms("exports/today.json"), None);
        assert_eq!(
            key_day_ms("AWSLogs/1/CloudTrail/us-east-1/2026/13/40/f.json"),
            None
        );
    }

    #[test]
    fn lists_from_the_windows_first_day_only_under_a_region_folder() {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .build(),
        );
        let days = DayRange::of(window());
        let region = S3LogSource::new(
            client.clone(),
            "b",
            "AWSLogs/123456789012/CloudTrail/us-east-1",
        );
        assert_eq!(
            region.start_after(days).as_deref(),
            Some("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/19")
        );
        assert!(KEY > "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/19");
        let broad = S3LogSource::new(client, "b", "AWSLogs/123456789012/");
        assert_eq!(broad.start_after(days), None);
    }

    #[test]
    fn skips_digests_and_folder_markers() {
        assert!(is_log_key(KEY));
        assert!(!is_log_key(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/20/d.json.gz"
        ));
        assert!(!is_log_key("AWSLogs/1/CloudTrail/us-east-1/2026/11/20/"));
    }

    #[test]
    fn a_truncated_object_keeps_earlier_records_and_counts_once() {
        let good = r#"{"eventTime":"2026-11-20T14:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"1","userIdentity":{"type":"IAMUser","accessKeyId":"AKIAX"}}"#;
        let body = format!(r#"{{"Records":[{good},{good},{{"eventTime":"2026-"#);
        let mut budget = Budget::new(10, 10, None);
        let mut coverage = Coverage::default();
        let mut seen = Vec::new();
        let capped = deliver_object(
            "f.json",
            body.as_bytes(),
            &EventFilter::CallerAccessKey("AKIAX".into()),
            window(),
            &mut budget,
            &mut coverage,
            &mut |r| seen.push(r),
        );
        assert!(!capped);
        assert_eq!((seen.len(), coverage.records, coverage.skipped), (2, 2, 1));

        let mut budget = Budget::new(10, 1, None);
        let mut coverage = Coverage::default();
        let capped = deliver_object(
            "f.json",
            body.as_bytes(),
            &EventFilter::CallerAccessKey("AKIAX".into()),
            window(),
            &mut budget,
            &mut coverage,
            &mut |_| {},
        );
        assert!(capped);
        assert_eq!(coverage.records, 1);
    }
}
