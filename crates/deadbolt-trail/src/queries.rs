//! The incident-response playbook's six CloudTrail queries, as named investigations over any
//! [`EvidenceSource`]. The playbook writes them for CloudWatch Logs Insights; here each becomes
//! one or more [`EventFilter`]s (so every source can answer it) plus, where the filter is
//! broader than the query, a local check.

use std::collections::HashSet;

use serde::Serialize;
use thiserror::Error;

use crate::activity::Window;
use crate::record::Record;
use crate::source::{Budget, EventFilter, EvidenceSource};

/// Rows kept per query; the answer says when more matched.
pub const MAX_QUERY_ROWS: usize = 1000;

deadbolt_core::code_enum! {
    /// The playbook queries' names, as the CLI spells them and a [`QueryResult`] reports them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum QueryName {
        AccessDenied => "access-denied",
        AccessKey => "access-key",
        SourceIp => "source-ip",
        AccessKeyCreated => "access-key-created",
        UsersRolesCreated => "users-roles-created",
        ListBuckets => "list-buckets",
    }
}

/// What a query's argument is, for usage and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryArgument {
    /// In a usage line: `access-key KEY`.
    pub placeholder: &'static str,
    /// In a sentence: "needs an access key id".
    pub what: &'static str,
    pub example: &'static str,
}

impl QueryName {
    /// The query named `name` exactly as [`QueryName::as_str`] spells it.
    pub fn parse(name: &str) -> Option<QueryName> {
        QueryName::ALL
            .iter()
            .copied()
            .find(|query| query.as_str() == name)
    }

    /// The argument the query needs, if it takes one.
    pub fn argument(self) -> Option<QueryArgument> {
        const KEY: QueryArgument = QueryArgument {
            placeholder: "KEY",
            what: "an access key id",
            example: "AKIAIOSFODNN7EXAMPLE",
        };
        match self {
            QueryName::AccessKey | QueryName::AccessKeyCreated => Some(KEY),
            QueryName::SourceIp => Some(QueryArgument {
                placeholder: "IP",
                what: "an IP address",
                example: "192.0.2.1",
            }),
            QueryName::AccessDenied | QueryName::UsersRolesCreated | QueryName::ListBuckets => None,
        }
    }

