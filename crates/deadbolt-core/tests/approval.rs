//! `approve` mode: verified, decided and planned as in enforce, nothing written to IAM, one
//! pending approval kept where held findings live, and a notice asking a person.

mod common;
use common::*;

use deadbolt_core::approval::OnExpiry;
use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryHeldFindings, MemoryPolicies};
use deadbolt_core::notice::containment_notice;
use deadbolt_core::ports::{HeldFindings, NoSharedBreaker};
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Ports, Reason, TargetKind};

fn mallory() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
}

fn approve() -> Settings {
    Settings {
        mode: Mode::Approve,
        ..Settings::default()
    }
}

fn responder<'a>(
    settings: Settings,
    policies: &'a MemoryPolicies,
    held: Option<&'a MemoryHeldFindings>,
) -> Configured<
    &'a MemoryPolicies,
    FixedIdentity,
    deadbolt_core::ports::NoIdentityCenter,
    NoSharedBreaker,
    &'a MemoryHeldFindings,
> {
    Configured::with_ports(
        settings,
        Ports {
            iam: policies,
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: None,
            shared_breaker: None,
            guardduty: None,
            held,
        },
    )
}

#[tokio::test]
async fn approve_mode_writes_nothing_and_keeps_one_pending_approval_that_asks_a_person() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let held = MemoryHeldFindings::new();
    let r = responder(approve(), &policies, Some(&held));
    let event = fixture("cloudtrail-logging-disabled.json");
    let record = r.handle(&event).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::PendingApproval, Reason::AwaitingApproval),
        "{}",
        record.message
    );
    // Nothing read or written in IAM: the plan is the decision's.
    assert!(policies.calls().is_empty(), "{:?}", policies.calls());
    assert_eq!(policies.policy(&mallory(), "DenyAll"), None);
    let pending = held.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    let p = &pending[0];
    assert_eq!(
        (p.id.as_str(), p.target.as_str(), p.strategy.as_str()),
        (
            "92b108e6e29fae28af700f610bd20943",
            "user/mallory",
            "deny-all"
        )
    );
    assert_eq!(p.writes, ["iam:PutUserPolicy user/mallory"]);
    assert_eq!(p.event, event);
    assert_eq!(p.expires_at_ms - p.created_at_ms, 24 * 3_600_000);
    assert_eq!(p.on_expiry, OnExpiry::Drop);
    let approval = record
        .approval
        .as_ref()
        .expect("the record says how to answer");
    assert!(approval.new);
    assert_eq!(
        approval.commands,
        [
            "deadbolt approve 92b108e6e29fae28af700f610bd20943 --reason TEXT",
            "deadbolt reject 92b108e6e29fae28af700f610bd20943 --reason TEXT"
        ]
    );
    let json = record.to_json();
    assert!(json.contains(r#""outcome":"pending_approval""#), "{json}");

    // The notice: the plan and both commands, in text and as Chatbot's next steps.
    let notice = containment_notice(&record).expect("a person is asked");
    assert!(notice.subject.contains("APPROVE"), "{}", notice.subject);
    for c in &approval.commands {
        assert!(notice.text.contains(c.as_str()), "{}", notice.text);
    }
    let chat: serde_json::Value = serde_json::from_str(&notice.chat).unwrap();
    assert_eq!(chat["content"]["nextSteps"].as_array().unwrap().len(), 2);
    assert!(chat["content"]["nextSteps"][0]
        .as_str()
        .unwrap()
        .contains("deadbolt approve"));

    // Delivered again: the same approval stands (its expiry too), nobody is asked twice.
    let again = r.handle(&event).await;
    assert_eq!(again.outcome, Outcome::PendingApproval);
    assert!(!again.approval.as_ref().unwrap().new);
    assert!(containment_notice(&again).is_none());
    assert_eq!(held.pending().await.unwrap(), pending);
}

#[tokio::test]
async fn approve_mode_follows_the_overrides_and_the_kill_switch_wins() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let held = MemoryHeldFindings::new();
    // Per finding type: 15 minutes, then contain unless rejected.
    let mut settings = Settings::parse(
        r#"{"mode": "dry-run", "mode_by_finding_type": {"Stealth:IAMUser/": "approve"},
            "approval": {"expires_after": "2h"},
            "approval_by_finding_type": {"Stealth:IAMUser/": {"expires_after": "15m", "on_expiry": "contain"}}}"#,
    )
    .unwrap();
    let record = responder(settings.clone(), &policies, Some(&held))
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        record.outcome,
        Outcome::PendingApproval,
        "{}",
        record.message
    );
    let p = &held.pending().await.unwrap()[0];
    assert_eq!(p.expires_at_ms - p.created_at_ms, 15 * 60_000);
    assert_eq!(p.on_expiry, OnExpiry::Contain);
    assert!(
        record.message.contains("CONTAINED unless rejected"),
        "{}",
        record.message
    );

    // mode: off beats any approve override.
    settings.mode = Mode::Off;
    let held = MemoryHeldFindings::new();
    let record = responder(settings, &policies, Some(&held))
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Skipped, Reason::ModeOff)
    );
    assert!(held.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_a_store_approve_mode_decides_nothing_and_asks_for_a_retry() {
    let policies = MemoryPolicies::new().with_entity(&mallory());
    let record = responder(approve(), &policies, None)
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::ApprovalNotKept),
        "{}",
        record.message
    );
    assert!(
        record.message.contains("DEADBOLT_BREAKER_TABLE"),
        "{}",
        record.message
    );
    assert!(policies.calls().is_empty());

    let held = MemoryHeldFindings::new();
    held.fail_with(deadbolt_core::ports::AwsError::new(
        deadbolt_core::ports::AwsErrorKind::Throttled,
        "ProvisionedThroughputExceededException",
        "slow down",
    ));
    let record = responder(approve(), &policies, Some(&held))
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason, record.retryable),
        (Outcome::Failed, Reason::ApprovalNotKept, true)
    );
}

