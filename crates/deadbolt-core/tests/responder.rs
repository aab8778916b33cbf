//! The responder's containment behaviour, against in-memory IAM.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::policy::DENY_ALL_POLICY_NAME;
use deadbolt_core::ports::{AwsError, AwsErrorKind};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ActionStatus, ContainmentTarget, Outcome, Reason, TargetKind};
use serde_json::json;

fn enforce() -> Settings {
    Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    }
}
fn mallory() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
}
fn app_deployer() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap()
}

#[tokio::test]
async fn enforce_attaches_deny_all_with_one_read_and_one_write() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::DenyAllAttached)
    );
    assert_eq!(
        policies.calls(),
        [
            "iam:GetUserPolicy user/mallory",
            "iam:PutUserPolicy user/mallory"
        ]
    );
    let doc: serde_json::Value =
        serde_json::from_str(&policies.policy(&mallory(), "DenyAll").unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(doc["Statement"][0]["Action"], "*");
    assert_eq!(doc["Statement"][0]["Resource"], "*");
    assert_eq!(
        doc["Statement"][0]["Sid"],
        format!("DeadboltDenyAll{}", record.finding_id.as_deref().unwrap())
    );
    assert!(record
        .actions
        .iter()
        .all(|a| a.status == ActionStatus::Done));
}

#[tokio::test]
async fn assumed_role_finding_contains_the_role() {
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(record.outcome, Outcome::Contained);
    assert_eq!(
        policies.calls(),
        [
            "iam:GetRolePolicy role/app-deployer",
            "iam:PutRolePolicy role/app-deployer",
            // Read back after the write: a concurrent merge for another finding must not
            // have replaced it (the lockout is already in place by then).
            "iam:GetRolePolicy role/app-deployer"
        ]
    );
}

#[tokio::test]
async fn the_same_finding_twice_writes_once() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let raw = fixture("cloudtrail-logging-disabled.json");
    assert_eq!(responder.handle(&raw).await.outcome, Outcome::Contained);
    let second = responder.handle(&raw).await;
    assert_eq!(
        (second.outcome, second.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
    );
    assert_eq!(second.actions[1].status, ActionStatus::NotNeeded);
    let writes = policies
        .calls()
        .iter()
        .filter(|c| c.starts_with("iam:Put"))
        .count();
    assert_eq!(writes, 1);
}

#[tokio::test]
async fn a_manual_deny_all_counts_as_contained_and_a_different_policy_is_never_overwritten() {
    let manual = r#"{ "Statement": [ { "Effect": "Deny", "Action": "*", "Resource": "*" } ] }"#;
    let policies = MemoryPolicies::new().with_entity(&mallory()).with_policy(
        &mallory(),
        DENY_ALL_POLICY_NAME,
        manual,
    );
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder.handle(&fixture("malicious-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::AlreadyContained, Reason::EquivalentDenyAllPresent)
    );

    let other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
    let policies = MemoryPolicies::new().with_entity(&mallory()).with_policy(
        &mallory(),
        DENY_ALL_POLICY_NAME,
        other,
    );
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder.handle(&fixture("malicious-ip-caller.json")).await;
    // Contained anyway, through the AWS managed policy (tests/managed.rs has the details).
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached)
    );
    assert!(record.message.contains("did not write (left untouched)"));
    assert_eq!(
        policies.policy(&mallory(), DENY_ALL_POLICY_NAME).as_deref(),
        Some(other)
    );
    assert!(!policies.calls().iter().any(|c| c.starts_with("iam:Put")));
}

