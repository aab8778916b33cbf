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
    // An EKS finding: its IAM caller (resource.accessKeyDetails, resourceType EKSCluster) is
    // the principal; the Kubernetes families are opt-in.
    (
        "kubernetes-role-caller.json",
        Outcome::Skipped,
        Reason::FindingTypeNotEnabled,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    // S3 threat types are opt-in; the caller is the principal whatever the resource type.
    (
        "s3-malicious-ip-caller.json",
        Outcome::Skipped,
        Reason::FindingTypeNotEnabled,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    // Policy:S3/* is notify-only by default.
    (
        "s3-policy-public-access-disabled.json",
        Outcome::Skipped,
        Reason::NotifyOnly,
        Some(PrincipalKind::Role),
        Some("app-deployer"),
        Some("ci-runner-42"),
    ),
    // The IAM attack sequence: three actors, one decision each (mallory, app-deployer's
    // session, and break-glass-admin, protected); the record leads with the most severe.
    (
        "attack-sequence-compromised-credentials.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    // Newer IAM types.
    (
        "resource-credential-exfiltration-outside-aws.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("order-processor-lambda-role"),
        Some("order-processor"),
    ),
    (
        "resource-credential-exfiltration-inside-aws.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::Role),
        Some("exports-ecs-task-role"),
        Some("3f1c2a9b8e7d4c6f9a0b1c2d3e4f5a6b"),
    ),
    (
        "bedrock-logging-disabled.json",
        Outcome::WouldContain,
        Reason::DryRun,
        Some(PrincipalKind::User),
        Some("mallory"),
        None,
    ),
    (
        "short-term-root-credential-usage.json",
        Outcome::NotContainable,
        Reason::RootPrincipal,
        Some(PrincipalKind::Root),
        Some("Root"),
        None,
    ),
    (
        "malicious-ip-caller-custom-threat-list.json",
        Outcome::Skipped,
        Reason::NotifyOnly,
        Some(PrincipalKind::User),
        Some("mallory"),
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
    // Dry-run writes nothing to IAM: the only calls are the reads of the paths of roles named
    // like reserved ones (which decide whether they are), and the caller identity is asked
    // once per process.
    assert!(
        policies
            .calls()
            .iter()
            .all(|c| c.starts_with("iam:GetRole ")),
        "{:?}",
        policies.calls()
    );
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
        record.decision.principal.unwrap().arn.as_deref(),
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
    let p = record.decision.principal.unwrap();
    assert_eq!(
        p.arn.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/app-deployer/ci-runner-42")
    );
    assert!(p.access_key_id.unwrap().starts_with("ASIA"));
}

/// (fixture, strategy in the record) under the defaults: workload-role credential exfiltration
/// is contained with revoke-sessions, everything else with deny-all.
#[tokio::test]
async fn workload_credential_exfiltration_revokes_sessions_by_default() {
    let responder = Configured::new(
        Settings::default(),
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    for (file, strategy) in [
        (
            "resource-credential-exfiltration-outside-aws.json",
            "revoke-sessions",
        ),
        (
            "resource-credential-exfiltration-inside-aws.json",
            "revoke-sessions",
        ),
        (
            "instance-credential-exfiltration-outside-aws.json",
            "revoke-sessions",
        ),
        (
            "instance-credential-exfiltration-inside-aws.json",
            "revoke-sessions",
        ),
        ("tor-ip-caller.json", "deny-all"),
        ("bedrock-logging-disabled.json", "deny-all"),
    ] {
        let record = responder.handle(&fixture(file)).await;
        assert_eq!(record.strategy.as_deref(), Some(strategy), "{file}");
        assert!(record.principals.is_empty(), "{file}: one principal");
    }
}

#[tokio::test]
async fn an_attack_sequence_gets_one_decision_per_principal_with_protections_each() {
    let config = Settings::from_lookup(|k| {
        (k == ENV_PROTECTED_PRINCIPALS).then(|| "break-glass-*".to_string())
    })
    .unwrap();
    let policies = MemoryPolicies::new();
    let responder = Configured::new(config, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = responder
        .handle(&fixture("attack-sequence-compromised-credentials.json"))
        .await;
    let each: Vec<_> = record
        .principals
        .iter()
        .map(|d| {
            let p = d.principal.as_ref().unwrap();
            (
                p.kind,
                p.name.as_deref().unwrap(),
                p.session.as_deref(),
                p.access_key_id.as_deref(),
                d.outcome,
                d.reason,
            )
        })
        .collect();
    // mallory is both an actor and the ACCESS_KEY resource: one principal.
    assert_eq!(
        each,
        [
            (
                PrincipalKind::User,
                "mallory",
                None,
                Some("AKIA2MLRYQ7ZT4XH9KPD"),
                Outcome::WouldContain,
                Reason::DryRun
            ),
            (
                PrincipalKind::Role,
                "app-deployer",
                Some("ci-runner-42"),
                Some("ASIA2MLRYQ7ZSEQ0A1B2"),
                Outcome::WouldContain,
                Reason::DryRun
            ),
            (
                PrincipalKind::User,
                "break-glass-admin",
                None,
                Some("AKIA2MLRYQ7ZBRKGL4SS"),
                Outcome::Skipped,
                Reason::ProtectedPrincipal
            ),
        ]
    );
    assert_eq!(
        record.principals[1]
            .principal
            .as_ref()
            .unwrap()
            .arn
            .as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/app-deployer/ci-runner-42")
    );
    // Each planned its own writes; the top level is the first of the most severe.
    assert_eq!(record.principals[0].actions, record.actions);
    assert!(record.principals[1]
        .actions
        .iter()
        .any(|a| a.target == "role/app-deployer"));
    assert!(record.principals[2].actions.is_empty());
    assert!(
        record.message.contains("principal 1 of 3"),
        "{}",
        record.message
    );
    assert!(policies.calls().is_empty(), "dry-run writes nothing");
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["principals"].as_array().unwrap().len(), 3);
    assert_eq!(json["principals"][2]["reason"], "protected_principal");
}

#[tokio::test]
async fn the_most_severe_principal_leads_the_record() {
    // mallory protected: the role session (would_contain) leads, mallory is skipped.
    let config = Settings::from_lookup(|k| {
        (k == ENV_PROTECTED_PRINCIPALS).then(|| "mallory,break-glass-*".to_string())
    })
    .unwrap();
    let responder = Configured::new(
        config,
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder
        .handle(&fixture("attack-sequence-compromised-credentials.json"))
        .await;
    assert_eq!(record.outcome, Outcome::WouldContain);
    assert_eq!(
        record.principal.as_ref().and_then(|p| p.name.as_deref()),
        Some("app-deployer")
    );
    assert_eq!(record.principals[0].reason, Reason::ProtectedPrincipal);
    assert!(
        record.message.contains("principal 2 of 3"),
        "{}",
        record.message
    );
}

#[test]
fn a_sequence_actor_of_another_account_is_contained_there() {
    let raw = fixture_with(
        "attack-sequence-compromised-credentials.json",
        &[(
            "/detail/service/detection/sequence/actors/1/session/issuer",
            serde_json::json!("arn:aws:iam::444455556666:role/app-deployer"),
        )],
    );
    let event = parse_event(&raw).unwrap();
    let account = deadbolt_core::AccountContext::from_caller(ACCOUNT, OWN_ARN);
    let each = deadbolt_core::decision::decide_each(&event, &Settings::default(), &account);
    assert_eq!(each.len(), 3);
    match &each[1].1 {
        deadbolt_core::Decision::Pass {
            reason, message, ..
        } => {
            assert_eq!(*reason, Reason::CrossAccountPrincipal);
            assert!(message.contains("444455556666"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sequence_principal_fields_are_strict() {
    for (pointer, value, path) in [
        (
            "/detail/service/detection/sequence/actors/0/user/name",
            serde_json::json!("mal\"lory"),
            "detail.service.detection.sequence.actors[0].user.name",
        ),
        (
            "/detail/service/detection/sequence/resources/0/data/accessKey/userName",
            serde_json::json!("a b"),
            "detail.service.detection.sequence.resources[0].data.accessKey.userName",
        ),
    ] {
        let raw = fixture_with(
            "attack-sequence-compromised-credentials.json",
            &[(pointer, value)],
        );
        match parse_event(&raw) {
            Err(deadbolt_core::InputError::InvalidValue { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{pointer}: {other:?}"),
        }
    }
    let wrong_type = fixture_with(
        "attack-sequence-compromised-credentials.json",
        &[(
            "/detail/service/detection/sequence/actors/0/user/type",
            serde_json::json!(7),
        )],
    );
    assert!(matches!(
        parse_event(&wrong_type),
        Err(deadbolt_core::InputError::WrongType { .. })
    ));
    // Context is lenient: signals of another shape are read along.
    let context = fixture_with(
        "attack-sequence-compromised-credentials.json",
        &[(
            "/detail/service/detection/sequence/signals",
            serde_json::json!("unexpected"),
        )],
    );
    assert!(parse_event(&context).is_ok());
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

/// A protected pattern is matched against the user or role, never against the session: the
/// session name is whatever the caller passed as `RoleSessionName`, so `*ci-runner*` must not
/// protect role app-deployer because its attacker called the session `ci-runner-42`.
#[tokio::test]
async fn a_session_name_chosen_by_the_caller_never_satisfies_a_protected_pattern() {
    let by_session = Settings {
        protected_principals: vec!["*ci-runner*".into()],
        ..Settings::default()
    };
    let responder = Configured::new(
        by_session,
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::WouldContain, Reason::DryRun),
        "{}",
        record.message
    );
    // The role's own name still protects it.
    let by_role = Settings {
        protected_principals: vec!["app-deploy*".into()],
        ..Settings::default()
    };
    let responder = Configured::new(
        by_role,
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        record.message
    );
}

/// A customer-supplied threat list is notify-only unless its `.Custom` type is named: neither
/// `*` nor the built-in type's prefix switches containment on for it, so an insider who adds
/// the office NAT address to a threat list cannot aim deadbolt at everyone behind it.
#[tokio::test]
async fn a_custom_threat_list_finding_is_notify_only_unless_named_with_its_suffix() {
    let custom = fixture("malicious-ip-caller-custom-threat-list.json");
    for types in [
        vec!["*".to_string()],
        vec!["UnauthorizedAccess:IAMUser/MaliciousIPCaller".to_string()],
        vec!["UnauthorizedAccess:".to_string()],
    ] {
        let settings = Settings {
            mode: Mode::Enforce,
            finding_types: types.clone(),
            ..Settings::default()
        };
        let policies = MemoryPolicies::new();
        let responder = Configured::new(settings, &policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
        let record = responder.handle(&custom).await;
        assert_eq!(
            (record.outcome, record.reason),
            (Outcome::Skipped, Reason::NotifyOnly),
            "{types:?}: {}",
            record.message
        );
        assert!(record.message.contains(".Custom"), "{}", record.message);
        assert!(
            policies.calls().is_empty(),
            "{types:?}: {:?}",
            policies.calls()
        );
        // The built-in threat intelligence's finding is still contained under the same types.
        let builtin = responder.handle(&fixture("malicious-ip-caller.json")).await;
        assert_ne!(builtin.reason, Reason::NotifyOnly, "{types:?}");
    }
    let named = Settings {
        finding_types: vec!["UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".into()],
        ..Settings::default()
    };
    let responder = Configured::new(
        named,
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = responder.handle(&custom).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::WouldContain, Reason::DryRun),
        "{}",
        record.message
    );
}
