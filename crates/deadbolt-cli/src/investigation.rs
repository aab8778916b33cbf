//! `deadbolt report` and `deadbolt investigate`: CloudTrail investigations from the terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use deadbolt_aws::{load_config, AwsOptions};
use deadbolt_evidence::athena::{is_workgroup_name, AthenaSource};
use deadbolt_evidence::{
    run_insights, AnySource, CloudWatchLogsSource, LookupEventsSource, S3LogSource,
};
use deadbolt_trail::athena::{AthenaScope, AthenaTable};
use deadbolt_trail::queries::{
    run_query_narrowed, Narrowing, PlaybookQuery, QueryName, QueryResult,
};
use deadbolt_trail::{
    investigate, parse_rfc3339_ms, Budget, Coverage, EventFilter, EvidenceError, EvidenceSource,
    FileSource, InvestigationOptions, Record, Subject, Window,
};

/// Where the evidence comes from.
#[derive(Args)]
pub struct EvidenceArgs {
    /// Read CloudTrail log files instead of LookupEvents: a local file or folder
    /// (`.json`/`.json.gz`), or `s3://BUCKET/PREFIX` where the trail delivers them.
    #[arg(
        long,
        value_name = "PATH|s3://BUCKET/PREFIX",
        conflicts_with = "log_group"
    )]
    pub cloudtrail: Option<String>,
    /// Read the CloudWatch Logs log group the trail delivers to (FilterLogEvents).
    #[arg(long, value_name = "NAME")]
    pub log_group: Option<String>,
    /// Most remote requests to make (LookupEvents pages at 2 per second).
    #[arg(long, default_value_t = 240)]
    pub max_requests: u32,
    #[command(flatten)]
    pub athena: AthenaArgs,
}

/// Amazon Athena over the organization trail's table (the template's `TrailTable`).
#[derive(Args)]
pub struct AthenaArgs {
    /// Ask Amazon Athena: the Glue database of the organization trail's table.
    #[arg(
        long,
        value_name = "DATABASE",
        requires = "athena_table",
        conflicts_with_all = ["cloudtrail", "log_group"]
    )]
    pub athena_database: Option<String>,
    /// The organization trail's table, partitioned by account, region and date.
    #[arg(long, value_name = "TABLE", requires = "athena_database")]
    pub athena_table: Option<String>,
    /// The Athena workgroup (its enforced configuration holds the result location).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "primary",
        requires = "athena_database"
    )]
    pub athena_workgroup: String,
    /// The account(s) to search, comma-separated (`report`: the finding's account).
    #[arg(
        long,
        value_name = "ACCOUNT",
        value_delimiter = ',',
        requires = "athena_database"
    )]
    pub athena_account: Vec<String>,
    /// The region partition(s) to read, comma-separated (default: every region the table
    /// projects).
    #[arg(
        long,
        value_name = "REGION",
        value_delimiter = ',',
        requires = "athena_database"
    )]
    pub athena_region: Vec<String>,
}

impl AthenaArgs {
    /// The Athena source the flags name, if they name one; an error says which flag is wrong.
    async fn source(&self, options: &AwsOptions) -> Result<Option<AthenaSource>, String> {
        let (Some(database), Some(table)) = (&self.athena_database, &self.athena_table) else {
            return Ok(None);
        };
        let table = AthenaTable::new(database, table).map_err(|e| e.to_string())?;
        if !is_workgroup_name(&self.athena_workgroup) {
            return Err(format!(
                "--athena-workgroup {:?} is not an Athena workgroup name",
                self.athena_workgroup
            ));
        }
        let scope = AthenaScope::new(&self.athena_account, &self.athena_region)
            .map_err(|e| e.to_string())?;
        let sdk = load_config(options).await;
        Ok(Some(AthenaSource::new(
            aws_sdk_athena::Client::new(&sdk),
            self.athena_workgroup.clone(),
            table,
            scope,
        )))
    }
}

impl EvidenceArgs {
    /// The source the flags name; LookupEvents when none does.
    async fn source(&self, options: &AwsOptions) -> Result<AnySource, String> {
        if let Some(athena) = self.athena.source(options).await? {
            return Ok(AnySource::Athena(athena));
        }
        Ok(self.other_source(options).await)
    }

