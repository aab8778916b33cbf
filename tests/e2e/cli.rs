//! `deadbolt replay` as an operator runs it: exit codes, output, and the same decision path.

use std::process::{Command, Output};

use deadbolt_e2e::runtime_api::built_binary;
use deadbolt_e2e::{finding_for, fixture_path, Moto};

fn deadbolt(moto: &Moto, args: &[&str]) -> Output {
    moto.deadbolt(args)
}

fn write_event(event: &str, name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("deadbolt-cli-{}-{name}.json", std::process::id()));
    std::fs::write(&path, event).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_verifies_with_guardduty_and_no_verify_never_enforces() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let file = write_event(
        &finding_for("cloudtrail-logging-disabled.json", &mallory.principal),
        "unconfirmed",
    );
    let file = file.to_str().unwrap();
    // GuardDuty (the stand-in, through AWS_ENDPOINT_URL_GUARDDUTY) does not know it.
    let forged = moto.deadbolt_unconfirmed(&["replay", file, "--enforce", "--json"]);
    assert_eq!(forged.status.code(), Some(2), "a rejection exits 2");
    let record: serde_json::Value = serde_json::from_slice(&forged.stdout).unwrap();
    assert_eq!(record["reason"], "finding_not_in_guardduty", "{record}");
    assert_eq!(moto.probe(&mallory).await, Ok(()));
    assert!(moto
        .guardduty
        .requests()
        .iter()
        .any(|r| r.ends_with("/findings/get")));

    // --no-verify decides on the file alone, and only ever in dry-run.
    let offline = moto.deadbolt_unconfirmed(&["replay", file, "--no-verify", "--json"]);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(
        (&record["outcome"], &record["verified_with_guardduty"]),
        (&"would_contain".into(), &false.into()),
        "{record}"
    );
    let refused = moto.deadbolt_unconfirmed(&["replay", file, "--no-verify", "--enforce"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(moto.probe(&mallory).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_dry_run_unless_enforce_and_prints_the_record() {
    deadbolt_e2e::require_tools!(MotoServer);
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
    assert_eq!(record["outcome"], "would_contain", "{record}");
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

/// The figure a new user measures (`deadbolt replay FINDING --enforce`, README "Performance")
/// is three round trips: the settings document with the caller identity and GuardDuty's
/// detector id, GuardDuty's copy of the finding while the policy is read, the write. Asking
/// who deadbolt runs as after the settings was a fourth, and the detector id before the
/// finding (while the policy was read) a serial hop inside the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforced_replay_asks_settings_identity_and_detector_together_then_reads_and_writes() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    moto.confirm(&event);
    let file = write_event(&event, "mallory-sequence");
    let recorder =
        deadbolt_e2e::recorder::Recorder::with_latency(std::time::Duration::from_millis(20));
    let endpoint = recorder.proxy(&moto.endpoint);
    let guardduty = recorder.proxy(&moto.guardduty.endpoint());
    let out = moto.deadbolt_with(
        &["replay", file.to_str().unwrap(), "--enforce", "--json"],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ENDPOINT_URL_GUARDDUTY", &guardduty),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    let calls = recorder.calls();
    assert_eq!(
        deadbolt_e2e::recorder::Recorder::round_trips(&calls),
        [
            vec![
                "guardduty:ListDetectors",
                "ssm:GetParameter",
                "sts:GetCallerIdentity"
            ],
            vec!["guardduty:GetFindings", "iam:GetUserPolicy"],
            vec!["iam:PutUserPolicy"],
        ],
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_input_and_unreadable_files_exit_non_zero_with_one_line() {
    deadbolt_e2e::require_tools!(MotoServer);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_unblock_and_list_round_trip_on_users_roles_and_groups() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let user = moto.create_attacker_user("mallory").await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let member = moto.create_group_member("developers", "dev-alice").await;

    for (flag, name, who) in [
        ("--user", "mallory", &user),
        ("--role", "app-deployer", &session),
        ("--group", "developers", &member),
    ] {
        let dry = deadbolt(
            &moto,
            &[
                "block",
                "--reason",
                "e2e",
                flag,
                name,
                "--dry-run",
                "--json",
            ],
        );
        assert!(
            dry.status.success(),
            "{}",
            String::from_utf8_lossy(&dry.stderr)
        );
        let record: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
        assert_eq!(record["outcome"], "would_contain");
        assert_eq!(
            moto.probe(who).await,
            Ok(()),
            "dry-run changes nothing for {name}"
        );

        let block = deadbolt(&moto, &["block", "--reason", "e2e", flag, name, "--json"]);
        let record: serde_json::Value = serde_json::from_slice(&block.stdout).unwrap();
        assert_eq!(record["outcome"], "contained", "{record}");
        assert_eq!(
            moto.probe(who).await,
            Err("AccessDenied".to_string()),
            "{name} blocked"
        );
    }

    let listed = deadbolt(&moto, &["list", "users", "--blocked", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([{"kind": "user", "name": "mallory", "deny_all": "blocked_by_deadbolt"}])
    );
    let table = String::from_utf8_lossy(&deadbolt(&moto, &["list", "users"]).stdout).to_string();
    assert!(
        table.contains("mallory") && table.contains("blocked (deadbolt)"),
        "{table}"
    );
    assert!(table.contains("dev-alice"), "{table}");
    let roles: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["list", "roles", "--blocked", "--json"]).stdout)
            .unwrap();
    assert_eq!(roles[0]["name"], "app-deployer");
    let groups: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["list", "groups", "--blocked", "--json"]).stdout)
            .unwrap();
    assert_eq!(groups[0]["name"], "developers");

    for (flag, name, who) in [
        ("--user", "mallory", &user),
        ("--role", "app-deployer", &session),
        ("--group", "developers", &member),
    ] {
        let unblock = deadbolt(&moto, &["unblock", "--reason", "e2e", flag, name, "--json"]);
        let record: serde_json::Value = serde_json::from_slice(&unblock.stdout).unwrap();
        assert_eq!(record["outcome"], "released", "{record}");
        assert_eq!(moto.probe(who).await, Ok(()), "{name} released");
    }
    let none: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["list", "users", "--blocked", "--json"]).stdout)
            .unwrap();
    assert_eq!(none, serde_json::json!([]));

    // The operator cannot lock out the identity the CLI runs as.
    let me = deadbolt(
        &moto,
        &["block", "--reason", "e2e", "--user", "deadbolt-operator"],
    );
    assert_eq!(me.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&me.stderr).contains("refusing to block user/deadbolt-operator")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unblock_leaves_a_deny_all_deadbolt_did_not_write() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let user = moto.create_attacker_user("mallory").await;
    // A hand-made deny-all as the playbook writes it (compact and with a Version: moto refuses
    // versionless documents and mis-signs spaces in form bodies; real IAM does neither).
    let manual =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    moto.iam(&moto.admin, None)
        .put_user_policy()
        .user_name("mallory")
        .policy_name("DenyAll")
        .policy_document(manual)
        .send()
        .await
        .unwrap();
    let out = deadbolt(
        &moto,
        &["unblock", "--reason", "e2e", "--user", "mallory", "--json"],
    );
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (record["outcome"].as_str(), record["reason"].as_str()),
        (Some("skipped"), Some("equivalent_deny_all_present"))
    );
    assert_eq!(moto.probe(&user).await, Err("AccessDenied".to_string()));
}

