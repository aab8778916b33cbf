//! The `AwsGuardDuty` adapter against the GuardDuty stand-in on loopback: the real SDK client,
//! its real HTTP stack, endpoint resolution and retry policy; the stand-in counts requests.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use aws_sdk_guardduty::config::retry::RetryConfig;
use aws_sdk_guardduty::config::{Credentials, SharedCredentialsProvider};
use deadbolt_aws::{load_config, AwsGuardDuty, AwsOptions};
use deadbolt_core::finding::parse_event;
use deadbolt_core::ports::{AwsErrorKind, GuardDutyFindings};
use deadbolt_e2e::guardduty::{fixture_finding, FIXTURE_DETECTOR};
use deadbolt_e2e::{finding_from_event, fixture_path, Fault, GuardDutyStandIn};

const FIXTURES: [&str; 4] = [
    "cloudtrail-logging-disabled.json",
    "tor-ip-caller.json",
    "sample-finding.json",
    "archived-finding.json",
];

/// The SDK configuration the Lambda loads (`load_config`), with test credentials.
async fn sdk_config() -> aws_config::SdkConfig {
    load_config(&AwsOptions {
        region: Some("us-east-1".into()),
        ..AwsOptions::default()
    })
    .await
    .into_builder()
    .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
    .build()
}

/// A client of the stand-in, through the client builder's endpoint override; retries as the
/// SDK's standard policy, with short backoffs.
async fn adapter(standin: &GuardDutyStandIn) -> AwsGuardDuty {
    let conf = aws_sdk_guardduty::config::Builder::from(&sdk_config().await)
        .endpoint_url(standin.endpoint())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    AwsGuardDuty::new(aws_sdk_guardduty::Client::from_conf(conf))
}

fn id_of(fixture: &str) -> String {
    fixture_finding(fixture)["id"]
        .as_str()
        .expect("fixture id")
        .to_string()
}

fn standin() -> GuardDutyStandIn {
    GuardDutyStandIn::start(FIXTURES.iter().map(|f| fixture_finding(f)).collect())
}

#[tokio::test]
async fn findings_read_back_as_the_events_and_the_detector_is_listed_once() {
    let standin = standin();
    let gd = adapter(&standin).await;
    for fixture in FIXTURES {
        let raw = std::fs::read_to_string(fixture_path(fixture)).expect("fixture");
        let expected = parse_event(&raw).expect("fixture parses").detail;
        let got = gd
            .get_finding(&expected.id)
            .await
            .expect("GetFindings")
            .expect("the stand-in holds it");
        assert_eq!(got.finding_type, expected.finding_type, "{fixture}");
        assert_eq!(got.account_id, expected.account_id, "{fixture}");
        assert_eq!(got.resource, expected.resource, "{fixture}");
        assert_eq!(got.service.archived, expected.service.archived, "{fixture}");
        assert_eq!(got.is_sample(), expected.is_sample(), "{fixture}");
        assert_eq!(got.severity, expected.severity, "{fixture}");
    }
    let get = format!("POST /detector/{FIXTURE_DETECTOR}/findings/get");
    let mut expected = vec!["GET /detector".to_string()];
    expected.extend(std::iter::repeat_n(get, FIXTURES.len()));
    assert_eq!(standin.requests(), expected);
}

#[tokio::test]
async fn unknown_removed_inserted_and_archived_findings() {
    let standin = standin();
    let gd = adapter(&standin).await;
    let tor = id_of("tor-ip-caller.json");
    assert_eq!(
        gd.get_finding("0000000000000000000000000000dead").await,
        Ok(None)
    );

    assert!(standin.set_archived(&tor, true));
    let archived = gd.get_finding(&tor).await.unwrap().unwrap();
    assert!(archived.service.archived);

    assert!(standin.remove(&tor));
    assert_eq!(gd.get_finding(&tor).await, Ok(None));

    let raw = std::fs::read_to_string(fixture_path("malicious-ip-caller.json")).unwrap();
    let malicious = finding_from_event(&raw);
    let id = malicious["id"].as_str().unwrap().to_string();
    assert_eq!(gd.get_finding(&id).await, Ok(None));
    standin.insert(malicious);
    let got = gd.get_finding(&id).await.unwrap().unwrap();
    assert_eq!(got, {
        let mut event = parse_event(&raw).unwrap().detail;
        // The SDK keeps only `value` and `type` of additionalInfo (not the event's flattened
        // copies of the keys inside `value`).
        if let Some(serde_json::Value::Object(info)) = &mut event.service.additional_info {
            info.retain(|k, _| k == "value" || k == "type");
        }
        event
    });
}

