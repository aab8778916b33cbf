//! The write path an attacker cannot dodge: when the inline `DenyAll` cannot be written (a
//! policy deadbolt did not write holds the name, or the inline-policy quota is full), deadbolt
//! attaches the AWS managed policy `AWSDenyAll` and tags the user or role; `unblock` detaches it
//! only where that tag is present.

mod common;
use common::*;

use deadbolt_core::breaker::{BreakerRefusal, WriteGate};
use deadbolt_core::config::Mode;
use deadbolt_core::containment::{self, MANAGED_DENY_ALL_TAG};
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::policy::DENY_ALL_POLICY_NAME;
use deadbolt_core::ports::{AwsErrorKind, NoIdentityCenter};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ActionStatus, ContainmentTarget, Outcome, Reason, TargetKind};

const AWS_DENY_ALL: &str = "arn:aws:iam::aws:policy/AWSDenyAll";
/// What an attacker with `iam:PutUserPolicy` on itself plants under deadbolt's policy name.
const PLANTED: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const FINDING_ID: &str = "92b108e6e29fae28af700f610bd20943";

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
fn developers() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Group, "developers").unwrap()
}
fn apis(record: &[deadbolt_core::ActionRecord]) -> Vec<(&str, ActionStatus)> {
    record.iter().map(|a| (a.api.as_str(), a.status)).collect()
}
fn tag(p: &MemoryPolicies, t: &ContainmentTarget) -> Option<String> {
    p.tags_of(t)
        .into_iter()
        .find(|(k, _)| k == MANAGED_DENY_ALL_TAG)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn a_planted_deny_all_is_left_untouched_and_aws_deny_all_attached_and_tagged() {
    let p = MemoryPolicies::new().with_entity(&mallory()).with_policy(
        &mallory(),
        DENY_ALL_POLICY_NAME,
        PLANTED,
    );
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let raw = fixture("cloudtrail-logging-disabled.json");
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Contained, Reason::ManagedDenyAllAttached, false),
        "{}",
        record.message
    );
    assert!(
        record.message.contains(
            "user/mallory has an inline policy named DenyAll that deadbolt did not write"
        ),
        "{}",
        record.message
    );
    assert_eq!(
        apis(&record.actions),
        [
            ("iam:GetUserPolicy", ActionStatus::Done),
            ("iam:PutUserPolicy", ActionStatus::NotNeeded),
            ("iam:ListAttachedUserPolicies", ActionStatus::Done),
            ("iam:AttachUserPolicy", ActionStatus::Done),
            ("iam:TagUser", ActionStatus::Done),
        ]
    );
    assert_eq!(record.actions[3].policy_name, "AWSDenyAll");
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);
    assert_eq!(tag(&p, &mallory()).as_deref(), Some(FINDING_ID));
    assert_eq!(
        p.policy(&mallory(), DENY_ALL_POLICY_NAME).as_deref(),
        Some(PLANTED),
        "never overwritten"
    );
    assert!(!p
        .calls()
        .iter()
        .any(|c| c.starts_with("iam:Put") || c.starts_with("iam:Delete")));

    // Redelivered: the attachment is seen, nothing written.
    let before = p.calls().len();
    let again = r.handle(&raw).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent),
        "{}",
        again.message
    );
    assert_eq!(
        p.calls()[before..],
        [
            "iam:GetUserPolicy user/mallory",
            "iam:ListAttachedUserPolicies user/mallory",
            "iam:ListUserTags user/mallory",
        ]
    );
}

#[tokio::test]
async fn an_ordinary_containment_and_its_redelivery_never_look_at_attachments() {
    let p = MemoryPolicies::new().with_entity(&mallory());
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let raw = fixture("cloudtrail-logging-disabled.json");
    assert_eq!(r.handle(&raw).await.outcome, Outcome::Contained);
    assert_eq!(r.handle(&raw).await.outcome, Outcome::AlreadyContained);
    assert_eq!(
        p.calls(),
        [
            "iam:GetUserPolicy user/mallory",
            "iam:PutUserPolicy user/mallory",
            "iam:GetUserPolicy user/mallory",
        ]
    );
}

