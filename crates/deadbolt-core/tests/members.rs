//! A GuardDuty administrator's deadbolt contains in member accounts through the member role:
//! the policy lands in the member's IAM and nowhere else, an unlisted account is untouched, a
//! refused `AssumeRole` is a clear failure, and deadbolt's own member role is never contained.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryMembers, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{Outcome, Reason};
use serde_json::json;

const MEMBER: &str = "111111111111";
const FINDING: &str = "member-account-finding.json";
const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/deadbolt-member";

fn mallory() -> deadbolt_core::ContainmentTarget {
    deadbolt_core::ContainmentTarget::new(deadbolt_core::TargetKind::User, "mallory").unwrap()
}

fn hub(mode: Mode, members: &[&str]) -> Settings {
    Settings {
        mode,
        member_accounts: members.iter().map(|m| m.to_string()).collect(),
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_listed_members_finding_is_contained_in_the_member_account_only() {
    let own = MemoryPolicies::new();
    let member = MemoryPolicies::new().with_entity(&mallory());
    let members = MemoryMembers::new().account(MEMBER, &member);
    let responder = Configured::new(
        hub(Mode::Enforce, &[MEMBER]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Contained, Reason::DenyAllAttached),
        "{}",
        r.message
    );
    assert_eq!(r.account_id.as_deref(), Some(MEMBER));
    assert_eq!(r.acted_in_account.as_deref(), Some(MEMBER));
    assert_eq!(r.member_role.as_deref(), Some(ROLE_ARN));
    assert!(member.policy(&mallory(), "DenyAll").is_some());
    assert!(
        member
            .calls()
            .iter()
            .any(|c| c.starts_with("iam:PutUserPolicy")),
        "{:?}",
        member.calls()
    );
    assert!(
        own.calls().is_empty(),
        "nothing in the administrator's account: {:?}",
        own.calls()
    );
    // Assumed once (after GuardDuty's copy named the account), in a session named after the
    // finding.
    assert_eq!(
        members.assumed(),
        [(
            ROLE_ARN.to_string(),
            "deadbolt-5ac7a4e1c3f04e0b8f1d2c3b4a596870".to_string()
        )]
    );
    let json = r.to_json();
    assert!(
        json.contains(r#""acted_in_account":"111111111111""#),
        "{json}"
    );
    assert!(r.to_text().contains(&format!("through    {ROLE_ARN}")));
}

#[tokio::test]
async fn an_unlisted_account_is_foreign_and_nothing_is_assumed() {
    let own = MemoryPolicies::new();
    let member = MemoryPolicies::new().with_entity(&mallory());
    let members = MemoryMembers::new().account(MEMBER, &member);
    let responder = Configured::new(
        hub(Mode::Enforce, &["222222222222"]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::NotContainable, Reason::ForeignAccount)
    );
    assert!(
        r.message.contains("not among member_accounts"),
        "{}",
        r.message
    );
    assert!(members.assumed().is_empty());
    assert!(member.calls().is_empty() && own.calls().is_empty());
    // "*" takes any account GuardDuty hands over.
    let any = Configured::new(
        hub(Mode::Enforce, &["*"]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    assert_eq!(
        any.handle(&fixture(FINDING)).await.outcome,
        Outcome::Contained
    );
}

#[tokio::test]
async fn a_refused_assume_role_is_a_clear_permanent_failure() {
    let own = MemoryPolicies::new();
    let members = MemoryMembers::new().deny(MEMBER);
    let responder = Configured::new(
        hub(Mode::Enforce, &[MEMBER]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Failed, Reason::MemberRoleUnavailable)
    );
    assert!(!r.retryable, "AccessDenied is not retried");
    assert!(
        r.message.contains(ROLE_ARN) && r.message.contains("member account 111111111111"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("infra/member-role.yaml"),
        "{}",
        r.message
    );
    assert!(
        own.calls().is_empty(),
        "never falls back to the administrator's account"
    );
}

#[tokio::test]
async fn without_member_access_a_members_finding_fails_instead_of_touching_the_own_account() {
    let own = MemoryPolicies::new();
    let responder = Configured::new(
        hub(Mode::Enforce, &[MEMBER]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Failed, Reason::MemberRoleUnavailable)
    );
    assert!(own.calls().is_empty());
}

#[tokio::test]
async fn the_member_role_itself_is_never_contained() {
    let own = MemoryPolicies::new();
    let member = MemoryPolicies::new().with_entity(&mallory());
    let members = MemoryMembers::new().account(MEMBER, &member);
    let responder = Configured::new(
        hub(Mode::Enforce, &[MEMBER]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    // The attacker acts as deadbolt's own member role in the member account.
    let event = fixture_with(
        FINDING,
        &[(
            "/detail/resource/accessKeyDetails",
            json!({
                "accessKeyId": "ASIAMEMBER1EXAMPLE22",
                "principalId": "AROAMEMBER1EXAMPLE333:deadbolt-x",
                "userType": "AssumedRole",
                "userName": "deadbolt-member"
            }),
        )],
    );
    let r = responder.handle(&event).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::DeadboltItself),
        "{}",
        r.message
    );
    assert!(member.calls().is_empty());
}

#[tokio::test]
async fn per_account_modes_apply_to_members_and_dry_run_names_the_account_and_role() {
    let own = MemoryPolicies::new();
    let member = MemoryPolicies::new().with_entity(&mallory());
    let members = MemoryMembers::new().account(MEMBER, &member);
    let mut settings = hub(Mode::Enforce, &[MEMBER]);
    settings.mode_by_account.insert(MEMBER.into(), Mode::DryRun);
    let responder = Configured::new(settings, &own, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_members(&members);
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::WouldContain, Reason::DryRun)
    );
    assert_eq!(r.acted_in_account.as_deref(), Some(MEMBER));
    assert_eq!(r.member_role.as_deref(), Some(ROLE_ARN));
    assert!(
        r.message.contains("in member account 111111111111"),
        "{}",
        r.message
    );
    assert!(members.assumed().is_empty(), "dry-run assumes nothing");
    assert!(member.calls().is_empty());
}

/// Issue 17, point 6: a forged event naming a member account makes deadbolt reach into no
/// account: the member role is assumed only once GuardDuty's copy names that account.
#[tokio::test]
async fn a_forged_members_finding_assumes_no_member_role() {
    let own = MemoryPolicies::new();
    let member = MemoryPolicies::new().with_entity(&mallory());
    let members = MemoryMembers::new().account(MEMBER, &member);
    let mut responder = Configured::new(
        hub(Mode::Enforce, &[MEMBER]),
        &own,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_members(&members);
    // GuardDuty knows nothing of it.
    responder.echo = false;
    let r = responder.handle(&fixture(FINDING)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Rejected, Reason::FindingNotInGuardduty),
        "{}",
        r.message
    );
    assert!(members.assumed().is_empty(), "{:?}", members.assumed());
    assert!(member.calls().is_empty() && own.calls().is_empty());
}

/// Protection cannot be adopted in a member account either: the principal's CreateDate and
/// IAM path are read there, through the member role (assumed once: the containment that
/// follows reuses the session), and decided as in deadbolt's own account.
#[tokio::test]
async fn in_a_member_account_a_dated_pattern_and_a_reserved_path_are_checked_there() {
    const WRITTEN_MS: i64 = 1_790_000_000_000;
    let protecting = || {
        let mut s = hub(Mode::Enforce, &[MEMBER]);
        s.protected_principals = vec!["mallory".into()];
        s.protected_since.insert("mallory".into(), WRITTEN_MS);
        s
    };
    let own = MemoryPolicies::new();

    // mallory created in the member account a day after the pattern: contained there.
    let member = MemoryPolicies::new().with_entity(&mallory()).with_created(
        &mallory(),
        WRITTEN_MS + 86_400_000,
        "/",
    );
    let members = MemoryMembers::new().account(MEMBER, &member);
    let r = Configured::new(protecting(), &own, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_members(&members)
        .handle(&fixture(FINDING))
        .await;
    assert_eq!(r.outcome, Outcome::Contained, "{}", r.message);
    assert!(
        r.message
            .starts_with("protected_pattern_postdates: user/mallory"),
        "{}",
        r.message
    );
    assert!(member.policy(&mallory(), "DenyAll").is_some());
    assert_eq!(members.assumed().len(), 1, "one session, read then write");
    assert!(own.calls().is_empty(), "{:?}", own.calls());

    // The same pattern, and a mallory who existed before it: protected, nothing written.
    let member = MemoryPolicies::new().with_entity(&mallory()).with_created(
        &mallory(),
        WRITTEN_MS - 86_400_000,
        "/",
    );
    let members = MemoryMembers::new().account(MEMBER, &member);
    let r = Configured::new(protecting(), &own, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_members(&members)
        .handle(&fixture(FINDING))
        .await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        r.message
    );
    assert_eq!(member.policy(&mallory(), "DenyAll"), None);

    // A role named like Identity Center's in the member account, created under "/": an
    // ordinary role there; under Identity Center's path it is Identity Center's.
    let sso = "AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5";
    let role = deadbolt_core::ContainmentTarget::new(deadbolt_core::TargetKind::Role, sso).unwrap();
    let event = fixture("cloudtrail-logging-disabled-sso.json").replace(ACCOUNT, MEMBER);
    for (path, expected) in [
        ("/", (Outcome::Contained, Reason::DenyAllAttached)),
        (
            "/aws-reserved/sso.amazonaws.com/",
            (Outcome::NotContainable, Reason::SsoReservedRole),
        ),
    ] {
        let member = MemoryPolicies::new()
            .with_entity(&role)
            .with_created(&role, WRITTEN_MS, path);
        let members = MemoryMembers::new().account(MEMBER, &member);
        let r = Configured::new(
            hub(Mode::Enforce, &[MEMBER]),
            &own,
            FixedIdentity::new(ACCOUNT, OWN_ARN),
        )
        .with_members(&members)
        .handle(&event)
        .await;
        assert_eq!((r.outcome, r.reason), expected, "{path}: {}", r.message);
        assert_eq!(
            member.policy(&role, "DenyAll").is_some(),
            path == "/",
            "{path}"
        );
        assert_eq!(members.assumed().len(), 1, "{path}");
    }
    assert!(own.calls().is_empty(), "{:?}", own.calls());
}
