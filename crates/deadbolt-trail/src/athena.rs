//! The investigation's questions as Amazon Athena SQL over an organization trail's table, and
//! Athena's result rows back into [`Record`]s: the scale path when a month of an
//! organization's CloudTrail does not fit one Lambda. Pure: no SDK, no I/O; the adapter that
//! runs the statements is `deadbolt_evidence::athena`.
//!
//! The table is the standard CloudTrail table (`com.amazon.emr.hive.serde.CloudTrailSerde`,
//! columns `eventversion`, `useridentity struct<…>`, `eventtime`, …) partitioned, by projection,
//! over the organization trail's layout `AWSLogs/o-ID/${account}/CloudTrail/${region}/${date}`
//! (`date` as `yyyy/MM/dd`): the template's `TrailTable`.
//!
//! Every statement is restricted by the partition columns (account, the configured regions if
//! any, the dates the window spans), so a question reads one account's days, not the
//! organization's history. Two kinds of values reach a statement, and neither is spliced
//! unchecked:
//! - partition values (account ids, region names, dates) are written as literals, because
//!   Athena prunes projected partitions (and requires, for `injected` projection) with static
//!   values in the query text. They are validated first to exactly their shape (12 digits, a
//!   region name, a date deadbolt formats itself), which leaves no room for a quote;
//! - everything else that comes from a finding or the evidence (access key ids, user and
//!   session names, IP addresses, event names) and the window's times are execution
//!   parameters (`?` placeholders, Athena's `ExecutionParameters`). Athena reads each parameter
//!   as an SQL literal, so each is written as one quoted string literal with its quotes doubled:
//!   a hostile name is a string compared with a column, never SQL. The statement text does not
//!   depend on those values at all.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::activity::Window;
use crate::queries::PlaybookQuery;
use crate::record::{Record, RecordError};
use crate::source::EventFilter;

/// The table's partition columns (the template's `TrailTable`).
pub const ACCOUNT_COLUMN: &str = "account";
pub const REGION_COLUMN: &str = "region";
pub const DATE_COLUMN: &str = "date";

/// Rows one statement may return: the statement says `LIMIT` this, and the adapter reports an
/// answer that reached it as partial.
pub const MAX_ROWS_PER_QUESTION: u32 = 10_000;

/// CloudTrail files an event under the date its log file is delivered, usually minutes after
/// the event: a window ending just before midnight also reads the next day's partition.
pub const LATE_DELIVERY_MS: i64 = 60 * 60 * 1000;

/// How a selected column becomes part of a CloudTrail record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A string, copied as is.
    Text,
    /// A JSON document held as a string (`requestparameters`, `responseelements`).
    Json,
    /// `"true"` / `"false"` (`readonly`).
    Bool,
}

/// One selected column: the expression over the table, and the record field it fills (a
/// dotted path in CloudTrail's own JSON spelling). The result column is the expression with
/// `.` as `_` (`useridentity.arn` → `useridentity_arn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub expression: &'static str,
    pub field: &'static str,
    pub kind: ColumnKind,
}

impl Column {
    pub fn name(&self) -> String {
        self.expression.replace('.', "_")
    }
}

const fn text(expression: &'static str, field: &'static str) -> Column {
    Column {
        expression,
        field,
        kind: ColumnKind::Text,
    }
}

