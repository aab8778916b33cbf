//! A trail delivered to a CloudWatch Logs log group, as an evidence source: `FilterLogEvents`
//! with a term pattern (the playbook's `--filter-pattern AKIA…`) so the service does the coarse
//! narrowing, then each message parsed as a CloudTrail record and checked locally with
//! [`EventFilter::matches`] and the window, so the answer is exact whatever the pattern let
//! through. Lazy paging, one budget request per page.

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use deadbolt_trail::activity::Window;
use deadbolt_trail::source::{Budget, Coverage, EventFilter, EvidenceError, EvidenceSource};
use deadbolt_trail::Record;

const SOURCE_NAME: &str = "logs:FilterLogEvents";

/// How far the server-side time range is widened on each side of the window. A log event's
/// timestamp is set by whoever delivered it (CloudTrail, a forwarder), not necessarily equal to
/// the record's `eventTime`; widening costs a little scanning, and the local `eventTime` check
/// keeps the answer exact.
pub const TIMESTAMP_SLACK_MS: i64 = 15 * 60 * 1000;

/// FilterLogEvents behind the domain's [`EvidenceSource`].
#[derive(Debug, Clone)]
pub struct CloudWatchLogsSource {
    client: aws_sdk_cloudwatchlogs::Client,
    log_group: String,
    page_size: Option<i32>,
}

impl CloudWatchLogsSource {
    /// `log_group` is the trail's `CloudWatchLogsLogGroupArn` group name, e.g.
    /// `CloudTrail/DefaultLogGroup`.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, log_group: impl Into<String>) -> Self {
        CloudWatchLogsSource {
            client,
            log_group: log_group.into(),
            page_size: None,
        }
    }

    /// Events per page (FilterLogEvents `limit`, 1..=10000). Unset, the service's own maximum
    /// applies, which is what an investigation wants: fewer requests against the budget.
    pub fn with_page_size(mut self, events: i32) -> Self {
        self.page_size = Some(events.clamp(1, 10_000));
        self
    }

    pub fn log_group(&self) -> &str {
        &self.log_group
    }
}

/// The filter pattern that narrows a question server-side, if one can be written safely.
///
/// A quoted term matches the value anywhere in the message, which is a superset of the field
/// match done locally. A value containing `"` or `\` cannot be quoted without an escaping
/// syntax CloudWatch Logs does not document, so such a question scans the window instead
/// (still budget-bounded and still exact).
pub fn filter_pattern(filter: &EventFilter) -> Option<String> {
    let term = match filter {
        EventFilter::CallerAccessKey(v)
        | EventFilter::IssuedAccessKey(v)
        | EventFilter::Username(v)
        | EventFilter::SourceIp(v)
        | EventFilter::EventName(v) => v,
        // The playbook's `Unauthorized|Denied|Forbidden`, as OR-ed terms.
        EventFilter::AccessDenied => return Some("?AccessDenied ?Unauthorized ?Forbidden".into()),
    };
    if term.is_empty() || term.contains(['"', '\\']) {
        return None;
    }
    Some(format!("\"{term}\""))
}

