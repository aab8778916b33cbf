//! Amazon Athena over the organization trail's table as an evidence source: the scale path,
//! when a month of an organization's CloudTrail does not fit one Lambda's reading. Each
//! question becomes one statement (`deadbolt_trail::athena`, partition-restricted,
//! parameterized): `StartQueryExecution` in the workgroup (whose enforced configuration holds
//! the result location and its encryption), `GetQueryExecution` with backoff until it ends,
//! then `GetQueryResults` page by page. Every call is one request from the investigation's
//! budget, and the polling stops at its deadline. Rows become the same records the other
//! sources deliver, through the same window, filter and record budget.

use std::time::{Duration, Instant};

use aws_sdk_athena::error::ProvideErrorMetadata;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use deadbolt_trail::athena::{
    question_sql, record_from_row, AthenaQuery, AthenaScope, AthenaTable, QueryBuildError,
    MAX_ROWS_PER_QUESTION,
};
use deadbolt_trail::source::{Admission, Budget, Coverage, EventFilter, EvidenceError};
use deadbolt_trail::{EvidenceSource, Record, Window};
use thiserror::Error;

pub const SOURCE_NAME: &str = "athena";
/// What the caller needs, for an access-denied message.
pub const PERMISSIONS: &str = "athena:StartQueryExecution, athena:GetQueryExecution and \
     athena:GetQueryResults on the workgroup, glue:GetDatabase, glue:GetTable and \
     glue:GetPartitions on the table, s3:GetObject and s3:ListBucket on the trail's bucket, \
     and read/write on the workgroup's result location";
/// GetQueryResults' largest page.
pub const PAGE_SIZE: i32 = 1000;

/// How often to ask whether a statement has finished: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(5),
        }
    }
}

/// A statement that did not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AthenaError {
    #[error("{0}")]
    Build(#[from] QueryBuildError),
    #[error("{operation}: access denied ({message}); grant {PERMISSIONS}")]
    AccessDenied {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} failed: {cause}")]
    Api {
        operation: &'static str,
        cause: String,
    },
    #[error("StartQueryExecution returned no QueryExecutionId")]
    NoQueryId,
    #[error(
        "query {query_id} FAILED: {reason} (check the workgroup's result location, the table's \
         partition projection and the caller's Glue and S3 permissions)"
    )]
    Failed { query_id: String, reason: String },
    #[error("query {query_id} was CANCELLED: {reason}")]
    Cancelled { query_id: String, reason: String },
}

impl AthenaError {
    fn into_evidence(self) -> EvidenceError {
        match self {
            AthenaError::AccessDenied { operation, message } => EvidenceError::AccessDenied {
                source_name: SOURCE_NAME,
                permission: PERMISSIONS,
                message: format!("{operation}: {message}"),
            },
            other => EvidenceError::Unavailable {
                source_name: SOURCE_NAME,
                message: other.to_string(),
            },
        }
    }
}

fn api_error<E: ProvideErrorMetadata>(
    operation: &'static str,
    error: &E,
    http_status: Option<u16>,
) -> AthenaError {
    let code = error.code().unwrap_or("");
    let message = error.message().unwrap_or("").to_string();
    if code.contains("AccessDenied") {
        return AthenaError::AccessDenied { operation, message };
    }
    let mut cause = crate::short_cause(code, http_status);
    if !message.is_empty() {
        cause = format!("{cause}: {}", message.chars().take(300).collect::<String>());
    }
    AthenaError::Api { operation, cause }
}

/// Athena over an organization trail's table, behind the domain's [`EvidenceSource`].
#[derive(Debug, Clone)]
pub struct AthenaSource {
    client: aws_sdk_athena::Client,
    workgroup: String,
    table: AthenaTable,
    scope: AthenaScope,
    backoff: Backoff,
}

