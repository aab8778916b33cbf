//! Every fixture parses, and the decision table holds for each of them.

mod common;
use common::*;

use deadbolt_core::config::{Mode, ENV_PROTECTED_PRINCIPALS};
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{parse_event, Outcome, PrincipalKind, Reason};

#[test]
fn every_fixture_parses() {
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let raw = std::fs::read_to_string(&path).unwrap();
        let event =
            parse_event(&raw).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        assert_eq!(event.source, "aws.guardduty");
        assert!(!event.detail.id.is_empty());
        count += 1;
    }
    assert!(count >= 20, "expected the full fixture set, found {count}");
}

/// (fixture, outcome, reason, principal kind, principal name, session) under the default
/// configuration in dry-run, with `break-glass-*` protected.
/// (fixture, outcome, reason, principal kind, principal name, session)
type Row = (
    &'static str,
    Outcome,
    Reason,
    Option<PrincipalKind>,
    Option<&'static str>,
    Option<&'static str>,
);

const TABLE: &[Row] = &[
    // Context fields in other shapes (asn as a number, count as a string, a null city, extra
    // geoLocation and port objects): read along, the decision unchanged.
    (
        "tor-ip-caller-context-variants.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        "cloudtrail-logging-disabled.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "password-policy-change.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "malicious-ip-caller.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "tor-ip-caller.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        "instance-credential-exfiltration-outside-aws.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("web-instance-role"),
        Some("i-0a1b2c3d4e5f67890"),
    ),
    (
        "instance-credential-exfiltration-inside-aws.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("web-instance-role"),
        Some("i-0a1b2c3d4e5f67890"),
    ),
    (
        "anomalous-credential-access.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "anomalous-defense-evasion.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        "anomalous-discovery.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "anomalous-exfiltration.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        "anomalous-impact.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "anomalous-persistence.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "anomalous-privilege-escalation.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        "pentest-kali-linux.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "cloudtrail-logging-disabled-sso.json",
        Outcome::NotContainable,
        Reason::SsoReservedRole,
        Some(PrincipalKind::Role),
        Some("AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"),
        Some("sara"),
    ),
    (
        "anomalous-initial-access.json",
        Outcome::NotContainable,
        Reason::SsoReservedRole,
        Some(PrincipalKind::Role),
        Some("AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"),
        Some("sara"),
    ),
    (
        "root-credential-usage.json",
        Outcome::NotContainable,
        Reason::RootPrincipal,
        Some(PrincipalKind::Root),
        Some("Root"),
        None,
    ),
    (
        "federated-user.json",
        Outcome::NotContainable,
        Reason::FederatedPrincipal,
        Some(PrincipalKind::Federated),
        Some("contractor-bob"),
        Some("contractor-bob"),
    ),
    (
        "service-linked-role.json",
        Outcome::NotContainable,
        Reason::ServiceLinkedRole,
        Some(PrincipalKind::Role),
        Some("AWSServiceRoleForSupport"),
        Some("SupportSession"),
    ),
    (
        "foreign-account.json",
        Outcome::NotContainable,
        Reason::ForeignAccount,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    (
        // Without member_accounts a member's finding is another account's: untouched.
        "member-account-finding.json",
        Outcome::NotContainable,
        Reason::ForeignAccount,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "protected-break-glass.json",
        Outcome::Skipped,
        Reason::ProtectedPrincipal,
        Some(PrincipalKind::User),
        Some("break-glass-admin"),
        None,
    ),
    (
        "ec2-finding.json",
        Outcome::Skipped,
        Reason::NotIamFinding,
        None,
        None,
        None,
    ),
    // An EKS finding: not an access-key finding for the responder (its IAM caller resolves as
    // a role session, tested below).
    (
        "kubernetes-role-caller.json",
        Outcome::Skipped,
        Reason::NotIamFinding,
        None,
        None,
        None,
    ),
    (
        "sample-finding.json",
        Outcome::Skipped,
        Reason::SampleFinding,
        None,
        None,
        None,
    ),
    (
        "archived-finding.json",
        Outcome::Skipped,
        Reason::ArchivedFinding,
        None,
        None,
        None,
    ),
];

#[tokio::test]
async fn decision_table_over_every_fixture() {
    let config = Settings::from_lookup(|k| {
        (k == ENV_PROTECTED_PRINCIPALS).then(|| "break-glass-*".to_string())
    })
    .unwrap();
    assert_eq!(config.mode, Mode::DryRun);
    let policies = MemoryPolicies::new();
    let identity = FixedIdentity::new(ACCOUNT, OWN_ARN);
    let responder = Configured::new(config, &policies, &identity);
    for (file, outcome, reason, kind, name, session) in TABLE {
        let record = responder.handle(&fixture(file)).await;
        assert_eq!(
            (record.outcome, record.reason),
            (*outcome, *reason),
            "{file}: {}",
            record.message
        );
        let principal = record.principal.as_ref();
        assert_eq!(principal.map(|p| p.kind), *kind, "{file}");
        assert_eq!(principal.and_then(|p| p.name.as_deref()), *name, "{file}");
        assert_eq!(
            principal.and_then(|p| p.session.as_deref()),
            *session,
            "{file}"
        );
        assert!(
            !record.message.is_empty(),
            "{file}: every record explains itself"
        );
    }
    // Dry-run never touches IAM, and the caller identity is asked once per process.
    assert!(policies.calls().is_empty(), "{:?}", policies.calls());
    assert_eq!(identity.calls(), 1);
    // The table covers every fixture.
    let files = std::fs::read_dir(fixtures_dir()).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .and_then(|x| x.to_str())
            == Some("json")
    });
    assert_eq!(files.count(), TABLE.len());
}

