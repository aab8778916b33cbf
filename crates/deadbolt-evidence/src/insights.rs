//! The playbook's CloudWatch Logs Insights queries (2.1.1) over the trail's log group:
//! `StartQuery`, then `GetQueryResults` until the query completes, within the budget.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use deadbolt_trail::queries::{PlaybookQuery, QueryRow};
use deadbolt_trail::source::{Budget, EvidenceError};
use deadbolt_trail::Window;

const SOURCE: &str = "logs:StartQuery";
/// Insights returns at most 10,000 rows; the CLI shows far fewer.
pub const MAX_ROWS: i32 = 1000;

/// What an Insights query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsResult {
    pub query_string: String,
    pub rows: Vec<QueryRow>,
    /// Remote requests: one StartQuery and each GetQueryResults poll.
    pub requests: u32,
    /// Set when the answer is partial or absent: why.
    pub incomplete: Option<String>,
}

/// Run one playbook query with Logs Insights over `log_group` for `window`.
pub async fn run_insights(
    client: &aws_sdk_cloudwatchlogs::Client,
    log_group: &str,
    query: &PlaybookQuery,
    window: Window,
    budget: &mut Budget,
    poll_every: Duration,
) -> Result<InsightsResult, EvidenceError> {
    let query_string = query
        .logs_insights()
        .ok_or_else(|| EvidenceError::Unavailable {
            source_name: SOURCE,
            message: format!(
            "the {} argument contains a quote, backslash or pipe; it is never spliced into a query",
            query.name()
        ),
        })?;
    let mut result = InsightsResult {
        query_string: query_string.clone(),
        rows: Vec::new(),
        requests: 0,
        incomplete: None,
    };
    if !budget.take_request() {
        result.incomplete = Some("request budget exhausted before the query started".into());
        return Ok(result);
    }
    result.requests += 1;
    let started = client
        .start_query()
        .log_group_name(log_group)
        // Insights takes seconds since the epoch.
        .start_time(window.start_ms.div_euclid(1000))
        .end_time(window.end_ms.div_euclid(1000) + 1)
        .query_string(&query_string)
        .limit(MAX_ROWS)
        .send()
        .await
        .map_err(|e| error(e.code(), e.message(), log_group))?;
    let Some(query_id) = started.query_id else {
        return Err(EvidenceError::Unavailable {
            source_name: SOURCE,
            message: "StartQuery returned no queryId".into(),
        });
    };
    loop {
        if !budget.take_request() {
            result.incomplete = Some(format!(
                "query {query_id} still running when the request budget ran out"
            ));
            return Ok(result);
        }
        result.requests += 1;
        let page = client
            .get_query_results()
            .query_id(&query_id)
            .send()
            .await
            .map_err(|e| error(e.code(), e.message(), log_group))?;
        match page.status {
            Some(QueryStatus::Complete) => {
                result.rows = page
                    .results
                    .unwrap_or_default()
                    .iter()
                    .map(|fields| {
                        QueryRow::from_fields(
                            fields
                                .iter()
                                .filter_map(|f| Some((f.field.as_deref()?, f.value.as_deref()?))),
                        )
                    })
                    .collect();
                result.rows.sort_by(|a, b| a.event_time.cmp(&b.event_time));
                return Ok(result);
            }
            Some(QueryStatus::Running) | Some(QueryStatus::Scheduled) | None => {
                tokio::time::sleep(poll_every).await;
            }
            Some(other) => {
                result.incomplete = Some(format!("query {query_id} ended {}", other.as_str()));
                return Ok(result);
            }
        }
    }
}

fn error(code: Option<&str>, message: Option<&str>, log_group: &str) -> EvidenceError {
    let message = message.unwrap_or("").to_string();
    match code {
        Some(c) if c.contains("AccessDenied") => EvidenceError::AccessDenied {
            source_name: SOURCE,
            permission: "logs:StartQuery and logs:GetQueryResults",
            message,
        },
        Some("ResourceNotFoundException") => EvidenceError::Unavailable {
            source_name: SOURCE,
            message: format!("log group {log_group} does not exist: {message}"),
        },
        other => EvidenceError::Unavailable {
            source_name: SOURCE,
            message: format!("{}: {message}", other.unwrap_or("error")),
        },
    }
}