#[tokio::test]
async fn a_full_inline_quota_falls_back_to_aws_deny_all() {
    let p = MemoryPolicies::new().with_entity(&mallory()).failing(
        "iam:PutUserPolicy",
        AwsErrorKind::LimitExceeded,
        "LimitExceeded",
    );
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached),
        "{}",
        record.message
    );
    assert!(
        record
            .message
            .contains("IAM refused the inline policy DenyAll on user/mallory (LimitExceeded"),
        "{}",
        record.message
    );
    let put = &record.actions[1];
    assert_eq!(
        (put.api.as_str(), put.status, put.error_code.as_deref()),
        (
            "iam:PutUserPolicy",
            ActionStatus::Failed,
            Some("LimitExceeded")
        )
    );
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);
    assert_eq!(tag(&p, &mallory()).as_deref(), Some(FINDING_ID));

    // The managed attachment quota is full too: the permissions boundary, which uses no quota.
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .failing(
            "iam:PutUserPolicy",
            AwsErrorKind::LimitExceeded,
            "LimitExceeded",
        )
        .failing(
            "iam:AttachUserPolicy",
            AwsErrorKind::LimitExceeded,
            "LimitExceeded",
        );
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Contained, Reason::PermissionsBoundarySet, false),
        "{}",
        record.message
    );
    assert_eq!(p.boundary(&mallory()).as_deref(), Some(AWS_DENY_ALL));
    assert!(
        record
            .message
            .contains("permissions boundary instead, which needs no quota"),
        "{}",
        record.message
    );
}

/// An attacker with iam:PutUserPolicy and iam:AttachUserPolicy on itself plants an inline
/// `DenyAll` and fills the managed-policy quota: deadbolt's inline write and its attach both
/// fail. The finding's key is set inactive first (no quota involved), then the boundary
/// contains the user; the ledger keeps the boundary before (a redelivery that tries again
/// keeps an entry of its own), and unblock puts it back.
#[tokio::test]
async fn the_full_quota_principal_is_contained_key_first_then_by_boundary_and_unblock_restores_it()
{
    use deadbolt_core::ledger::{unreleased, MemoryLedger};
    let key = "AKIA2MLRYQ7ZT4XH9KPD";
    let their_boundary = "arn:aws:iam::123456789012:policy/developer-boundary";
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", key)
        .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
        .with_boundary(&mallory(), their_boundary)
        .failing(
            "iam:AttachUserPolicy",
            AwsErrorKind::LimitExceeded,
            "LimitExceeded",
        );
    let settings = Settings {
        strategy: deadbolt_core::strategy::StrategySettings {
            user_deactivate_access_key: true,
            ..Default::default()
        },
        ..enforce()
    };
    let ledger = MemoryLedger::new();
    let r = Configured::new(settings, &p, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    let raw = fixture("cloudtrail-logging-disabled.json");
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::PermissionsBoundarySet),
        "{}",
        record.message
    );
    assert_eq!(
        apis(&record.actions),
        [
            // What needs no quota comes first.
            ("iam:ListAccessKeys", ActionStatus::Done),
            ("iam:UpdateAccessKey", ActionStatus::Done),
            ("iam:GetUserPolicy", ActionStatus::Done),
            ("iam:PutUserPolicy", ActionStatus::NotNeeded),
            ("iam:ListAttachedUserPolicies", ActionStatus::Done),
            ("iam:AttachUserPolicy", ActionStatus::Failed),
            ("iam:GetUser", ActionStatus::Done),
            ("iam:PutUserPermissionsBoundary", ActionStatus::Done),
        ]
    );
    assert_eq!(p.access_key_active("mallory", key), Some(false));
    assert_eq!(p.boundary(&mallory()).as_deref(), Some(AWS_DENY_ALL));
    assert!(
        record
            .message
            .contains(&format!("Its boundary before ({their_boundary})")),
        "{}",
        record.message
    );
    let entries = ledger.all();
    let before = unreleased(&entries, ACCOUNT, &mallory());
    assert_eq!(
        before.boundary().map(|b| b.prior.as_deref()),
        Some(Some(their_boundary))
    );
    assert_eq!(before.prior_key_active(key), Some(Some(true)));

    // Redelivered: the boundary is seen, nothing written; the ledger still knows the first.
    let calls_before = p.calls().len();
    let again = r.handle(&raw).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::AlreadyContained, Reason::PermissionsBoundarySet),
        "{}",
        again.message
    );
    assert!(!p.calls()[calls_before..]
        .iter()
        .any(|c| c.starts_with("iam:Put") || c.starts_with("iam:UpdateAccessKey")));

    // unblock: the boundary before, exactly, from the earliest unreleased entry.
    let mut released = containment::release(&p, &mallory(), false).await;
    let entries = ledger.all();
    let before = unreleased(&entries, ACCOUNT, &mallory());
    assert_eq!(
        before.prior_key_active(key),
        Some(Some(true)),
        "{entries:?}"
    );
    let prior = before.boundary().and_then(|b| b.prior.clone());
    containment::restore_boundary(&p, &mallory(), prior.as_deref(), false, &mut released).await;
    assert_eq!(
        (released.outcome, released.reason),
        (Outcome::Released, Reason::PermissionsBoundaryRestored),
        "{}",
        released.message
    );
    assert_eq!(p.boundary(&mallory()).as_deref(), Some(their_boundary));
    assert_eq!(
        p.policy(&mallory(), DENY_ALL_POLICY_NAME).as_deref(),
        Some(PLANTED),
        "the planted policy is the attacker's, never deadbolt's to remove"
    );

    // A boundary someone changed since is left alone; none before means deleted.
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_boundary(&mallory(), AWS_DENY_ALL);
    let mut r = containment::release(&p, &mallory(), false).await;
    containment::restore_boundary(&p, &mallory(), None, false, &mut r).await;
    assert_eq!(r.outcome, Outcome::Released, "{}", r.message);
    assert_eq!(p.boundary(&mallory()), None);
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_boundary(&mallory(), their_boundary);
    let mut r = containment::release(&p, &mallory(), false).await;
    containment::restore_boundary(&p, &mallory(), None, false, &mut r).await;
    assert_eq!(r.outcome, Outcome::Skipped, "{}", r.message);
    assert!(r.message.contains("left as it is"), "{}", r.message);
    assert_eq!(p.boundary(&mallory()).as_deref(), Some(their_boundary));
}