    /// Every query with its argument: `access-denied, access-key KEY, …`.
    pub fn usage() -> String {
        QueryName::ALL
            .iter()
            .map(|query| match query.argument() {
                Some(argument) => format!("{query} {}", argument.placeholder),
                None => query.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for QueryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the playbook's queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookQuery {
    /// `filter errorCode like /Unauthorized|Denied|Forbidden/`
    AccessDenied,
    /// `filter userIdentity.accessKeyId = KEY`: what a key did.
    AccessKey(String),
    /// `filter sourceIPAddress = IP`
    SourceIp(String),
    /// `filter responseElements.credentials.accessKeyId = KEY`: where a key came from. IAM's
    /// CreateAccessKey puts a new long-term key in `responseElements.accessKey.accessKeyId`
    /// instead, so that is matched too: the playbook's intent is "where was this key created".
    AccessKeyCreated(String),
    /// `filter eventName = "CreateUser" or eventName = "CreateRole"`
    UsersRolesCreated,
    /// `filter eventName = "ListBuckets"`
    ListBuckets,
}

/// A query name or argument the CLI could not use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("unknown query {0:?}; the queries are: {queries}", queries = QueryName::usage())]
    Unknown(String),
    #[error("query {name} needs {what}, e.g. `{name} {example}`")]
    MissingArgument {
        name: QueryName,
        what: &'static str,
        example: &'static str,
    },
    #[error("query {name} takes no argument, but got {argument:?}")]
    UnexpectedArgument { name: QueryName, argument: String },
}

impl PlaybookQuery {
    /// Parses a query name and its argument (`access-key AKIA…`).
    pub fn parse(name: &str, argument: Option<&str>) -> Result<Self, QueryError> {
        let name = QueryName::parse(name).ok_or_else(|| QueryError::Unknown(name.to_string()))?;
        PlaybookQuery::new(name, argument)
    }

    /// The query `name` with its argument, which it must take if and only if the query does.
    pub fn new(name: QueryName, argument: Option<&str>) -> Result<Self, QueryError> {
        let argument = argument.map(str::trim).filter(|value| !value.is_empty());
        let value = match (name.argument(), argument) {
            (Some(_), Some(value)) => value.to_string(),
            (Some(QueryArgument { what, example, .. }), None) => {
                return Err(QueryError::MissingArgument {
                    name,
                    what,
                    example,
                })
            }
            (None, Some(extra)) => {
                return Err(QueryError::UnexpectedArgument {
                    name,
                    argument: extra.to_string(),
                })
            }
            // Not used: only the queries that take an argument below hold one.
            (None, None) => String::new(),
        };
        Ok(match name {
            QueryName::AccessDenied => PlaybookQuery::AccessDenied,
            QueryName::AccessKey => PlaybookQuery::AccessKey(value),
            QueryName::SourceIp => PlaybookQuery::SourceIp(value),
            QueryName::AccessKeyCreated => PlaybookQuery::AccessKeyCreated(value),
            QueryName::UsersRolesCreated => PlaybookQuery::UsersRolesCreated,
            QueryName::ListBuckets => PlaybookQuery::ListBuckets,
        })
    }

    pub fn name(&self) -> QueryName {
        match self {
            PlaybookQuery::AccessDenied => QueryName::AccessDenied,
            PlaybookQuery::AccessKey(_) => QueryName::AccessKey,
            PlaybookQuery::SourceIp(_) => QueryName::SourceIp,
            PlaybookQuery::AccessKeyCreated(_) => QueryName::AccessKeyCreated,
            PlaybookQuery::UsersRolesCreated => QueryName::UsersRolesCreated,
            PlaybookQuery::ListBuckets => QueryName::ListBuckets,
        }
    }

    /// The playbook's CloudWatch Logs Insights query (2.1.1), for a trail delivered to a log
    /// group, with `eventTime` and `eventID` added to its fields so rows can be ordered and
    /// traced. `None` when the argument holds a character that could change the query's
    /// structure (a quote or a backslash): such a value is never spliced into a query.
    pub fn logs_insights(&self) -> Option<String> {
        let safe = |v: &str| !v.contains('"') && !v.contains('\\') && !v.contains('|');
        const ARN_FIELDS: &str =
            "awsRegion, userIdentity.arn, eventSource, eventName, sourceIPAddress, userAgent, errorCode, eventTime, eventID";
        const FIELDS: &str =
            "awsRegion, eventSource, eventName, sourceIPAddress, userAgent, errorCode, eventTime, eventID";
        Some(match self {
            PlaybookQuery::AccessDenied => {
                format!("filter errorCode like /Unauthorized|Denied|Forbidden/ | fields {ARN_FIELDS}")
            }
            PlaybookQuery::AccessKey(k) if safe(k) => {
                format!("filter userIdentity.accessKeyId =\"{k}\" | fields {FIELDS}")
            }
            PlaybookQuery::SourceIp(ip) if safe(ip) => {
                format!("filter sourceIPAddress = \"{ip}\" | fields {ARN_FIELDS}")
            }
            PlaybookQuery::AccessKeyCreated(k) if safe(k) => {
                format!("filter responseElements.credentials.accessKeyId =\"{k}\" | fields {FIELDS}")
            }
            PlaybookQuery::UsersRolesCreated => "filter eventName=\"CreateUser\" or eventName = \"CreateRole\" | fields requestParameters.userName, requestParameters.roleName, responseElements.user.arn, responseElements.role.arn, sourceIPAddress, eventTime, errorCode, eventID".to_string(),
            PlaybookQuery::ListBuckets => format!("filter eventName =\"ListBuckets\" | fields {FIELDS}"),
            _ => return None,
        })
    }

    /// The questions to ask a source; their answers are merged (and de-duplicated by eventID).
    pub fn filters(&self) -> Vec<EventFilter> {
        match self {
            PlaybookQuery::AccessDenied => vec![EventFilter::AccessDenied],
            PlaybookQuery::AccessKey(key) => vec![EventFilter::CallerAccessKey(key.clone())],
            PlaybookQuery::SourceIp(ip) => vec![EventFilter::SourceIp(ip.clone())],
            PlaybookQuery::AccessKeyCreated(key) => vec![
                EventFilter::IssuedAccessKey(key.clone()),
                EventFilter::EventName("CreateAccessKey".to_string()),
            ],
            PlaybookQuery::UsersRolesCreated => vec![
                EventFilter::EventName("CreateUser".to_string()),
                EventFilter::EventName("CreateRole".to_string()),
            ],
            PlaybookQuery::ListBuckets => vec![EventFilter::EventName("ListBuckets".to_string())],
        }
    }

    /// The query's own condition, for filters that are broader than it.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            PlaybookQuery::AccessKeyCreated(key) => {
                record.response_str("credentials.accessKeyId") == Some(key.as_str())
                    || record.response_str("accessKey.accessKeyId") == Some(key.as_str())
            }
            _ => self.filters().iter().any(|filter| filter.matches(record)),
        }
    }
}