    async fn other_source(&self, options: &AwsOptions) -> AnySource {
        if let Some(location) = &self.cloudtrail {
            if let Some((bucket, prefix)) = AnySource::parse_s3_url(location) {
                let sdk = load_config(options).await;
                // Custom endpoints (S3-compatible stores, local emulators) rarely resolve
                // bucket subdomains: address buckets by path there, as the AWS CLI can.
                let conf = aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(sdk.endpoint_url().is_some())
                    .build();
                let client = aws_sdk_s3::Client::from_conf(conf);
                return AnySource::S3(S3LogSource::new(client, bucket, prefix));
            }
            return AnySource::Files(FileSource::new(location));
        }
        let sdk = load_config(options).await;
        match &self.log_group {
            Some(group) => AnySource::Logs(CloudWatchLogsSource::new(
                aws_sdk_cloudwatchlogs::Client::new(&sdk),
                group.clone(),
            )),
            None => AnySource::LookupEvents(LookupEventsSource::new(
                aws_sdk_cloudtrail::Client::new(&sdk),
            )),
        }
    }
}

/// Records kept per investigation: bounds memory and the report.
const MAX_RECORDS: u64 = 50_000;

pub fn read_input(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        return Ok(std::io::read_to_string(std::io::stdin())?);
    }
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// How `deadbolt report` prints, and where it writes the HTML page.
pub struct ReportOutput<'a> {
    pub json: bool,
    pub markdown: bool,
    pub html: Option<&'a Path>,
    pub decision: Option<&'a Path>,
}