/// What every statement selects: the fields of [`Record`] that exist in the standard CloudTrail
/// table. Not there, so never filled from Athena: `userIdentity.identityProvider`,
/// `sessionContext.sourceIdentity` and the top-level `sourceIdentity` (the attribution falls
/// back to the response's `issuer` / the request's `sourceIdentity`).
pub const COLUMNS: &[Column] = &[
    text("eventversion", "eventVersion"),
    text("eventtime", "eventTime"),
    text("eventsource", "eventSource"),
    text("eventname", "eventName"),
    text("awsregion", "awsRegion"),
    text("sourceipaddress", "sourceIPAddress"),
    text("useragent", "userAgent"),
    text("errorcode", "errorCode"),
    text("errormessage", "errorMessage"),
    Column {
        expression: "requestparameters",
        field: "requestParameters",
        kind: ColumnKind::Json,
    },
    Column {
        expression: "responseelements",
        field: "responseElements",
        kind: ColumnKind::Json,
    },
    text("eventid", "eventID"),
    Column {
        expression: "readonly",
        field: "readOnly",
        kind: ColumnKind::Bool,
    },
    text("recipientaccountid", "recipientAccountId"),
    text("useridentity.type", "userIdentity.type"),
    text("useridentity.principalid", "userIdentity.principalId"),
    text("useridentity.arn", "userIdentity.arn"),
    text("useridentity.accountid", "userIdentity.accountId"),
    text("useridentity.accesskeyid", "userIdentity.accessKeyId"),
    text("useridentity.username", "userIdentity.userName"),
    text("useridentity.invokedby", "userIdentity.invokedBy"),
    text(
        "useridentity.onbehalfof.userid",
        "userIdentity.onBehalfOf.userId",
    ),
    text(
        "useridentity.onbehalfof.identitystorearn",
        "userIdentity.onBehalfOf.identityStoreArn",
    ),
    text(
        "useridentity.sessioncontext.attributes.creationdate",
        "userIdentity.sessionContext.attributes.creationDate",
    ),
    text(
        "useridentity.sessioncontext.attributes.mfaauthenticated",
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
    ),
    text(
        "useridentity.sessioncontext.sessionissuer.type",
        "userIdentity.sessionContext.sessionIssuer.type",
    ),
    text(
        "useridentity.sessioncontext.sessionissuer.principalid",
        "userIdentity.sessionContext.sessionIssuer.principalId",
    ),
    text(
        "useridentity.sessioncontext.sessionissuer.arn",
        "userIdentity.sessionContext.sessionIssuer.arn",
    ),
    text(
        "useridentity.sessioncontext.sessionissuer.accountid",
        "userIdentity.sessionContext.sessionIssuer.accountId",
    ),
    text(
        "useridentity.sessioncontext.sessionissuer.username",
        "userIdentity.sessionContext.sessionIssuer.userName",
    ),
];

/// A configuration value that cannot be used to build a statement.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AthenaConfigError {
    #[error(
        "Athena {what} {value:?} is not a plain name (letters, digits and '_', at most 255); \
         it is quoted into every statement, so nothing else is accepted"
    )]
    BadIdentifier { what: &'static str, value: String },
    #[error("account id {value:?} is not 12 digits; the organization trail is partitioned by account id")]
    BadAccount { value: String },
    #[error("region {value:?} is not an AWS region name (e.g. us-east-1)")]
    BadRegion { value: String },
    #[error(
        "no account to search: the organization trail's table is partitioned by account and \
         every statement is restricted to accounts (the finding's, or --athena-account)"
    )]
    NoAccount,
}

/// The table's time range could not be expressed (an instant beyond what a date can hold).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the window {start_ms}..{end_ms} ms is outside the dates Athena partitions can name")]
pub struct WindowOutOfRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// `database.table`, both validated as plain names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTable {
    database: String,
    table: String,
}

fn identifier(what: &'static str, value: &str) -> Result<String, AthenaConfigError> {
    let plain = !value.is_empty()
        && value.len() <= 255
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(AthenaConfigError::BadIdentifier {
            what,
            value: value.to_string(),
        })
    }
}