/// One result row: the union of the fields the playbook's six queries display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryRow {
    pub event_time: String,
    pub event_id: String,
    pub aws_region: Option<String>,
    /// `userIdentity.arn`
    pub user_arn: Option<String>,
    pub event_source: String,
    pub event_name: String,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    /// `requestParameters.userName` (users-roles-created).
    pub user_name: Option<String>,
    /// `requestParameters.roleName` (users-roles-created).
    pub role_name: Option<String>,
    /// `responseElements.user.arn` or `responseElements.role.arn` (users-roles-created).
    pub created_arn: Option<String>,
}

impl QueryRow {
    /// A row from a Logs Insights result: `(field, value)` pairs named as in the query.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut row = QueryRow {
            event_time: String::new(),
            event_id: String::new(),
            aws_region: None,
            user_arn: None,
            event_source: String::new(),
            event_name: String::new(),
            source_ip_address: None,
            user_agent: None,
            error_code: None,
            user_name: None,
            role_name: None,
            created_arn: None,
        };
        for (field, value) in fields {
            let v = Some(value.to_string());
            match field {
                "eventTime" => row.event_time = value.to_string(),
                "eventID" => row.event_id = value.to_string(),
                "awsRegion" => row.aws_region = v,
                "userIdentity.arn" => row.user_arn = v,
                "eventSource" => row.event_source = value.to_string(),
                "eventName" => row.event_name = value.to_string(),
                "sourceIPAddress" => row.source_ip_address = v,
                "userAgent" => row.user_agent = v,
                "errorCode" => row.error_code = v,
                "requestParameters.userName" => row.user_name = v,
                "requestParameters.roleName" => row.role_name = v,
                "responseElements.user.arn" | "responseElements.role.arn" => row.created_arn = v,
                _ => {}
            }
        }
        row
    }

    pub fn from_record(record: &Record) -> Self {
        QueryRow {
            event_time: record.event_time.clone(),
            event_id: record.event_id.clone(),
            aws_region: record.aws_region.clone(),
            user_arn: record.user_identity.arn.clone(),
            event_source: record.event_source.clone(),
            event_name: record.event_name.clone(),
            source_ip_address: record.source_ip_address.clone(),
            user_agent: record.user_agent.clone(),
            error_code: record.error_code.clone(),
            user_name: record.request_str("userName").map(str::to_string),
            role_name: record.request_str("roleName").map(str::to_string),
            created_arn: record
                .response_str("user.arn")
                .or_else(|| record.response_str("role.arn"))
                .map(str::to_string),
        }
    }
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryResult {
    pub query: QueryName,
    /// In time order, at most [`MAX_QUERY_ROWS`].
    pub rows: Vec<QueryRow>,
    /// More rows matched than were kept.
    pub truncated: bool,
    pub requests: u32,
    pub skipped: u64,
    /// Why the answer may be partial, one line per filter that did not finish.
    pub missing: Vec<String>,
}

/// Runs `query` against `source` for `window`, spending from `budget`. A source error or an
/// exhausted budget makes the answer partial (listed in `missing`), never an error.
/// `--access-key` / `--ip`: narrow any query to calls made with one access key and/or from one
/// source IP address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub access_key: Option<String>,
    pub source_ip: Option<String>,
}

impl Narrowing {
    pub fn matches(&self, record: &Record) -> bool {
        self.access_key
            .as_deref()
            .is_none_or(|k| record.user_identity.access_key_id.as_deref() == Some(k))
            && self
                .source_ip
                .as_deref()
                .is_none_or(|ip| record.source_ip_address.as_deref() == Some(ip))
    }

    /// The filters to fetch with: a key is the most selective thing a source can look up (a
    /// LookupEvents attribute), so with `--access-key` the query's own condition is applied
    /// locally to that key's calls instead of scanning for the query's events.
    fn filters(&self, query: &PlaybookQuery) -> Vec<EventFilter> {
        match (&self.access_key, query) {
            (Some(_), PlaybookQuery::AccessKey(_)) | (None, _) => query.filters(),
            (Some(key), _) => vec![EventFilter::CallerAccessKey(key.clone())],
        }
    }
}