/// Every path refused (a group has no boundary; here a user whose boundary write is denied
/// too): `containment_blocked`, the manual step in the record, and the notice pages. With the
/// finding's key set inactive first, the record is partial: the credentials are dead.
#[tokio::test]
async fn a_principal_that_cannot_be_restrained_is_containment_blocked_and_pages() {
    let blocked = |p: MemoryPolicies| {
        p.with_entity(&mallory())
            .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
            .failing(
                "iam:AttachUserPolicy",
                AwsErrorKind::LimitExceeded,
                "LimitExceeded",
            )
            .failing(
                "iam:PutUserPermissionsBoundary",
                AwsErrorKind::AccessDenied,
                "AccessDenied",
            )
    };
    let p = blocked(MemoryPolicies::new());
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Failed, Reason::ContainmentBlocked, false),
        "{}",
        record.message
    );
    for what in [
        "inline policy named DenyAll that deadbolt did not write",
        "attaching the managed policy AWSDenyAll failed too (LimitExceeded",
        "setting AWSDenyAll as its permissions boundary failed too (AccessDenied",
        "the principal is NOT contained",
        "aws iam put-user-permissions-boundary --user-name mallory --permissions-boundary arn:aws:iam::aws:policy/AWSDenyAll",
    ] {
        assert!(record.message.contains(what), "{what}: {}", record.message);
    }
    let notice = deadbolt_core::notice::containment_notice(&record).expect("pages");
    assert!(
        notice.subject.contains("could NOT contain"),
        "{}",
        notice.subject
    );
    assert!(
        notice.text.contains("do the manual step"),
        "{}",
        notice.text
    );
    assert!(
        !notice.text.contains("Undo:"),
        "nothing written, nothing to undo"
    );

    // A transient refusal is retried, not called what the attacker did.
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
        .failing(
            "iam:AttachUserPolicy",
            AwsErrorKind::LimitExceeded,
            "LimitExceeded",
        )
        .failing("iam:GetUser", AwsErrorKind::Throttled, "Throttling");
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Failed, Reason::Throttled, true),
        "{}",
        record.message
    );

    // With the key strategy on, the key is set inactive whatever the policy writes do.
    let key = "AKIA2MLRYQ7ZT4XH9KPD";
    let p = blocked(MemoryPolicies::new().with_access_key("mallory", key));
    let settings = Settings {
        strategy: deadbolt_core::strategy::StrategySettings {
            user_deactivate_access_key: true,
            ..Default::default()
        },
        ..enforce()
    };
    let r = Configured::new(settings, &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::PartiallyContained, Reason::ContainmentBlocked),
        "{}",
        record.message
    );
    assert_eq!(p.access_key_active("mallory", key), Some(false));
    assert!(
        record.message.starts_with(&format!(
            "access key {key} of user/mallory is inactive, so the finding's credentials no longer work"
        )),
        "{}",
        record.message
    );
    let notice = deadbolt_core::notice::containment_notice(&record).expect("pages");
    assert!(
        notice.subject.contains("PARTLY contained"),
        "{}",
        notice.subject
    );

    // A group has no boundary: blocked once its attach is refused.
    let p = MemoryPolicies::new()
        .with_entity(&developers())
        .with_policy(&developers(), DENY_ALL_POLICY_NAME, PLANTED)
        .failing(
            "iam:AttachGroupPolicy",
            AwsErrorKind::LimitExceeded,
            "LimitExceeded",
        );
    let plan = containment::manual_plan(developers());
    let applied = containment::apply(
        &p,
        &NoIdentityCenter,
        &plan,
        0,
        &mut deadbolt_core::breaker::Ungated,
    )
    .await;
    assert_eq!(
        (applied.outcome, applied.reason),
        (Outcome::Failed, Reason::ContainmentBlocked),
        "{}",
        applied.message
    );
    assert!(applied
        .message
        .contains("aws iam get-group --group-name developers"));
}

