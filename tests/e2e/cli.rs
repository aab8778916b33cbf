//! `deadbolt replay` as an operator runs it: exit codes, output, and the same decision path.

use std::process::{Command, Output};

use deadbolt_e2e::runtime_api::built_binary;
use deadbolt_e2e::{finding_for, fixture_path, Moto};

fn deadbolt(moto: &Moto, args: &[&str]) -> Output {
    Command::new(built_binary("deadbolt"))
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", moto.admin.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", moto.admin.secret_access_key())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("deadbolt runs")
}

fn write_event(event: &str, name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("deadbolt-cli-{}-{name}.json", std::process::id()));
    std::fs::write(&path, event).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_dry_run_unless_enforce_and_prints_the_record() {
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let file = write_event(
        &finding_for("cloudtrail-logging-disabled.json", &mallory.principal),
        "mallory",
    );
    let file = file.to_str().unwrap();

    let dry = deadbolt(&moto, &["replay", file, "--json"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(record["outcome"], "would_contain");
    assert_eq!(record["mode"], "dry-run");
    assert_eq!(moto.probe(&mallory).await, Ok(()));

    let human = deadbolt(&moto, &["replay", file]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("outcome    would_contain (dry_run)"),
        "{text}"
    );
    assert!(text.contains("principal  user mallory"), "{text}");

    let enforce = deadbolt(&moto, &["replay", file, "--enforce", "--json"]);
    assert!(enforce.status.success());
    let record: serde_json::Value = serde_json::from_slice(&enforce.stdout).unwrap();
    assert_eq!(record["outcome"], "contained");
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));

    // A decision other than containment is still exit 0.
    let sample = deadbolt(
        &moto,
        &[
            "replay",
            fixture_path("sample-finding.json").to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(sample.status.code(), Some(0));
    let record: serde_json::Value = serde_json::from_slice(&sample.stdout).unwrap();
    assert_eq!(record["reason"], "sample_finding");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_input_and_unreadable_files_exit_non_zero_with_one_line() {
    let moto = Moto::start().await;
    let bad = write_event(
        r#"{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"severity":"high"}}"#,
        "bad",
    );
    let out = deadbolt(&moto, &["replay", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("deadbolt: rejected:"), "{stderr}");
    assert!(out.stdout.is_empty());

    let missing = deadbolt(&moto, &["replay", "/nonexistent/finding.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/finding.json")
    );
}
