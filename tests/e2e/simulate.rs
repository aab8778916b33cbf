//! `deadbolt simulate` end to end: the built binary reads a month of findings from the
//! GuardDuty stand-in (ListFindings with the updatedAt criterion and paging, GetFindings in
//! batches of 50) and prints what deadbolt would have done under a candidate settings file,
//! writing nothing. Output pinned by golden files in tests/fixtures/cli/.

use std::process::{Command, Output};

use deadbolt_e2e::guardduty::{fixture_finding, FIXTURE_DETECTOR};
use deadbolt_e2e::runtime_api::built_binary;
use deadbolt_e2e::GuardDutyStandIn;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
/// 2026-11-01T00:00:00Z in epoch milliseconds: the window's start.
const SINCE_MS: i64 = 1_793_491_200_000;
const SETTINGS: &str = "tests/fixtures/cli/simulate-settings.json";

/// Findings the month is made of, in rotation: IAM users and roles, workload roles, a
/// protected principal, EC2, EKS and S3 findings, root, a sample, an attack sequence.
const ROTATION: [&str; 15] = [
    "tor-ip-caller.json",
    "malicious-ip-caller.json",
    "anomalous-discovery.json",
    "instance-credential-exfiltration-outside-aws.json",
    "protected-break-glass.json",
    "ec2-finding.json",
    "kubernetes-role-caller.json",
    "s3-malicious-ip-caller.json",
    "s3-policy-public-access-disabled.json",
    "root-credential-usage.json",
    "sample-finding.json",
    "resource-credential-exfiltration-outside-aws.json",
    "attack-sequence-compromised-credentials.json",
    "bedrock-logging-disabled.json",
    "cloudtrail-logging-disabled-sso.json",
];

/// A fixture's finding as a new one: its own id, created and updated at `at`.
fn finding(template: &str, n: u64, at: &str) -> Value {
    let mut f = fixture_finding(template);
    let id = format!("{:032x}", 0x5e9_0000_0000 + n);
    f["id"] = json!(id);
    f["arn"] = json!(format!(
        "arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{FIXTURE_DETECTOR}/finding/{id}"
    ));
    f["createdAt"] = json!(at);
    f["updatedAt"] = json!(at);
    f
}

/// November 2026: four findings a day in rotation, a burst of eight role sessions in one hour
/// on the 18th (past the candidate's breaker of 5 an hour); before the window, three October
/// findings; another account's finding in the window.
fn month() -> Vec<Value> {
    let mut findings = Vec::new();
    let mut n = 0;
    for day in 1..=30 {
        for (k, hour) in ["02:10", "08:20", "14:30", "20:40"].iter().enumerate() {
            let template = ROTATION[(day * 4 + k) % ROTATION.len()];
            findings.push(finding(
                template,
                n,
                &format!("2026-11-{day:02}T{hour}:00.000Z"),
            ));
            n += 1;
        }
    }
    for k in 0..8u64 {
        let mut f = finding(
            "tor-ip-caller.json",
            1000 + k,
            &format!("2026-11-18T13:{:02}:00.000Z", 5 + 5 * k),
        );
        let details = &mut f["resource"]["accessKeyDetails"];
        details["userName"] = json!(format!("batch-worker-{k}"));
        details["principalId"] = json!(format!("AROA2MLRYQ7ZBATCH0{k:02}:job-{k}"));
        findings.push(f);
    }
    for k in 0..3u64 {
        findings.push(finding(
            "malicious-ip-caller.json",
            2000 + k,
            &format!("2026-10-2{k}T09:00:00.000Z"),
        ));
    }
    let mut foreign = fixture_finding("foreign-account.json");
    foreign["createdAt"] = json!("2026-11-10T10:00:00.000Z");
    foreign["updatedAt"] = json!("2026-11-10T10:00:00.000Z");
    findings.push(foreign);
    findings
}

/// The built `deadbolt`, GuardDuty at the stand-in and every other service at a closed local
/// port: any call but GuardDuty's fails here, never reaching anything real.
fn deadbolt(standin: &GuardDutyStandIn, args: &[&str]) -> Output {
    Command::new(built_binary("deadbolt"))
        .args(args)
        .current_dir(deadbolt_e2e::repo_root())
        .env_clear()
        .env("AWS_ENDPOINT_URL_GUARDDUTY", standin.endpoint())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("deadbolt runs")
}

fn golden(name: &str, actual: &str) {
    expect_test::expect_file![deadbolt_e2e::repo_root()
        .join("tests/fixtures/cli")
        .join(name)]
    .assert_eq(actual);
}