#[tokio::test]
async fn iam_errors_become_clear_outcomes() {
    let cases = [
        (
            "iam:PutUserPolicy",
            AwsErrorKind::NoSuchEntity,
            "NoSuchEntity",
            Reason::NoSuchEntity,
            false,
        ),
        (
            "iam:PutUserPolicy",
            AwsErrorKind::UnmodifiableEntity,
            "UnmodifiableEntity",
            Reason::UnmodifiableEntity,
            false,
        ),
        (
            "iam:PutUserPolicy",
            AwsErrorKind::AccessDenied,
            "AccessDenied",
            Reason::AccessDenied,
            false,
        ),
        (
            "iam:GetUserPolicy",
            AwsErrorKind::AccessDenied,
            "AccessDenied",
            Reason::AccessDenied,
            false,
        ),
        (
            "iam:PutUserPolicy",
            AwsErrorKind::Throttled,
            "Throttling",
            Reason::Throttled,
            true,
        ),
        // LimitExceeded on the inline write falls back to the managed policy: tests/managed.rs.
        // A 5xx (the adapter maps it to Unavailable): transient, delivered again.
        (
            "iam:GetUserPolicy",
            AwsErrorKind::Unavailable,
            "ServiceFailure",
            Reason::AwsError,
            true,
        ),
        // A 4xx deadbolt has no handling for: permanent, not retried into the dead-letter queue.
        (
            "iam:PutUserPolicy",
            AwsErrorKind::Other,
            "ValidationError",
            Reason::AwsError,
            false,
        ),
    ];
    for (api, kind, code, reason, retryable) in cases {
        let policies = MemoryPolicies::new()
            .with_entity(&mallory())
            .failing(api, kind, code);
        let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
        let record = responder
            .handle(&fixture("cloudtrail-logging-disabled.json"))
            .await;
        assert_eq!(
            (record.outcome, record.reason, record.retryable),
            (Outcome::Failed, reason, retryable),
            "{api} {code}"
        );
        let failed = record
            .actions
            .iter()
            .find(|a| a.status == ActionStatus::Failed)
            .unwrap();
        assert_eq!(failed.api, api);
        assert_eq!(failed.error_code.as_deref(), Some(code));
        assert!(policies.policy(&mallory(), DENY_ALL_POLICY_NAME).is_none());
    }
}

#[tokio::test]
async fn unknown_principal_reports_no_such_entity_from_the_write() {
    let policies = MemoryPolicies::new(); // mallory does not exist
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::NoSuchEntity)
    );
    assert_eq!(
        record.actions[1].error_code.as_deref(),
        Some("NoSuchEntity")
    );
}

#[tokio::test]
async fn identity_failure_writes_nothing_and_is_retryable() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let identity = FixedIdentity::failing(AwsError::new(
        AwsErrorKind::Unavailable,
        "Timeout",
        "timed out",
    ));
    let responder = Configured::new(enforce(), &policies, &identity);
    let record = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Failed, Reason::IdentityUnavailable, true)
    );
    assert!(policies.calls().is_empty());
}

#[tokio::test]
async fn deadbolt_never_contains_itself() {
    let own = "arn:aws:sts::123456789012:assumed-role/app-deployer/responder";
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, own));
    let record = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Skipped, Reason::DeadboltItself)
    );
    assert!(policies.calls().is_empty());
}

#[tokio::test]
async fn operator_scope_mode_severity_type_and_protection() {
    let raw = fixture("tor-ip-caller.json"); // severity 5, role app-deployer
    let cases: Vec<(Settings, Outcome, Reason)> = vec![
        (
            Settings {
                mode: Mode::Off,
                ..enforce()
            },
            Outcome::Skipped,
            Reason::ModeOff,
        ),
        (
            Settings {
                min_severity: 7.0,
                ..enforce()
            },
            Outcome::Skipped,
            Reason::BelowMinSeverity,
        ),
        (
            Settings {
                min_severity: 5.0,
                ..enforce()
            },
            Outcome::Contained,
            Reason::DenyAllAttached,
        ),
        (
            Settings {
                finding_types: vec!["Stealth:IAMUser/".into()],
                ..enforce()
            },
            Outcome::Skipped,
            Reason::FindingTypeNotEnabled,
        ),
        (
            Settings {
                protected_principals: vec!["APP-*".into()],
                ..enforce()
            },
            Outcome::Skipped,
            Reason::ProtectedPrincipal,
        ),
        (
            Settings {
                protected_principals: vec!["arn:aws:iam::*:role/app-deployer".into()],
                ..enforce()
            },
            Outcome::Skipped,
            Reason::ProtectedPrincipal,
        ),
        // A session ARN is never matched: its session name is the caller's choice.
        (
            Settings {
                protected_principals: vec!["arn:aws:sts::*:assumed-role/*/ci-runner-*".into()],
                ..enforce()
            },
            Outcome::Contained,
            Reason::DenyAllAttached,
        ),
        (
            Settings {
                protected_principals: vec!["mallory".into()],
                ..enforce()
            },
            Outcome::Contained,
            Reason::DenyAllAttached,
        ),
    ];
    for (config, outcome, reason) in cases {
        let policies = MemoryPolicies::new().with_entity(&app_deployer());
        let responder = Configured::new(
            config.clone(),
            &policies,
            FixedIdentity::new(ACCOUNT, OWN_ARN),
        );
        let record = responder.handle(&raw).await;
        assert_eq!(
            (record.outcome, record.reason),
            (outcome, reason),
            "{config:?}: {}",
            record.message
        );
        let wrote = policies
            .policy(&app_deployer(), DENY_ALL_POLICY_NAME)
            .is_some();
        assert_eq!(wrote, outcome == Outcome::Contained, "{config:?}");
    }
}

