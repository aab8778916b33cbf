//! Held findings: a circuit breaker that refuses a containment keeps the finding instead of
//! losing it.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryHeldFindings, MemoryPolicies};
use deadbolt_core::policy::DENY_ALL_POLICY_NAME;
use deadbolt_core::ports::{
    AwsError, AwsErrorKind, HeldFindings, NoIdentityCenter, NoSharedBreaker,
};
use deadbolt_core::settings::{CircuitBreakerSettings, Settings};
use deadbolt_core::{ContainmentTarget, Outcome, Ports, Reason, TargetKind};

fn one_per_hour() -> Settings {
    Settings {
        mode: Mode::Enforce,
        circuit_breaker: Some(CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..Settings::default()
    }
}

fn targets() -> (ContainmentTarget, ContainmentTarget) {
    (
        ContainmentTarget::new(TargetKind::User, "mallory").unwrap(),
        ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap(),
    )
}

#[tokio::test]
async fn an_open_breaker_holds_the_finding_and_loses_none() {
    let (mallory, deployer) = targets();
    let policies = MemoryPolicies::new()
        .with_entity(&mallory)
        .with_entity(&deployer);
    let held = MemoryHeldFindings::new();
    let responder = Configured::with_ports(
        one_per_hour(),
        Ports {
            iam: &policies,
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: None::<NoIdentityCenter>,
            shared_breaker: None::<NoSharedBreaker>,
            guardduty: None,
            held: Some(&held),
        },
    );
    let first_raw = fixture("cloudtrail-logging-disabled.json");
    let first = responder.handle(&first_raw).await;
    assert_eq!(first.outcome, Outcome::Contained);
    let second_raw = fixture("tor-ip-caller.json");
    let second = responder.handle(&second_raw).await;
    assert_eq!(
        (second.outcome, second.reason, second.retryable),
        (Outcome::Held, Reason::CircuitBreakerOpen, false)
    );
    assert!(second.to_json().contains(r#""outcome":"held""#));
    let id = second.finding_id.clone().unwrap();
    assert!(
        second
            .message
            .contains(&format!("deadbolt release-held {id}")),
        "{}",
        second.message
    );
    assert!(policies.policy(&deployer, DENY_ALL_POLICY_NAME).is_none());
    // Zero lost: one contained, the other kept with its raw event.
    let list = held.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].finding_id, id);
    assert_eq!(list[0].target, "role/app-deployer");
    assert_eq!(list[0].account_id, ACCOUNT);
    assert_eq!(list[0].event, second_raw);
    assert!(!list
        .iter()
        .any(|h| Some(&h.finding_id) == first.finding_id.as_ref()));

    // A redelivery of the held finding keeps one item.
    let again = responder.handle(&second_raw).await;
    assert_eq!(again.outcome, Outcome::Held);
    assert_eq!(held.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_hold_stays_would_contain_and_retryable() {
    let (mallory, deployer) = targets();
    let policies = MemoryPolicies::new()
        .with_entity(&mallory)
        .with_entity(&deployer);
    let held = MemoryHeldFindings::new();
    let responder = Configured::with_ports(
        one_per_hour(),
        Ports {
            iam: &policies,
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: None::<NoIdentityCenter>,
            shared_breaker: None::<NoSharedBreaker>,
            guardduty: None,
            held: Some(&held),
        },
    );
    assert_eq!(
        responder
            .handle(&fixture("cloudtrail-logging-disabled.json"))
            .await
            .outcome,
        Outcome::Contained
    );
    held.fail_with(AwsError::new(
        AwsErrorKind::Unavailable,
        "ServiceUnavailable",
        "try later",
    ));
    let second = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (second.outcome, second.reason, second.retryable),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen, true)
    );
    assert!(
        second.message.contains("could not hold the finding"),
        "{}",
        second.message
    );
}

#[tokio::test]
async fn without_a_store_an_open_breaker_is_would_contain_as_before() {
    let (mallory, deployer) = targets();
    let policies = MemoryPolicies::new()
        .with_entity(&mallory)
        .with_entity(&deployer);
    let responder = Configured::new(
        one_per_hour(),
        &policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    let second = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (second.outcome, second.reason, second.retryable),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen, false)
    );
}