impl EvidenceSource for CloudWatchLogsSource {
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
        let pattern = filter_pattern(filter);
        let mut token: Option<String> = None;
        loop {
            if let Some(why) = budget.exhausted() {
                coverage.incomplete = Some(why.to_string());
                break;
            }
            budget.take_request();
            let request = self
                .client
                .filter_log_events()
                .log_group_name(&self.log_group)
                .start_time(window.start_ms.saturating_sub(TIMESTAMP_SLACK_MS))
                .end_time(window.end_ms.saturating_add(TIMESTAMP_SLACK_MS))
                .set_filter_pattern(pattern.clone())
                .set_limit(self.page_size)
                .set_next_token(token.take());
            coverage.requests += 1;
            let page = match request.send().await {
                Ok(page) => page,
                Err(e) => {
                    let code = e.code().unwrap_or("").to_string();
                    // A 403 is a permission problem whatever the body says: some endpoints
                    // (moto, proxies) answer denials in a shape the JSON parser cannot read.
                    let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
                    if forbidden || code.contains("AccessDenied") || code == "UnauthorizedOperation"
                    {
                        return Err(EvidenceError::AccessDenied {
                            source_name: SOURCE_NAME,
                            permission: "logs:FilterLogEvents",
                            message: e.message().unwrap_or("").to_string(),
                        });
                    }
                    if code == "ResourceNotFoundException" {
                        return Err(EvidenceError::Unavailable {
                            source_name: SOURCE_NAME,
                            message: format!(
                                "log group {:?} does not exist in this account and region; check \
                                 the trail's CloudWatch Logs log group (CloudWatchLogsLogGroupArn) \
                                 and the region",
                                self.log_group
                            ),
                        });
                    }
                    // Throttling that outlasted the SDK's retries, or a transient fault: keep
                    // what was read and say exactly where it stopped.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let detail = crate::short_cause(&code, status);
                    coverage.incomplete = Some(format!(
                        "FilterLogEvents failed after {} page(s): {detail}",
                        coverage.requests - 1
                    ));
                    break;
                }
            };
            // A log group may hold more than CloudTrail's records (a shared group, a
            // forwarder's banner lines): anything that is not a record is counted, not fatal.
            let texts = page
                .events
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.message);
            if !coverage.take_page(texts, filter, window, budget, sink) {
                return Ok(coverage);
            }
            // FilterLogEvents may return an empty page with a token while it is still
            // searching: only a missing token means the search is complete.
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok(coverage)
    }
}