impl AthenaSource {
    pub fn new(
        client: aws_sdk_athena::Client,
        workgroup: impl Into<String>,
        table: AthenaTable,
        scope: AthenaScope,
    ) -> Self {
        AthenaSource {
            client,
            workgroup: workgroup.into(),
            table,
            scope,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn scope(&self) -> &AthenaScope {
        &self.scope
    }

    /// Start `query`; its execution id.
    async fn start(&self, query: &AthenaQuery) -> Result<String, AthenaError> {
        let context = QueryExecutionContext::builder()
            .database(self.table.database())
            .build();
        let started = self
            .client
            .start_query_execution()
            .query_string(&query.sql)
            .query_execution_context(context)
            .work_group(&self.workgroup)
            .set_execution_parameters(Some(query.parameters.clone()))
            .send()
            .await
            .map_err(|e| {
                let status = e.raw_response().map(|r| r.status().as_u16());
                api_error("StartQueryExecution", &e, status)
            })?;
        started
            .query_execution_id()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or(AthenaError::NoQueryId)
    }

    /// Best effort: a statement the investigation no longer waits for should not go on
    /// scanning (and costing). Not counted: it spends nothing the investigation could use.
    async fn stop(&self, query_id: &str) {
        let _ = self
            .client
            .stop_query_execution()
            .query_execution_id(query_id)
            .send()
            .await;
    }
}

/// Where the organization trail's table is, as the enricher's environment says (the template
/// sets these when it creates the table): `DEADBOLT_ATHENA_DATABASE` and
/// `DEADBOLT_ATHENA_TABLE` (both, or neither: then no Athena), `DEADBOLT_ATHENA_WORKGROUP`
/// (default `primary`), `DEADBOLT_ATHENA_REGIONS` (comma-separated; default every region the
/// table projects). The account is each finding's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaSettings {
    pub workgroup: String,
    pub table: AthenaTable,
    pub scope: AthenaScope,
}

pub const DEFAULT_WORKGROUP: &str = "primary";

/// An Athena configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AthenaSettingsError {
    #[error("{set} is set but {missing} is not: the organization trail's table needs both")]
    Incomplete {
        set: &'static str,
        missing: &'static str,
    },
    #[error("{variable}: {source}")]
    Invalid {
        variable: &'static str,
        #[source]
        source: deadbolt_trail::athena::AthenaConfigError,
    },
    #[error(
        "{variable} {value:?} is not an Athena workgroup name (letters, digits, '.', '_', '-', \
         at most 128)"
    )]
    BadWorkgroup {
        variable: &'static str,
        value: String,
    },
}

/// An Athena workgroup name, as the API accepts it.
pub fn is_workgroup_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl AthenaSettings {
    /// From the process environment.
    pub fn from_env() -> Result<Option<Self>, AthenaSettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (a variable's value, if set); `None` when no table is configured.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, AthenaSettingsError> {
        const DATABASE: &str = "DEADBOLT_ATHENA_DATABASE";
        const TABLE: &str = "DEADBOLT_ATHENA_TABLE";
        const WORKGROUP: &str = "DEADBOLT_ATHENA_WORKGROUP";
        const REGIONS: &str = "DEADBOLT_ATHENA_REGIONS";
        let get = |name| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let (database, table) = match (get(DATABASE), get(TABLE)) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(AthenaSettingsError::Incomplete {
                    set: DATABASE,
                    missing: TABLE,
                })
            }
            (None, Some(_)) => {
                return Err(AthenaSettingsError::Incomplete {
                    set: TABLE,
                    missing: DATABASE,
                })
            }
            (Some(database), Some(table)) => (database, table),
        };
        let table =
            AthenaTable::new(&database, &table).map_err(|source| AthenaSettingsError::Invalid {
                variable: if AthenaTable::new(&database, "t").is_err() {
                    DATABASE
                } else {
                    TABLE
                },
                source,
            })?;
        let workgroup = get(WORKGROUP).unwrap_or_else(|| DEFAULT_WORKGROUP.to_string());
        if !is_workgroup_name(&workgroup) {
            return Err(AthenaSettingsError::BadWorkgroup {
                variable: WORKGROUP,
                value: workgroup,
            });
        }
        let regions: Vec<String> = get(REGIONS)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let scope = AthenaScope::new(&[] as &[&str], &regions).map_err(|source| {
            AthenaSettingsError::Invalid {
                variable: REGIONS,
                source,
            }
        })?;
        Ok(Some(AthenaSettings {
            workgroup,
            table,
            scope,
        }))
    }

    pub fn into_source(self, client: aws_sdk_athena::Client) -> AthenaSource {
        AthenaSource::new(client, self.workgroup, self.table, self.scope)
    }
}