#[tokio::test]
async fn a_role_is_covered_and_the_partition_comes_from_the_finding() {
    let p = MemoryPolicies::new()
        .with_entity(&app_deployer())
        .with_policy(&app_deployer(), DENY_ALL_POLICY_NAME, PLANTED);
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached),
        "{}",
        record.message
    );
    assert_eq!(
        apis(&record.actions)[2..],
        [
            ("iam:ListAttachedRolePolicies", ActionStatus::Done),
            ("iam:AttachRolePolicy", ActionStatus::Done),
            ("iam:TagRole", ActionStatus::Done),
        ]
    );
    assert_eq!(p.attached(&app_deployer()), [AWS_DENY_ALL]);
    assert!(tag(&p, &app_deployer()).is_some());

    // Another partition: its own AWSDenyAll.
    let mut plan = containment::manual_plan(app_deployer());
    plan.partition = "aws-cn".into();
    let p = MemoryPolicies::new()
        .with_entity(&app_deployer())
        .with_policy(&app_deployer(), DENY_ALL_POLICY_NAME, PLANTED);
    let applied = containment::apply(
        &p,
        &NoIdentityCenter,
        &plan,
        0,
        &mut deadbolt_core::breaker::Ungated,
    )
    .await;
    assert_eq!(applied.outcome, Outcome::Contained);
    assert_eq!(
        p.attached(&app_deployer()),
        ["arn:aws-cn:iam::aws:policy/AWSDenyAll"]
    );
}

#[tokio::test]
async fn a_session_strategy_is_not_broadened_to_deny_everything() {
    let p = MemoryPolicies::new()
        .with_entity(&app_deployer())
        .with_policy(&app_deployer(), DENY_ALL_POLICY_NAME, PLANTED);
    let settings = Settings {
        strategy: deadbolt_core::strategy::StrategySettings {
            role: deadbolt_core::strategy::RoleStrategy::RevokeSessions,
            ..Default::default()
        },
        ..enforce()
    };
    let r = Configured::new(settings, &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::ConflictingPolicyName)
    );
    assert!(record
        .message
        .contains("deadbolt block --role app-deployer"));
    assert!(p.attached(&app_deployer()).is_empty());
}

#[tokio::test]
async fn an_aws_deny_all_attached_by_an_administrator_is_already_containment() {
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
        .with_attached(&mallory(), AWS_DENY_ALL);
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::AlreadyContained, Reason::EquivalentDenyAllPresent)
    );
    assert!(!p
        .calls()
        .iter()
        .any(|c| c.starts_with("iam:Attach") || c.starts_with("iam:Tag")));
    assert_eq!(
        tag(&p, &mallory()),
        None,
        "an administrator's attachment is not claimed"
    );
}

