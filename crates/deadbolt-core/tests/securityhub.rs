//! What deadbolt writes back to a finding's Security Hub copy, and when.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryHeldFindings, MemoryPolicies};
use deadbolt_core::ports::NoSharedBreaker;
use deadbolt_core::securityhub::{write_back, SecurityHubSettings, WorkflowStatus, NOTE_MAX_CHARS};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Ports, TargetKind};

const ON: SecurityHubSettings = SecurityHubSettings {
    write_back: true,
    resolve_on_contain: false,
};

fn mallory() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
}

async fn decide(mode: Mode) -> deadbolt_core::DecisionRecord {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let held = MemoryHeldFindings::new();
    let r = Configured::with_ports(
        Settings {
            mode,
            ..Settings::default()
        },
        Ports {
            iam: &policies,
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: None::<deadbolt_core::ports::NoIdentityCenter>,
            shared_breaker: None::<NoSharedBreaker>,
            guardduty: None,
            held: Some(&held),
        },
    );
    r.handle(&fixture("cloudtrail-logging-disabled.json")).await
}

#[tokio::test]
async fn a_containment_is_noted_with_what_was_written_and_the_undo_command() {
    let record = decide(Mode::Enforce).await;
    assert_eq!(record.outcome, Outcome::Contained);
    let u = write_back(&record, ON, "deadbolt-responder").expect("a containment is reported");
    assert_eq!(
        u.product_arn,
        "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    );
    assert!(
        u.finding_arn
            .ends_with("/finding/92b108e6e29fae28af700f610bd20943"),
        "{}",
        u.finding_arn
    );
    assert_eq!(u.workflow, WorkflowStatus::Notified);
    assert_eq!(
        u.note,
        "deadbolt: contained (deny_all_attached); wrote iam:PutUserPolicy user/mallory; undo: deadbolt unblock --user mallory --reason '...'"
    );
    assert_eq!(u.updated_by, "deadbolt-responder");
    // RESOLVED only when the operators chose it, and only for a containment.
    let resolving = SecurityHubSettings {
        resolve_on_contain: true,
        ..ON
    };
    assert_eq!(
        write_back(&record, resolving, "f").unwrap().workflow,
        WorkflowStatus::Resolved
    );
    // Off: nothing.
    assert_eq!(
        write_back(&record, SecurityHubSettings::default(), "f"),
        None
    );
}

#[tokio::test]
async fn a_pending_approval_is_noted_with_its_commands_and_a_dry_run_is_not_noted() {
    let pending = decide(Mode::Approve).await;
    assert_eq!(pending.outcome, Outcome::PendingApproval);
    let resolving = SecurityHubSettings {
        resolve_on_contain: true,
        ..ON
    };
    let u = write_back(&pending, resolving, "f").expect("reported");
    assert_eq!(
        u.workflow,
        WorkflowStatus::Notified,
        "not contained: never resolved"
    );
    assert!(
        u.note
            .contains("deadbolt approve 92b108e6e29fae28af700f610bd20943 --reason TEXT"),
        "{}",
        u.note
    );
    assert!(u.note.contains("deadbolt reject"), "{}", u.note);

    let dry = decide(Mode::DryRun).await;
    assert_eq!(dry.outcome, Outcome::WouldContain);
    assert_eq!(write_back(&dry, ON, "f"), None);
}

#[tokio::test]
async fn a_failure_is_noted_within_security_hubs_limit() {
    let mut record = decide(Mode::Enforce).await;
    record.outcome = Outcome::Failed;
    record.actions.clear();
    record.message = "x".repeat(2_000);
    let u = write_back(&record, ON, "f").expect("a failure is reported");
    assert_eq!(u.note.chars().count(), NOTE_MAX_CHARS);
    assert!(u.note.starts_with("deadbolt: failed"));
    assert!(u.note.ends_with('…'));
    // Without the finding's ARN (a ledger entry written before entries kept it), nothing
    // can be named.
    record.finding_arn = None;
    assert_eq!(write_back(&record, ON, "f"), None);
}
