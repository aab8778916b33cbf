//! CloudTrail `LookupEvents` as an evidence source: available in every account with no setup
//! (90 days of management events), but limited to 2 requests per second per account and region
//! and 50 events a page. So: one request spacer in front of every request (at least 500 ms
//! apart, no burst), the most selective lookup attribute for each question, lazy paging, and a
//! stop at the investigation's budget.

use std::time::Duration;

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use deadbolt_trail::activity::Window;
use deadbolt_trail::source::{Budget, Coverage, EventFilter, EvidenceError, EvidenceSource};
use deadbolt_trail::Record;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// CloudTrail's documented LookupEvents quota.
pub const LOOKUP_EVENTS_PER_SECOND: u32 = 2;
/// The largest page LookupEvents returns.
pub const PAGE_SIZE: i32 = 50;

/// Spaces requests at least `1 / rate` apart (no burst): never more than `rate` requests in
/// any one-second window from this process.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn per_second(rate: u32) -> Self {
        RateLimiter {
            interval: Duration::from_millis(1000 / u64::from(rate.max(1))),
            next: Mutex::new(None),
        }
    }

    /// Wait for the next slot.
    pub async fn acquire(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |n| n.max(now));
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        *next = Some(at + self.interval);
    }
}

/// LookupEvents, behind the domain's [`EvidenceSource`].
#[derive(Debug)]
pub struct LookupEventsSource {
    client: aws_sdk_cloudtrail::Client,
    limiter: RateLimiter,
}

impl LookupEventsSource {
    pub fn new(client: aws_sdk_cloudtrail::Client) -> Self {
        LookupEventsSource {
            client,
            limiter: RateLimiter::per_second(LOOKUP_EVENTS_PER_SECOND),
        }
    }
}

/// The LookupEvents attribute that answers a question server-side, if there is one. Questions
/// without one become a scan of the window (budget-bounded) filtered locally.
fn attribute_for(filter: &EventFilter) -> Option<(LookupAttributeKey, &str)> {
    match filter {
        EventFilter::CallerAccessKey(k) => Some((LookupAttributeKey::AccessKeyId, k)),
        // CloudTrail lists the key an STS call issued among the event's resources.
        EventFilter::IssuedAccessKey(k) => Some((LookupAttributeKey::ResourceName, k)),
        EventFilter::Username(u) => Some((LookupAttributeKey::Username, u)),
        EventFilter::EventName(n) => Some((LookupAttributeKey::EventName, n)),
        EventFilter::SourceIp(_) | EventFilter::AccessDenied => None,
    }
}

impl EvidenceSource for LookupEventsSource {
    fn name(&self) -> &'static str {
        "cloudtrail:LookupEvents"
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        let mut coverage = Coverage::default();
        let mut token: Option<String> = None;
        loop {
            if let Some(why) = budget.exhausted() {
                coverage.incomplete = Some(why.to_string());
                break;
            }
            budget.take_request();
            self.limiter.acquire().await;
            let mut request = self
                .client
                .lookup_events()
                .start_time(DateTime::from_millis(window.start_ms))
                .end_time(DateTime::from_millis(window.end_ms))
                .max_results(PAGE_SIZE)
                .set_next_token(token.take());
            if let Some((key, value)) = attribute_for(filter) {
                let attribute = LookupAttribute::builder()
                    .attribute_key(key)
                    .attribute_value(value)
                    .build()
                    .map_err(|e| EvidenceError::Unavailable {
                        source_name: "cloudtrail:LookupEvents",
                        message: e.to_string(),
                    })?;
                request = request.lookup_attributes(attribute);
            }
            coverage.requests += 1;
            let page = match request.send().await {
                Ok(page) => page,
                Err(e) => {
                    let code = e.code().unwrap_or("").to_string();
                    if code.contains("AccessDenied") || code == "UnauthorizedOperation" {
                        return Err(EvidenceError::AccessDenied {
                            source_name: "cloudtrail:LookupEvents",
                            permission: "cloudtrail:LookupEvents",
                            message: e.message().unwrap_or("").to_string(),
                        });
                    }
                    // Throttling that outlasted the SDK's retries, or a transient fault: keep
                    // what was read and say exactly where it stopped.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let detail = crate::short_cause(&code, status);
                    coverage.incomplete = Some(format!(
                        "LookupEvents failed after {} page(s): {detail}",
                        coverage.requests - 1
                    ));
                    break;
                }
            };
            let texts = page
                .events
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.cloud_trail_event);
            if !coverage.take_page(texts, filter, window, budget, sink) {
                return Ok(coverage);
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok(coverage)
    }
}