#[tokio::test]
async fn a_failed_tag_is_partial_and_names_the_manual_detach() {
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
        .failing("iam:TagUser", AwsErrorKind::Throttled, "Throttling");
    let r = Configured::new(enforce(), &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::PartiallyContained, Reason::Throttled)
    );
    // A redelivery could not tell this untagged attachment from an administrator's.
    assert!(!record.retryable);
    assert!(record
        .message
        .contains("every action it attempts is now denied"));
    assert!(
        record.message.contains(
            "aws iam detach-user-policy --user-name mallory --policy-arn arn:aws:iam::aws:policy/AWSDenyAll"
        ),
        "{}",
        record.message
    );
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);
}

#[tokio::test]
async fn a_failed_key_after_the_managed_fallback_is_partial() {
    let key = "AKIA2MLRYQ7ZT4XH9KPD";
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", key)
        .with_policy(&mallory(), DENY_ALL_POLICY_NAME, PLANTED)
        .failing(
            "iam:UpdateAccessKey",
            AwsErrorKind::Unavailable,
            "ServiceFailure",
        );
    let settings = Settings {
        strategy: deadbolt_core::strategy::StrategySettings {
            user_deactivate_access_key: true,
            ..Default::default()
        },
        ..enforce()
    };
    let r = Configured::new(settings, &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let raw = fixture("cloudtrail-logging-disabled.json");
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::PartiallyContained, Reason::AwsError, true)
    );
    p.stop_failing("iam:UpdateAccessKey");
    let again = r.handle(&raw).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::Contained, Reason::AccessKeyDeactivated)
    );
    assert_eq!(p.access_key_active("mallory", key), Some(false));
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);
}

/// A gate that refuses every write (the circuit breaker is open).
struct Closed;
impl WriteGate for Closed {
    async fn before_write(&mut self) -> Result<(), BreakerRefusal> {
        Err(BreakerRefusal::Local { limit: 1 })
    }
}

#[tokio::test]
async fn the_circuit_breaker_is_asked_before_the_attach() {
    let p = MemoryPolicies::new().with_entity(&mallory()).with_policy(
        &mallory(),
        DENY_ALL_POLICY_NAME,
        PLANTED,
    );
    let plan = containment::manual_plan(mallory());
    let applied = containment::apply(&p, &NoIdentityCenter, &plan, 0, &mut Closed).await;
    assert_eq!(
        (applied.outcome, applied.reason),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen)
    );
    assert_eq!(
        apis(&applied.actions)[2..],
        [
            ("iam:ListAttachedUserPolicies", ActionStatus::Done),
            ("iam:AttachUserPolicy", ActionStatus::Planned),
            ("iam:TagUser", ActionStatus::Planned),
        ]
    );
    assert!(p.attached(&mallory()).is_empty());
}

#[tokio::test]
async fn unblock_detaches_only_what_deadbolts_tag_vouches_for() {
    // deadbolt's attachment: detached, tag removed, the planted policy untouched.
    let p = MemoryPolicies::new().with_entity(&mallory()).with_policy(
        &mallory(),
        DENY_ALL_POLICY_NAME,
        PLANTED,
    );
    let plan = containment::manual_plan(mallory());
    let mut ungated = deadbolt_core::breaker::Ungated;
    containment::apply(&p, &NoIdentityCenter, &plan, 0, &mut ungated).await;
    assert_eq!(tag(&p, &mallory()).as_deref(), Some("Manual"));

    let dry = containment::release(&p, &mallory(), true).await;
    assert_eq!(
        (dry.outcome, dry.reason),
        (Outcome::WouldRelease, Reason::DryRun)
    );
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);

    let released = containment::release(&p, &mallory(), false).await;
    assert_eq!(
        (released.outcome, released.reason),
        (Outcome::Released, Reason::ManagedDenyAllDetached),
        "{}",
        released.message
    );
    assert!(released
        .message
        .contains("not a deny-all written by deadbolt: left untouched"));
    assert!(p.attached(&mallory()).is_empty());
    assert_eq!(tag(&p, &mallory()), None);
    assert_eq!(
        p.policy(&mallory(), DENY_ALL_POLICY_NAME).as_deref(),
        Some(PLANTED)
    );
    assert_eq!(
        apis(&released.actions),
        [
            ("iam:GetUserPolicy", ActionStatus::Done),
            ("iam:ListAttachedUserPolicies", ActionStatus::Done),
            ("iam:ListUserTags", ActionStatus::Done),
            ("iam:DetachUserPolicy", ActionStatus::Done),
            ("iam:UntagUser", ActionStatus::Done),
        ]
    );

    // An administrator's attachment (no tag): left attached, and said how to detach it.
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_attached(&mallory(), AWS_DENY_ALL);
    let r = containment::release(&p, &mallory(), false).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::EquivalentDenyAllPresent)
    );
    assert!(
        r.message.contains("aws iam detach-user-policy"),
        "{}",
        r.message
    );
    assert_eq!(p.attached(&mallory()), [AWS_DENY_ALL]);
    assert!(!p.calls().iter().any(|c| c.starts_with("iam:Detach")));

    // A stale tag (someone detached by hand) is removed, so it cannot vouch for a later one.
    let p = MemoryPolicies::new().with_entity(&mallory()).with_tag(
        &mallory(),
        MANAGED_DENY_ALL_TAG,
        FINDING_ID,
    );
    let r = containment::release(&p, &mallory(), false).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::NotContained)
    );
    assert_eq!(tag(&p, &mallory()), None);
}

