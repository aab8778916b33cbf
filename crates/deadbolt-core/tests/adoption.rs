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
