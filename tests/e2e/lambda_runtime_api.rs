//! The built responder binary, driven through the Lambda Runtime API (`cargo lambda watch
//! --only-lambda-apis` + `cargo lambda invoke`), against moto: the production code path.

use deadbolt_e2e::runtime_api::{built_binary, LambdaHarness};
use deadbolt_e2e::{finding_for, Moto};

/// A `CloudTrailLoggingDisabled` finding about `attacker`, confirmed by the GuardDuty stand-in,
/// through the running function: its answer.
async fn invoke_confirmed(
    lambda: &std::sync::Arc<LambdaHarness>,
    moto: &Moto,
    attacker: &deadbolt_e2e::AttackerCredentials,
) -> serde_json::Value {
    let lambda = lambda.clone();
    let event = finding_for("cloudtrail-logging-disabled.json", &attacker.principal);
    moto.confirm(&event);
    tokio::task::spawn_blocking(move || lambda.invoke(&event))
        .await
        .unwrap()
        .expect("invocation")
}

fn env_for(moto: &Moto, mode: &str) -> Vec<(&'static str, String)> {
    let mut env = moto.binary_env();
    env.push(("DEADBOLT_MODE", mode.to_string()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_binary_contains_through_the_runtime_api_and_logs_one_json_line_per_decision() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    assert_eq!(moto.probe(&mallory).await, Ok(()));

    let log = std::env::temp_dir().join(format!("deadbolt-responder-{}.log", std::process::id()));
    let mut env = env_for(&moto, "enforce");
    env.push(("DEADBOLT_METRICS_NAMESPACE", "deadbolt/e2e".to_string()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    moto.confirm(&event);
    let response = tokio::task::spawn_blocking({
        let event = event.clone();
        move || {
            let first = lambda.invoke(&event);
            let malformed = lambda.invoke(r#"{"source":"aws.guardduty"}"#);
            (lambda, first, malformed)
        }
    })
    .await
    .unwrap();
    let (lambda, first, malformed) = response;
    let record = first.expect("invocation succeeds");
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(record["principal"]["name"], "mallory");
    assert_eq!(record["actions"][1]["api"], "iam:PutUserPolicy");
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));

    let rejected = malformed.expect("a rejected event is still a decision");
    assert_eq!(rejected["outcome"], "rejected");
    assert_eq!(rejected["reason"], "missing_field");

    let decisions: Vec<_> = lambda
        .log_lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 2, "one structured line per decision");
    assert_eq!(decisions[0]["fields"]["outcome"], "contained");
    assert_eq!(decisions[0]["fields"]["reason"], "deny_all_attached");
    let logged: serde_json::Value =
        serde_json::from_str(decisions[0]["fields"]["decision_record"].as_str().unwrap()).unwrap();
    assert_eq!(
        logged, record,
        "the log carries the same record the function returned"
    );

    // One Embedded Metric Format line per decision: the containment with every stage timed.
    let emf: Vec<_> = lambda
        .log_lines()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 2, "one metrics line per decision: {emf:?}");
    for line in &emf {
        deadbolt_core::metrics::check_emf(&line.to_string()).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "deadbolt/e2e"
        );
    }
    assert_eq!(
        (&emf[0]["Outcome"], &emf[0]["Reason"], &emf[0]["Decisions"]),
        (
            &"contained".into(),
            &"deny_all_attached".into(),
            &1.0.into()
        )
    );
    for stage in [
        "TimeToContain",
        "VerifyLatency",
        "IamReadLatency",
        "IamWriteLatency",
    ] {
        assert!(
            emf[0][stage].as_f64().is_some_and(|ms| ms >= 0.0),
            "{stage}: {}",
            emf[0]
        );
    }
    assert_eq!(emf[1]["Outcome"], "rejected");
    assert!(emf[1].get("TimeToContain").is_none(), "{}", emf[1]);
}

