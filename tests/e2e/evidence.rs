//! The CloudWatch Logs and S3 evidence sources against a real moto server (IAM authentication
//! on), fed the scenario's CloudTrail records the way each service holds them: one record per
//! log event, or `{"Records":[…]}` files gzipped under CloudTrail's S3 key layout.

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use deadbolt_e2e::moto::ACCOUNT;
use deadbolt_e2e::{repo_root, Moto};
use deadbolt_evidence::{CloudWatchLogsSource, S3LogSource};
use deadbolt_trail::source::{Budget, Coverage, EventFilter, EvidenceError, EvidenceSource};
use deadbolt_trail::{format_rfc3339_ms, parse_rfc3339_ms, Record, Window};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;

const SARA_DEMO_KEY: &str = "ASIARDEMO1SARAEXAMP2";
const LOG_GROUP: &str = "CloudTrail/DefaultLogGroup";
const BUCKET: &str = "deadbolt-trail-logs";
const REGION_PREFIX: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/";

fn window() -> Window {
    // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
    Window::new(1_795_182_300_000, 1_795_190_400_000).expect("window")
}

/// moto, like CloudWatch Logs, refuses log events more than 14 days older than the wall clock,
/// so the log-group tests move the scenario to two days ago (whole hours, so times keep their
/// minutes and seconds) and ask over the window moved by the same amount.
fn logs_shift_ms() -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let hour = 3_600_000;
    let target = (now_ms - 2 * 24 * hour) / hour * hour;
    target - window().start_ms / hour * hour
}

fn logs_window() -> Window {
    let shift = logs_shift_ms();
    Window::new(window().start_ms + shift, window().end_ms + shift).expect("window")
}

async fn ask_logs(
    source: &impl EvidenceSource,
    filter: EventFilter,
    budget: &mut Budget,
) -> (Result<Coverage, EvidenceError>, Vec<Record>) {
    let mut records = Vec::new();
    let coverage = source
        .events(&filter, logs_window(), budget, &mut |r| records.push(r))
        .await;
    (coverage, records)
}

fn scenario() -> Value {
    let path = repo_root().join("tests/fixtures/cloudtrail/scenario-window.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("scenario is JSON")
}

fn scenario_records() -> Vec<Value> {
    scenario()["Records"]
        .as_array()
        .expect("Records array")
        .clone()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

async fn ask(
    source: &impl EvidenceSource,
    filter: EventFilter,
    budget: &mut Budget,
) -> (Result<Coverage, EvidenceError>, Vec<Record>) {
    let mut records = Vec::new();
    let coverage = source
        .events(&filter, window(), budget, &mut |r| records.push(r))
        .await;
    (coverage, records)
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.event_name.as_str()).collect()
}

/// Exactly sara's calls with the DemoRole1 session key, in eventTime order, none of bob's.
fn assert_saras_demo_session(records: &[Record]) {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.event_time_ms().unwrap_or_default());
    let names: Vec<&str> = sorted.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "DescribeInstances",
            "RunInstances",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );
    for r in records {
        assert_eq!(
            r.user_identity.access_key_id.as_deref(),
            Some(SARA_DEMO_KEY)
        );
        let arn = r.user_identity.arn.as_deref().unwrap_or_default();
        assert!(arn.ends_with("assumed-role/DemoRole1/sara"), "{arn}");
    }
}