/// The adapter against recorded LookupEvents responses, at the HTTP level through the SDK's own
/// mock layer: paging, the rate limit, throttling, budgets and permissions.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_cloudtrail::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_types::config_bag::ConfigBag;
    use std::sync::{Arc, Mutex as StdMutex};

    const KEY: &str = "ASIARDEMO1SARAEXAMP2";

    fn recorded(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/lookup-events/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn window() -> Window {
        // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    async fn collect(
        source: &LookupEventsSource,
        filter: EventFilter,
        budget: &mut Budget,
    ) -> (Result<Coverage, EvidenceError>, Vec<Record>) {
        let mut records = Vec::new();
        let coverage = source
            .events(&filter, window(), budget, &mut |r| records.push(r))
            .await;
        (coverage, records)
    }

    /// Records when each LookupEvents call starts (once per call, retries excluded).
    #[derive(Debug, Clone, Default)]
    struct SendTimes(Arc<StdMutex<Vec<Instant>>>);

    impl Intercept for SendTimes {
        fn name(&self) -> &'static str {
            "SendTimes"
        }
        fn read_before_execution(
            &self,
            _ctx: &BeforeSerializationInterceptorContextRef<'_>,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.lock().unwrap().push(Instant::now());
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pages_lazily_by_access_key_and_holds_the_rate_under_two_per_second() {
        let times = SendTimes::default();
        let rule = mock!(Client::lookup_events)
            .match_requests(|req| {
                let attr = &req.lookup_attributes()[0];
                attr.attribute_key() == &LookupAttributeKey::AccessKeyId
                    && attr.attribute_value() == KEY
                    && req.max_results() == Some(PAGE_SIZE)
            })
            .sequence()
            .http_status(200, Some(recorded("caller-key-page1.json")))
            .http_status(200, Some(recorded("caller-key-page2.json")))
            .build();
        let issuer = mock!(Client::lookup_events)
            .match_requests(|req| {
                req.lookup_attributes()[0].attribute_key() == &LookupAttributeKey::ResourceName
            })
            .sequence()
            .http_status(200, Some(recorded("issued-key.json")))
            .build();
        let recorder = times.clone();
        let client = mock_client!(
            aws_sdk_cloudtrail,
            RuleMode::MatchAny,
            [&rule, &issuer],
            |c| c.interceptor(recorder.clone())
        );
        let source = LookupEventsSource::new(client);
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, records) = collect(
            &source,
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert_eq!(
            (coverage.requests, coverage.records, coverage.incomplete),
            (2, 4, None)
        );
        assert_eq!(rule.num_calls(), 2);
        assert_eq!(budget.requests_left, 8);
        let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "AttachRolePolicy",
                "AttachRolePolicy",
                "RunInstances",
                "DescribeInstances"
            ]
        );

        // A second question right away still waits for the limiter.
        let (coverage, records) = collect(
            &source,
            EventFilter::IssuedAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        assert_eq!(coverage.unwrap().records, 1);
        assert_eq!(records[0].event_name, "AssumeRole");

        let sent = times.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 3, "three requests in all");
        for pair in sent.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(500),
                "requests {:?} apart",
                pair[1] - pair[0]
            );
        }
    }

    /// CloudTrail's side of LookupEvents, simulated over the walkthrough's log files: the lookup
    /// attribute and time range applied server-side, newest first, 50 events a page.
    pub(crate) fn simulated_cloudtrail(
        req: &aws_sdk_cloudtrail::operation::lookup_events::LookupEventsInput,
    ) -> aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput {
        let dir = format!(
            "{}/../../tests/fixtures/cloudtrail",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut records = Vec::new();
        deadbolt_trail::files::read_path(std::path::Path::new(&dir), |r| records.push(r)).unwrap();
        let start = req
            .start_time()
            .map(|t| t.to_millis().unwrap())
            .unwrap_or(i64::MIN);
        let end = req
            .end_time()
            .map(|t| t.to_millis().unwrap())
            .unwrap_or(i64::MAX);
        let filter = req.lookup_attributes().first().map(|a| {
            let v = a.attribute_value().to_string();
            match a.attribute_key() {
                LookupAttributeKey::AccessKeyId => EventFilter::CallerAccessKey(v),
                LookupAttributeKey::ResourceName => EventFilter::IssuedAccessKey(v),
                LookupAttributeKey::Username => EventFilter::Username(v),
                LookupAttributeKey::EventName => EventFilter::EventName(v),
                other => panic!("the investigation should not look up {other:?}"),
            }
        });
        let mut seen = std::collections::HashSet::new();
        let mut matching: Vec<_> = records
            .into_iter()
            .filter(|r| seen.insert(r.event_id.clone()))
            .filter(|r| r.event_time_ms().is_ok_and(|t| t >= start && t <= end))
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        matching.sort_by(|a, b| b.event_time.cmp(&a.event_time));
        assert!(
            matching.len() <= PAGE_SIZE as usize,
            "the scenario fits one page per question"
        );
        let events = matching
            .into_iter()
            .map(|r| {
                aws_sdk_cloudtrail::types::Event::builder()
                    .event_id(r.event_id.clone())
                    .event_name(r.event_name.clone())
                    .cloud_trail_event(serde_json::to_string(&r).unwrap())
                    .build()
            })
            .collect();
        aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput::builder()
            .set_events(Some(events))
            .build()
    }

    /// The number of LookupEvents calls the default investigation makes for the walkthrough's
    /// finding, stated and held: one request per question, four questions.
    #[tokio::test(start_paused = true)]
    async fn the_default_investigation_of_the_scenario_makes_four_lookup_events_calls() {
        let rule = mock!(Client::lookup_events).then_compute_output(simulated_cloudtrail);
        let times = SendTimes::default();
        let recorder = times.clone();
        let client = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, [&rule], |c| c
            .interceptor(recorder.clone()));
        let source = LookupEventsSource::new(client);
        let raw = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/scenario/finding.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let finding: deadbolt_core::finding::Finding =
            serde_json::from_value(event["detail"].clone()).unwrap();
        let subject = deadbolt_trail::Subject::from_finding(&finding).unwrap();
        let report = deadbolt_trail::investigate(
            &source,
            &subject,
            &deadbolt_trail::InvestigationOptions::default(),
            Budget::new(240, 50_000, None),
        )
        .await;
        assert!(
            report.origin_summary.contains("sara"),
            "{}",
            report.origin_summary
        );
        assert!(report.missing.is_empty(), "{:?}", report.missing);
        assert_eq!(rule.num_calls(), 4);
        let sent = times.0.lock().unwrap().clone();
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(500));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_request_budget_and_says_so() {
        let rule = mock!(Client::lookup_events)
            .sequence()
            .http_status(200, Some(recorded("caller-key-page1.json")))
            .build();
        let source = LookupEventsSource::new(mock_client!(aws_sdk_cloudtrail, [&rule]));
        let mut budget = Budget::new(1, 1000, None);
        let (coverage, records) = collect(
            &source,
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            coverage.incomplete.as_deref(),
            Some("request budget exhausted")
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_then_reported_as_incomplete_keeping_what_was_read() {
        let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string();
        let rule = mock!(Client::lookup_events)
            .sequence()
            .http_status(200, Some(recorded("caller-key-page1.json")))
            .http_status(400, Some(throttled.clone()))
            .times(3)
            .build();
        let client = mock_client!(aws_sdk_cloudtrail, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                aws_sdk_cloudtrail::config::retry::RetryConfig::standard().with_max_attempts(3)
            ));
        let source = LookupEventsSource::new(client);
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, records) = collect(
            &source,
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert_eq!(records.len(), 2, "the first page is kept");
        assert_eq!(rule.num_calls(), 4, "1 page + 3 attempts at the second");
        let why = coverage.incomplete.unwrap();
        assert!(
            why.contains("ThrottlingException") && why.contains("after 1 page"),
            "{why}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn access_denied_is_an_actionable_error() {
        let rule = mock!(Client::lookup_events)
            .sequence()
            .http_status(400, Some(r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: cloudtrail:LookupEvents"}"#.into()))
            .build();
        let source = LookupEventsSource::new(mock_client!(aws_sdk_cloudtrail, [&rule]));
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, _) = collect(&source, EventFilter::AccessDenied, &mut budget).await;
        let err = coverage.unwrap_err();
        assert!(
            err.to_string().contains("grant cloudtrail:LookupEvents"),
            "{err}"
        );
    }
}