pub async fn report(
    options: &AwsOptions,
    finding: &Path,
    evidence: &EvidenceArgs,
    ReportOutput {
        json,
        markdown,
        html,
        decision,
    }: ReportOutput<'_>,
) -> anyhow::Result<ExitCode> {
    let raw = read_input(finding)?;
    // The decision record is read before any evidence is fetched: a bad one is refused at once.
    let decision = match decision {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the decision record {}: {e}", path.display())
            })?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("the decision record {} is not JSON: {e}", path.display())
            })?;
            match deadbolt_trail::html::DecisionPanel::from_record_json(&value) {
                Some(panel) => Some(panel),
                None => {
                    eprintln!(
                        "deadbolt: {} is not a decision record (no \"outcome\"); expected the output of deadbolt replay --json",
                        path.display()
                    );
                    return Ok(ExitCode::from(2));
                }
            }
        }
    };
    let event = match deadbolt_core::parse_event(&raw) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("deadbolt: rejected: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let subject = match Subject::from_finding(&event.detail) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("deadbolt: cannot investigate this finding: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let budget = Budget::new(evidence.max_requests, MAX_RECORDS, None);
    let how = InvestigationOptions::default();
    let source = match evidence.source(options).await {
        Ok(source) => Progress(source),
        Err(e) => {
            eprintln!("deadbolt: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let report = investigate(&source, &subject, &how, budget).await;
    if let Some(path) = html {
        let page = deadbolt_trail::html::render(&report, decision.as_ref());
        std::fs::write(path, &page).map_err(|e| {
            anyhow::anyhow!("cannot write the HTML report to {}: {e}", path.display())
        })?;
        eprintln!(
            "deadbolt: wrote the HTML report to {} ({} bytes)",
            path.display(),
            page.len()
        );
    }
    if json {
        println!("{}", report.to_json());
    } else if markdown {
        print!("{}", report.to_markdown());
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A playbook query's name on the command line. clap's accepted values (in `--help` and in the
/// error for an unknown name) are [`QueryName::ALL`]; deadbolt-trail stays free of clap.
#[derive(Clone, Copy, Debug)]
pub struct QueryArg(pub QueryName);

impl ValueEnum for QueryArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: OnceLock<Vec<QueryArg>> = OnceLock::new();
        VARIANTS.get_or_init(|| QueryName::ALL.iter().copied().map(QueryArg).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let value = PossibleValue::new(self.0.as_str());
        Some(match self.0.argument() {
            Some(argument) => value.help(format!("needs {}", argument.what)),
            None => value,
        })
    }
}

/// One `deadbolt investigate` invocation.
pub struct QueryRequest<'a> {
    pub name: QueryName,
    pub argument: Option<&'a str>,
    pub narrowing: Narrowing,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub insights: bool,
    pub json: bool,
}

pub async fn query(
    options: &AwsOptions,
    request: QueryRequest<'_>,
    evidence: &EvidenceArgs,
) -> anyhow::Result<ExitCode> {
    let QueryRequest {
        name,
        argument,
        narrowing,
        since,
        until,
        insights,
        json,
    } = request;
    // `investigate access-key --access-key KEY` and `source-ip --ip IP` read naturally too.
    let argument = argument.or(match name {
        QueryName::AccessKey => narrowing.access_key.as_deref(),
        QueryName::SourceIp => narrowing.source_ip.as_deref(),
        // --access-key narrows to the key's calls; it is not the key access-key-created
        // looks for.
        QueryName::AccessKeyCreated
        | QueryName::AccessDenied
        | QueryName::UsersRolesCreated
        | QueryName::ListBuckets => None,
    });
    let query = match PlaybookQuery::new(name, argument) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("deadbolt: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let window = match time_range(since, until) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("deadbolt: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // `report` searches the finding's account; a query has no finding to take one from, and
    // an organization trail is never scanned across every account.
    if evidence.athena.athena_database.is_some() && evidence.athena.athena_account.is_empty() {
        eprintln!(
            "deadbolt: investigate with Athena needs --athena-account ACCOUNT[,ACCOUNT...]: the \
             organization trail is searched one account at a time"
        );
        return Ok(ExitCode::from(2));
    }
    let mut budget = Budget::new(evidence.max_requests, MAX_RECORDS, None);
    let result = match (&evidence.log_group, insights) {
        (Some(group), true) => {
            let sdk = load_config(options).await;
            let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
            let poll = std::time::Duration::from_secs(1);
            match run_insights(&client, group, &query, window, &mut budget, poll).await {
                Ok(out) => QueryResult {
                    query: query.name(),
                    truncated: out.rows.len() >= deadbolt_evidence::insights::MAX_ROWS as usize,
                    rows: out.rows,
                    requests: out.requests,
                    skipped: 0,
                    missing: out.incomplete.into_iter().collect(),
                },
                Err(e) => {
                    eprintln!("deadbolt: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        _ => {
            let source = match evidence.source(options).await {
                Ok(source) => Progress(source),
                Err(e) => {
                    eprintln!("deadbolt: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            run_query_narrowed(&source, &query, &narrowing, window, &mut budget).await
        }
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print!("{}", rows_table(&result));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--since`/`--until` as a window; `until` defaults to now, `since` to 24 hours before it.
pub fn time_range(since: Option<&str>, until: Option<&str>) -> Result<Window, String> {
    let parse = |flag: &str, v: &str| {
        parse_rfc3339_ms(v).map_err(|e| {
            format!("{flag} {v:?} is not an RFC 3339 time (e.g. 2026-11-20T14:00:00Z): {e}")
        })
    };
    let until_ms = match until {
        Some(v) => parse("--until", v)?,
        None => deadbolt_core::clock::now_ms(),
    };
    let since_ms = match since {
        Some(v) => parse("--since", v)?,
        None => until_ms - 24 * 3600 * 1000,
    };
    Window::new(since_ms, until_ms).map_err(|e| e.to_string())
}

/// The playbook's `fields awsRegion, userIdentity.arn, eventSource, eventName,
/// sourceIPAddress, userAgent` as a table.
pub fn rows_table(result: &QueryResult) -> String {
    use std::fmt::Write;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20}  {:<10}  {:<34}  {:<15}  {:<40}  ERROR",
        "TIME", "REGION", "EVENT", "SOURCE IP", "WHO"
    );
    for r in &result.rows {
        let event = format!(
            "{}:{}",
            r.event_source.trim_end_matches(".amazonaws.com"),
            r.event_name
        );
        let _ = writeln!(
            out,
            "{:<20}  {:<10}  {:<34}  {:<15}  {:<40}  {}",
            r.event_time,
            dash(&r.aws_region),
            event,
            dash(&r.source_ip_address),
            dash(&r.user_arn),
            dash(&r.error_code)
        );
    }
    let _ = writeln!(
        out,
        "{} row(s){}",
        result.rows.len(),
        if result.truncated { " (truncated)" } else { "" }
    );
    for m in &result.missing {
        let _ = writeln!(out, "incomplete: {m}");
    }
    out
}

/// Says on stderr which question is being asked, when a person is watching: paging through
/// LookupEvents at 2 requests per second takes long enough to need it.
struct Progress<S>(S);

impl<S: EvidenceSource> EvidenceSource for Progress<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn for_account(&self, account_id: &str) -> Option<Self> {
        self.0.for_account(account_id).map(Progress)
    }

    async fn events(
        &self,
        filter: &EventFilter,
        window: Window,
        budget: &mut Budget,
        sink: &mut (dyn FnMut(Record) + Send),
    ) -> Result<Coverage, EvidenceError> {
        let tty = std::io::stderr().is_terminal();
        if tty {
            eprint!("deadbolt: {}: {} ... ", self.0.name(), filter.describe());
        }
        let result = self.0.events(filter, window, budget, sink).await;
        if tty {
            match &result {
                Ok(c) => eprintln!("{} record(s), {} request(s)", c.records, c.requests),
                Err(e) => eprintln!("{e}"),
            }
        }
        result
    }
}