#[tokio::test]
async fn a_group_is_contained_untagged_and_unblock_leaves_the_attachment() {
    let p = MemoryPolicies::new()
        .with_entity(&developers())
        .with_policy(&developers(), DENY_ALL_POLICY_NAME, PLANTED);
    let plan = containment::manual_plan(developers());
    let mut ungated = deadbolt_core::breaker::Ungated;
    let applied = containment::apply(&p, &NoIdentityCenter, &plan, 0, &mut ungated).await;
    assert_eq!(
        (applied.outcome, applied.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached)
    );
    assert!(
        applied.message.contains("Groups cannot be tagged"),
        "{}",
        applied.message
    );
    assert!(applied.message.contains(
        "aws iam detach-group-policy --group-name developers --policy-arn arn:aws:iam::aws:policy/AWSDenyAll"
    ));
    assert_eq!(
        apis(&applied.actions)[2..],
        [
            ("iam:ListAttachedGroupPolicies", ActionStatus::Done),
            ("iam:AttachGroupPolicy", ActionStatus::Done),
        ]
    );
    let r = containment::release(&p, &developers(), false).await;
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(p.attached(&developers()), [AWS_DENY_ALL]);
    assert!(
        r.message.contains("groups cannot be tagged"),
        "{}",
        r.message
    );
}

/// With a ledger, `unblock` detaches only the `AWSDenyAll` the ledger says deadbolt attached:
/// a deadbolt tag the attacker planted vouches for nothing, and AWS's own quarantine policy
/// is never touched.
#[tokio::test]
async fn with_a_ledger_unblock_detaches_only_what_the_ledger_says_deadbolt_attached() {
    const QUARANTINE: &str = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3";
    let forged = || {
        MemoryPolicies::new()
            .with_entity(&mallory())
            .with_attached(&mallory(), AWS_DENY_ALL)
            .with_attached(&mallory(), QUARANTINE)
            .with_tag(&mallory(), MANAGED_DENY_ALL_TAG, FINDING_ID)
    };
    // The ledger has no record of deadbolt attaching it: it stays, and so does the quarantine.
    let p = forged();
    let r = containment::release_vouched(&p, &mallory(), false, false, Some(&[])).await;
    assert_eq!(
        p.attached(&mallory()),
        [AWS_DENY_ALL.to_string(), QUARANTINE.to_string()],
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("ledger has no record of deadbolt attaching it"),
        "{}",
        r.message
    );
    // The ledger recorded the attachment: detached, the quarantine left alone.
    let p = forged();
    let recorded = [AWS_DENY_ALL.to_string()];
    let r = containment::release_vouched(&p, &mallory(), false, false, Some(&recorded)).await;
    assert_eq!(r.outcome, Outcome::Released, "{}", r.message);
    assert_eq!(p.attached(&mallory()), [QUARANTINE.to_string()]);
    // Without a ledger the tag is all there is (the documented fallback).
    let p = forged();
    containment::release_vouched(&p, &mallory(), false, false, None).await;
    assert_eq!(p.attached(&mallory()), [QUARANTINE.to_string()]);
}
