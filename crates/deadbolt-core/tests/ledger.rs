//! Every containment is in the ledger: opened before the first write with what was there
//! before (the policy, the key's status), completed after with the outcome; a redelivery that
//! writes nothing adds nothing.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::ledger::{LedgerAction, LedgerState, MemoryLedger};
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::ports::AccessKeys;
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, TargetKind};

const KEY: &str = "AKIA2MLRYQ7ZT4XH9KPD";

fn enforce_with_key_deactivation() -> Settings {
    let mut s = Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    };
    s.strategy.user_deactivate_access_key = true;
    s
}

#[tokio::test]
async fn a_containment_records_the_prior_state_who_acted_and_the_outcome() {
    let mallory = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
    // The finding's key was already inactive before deadbolt came.
    let policies = MemoryPolicies::new()
        .with_entity(&mallory)
        .with_access_key("mallory", KEY);
    policies
        .set_access_key_status("mallory", KEY, false)
        .await
        .expect("key exists");
    let ledger = MemoryLedger::new();
    let responder = Configured::new(
        enforce_with_key_deactivation(),
        &policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_ledger(&ledger, "function:deadbolt-responder");
    let r = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(r.outcome, Outcome::Contained, "{}", r.message);
    let entries = ledger.all();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.action, LedgerAction::Contain);
    assert_eq!(e.state, LedgerState::Completed);
    assert_eq!(e.target, "user/mallory");
    assert_eq!(e.account_id, ACCOUNT);
    assert_eq!(e.finding_id, "92b108e6e29fae28af700f610bd20943");
    assert_eq!(e.actor, "function:deadbolt-responder");
    assert!(e.prior_policy_read && e.prior_policy.is_none(), "{e:?}");
    assert_eq!(e.prior_key_active(KEY), Some(Some(false)), "{e:?}");
    assert_eq!(e.outcome.as_deref(), Some("contained"));
    assert!(e.completed_at_ms.is_some());

    // Delivered again: already contained, nothing written, nothing new in the ledger.
    let again = responder
        .handle(&fixture("cloudtrail-logging-disabled.json"))
        .await;
    assert_eq!(again.outcome, Outcome::AlreadyContained);
    assert_eq!(ledger.all(), entries);
}

/// Releasing a role keeps deadbolt's revoke-sessions statement (dated at containment): the
/// role works again for new sessions, never for tokens issued before containment, which may
/// be the stolen ones. `--restore-sessions` (keep = false) removes it too.
#[tokio::test]
async fn releasing_a_role_keeps_its_revoke_sessions_statement_unless_restored() {
    use deadbolt_core::containment::release_with;
    use deadbolt_core::ports::InlinePolicies;
    let role = ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap();
    let revoke = r#"{"Sid":"DeadboltRevokeSessions5ab1c2d3","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T04:00:00Z"}}}"#;
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DeadboltDenyAll92b108e6","Effect":"Deny","Action":"*","Resource":"*"}},{revoke}]}}"#
    );
    let policies = MemoryPolicies::new()
        .with_entity(&role)
        .with_policy(&role, "DenyAll", &doc);
    let kept = release_with(&policies, &role, false, true).await;
    assert_eq!(kept.outcome, Outcome::Released, "{}", kept.message);
    assert!(
        kept.message.contains("kept the revoke-sessions statement"),
        "{}",
        kept.message
    );
    let left = policies
        .get_policy(&role, "DenyAll")
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&left).unwrap();
    assert_eq!(v["Statement"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(v["Statement"][0]["Sid"], "DeadboltRevokeSessions5ab1c2d3");

    let restored = release_with(&policies, &role, false, false).await;
    assert_eq!(restored.outcome, Outcome::Released, "{}", restored.message);
    assert_eq!(policies.get_policy(&role, "DenyAll").await.unwrap(), None);
}