/// Request shape, paging, parsing and error mapping against the SDK's mock layer; the real
/// service behaviour (patterns, paging tokens) is exercised against moto in `tests/e2e`.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use std::sync::{Arc, Mutex};

    const KEY: &str = "ASIARDEMO1SARAEXAMP2";

    fn window() -> Window {
        // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    fn record(time: &str, name: &str, key: &str) -> String {
        format!(
            r#"{{"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","eventID":"{name}-{time}","userIdentity":{{"type":"AssumedRole","accessKeyId":"{key}"}}}}"#
        )
    }

    fn page(messages: &[String], next: Option<&str>) -> String {
        let events: Vec<String> = messages
            .iter()
            .map(|m| {
                format!(
                    r#"{{"logStreamName":"s","timestamp":1795183000000,"message":{}}}"#,
                    json_string(m)
                )
            })
            .collect();
        let next = next.map_or("null".to_string(), |t| format!("\"{t}\""));
        format!(r#"{{"events":[{}],"nextToken":{next}}}"#, events.join(","))
    }

    fn json_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    async fn collect(
        source: &CloudWatchLogsSource,
        filter: EventFilter,
        budget: &mut Budget,
    ) -> (Result<Coverage, EvidenceError>, Vec<Record>) {
        let mut records = Vec::new();
        let coverage = source
            .events(&filter, window(), budget, &mut |r| records.push(r))
            .await;
        (coverage, records)
    }

    #[test]
    fn patterns_quote_terms_and_refuse_what_cannot_be_quoted() {
        assert_eq!(
            filter_pattern(&EventFilter::CallerAccessKey(KEY.into())).as_deref(),
            Some("\"ASIARDEMO1SARAEXAMP2\"")
        );
        assert_eq!(
            filter_pattern(&EventFilter::SourceIp("192.0.2.1".into())).as_deref(),
            Some("\"192.0.2.1\"")
        );
        assert_eq!(
            filter_pattern(&EventFilter::AccessDenied).as_deref(),
            Some("?AccessDenied ?Unauthorized ?Forbidden")
        );
        assert_eq!(filter_pattern(&EventFilter::Username("a\"b".into())), None);
        assert_eq!(filter_pattern(&EventFilter::EventName(String::new())), None);
    }

    #[tokio::test]
    async fn pages_with_the_token_filters_locally_and_counts_junk() {
        let first = page(
            &[
                record("2026-11-20T14:06:02Z", "DescribeInstances", KEY),
                // Let through by the term pattern but not the caller: dropped locally.
                record("2026-11-20T14:07:15Z", "DescribeInstances", "ASIAOTHER"),
                "not json at all".to_string(),
            ],
            Some("tok-2"),
        );
        let second = page(
            &[
                record("2026-11-20T14:08:44Z", "RunInstances", KEY),
                // Outside the window (the server range is widened): dropped locally.
                record("2026-11-20T16:05:00Z", "RunInstances", KEY),
            ],
            None,
        );
        let tokens: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = tokens.clone();
        let rule = mock!(Client::filter_log_events)
            .match_requests(move |req| {
                seen.lock()
                    .unwrap()
                    .push(req.next_token().map(str::to_string));
                req.log_group_name() == Some("CloudTrail/DefaultLogGroup")
                    && req.filter_pattern() == Some("\"ASIARDEMO1SARAEXAMP2\"")
                    && req.start_time() == Some(1_795_182_300_000 - TIMESTAMP_SLACK_MS)
                    && req.end_time() == Some(1_795_190_400_000 + TIMESTAMP_SLACK_MS)
            })
            .sequence()
            .http_status(200, Some(first))
            .http_status(200, Some(second))
            .build();
        let source = CloudWatchLogsSource::new(
            mock_client!(aws_sdk_cloudwatchlogs, RuleMode::Sequential, [&rule]),
            "CloudTrail/DefaultLogGroup",
        );
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, records) = collect(
            &source,
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert_eq!(
            (
                coverage.requests,
                coverage.records,
                coverage.skipped,
                coverage.incomplete
            ),
            (2, 2, 1, None)
        );
        assert_eq!(budget.requests_left, 8);
        assert_eq!(*tokens.lock().unwrap(), [None, Some("tok-2".to_string())]);
        let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
        assert_eq!(names, ["DescribeInstances", "RunInstances"]);
    }

    #[tokio::test]
    async fn stops_at_the_record_budget() {
        let body = page(
            &[
                record("2026-11-20T14:06:02Z", "DescribeInstances", KEY),
                record("2026-11-20T14:08:44Z", "RunInstances", KEY),
            ],
            Some("more"),
        );
        let rule = mock!(Client::filter_log_events)
            .sequence()
            .http_status(200, Some(body))
            .build();
        let source = CloudWatchLogsSource::new(mock_client!(aws_sdk_cloudwatchlogs, [&rule]), "g");
        let mut budget = Budget::new(10, 1, None);
        let (coverage, records) = collect(
            &source,
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            coverage.incomplete.as_deref(),
            Some("record budget exhausted")
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn access_denied_and_missing_group_are_actionable_errors() {
        let denied = mock!(Client::filter_log_events)
            .sequence()
            .http_status(400, Some(r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: logs:FilterLogEvents"}"#.into()))
            .build();
        let source =
            CloudWatchLogsSource::new(mock_client!(aws_sdk_cloudwatchlogs, [&denied]), "g");
        let (coverage, _) = collect(
            &source,
            EventFilter::AccessDenied,
            &mut Budget::new(10, 1000, None),
        )
        .await;
        let err = coverage.unwrap_err().to_string();
        assert!(err.contains("grant logs:FilterLogEvents"), "{err}");

        // A denial in a body the JSON parser cannot read (moto's XML shape): the 403 decides.
        let xml_denial = mock!(Client::filter_log_events)
            .sequence()
            .http_status(403, Some("<ErrorResponse><Errors><Error><Code>AccessDenied</Code></Error></Errors></ErrorResponse>".into()))
            .build();
        let source =
            CloudWatchLogsSource::new(mock_client!(aws_sdk_cloudwatchlogs, [&xml_denial]), "g");
        let (coverage, _) = collect(
            &source,
            EventFilter::AccessDenied,
            &mut Budget::new(10, 1000, None),
        )
        .await;
        let err = coverage.unwrap_err().to_string();
        assert!(err.contains("grant logs:FilterLogEvents"), "{err}");

        let missing = mock!(Client::filter_log_events)
            .sequence()
            .http_status(400, Some(r#"{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}"#.into()))
            .build();
        let source = CloudWatchLogsSource::new(
            mock_client!(aws_sdk_cloudwatchlogs, [&missing]),
            "CloudTrail/Nope",
        );
        let (coverage, _) = collect(
            &source,
            EventFilter::AccessDenied,
            &mut Budget::new(10, 1000, None),
        )
        .await;
        let err = coverage.unwrap_err().to_string();
        assert!(err.contains("CloudTrail/Nope"), "{err}");
    }
}