pub async fn run_query<S: EvidenceSource>(
    source: &S,
    query: &PlaybookQuery,
    window: Window,
    budget: &mut Budget,
) -> QueryResult {
    run_query_narrowed(source, query, &Narrowing::default(), window, budget).await
}

/// [`run_query`], keeping only calls that also match `narrowing`.
pub async fn run_query_narrowed<S: EvidenceSource>(
    source: &S,
    query: &PlaybookQuery,
    narrowing: &Narrowing,
    window: Window,
    budget: &mut Budget,
) -> QueryResult {
    let mut records: Vec<Record> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut truncated = false;
    let (mut requests, mut skipped) = (0u32, 0u64);
    let mut missing = Vec::new();
    for filter in narrowing.filters(query) {
        if let Some(why) = budget.exhausted() {
            missing.push(format!("{} not searched: {why}", filter.describe()));
            continue;
        }
        let mut sink = |record: Record| {
            if !query.matches(&record)
                || !narrowing.matches(&record)
                || !seen.insert(record.event_id.clone())
            {
                return;
            }
            if records.len() >= MAX_QUERY_ROWS {
                truncated = true;
                return;
            }
            records.push(record);
        };
        match source.events(&filter, window, budget, &mut sink).await {
            Ok(coverage) => {
                requests += coverage.requests;
                skipped += coverage.skipped;
                if let Some(why) = coverage.incomplete {
                    missing.push(format!("{}: partial answer ({why})", filter.describe()));
                }
            }
            Err(error) => missing.push(format!("{} not searched: {error}", filter.describe())),
        }
    }
    records.sort_by_key(|record| (record.event_time_ms().ok(), record.event_id.clone()));
    QueryResult {
        query: query.name(),
        rows: records.iter().map(QueryRow::from_record).collect(),
        truncated,
        requests,
        skipped,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_arguments_with_actionable_errors() {
        assert_eq!(
            PlaybookQuery::parse("access-key", Some(" AKIAX ")),
            Ok(PlaybookQuery::AccessKey("AKIAX".into()))
        );
        assert_eq!(
            PlaybookQuery::parse("list-buckets", None),
            Ok(PlaybookQuery::ListBuckets)
        );
        let missing = PlaybookQuery::parse("source-ip", None).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "query source-ip needs an IP address, e.g. `source-ip 192.0.2.1`"
        );
        assert!(matches!(
            PlaybookQuery::parse("access-denied", Some("x")),
            Err(QueryError::UnexpectedArgument { .. })
        ));
        let unknown = PlaybookQuery::parse("whoami", None).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown query \"whoami\"; the queries are: access-denied, access-key KEY, \
             source-ip IP, access-key-created KEY, users-roles-created, list-buckets"
        );
        for &name in QueryName::ALL {
            assert!(unknown.to_string().contains(name.as_str()), "{name}");
            assert_eq!(QueryName::parse(name.as_str()), Some(name));
            assert_eq!(serde_json::to_value(name).unwrap(), name.as_str());
            let argument = name.argument().map(|a| a.example);
            let query = PlaybookQuery::parse(name.as_str(), argument).unwrap();
            assert_eq!(query.name(), name);
        }
    }
}

#[cfg(test)]
mod insights_tests {
    use super::*;

    #[test]
    fn logs_insights_queries_are_the_playbooks() {
        assert_eq!(
            PlaybookQuery::AccessDenied.logs_insights().unwrap(),
            "filter errorCode like /Unauthorized|Denied|Forbidden/ | fields awsRegion, userIdentity.arn, eventSource, eventName, sourceIPAddress, userAgent, errorCode, eventTime, eventID"
        );
        assert_eq!(
            PlaybookQuery::AccessKey("AKIAIOSFODNN7EXAMPLE".into()).logs_insights().unwrap(),
            "filter userIdentity.accessKeyId =\"AKIAIOSFODNN7EXAMPLE\" | fields awsRegion, eventSource, eventName, sourceIPAddress, userAgent, errorCode, eventTime, eventID"
        );
        assert!(PlaybookQuery::UsersRolesCreated.logs_insights().unwrap().starts_with(
            "filter eventName=\"CreateUser\" or eventName = \"CreateRole\" | fields requestParameters.userName"
        ));
        assert_eq!(
            PlaybookQuery::SourceIp("1.2.3.4\" | stats".into()).logs_insights(),
            None
        );
    }
}