/// How long to sleep before the next poll: the backoff, cut short at the deadline.
fn pause(delay: Duration, deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
        None => delay,
    }
}

impl EvidenceSource for AthenaSource {
    fn name(&self) -> &'static str {
        SOURCE_NAME
    }

    /// The same tables hold every member account: narrowed to the finding's.
    fn for_account(&self, account_id: &str) -> Option<Self> {
        let scope = self.scope.for_account(account_id).ok()?;
        Some(AthenaSource {
            scope,
            ..self.clone()
        })
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        let mut coverage = Coverage::default();
        let query = question_sql(&self.table, &self.scope, filter, window)
            .map_err(|e| AthenaError::from(e).into_evidence())?;
        if !budget.take_request() {
            coverage.incomplete = Some(
                budget
                    .exhausted()
                    .unwrap_or("request budget exhausted")
                    .to_string(),
            );
            return Ok(coverage);
        }
        coverage.requests += 1;
        let query_id = self
            .start(&query)
            .await
            .map_err(AthenaError::into_evidence)?;

        // Until it ends, or the budget does.
        let mut delay = self.backoff.first;
        loop {
            tokio::time::sleep(pause(delay, budget.deadline)).await;
            delay = (delay * 2).min(self.backoff.max);
            if !budget.take_request() {
                let why = budget.exhausted().unwrap_or("request budget exhausted");
                self.stop(&query_id).await;
                coverage.incomplete = Some(format!(
                    "query {query_id} still running when the {why}; it was stopped"
                ));
                return Ok(coverage);
            }
            coverage.requests += 1;
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(&query_id)
                .send()
                .await
                .map_err(|e| {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    api_error("GetQueryExecution", &e, status).into_evidence()
                })?;
            let status = execution.query_execution().and_then(|q| q.status());
            let reason = || {
                status
                    .and_then(|s| {
                        s.athena_error()
                            .and_then(|a| a.error_message())
                            .or(s.state_change_reason())
                    })
                    .unwrap_or("no reason given")
                    .to_string()
            };
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => break,
                Some(QueryExecutionState::Failed) => {
                    return Err(AthenaError::Failed {
                        query_id,
                        reason: reason(),
                    }
                    .into_evidence())
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(AthenaError::Cancelled {
                        query_id,
                        reason: reason(),
                    }
                    .into_evidence())
                }
                // QUEUED, RUNNING, or a state this SDK does not know yet: ask again.
                _ => {}
            }
        }

        // The rows, page by page; the first page starts with the header.
        let mut token: Option<String> = None;
        let mut names: Vec<String> = Vec::new();
        let mut rows_read: u64 = 0;
        let mut first_page = true;
        loop {
            if !budget.take_request() {
                let why = budget.exhausted().unwrap_or("request budget exhausted");
                coverage.incomplete = Some(format!(
                    "results of query {query_id} read in part ({rows_read} rows) when the {why}"
                ));
                return Ok(coverage);
            }
            coverage.requests += 1;
            let page = self
                .client
                .get_query_results()
                .query_execution_id(&query_id)
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    api_error("GetQueryResults", &e, status).into_evidence()
                })?;
            let result_set = page.result_set();
            if names.is_empty() {
                names = result_set
                    .and_then(|r| r.result_set_metadata())
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| c.name().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            let mut rows = result_set.map(|r| r.rows()).unwrap_or_default();
            if std::mem::take(&mut first_page) {
                // Athena starts a SELECT's first page with the column names.
                if let Some((first, rest)) = rows.split_first() {
                    let header: Vec<&str> = first
                        .data()
                        .iter()
                        .map(|d| d.var_char_value().unwrap_or(""))
                        .collect();
                    if names.is_empty() {
                        names = header.iter().map(|h| h.to_string()).collect();
                        rows = rest;
                    } else if header == names {
                        rows = rest;
                    }
                }
            }
            for row in rows {
                rows_read += 1;
                let cells = names
                    .iter()
                    .zip(row.data())
                    .map(|(name, datum)| (name.as_str(), datum.var_char_value()));
                let Ok(record) = record_from_row(cells) else {
                    coverage.skipped += 1;
                    continue;
                };
                match budget.admit(record, filter, window, sink) {
                    Admission::Delivered => coverage.records += 1,
                    Admission::NotAsked => {}
                    Admission::BudgetFull => {
                        coverage.incomplete = Some("record budget exhausted".to_string());
                        return Ok(coverage);
                    }
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        if rows_read >= u64::from(MAX_ROWS_PER_QUESTION) {
            coverage.incomplete = Some(format!(
                "query {query_id} reached its limit of {MAX_ROWS_PER_QUESTION} rows; later events \
                 were not read"
            ));
        }
        Ok(coverage)
    }
}

/// Against recorded Athena responses through the SDK's mock layer (`tests/fixtures/athena/`,
/// written by its `generate.py`), and against a simulated Athena over the walkthrough's
/// records for a whole investigation.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
    use aws_sdk_athena::operation::start_query_execution::{
        StartQueryExecutionInput, StartQueryExecutionOutput,
    };
    use aws_sdk_athena::types::{ColumnInfo, Datum, ResultSet, ResultSetMetadata, Row};
    use aws_sdk_athena::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use deadbolt_trail::athena::{filter_predicate, COLUMNS};
    use serde_json::Value;
    use std::sync::{Arc, Mutex};

    const KEY: &str = "ASIARDEMO1SARAEXAMP2";
    const QUERY_ID: &str = "a1b2c3d4-5678-90ab-cdef-0c0ffee0a7e1";

    fn recorded(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/athena/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn window() -> Window {
        // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    fn table() -> AthenaTable {
        AthenaTable::new("deadbolt_trail", "organization_trail").unwrap()
    }

    fn source(client: Client, accounts: &[&str]) -> AthenaSource {
        let scope = AthenaScope::new(accounts, &[] as &[&str]).unwrap();
        AthenaSource::new(client, "deadbolt", table(), scope)
    }

    async fn collect(
        source: &AthenaSource,
        filter: EventFilter,
        budget: &mut Budget,
    ) -> (Result<Coverage, EvidenceError>, Vec<Record>) {
        let mut records = Vec::new();
        let coverage = source
            .events(&filter, window(), budget, &mut |r| records.push(r))
            .await;
        (coverage, records)
    }

    fn start_ok() -> aws_smithy_mocks::Rule {
        mock!(Client::start_query_execution)
            .sequence()
            .http_status(200, Some(recorded("start-query-execution.json")))
            .build()
    }

    #[test]
    fn the_recorded_header_is_the_statements_select_list() {
        let page: Value = serde_json::from_str(&recorded("caller-key-results-page1.json")).unwrap();
        let header: Vec<&str> = page["ResultSet"]["Rows"][0]["Data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["VarCharValue"].as_str().unwrap())
            .collect();
        let names: Vec<String> = COLUMNS.iter().map(|c| c.name()).collect();
        assert_eq!(
            header, names,
            "generate.py's COLUMNS and athena::COLUMNS differ"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_parameterized_statement_polled_until_it_succeeds_then_read_page_by_page() {
        let expected = question_sql(
            &table(),
            &AthenaScope::new(&["111122223333"], &[] as &[&str]).unwrap(),
            &EventFilter::CallerAccessKey(KEY.into()),
            window(),
        )
        .unwrap();
        let sql = expected.sql.clone();
        let parameters = expected.parameters.clone();
        let start = mock!(Client::start_query_execution)
            .match_requests(move |r| {
                r.query_string() == Some(sql.as_str())
                    && r.execution_parameters() == parameters.as_slice()
                    && r.work_group() == Some("deadbolt")
                    && r.query_execution_context().and_then(|c| c.database())
                        == Some("deadbolt_trail")
            })
            .sequence()
            .http_status(200, Some(recorded("start-query-execution.json")))
            .build();
        let execution = mock!(Client::get_query_execution)
            .match_requests(|r| r.query_execution_id() == Some(QUERY_ID))
            .sequence()
            .http_status(200, Some(recorded("query-execution-running.json")))
            .http_status(200, Some(recorded("query-execution-succeeded.json")))
            .build();
        let first = mock!(Client::get_query_results)
            .match_requests(|r| {
                r.query_execution_id() == Some(QUERY_ID) && r.next_token().is_none()
            })
            .sequence()
            .http_status(200, Some(recorded("caller-key-results-page1.json")))
            .build();
        let second = mock!(Client::get_query_results)
            .match_requests(|r| {
                r.next_token() == Some("AEmbH0N0cFj1dBcCpFz2ll0ArH7yPEXAMPLETOKEN")
                    && r.max_results() == Some(PAGE_SIZE)
            })
            .sequence()
            .http_status(200, Some(recorded("caller-key-results-page2.json")))
            .build();
        let client = mock_client!(
            aws_sdk_athena,
            RuleMode::MatchAny,
            [&start, &execution, &first, &second]
        );
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, records) = collect(
            &source(client, &["111122223333"]),
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        // StartQueryExecution, two polls, two pages.
        assert_eq!(
            (
                coverage.requests,
                coverage.records,
                coverage.skipped,
                coverage.incomplete
            ),
            (5, 4, 0, None)
        );
        assert_eq!(budget.requests_left, 5);
        assert_eq!(
            (
                start.num_calls(),
                execution.num_calls(),
                first.num_calls(),
                second.num_calls()
            ),
            (1, 2, 1, 1)
        );
        let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DescribeInstances",
                "RunInstances",
                "AttachRolePolicy",
                "AttachRolePolicy"
            ]
        );
        // The rows are the very records the trail's files hold.
        let files: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../../tests/fixtures/cloudtrail/scenario-window.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        for record in &records {
            let original = files["Records"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["eventID"] == record.event_id.as_str())
                .unwrap();
            let mut expected = Record::from_json_str(&original.to_string()).unwrap();
            // Not a column of the standard CloudTrail table (see athena::COLUMNS).
            expected.user_identity.identity_provider = None;
            assert_eq!(record, &expected);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_statement_is_an_error_with_athenas_reason() {
        let start = start_ok();
        let execution = mock!(Client::get_query_execution)
            .sequence()
            .http_status(200, Some(recorded("query-execution-failed.json")))
            .build();
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &execution]);
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, _) = collect(
            &source(client, &["111122223333"]),
            EventFilter::AccessDenied,
            &mut budget,
        )
        .await;
        let error = coverage.unwrap_err().to_string();
        assert!(
            error.contains(&format!("query {QUERY_ID} FAILED: TABLE_NOT_FOUND"))
                && error.contains("organization_trail' does not exist"),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_statement_is_an_error_that_says_so() {
        let start = start_ok();
        let cancelled = r#"{"QueryExecution":{"QueryExecutionId":"a1b2c3d4-5678-90ab-cdef-0c0ffee0a7e1","Status":{"State":"CANCELLED","StateChangeReason":"Query cancelled by user","SubmissionDateTime":1795183800.512,"CompletionDateTime":1795183801.2},"WorkGroup":"deadbolt"}}"#;
        let execution = mock!(Client::get_query_execution)
            .sequence()
            .http_status(200, Some(cancelled.into()))
            .build();
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &execution]);
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, _) = collect(
            &source(client, &["111122223333"]),
            EventFilter::EventName("ListBuckets".into()),
            &mut budget,
        )
        .await;
        let error = coverage.unwrap_err().to_string();
        assert!(
            error.contains("was CANCELLED: Query cancelled by user"),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_that_runs_out_while_it_runs_stops_the_statement_and_says_so() {
        let start = start_ok();
        let execution = mock!(Client::get_query_execution)
            .sequence()
            .http_status(200, Some(recorded("query-execution-running.json")))
            .repeatedly()
            .build();
        let stop = mock!(Client::stop_query_execution)
            .match_requests(|r| r.query_execution_id() == Some(QUERY_ID))
            .sequence()
            .http_status(200, Some("{}".into()))
            .build();
        let client = mock_client!(
            aws_sdk_athena,
            RuleMode::MatchAny,
            [&start, &execution, &stop]
        );
        let mut budget = Budget::new(4, 1000, None);
        let (coverage, records) = collect(
            &source(client, &["111122223333"]),
            EventFilter::CallerAccessKey(KEY.into()),
            &mut budget,
        )
        .await;
        let coverage = coverage.unwrap();
        assert!(records.is_empty());
        assert_eq!((coverage.requests, execution.num_calls()), (4, 3));
        assert_eq!(
            coverage.incomplete.as_deref(),
            Some(
                "query a1b2c3d4-5678-90ab-cdef-0c0ffee0a7e1 still running when the request \
                 budget exhausted; it was stopped"
            )
        );
        assert_eq!(stop.num_calls(), 1);
    }

    #[tokio::test]
    async fn access_denied_names_the_permissions() {
        let start = mock!(Client::start_query_execution)
            .sequence()
            .http_status(400, Some(r#"{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::111122223333:assumed-role/deadbolt-enricher/x is not authorized to perform: athena:StartQueryExecution on resource: arn:aws:athena:us-east-1:111122223333:workgroup/deadbolt"}"#.into()))
            .build();
        let client = mock_client!(aws_sdk_athena, [&start]);
        let mut budget = Budget::new(10, 1000, None);
        let (coverage, _) = collect(
            &source(client, &["111122223333"]),
            EventFilter::AccessDenied,
            &mut budget,
        )
        .await;
        let error = coverage.unwrap_err();
        assert!(
            matches!(error, EvidenceError::AccessDenied { .. }),
            "{error}"
        );
        let error = error.to_string();
        assert!(
            error.contains("not authorized to perform: athena:StartQueryExecution")
                && error.contains("grant athena:StartQueryExecution, athena:GetQueryExecution"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn without_an_account_nothing_is_started() {
        let start = start_ok();
        let client = mock_client!(aws_sdk_athena, [&start]);
        let mut budget = Budget::new(10, 1000, None);
        let unscoped = source(client, &[]);
        let (coverage, _) = collect(&unscoped, EventFilter::AccessDenied, &mut budget).await;
        assert!(
            coverage
                .unwrap_err()
                .to_string()
                .contains("no account to search"),
            "an unrestricted scan of the organization's trail is never started"
        );
        assert_eq!((start.num_calls(), budget.requests_left), (0, 10));
        // A finding's account narrows it.
        let member = unscoped.for_account("444455556666").unwrap();
        assert_eq!(member.scope().accounts(), ["444455556666"]);
        assert!(unscoped.for_account("not-an-account").is_none());
    }

    #[test]
    fn settings_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(AthenaSettings::from_lookup(env(&[])), Ok(None));
        let settings = AthenaSettings::from_lookup(env(&[
            ("DEADBOLT_ATHENA_DATABASE", "deadbolt_trail"),
            ("DEADBOLT_ATHENA_TABLE", "organization_trail"),
            ("DEADBOLT_ATHENA_WORKGROUP", "deadbolt-prod"),
            ("DEADBOLT_ATHENA_REGIONS", "us-east-1, eu-west-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (settings.workgroup.as_str(), settings.table.table()),
            ("deadbolt-prod", "organization_trail")
        );
        assert_eq!(settings.scope.regions(), ["us-east-1", "eu-west-1"]);
        assert!(
            settings.scope.accounts().is_empty(),
            "each finding's account"
        );
        let defaulted = AthenaSettings::from_lookup(env(&[
            ("DEADBOLT_ATHENA_DATABASE", "db"),
            ("DEADBOLT_ATHENA_TABLE", "t"),
            ("DEADBOLT_ATHENA_WORKGROUP", ""),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(defaulted.workgroup, DEFAULT_WORKGROUP);
        let half = AthenaSettings::from_lookup(env(&[("DEADBOLT_ATHENA_TABLE", "t")]));
        assert_eq!(
            half.unwrap_err().to_string(),
            "DEADBOLT_ATHENA_TABLE is set but DEADBOLT_ATHENA_DATABASE is not: the organization \
             trail's table needs both"
        );
        let hostile = AthenaSettings::from_lookup(env(&[
            ("DEADBOLT_ATHENA_DATABASE", "db"),
            ("DEADBOLT_ATHENA_TABLE", "t\"; DROP TABLE x; --"),
        ]));
        assert!(hostile
            .unwrap_err()
            .to_string()
            .starts_with("DEADBOLT_ATHENA_TABLE: Athena table"),);
        let region = AthenaSettings::from_lookup(env(&[
            ("DEADBOLT_ATHENA_DATABASE", "db"),
            ("DEADBOLT_ATHENA_TABLE", "t"),
            ("DEADBOLT_ATHENA_REGIONS", "us-east-1') OR (1=1"),
        ]));
        assert!(region
            .unwrap_err()
            .to_string()
            .starts_with("DEADBOLT_ATHENA_REGIONS: region"));
        let workgroup = AthenaSettings::from_lookup(env(&[
            ("DEADBOLT_ATHENA_DATABASE", "db"),
            ("DEADBOLT_ATHENA_TABLE", "t"),
            ("DEADBOLT_ATHENA_WORKGROUP", "a b"),
        ]));
        assert!(matches!(
            workgroup,
            Err(AthenaSettingsError::BadWorkgroup { .. })
        ));
    }

    /// An SQL string literal's value (the statements' parameters are literals).
    fn unquote(literal: &str) -> String {
        literal
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .unwrap_or_else(|| panic!("{literal} is not a string literal"))
            .replace("''", "'")
    }

    /// `"column" BETWEEN 'a' AND 'b'` / `"column" IN ('a', ...)` as written in `sql`.
    fn partition_values(sql: &str, column: &str) -> Vec<String> {
        let line = sql
            .lines()
            .find(|l| l.contains(&format!("\"{column}\" ")))
            .unwrap_or_else(|| panic!("no restriction on {column}: {sql}"));
        line.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Athena's side, simulated over the walkthrough's log files: each statement is identified
    /// by its question's predicate, its parameters and its partition restriction are applied
    /// (account, dates), and the matching records come back as Athena rows (header first).
    #[derive(Clone, Default)]
    struct SimulatedAthena {
        statements: Arc<Mutex<Vec<StartQueryExecutionInput>>>,
    }

    impl SimulatedAthena {
        fn start(&self, input: &StartQueryExecutionInput) -> StartQueryExecutionOutput {
            let mut statements = self.statements.lock().unwrap();
            statements.push(input.clone());
            StartQueryExecutionOutput::builder()
                .query_execution_id(format!("q-{}", statements.len() - 1))
                .build()
        }

        fn results(
            &self,
            input: &aws_sdk_athena::operation::get_query_results::GetQueryResultsInput,
        ) -> GetQueryResultsOutput {
            let index: usize = input
                .query_execution_id()
                .and_then(|id| id.strip_prefix("q-"))
                .and_then(|i| i.parse().ok())
                .unwrap();
            let statement = self.statements.lock().unwrap()[index].clone();
            let sql = statement.query_string().unwrap();
            let values: Vec<String> = statement
                .execution_parameters()
                .iter()
                .map(|p| unquote(p))
                .collect();
            let (from, to) = (values[0].clone(), values[1].clone());
            let value = values.get(2).cloned().unwrap_or_default();
            let filter = [
                EventFilter::CallerAccessKey(value.clone()),
                EventFilter::IssuedAccessKey(value.clone()),
                EventFilter::Username(value.clone()),
                EventFilter::SourceIp(value.clone()),
                EventFilter::EventName(value.clone()),
                EventFilter::AccessDenied,
            ]
            .into_iter()
            .find(|f| sql.contains(filter_predicate(f)))
            .unwrap();
            let accounts = partition_values(sql, "account");
            let dates = partition_values(sql, "date");
            let dir = format!(
                "{}/../../tests/fixtures/cloudtrail",
                env!("CARGO_MANIFEST_DIR")
            );
            let mut records = Vec::new();
            deadbolt_trail::files::read_path(std::path::Path::new(&dir), |r| records.push(r))
                .unwrap();
            let mut seen = std::collections::HashSet::new();
            let mut matching: Vec<Record> = records
                .into_iter()
                .filter(|r| seen.insert(r.event_id.clone()))
                .filter(|r| {
                    r.recipient_account_id
                        .as_ref()
                        .is_some_and(|a| accounts.contains(a))
                })
                // The partition a record is in: its day (delivery a few minutes later is
                // within the hour the statement adds).
                .filter(|r| {
                    let day = r.event_time[..10].replace('-', "/");
                    dates[0] <= day && day <= dates[1]
                })
                .filter(|r| from.as_str() <= r.event_time.as_str() && r.event_time <= to)
                .filter(|r| filter.matches(r))
                .collect();
            matching
                .sort_by(|a, b| (&a.event_time, &a.event_id).cmp(&(&b.event_time, &b.event_id)));
            let header = Row::builder()
                .set_data(Some(
                    COLUMNS
                        .iter()
                        .map(|c| Datum::builder().var_char_value(c.name()).build())
                        .collect(),
                ))
                .build();
            let mut rows = vec![header];
            for record in matching {
                let json = serde_json::to_value(&record).unwrap();
                let data = COLUMNS
                    .iter()
                    .map(|c| {
                        let found = c
                            .field
                            .split('.')
                            .try_fold(&json, |v, key| v.get(key))
                            .filter(|v| !v.is_null());
                        let text = found.map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                        Datum::builder().set_var_char_value(text).build()
                    })
                    .collect();
                rows.push(Row::builder().set_data(Some(data)).build());
            }
            let metadata = ResultSetMetadata::builder()
                .set_column_info(Some(
                    COLUMNS
                        .iter()
                        .map(|c| {
                            ColumnInfo::builder()
                                .name(c.name())
                                .r#type("varchar")
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build();
            GetQueryResultsOutput::builder()
                .result_set(
                    ResultSet::builder()
                        .set_rows(Some(rows))
                        .result_set_metadata(metadata)
                        .build(),
                )
                .build()
        }
    }

    fn scenario_subject() -> deadbolt_trail::Subject {
        let raw = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/scenario/finding.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let event: Value = serde_json::from_str(&raw).unwrap();
        let finding: deadbolt_core::finding::Finding =
            serde_json::from_value(event["detail"].clone()).unwrap();
        deadbolt_trail::Subject::from_finding(&finding).unwrap()
    }

    /// A report without its `sources` (each source counts its own requests).
    fn findings_of(report: &deadbolt_trail::InvestigationReport) -> Value {
        let mut value = serde_json::to_value(report).unwrap();
        value.as_object_mut().unwrap().remove("sources");
        value
    }

    /// The walkthrough's finding investigated through Athena, scoped to the finding's account
    /// by the investigation itself, gives the report LookupEvents gives.
    #[tokio::test(start_paused = true)]
    async fn the_investigation_over_athena_is_the_lookup_events_report() {
        let athena = SimulatedAthena::default();
        let (on_start, on_results) = (athena.clone(), athena.clone());
        let start = mock!(Client::start_query_execution)
            .then_compute_output(move |input| on_start.start(input));
        let execution = mock!(Client::get_query_execution)
            .sequence()
            .http_status(200, Some(recorded("query-execution-succeeded.json")))
            .repeatedly()
            .build();
        let results = mock!(Client::get_query_results)
            .then_compute_output(move |input| on_results.results(input));
        let client = mock_client!(
            aws_sdk_athena,
            RuleMode::MatchAny,
            [&start, &execution, &results]
        );
        // No account configured: the finding's (111122223333) is the one searched.
        let source = source(client, &[]);
        let subject = scenario_subject();
        let options = deadbolt_trail::InvestigationOptions::default();
        let over_athena = deadbolt_trail::investigate(
            &source,
            &subject,
            &options,
            Budget::new(240, 50_000, None),
        )
        .await;

        let rule = aws_smithy_mocks::mock!(aws_sdk_cloudtrail::Client::lookup_events)
            .then_compute_output(crate::lookup_events::tests::simulated_cloudtrail);
        let lookup = crate::LookupEventsSource::new(aws_smithy_mocks::mock_client!(
            aws_sdk_cloudtrail,
            RuleMode::MatchAny,
            [&rule]
        ));
        let over_lookup = deadbolt_trail::investigate(
            &lookup,
            &subject,
            &options,
            Budget::new(240, 50_000, None),
        )
        .await;

        assert!(over_athena.missing.is_empty(), "{:?}", over_athena.missing);
        assert!(
            over_athena.origin_summary.contains("sara"),
            "{}",
            over_athena.origin_summary
        );
        assert_eq!(findings_of(&over_athena), findings_of(&over_lookup));
        // One statement per question, every one restricted to the finding's account.
        let statements = athena.statements.lock().unwrap();
        assert_eq!(statements.len(), over_lookup.sources[0].questions.len());
        for statement in statements.iter() {
            let sql = statement.query_string().unwrap();
            assert!(
                sql.contains("WHERE \"account\" IN ('111122223333')"),
                "{sql}"
            );
            assert_eq!(statement.work_group(), Some("deadbolt"));
        }
        assert_eq!(over_athena.sources[0].name, "athena");
    }
}
