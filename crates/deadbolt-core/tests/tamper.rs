//! The tamper watch: a CloudTrail call that undoes a containment the ledger says is in force
//! is answered by writing it again (`recontained`, who undid it, paged); anything the ledger
//! does not vouch for is left alone, whatever the event says.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::ledger::{LedgerEntry, MemoryLedger};
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::notice::containment_notice;
use deadbolt_core::ports::{AccessKeys, InlinePolicies};
use deadbolt_core::securityhub::{write_back, SecurityHubSettings, WorkflowStatus};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Reason, TargetKind};

const KEY: &str = "AKIA2MLRYQ7ZT4XH9KPD";

fn tamper(name: &str) -> String {
    let path = fixtures_dir().join("../tamper").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn enforce() -> Settings {
    let mut s = Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    };
    s.strategy.user_deactivate_access_key = true;
    s
}

fn mallory() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
}

fn mallory_with_key() -> MemoryPolicies {
    MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", KEY)
}

#[tokio::test]
async fn a_deleted_deny_all_is_re_applied_within_one_event_and_paged() {
    let policies = mallory_with_key();
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    let contained = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        contained.outcome,
        Outcome::Contained,
        "{}",
        contained.message
    );

    // A second principal deletes the DenyAll.
    policies
        .delete_policy(&mallory(), "DenyAll")
        .await
        .expect("deleted");
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);

    let r = responder
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(r.outcome, Outcome::Recontained, "{}", r.message);
    assert_eq!(r.reason, Reason::ContainmentUndone);
    assert!(policies.policy(&mallory(), "DenyAll").is_some());
    let t = r.tamper.as_ref().expect("who undid it");
    assert_eq!(
        t.undone_by,
        "arn:aws:sts::123456789012:assumed-role/ci-helper/ci-helper"
    );
    assert_eq!(t.event_name, "DeleteUserPolicy");
    assert_eq!(
        t.ledger_entry.as_deref(),
        Some("contain#123456789012#user/mallory#92b108e6e29fae28af700f610bd20943")
    );
    assert_eq!(
        r.finding_id.as_deref(),
        Some("92b108e6e29fae28af700f610bd20943")
    );
    let json = r.to_json();
    assert!(json.contains(r#""outcome":"recontained""#), "{json}");
    // The containment's finding, from its ledger entry: its Security Hub copy is told, and
    // stays NOTIFIED (someone undid a containment) even where first containments resolve it.
    let finding_arn = "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/92b108e6e29fae28af700f610bd20943";
    assert_eq!(r.finding_arn.as_deref(), Some(finding_arn));
    let update = write_back(
        &r,
        SecurityHubSettings {
            write_back: true,
            resolve_on_contain: true,
        },
        "deadbolt-responder",
    )
    .expect("a re-containment is written back");
    assert_eq!(update.finding_arn, finding_arn);
    assert_eq!(update.workflow, WorkflowStatus::Notified);
    assert!(
        update
            .note
            .starts_with("deadbolt: recontained (containment_undone)"),
        "{}",
        update.note
    );
    let notice = containment_notice(&r).expect("paged");
    assert!(
        notice.subject.contains("RE-contained user/mallory"),
        "{}",
        notice.subject
    );
    assert!(
        notice
            .text
            .contains("assumed-role/ci-helper/ci-helper deleted the inline DenyAll"),
        "{}",
        notice.text
    );
    // Recorded as a containment of its own, keyed by the CloudTrail event.
    let entries = ledger.all();
    assert!(
        entries.iter().any(|e| e.id
            == "contain#123456789012#user/mallory#recontain-3e2d1c0b-9a8f-4e7d-6c5b-4a3f2e1d0c9b"
            && e.outcome.as_deref() == Some("contained")),
        "{entries:?}"
    );

    // The same event delivered again: the containment is in place, nothing re-written.
    let count = entries.len();
    let again = responder
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(
        again.outcome,
        Outcome::AlreadyContained,
        "{}",
        again.message
    );
    assert_eq!(ledger.all().len(), count);
    assert!(containment_notice(&again).is_none());
}

#[tokio::test]
async fn a_key_set_active_again_is_set_inactive_again_only_if_the_ledger_vouches() {
    let policies = mallory_with_key().with_access_key("mallory", "AKIA2MLRYQ7ZT4XOTHER");
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    let contained = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        contained.outcome,
        Outcome::Contained,
        "{}",
        contained.message
    );
    assert_eq!(policies.access_key_active("mallory", KEY), Some(false));

    policies
        .set_access_key_status("mallory", KEY, true)
        .await
        .unwrap();
    let r = responder
        .handle(&tamper("update-access-key-active.json"))
        .await;
    assert_eq!(r.outcome, Outcome::Recontained, "{}", r.message);
    assert_eq!(policies.access_key_active("mallory", KEY), Some(false));
    // The user's other key was never deadbolt's to touch.
    assert_eq!(
        policies.access_key_active("mallory", "AKIA2MLRYQ7ZT4XOTHER"),
        Some(true)
    );
}