fn offline(args: &[&str]) -> Output {
    Command::new(built_binary("deadbolt"))
        .args(args)
        .current_dir(deadbolt_e2e::repo_root())
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("deadbolt runs")
}

#[test]
fn report_offline_tells_who_how_what_and_what_is_new() {
    let out = offline(&[
        "report",
        "tests/fixtures/scenario/finding.json",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Identity Center user sara",
        "AssumeRoleWithSAML into role AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5 as session sara",
        "AssumeRole into role DemoRole1 as session sara",
        "cloudtrail.amazonaws.com StopLogging: 1 succeeded",
        "iam.amazonaws.com AttachRolePolicy: 1 failed (AccessDenied), 1 succeeded",
        "New API calls: cloudtrail.amazonaws.com StopLogging",
        "detach arn:aws:iam::aws:policy/AdministratorAccess from role DemoEc2InstanceRole",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    assert!(
        !text.contains("bob"),
        "another user's activity leaked:\n{text}"
    );

    let json = offline(&[
        "report",
        "tests/fixtures/scenario/finding.json",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["chain"].as_array().unwrap().len(), 1);
    assert_eq!(report["derived_sessions"][0]["role_name"], "DemoRole1");

    let md = offline(&[
        "report",
        "tests/fixtures/scenario/finding.json",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
        "--markdown",
    ]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with('#') && md.contains("## Who"), "{md}");
}

#[test]
fn investigate_runs_the_playbook_queries_offline() {
    let out = offline(&[
        "investigate",
        "access-denied",
        "--since",
        "2026-11-20T13:00:00Z",
        "--until",
        "2026-11-20T16:00:00Z",
        "--cloudtrail",
        "tests/fixtures/cloudtrail/scenario-window.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].ends_with("ERROR"),
        "{table}"
    );
    assert!(
        lines[1].contains("iam:AttachRolePolicy") && lines[1].contains("AccessDenied"),
        "{table}"
    );
    assert_eq!(lines[2], "1 row(s)", "{table}");

    let json = offline(&[
        "investigate",
        "access-key",
        "ASIARDEMO1SARAEXAMP2",
        "--since",
        "2026-11-20T13:00:00Z",
        "--until",
        "2026-11-20T16:00:00Z",
        "--cloudtrail",
        "tests/fixtures/cloudtrail/scenario-window.json",
        "--json",
    ]);
    let result: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let names: Vec<_> = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_name"].as_str().unwrap())
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

    let bad = offline(&[
        "investigate",
        "access-key",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let bad_time = offline(&[
        "investigate",
        "list-buckets",
        "--since",
        "yesterday",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
    ]);
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr)
        .contains("--since \"yesterday\" is not an RFC 3339 time"));
    let unknown = offline(&[
        "investigate",
        "whoami",
        "--cloudtrail",
        "tests/fixtures/cloudtrail",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("'whoami'")
            && stderr.contains("access-key-created")
            && stderr.contains("users-roles-created"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_set_show_and_validate_round_trip_through_ssm() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let show = deadbolt(&moto, &["config", "show", "--json"]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let settings: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        settings["mode"], "dry-run",
        "nothing stored: the environment's default"
    );

    // No document: `set` never silently starts from empty defaults.
    let missing = deadbolt(&moto, &["config", "set", "mode", "enforce"]);
    assert_eq!(missing.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert!(
        msg.contains("/deadbolt/config does not exist")
            && msg.contains("the stack creates it")
            && msg.contains("deadbolt config set --from-env mode enforce"),
        "{msg}"
    );
    let show: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["config", "show", "--json"]).stdout).unwrap();
    assert_eq!(show["mode"], "dry-run", "nothing was written");

    let set = deadbolt(&moto, &["config", "set", "--from-env", "mode", "enforce"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(String::from_utf8_lossy(&set.stderr)
        .contains("starting from this shell's DEADBOLT_* environment"));
    // Once it exists, --from-env would overwrite it: refused.
    let again = deadbolt(&moto, &["config", "set", "--from-env", "mode", "enforce"]);
    assert_eq!(again.status.code(), Some(2));
    let set = deadbolt(
        &moto,
        &["config", "set", "mode_by_account.123456789012", "dry-run"],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let settings: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["config", "show", "--json"]).stdout).unwrap();
    assert_eq!(settings["mode"], "enforce");
    assert_eq!(settings["mode_by_account"]["123456789012"], "dry-run");

    let refused = deadbolt(&moto, &["config", "set", "mode", "enforcing"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("accepted values: off, dry-run, approve, enforce"));
    let unknown = deadbolt(&moto, &["config", "set", "moed", "enforce"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("mode, min_severity"));
    let after: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &["config", "show", "--json"]).stdout).unwrap();
    assert_eq!(after, settings, "a refused set writes nothing");

    let good = write_event(
        r#"{"version": 1, "mode": "enforce", "min_severity": 5}"#,
        "good-config",
    );
    let ok = deadbolt(&moto, &["config", "validate", good.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0));
    let bad = write_event(
        "{\n  \"version\": 1,\n  \"mode\": \"enforcing\"\n}",
        "bad-config",
    );
    let refused = deadbolt(&moto, &["config", "validate", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(
        msg.contains("line 3") && msg.contains("accepted values: off, dry-run, approve, enforce"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_with_access_key_deactivates_that_key_and_unblock_reactivates_it() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    moto.create_breaker_table("deadbolt-ledger").await;
    let user = moto.create_attacker_user("mallory").await;
    let key = user.principal.access_key_id.clone();
    let status = |moto: &Moto| {
        let iam = moto.iam(&moto.admin, None);
        async move {
            iam.list_access_keys()
                .user_name("mallory")
                .send()
                .await
                .unwrap()
                .access_key_metadata[0]
                .status
                .clone()
                .unwrap()
                .as_str()
                .to_string()
        }
    };

    let block = deadbolt(
        &moto,
        &[
            "block",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--access-key",
            &key,
            "--json",
            "--ledger-table",
            "deadbolt-ledger",
        ],
    );
    let record: serde_json::Value = serde_json::from_slice(&block.stdout).unwrap();
    assert_eq!(record["outcome"], "contained", "{record}");
    // The key first (it needs no quota, so nothing planted can block it); its status is read
    // before it is written (a key already inactive is not written again).
    assert_eq!(
        record["actions"][0],
        serde_json::json!({"api": "iam:ListAccessKeys", "target": "user/mallory", "access_key_id": key, "status": "done"})
    );
    assert_eq!(
        record["actions"][1],
        serde_json::json!({"api": "iam:UpdateAccessKey", "target": "user/mallory", "access_key_id": key, "status": "done"})
    );
    assert_eq!(status(&moto).await, "Inactive");

    // Without the ledger there is no status from before the block: the DenyAll goes, the key
    // stays inactive (deadbolt cannot tell it set it so), and the message says how to do it.
    let unblock = |ledger: bool| {
        let mut args = vec![
            "unblock",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--access-key",
            &key,
            "--json",
        ];
        if ledger {
            args.extend(["--ledger-table", "deadbolt-ledger"]);
        }
        let out = deadbolt(&moto, &args);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let record = unblock(false);
    assert_eq!(record["outcome"], "released", "{record}");
    let message = record["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "access key {key} left as it is: no containment ledger"
        )) && message.contains("--status Active"),
        "{message}"
    );
    assert_eq!(status(&moto).await, "Inactive");
    assert_eq!(moto.user_policy("mallory", "DenyAll").await, None);

    // With the ledger, which recorded the key active before the block: active again (the
    // DenyAll is gone already, so the policy part has nothing to remove).
    let record = unblock(true);
    assert_eq!(record["outcome"], "skipped", "{record}");
    assert!(
        record["message"]
            .as_str()
            .unwrap()
            .contains(&format!("set access key {key} active again")),
        "{record}"
    );
    assert_eq!(status(&moto).await, "Active");
    assert_eq!(moto.probe(&user).await, Ok(()));

    // Not a key id: refused before any call, with the accepted form.
    let bad = deadbolt(
        &moto,
        &[
            "block",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--access-key",
            "mallory",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("AKIA followed by 16"));
    // --access-key only makes sense for a user.
    let role = deadbolt(
        &moto,
        &[
            "block",
            "--reason",
            "e2e",
            "--role",
            "app-deployer",
            "--access-key",
            &key,
        ],
    );
    assert_eq!(role.status.code(), Some(2));
}

/// Compare with `tests/fixtures/cli/NAME` exactly; `UPDATE_EXPECT=1` rewrites the files (review
/// the diff). The path is absolute so expect-test need not guess the workspace root.
fn golden(name: &str, actual: &str) {
    expect_test::expect_file![deadbolt_e2e::repo_root()
        .join("tests/fixtures/cli")
        .join(name)]
    .assert_eq(actual);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_json_match_the_golden_files() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    moto.create_attacker_user("mallory").await;
    moto.create_attacker_user("bob").await;
    moto.create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let stdout = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    stdout(deadbolt(
        &moto,
        &["block", "--reason", "e2e", "--user", "mallory"],
    ));
    // A role with session statements only lists as such.
    let session_only = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltDenySessionabc","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROAEXAMPLE:ci-runner-42"}}}]}"#;
    moto.iam(&moto.admin, None)
        .put_role_policy()
        .role_name("app-deployer")
        .policy_name("DenyAll")
        .policy_document(session_only)
        .send()
        .await
        .unwrap();

    golden(
        "list-users.txt",
        &stdout(deadbolt(&moto, &["list", "users"])),
    );
    golden(
        "list-users.json",
        &stdout(deadbolt(&moto, &["list", "users", "--json"])),
    );
    golden(
        "list-roles-blocked.txt",
        &stdout(deadbolt(&moto, &["list", "roles", "--blocked"])),
    );
    golden(
        "block-dry-run.txt",
        &stdout(deadbolt(
            &moto,
            &[
                "block",
                "--reason",
                "e2e",
                "--group",
                "developers",
                "--dry-run",
            ],
        )),
    );
    golden(
        "block-dry-run.json",
        &stdout(deadbolt(
            &moto,
            &[
                "block",
                "--reason",
                "e2e",
                "--group",
                "developers",
                "--dry-run",
                "--json",
            ],
        )),
    );
    let finding = fixture_path("cloudtrail-logging-disabled.json");
    let finding = finding.to_str().unwrap();
    golden("replay.txt", &stdout(deadbolt(&moto, &["replay", finding])));
    golden(
        "replay.json",
        &stdout(deadbolt(&moto, &["replay", finding, "--json"])),
    );
    let sso = fixture_path("cloudtrail-logging-disabled-sso.json");
    golden(
        "replay-identity-center.txt",
        &stdout(deadbolt(&moto, &["replay", sso.to_str().unwrap()])),
    );
}

#[test]
fn investigate_narrows_any_query_by_access_key_and_ip() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "investigate",
            "--since",
            "2026-11-20T13:00:00Z",
            "--until",
            "2026-11-20T16:00:00Z",
            "--cloudtrail",
            "tests/fixtures/cloudtrail-followup",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = offline(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event_name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // Everything created in the window, then only what sara's DemoRole1 session created.
    assert_eq!(run(&["users-roles-created"]), ["CreateUser"]);
    assert_eq!(
        run(&[
            "users-roles-created",
            "--access-key",
            "ASIARDEMO1BOBEXAMPL3"
        ]),
        Vec::<String>::new(),
        "bob's session created nothing"
    );
    assert_eq!(
        run(&["access-denied", "--access-key", "ASIARDEMO1SARAEXAMP2"]),
        ["AttachRolePolicy"]
    );
    // The flags also give access-key and source-ip their argument.
    let by_key = run(&[
        "access-key",
        "--access-key",
        "ASIARDEMO1SARAEXAMP2",
        "--ip",
        "198.51.100.24",
    ]);
    assert!(
        by_key.contains(&"CreateAccessKey".to_string()),
        "{by_key:?}"
    );
    assert!(run(&["source-ip", "--ip", "203.0.113.250"]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_follows_the_settings_document_and_never_enforces_on_an_invalid_one() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let file = write_event(
        &finding_for("tor-ip-caller.json", &session.principal),
        "replay-settings",
    );
    let file = file.to_str().unwrap();
    store_document(&moto, r#"{"version": 1}"#).await;
    let set = deadbolt(
        &moto,
        &["config", "set", "strategy.role", "revoke-sessions"],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    let dry = deadbolt(&moto, &["replay", file, "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(record["strategy"], "revoke-sessions", "{record}");
    assert!(String::from_utf8_lossy(&dry.stderr)
        .contains("using the settings document /deadbolt/config"));

    let enforce = deadbolt(&moto, &["replay", file, "--enforce", "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&enforce.stdout).unwrap();
    assert_eq!(
        (record["outcome"].as_str(), record["reason"].as_str()),
        (Some("contained"), Some("sessions_revoked")),
        "{record}"
    );

    // A broken document: a replay still explains (on the newest valid version, as the
    // functions decide), but --enforce is refused.
    store_document(&moto, r#"{"mode": "enforcing"}"#).await;
    let refused = deadbolt(&moto, &["replay", file, "--enforce"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refusing --enforce"));
    let explained = deadbolt(&moto, &["replay", file, "--json"]);
    assert!(explained.status.success());
    let stderr = String::from_utf8_lossy(&explained.stderr);
    assert!(
        stderr.contains("is invalid") && stderr.contains("replaying dry-run with version 2"),
        "{stderr}"
    );
    let record: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(record["strategy"], "revoke-sessions", "{record}");
}

#[test]
fn config_validate_reports_in_json_too() {
    let ok = offline(&["config", "validate", "docs/config.example.json", "--json"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["valid"], true);

    let bad = write_event("{\n  \"follow_up\": \"on\"\n}\n", "bad-settings");
    let out = offline(&["config", "validate", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("line 2")
            && error.contains("follow_up")
            && error.contains("off, dry-run, enforce"),
        "{error}"
    );
}

fn ssm_store(moto: &Moto) -> deadbolt_aws::SsmSettingsStore {
    deadbolt_aws::SsmSettingsStore::from_conf(&moto.sdk_config(&moto.admin), "/deadbolt/config")
}

async fn store_document(moto: &Moto, document: &str) {
    use deadbolt_core::runtime::SettingsStore;
    ssm_store(moto).store(document).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_way_to_enable_enforce_keeps_the_break_glass_protection() {
    use deadbolt_core::runtime::SettingsStore;
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    // The break-glass user exists before the protection is written (a pattern protects only
    // principals that existed when it was written: issue 17).
    let admin = moto.create_attacker_user("break-glass-admin").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // As the stack creates it: a first document with the protection.
    store_document(
        &moto,
        r#"{"version": 1, "protected_principals": ["break-glass-*"]}"#,
    )
    .await;
    let set = deadbolt(&moto, &["config", "set", "mode", "enforce"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let stored = ssm_store(&moto).load().await.unwrap().unwrap();
    let settings = deadbolt_core::Settings::parse(&stored).unwrap();
    assert_eq!(settings.mode, deadbolt_core::Mode::Enforce);
    assert_eq!(settings.protected_principals, vec!["break-glass-*"]);

    // A break-glass user's finding is still skipped, even replayed with --enforce.
    let file = write_event(
        &finding_for("cloudtrail-logging-disabled.json", &admin.principal),
        "break-glass",
    );
    let out = deadbolt(
        &moto,
        &["replay", file.to_str().unwrap(), "--enforce", "--json"],
    );
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (record["outcome"].as_str(), record["reason"].as_str()),
        (Some("skipped"), Some("protected_principal")),
        "{record}"
    );
    assert_eq!(moto.probe(&admin).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_instance_after_an_invalid_edit_uses_the_newest_valid_version() {
    use deadbolt_core::runtime::{ConfigOrigin, RuntimeConfig, SettingsStore};
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    store_document(&moto, r#"{"mode": "dry-run"}"#).await;
    store_document(
        &moto,
        r#"{"mode": "enforce", "protected_principals": ["break-glass-*"]}"#,
    )
    .await;
    store_document(&moto, r#"{"mode": "enforcing"}"#).await;

    let store = ssm_store(&moto);
    let history = store.history(50).await.unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2, 1],
        "newest first"
    );
    assert!(history.iter().all(|v| v.modified_at.is_some()));
    // moto 5.2 answers LastModifiedUser with the literal "N/A" (AWS: the writer's IAM ARN).
    eprintln!("moto LastModifiedUser: {:?}", history[0].modified_by);

    // A fresh RuntimeConfig is a cold instance: it never read version 2 itself.
    let mut cold = RuntimeConfig::new(deadbolt_core::Settings::default(), 60_000);
    cold.refresh(&store, deadbolt_core::clock::now_ms()).await;
    let settings = cold.current().unwrap();
    assert_eq!(settings.mode, deadbolt_core::Mode::Enforce);
    assert_eq!(settings.protected_principals, vec!["break-glass-*"]);
    assert!(
        matches!(cold.origin(), ConfigOrigin::LastGood { version: Some(2), error } if error.contains("enforcing")),
        "{:?}",
        cold.origin()
    );

    // Nothing valid at all (a parameter whose only version is invalid): dry-run.
    let only_bad =
        deadbolt_aws::SsmSettingsStore::from_conf(&moto.sdk_config(&moto.admin), "/deadbolt/bad");
    only_bad.store(r#"{"moed": "enforce"}"#).await.unwrap();
    let mut cold = RuntimeConfig::new(deadbolt_core::Settings::default(), 60_000);
    cold.refresh(&only_bad, deadbolt_core::clock::now_ms())
        .await;
    assert!(matches!(cold.origin(), ConfigOrigin::DryRunFallback { .. }));
    // And a parameter that does not exist has no history.
    let none =
        deadbolt_aws::SsmSettingsStore::from_conf(&moto.sdk_config(&moto.admin), "/deadbolt/none");
    assert_eq!(none.history(50).await.unwrap(), vec![]);
}

/// RFC 3339 UTC times (`2026-11-20T13:00:00Z`) vary from run to run: `<time>`.
fn without_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_time = |w: &[u8]| {
        w.len() == 20
            && w[19] == b'Z'
            && w[4] == b'-'
            && w[10] == b'T'
            && w.iter()
                .enumerate()
                .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit())
    };
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        if i + 20 <= bytes.len() && is_time(&bytes[i..i + 20]) {
            out.push_str("<time>");
            i += 20;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_history_shows_who_changed_what_and_what_is_in_force() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let run = |args: &[&str]| {
        let o = deadbolt(&moto, args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    store_document(
        &moto,
        r#"{"version": 1, "mode": "dry-run", "protected_principals": ["break-glass-*"]}"#,
    )
    .await;
    run(&["config", "set", "mode", "enforce"]);
    run(&["config", "set", "mode_by_account.123456789012", "off"]);
    run(&["config", "set", "protected_principals", ""]);
    store_document(&moto, "{\n  \"mode\": \"enforcing\"\n}").await;

    golden(
        "config-history.txt",
        &without_times(&run(&["config", "history"])),
    );
    let json = run(&["config", "history", "--json"]);
    golden("config-history.json", &without_times(&json));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["in_force"], 4);
    assert!(v["versions"][0]["modified_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

/// A machine with no AWS credentials at all (issue 13): each thing deadbolt could not do is
/// one line saying what could not be read, why in a few words, and what it did instead — not
/// the SDK's account of every credential provider it tried.
#[test]
fn without_credentials_replay_says_so_in_one_line_each() {
    let home = std::env::temp_dir().join(format!("deadbolt-no-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(built_binary("deadbolt"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_REGION", "us-east-1")
        // Nothing may leave the machine: instance metadata is the chain's last stop.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(["--endpoint-url", "http://127.0.0.1:9", "replay"])
        .arg(fixture_path("tor-ip-caller.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["deadbolt: could not read the settings document /deadbolt/config (NoCredentials: no AWS credentials found (environment, profile, SSO, container or instance metadata)); replaying dry-run with the DEADBOLT_* environment"],
    );
    assert!(
        stdout.contains("why        could not establish which account deadbolt acts in (sts:GetCallerIdentity: NoCredentials: no AWS credentials found"),
        "{stdout}"
    );
    for noise in ["IMDS", "DispatchFailure", "ConnectorError", "\n\n"] {
        assert!(
            !stderr.contains(noise) && !stdout.contains(noise),
            "{noise}: {stderr}{stdout}"
        );
    }
}

/// The containment ledger (issue 12): a CLI block records who ran it (GetCallerIdentity) and
/// why, with the key's status before; unblock restores exactly that: a key that was inactive
/// before containment stays inactive. `history` shows both, newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_records_caller_and_reason_and_unblock_leaves_an_inactive_key_inactive() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    moto.create_breaker_table("deadbolt-ledger").await;
    let user = moto.create_attacker_user("mallory").await;
    let key = user.principal.access_key_id.clone();
    let iam = moto.iam(&moto.admin, None);
    // An operator had already turned the key off before the incident.
    iam.update_access_key()
        .user_name("mallory")
        .access_key_id(&key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let ledger = ["--ledger-table", "deadbolt-ledger"];

    let without_reason = deadbolt(&moto, &["block", "--user", "mallory"]);
    assert_eq!(without_reason.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without_reason.stderr).contains("needs --reason"));

    let mut args = vec!["block", "--user", "mallory", "--access-key", &key];
    args.extend(["--reason", "INC-42 key seen on a paste site", "--json"]);
    args.extend(ledger);
    let block = deadbolt(&moto, &args);
    assert!(
        block.status.success(),
        "{}",
        String::from_utf8_lossy(&block.stderr)
    );

    let mut args = vec!["history", "--principal", "user/mallory", "--json"];
    args.extend(ledger);
    let history: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &args).stdout).unwrap();
    let entry = &history[0];
    assert_eq!(entry["action"], "contain", "{history}");
    assert_eq!(entry["state"], "completed");
    assert_eq!(entry["actor"], moto.admin_arn.as_str());
    assert_eq!(entry["reason"], "INC-42 key seen on a paste site");
    assert_eq!(entry["prior_keys"][0]["access_key_id"], key.as_str());
    assert_eq!(entry["prior_keys"][0]["active"], false);
    assert_eq!(entry["outcome"], "contained");

    let mut args = vec!["unblock", "--user", "mallory", "--access-key", &key];
    args.extend(["--reason", "INC-42 closed", "--json"]);
    args.extend(ledger);
    let unblock: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &args).stdout).unwrap();
    assert_eq!(unblock["outcome"], "released", "{unblock}");
    assert!(
        unblock["message"]
            .as_str()
            .unwrap()
            .contains("stays inactive"),
        "{unblock}"
    );
    let status = iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key_metadata[0]
        .status
        .clone();
    assert_eq!(status, Some(aws_sdk_iam::types::StatusType::Inactive));

    let mut args = vec!["history", "--json"];
    args.extend(ledger);
    let history: serde_json::Value =
        serde_json::from_slice(&deadbolt(&moto, &args).stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history[0]["action"], "release");
    assert_eq!(history[0]["reason"], "INC-42 closed");
    assert_eq!(history[0]["actor"], moto.admin_arn.as_str());
}