/// Against recorded StartQuery / GetQueryResults responses through the SDK's mock layer
/// (moto accepts Insights queries but ignores their filters and fields).
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const RUNNING: &str = r#"{"results":[],"statistics":{"recordsMatched":0.0,"recordsScanned":120.0,"bytesScanned":98304.0},"status":"Running"}"#;
    const COMPLETE: &str = r#"{"results":[[{"field":"awsRegion","value":"us-east-1"},{"field":"userIdentity.arn","value":"arn:aws:sts::111122223333:assumed-role/DemoRole1/sara"},{"field":"eventSource","value":"iam.amazonaws.com"},{"field":"eventName","value":"AttachRolePolicy"},{"field":"sourceIPAddress","value":"198.51.100.24"},{"field":"userAgent","value":"aws-cli/2.15.30"},{"field":"errorCode","value":"AccessDenied"},{"field":"eventTime","value":"2026-11-20T14:10:03Z"},{"field":"eventID","value":"b9c0d1e2-6666-4f7a-8b8c-0c0ffee00009"},{"field":"@ptr","value":"CmAKJwojMTExMTIyMjIzMzMzOkNsb3VkVHJhaWwvRGVmYXVsdExvZ0dyb3VwEAESNRoYAgZnYJjHAAAAAGYfXZEAAAAAgAAAAAAAAAAABQ=="}]],"statistics":{"recordsMatched":1.0,"recordsScanned":240.0,"bytesScanned":196608.0},"status":"Complete"}"#;

    fn window() -> Window {
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn runs_the_playbooks_query_and_polls_until_complete() {
        let start = mock!(Client::start_query)
            .match_requests(|r| {
                r.query_string() == PlaybookQuery::AccessDenied.logs_insights().as_deref()
                    && r.log_group_name() == Some("CloudTrail/DefaultLogGroup")
                    && r.start_time() == Some(1_795_182_300)
            })
            .sequence()
            .http_status(
                200,
                Some(r#"{"queryId":"12ab3456-12ab-123a-789e-1234567890ab"}"#.into()),
            )
            .build();
        let results = mock!(Client::get_query_results)
            .match_requests(|r| r.query_id() == Some("12ab3456-12ab-123a-789e-1234567890ab"))
            .sequence()
            .http_status(200, Some(RUNNING.into()))
            .http_status(200, Some(COMPLETE.into()))
            .build();
        let client = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&start, &results]
        );
        let mut budget = Budget::new(10, 1000, None);
        let out = run_insights(
            &client,
            "CloudTrail/DefaultLogGroup",
            &PlaybookQuery::AccessDenied,
            window(),
            &mut budget,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!((out.requests, out.incomplete.as_deref()), (3, None));
        assert_eq!(out.rows.len(), 1);
        let row = &out.rows[0];
        assert_eq!(
            (row.event_name.as_str(), row.error_code.as_deref()),
            ("AttachRolePolicy", Some("AccessDenied"))
        );
        assert_eq!(
            row.user_arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/DemoRole1/sara")
        );
        assert_eq!(results.num_calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_that_runs_out_while_polling_says_so() {
        let start = mock!(Client::start_query)
            .sequence()
            .http_status(200, Some(r#"{"queryId":"q-1"}"#.into()))
            .build();
        let results = mock!(Client::get_query_results)
            .sequence()
            .http_status(200, Some(RUNNING.into()))
            .repeatedly()
            .build();
        let client = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&start, &results]
        );
        let mut budget = Budget::new(3, 1000, None);
        let out = run_insights(
            &client,
            "g",
            &PlaybookQuery::ListBuckets,
            window(),
            &mut budget,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!(out.requests, 3);
        assert!(out.incomplete.unwrap().contains("still running"));
    }

    #[tokio::test]
    async fn a_missing_log_group_is_named() {
        let start = mock!(Client::start_query)
            .sequence()
            .http_status(400, Some(r#"{"__type":"ResourceNotFoundException","message":"Log group does not exist"}"#.into()))
            .build();
        let client = mock_client!(aws_sdk_cloudwatchlogs, [&start]);
        let mut budget = Budget::new(3, 1000, None);
        let err = run_insights(
            &client,
            "CloudTrail/Nope",
            &PlaybookQuery::ListBuckets,
            window(),
            &mut budget,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("log group CloudTrail/Nope does not exist"),
            "{err}"
        );
    }
}
