//! `deadbolt investigate --athena-*` against moto's Athena (IAM authentication on): the CLI
//! starts one statement in the workgroup, polls it, and reads the rows moto was told to return
//! (moto's `/moto-api/static/athena/query-results` queue: moto runs no SQL), and moto records
//! the statement and its execution parameters exactly as the service would receive them.

use std::io::{Read, Write};
use std::net::TcpStream;

use deadbolt_e2e::{repo_root, Moto};
use deadbolt_trail::athena::{question_sql, AthenaScope, AthenaTable};
use deadbolt_trail::source::EventFilter;
use deadbolt_trail::{format_rfc3339_ms, Window};
use serde_json::Value;

const SARA_DEMO_KEY: &str = "ASIARDEMO1SARAEXAMP2";
const TRAIL_ACCOUNT: &str = "111122223333";

fn window() -> Window {
    // 2026-11-20T13:45:00Z .. 2026-11-20T16:00:00Z
    Window::new(1_795_182_300_000, 1_795_190_400_000).expect("window")
}

fn recorded(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/athena").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("recorded JSON")
}

/// Queue one statement's result in moto: the recorded caller-key rows (header first) and
/// column metadata.
fn queue_result(moto: &Moto) {
    let (first, second) = (
        recorded("caller-key-results-page1.json"),
        recorded("caller-key-results-page2.json"),
    );
    let mut rows = first["ResultSet"]["Rows"].as_array().expect("rows").clone();
    rows.extend(
        second["ResultSet"]["Rows"]
            .as_array()
            .expect("rows")
            .clone(),
    );
    let body = serde_json::json!({
        "region": "us-east-1",
        "results": [{
            "rows": rows,
            "column_info": first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"],
        }],
    })
    .to_string();
    let addr = moto.endpoint.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("moto reachable");
    let request = format!(
        "POST /moto-api/static/athena/query-results HTTP/1.0\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(
        response.starts_with("HTTP/1.0 201") || response.starts_with("HTTP/1.1 201"),
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_asks_athena_one_parameterized_statement_and_reads_its_rows() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    queue_result(&moto);
    let w = window();
    let args = [
        "investigate".to_string(),
        "access-key".into(),
        SARA_DEMO_KEY.into(),
        "--since".into(),
        format_rfc3339_ms(w.start_ms),
        "--until".into(),
        format_rfc3339_ms(w.end_ms),
        "--athena-database".into(),
        "deadbolt_trail".into(),
        "--athena-table".into(),
        "organization_trail".into(),
        "--athena-account".into(),
        TRAIL_ACCOUNT.into(),
        "--json".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = moto.deadbolt(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["missing"].as_array().is_some_and(|m| m.is_empty()), "{v}");
    let names: Vec<&str> = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["event_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "DescribeInstances",
            "RunInstances",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );

    // What Athena received: the statement for the question, its values as parameters only.
    let athena = aws_sdk_athena::Client::new(&moto.sdk_config(&moto.admin));
    let ids = athena
        .list_query_executions()
        .work_group("primary")
        .send()
        .await
        .expect("list executions");
    let ids = ids.query_execution_ids();
    assert_eq!(ids.len(), 1, "one question, one statement");
    let execution = athena
        .get_query_execution()
        .query_execution_id(&ids[0])
        .send()
        .await
        .expect("get execution");
    let execution = execution.query_execution().expect("execution");
    let expected = question_sql(
        &AthenaTable::new("deadbolt_trail", "organization_trail").expect("table"),
        &AthenaScope::new(&[TRAIL_ACCOUNT], &[] as &[&str]).expect("scope"),
        &EventFilter::CallerAccessKey(SARA_DEMO_KEY.into()),
        w,
    )
    .expect("statement");
    assert_eq!(execution.query(), Some(expected.sql.as_str()));
    assert_eq!(
        execution.execution_parameters(),
        expected.parameters.as_slice()
    );
    assert_eq!(
        execution
            .query_execution_context()
            .and_then(|c| c.database()),
        Some("deadbolt_trail")
    );
    assert!(!expected.sql.contains(SARA_DEMO_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_an_unusable_athena_configuration() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let out = moto.deadbolt(&[
        "investigate",
        "list-buckets",
        "--athena-database",
        "deadbolt_trail",
        "--athena-table",
        "organization_trail\"; DROP TABLE x",
        "--athena-account",
        TRAIL_ACCOUNT,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Athena table"), "{stderr}");
    let out = moto.deadbolt(&[
        "investigate",
        "list-buckets",
        "--athena-database",
        "deadbolt_trail",
        "--athena-table",
        "organization_trail",
        "--athena-account",
        "1111' OR '1'='1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not 12 digits"), "{stderr}");
    let out = moto.deadbolt(&[
        "investigate",
        "list-buckets",
        "--athena-database",
        "deadbolt_trail",
        "--athena-table",
        "organization_trail",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs --athena-account"), "{stderr}");
}