/// A containment is announced on the alarm topic for people: who, the exact undo command and
/// both console links; a rejected event is not announced. (moto without IAM authentication:
/// its signature check mis-handles SNS form bodies with newlines.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_binary_announces_a_containment_with_its_undo_command() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start_with_auth(false).await;
    let mallory = moto.create_attacker_user("mallory").await;
    let alarms = moto.create_topic("deadbolt-alarms").await;
    let mut env = env_for(&moto, "enforce");
    env.push(("DEADBOLT_ALARM_TOPIC_ARN", alarms.clone()));
    let log = std::env::temp_dir().join(format!("deadbolt-announce-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    moto.confirm(&event);
    let (_lambda, first, malformed) = tokio::task::spawn_blocking(move || {
        let first = lambda.invoke(&event);
        let malformed = lambda.invoke(r#"{"source":"aws.guardduty"}"#);
        (lambda, first, malformed)
    })
    .await
    .unwrap();
    let record = first.expect("invocation succeeds");
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(malformed.expect("a decision")["outcome"], "rejected");
    let sent = moto.sent_notifications(&alarms);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].0.starts_with("deadbolt contained user/mallory"),
        "{:?}",
        sent[0]
    );
    for part in [
        "Who:   IAM user mallory",
        "Undo:  deadbolt unblock --user mallory",
        "#/findings?search=id%3D",
        "/iam/home#/users/details/mallory",
    ] {
        assert!(sent[0].1.contains(part), "{part}: {}", sent[0].1);
    }
    assert!(!sent[0].1.contains("Report:"), "no ReportBucket, no link");

    // ReportBucket: the notice links the investigation page the enricher writes, by its S3
    // console page (nothing in the link grants access).
    let trudy = moto.create_attacker_user("trudy").await;
    env.push(("DEADBOLT_REPORT_BUCKET", "deadbolt-reports-e2e".into()));
    env.push(("DEADBOLT_REPORT_BUCKET_OWNER", "123456789012".into()));
    let log = std::env::temp_dir().join(format!("deadbolt-announce-r-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let event = finding_for("cloudtrail-logging-disabled.json", &trudy.principal);
    moto.confirm(&event);
    let finding_id = serde_json::from_str::<serde_json::Value>(&event).unwrap()["detail"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = tokio::task::spawn_blocking(move || lambda.invoke(&event))
        .await
        .unwrap()
        .expect("invocation succeeds");
    assert_eq!(record["outcome"], "contained", "{record}");
    let sent = moto.sent_notifications(&alarms);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let link = format!(
        "Report:    https://us-east-1.console.aws.amazon.com/s3/object/deadbolt-reports-e2e?region=us-east-1&bucketType=general&prefix=reports%2F123456789012%2F{finding_id}.html"
    );
    assert!(sent[1].1.contains(&link), "{link}\n{}", sent[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_and_archived_findings_leave_the_named_principal_alone() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    // The administrator a forger wants locked out, and the real attacker.
    let admin = moto.create_attacker_user("ops-admin").await;
    let eve = moto.create_attacker_user("eve").await;
    let bob = moto.create_attacker_user("bob").await;
    for user in [&admin, &eve, &bob] {
        assert_eq!(moto.probe(user).await, Ok(()));
    }
    let log = std::env::temp_dir().join(format!("deadbolt-verify-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env_for(&moto, "enforce"), log);

    // Forged: a well-formed event naming ops-admin that GuardDuty never produced.
    let forged = finding_for("cloudtrail-logging-disabled.json", &admin.principal);
    // Tampered: GuardDuty's copy of the same finding id names eve; the event names ops-admin.
    let tampered = finding_for("tor-ip-caller.json", &admin.principal);
    moto.confirm(&finding_for("tor-ip-caller.json", &eve.principal));
    // Archived since the event: GuardDuty archived bob's finding after it was sent.
    let archived = finding_for("malicious-ip-caller.json", &bob.principal);
    moto.confirm(&archived);
    let archived_id = serde_json::from_str::<serde_json::Value>(&archived).unwrap()["detail"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(moto.guardduty.set_archived(&archived_id, true));

    let (forged_r, tampered_r, archived_r) = tokio::task::spawn_blocking(move || {
        (
            lambda.invoke(&forged),
            lambda.invoke(&tampered),
            lambda.invoke(&archived),
        )
    })
    .await
    .unwrap();
    let forged_r = forged_r.expect("a rejection is a decision");
    assert_eq!(
        (&forged_r["outcome"], &forged_r["reason"]),
        (&"rejected".into(), &"finding_not_in_guardduty".into()),
        "{forged_r}"
    );
    let tampered_r = tampered_r.expect("decided on GuardDuty's copy");
    assert_eq!(tampered_r["outcome"], "contained", "{tampered_r}");
    assert_eq!(tampered_r["principal"]["name"], "eve");
    assert_eq!(tampered_r["verified_with_guardduty"], true);
    assert!(
        tampered_r["event_mismatch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["field"] == "resource.accessKeyDetails.userName"
                && m["event"] == "ops-admin"
                && m["guardduty"] == "eve"),
        "{tampered_r}"
    );
    let archived_r = archived_r.expect("a skip is a decision");
    assert_eq!(
        (&archived_r["outcome"], &archived_r["reason"]),
        (&"skipped".into(), &"archived_finding".into()),
        "{archived_r}"
    );
    // The named administrator and bob keep their access; only GuardDuty's attacker is out.
    assert_eq!(moto.probe(&admin).await, Ok(()));
    assert_eq!(moto.probe(&bob).await, Ok(()));
    assert_eq!(moto.probe(&eve).await, Err("AccessDenied".to_string()));
    // Every decision asked GuardDuty (one detector lookup per process).
    let asked = moto.guardduty.requests();
    assert_eq!(
        asked
            .iter()
            .filter(|r| r.ends_with("/findings/get"))
            .count(),
        3,
        "{asked:?}"
    );
    assert_eq!(
        asked
            .iter()
            .filter(|r| r.starts_with("GET /detector"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_settings_decide_nothing_and_ask_lambda_to_retry() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    // IAM and STS answer; SSM (the settings document) does not: a closed loopback port,
    // reached through the SDK's service-specific endpoint variable.
    let mut env = env_for(&moto, "enforce");
    env.push(("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:9".into()));
    let log = std::env::temp_dir().join(format!(
        "deadbolt-responder-nossm-{}.log",
        std::process::id()
    ));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    let (lambda, result) = tokio::task::spawn_blocking(move || {
        let result = lambda.invoke(&event);
        (lambda, result)
    })
    .await
    .unwrap();
    let error = result.expect_err("a retryable record is a function error, so Lambda retries");
    assert!(error.contains("settings_unavailable"), "{error}");
    // Enforce in the environment, but no decision is taken on settings nobody could read.
    assert_eq!(moto.probe(&mallory).await, Ok(()));
    let decision = lambda
        .log_lines()
        .into_iter()
        .find(|l| l["fields"]["message"] == "decision")
        .expect("one decision line");
    let record: serde_json::Value =
        serde_json::from_str(decision["fields"]["decision_record"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&record["outcome"], &record["reason"], &record["retryable"]),
        (
            &"failed".into(),
            &"settings_unavailable".into(),
            &true.into()
        ),
        "{record}"
    );
    assert!(record["actions"].as_array().unwrap().is_empty());
    assert_eq!(record["principal"], serde_json::Value::Null);
    assert_eq!(
        record["finding_id"], "92b108e6e29fae28af700f610bd20943",
        "{record}"
    );
}

#[test]
fn invalid_configuration_stops_the_function_before_any_event() {
    let out = std::process::Command::new(built_binary("responder"))
        .env_clear()
        .env("DEADBOLT_MODE", "enforcing")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9") // never reached
        .output()
        .expect("responder runs");
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("DEADBOLT_MODE"), "{text}");
    assert!(
        text.contains("accepted values: off, dry-run, approve, enforce"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enricher_binary_investigates_publishes_and_says_what_it_could_not_search() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start_with_auth(false).await;
    let topic = moto.create_topic("deadbolt-findings").await;
    let mut env = env_for(&moto, "dry-run");
    env.push(("DEADBOLT_SUMMARY_TOPIC_ARN", topic.clone()));
    let log = std::env::temp_dir().join(format!("deadbolt-enricher-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("enricher"), &env, log);
    let event = std::fs::read_to_string(
        deadbolt_e2e::repo_root().join("tests/fixtures/scenario/finding.json"),
    )
    .unwrap();
    let (lambda, result) = tokio::task::spawn_blocking(move || {
        let r = lambda.invoke(&event);
        (lambda, r)
    })
    .await
    .unwrap();
    let record = result.expect("the enricher answers even when its evidence source fails");
    assert_eq!(record["outcome"], "investigated", "{record}");
    assert_eq!(record["published"], true, "{record}");
    // moto has no CloudTrail LookupEvents: the report must say so rather than fail.
    let missing = record["report"]["missing"].as_array().unwrap();
    assert!(!missing.is_empty(), "{record}");
    assert!(
        missing.iter().any(|m| m
            .as_str()
            .unwrap()
            .contains("LookupEvents failed after 0 page(s): HTTP 500")),
        "{missing:?}"
    );

    let sent = moto.sent_notifications(&topic);
    assert_eq!(sent.len(), 1, "one summary per finding");
    assert!(
        sent[0]
            .0
            .starts_with("deadbolt: Stealth:IAMUser/CloudTrailLoggingDisabled"),
        "{:?}",
        sent[0].0
    );
    assert!(
        sent[0].1.contains("5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3"),
        "{}",
        sent[0].1
    );
    // No ReportBucket: no page, no link, nothing about it in the record.
    assert!(!sent[0].1.contains("Investigation page"), "{}", sent[0].1);
    assert!(record.get("report_object").is_none() && record.get("report_error").is_none());
    let lines = lambda.log_lines();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "investigation"
            && l["fields"]["outcome"] == "investigated"));
    // One Embedded Metric Format line: the investigation, its duration and evidence calls.
    let emf: Vec<_> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "{emf:?}");
    deadbolt_core::metrics::check_emf(&emf[0].to_string()).unwrap();
    assert_eq!(emf[0]["Outcome"], "investigated");
    assert!(emf[0]["EnrichmentDuration"]
        .as_f64()
        .is_some_and(|ms| ms > 0.0));
    assert!(emf[0]["EvidenceCalls"].is_number() && emf[0]["BudgetHits"].is_number());
}

/// Operators switch auto-block by editing the settings document in SSM: the running function
/// follows it (TTL 0 here, so every invocation re-reads), and an invalid document never takes
/// over from the last good one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_document_in_ssm_toggles_enforcement_without_a_redeploy() {
    use deadbolt_core::runtime::SettingsStore;
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let first = moto.create_attacker_user("mallory").await;
    let second = moto.create_attacker_user("trudy").await;
    let third = moto.create_attacker_user("oscar").await;
    let store = deadbolt_aws::SsmSettingsStore::from_conf(
        &moto.sdk_config(&moto.admin),
        "/deadbolt/config",
    );

    let mut env = env_for(&moto, "dry-run");
    env.push(("DEADBOLT_CONFIG_TTL_SECONDS", "0".into()));
    let log = std::env::temp_dir().join(format!("deadbolt-toggle-{}.log", std::process::id()));
    let lambda = std::sync::Arc::new(LambdaHarness::start(&built_binary("responder"), &env, log));
    let invoke = |attacker| invoke_confirmed(&lambda, &moto, attacker);

    let record = invoke(&first).await;
    assert_eq!(
        record["outcome"], "would_contain",
        "no document: the environment's dry-run"
    );

    store
        .store(r#"{"version": 1, "mode": "enforce"}"#)
        .await
        .unwrap();
    let record = invoke(&first).await;
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(moto.probe(&first).await, Err("AccessDenied".to_string()));

    store
        .store(r#"{"version": 1, "mode": "enforcing"}"#)
        .await
        .unwrap();
    let record = invoke(&second).await;
    assert_eq!(
        record["outcome"], "contained",
        "the last good document stays in force: {record}"
    );

    store
        .store(r#"{"version": 1, "mode": "dry-run"}"#)
        .await
        .unwrap();
    let record = invoke(&third).await;
    assert_eq!(record["outcome"], "would_contain", "{record}");
    assert_eq!(moto.probe(&third).await, Ok(()));

    let lines = lambda.log_lines();
    let invalid = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("an invalid document is logged loudly");
    assert!(
        invalid["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("accepted values: off, dry-run, approve, enforce"),
        "{invalid}"
    );
}

/// Every RFC 3339 string in `v` moved by `shift_ms` (CloudTrail's `Z` seconds and GuardDuty's
/// milliseconds alike).
fn shift_times(v: &mut serde_json::Value, shift_ms: i64) {
    use deadbolt_trail::{format_rfc3339_ms, parse_rfc3339_ms};
    match v {
        serde_json::Value::String(s) if s.len() >= 20 && s.starts_with("20") && s.contains('T') => {
            if let Ok(ms) = parse_rfc3339_ms(s) {
                let moved = format_rfc3339_ms(ms + shift_ms);
                // Keep each field's own precision.
                *s = if s.contains('.') {
                    moved
                } else {
                    format!("{}Z", &moved[..19])
                };
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| shift_times(i, shift_ms)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| shift_times(i, shift_ms)),
        _ => {}
    }
}

/// The enricher as deployed: the built binary under the runtime API, its evidence from the
/// trail's CloudWatch Logs group, its settings from SSM, and IAM with authentication on. The
/// walkthrough's attacker created a user and two access keys; with `follow_up: enforce` the
/// created user is blocked and exactly the created keys are deactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enricher_binary_contains_what_the_attacker_created_when_follow_up_is_enforced() {
    use deadbolt_core::runtime::SettingsStore;
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let iam = moto.iam(&moto.admin, None);
    let new_key = |user: &'static str| {
        let iam = iam.clone();
        async move {
            iam.create_access_key()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .access_key
                .unwrap()
                .access_key_id
        }
    };
    for user in ["backdoor-admin", "bob"] {
        iam.create_user().user_name(user).send().await.unwrap();
    }
    let backdoor_key = new_key("backdoor-admin").await;
    let bobs_own_key = new_key("bob").await;
    let bobs_new_key = new_key("bob").await;
    // The walkthrough's role chaining: sara's session went on to assume DemoRole1; bob has a
    // DemoRole1 session of his own. Both are real moto sessions, so the trail carries the keys
    // and assumedRoleIds moto handed out.
    let sara_demo = moto.create_attacker_session("DemoRole1", "sara").await;
    let bob_demo = moto.assume_session("DemoRole1", "bob").await;
    assert_eq!(
        moto.probe(&sara_demo).await,
        Ok(()),
        "sara's DemoRole1 session works before"
    );

    // The scenario, in moto's account, with the keys moto handed out, two days ago (CloudWatch
    // Logs, like moto, refuses events older than 14 days).
    let path = deadbolt_e2e::repo_root().join(
        "tests/fixtures/cloudtrail-followup/111122223333_CloudTrail_us-east-1_20261120T1415Z_followup.json",
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("111122223333", "123456789012")
        .replace("AKIARBACKDOOR0000001", &backdoor_key)
        .replace("AKIARBOBSECONDKEY002", &bobs_new_key)
        .replace("ASIARDEMO1SARAEXAMP2", &sara_demo.principal.access_key_id)
        .replace(
            "AROARDEMOROLE1EXAMPLE:sara",
            &sara_demo.principal.principal_id,
        )
        .replace("ASIARDEMO1BOBEXAMPL3", &bob_demo.principal.access_key_id)
        .replace(
            "AROARDEMOROLE1EXAMPLE:bob",
            &bob_demo.principal.principal_id,
        );
    let hour = 3_600_000i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let shift = (now - 2 * 24 * hour) / hour * hour - 1_795_183_200_000; // 2026-11-20T14:00Z
    let mut trail: serde_json::Value = serde_json::from_str(&text).unwrap();
    shift_times(&mut trail, shift);
    let logs = moto.logs(&moto.admin);
    logs.create_log_group()
        .log_group_name("CloudTrail/DefaultLogGroup")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("CloudTrail/DefaultLogGroup")
        .log_stream_name("123456789012_CloudTrail_us-east-1")
        .send()
        .await
        .unwrap();
    let mut events: Vec<(i64, String)> = trail["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t = deadbolt_trail::parse_rfc3339_ms(r["eventTime"].as_str().unwrap()).unwrap();
            (t, r.to_string())
        })
        .collect();
    events.sort_by_key(|(t, _)| *t);
    let mut put = logs
        .put_log_events()
        .log_group_name("CloudTrail/DefaultLogGroup")
        .log_stream_name("123456789012_CloudTrail_us-east-1");
    for (timestamp, message) in events {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(timestamp)
                .message(message)
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();

    deadbolt_aws::SsmSettingsStore::from_conf(&moto.sdk_config(&moto.admin), "/deadbolt/config")
        .store(r#"{"version": 1, "mode": "enforce", "follow_up": "enforce"}"#)
        .await
        .unwrap();
    let mut finding: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            deadbolt_e2e::repo_root().join("tests/fixtures/scenario/finding.json"),
        )
        .unwrap()
        .replace("111122223333", "123456789012"),
    )
    .unwrap();
    shift_times(&mut finding, shift);

    let mut env = env_for(&moto, "dry-run");
    env.push((
        "DEADBOLT_TRAIL_LOG_GROUP",
        "CloudTrail/DefaultLogGroup".into(),
    ));
    // ReportBucket: the investigation's page goes to moto's S3 (IAM authentication on).
    let s3 = moto.s3(&moto.admin);
    s3.create_bucket()
        .bucket("deadbolt-reports")
        .send()
        .await
        .unwrap();
    env.push(("DEADBOLT_REPORT_BUCKET", "deadbolt-reports".into()));
    env.push(("DEADBOLT_REPORT_BUCKET_OWNER", "123456789012".into()));
    let log = std::env::temp_dir().join(format!("deadbolt-followup-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("enricher"), &env, log);
    let event = finding.to_string();
    moto.confirm(&event);
    let (lambda, result) = tokio::task::spawn_blocking(move || {
        let r = lambda.invoke(&event);
        (lambda, r)
    })
    .await
    .unwrap();
    let record = result.expect("the enricher answers");
    // The page is in the bucket, where the record and the summary say: the walkthrough's
    // chain and what the attacker created, as HTML with its CSP.
    let key = "reports/123456789012/5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html";
    assert_eq!(
        record["report_object"],
        format!("s3://deadbolt-reports/{key}"),
        "{record}"
    );
    assert!(record["report_url"]
        .as_str()
        .unwrap()
        .ends_with("prefix=reports%2F123456789012%2F5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html"));
    let page = s3
        .get_object()
        .bucket("deadbolt-reports")
        .key(key)
        .send()
        .await
        .expect("the report page is in the bucket");
    assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(page.body.collect().await.unwrap().to_vec()).unwrap();
    for part in [
        "Content-Security-Policy",
        "id=\"attribution\"",
        "DemoRole1",
        "backdoor-admin",
    ] {
        assert!(html.contains(part), "the page lacks {part}");
    }
    let follow_ups: Vec<(String, String, String)> = record["follow_up"]
        .as_array()
        .unwrap_or_else(|| panic!("no follow_up in {record}"))
        .iter()
        .map(|f| {
            (
                f["target"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |t: &str, o: &str, r: &str| (t.to_string(), o.to_string(), r.to_string());
    assert_eq!(
        follow_ups,
        [
            expect("user/backdoor-admin", "contained", "deny_all_attached"),
            expect("user/backdoor-admin", "contained", "access_key_deactivated"),
            expect("user/bob", "contained", "access_key_deactivated"),
            expect("role/DemoRole1", "contained", "session_denied"),
        ],
        "{record}"
    );

    // The session tree: sara's DemoRole1 session is now refused by IAM (moto, authentication
    // on). The document denies exactly that session's aws:userid; bob's DemoRole1 session is
    // not named. (moto does not evaluate policy conditions, so on moto bob's session would be
    // refused too; IAM's StringEquals is what `denies_session` models.)
    assert_eq!(
        moto.probe(&sara_demo).await,
        Err("AccessDenied".to_string()),
        "sara's DemoRole1 session after the follow-up"
    );
    let demo = moto
        .role_policy("DemoRole1", "DenyAll")
        .await
        .expect("deny-session written");
    let issued = "2026-11-20T14:05:27Z";
    assert_eq!(
        deadbolt_core::policy::denies_session(&demo, &sara_demo.principal.principal_id, issued),
        Some(true),
        "{demo}"
    );
    assert_eq!(
        deadbolt_core::policy::denies_session(&demo, &bob_demo.principal.principal_id, issued),
        Some(false),
        "{demo}"
    );

    // What IAM now says: the created user blocked, exactly the created keys inactive.
    assert!(moto
        .user_policy("backdoor-admin", "DenyAll")
        .await
        .is_some());
    assert!(moto.user_policy("bob", "DenyAll").await.is_none());
    let status = |user: &'static str| {
        let iam = iam.clone();
        async move {
            iam.list_access_keys()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .access_key_metadata
                .into_iter()
                .map(|k| {
                    (
                        k.access_key_id.unwrap(),
                        k.status.unwrap().as_str().to_string(),
                    )
                })
                .collect::<std::collections::HashMap<_, _>>()
        }
    };
    assert_eq!(status("backdoor-admin").await[&backdoor_key], "Inactive");
    let bob = status("bob").await;
    assert_eq!(bob[&bobs_new_key], "Inactive");
    assert_eq!(bob[&bobs_own_key], "Active");
    // One structured log line per follow-up decision.
    let lines = lambda.log_lines();
    let logged = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "follow_up")
        .count();
    assert_eq!(logged, 4, "{lines:?}");
}

/// The Security Hub write-back on the wire: the built responder with SecurityHubWriteBack
/// (`DEADBOLT_SECURITY_HUB=enabled`, so `security_hub.write_back` is on) contains on moto with
/// IAM authentication, then sends one `BatchUpdateFindings` naming GuardDuty's product and the
/// finding's ARN, with the note and `NOTIFIED`. (An unprocessed finding is an error:
/// `crates/deadbolt-aws/src/securityhub.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containment_is_written_back_to_the_findings_security_hub_copy() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let mut env = env_for(&moto, "enforce");
    env.push(("DEADBOLT_SECURITY_HUB", "enabled".into()));
    env.push(("AWS_ENDPOINT_URL_SECURITYHUB", moto.guardduty.endpoint()));
    env.push(("DEADBOLT_METRICS_NAMESPACE", "deadbolt/e2e".into()));
    let log = std::env::temp_dir().join(format!("deadbolt-securityhub-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    moto.confirm(&event);
    let (lambda, record) = tokio::task::spawn_blocking(move || {
        let r = lambda.invoke(&event);
        (lambda, r)
    })
    .await
    .unwrap();
    let record = record.expect("the responder answers");
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));

    let updates: Vec<serde_json::Value> = moto
        .guardduty
        .request_bodies()
        .into_iter()
        .filter(|(line, _)| line == "PATCH /findings/batchupdate")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    let u = &updates[0];
    assert_eq!(
        u["FindingIdentifiers"][0]["ProductArn"],
        "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    );
    let arn = u["FindingIdentifiers"][0]["Id"].as_str().unwrap();
    assert!(
        arn.ends_with("/finding/92b108e6e29fae28af700f610bd20943"),
        "{arn}"
    );
    assert_eq!(u["Workflow"]["Status"], "NOTIFIED");
    // The function's name (AWS_LAMBDA_FUNCTION_NAME; `cargo lambda watch` calls it `_`).
    assert!(
        u["Note"]["UpdatedBy"]
            .as_str()
            .is_some_and(|n| !n.is_empty() && n.len() <= 512),
        "{u}"
    );
    let note = u["Note"]["Text"].as_str().unwrap();
    assert!(
        note.starts_with("deadbolt: contained (deny_all_attached)"),
        "{note}"
    );
    assert!(note.contains("iam:PutUserPolicy user/mallory"), "{note}");
    assert!(
        note.contains("undo: deadbolt unblock --user mallory"),
        "{note}"
    );
    assert!(note.chars().count() <= 512);
    let lines = lambda.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "security hub updated"),
        "{lines:?}"
    );
}

/// Issue 20's request sequence: every AWS request of one enforced containment in deadbolt's
/// own account, made by the built responder under the Lambda runtime API as deployed (the
/// settings document in SSM, the breaker and ledger tables), seen by a recording proxy in
/// front of moto (IAM authentication on) and the GuardDuty stand-in, cold (the instance's
/// first event) and warm (the next one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_enforced_containment_makes_exactly_these_requests_cold_and_warm() {
    use deadbolt_core::runtime::SettingsStore;
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let trudy = moto.create_attacker_user("trudy").await;
    moto.create_breaker_table("deadbolt-breaker").await;
    moto.create_breaker_table("deadbolt-ledger").await;
    deadbolt_aws::SsmSettingsStore::from_conf(&moto.sdk_config(&moto.admin), "/deadbolt/config")
        .store(r#"{"version": 1, "mode": "enforce"}"#)
        .await
        .unwrap();

    // 20 ms a round trip, as to a regional endpoint.
    let recorder =
        deadbolt_e2e::recorder::Recorder::with_latency(std::time::Duration::from_millis(20));
    let mut env = env_for(&moto, "dry-run");
    for (name, value) in env.iter_mut() {
        match *name {
            "AWS_ENDPOINT_URL" => *value = recorder.proxy(value),
            "AWS_ENDPOINT_URL_GUARDDUTY" => *value = recorder.proxy(value),
            _ => {}
        }
    }
    env.push(("DEADBOLT_BREAKER_TABLE", "deadbolt-breaker".into()));
    env.push(("DEADBOLT_LEDGER_TABLE", "deadbolt-ledger".into()));
    env.push(("DEADBOLT_SETTINGS_REQUIRED", "true".into()));
    let log = std::env::temp_dir().join(format!("deadbolt-sequence-{}.log", std::process::id()));
    let lambda = std::sync::Arc::new(LambdaHarness::start(&built_binary("responder"), &env, log));
    let invoke = |attacker| invoke_confirmed(&lambda, &moto, attacker);
    // Start-up makes no request before the first event.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let at_start = recorder.calls();

    let record = invoke(&mallory).await;
    assert_eq!(record["outcome"], "contained", "{record}");
    let cold = recorder.calls();
    recorder.clear();
    let record = invoke(&trudy).await;
    assert_eq!(record["outcome"], "contained", "{record}");
    let warm = recorder.calls();
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    assert_eq!(moto.probe(&trudy).await, Err("AccessDenied".to_string()));

    use deadbolt_e2e::recorder::Recorder;
    let trips = |calls: &[deadbolt_e2e::recorder::Call]| Recorder::round_trips(calls);
    assert!(at_start.is_empty(), "start-up calls nothing: {at_start:?}");
    let show = |calls: &[deadbolt_e2e::recorder::Call]| {
        calls
            .iter()
            .map(|c| format!("{} {:.1}-{:.1}", c.operation, c.start_ms, c.end_ms))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Cold: the settings document, the caller identity and GuardDuty's detector id together;
    // the finding from GuardDuty while the policy is read; the breaker's slot and the
    // ledger's entry together; the write; the entry completed. Four round trips before the
    // lockout, as warm plus one: what is cached per instance costs one round trip, not two.
    assert_eq!(
        trips(&cold),
        [
            vec![
                "guardduty:ListDetectors",
                "ssm:GetParameter",
                "sts:GetCallerIdentity"
            ],
            vec!["guardduty:GetFindings", "iam:GetUserPolicy"],
            vec!["dynamodb:PutItem", "dynamodb:UpdateItem"],
            vec!["iam:PutUserPolicy"],
            vec!["dynamodb:PutItem"],
        ],
        "cold:\n{}",
        show(&cold)
    );
    // Warm: everything cached per instance is not asked again; three round trips before the
    // lockout (read with GuardDuty, breaker with ledger, write) and one after it.
    assert_eq!(
        trips(&warm),
        [
            vec!["guardduty:GetFindings", "iam:GetUserPolicy"],
            vec!["dynamodb:PutItem", "dynamodb:UpdateItem"],
            vec!["iam:PutUserPolicy"],
            vec!["dynamodb:PutItem"],
        ],
        "warm:\n{}",
        show(&warm)
    );
}

/// `DEADBOLT_TLS_ROOTS` is configuration like `DEADBOLT_MODE`: a value deadbolt does not know
/// stops both functions before they ask the runtime API for an event, and the CLI before any
/// AWS call, each naming the variable (the runtime API and every AWS endpoint here are a
/// closed loopback port, so a binary that went on would fail differently).
#[test]
fn an_unknown_trust_roots_value_stops_the_functions_and_the_cli_before_any_call() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        format!("127.0.0.1:{port}")
    };
    let run = |binary: &str, args: &[&str]| {
        std::process::Command::new(built_binary(binary))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DEADBOLT_TLS_ROOTS", "mozilla")
            .env("AWS_LAMBDA_RUNTIME_API", &closed)
            .env("AWS_ENDPOINT_URL", format!("http://{closed}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("the binary runs")
    };
    let said = "DEADBOLT_TLS_ROOTS is \"mozilla\": expected `amazon`";
    for function in ["responder", "enricher"] {
        let out = run(function, &[]);
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{function}: {log}");
        assert!(log.contains("invalid configuration"), "{function}: {log}");
        assert!(log.contains(said), "{function}: {log}");
    }
    let fixture = deadbolt_e2e::fixture_path("cloudtrail-logging-disabled.json");
    let out = run("deadbolt", &["replay", fixture.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("deadbolt: invalid configuration: ") && stderr.contains(said),
        "{stderr}"
    );
}