#[tokio::test]
async fn dry_run_plans_the_calls_and_makes_none() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let responder = Configured::new(
        Settings::default(),
        &policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(record.outcome, Outcome::WouldContain);
    let apis: Vec<_> = record
        .actions
        .iter()
        .map(|a| (a.api.as_str(), a.status))
        .collect();
    assert_eq!(
        apis,
        [
            ("iam:GetUserPolicy", ActionStatus::Planned),
            ("iam:PutUserPolicy", ActionStatus::Planned)
        ]
    );
    assert!(policies.calls().is_empty());
}

#[tokio::test]
async fn record_json_has_the_documented_shape() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    let v: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(v["record_version"], 1);
    assert_eq!(
        v["finding_type"],
        "Stealth:IAMUser/CloudTrailLoggingDisabled"
    );
    assert_eq!(v["account_id"], ACCOUNT);
    assert_eq!(v["region"], "us-east-1");
    assert_eq!(v["mode"], "enforce");
    assert_eq!(
        v["principal"],
        json!({"kind": "user", "name": "mallory", "access_key_id": "AKIA2MLRYQ7ZT4XH9KPD"})
    );
    assert_eq!(v["outcome"], "contained");
    assert_eq!(v["reason"], "deny_all_attached");
    assert_eq!(
        v["actions"][1],
        json!({"api": "iam:PutUserPolicy", "target": "user/mallory", "policy_name": "DenyAll", "status": "done"})
    );
    assert_eq!(v["retryable"], false);
}

#[tokio::test]
async fn the_circuit_breaker_trips_at_n_plus_one_and_falls_back_to_dry_run() {
    let web = ContainmentTarget::new(TargetKind::Role, "web-instance-role").unwrap();
    let policies = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_entity(&app_deployer())
        .with_entity(&web);
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 2,
        }),
        ..enforce()
    };
    let responder = Configured::new(config, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    for file in ["cloudtrail-logging-disabled.json", "tor-ip-caller.json"] {
        assert_eq!(
            responder.handle(&fixture(file)).await.outcome,
            Outcome::Contained,
            "{file}"
        );
    }
    let third = responder
        .handle(&fixture(
            "instance-credential-exfiltration-outside-aws.json",
        ))
        .await;
    assert_eq!(
        (third.outcome, third.reason),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen)
    );
    assert!(
        third
            .message
            .contains("2 enforced containment(s) in the last hour"),
        "{}",
        third.message
    );
    assert!(
        policies.policy(&web, DENY_ALL_POLICY_NAME).is_none(),
        "nothing written once open"
    );
    // The breaker is asked only once a write is needed: the role's policy was read, nothing
    // was written.
    assert_eq!(
        policies
            .calls()
            .iter()
            .filter(|c| c.contains("web-instance-role"))
            .collect::<Vec<_>>(),
        ["iam:GetRolePolicy role/web-instance-role"]
    );
}

#[tokio::test]
async fn redeliveries_and_already_contained_principals_do_not_consume_the_breaker() {
    let policies = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_entity(&app_deployer());
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..enforce()
    };
    let responder = Configured::new(config, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let first = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(first.outcome, Outcome::Contained);
    // The same finding delivered three more times: already contained, nothing counted.
    for _ in 0..3 {
        let again = responder
            .handle(&fixture("cloudtrail-logging-disabled.json"))
            .await;
        assert_eq!(
            (again.outcome, again.reason),
            (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
        );
    }
    // The limit of 1 was used by the one real enforcement: the next new principal trips it.
    let other = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (other.outcome, other.reason),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen)
    );
    assert!(policies
        .policy(&app_deployer(), DENY_ALL_POLICY_NAME)
        .is_none());
}

/// Issue 17, point 3: a write that fails gives its breaker slot back, so failures (a throttled
/// IAM, a principal that blocks every write) cannot use up the hour's budget for real ones.
#[tokio::test]
async fn a_failed_write_gives_its_circuit_breaker_slot_back() {
    let policies = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_entity(&app_deployer())
        .failing("iam:PutUserPolicy", AwsErrorKind::Throttled, "Throttling");
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..enforce()
    };
    let responder = Configured::new(config, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let failed = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (failed.outcome, failed.reason, failed.retryable),
        (Outcome::Failed, Reason::Throttled, true),
        "{}",
        failed.message
    );
    // The one slot is still free: the next principal is contained, not held back.
    let other = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (other.outcome, other.reason),
        (Outcome::Contained, Reason::DenyAllAttached),
        "{}",
        other.message
    );
    // And now it is used: the redelivery of the failed one trips the breaker.
    policies.stop_failing("iam:PutUserPolicy");
    let again = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen),
        "{}",
        again.message
    );
}
