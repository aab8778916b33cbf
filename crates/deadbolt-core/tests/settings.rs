//! The configuration document drives the responder: per-account and per-finding-type modes
//! reach `decide` through `Settings::to_config`, and the record names the mode actually used.
//! A global `mode: off` is the kill switch: no override brings enforcement back.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::{ContainmentTarget, Outcome, Reason, Settings, TargetKind};

fn app_deployer() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap()
}

#[tokio::test]
async fn effective_mode_per_account_and_finding_type_reaches_the_decision() {
    let raw = fixture("tor-ip-caller.json"); // UnauthorizedAccess:IAMUser/TorIPCaller, account 123456789012
    let cases = [
        // Global dry-run, this account enforced: the account override wins.
        (
            format!(r#"{{"mode": "dry-run", "mode_by_account": {{"{ACCOUNT}": "enforce"}}}}"#),
            Mode::Enforce,
            Outcome::Contained,
            Reason::DenyAllAttached,
        ),
        // Global enforce, this type off by its longest prefix.
        (
            r#"{"mode": "enforce", "mode_by_finding_type": {"UnauthorizedAccess:IAMUser/": "enforce", "UnauthorizedAccess:IAMUser/Tor": "off"}}"#.to_string(),
            Mode::Off,
            Outcome::Skipped,
            Reason::ModeOff,
        ),
        // Account override beats the type override.
        (
            format!(
                r#"{{"mode": "enforce", "mode_by_finding_type": {{"UnauthorizedAccess:": "enforce"}}, "mode_by_account": {{"{ACCOUNT}": "dry-run"}}}}"#
            ),
            Mode::DryRun,
            Outcome::WouldContain,
            Reason::DryRun,
        ),
        // Global off is the kill switch: an account override to enforce does not win.
        (
            format!(r#"{{"mode": "off", "mode_by_account": {{"{ACCOUNT}": "enforce"}}}}"#),
            Mode::Off,
            Outcome::Skipped,
            Reason::ModeOff,
        ),
        // ... nor does a finding-type override, nor both together.
        (
            format!(
                r#"{{"mode": "off", "mode_by_finding_type": {{"UnauthorizedAccess:IAMUser/TorIPCaller": "enforce"}}, "mode_by_account": {{"{ACCOUNT}": "enforce"}}}}"#
            ),
            Mode::Off,
            Outcome::Skipped,
            Reason::ModeOff,
        ),
        // Another account's override does not apply.
        (
            r#"{"mode": "dry-run", "mode_by_account": {"999999999999": "enforce"}}"#.to_string(),
            Mode::DryRun,
            Outcome::WouldContain,
            Reason::DryRun,
        ),
    ];
    for (document, mode, outcome, reason) in cases {
        let settings = Settings::parse(&document).unwrap();
        let policies = MemoryPolicies::new().with_entity(&app_deployer());
        let responder = Configured::new(settings, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
        let record = responder.handle(&raw).await;
        assert_eq!(record.mode, mode, "{document}");
        assert_eq!(
            (record.outcome, record.reason),
            (outcome, reason),
            "{document}"
        );
        let wrote = policies.calls().iter().any(|c| c.starts_with("iam:Put"));
        assert_eq!(wrote, mode == Mode::Enforce, "{document}");
    }
}

#[test]
fn follow_ups_obey_the_kill_switch_too() {
    use deadbolt_core::decision::plan_follow_ups;
    use deadbolt_core::followup::{CreatedEntity, CreatedKind};
    let finding = match deadbolt_core::parse_event(&fixture("tor-ip-caller.json")) {
        Ok(event) => event.detail,
        Err(e) => panic!("fixture: {e}"),
    };
    let created = [CreatedEntity::created(
        CreatedKind::User,
        "CreateUser",
        vec!["e1".into()],
        Some("backdoor".into()),
        None,
    )];
    let account = deadbolt_core::AccountContext::from_caller(ACCOUNT, OWN_ARN);
    let plan = |document: &str| {
        let settings = Settings::parse(document).unwrap();
        plan_follow_ups(&created, &finding, &settings, &account)
            .remove(0)
            .decision
    };
    // Enforced when everything says enforce...
    let on = plan(&format!(
        r#"{{"mode": "enforce", "follow_up": "enforce", "mode_by_account": {{"{ACCOUNT}": "enforce"}}}}"#
    ));
    assert!(matches!(on, deadbolt_core::Decision::Contain(_)), "{on:?}");
    // ... and skipped under the kill switch, whatever the overrides and follow_up say.
    let off = plan(&format!(
        r#"{{"mode": "off", "follow_up": "enforce", "mode_by_account": {{"{ACCOUNT}": "enforce"}}, "mode_by_finding_type": {{"UnauthorizedAccess:IAMUser/": "enforce"}}}}"#
    ));
    assert!(
        matches!(
            &off,
            deadbolt_core::Decision::Pass {
                outcome: Outcome::Skipped,
                reason: Reason::ModeOff,
                ..
            }
        ),
        "{off:?}"
    );
}
