//! Every malformed input gets a specific error naming what is wrong, and makes no AWS call.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::finding::{InputError, MAX_EVENT_BYTES};
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{parse_event, Outcome, Reason};
use serde_json::json;

const BASE: &str = "cloudtrail-logging-disabled.json";

fn cases() -> Vec<(&'static str, String, Reason, &'static str)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_in_detail = fixture_with(
        BASE,
        &[(
            "/detail/service/additionalInfo",
            serde_json::from_str(&format!("{}1{}", "[".repeat(40), "]".repeat(40))).unwrap(),
        )],
    );
    let mut no_detail: serde_json::Value = serde_json::from_str(&fixture(BASE)).unwrap();
    no_detail.as_object_mut().unwrap().remove("detail");
    let mut no_type: serde_json::Value = serde_json::from_str(&fixture(BASE)).unwrap();
    no_type["detail"].as_object_mut().unwrap().remove("type");
    let huge = fixture_with(
        BASE,
        &[("/detail/title", json!("x".repeat(MAX_EVENT_BYTES)))],
    );
    vec![
        ("empty", String::new(), Reason::EmptyEvent, "empty"),
        ("whitespace", "  \n".into(), Reason::EmptyEvent, "empty"),
        (
            "not JSON",
            "GuardDuty says hi".into(),
            Reason::NotJson,
            "not valid JSON",
        ),
        (
            "truncated JSON",
            fixture(BASE)[..200].to_string(),
            Reason::NotJson,
            "not valid JSON",
        ),
        (
            "trailing garbage",
            format!("{} x", fixture(BASE)),
            Reason::NotJson,
            "not valid JSON",
        ),
        (
            "JSON array",
            format!("[{}]", fixture(BASE)),
            Reason::NotAnObject,
            "an array",
        ),
        (
            "JSON string",
            "\"finding\"".into(),
            Reason::NotAnObject,
            "a string",
        ),
        ("deeply nested", deep, Reason::NotAnObject, "an array"),
        (
            "deeply nested object",
            format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
            Reason::EventTooDeep,
            "deeper than 32",
        ),
        (
            "deep inside detail",
            deep_in_detail,
            Reason::EventTooDeep,
            "deeper than 32",
        ),
        (
            "oversized",
            huge,
            Reason::EventTooLarge,
            "limit is 262144 bytes",
        ),
        (
            "missing detail",
            no_detail.to_string(),
            Reason::MissingField,
            "`detail`",
        ),
        (
            "missing detail.type",
            no_type.to_string(),
            Reason::MissingField,
            "`detail.type`",
        ),
        (
            "wrong source",
            fixture_with(BASE, &[("/source", json!("aws.securityhub"))]),
            Reason::WrongSource,
            "\"aws.securityhub\"",
        ),
        (
            "wrong detail-type",
            fixture_with(
                BASE,
                &[("/detail-type", json!("AWS API Call via CloudTrail"))],
            ),
            Reason::WrongDetailType,
            "detail-type",
        ),
        (
            "severity as a string",
            fixture_with(BASE, &[("/detail/severity", json!("8"))]),
            Reason::WrongType,
            "`detail.severity`",
        ),
        (
            "severity out of range",
            fixture_with(BASE, &[("/detail/severity", json!(42))]),
            Reason::InvalidValue,
            "`detail.severity`",
        ),
        (
            "archived as a string",
            fixture_with(BASE, &[("/detail/service/archived", json!("false"))]),
            Reason::WrongType,
            "`detail.service.archived`",
        ),
        (
            "userName with quotes",
            fixture_with(
                BASE,
                &[(
                    "/detail/resource/accessKeyDetails/userName",
                    json!("mallory\",\"Effect\":\"Allow"),
                )],
            ),
            Reason::InvalidValue,
            "userName",
        ),
        (
            "userName of 5,000 characters",
            fixture_with(
                BASE,
                &[(
                    "/detail/resource/accessKeyDetails/userName",
                    json!("a".repeat(5000)),
                )],
            ),
            Reason::InvalidValue,
            "5000 characters",
        ),
        (
            "userName with a slash",
            fixture_with(
                BASE,
                &[(
                    "/detail/resource/accessKeyDetails/userName",
                    json!("../admin"),
                )],
            ),
            Reason::InvalidValue,
            "'/'",
        ),
        (
            "userName empty",
            fixture_with(
                BASE,
                &[("/detail/resource/accessKeyDetails/userName", json!(""))],
            ),
            Reason::InvalidValue,
            "must not be empty",
        ),
        (
            "accessKeyId with spaces",
            fixture_with(
                BASE,
                &[(
                    "/detail/resource/accessKeyDetails/accessKeyId",
                    json!("AKIA 123"),
                )],
            ),
            Reason::InvalidValue,
            "accessKeyId",
        ),
        (
            "account id not 12 digits",
            fixture_with(
                BASE,
                &[
                    ("/detail/accountId", json!("1234")),
                    ("/account", json!("1234")),
                ],
            ),
            Reason::InvalidValue,
            "12 digits",
        ),
        (
            "envelope region differs",
            fixture_with(BASE, &[("/region", json!("eu-west-1"))]),
            Reason::InconsistentEvent,
            "`detail.region`",
        ),
        (
            "arn for another finding",
            fixture_with(BASE, &[("/detail/id", json!("0000aaaa"))]),
            Reason::InconsistentEvent,
            "`detail.arn`",
        ),
        (
            "resource not an object",
            fixture_with(BASE, &[("/detail/resource", json!("AccessKey"))]),
            Reason::WrongType,
            "`detail.resource`",
        ),
    ]
}

