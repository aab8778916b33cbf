//! The SAM template and the code must agree: the variables the function reads, the modes it
//! accepts, and an EventBridge rule that delivers every finding type it may contain.

use deadbolt_core::config::{
    Mode, DEFAULT_FINDING_TYPES, ENV_FINDING_TYPES, ENV_MIN_SEVERITY, ENV_MODE,
    ENV_PROTECTED_PRINCIPALS,
};

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("template.yaml at the repository root")
}

#[test]
fn template_sets_every_configuration_variable() {
    let t = template();
    for var in [
        ENV_MODE,
        ENV_FINDING_TYPES,
        ENV_MIN_SEVERITY,
        ENV_PROTECTED_PRINCIPALS,
    ] {
        assert!(
            t.contains(&format!("{var}: !Ref")),
            "template.yaml does not set {var}"
        );
    }
}

#[test]
fn template_modes_are_the_accepted_modes_and_default_to_dry_run() {
    let t = template();
    let block = &t[t.find("DeadboltMode:").expect("DeadboltMode parameter")..];
    let block = &block[..block.find("\n  FindingTypes:").unwrap_or(block.len())];
    for mode in [Mode::Off, Mode::DryRun, Mode::Enforce] {
        assert!(block.contains(mode.as_str()), "AllowedValues lacks {mode}");
    }
    assert!(block.contains("Default: dry-run"), "{block}");
}

#[test]
fn the_rule_delivers_every_default_finding_type() {
    let t = template();
    let prefixes: Vec<&str> = t
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- prefix: "))
        .map(|p| p.trim_matches('"'))
        .collect();
    assert!(
        !prefixes.is_empty(),
        "no prefix patterns in the EventBridge rule"
    );
    for finding_type in DEFAULT_FINDING_TYPES {
        assert!(
            prefixes.iter().any(|p| finding_type.starts_with(p)),
            "the EventBridge rule would never deliver {finding_type}"
        );
    }
}

/// The IAM calls each strategy makes are granted, and the powerful Identity Center ones only
/// when the operator opts in.
#[test]
fn roles_grant_what_the_strategies_call_and_identity_center_only_on_opt_in() {
    let t = template();
    let responder =
        &t[t.find("  ResponderRolePolicy:").unwrap()..t.find("  ResponderFunction:").unwrap()];
    assert!(responder.contains("iam:UpdateAccessKey"));
    let sso = &responder[responder
        .find("IdentityCenterEnabled")
        .expect("conditional Identity Center statement")..];
    for action in [
        "sso:PutInlinePolicyToPermissionSet",
        "sso:ProvisionPermissionSet",
        "identitystore:GetUserId",
    ] {
        assert!(sso.contains(action), "{action}");
    }
    assert!(t.contains("IdentityCenterContainment:\n    Type: String\n    Default: Disabled"));
    let enricher =
        &t[t.find("  EnricherRolePolicy:").unwrap()..t.find("  EnricherFunction:").unwrap()];
    for needed in [
        "iam:PutUserPolicy",
        "iam:UpdateAccessKey",
        "ssm:GetParameter",
        "NeverContainSelfOrAwsManagedRoles",
    ] {
        assert!(enricher.contains(needed), "enricher role lacks {needed}");
    }
    assert!(!enricher.contains("Delete"), "follow-up never deletes");
}
