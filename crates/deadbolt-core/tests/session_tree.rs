//! The session tree: sessions the finding's principal went on to assume are denied one by one
//! (`deny-session` on their role, by `aws:userid`), through the same engine, protections,
//! breaker and ledger as every follow-up, and the role's other sessions keep working; a
//! `FederatedUser` finding contains its issuing IAM user when the evidence names it.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::followup::{CreatedEntity, CreatedKind, FollowUpPort, FollowUpRecord};
use deadbolt_core::ledger::MemoryLedger;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::policy::denies_session;
use deadbolt_core::ports::InlinePolicies;
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Reason, TargetKind};

const PIVOT: &str = "AROA2MLRYQ7ZGH5D6PLQC:pivot";
const PIVOT_2: &str = "AROA2MLRYQ7ZGH5D6PLQC:pivot-2";
/// The role's own, legitimate session (the CI runner's).
const CI_RUNNER: &str = "AROA2MLRYQ7ZGH5D6PLQC:ci-runner-42";
const ISSUED: &str = "2026-11-30T04:00:00Z";

fn app_deployer() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap()
}

fn everything_enforced() -> Settings {
    Settings {
        mode: Mode::Enforce,
        follow_up: Mode::Enforce,
        ..Settings::default()
    }
}

fn derived(event_id: &str, role: &str, userid: &str, account: &str) -> CreatedEntity {
    CreatedEntity {
        kind: CreatedKind::DerivedSession,
        event_name: "AssumeRole".into(),
        event_ids: vec![event_id.into()],
        name: Some(role.into()),
        access_key_id: None,
        session_userid: Some(userid.into()),
        account_id: Some(account.into()),
    }
}

fn issuing_user(name: Option<&str>) -> CreatedEntity {
    CreatedEntity {
        kind: CreatedKind::IssuingUser,
        event_name: "GetFederationToken".into(),
        event_ids: name.map(|_| vec!["gft-1".to_string()]).unwrap_or_default(),
        name: name.map(str::to_string),
        access_key_id: None,
        session_userid: None,
        account_id: None,
    }
}

/// The responder's follow-up engine on `finding` (GuardDuty confirms it), recording in `ledger`.
async fn follow_up(
    policies: &MemoryPolicies,
    ledger: &MemoryLedger,
    settings: &Settings,
    finding: &str,
    entities: &[CreatedEntity],
) -> Vec<FollowUpRecord> {
    let c = Configured::new(
        settings.clone(),
        policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_ledger(ledger, "function:deadbolt-enricher");
    let mut copy = deadbolt_core::parse_event(&fixture(finding))
        .unwrap()
        .detail;
    copy.updated_at = Some(deadbolt_core::strategy::format_rfc3339_utc(
        deadbolt_core::clock::now_ms() / 1000,
    ));
    c.guardduty.insert(copy.clone());
    c.responder.follow_up(&copy, entities, Ok(settings)).await
}

fn outcomes(records: &[FollowUpRecord]) -> Vec<(&str, Outcome, Reason)> {
    records
        .iter()
        .map(|r| (r.target.as_str(), r.outcome, r.reason))
        .collect()
}

#[tokio::test]
async fn a_chained_roles_session_is_denied_while_its_other_sessions_work() {
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let ledger = MemoryLedger::new();
    // mallory's key (the finding's) assumed app-deployer twice.
    let records = follow_up(
        &policies,
        &ledger,
        &everything_enforced(),
        "cloudtrail-logging-disabled.json",
        &[
            derived("e1", "app-deployer", PIVOT, ACCOUNT),
            derived("e2", "app-deployer", PIVOT_2, ACCOUNT),
        ],
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [
            (
                "role/app-deployer",
                Outcome::Contained,
                Reason::SessionDenied
            ),
            (
                "role/app-deployer",
                Outcome::Contained,
                Reason::SessionDenied
            ),
        ],
        "{records:?}"
    );
    assert_eq!(records[0].session.as_deref(), Some(PIVOT));
    assert_eq!(records[0].strategy.as_deref(), Some("deny-session"));
    assert_eq!(records[0].event_ids, ["e1"]);

    // Both attacker sessions are denied, the CI runner's session is not: IAM evaluates the
    // written document that way (StringEquals on aws:userid).
    let document = policies.policy(&app_deployer(), "DenyAll").unwrap();
    assert_eq!(denies_session(&document, PIVOT, ISSUED), Some(true));
    assert_eq!(denies_session(&document, PIVOT_2, ISSUED), Some(true));
    assert_eq!(denies_session(&document, CI_RUNNER, ISSUED), Some(false));

    // One ledger entry per denied session, each naming it (what the tamper watch re-applies).
    let sessions: Vec<Option<String>> = ledger.all().into_iter().map(|e| e.session).collect();
    assert_eq!(
        sessions,
        [Some(PIVOT.to_string()), Some(PIVOT_2.to_string())]
    );
}

#[tokio::test]
async fn sessions_elsewhere_of_the_findings_own_role_or_malformed_are_not_denied() {
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let ledger = MemoryLedger::new();
    // tor-ip-caller's principal is app-deployer itself (deny-all by default).
    let records = follow_up(
        &policies,
        &ledger,
        &everything_enforced(),
        "tor-ip-caller.json",
        &[
            derived("e1", "app-deployer", PIVOT, ACCOUNT),
            derived("e2", "ops", "AROA2MLRYQ7ZOPSROLE01:pivot", "210987654321"),
            derived("e3", "reports", "AIDA2MLRYQ7ZNOTAROLE:x", ACCOUNT),
        ],
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [
            (
                "role/app-deployer",
                Outcome::Skipped,
                Reason::CoveredByFindingContainment
            ),
            (
                "role/ops",
                Outcome::NotContainable,
                Reason::CrossAccountPrincipal
            ),
            (
                "role/reports",
                Outcome::NotContainable,
                Reason::InvalidValue
            ),
        ],
        "{records:?}"
    );
    assert!(
        records[1].message.contains("210987654321"),
        "{}",
        records[1].message
    );
    assert!(policies.calls().is_empty(), "{:?}", policies.calls());

    // Under deny-session for the finding's own role, its other sessions are spared, so a
    // session the attacker assumed into it again is denied on its own.
    let mut spare = everything_enforced();
    spare.strategy.role = deadbolt_core::strategy::RoleStrategy::DenySession;
    let records = follow_up(
        &policies,
        &ledger,
        &spare,
        "tor-ip-caller.json",
        &[derived("e1", "app-deployer", PIVOT, ACCOUNT)],
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [(
            "role/app-deployer",
            Outcome::Contained,
            Reason::SessionDenied
        )]
    );
}

#[tokio::test]
async fn the_session_tree_obeys_follow_up_and_the_protections() {
    let entities = [derived("e1", "app-deployer", PIVOT, ACCOUNT)];
    let finding = "cloudtrail-logging-disabled.json";
    // follow_up off (the default): reported, nothing written.
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let settings = Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    };
    let records = follow_up(
        &policies,
        &MemoryLedger::new(),
        &settings,
        finding,
        &entities,
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [("role/app-deployer", Outcome::Skipped, Reason::ModeOff)]
    );
    assert!(
        records[0].message.contains("deny-session"),
        "{}",
        records[0].message
    );
    // A protected role is never denied.
    let mut protected = everything_enforced();
    protected.protected_principals = vec!["app-deployer".into()];
    let records = follow_up(
        &policies,
        &MemoryLedger::new(),
        &protected,
        finding,
        &entities,
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [(
            "role/app-deployer",
            Outcome::Skipped,
            Reason::ProtectedPrincipal
        )]
    );
    assert!(policies.calls().is_empty(), "{:?}", policies.calls());
}

