//! The configuration document drives the responder: per-account and per-finding-type modes
//! reach `decide` through `Settings::to_config`, and the record names the mode actually used.

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