#[tokio::test]
async fn root_credential_usage_is_not_a_default_trigger_but_still_not_containable_when_enabled() {
    let config =
        Settings::from_lookup(|k| (k == "DEADBOLT_FINDING_TYPES").then(|| "*".into())).unwrap();
    let responder = Configured::new(
        config,
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder
        .handle(&fixture("root-credential-usage.json"))
        .await;
    assert_eq!(record.outcome, Outcome::NotContainable);
    assert_eq!(record.reason, Reason::RootPrincipal);
    assert_eq!(
        record.principal.unwrap().arn.as_deref(),
        Some("arn:aws:iam::123456789012:root")
    );
}

#[tokio::test]
async fn assumed_role_record_carries_the_exact_session_arn() {
    let responder = Configured::new(
        Settings::default(),
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder.handle(&fixture("tor-ip-caller.json")).await;
    let p = record.principal.unwrap();
    assert_eq!(
        p.arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/app-deployer/ci-runner-42")
    );
    assert!(p.access_key_id.unwrap().starts_with("ASIA"));
}

#[test]
fn kubernetes_findings_name_their_iam_caller_as_a_role_session() {
    let event = parse_event(&fixture("kubernetes-role-caller.json")).unwrap();
    let resolved = deadbolt_core::principal::resolve(&event.detail);
    assert_eq!(resolved.principal.kind, PrincipalKind::Role);
    assert_eq!(resolved.principal.name.as_deref(), Some("app-deployer"));
    assert_eq!(resolved.principal.session.as_deref(), Some("ci-runner-42"));
    assert!(resolved.containment.is_ok());
}

#[test]
fn context_fields_in_other_shapes_are_read_as_well_as_they_can_be() {
    let event = parse_event(&fixture("tor-ip-caller-context-variants.json")).unwrap();
    let f = &event.detail;
    assert_eq!(f.service.count, Some(3));
    let remote = f
        .api_call()
        .and_then(|a| a.remote_ip_details.as_ref())
        .unwrap();
    assert_eq!(
        remote.organization.as_ref().unwrap().asn.as_deref(),
        Some("-1")
    );
    assert_eq!(remote.city, None);
    // Still strict where a decision rests: the same event with a numeric account is rejected.
    let strict = fixture_with(
        "tor-ip-caller-context-variants.json",
        &[("/detail/accountId", serde_json::json!(123456789012u64))],
    );
    assert!(parse_event(&strict).is_err());
}

#[test]
fn a_security_hub_finding_is_named_as_such() {
    let asff = r#"{"SchemaVersion":"2018-10-08","Id":"arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty","GeneratorId":"arn:aws:guardduty:us-east-1:123456789012:detector/d","AwsAccountId":"123456789012","Types":["TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled"]}"#;
    let imported = format!(
        r#"{{"version":"0","id":"1","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","account":"123456789012","region":"us-east-1","detail":{{"findings":[{asff}]}}}}"#
    );
    for raw in [
        asff.to_string(),
        format!(r#"{{"Findings":[{asff}]}}"#),
        imported,
    ] {
        let e = parse_event(&raw).unwrap_err();
        assert_eq!(e, deadbolt_core::InputError::SecurityHubFinding, "{raw}");
        assert!(e.to_string().contains("Security Hub ASFF finding"));
        assert!(e.to_string().contains("detail-type `GuardDuty Finding`"));
        assert_eq!(e.reason(), Reason::WrongSource);
    }
}