#[tokio::test]
async fn every_malformed_input_is_rejected_specifically_with_no_aws_call() {
    let config = Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    };
    let policies = MemoryPolicies::new();
    let identity = FixedIdentity::new(ACCOUNT, OWN_ARN);
    let responder = Configured::new(config, &policies, &identity);
    for (name, input, reason, mentions) in cases() {
        let record = responder.handle(&input).await;
        assert_eq!(
            record.outcome,
            Outcome::Rejected,
            "{name}: {}",
            record.message
        );
        assert_eq!(record.reason, reason, "{name}: {}", record.message);
        assert!(
            record.message.contains(mentions),
            "{name}: {:?} should mention {mentions:?}",
            record.message
        );
        assert!(
            record.message.len() < 400,
            "{name}: error echoes too much input"
        );
        assert!(record.actions.is_empty(), "{name}");
        assert!(!record.retryable, "{name}");
    }
    assert!(policies.calls().is_empty(), "{:?}", policies.calls());
    assert_eq!(
        identity.calls(),
        0,
        "malformed input must not even reach STS"
    );
}

#[test]
fn unknown_fields_are_tolerated() {
    let raw = fixture_with(
        BASE,
        &[
            ("/detail/service/featureName", json!("CloudTrail")),
            ("/detail/brandNewField", json!({"x": [1, 2]})),
        ],
    );
    assert!(parse_event(&raw).is_ok());
}

#[test]
fn errors_name_the_full_path() {
    let err = parse_event(&fixture_with(
        BASE,
        &[("/detail/resource/accessKeyDetails/userType", json!(7))],
    ))
    .unwrap_err();
    assert_eq!(
        err,
        InputError::WrongType {
            path: "detail.resource.accessKeyDetails.userType".into(),
            detail: "invalid type: integer `7`, expected a string".into()
        }
    );
}

#[tokio::test]
async fn a_rejected_record_keeps_what_the_event_said_that_passes_the_rules() {
    let policies = MemoryPolicies::new();
    let identity = FixedIdentity::new(ACCOUNT, OWN_ARN);
    let responder = Configured::new(Settings::default(), &policies, &identity);
    // Parsed far enough to know the finding: the envelope's region disagrees with it.
    let inconsistent = fixture_with(BASE, &[("/region", json!("eu-west-1"))]);
    let r = responder.handle(&inconsistent).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Rejected, Reason::InconsistentEvent)
    );
    assert_eq!(
        r.finding_id.as_deref(),
        Some("92b108e6e29fae28af700f610bd20943")
    );
    assert_eq!(r.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(r.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        r.finding_type.as_deref(),
        Some("Stealth:IAMUser/CloudTrailLoggingDisabled")
    );
    // A malformed field is not echoed back: only what passes the parser's own rules.
    let hostile = fixture_with(BASE, &[("/detail/id", json!("x\"}{\"y"))]);
    let r = responder.handle(&hostile).await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(r.finding_id, None);
    assert_eq!(r.account_id.as_deref(), Some(ACCOUNT));
    assert!(policies.calls().is_empty());
}