#[tokio::test]
async fn a_federated_finding_contains_its_issuing_user_or_says_which_evidence_is_missing() {
    let build_bot = ContainmentTarget::new(TargetKind::User, "build-bot").unwrap();
    let policies = MemoryPolicies::new().with_entity(&build_bot);
    let records = follow_up(
        &policies,
        &MemoryLedger::new(),
        &everything_enforced(),
        "federated-user.json",
        &[issuing_user(Some("build-bot"))],
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [(
            "user/build-bot",
            Outcome::Contained,
            Reason::DenyAllAttached
        )],
        "{records:?}"
    );
    assert_eq!(records[0].event_ids, ["gft-1"]);
    // DenyAll on the user denies every federation token it issued.
    let document = policies.policy(&build_bot, "DenyAll").unwrap();
    assert_eq!(
        denies_session(&document, "123456789012:contractor-bob", ISSUED),
        Some(true)
    );

    let records = follow_up(
        &MemoryPolicies::new(),
        &MemoryLedger::new(),
        &everything_enforced(),
        "federated-user.json",
        &[issuing_user(None)],
    )
    .await;
    assert_eq!(
        outcomes(&records),
        [(
            "user/(unknown)",
            Outcome::NotContainable,
            Reason::FederationIssuerUnknown
        )]
    );
    for evidence in ["GetFederationToken", "sessionIssuer"] {
        assert!(
            records[0].message.contains(evidence),
            "{}",
            records[0].message
        );
    }
}

#[tokio::test]
async fn a_deleted_deny_session_policy_is_re_applied_for_exactly_the_denied_sessions() {
    let policies = MemoryPolicies::new().with_entity(&app_deployer());
    let ledger = MemoryLedger::new();
    let settings = everything_enforced();
    follow_up(
        &policies,
        &ledger,
        &settings,
        "cloudtrail-logging-disabled.json",
        &[
            derived("e1", "app-deployer", PIVOT, ACCOUNT),
            derived("e2", "app-deployer", PIVOT_2, ACCOUNT),
        ],
    )
    .await;
    policies
        .delete_policy(&app_deployer(), "DenyAll")
        .await
        .expect("deleted");

    let responder = Configured::new(
        settings.clone(),
        &policies,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    )
    .with_ledger(&ledger, "function:deadbolt-responder");
    let path = fixtures_dir().join("../tamper/delete-role-policy-deny-all.json");
    let r = responder
        .handle(&std::fs::read_to_string(path).unwrap())
        .await;
    assert_eq!(r.outcome, Outcome::Recontained, "{}", r.message);
    let document = policies.policy(&app_deployer(), "DenyAll").unwrap();
    assert_eq!(denies_session(&document, PIVOT, ISSUED), Some(true));
    assert_eq!(denies_session(&document, PIVOT_2, ISSUED), Some(true));
    // Not a deny-all in its place: the role's other sessions still work.
    assert_eq!(denies_session(&document, CI_RUNNER, ISSUED), Some(false));
}