#[tokio::test]
async fn throttling_and_503_are_retried_then_retryable() {
    let standin = standin();
    let gd = adapter(&standin).await;
    let id = id_of("cloudtrail-logging-disabled.json");
    gd.get_finding(&id).await.unwrap().unwrap();
    let before = standin.requests().len();

    // A throttle and a 503 inside one call: the SDK's retries absorb them.
    standin.fail_next(1, Fault::Throttle);
    standin.fail_next(1, Fault::Unavailable);
    assert!(gd.get_finding(&id).await.unwrap().is_some());
    assert_eq!(standin.requests().len() - before, 3);

    // More than the SDK retries: the domain error is transient, so retryable.
    for (fault, kind, code) in [
        (
            Fault::Throttle,
            AwsErrorKind::Throttled,
            "TooManyRequestsException",
        ),
        (
            Fault::Unavailable,
            AwsErrorKind::Unavailable,
            "ServiceUnavailableException",
        ),
    ] {
        standin.fail_next(3, fault);
        let err = gd.get_finding(&id).await.unwrap_err();
        assert_eq!((err.kind, err.code.as_str()), (kind, code));
        assert!(err.retryable());
    }
}

#[tokio::test]
async fn no_detector_and_another_accounts_detector_are_permanent() {
    let standin = standin();
    standin.set_detectors(&[]);
    let gd = adapter(&standin).await;
    let err = gd
        .get_finding("0000000000000000000000000000dead")
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "GuardDuty is not enabled in this account and region: no detector"
    );
    assert!(!err.retryable());
    assert_eq!(standin.requests(), ["GET /detector"]);

    let err = gd
        .client()
        .get_findings()
        .detector_id("ffffffffffffffffffffffffffffffff")
        .finding_ids("0000000000000000000000000000dead")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_bad_request_exception(), "{err:?}");
}

#[tokio::test]
async fn list_findings_pages_over_every_finding() {
    let standin = standin();
    let gd = adapter(&standin).await;
    let ids: Vec<String> = gd
        .client()
        .list_findings()
        .detector_id(FIXTURE_DETECTOR)
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("ListFindings");
    let expected: Vec<String> = FIXTURES.iter().map(|f| id_of(f)).collect();
    assert_eq!(ids, expected);
    let list = format!("POST /detector/{FIXTURE_DETECTOR}/findings");
    assert_eq!(standin.requests(), [list.clone(), list]);
}

/// `AWS_ENDPOINT_URL_GUARDDUTY` in a real process environment, through `load_config` exactly
/// as the Lambda calls it. Environment variables are process-wide, so a child process (this
/// test binary, running `child_reads_through_aws_endpoint_url_guardduty`) gets them; the
/// global `AWS_ENDPOINT_URL` points at a closed port to show the service-specific one wins.
#[tokio::test]
async fn aws_endpoint_url_guardduty_reaches_the_adapter_in_a_child_process() {
    let standin = standin();
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let id = id_of("tor-ip-caller.json");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "child_reads_through_aws_endpoint_url_guardduty",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("DEADBOLT_GUARDDUTY_CHILD_FINDING", &id)
        .env("AWS_ENDPOINT_URL_GUARDDUTY", standin.endpoint())
        .env("AWS_ENDPOINT_URL", format!("http://{closed}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        standin.requests(),
        [
            "GET /detector".to_string(),
            format!("POST /detector/{FIXTURE_DETECTOR}/findings/get")
        ]
    );
}

/// The child half of the test above; does nothing when run on its own.
#[tokio::test]
#[ignore = "run by aws_endpoint_url_guardduty_reaches_the_adapter_in_a_child_process"]
async fn child_reads_through_aws_endpoint_url_guardduty() {
    let Ok(id) = std::env::var("DEADBOLT_GUARDDUTY_CHILD_FINDING") else {
        eprintln!("not started by the parent test: nothing to do");
        return;
    };
    let gd = AwsGuardDuty::from_conf(&load_config(&AwsOptions::default()).await);
    let finding = gd.get_finding(&id).await.expect("GetFindings");
    assert_eq!(finding.map(|f| f.id), Some(id));
}