impl AthenaTable {
    pub fn new(database: &str, table: &str) -> Result<Self, AthenaConfigError> {
        Ok(AthenaTable {
            database: identifier("database", database.trim())?,
            table: identifier("table", table.trim())?,
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Which partitions a statement may read: accounts (at least one to run), and regions (none:
/// every region the table projects; IAM and STS activity spans regions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AthenaScope {
    accounts: Vec<String>,
    regions: Vec<String>,
}

/// An AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS region name: lowercase words and a number joined by `-` (`us-east-1`,
/// `us-gov-west-1`, `ap-southeast-5`).
pub fn is_region_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    value.len() <= 32
        && parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl AthenaScope {
    /// Validates every account id and region name; blank entries are ignored.
    pub fn new<A: AsRef<str>, R: AsRef<str>>(
        accounts: &[A],
        regions: &[R],
    ) -> Result<Self, AthenaConfigError> {
        let mut scope = AthenaScope::default();
        for account in accounts.iter().map(|a| a.as_ref().trim()) {
            if account.is_empty() {
                continue;
            }
            if !is_account_id(account) {
                return Err(AthenaConfigError::BadAccount {
                    value: account.to_string(),
                });
            }
            if !scope.accounts.iter().any(|a| a == account) {
                scope.accounts.push(account.to_string());
            }
        }
        for region in regions.iter().map(|r| r.as_ref().trim()) {
            if region.is_empty() {
                continue;
            }
            if !is_region_name(region) {
                return Err(AthenaConfigError::BadRegion {
                    value: region.to_string(),
                });
            }
            if !scope.regions.iter().any(|r| r == region) {
                scope.regions.push(region.to_string());
            }
        }
        Ok(scope)
    }

    /// The same regions, one account: a finding's.
    pub fn for_account(&self, account_id: &str) -> Result<Self, AthenaConfigError> {
        AthenaScope::new(&[account_id], &self.regions)
    }

    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    pub fn regions(&self) -> &[String] {
        &self.regions
    }
}

/// One statement and its execution parameters, in placeholder order, each already an SQL
/// string literal (`'ASIA…'`) as Athena's `ExecutionParameters` take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaQuery {
    pub sql: String,
    pub parameters: Vec<String>,
}

/// `value` as one SQL string literal: in single quotes, each quote doubled. Trino's plain
/// string literals have no other escape, so the result is exactly one literal whatever
/// `value` holds.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The question's own condition. `?` are its parameters, in order (see [`filter_values`]).
pub fn filter_predicate(filter: &EventFilter) -> &'static str {
    match filter {
        EventFilter::CallerAccessKey(_) => "useridentity.accesskeyid = ?",
        EventFilter::IssuedAccessKey(_) => {
            "json_extract_scalar(responseelements, '$.credentials.accessKeyId') = ?"
        }
        // As `EventFilter::matches`: the user name, or the ARN's last segment (a role
        // session's name, an Identity Center user's).
        EventFilter::Username(_) => {
            "(useridentity.username = ? OR element_at(split(useridentity.arn, '/'), -1) = ?)"
        }
        EventFilter::SourceIp(_) => "sourceipaddress = ?",
        EventFilter::EventName(_) => "eventname = ?",
        // The playbook's `errorCode like /Unauthorized|Denied|Forbidden/`.
        EventFilter::AccessDenied => "regexp_like(errorcode, 'Unauthorized|Denied|Forbidden')",
    }
}

/// The values of [`filter_predicate`]'s placeholders, raw (not yet literals).
fn filter_values(filter: &EventFilter) -> Vec<&str> {
    match filter {
        EventFilter::CallerAccessKey(v)
        | EventFilter::IssuedAccessKey(v)
        | EventFilter::SourceIp(v)
        | EventFilter::EventName(v) => vec![v.as_str()],
        EventFilter::Username(v) => vec![v.as_str(), v.as_str()],
        EventFilter::AccessDenied => Vec::new(),
    }
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

/// The statement answering `filter` over `window`, restricted to `scope`'s partitions.
pub fn question_sql(
    table: &AthenaTable,
    scope: &AthenaScope,
    filter: &EventFilter,
    window: Window,
) -> Result<AthenaQuery, QueryBuildError> {
    if scope.accounts.is_empty() {
        return Err(AthenaConfigError::NoAccount.into());
    }
    let out_of_range = || WindowOutOfRange {
        start_ms: window.start_ms,
        end_ms: window.end_ms,
    };
    let start = utc(window.start_ms).ok_or_else(out_of_range)?;
    let end = utc(window.end_ms).ok_or_else(out_of_range)?;
    let last_file = utc(window.end_ms.saturating_add(LATE_DELIVERY_MS)).ok_or_else(out_of_range)?;
    let list = |values: &[String]| {
        values
            .iter()
            .map(|v| string_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = String::from("SELECT ");
    for (i, column) in COLUMNS.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        if column.expression.contains('.') {
            let _ = write!(sql, "{} AS {}", column.expression, column.name());
        } else {
            sql.push_str(column.expression);
        }
    }
    let _ = write!(
        sql,
        "\nFROM \"{}\".\"{}\"\nWHERE \"{ACCOUNT_COLUMN}\" IN ({})",
        table.database,
        table.table,
        list(&scope.accounts)
    );
    if !scope.regions.is_empty() {
        let _ = write!(
            sql,
            "\n  AND \"{REGION_COLUMN}\" IN ({})",
            list(&scope.regions)
        );
    }
    let _ = write!(
        sql,
        "\n  AND \"{DATE_COLUMN}\" BETWEEN '{}' AND '{}'\n  AND eventtime BETWEEN ? AND ?\n  AND {}\nORDER BY eventtime, eventid\nLIMIT {MAX_ROWS_PER_QUESTION}",
        start.format("%Y/%m/%d"),
        last_file.format("%Y/%m/%d"),
        filter_predicate(filter),
    );
    // CloudTrail's eventTime has whole seconds: the bounds are floored to the second, and the
    // adapter keeps only records inside the window to the millisecond.
    let mut parameters = vec![
        string_literal(&start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        string_literal(&end.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ];
    parameters.extend(filter_values(filter).into_iter().map(string_literal));
    Ok(AthenaQuery { sql, parameters })
}

/// The statements answering a playbook query: one per question it asks (its
/// [`PlaybookQuery::filters`]), merged by `run_query` exactly as for the other sources.
pub fn playbook_sql(
    table: &AthenaTable,
    scope: &AthenaScope,
    query: &PlaybookQuery,
    window: Window,
) -> Result<Vec<AthenaQuery>, QueryBuildError> {
    query
        .filters()
        .iter()
        .map(|filter| question_sql(table, scope, filter, window))
        .collect()
}

/// Why no statement could be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryBuildError {
    #[error(transparent)]
    Config(#[from] AthenaConfigError),
    #[error(transparent)]
    Window(#[from] WindowOutOfRange),
}

/// One result row (column name, value; `None` for SQL NULL) as a CloudTrail record, through
/// the same parser as every other source, so the same fields are required. Unknown columns
/// are ignored; an unparseable JSON column is left out rather than failing the row.
pub fn record_from_row<'a>(
    row: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Record, RecordError> {
    let mut root = Map::new();
    for (name, value) in row {
        let Some(value) = value else { continue };
        let Some(column) = COLUMNS.iter().find(|c| c.name() == name) else {
            continue;
        };
        let value = match column.kind {
            ColumnKind::Text => Value::String(value.to_string()),
            ColumnKind::Json => match serde_json::from_str::<Value>(value) {
                Ok(Value::Null) | Err(_) => continue,
                Ok(json) => json,
            },
            ColumnKind::Bool => match value {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => continue,
            },
        };
        insert_path(&mut root, column.field, value);
    }
    Record::from_json_value(Value::Object(root))
}

fn insert_path(root: &mut Map<String, Value>, dotted: &str, value: Value) {
    let mut node = root;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_string(), value);
            return;
        }
        let child = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        let Value::Object(map) = child else { return };
        node = map;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::QueryName;
    use expect_test::expect_file;

    fn table() -> AthenaTable {
        AthenaTable::new("deadbolt_trail", "organization_trail").unwrap()
    }

    fn scope() -> AthenaScope {
        AthenaScope::new(&["111122223333"], &[] as &[&str]).unwrap()
    }

    fn window() -> Window {
        // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
        Window::new(1_795_182_300_000, 1_795_190_400_000).unwrap()
    }

    fn render(query: &AthenaQuery) -> String {
        format!(
            "{}\n-- parameters: {}\n",
            query.sql,
            query.parameters.join(", ")
        )
    }

    /// Every question the investigation asks and every playbook query, as the statement and
    /// parameters Athena receives. `UPDATE_EXPECT=1 cargo test -p deadbolt-trail athena` after
    /// a deliberate change.
    #[test]
    fn the_sql_of_every_question_and_playbook_query() {
        let mut out = String::new();
        let questions = [
            EventFilter::CallerAccessKey("ASIARDEMO1SARAEXAMP2".into()),
            EventFilter::IssuedAccessKey("ASIARDEMO1SARAEXAMP2".into()),
            EventFilter::Username("sara".into()),
            EventFilter::SourceIp("198.51.100.24".into()),
            EventFilter::EventName("CreateUser".into()),
            EventFilter::AccessDenied,
        ];
        for filter in &questions {
            let query = question_sql(&table(), &scope(), filter, window()).unwrap();
            let _ = write!(
                out,
                "== question {}\n{}\n",
                filter.describe(),
                render(&query)
            );
        }
        for &name in QueryName::ALL {
            let query = PlaybookQuery::new(name, name.argument().map(|a| a.example)).unwrap();
            let statements = playbook_sql(&table(), &scope(), &query, window()).unwrap();
            for (i, statement) in statements.iter().enumerate() {
                // The select list and partition restriction are the questions' (above).
                let condition = statement.sql.split("\n  AND ").last().unwrap_or_default();
                let _ = write!(
                    out,
                    "== playbook {name} ({}/{})\n  AND {condition}\n-- parameters: {}\n\n",
                    i + 1,
                    statements.len(),
                    statement.parameters.join(", ")
                );
            }
        }
        expect_file!["../../../tests/fixtures/athena/questions.sql"].assert_eq(&out);
    }

    #[test]
    fn every_statement_is_restricted_to_the_accounts_regions_and_dates() {
        let scope = AthenaScope::new(
            &["111122223333", "444455556666"],
            &["us-east-1", "eu-west-1"],
        )
        .unwrap();
        let baseline = Window::new(1_792_590_300_000, 1_795_182_299_999).unwrap();
        let query = question_sql(
            &table(),
            &scope,
            &EventFilter::Username("sara".into()),
            baseline,
        )
        .unwrap();
        assert!(query
            .sql
            .contains("WHERE \"account\" IN ('111122223333', '444455556666')"));
        assert!(query
            .sql
            .contains("AND \"region\" IN ('us-east-1', 'eu-west-1')"));
        // 30 days before the window, to the window's start plus an hour for late delivery.
        assert!(
            query
                .sql
                .contains("AND \"date\" BETWEEN '2026/10/21' AND '2026/11/20'"),
            "{}",
            query.sql
        );
        assert_eq!(
            query.parameters,
            [
                "'2026-10-21T13:45:00Z'",
                "'2026-11-20T13:44:59Z'",
                "'sara'",
                "'sara'"
            ]
        );
        // A window ending at 23:30 also reads the next day's files.
        let late = Window::new(1_795_217_400_000, 1_795_221_000_000).unwrap();
        let query = question_sql(&table(), &scope, &EventFilter::AccessDenied, late).unwrap();
        assert!(
            query.sql.contains("BETWEEN '2026/11/20' AND '2026/11/21'"),
            "{}",
            query.sql
        );
        assert_eq!(
            question_sql(
                &table(),
                &AthenaScope::default(),
                &EventFilter::AccessDenied,
                window()
            ),
            Err(QueryBuildError::Config(AthenaConfigError::NoAccount))
        );
    }

    #[test]
    fn a_hostile_value_is_one_string_literal_and_never_changes_the_statement() {
        let benign = question_sql(
            &table(),
            &scope(),
            &EventFilter::Username("sara".into()),
            window(),
        )
        .unwrap();
        for hostile in [
            "x' OR '1'='1",
            "sara'; DROP TABLE organization_trail; --",
            "'') OR true --",
            "a\\' OR 1=1 --",
            "?",
            "bob\n' UNION SELECT * FROM secrets --",
        ] {
            let query = question_sql(
                &table(),
                &scope(),
                &EventFilter::Username(hostile.into()),
                window(),
            )
            .unwrap();
            assert_eq!(query.sql, benign.sql, "the text never depends on the value");
            for parameter in &query.parameters[2..] {
                assert_eq!(unquote(parameter).as_deref(), Some(hostile), "{parameter}");
            }
        }
    }

    /// A literal's value, if `literal` is exactly one SQL string literal.
    fn unquote(literal: &str) -> Option<String> {
        let inner = literal.strip_prefix('\'')?.strip_suffix('\'')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\'' {
                // Inside a literal a quote only ever comes doubled.
                if chars.next() != Some('\'') {
                    return None;
                }
            }
            out.push(c);
        }
        Some(out)
    }

    #[test]
    fn configuration_values_are_validated_to_their_exact_shape() {
        assert!(AthenaTable::new("deadbolt_trail", "Org_Trail_1").is_ok());
        for (database, table) in [
            ("db\"; DROP", "t"),
            ("db", "t x"),
            ("", "t"),
            ("db", "t.u"),
            ("db", "t'"),
        ] {
            assert!(
                matches!(
                    AthenaTable::new(database, table),
                    Err(AthenaConfigError::BadIdentifier { .. })
                ),
                "{database}.{table}"
            );
        }
        for bad in [
            "11112222333",
            "1111222233334",
            "11112222333a",
            "111122223333'",
        ] {
            assert_eq!(
                AthenaScope::new(&[bad], &[] as &[&str]),
                Err(AthenaConfigError::BadAccount { value: bad.into() })
            );
        }
        for good in ["us-east-1", "us-gov-west-1", "ap-southeast-5"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "us-east",
            "US-EAST-1",
            "us-east-1'",
            "east-1",
            "us--1",
            "us-east-x",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
        let scope =
            AthenaScope::new(&[" 111122223333 ", "", "111122223333"], &["us-east-1"]).unwrap();
        assert_eq!(scope.accounts(), ["111122223333"]);
        let member = scope.for_account("444455556666").unwrap();
        assert_eq!(
            (member.accounts(), member.regions()),
            (
                &["444455556666".to_string()][..],
                &["us-east-1".to_string()][..]
            )
        );
    }

    #[test]
    fn rows_become_the_same_records_as_the_json_the_other_sources_read() {
        let json = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROARDEMO1ROLEEXAMPL:sara","arn":"arn:aws:sts::111122223333:assumed-role/DemoRole1/sara","accountId":"111122223333","accessKeyId":"ASIARDEMO1SARAEXAMP2","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROARDEMO1ROLEEXAMPL","arn":"arn:aws:iam::111122223333:role/DemoRole1","accountId":"111122223333","userName":"DemoRole1"},"attributes":{"creationDate":"2026-11-20T14:05:27Z","mfaAuthenticated":"false"}}},"eventTime":"2026-11-20T14:10:03Z","eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.24","userAgent":"aws-cli/2.15.30","errorCode":"AccessDenied","errorMessage":"no","requestParameters":{"roleName":"DemoRole1","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,"eventID":"b9c0d1e2-6666-4f7a-8b8c-0c0ffee00009","readOnly":false,"recipientAccountId":"111122223333"}"#;
        let expected = Record::from_json_str(json).unwrap();
        let value: Value = serde_json::from_str(json).unwrap();
        // The row Athena would return for it: each column's value as a string, NULL absent.
        let row: Vec<(String, Option<String>)> = COLUMNS
            .iter()
            .map(|column| {
                let found = column
                    .field
                    .split('.')
                    .try_fold(&value, |v, key| v.get(key))
                    .filter(|v| !v.is_null());
                let cell = found.map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                (column.name(), cell)
            })
            .collect();
        let record = record_from_row(row.iter().map(|(n, v)| (n.as_str(), v.as_deref()))).unwrap();
        assert_eq!(record, expected);
        // Without the required fields it is malformed, like any record.
        assert!(record_from_row([("eventtime", Some("2026-11-20T14:10:03Z"))]).is_err());
    }
}