/// A log group holding the scenario as CloudTrail delivers it (one record per event), plus
/// one line that is not a record.
async fn seed_log_group(moto: &Moto) {
    let logs = moto.logs(&moto.admin);
    logs.create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .expect("create log group");
    let stream = format!("{ACCOUNT}_CloudTrail_us-east-1");
    logs.create_log_stream()
        .log_group_name(LOG_GROUP)
        .log_stream_name(&stream)
        .send()
        .await
        .expect("create log stream");
    let shift = logs_shift_ms();
    let mut events: Vec<(i64, String)> = scenario_records()
        .into_iter()
        .map(|mut r| {
            let time = r["eventTime"].as_str().expect("eventTime");
            let moved = parse_rfc3339_ms(time).expect("RFC 3339") + shift;
            r["eventTime"] = format_rfc3339_ms(moved).into();
            (moved, r.to_string())
        })
        .collect();
    events.push((
        1_795_183_000_000 + shift,
        "not a CloudTrail record".to_string(),
    ));
    // PutLogEvents requires chronological order within a batch.
    events.sort_by_key(|(t, _)| *t);
    let mut put = logs
        .put_log_events()
        .log_group_name(LOG_GROUP)
        .log_stream_name(&stream);
    for (timestamp, message) in events {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(timestamp)
                .message(message)
                .build()
                .expect("log event"),
        );
    }
    let out = put.send().await.expect("put log events");
    // moto, like CloudWatch Logs, drops events older than 14 days against the wall clock.
    assert!(
        out.rejected_log_events_info.is_none(),
        "moto rejected scenario events: {:?}",
        out.rejected_log_events_info
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_answers_exactly_by_caller_and_issued_key() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    seed_log_group(&moto).await;
    // Small pages so the answer needs moto's nextToken paging.
    let source = CloudWatchLogsSource::new(moto.logs(&moto.admin), LOG_GROUP).with_page_size(2);

    let mut budget = Budget::new(50, 1000, None);
    let (coverage, records) = ask_logs(
        &source,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    let coverage = coverage.expect("caller key answer");
    assert_saras_demo_session(&records);
    assert_eq!(coverage.records, 4);
    assert_eq!(coverage.incomplete, None);
    assert!(coverage.requests >= 2, "{coverage:?}");
    assert_eq!(budget.requests_left, 50 - coverage.requests);

    let (coverage, records) = ask_logs(
        &source,
        EventFilter::IssuedAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    assert_eq!(coverage.expect("issued key answer").records, 1);
    assert_eq!(names(&records), ["AssumeRole"]);
    assert_eq!(
        records[0].response_str("credentials.accessKeyId"),
        Some(SARA_DEMO_KEY)
    );

    // moto treats `?a ?b` patterns as match-all, so this reads the whole group: the junk
    // line is counted, and the local filter leaves only the denied AttachRolePolicy.
    let (coverage, records) = ask_logs(&source, EventFilter::AccessDenied, &mut budget).await;
    let coverage = coverage.expect("access denied answer");
    assert_eq!(names(&records), ["AttachRolePolicy"]);
    assert_eq!(coverage.skipped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_stops_at_the_request_budget_and_says_so() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    seed_log_group(&moto).await;
    let source = CloudWatchLogsSource::new(moto.logs(&moto.admin), LOG_GROUP).with_page_size(1);
    let mut budget = Budget::new(1, 1000, None);
    let (coverage, records) = ask_logs(
        &source,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    let coverage = coverage.expect("partial answer, not an error");
    assert_eq!(coverage.requests, 1);
    assert_eq!(
        coverage.incomplete.as_deref(),
        Some("request budget exhausted")
    );
    assert!(records.len() <= 1);
    assert_eq!(budget.requests_left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_missing_group_and_denied_caller_are_actionable_errors() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let source = CloudWatchLogsSource::new(moto.logs(&moto.admin), "CloudTrail/NoSuchGroup");
    let (coverage, _) = ask_logs(
        &source,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut Budget::new(5, 1000, None),
    )
    .await;
    let err = coverage.expect_err("missing log group");
    assert!(matches!(err, EvidenceError::Unavailable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("CloudTrail/NoSuchGroup") && text.contains("does not exist"),
        "{text}"
    );

    // A principal with IAM read permissions only.
    let outsider = moto.create_attacker_user("outsider").await;
    let source = CloudWatchLogsSource::new(moto.logs(&outsider.credentials), LOG_GROUP);
    let (coverage, _) = ask_logs(
        &source,
        EventFilter::AccessDenied,
        &mut Budget::new(5, 1000, None),
    )
    .await;
    let err = coverage.expect_err("denied");
    assert!(
        matches!(
            err,
            EvidenceError::AccessDenied {
                permission: "logs:FilterLogEvents",
                ..
            }
        ),
        "{err:?}"
    );
}

/// The trail's bucket: the scenario delivered on 2026-11-20, a truncated file the same day,
/// and copies of the scenario filed under days far from the window, which a source that
/// honoured the day-folders never downloads (they would show up as duplicates).
async fn seed_bucket(moto: &Moto) {
    let s3 = moto.s3(&moto.admin);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    let scenario = gzip(scenario().to_string().as_bytes());
    let records = scenario_records();
    let bobs = serde_json::json!({ "Records": [records[0], records[10]] }).to_string();
    let mut truncated = gzip(bobs.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let objects = [
        (
            "2026/11/10/123456789012_CloudTrail_us-east-1_20261110T0900Z_early.json.gz",
            scenario.clone(),
        ),
        (
            "2026/11/20/123456789012_CloudTrail_us-east-1_20261120T1415Z_scenario.json.gz",
            scenario.clone(),
        ),
        (
            "2026/11/20/123456789012_CloudTrail_us-east-1_20261120T1425Z_truncated.json.gz",
            truncated,
        ),
        (
            "2026/11/25/123456789012_CloudTrail_us-east-1_20261125T0900Z_late.json.gz",
            scenario,
        ),
    ];
    for (key, body) in objects {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{REGION_PREFIX}{key}"))
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_log_files_answer_exactly_and_count_the_truncated_file() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    seed_bucket(&moto).await;
    let source = S3LogSource::new(moto.s3(&moto.admin), BUCKET, REGION_PREFIX);

    let mut budget = Budget::new(50, 1000, None);
    let (coverage, records) = ask(
        &source,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    let coverage = coverage.expect("caller key answer");
    assert_saras_demo_session(&records);
    assert_eq!(coverage.records, 4);
    assert_eq!(coverage.skipped, 1, "the truncated file: {coverage:?}");
    assert_eq!(coverage.incomplete, None);
    // One listing page and the two files of 2026-11-20; 11-10 and 11-25 are never read.
    assert_eq!(coverage.requests, 3, "{coverage:?}");
    assert_eq!(budget.requests_left, 47);

    let (coverage, records) = ask(
        &source,
        EventFilter::IssuedAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    assert_eq!(coverage.expect("issued key answer").records, 1);
    assert_eq!(names(&records), ["AssumeRole"]);

    // Under a broader prefix the layout still lets out-of-window days go unread.
    let broad = S3LogSource::new(moto.s3(&moto.admin), BUCKET, "AWSLogs/").with_page_size(2);
    let (coverage, records) = ask(
        &broad,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut Budget::new(50, 1000, None),
    )
    .await;
    let coverage = coverage.expect("broad prefix answer");
    assert_saras_demo_session(&records);
    assert_eq!(
        (coverage.requests, coverage.skipped),
        (4, 1),
        "{coverage:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stops_at_the_budget_and_reports_missing_bucket_and_denied_caller() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    seed_bucket(&moto).await;
    let source = S3LogSource::new(moto.s3(&moto.admin), BUCKET, REGION_PREFIX);
    let mut budget = Budget::new(1, 1000, None);
    let (coverage, records) = ask(
        &source,
        EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        &mut budget,
    )
    .await;
    let coverage = coverage.expect("partial answer, not an error");
    assert_eq!(
        (coverage.requests, records.len()),
        (1, 0),
        "the listing only"
    );
    assert_eq!(
        coverage.incomplete.as_deref(),
        Some("request budget exhausted")
    );

    let missing = S3LogSource::new(moto.s3(&moto.admin), "no-such-trail-bucket", REGION_PREFIX);
    let (coverage, _) = ask(
        &missing,
        EventFilter::AccessDenied,
        &mut Budget::new(5, 1000, None),
    )
    .await;
    let text = coverage.expect_err("missing bucket").to_string();
    assert!(text.contains("no-such-trail-bucket"), "{text}");

    let outsider = moto.create_attacker_user("outsider").await;
    let denied = S3LogSource::new(moto.s3(&outsider.credentials), BUCKET, REGION_PREFIX);
    let (coverage, _) = ask(
        &denied,
        EventFilter::AccessDenied,
        &mut Budget::new(5, 1000, None),
    )
    .await;
    let err = coverage.expect_err("denied");
    assert!(err.to_string().contains("grant s3:ListBucket"), "{err}");
}

/// `deadbolt investigate` reads the same evidence through `--log-group` and
/// `--cloudtrail s3://…` as through files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_log_groups_and_s3_prefixes() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    seed_log_group(&moto).await;
    seed_bucket(&moto).await;
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        moto.deadbolt(&args)
    };
    let names = |out: std::process::Output| -> Vec<String> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(v["missing"].as_array().is_some_and(|m| m.is_empty()), "{v}");
        v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["event_name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let w = logs_window();
    let logs = run(vec![
        "investigate".into(),
        "access-key".into(),
        SARA_DEMO_KEY.into(),
        "--since".into(),
        format_rfc3339_ms(w.start_ms),
        "--until".into(),
        format_rfc3339_ms(w.end_ms),
        "--log-group".into(),
        LOG_GROUP.into(),
        "--json".into(),
    ]);
    assert_eq!(
        names(logs),
        [
            "DescribeInstances",
            "RunInstances",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );
    let s3 = run(vec![
        "investigate".into(),
        "access-key".into(),
        SARA_DEMO_KEY.into(),
        "--since".into(),
        format_rfc3339_ms(window().start_ms),
        "--until".into(),
        format_rfc3339_ms(window().end_ms),
        "--cloudtrail".into(),
        format!("s3://{BUCKET}/{REGION_PREFIX}"),
        "--json".into(),
    ]);
    assert_eq!(
        names(s3),
        [
            "DescribeInstances",
            "RunInstances",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );
}
