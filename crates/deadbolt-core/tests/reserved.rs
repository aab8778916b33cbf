//! Identity Center and service-linked roles are recognised by their reserved IAM paths, not by
//! name: anyone with `iam:CreateRole` can name a role `AWSReservedSSO_…` or
//! `AWSServiceRoleFor…`, but only AWS can put one under `/aws-reserved/sso.amazonaws.com/` or
//! `/aws-service-role/`.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Reason, TargetKind};

const SSO_ROLE: &str = "AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5";
const CREATED_MS: i64 = 1_790_000_000_000;

fn role(name: &str) -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Role, name).unwrap()
}

fn enforce() -> Settings {
    Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    }
}

async fn decide_on(
    fixture_name: &str,
    name: &str,
    path: &str,
) -> (deadbolt_core::DecisionRecord, MemoryPolicies) {
    let p =
        MemoryPolicies::new()
            .with_entity(&role(name))
            .with_created(&role(name), CREATED_MS, path);
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture(fixture_name)).await;
    (record, p)
}

#[tokio::test]
async fn a_role_named_like_identity_center_outside_its_path_is_contained_as_a_role() {
    let (record, p) = decide_on("cloudtrail-logging-disabled-sso.json", SSO_ROLE, "/").await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::DenyAllAttached),
        "{}",
        record.message
    );
    assert!(
        record
            .message
            .starts_with("reserved_name_outside_reserved_path: role/AWSReservedSSO_"),
        "{}",
        record.message
    );
    assert!(p.policy(&role(SSO_ROLE), "DenyAll").is_some());

    // Under Identity Center's path (any region's) it is Identity Center's: not written.
    for path in [
        "/aws-reserved/sso.amazonaws.com/",
        "/aws-reserved/sso.amazonaws.com/eu-west-1/",
    ] {
        let (record, p) = decide_on("cloudtrail-logging-disabled-sso.json", SSO_ROLE, path).await;
        assert_eq!(
            (record.outcome, record.reason),
            (Outcome::NotContainable, Reason::SsoReservedRole),
            "{path}: {}",
            record.message
        );
        assert_eq!(p.policy(&role(SSO_ROLE), "DenyAll"), None);
    }
}

#[tokio::test]
async fn a_role_named_like_a_service_linked_role_outside_its_path_is_contained_as_a_role() {
    let slr = "AWSServiceRoleForSupport";
    let (record, p) = decide_on("service-linked-role.json", slr, "/").await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::DenyAllAttached),
        "{}",
        record.message
    );
    assert!(
        record.message.contains("\"/\", not /aws-service-role/"),
        "{}",
        record.message
    );
    assert!(p.policy(&role(slr), "DenyAll").is_some());

    let (record, p) = decide_on(
        "service-linked-role.json",
        slr,
        "/aws-service-role/support.amazonaws.com/",
    )
    .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::NotContainable, Reason::ServiceLinkedRole)
    );
    assert_eq!(p.policy(&role(slr), "DenyAll"), None);
}

#[tokio::test]
async fn a_path_that_cannot_be_read_leaves_the_names_verdict_and_says_so() {
    let p = MemoryPolicies::new().with_entity(&role(SSO_ROLE)).failing(
        "iam:GetRole",
        deadbolt_core::ports::AwsErrorKind::AccessDenied,
        "AccessDenied",
    );
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r
        .handle(&fixture("cloudtrail-logging-disabled-sso.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::NotContainable, Reason::SsoReservedRole)
    );
    assert!(
        record.message.contains("could not read the IAM path"),
        "{}",
        record.message
    );
    assert_eq!(p.policy(&role(SSO_ROLE), "DenyAll"), None);
}
