//! A protected pattern protects only principals that existed when it was written: creating
//! `break-glass-x` after `break-glass-*` was configured adopts nothing.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Reason, TargetKind};

/// When `break-glass-*` was written into the settings.
const WRITTEN_MS: i64 = 1_790_000_000_000;
const DAY_MS: i64 = 86_400_000;

fn protecting_break_glass(dated: bool) -> Settings {
    let mut s = Settings {
        mode: Mode::Enforce,
        protected_principals: vec!["break-glass-*".into()],
        ..Settings::default()
    };
    if dated {
        s.protected_since.insert("break-glass-*".into(), WRITTEN_MS);
    }
    s
}

fn break_glass_admin() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "break-glass-admin").unwrap()
}

#[tokio::test]
async fn a_user_created_after_the_pattern_is_contained_and_the_one_before_is_protected() {
    // Created a day after the pattern was written: the attacker's own break-glass-admin.
    let adopted = MemoryPolicies::new()
        .with_entity(&break_glass_admin())
        .with_created(&break_glass_admin(), WRITTEN_MS + DAY_MS, "/");
    let r = Configured::new(
        protecting_break_glass(true),
        &adopted,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .handle(&fixture("protected-break-glass.json"))
    .await;
    assert_eq!(r.outcome, Outcome::Contained, "{}", r.message);
    assert!(
        r.message.starts_with("protected_pattern_postdates: user/break-glass-admin matches the protected pattern \"break-glass-*\""),
        "{}",
        r.message
    );
    assert!(adopted.policy(&break_glass_admin(), "DenyAll").is_some());

    // The real one existed a year before the pattern: protected, and the record says why.
    let real = MemoryPolicies::new()
        .with_entity(&break_glass_admin())
        .with_created(&break_glass_admin(), WRITTEN_MS - 365 * DAY_MS, "/");
    let r = Configured::new(
        protecting_break_glass(true),
        &real,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .handle(&fixture("protected-break-glass.json"))
    .await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("existed before the pattern was written"),
        "{}",
        r.message
    );
    assert_eq!(real.policy(&break_glass_admin(), "DenyAll"), None);
    // One read: GetUser, while GuardDuty answered; nothing written.
    assert_eq!(real.calls(), ["iam:GetUser user/break-glass-admin"]);
}

#[tokio::test]
async fn without_a_date_or_a_readable_creation_date_the_pattern_protects_by_name() {
    let adopted = MemoryPolicies::new()
        .with_entity(&break_glass_admin())
        .with_created(&break_glass_admin(), WRITTEN_MS + DAY_MS, "/");
    let r = Configured::new(
        protecting_break_glass(false),
        &adopted,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .handle(&fixture("protected-break-glass.json"))
    .await;
    assert_eq!(r.reason, Reason::ProtectedPrincipal, "{}", r.message);
    assert!(adopted.calls().is_empty(), "{:?}", adopted.calls());

    let unreadable = MemoryPolicies::new()
        .with_entity(&break_glass_admin())
        .failing(
            "iam:GetUser",
            deadbolt_core::ports::AwsErrorKind::AccessDenied,
            "AccessDenied",
        );
    let r = Configured::new(
        protecting_break_glass(true),
        &unreadable,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .handle(&fixture("protected-break-glass.json"))
    .await;
    assert_eq!(r.reason, Reason::ProtectedPrincipal, "{}", r.message);
    assert!(r.message.contains("protected by name"), "{}", r.message);
}

/// A unique id names exactly one principal: the user protected by `AIDA…` is skipped, and a
/// user re-created under the same name (a new id) is contained. Roles by their `AROA…`.
#[tokio::test]
async fn a_protected_unique_id_protects_exactly_that_principal_and_never_a_namesake() {
    let mallory = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
    let app = ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap();
    let settings = Settings {
        mode: Mode::Enforce,
        protected_principals: vec![
            "AIDA2MLRYQ7ZLQ4WN3XAB".into(),
            "AROA2MLRYQ7ZGH5D6PLQC".into(),
        ],
        ..Settings::default()
    };
    let policies = MemoryPolicies::new()
        .with_entity(&mallory)
        .with_entity(&app);
    let r = Configured::new(settings, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));

    let protected = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (protected.outcome, protected.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        protected.message
    );
    assert!(
        protected
            .message
            .contains("protected unique id AIDA2MLRYQ7ZLQ4WN3XAB"),
        "{}",
        protected.message
    );
    let role = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (role.outcome, role.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        role.message
    );
    assert!(
        policies.calls().iter().all(|c| !c.contains("Put")),
        "{:?}",
        policies.calls()
    );

    // mallory deleted and re-created by the attacker: same name, new id, contained.
    let namesake = fixture_with(
        "cloudtrail-logging-disabled.json",
        &[(
            "/detail/resource/accessKeyDetails/principalId",
            serde_json::json!("AIDA2MLRYQ7ZNEWID0001"),
        )],
    );
    let contained = r.handle(&namesake).await;
    assert_eq!(
        contained.outcome,
        Outcome::Contained,
        "{}",
        contained.message
    );
    assert!(policies.policy(&mallory, "DenyAll").is_some());
}

#[test]
fn unique_ids_are_read_only_from_principal_ids_of_their_shape() {
    use deadbolt_core::decision::unique_id;
    assert_eq!(
        unique_id("AIDA2MLRYQ7ZLQ4WN3XAB"),
        Some("AIDA2MLRYQ7ZLQ4WN3XAB")
    );
    assert_eq!(
        unique_id("AROA2MLRYQ7ZGH5D6PLQC:ci-runner-42"),
        Some("AROA2MLRYQ7ZGH5D6PLQC")
    );
    for not_one in [
        "123456789012:contractor-bob", // a federated user
        "123456789012",                // root
        "AIDA2MLRYQ7ZLQ4WN3XAB:x",     // a user id never has a session part
        "AROA2MLRYQ7ZGH5D6PLQC",       // a role session's always has one
        "aroa2mlryq7zgh5d6plqc:s",     // unique ids are upper case
        "AROA:s",
    ] {
        assert_eq!(unique_id(not_one), None, "{not_one}");
    }
}