#[tokio::test]
async fn an_operators_unblock_recorded_first_is_not_undone_again() {
    let policies = mallory_with_key();
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    // What deadbolt unblock does: the release is opened in the ledger, then the DenyAll goes.
    use deadbolt_core::ledger::Ledger;
    let release = LedgerEntry::release(
        ACCOUNT,
        &mallory(),
        "arn:aws:iam::123456789012:user/operator",
        deadbolt_core::clock::now_ms() + 1,
    );
    assert!(ledger.open(&release).await.unwrap());
    policies.delete_policy(&mallory(), "DenyAll").await.unwrap();

    let r = responder
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(r.outcome, Outcome::Skipped, "{}", r.message);
    assert_eq!(r.reason, Reason::NotUnderContainment);
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);
    assert!(containment_notice(&r).is_none());
}

#[tokio::test]
async fn the_events_word_alone_writes_nothing() {
    // Never contained by deadbolt: a forged or genuine deletion is not deadbolt's business.
    let policies = mallory_with_key();
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    let r = responder
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(r.reason, Reason::NotUnderContainment, "{}", r.message);
    assert!(
        policies.calls().iter().all(|c| !c.starts_with("iam:Put")),
        "{:?}",
        policies.calls()
    );
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);

    // No ledger at all: deadbolt cannot tell, and says so.
    let without = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let r = without
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::NoLedger),
        "{}",
        r.message
    );
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);

    // deadbolt's own identity removing something is not tampering.
    let own = tamper("delete-user-policy-deny-all.json").replace(
        "arn:aws:iam::123456789012:role/ci-helper",
        "arn:aws:iam::123456789012:role/deadbolt-responder",
    );
    let r = responder.handle(&own).await;
    assert_eq!(r.reason, Reason::UndoneByDeadbolt, "{}", r.message);

    // A malformed name from the event is rejected, naming the field.
    let bad = tamper("delete-user-policy-deny-all.json").replace("\"mallory\"", "\"mal lory\"");
    let r = responder.handle(&bad).await;
    assert_eq!(r.outcome, Outcome::Rejected, "{}", r.message);
    assert!(
        r.message.contains("detail.requestParameters.userName"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn in_dry_run_now_the_undo_is_paged_and_nothing_written() {
    let policies = mallory_with_key();
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    policies.delete_policy(&mallory(), "DenyAll").await.unwrap();
    let dry = Configured::new(
        Settings::default(),
        &policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_ledger(&ledger, "function:deadbolt-responder");
    let r = dry
        .handle(&tamper("delete-user-policy-deny-all.json"))
        .await;
    assert_eq!(r.outcome, Outcome::WouldContain, "{}", r.message);
    assert_eq!(r.reason, Reason::ContainmentUndone);
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);
    let notice = containment_notice(&r).expect("paged");
    assert!(
        notice.subject.contains("could NOT re-contain"),
        "{}",
        notice.subject
    );
}

#[tokio::test]
async fn a_bare_cloudtrail_record_is_accepted_like_the_eventbridge_event() {
    let policies = mallory_with_key();
    let ledger = MemoryLedger::new();
    let responder = Configured::new(enforce(), &policies, FixedIdentity::new(ACCOUNT, OWN_ARN))
        .with_ledger(&ledger, "function:deadbolt-responder");
    responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    policies.delete_policy(&mallory(), "DenyAll").await.unwrap();
    let r = responder
        .handle(&tamper("delete-user-policy-deny-all.record.json"))
        .await;
    assert_eq!(r.outcome, Outcome::Recontained, "{}", r.message);
}