const ARGS: [&str; 7] = [
    "simulate",
    "--since",
    "2026-11-01T00:00:00Z",
    "--settings",
    SETTINGS,
    "--account",
    ACCOUNT,
];

#[test]
fn simulate_reads_a_month_pages_and_batches_and_writes_nothing() {
    let standin = GuardDutyStandIn::start(month());
    let mut args = ARGS.to_vec();
    args.push("--json");
    let out = deadbolt(&standin, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    golden("simulate.json", &stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap();

    // The window and the account: 120 + 8 findings, no October ones, not the other account's.
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 128);
    assert!(findings
        .iter()
        .all(|f| f["at"].as_str().unwrap() >= "2026-11-01"));
    assert!(findings.iter().all(|f| f["account_id"] == ACCOUNT));

    // ListFindings: the updatedAt and accountId criteria, 50 a page, nextToken followed;
    // GetFindings: batches of at most 50, every listed id once.
    let bodies = standin.request_bodies();
    let list = format!("POST /detector/{FIXTURE_DETECTOR}/findings");
    let get = format!("POST /detector/{FIXTURE_DETECTOR}/findings/get");
    let pages: Vec<&Value> = bodies
        .iter()
        .filter(|(l, _)| *l == list)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(pages.len(), 3, "128 ids are three pages of 50");
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page["maxResults"], 50);
        assert_eq!(
            page["findingCriteria"]["criterion"]["updatedAt"]["greaterThanOrEqual"],
            SINCE_MS
        );
        assert_eq!(
            page["findingCriteria"]["criterion"]["accountId"]["equals"],
            json!([ACCOUNT])
        );
        assert_eq!(page.get("nextToken").is_some(), i > 0, "page {i}");
    }
    let batches: Vec<usize> = bodies
        .iter()
        .filter(|(l, _)| *l == get)
        .map(|(_, b)| b["findingIds"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [50, 50, 28]);
    // Nothing but GuardDuty was asked, and only to read.
    assert!(standin
        .requests()
        .iter()
        .all(|r| r == "GET /detector" || *r == list || *r == get));
    assert!(stderr.contains("listed 128 finding id(s)"), "{stderr}");
    assert!(stderr.contains("read 128/128 finding(s)"), "{stderr}");
    assert!(stderr.contains("nothing is written"), "{stderr}");

    // The summary: the burst trips the breaker (5 an hour) in one hour, three held.
    let breaker = &report["summary"]["circuit_breaker"];
    assert_eq!(breaker["max_enforced_per_hour"], 5);
    assert_eq!(
        breaker["tripped"],
        json!([{"hour": "2026-11-18T13:00Z", "writes": 8, "refused": 3}])
    );
    let held = findings
        .iter()
        .flat_map(|f| f["decisions"].as_array().unwrap())
        .filter(|d| d["outcome"] == "held")
        .count();
    assert_eq!(held, 3);
    // Workload roles are flagged; protected principals are listed, never contained.
    let contained = report["summary"]["contained_principals"]
        .as_array()
        .unwrap();
    let flagged: Vec<&str> = contained
        .iter()
        .filter(|p| p.get("workload_role").is_some())
        .map(|p| p["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        flagged,
        ["role/order-processor-lambda-role", "role/web-instance-role"]
    );
    assert!(contained
        .iter()
        .all(|p| !p["target"].as_str().unwrap().contains("break-glass")));
    assert_eq!(
        report["summary"]["protected_principals"][0]["target"],
        "user/break-glass-admin"
    );
    assert_eq!(
        report["summary"]["protected_principals"][0]["pattern"],
        "break-glass-*"
    );
}

#[test]
fn simulate_prints_a_report_for_a_change_request() {
    let standin = GuardDutyStandIn::start(month());
    let out = deadbolt(&standin, &ARGS);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    golden("simulate.txt", &String::from_utf8(out.stdout).unwrap());
}

#[test]
fn a_candidate_that_does_not_validate_or_a_bad_window_exits_2() {
    let standin = GuardDutyStandIn::start(month());
    let bad = std::env::temp_dir().join(format!("deadbolt-simulate-{}.json", std::process::id()));
    std::fs::write(&bad, "{\"mode\": \"enforcing\"}").unwrap();
    let out = deadbolt(
        &standin,
        &[
            "simulate",
            "--settings",
            bad.to_str().unwrap(),
            "--account",
            ACCOUNT,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1, column 20: mode \"enforcing\" is not accepted"),
        "{stderr}"
    );
    let out = deadbolt(&standin, &["simulate", "--since", "last month"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since \"last month\""));
    // Neither asked GuardDuty anything.
    assert!(standin.requests().is_empty());
}