#[test]
fn approval_settings_parse_round_trip_and_refuse_what_they_do_not_understand() {
    let s = Settings::parse(
        r#"{"approval": {"expires_after": "30m", "on_expiry": "contain"},
            "approval_by_finding_type": {"AttackSequence:IAM/": {"on_expiry": "drop"}}}"#,
    )
    .unwrap();
    assert_eq!(s.approval.expires_after_secs, 1800);
    // What an entry leaves out is approval's.
    let seq = s.approval_for("AttackSequence:IAM/CompromisedCredentials");
    assert_eq!(
        (seq.expires_after_secs, seq.on_expiry),
        (1800, OnExpiry::Drop)
    );
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);

    for (document, says) in [
        (
            r#"{"approval": {"expires_after": "30s"}}"#,
            "approval.expires_after",
        ),
        (r#"{"approval": {"expires_after": "8d"}}"#, "out of range"),
        (
            r#"{"approval": {"on_expiry": "keep"}}"#,
            "accepted values: drop, contain",
        ),
        (r#"{"approval": {"expire": "1h"}}"#, "approval.expire"),
        (
            r#"{"approval_by_finding_type": {"Stealth:IAMUser/": {"on_expiry": "maybe"}}}"#,
            "approval_by_finding_type.Stealth:IAMUser/.on_expiry",
        ),
        (r#"{"follow_up": "approve"}"#, "follow_up"),
    ] {
        let e = Settings::parse(document).unwrap_err().to_string();
        assert!(e.contains(says), "{document}: {e}");
    }
    let mut s = Settings::default();
    s.set("mode", "approve").unwrap();
    s.set(
        "approval_by_finding_type.AttackSequence:IAM/.on_expiry",
        "contain",
    )
    .unwrap();
    s.set(
        "approval_by_finding_type.AttackSequence:IAM/.expires_after",
        "15m",
    )
    .unwrap();
    let seq = s.approval_for("AttackSequence:IAM/CompromisedCredentials");
    assert_eq!(
        (seq.expires_after_secs, seq.on_expiry),
        (900, OnExpiry::Contain)
    );
    assert!(s.set("follow_up", "approve").is_err());
}
