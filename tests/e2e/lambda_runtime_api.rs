//! The built responder binary, driven through the Lambda Runtime API (`cargo lambda watch
//! --only-lambda-apis` + `cargo lambda invoke`), against moto: the production code path.

use deadbolt_e2e::runtime_api::{built_binary, LambdaHarness};
use deadbolt_e2e::{finding_for, Moto};

fn env_for(moto: &Moto, mode: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DEADBOLT_MODE", mode.to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", moto.admin.access_key_id().to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            moto.admin.secret_access_key().to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_binary_contains_through_the_runtime_api_and_logs_one_json_line_per_decision() {
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    assert_eq!(moto.probe(&mallory).await, Ok(()));

    let log = std::env::temp_dir().join(format!("deadbolt-responder-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env_for(&moto, "enforce"), log);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
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
        text.contains("accepted values: off, dry-run, enforce"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enricher_binary_investigates_publishes_and_says_what_it_could_not_search() {
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
    let lines = lambda.log_lines();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "investigation"
            && l["fields"]["outcome"] == "investigated"));
}

/// Operators switch auto-block by editing the settings document in SSM: the running function
/// follows it (TTL 0 here, so every invocation re-reads), and an invalid document never takes
/// over from the last good one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_document_in_ssm_toggles_enforcement_without_a_redeploy() {
    use deadbolt_core::runtime::SettingsStore;
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
    let invoke = |attacker: &deadbolt_e2e::AttackerCredentials| {
        let lambda = lambda.clone();
        let event = finding_for("cloudtrail-logging-disabled.json", &attacker.principal);
        async move {
            tokio::task::spawn_blocking(move || lambda.invoke(&event))
                .await
                .unwrap()
                .expect("invocation")
        }
    };

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
            .contains("accepted values: off, dry-run, enforce"),
        "{invalid}"
    );
}
