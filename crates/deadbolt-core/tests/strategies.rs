//! Containment strategies through the whole responder, against in-memory IAM and Identity
//! Center: what each writes, how a second finding merges with the first, and that a user's
//! strategy touches only the finding's access key.

mod common;
use common::*;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryIdentityCenter, MemoryPolicies};
use deadbolt_core::policy::{classify_existing, ExistingDenyAll};
use deadbolt_core::ports::{AwsError, AwsErrorKind, NoSharedBreaker};
use deadbolt_core::settings::Settings;
use deadbolt_core::strategy::{IdentityCenterStrategy, RoleStrategy, StrategySettings};
use deadbolt_core::Ports;
use deadbolt_core::{ActionStatus, ContainmentTarget, Outcome, Reason, TargetKind};
use serde_json::{json, Value};

fn enforce_with(strategy: StrategySettings) -> Settings {
    Settings {
        mode: Mode::Enforce,
        strategy,
        ..Settings::default()
    }
}
fn role_strategy(role: RoleStrategy) -> Settings {
    enforce_with(StrategySettings {
        role,
        ..StrategySettings::default()
    })
}
fn app_deployer() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap()
}
fn mallory() -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
}
fn doc(p: &MemoryPolicies, t: &ContainmentTarget) -> Value {
    serde_json::from_str(&p.policy(t, "DenyAll").expect("a DenyAll policy")).unwrap()
}
/// The tor-ip-caller finding (role app-deployer) for another session and finding id.
fn role_finding(session: &str, id: &str) -> String {
    let original: Value = serde_json::from_str(&fixture("tor-ip-caller.json")).unwrap();
    let arn = original["detail"]["arn"].as_str().unwrap();
    let arn = format!("{}/finding/{id}", arn.rsplit_once("/finding/").unwrap().0);
    fixture_with(
        "tor-ip-caller.json",
        &[
            (
                "/detail/resource/accessKeyDetails/principalId",
                json!(format!("AROA2MLRYQ7ZGH5D6PLQC:{session}")),
            ),
            ("/detail/id", json!(id)),
            ("/detail/arn", json!(arn)),
        ],
    )
}

#[tokio::test]
async fn revoke_sessions_denies_tokens_issued_before_now_and_says_so() {
    let p = MemoryPolicies::new().with_entity(&app_deployer());
    let r = Configured::new(
        role_strategy(RoleStrategy::RevokeSessions),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let before = std::time::SystemTime::now();
    let record = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason, record.strategy.as_deref()),
        (
            Outcome::Contained,
            Reason::SessionsRevoked,
            Some("revoke-sessions")
        )
    );
    let d = doc(&p, &app_deployer());
    let statement = &d["Statement"][0];
    assert_eq!(
        statement["Sid"],
        "DeadboltRevokeSessionsf353ac10ba5a767e4324b7000d29076d"
    );
    assert_eq!(
        (
            statement["Effect"].as_str(),
            statement["Action"].as_str(),
            statement["Resource"].as_str()
        ),
        (Some("Deny"), Some("*"), Some("*"))
    );
    let cut = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    // The cut is now, to the second (rounded up): not earlier than when the finding arrived.
    let secs = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let floor = deadbolt_core::strategy::format_rfc3339_utc(secs as i64);
    assert!(cut >= floor.as_str(), "{cut} < {floor}");
    assert_eq!(d["Statement"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deny_session_denies_only_that_session_and_a_second_session_is_added_not_swapped() {
    let p = MemoryPolicies::new().with_entity(&app_deployer());
    let r = Configured::new(
        role_strategy(RoleStrategy::DenySession),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let first = r.handle(&role_finding("ci-runner-42", "aaa111")).await;
    assert_eq!(
        (first.outcome, first.reason),
        (Outcome::Contained, Reason::SessionDenied)
    );
    assert_eq!(
        doc(&p, &app_deployer())["Statement"],
        json!([{"Sid": "DeadboltDenySessionaaa111", "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:userid": "AROA2MLRYQ7ZGH5D6PLQC:ci-runner-42"}}}])
    );

    // The same session again: covered, nothing written.
    let again = r.handle(&role_finding("ci-runner-42", "bbb222")).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
    );

    // Another session of the same role: the earlier session must stay denied.
    let second = r.handle(&role_finding("laptop-eve", "ccc333")).await;
    assert_eq!(second.outcome, Outcome::Contained);
    assert!(
        second.message.contains("kept 1 statement"),
        "{}",
        second.message
    );
    let statements = doc(&p, &app_deployer())["Statement"].clone();
    let userids: Vec<&str> = statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["Condition"]["StringEquals"]["aws:userid"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        userids,
        [
            "AROA2MLRYQ7ZGH5D6PLQC:ci-runner-42",
            "AROA2MLRYQ7ZGH5D6PLQC:laptop-eve"
        ]
    );
    let writes = p
        .calls()
        .iter()
        .filter(|c| c.starts_with("iam:Put"))
        .count();
    assert_eq!(writes, 2);
}

#[tokio::test]
async fn deny_all_supersedes_session_statements_and_session_strategies_never_weaken_deny_all() {
    let p = MemoryPolicies::new().with_entity(&app_deployer());
    let id = FixedIdentity::new(ACCOUNT, OWN_ARN);
    let sessions = Configured::new(role_strategy(RoleStrategy::DenySession), &p, &id);
    sessions
        .handle(&role_finding("ci-runner-42", "aaa111"))
        .await;

    let deny_all = Configured::new(role_strategy(RoleStrategy::DenyAll), &p, &id);
    let r = deny_all.handle(&role_finding("laptop-eve", "ddd444")).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Contained, Reason::DenyAllAttached)
    );
    assert!(r.message.contains("replaced 1 narrower"), "{}", r.message);
    assert_eq!(
        doc(&p, &app_deployer())["Statement"],
        json!([{"Sid": "DeadboltDenyAllddd444", "Effect": "Deny", "Action": "*", "Resource": "*"}])
    );

    // Later findings under narrower strategies leave the deny-all exactly as it is.
    for strategy in [RoleStrategy::RevokeSessions, RoleStrategy::DenySession] {
        let narrower = Configured::new(role_strategy(strategy), &p, &id);
        let r = narrower.handle(&role_finding("other-1", "eee555")).await;
        assert_eq!(
            (r.outcome, r.reason),
            (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
        );
        assert_eq!(
            doc(&p, &app_deployer())["Statement"][0]["Sid"],
            "DeadboltDenyAllddd444"
        );
    }
}

#[tokio::test]
async fn a_later_revoke_replaces_an_earlier_one_but_keeps_denied_sessions() {
    let t = app_deployer();
    let earlier = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltRevokeSessionsold","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}},{"Sid":"DeadboltDenySessionold","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROA2MLRYQ7ZGH5D6PLQC:ci-runner-1"}}}]}"#;
    let p = MemoryPolicies::new()
        .with_entity(&t)
        .with_policy(&t, "DenyAll", earlier);
    let r = Configured::new(
        role_strategy(RoleStrategy::RevokeSessions),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(record.outcome, Outcome::Contained);
    let statements = doc(&p, &t)["Statement"].as_array().unwrap().clone();
    let sids: Vec<&str> = statements
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "DeadboltDenySessionold",
            "DeadboltRevokeSessionsf353ac10ba5a767e4324b7000d29076d"
        ]
    );
    assert!(
        statements[1]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap()
            > "2020-01-01T00:00:00Z"
    );
}

#[tokio::test]
async fn someone_elses_policy_under_the_name_is_never_merged_into() {
    let t = app_deployer();
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
    let p = MemoryPolicies::new()
        .with_entity(&t)
        .with_policy(&t, "DenyAll", theirs);
    let r = Configured::new(
        role_strategy(RoleStrategy::DenySession),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r.handle(&fixture("tor-ip-caller.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::ConflictingPolicyName)
    );
    assert_eq!(p.policy(&t, "DenyAll").as_deref(), Some(theirs));
    assert!(!p.calls().iter().any(|c| c.starts_with("iam:Put")));
}

#[tokio::test]
async fn deny_session_without_a_role_session_id_is_not_applied_and_nothing_broader_is_done() {
    let p = MemoryPolicies::new().with_entity(&app_deployer());
    let r = Configured::new(
        role_strategy(RoleStrategy::DenySession),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let raw = fixture_with(
        "tor-ip-caller.json",
        &[(
            "/detail/resource/accessKeyDetails/principalId",
            json!("AROA2MLRYQ7ZGH5D6PLQC"),
        )],
    );
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::NotContainable, Reason::StrategyNotApplicable)
    );
    assert!(
        record.message.contains("revoke-sessions or deny-all"),
        "{}",
        record.message
    );
    assert!(p.calls().is_empty());
}

#[tokio::test]
async fn dry_run_reports_the_strategy_and_every_planned_call() {
    let p = MemoryPolicies::new().with_entity(&mallory());
    let mut config = enforce_with(StrategySettings {
        user_deactivate_access_key: true,
        ..StrategySettings::default()
    });
    config.mode = Mode::DryRun;
    let r = Configured::new(config, &p, FixedIdentity::new(ACCOUNT, OWN_ARN));
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(record.outcome, Outcome::WouldContain);
    assert_eq!(record.strategy.as_deref(), Some("deny-all"));
    let apis: Vec<(&str, Option<&str>, ActionStatus)> = record
        .actions
        .iter()
        .map(|a| (a.api.as_str(), a.access_key_id.as_deref(), a.status))
        .collect();
    assert_eq!(
        apis,
        [
            // The key first: it needs no quota, so nothing planted can block it.
            (
                "iam:ListAccessKeys",
                Some("AKIA2MLRYQ7ZT4XH9KPD"),
                ActionStatus::Planned
            ),
            (
                "iam:UpdateAccessKey",
                Some("AKIA2MLRYQ7ZT4XH9KPD"),
                ActionStatus::Planned
            ),
            ("iam:GetUserPolicy", None, ActionStatus::Planned),
            ("iam:PutUserPolicy", None, ActionStatus::Planned),
        ]
    );
    assert!(record
        .message
        .contains("set access key AKIA2MLRYQ7ZT4XH9KPD inactive"));
    assert!(p.calls().is_empty());
}

#[tokio::test]
async fn user_strategy_deactivates_only_the_findings_access_key() {
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", "AKIA2MLRYQ7ZT4XH9KPD")
        .with_access_key("mallory", "AKIA2MLRYQ7ZOTHERKEY");
    let r = Configured::new(
        enforce_with(StrategySettings {
            user_deactivate_access_key: true,
            ..StrategySettings::default()
        }),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::DenyAllAttached)
    );
    assert_eq!(
        p.access_key_active("mallory", "AKIA2MLRYQ7ZT4XH9KPD"),
        Some(false)
    );
    assert_eq!(
        p.access_key_active("mallory", "AKIA2MLRYQ7ZOTHERKEY"),
        Some(true)
    );
    assert_eq!(
        p.calls(),
        [
            // The policy read runs while GuardDuty answers (prefetch); then the key, then the
            // policy write.
            "iam:GetUserPolicy user/mallory",
            "iam:ListAccessKeys user/mallory",
            "iam:UpdateAccessKey user/mallory AKIA2MLRYQ7ZT4XH9KPD",
            "iam:PutUserPolicy user/mallory",
        ]
    );
    assert!(record.message.contains("other keys are untouched"));

    // Delivered again: the policy covers it and the key is already inactive: nothing written.
    let again = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(again.outcome, Outcome::AlreadyContained);
    assert!(
        again.message.contains("was already inactive"),
        "{}",
        again.message
    );
    assert_eq!(
        p.calls()
            .iter()
            .filter(|c| c.contains("UpdateAccessKey"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_failed_key_deactivation_keeps_the_deny_all_and_says_what_to_do() {
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", "AKIA2MLRYQ7ZT4XH9KPD")
        .failing(
            "iam:UpdateAccessKey",
            AwsErrorKind::AccessDenied,
            "AccessDenied",
        );
    let r = Configured::new(
        enforce_with(StrategySettings {
            user_deactivate_access_key: true,
            ..StrategySettings::default()
        }),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    // The DenyAll is in place, the key is not: partial, never `contained`.
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::PartiallyContained, Reason::AccessDenied)
    );
    assert_eq!(record.actions[1].api, "iam:UpdateAccessKey");
    assert_eq!(record.actions[1].status, ActionStatus::Failed);
    assert!(record.message.contains("aws iam update-access-key --user-name mallory --access-key-id AKIA2MLRYQ7ZT4XH9KPD --status Inactive"), "{}", record.message);
    assert!(
        record
            .message
            .contains("attached the inline policy DenyAll")
            && record.message.contains("still ACTIVE"),
        "{}",
        record.message
    );
    // AccessDenied: delivering the event again fails the same way.
    assert!(!record.retryable);
    assert!(p.policy(&mallory(), "DenyAll").is_some());
}

#[tokio::test]
async fn a_throttled_key_deactivation_is_partial_and_retryable_and_a_redelivery_completes_it() {
    let key = "AKIA2MLRYQ7ZT4XH9KPD";
    let p = MemoryPolicies::new()
        .with_entity(&mallory())
        .with_access_key("mallory", key)
        .failing("iam:UpdateAccessKey", AwsErrorKind::Throttled, "Throttling");
    let r = Configured::new(
        enforce_with(StrategySettings {
            user_deactivate_access_key: true,
            ..StrategySettings::default()
        }),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let raw = fixture("cloudtrail-logging-disabled.json");
    let first = r.handle(&raw).await;
    assert_eq!(
        (first.outcome, first.reason, first.retryable),
        (Outcome::PartiallyContained, Reason::Throttled, true)
    );
    assert_eq!(p.access_key_active("mallory", key), Some(true));

    // The throttle is over; Lambda delivers the event again.
    p.stop_failing("iam:UpdateAccessKey");
    let before = p.calls().len();
    let again = r.handle(&raw).await;
    assert_eq!(
        (again.outcome, again.reason, again.retryable),
        (Outcome::Contained, Reason::AccessKeyDeactivated, false),
        "{}",
        again.message
    );
    assert_eq!(p.access_key_active("mallory", key), Some(false));
    // The policy already covers the finding: read, not written again.
    assert_eq!(
        p.calls()[before..],
        [
            "iam:GetUserPolicy user/mallory",
            "iam:ListAccessKeys user/mallory",
            "iam:UpdateAccessKey user/mallory AKIA2MLRYQ7ZT4XH9KPD",
        ]
    );
    let statuses: Vec<_> = again
        .actions
        .iter()
        .map(|a| (a.api.as_str(), a.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("iam:ListAccessKeys", ActionStatus::Done),
            ("iam:UpdateAccessKey", ActionStatus::Done),
            ("iam:GetUserPolicy", ActionStatus::Done),
            ("iam:PutUserPolicy", ActionStatus::NotNeeded),
        ]
    );

    // And once more: everything is in place, nothing written.
    let third = r.handle(&raw).await;
    assert_eq!(
        (third.outcome, third.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
    );
}

#[tokio::test]
async fn temporary_keys_are_not_deactivated() {
    let p = MemoryPolicies::new().with_entity(&mallory());
    let r = Configured::new(
        enforce_with(StrategySettings {
            user_deactivate_access_key: true,
            ..StrategySettings::default()
        }),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let raw = fixture_with(
        "cloudtrail-logging-disabled.json",
        &[(
            "/detail/resource/accessKeyDetails/accessKeyId",
            json!("ASIA2MLRYQ7ZT4XH9KPD"),
        )],
    );
    let record = r.handle(&raw).await;
    assert_eq!(record.outcome, Outcome::Contained);
    assert!(!p.calls().iter().any(|c| c.contains("UpdateAccessKey")));
}

#[tokio::test]
async fn identity_center_default_is_manual_with_exact_steps_and_no_calls() {
    let p = MemoryPolicies::new();
    let r = Configured::new(
        enforce_with(StrategySettings::default()),
        &p,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r
        .handle(&fixture("cloudtrail-logging-disabled-sso.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::NotContainable, Reason::SsoReservedRole)
    );
    assert!(
        record.message.contains("\"sara\"") && record.message.contains("\"AdministratorAccess\""),
        "{}",
        record.message
    );
    let steps = record.manual_steps.join("\n");
    assert!(steps.contains(r#"aws identitystore get-user-id --identity-store-id IDENTITY_STORE_ID --alternate-identifier '{"UniqueAttribute":{"AttributePath":"userName","AttributeValue":"sara"}}'"#), "{steps}");
    assert!(steps.contains(r#"{"Sid":"DeadboltDenyIdcUser32eeae3963771621a5fa1490b88154ef","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:UserId":"<USER_ID from step 1>"}}}"#), "{steps}");
    assert!(steps.contains("--target-type ALL_PROVISIONED_ACCOUNTS"));
    // IAM is only read (the role's path: is it really Identity Center's?), never written.
    assert_eq!(
        p.calls(),
        ["iam:GetRole role/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"]
    );
    // And the JSON record carries them.
    let v: Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(
        v["manual_steps"].as_array().unwrap().len(),
        record.manual_steps.len()
    );
}

fn idc_config() -> Settings {
    enforce_with(StrategySettings {
        identity_center: IdentityCenterStrategy::PermissionSetDeny,
        ..StrategySettings::default()
    })
}

#[tokio::test]
async fn identity_center_user_is_denied_in_the_permission_set_keeping_its_statements() {
    let admins = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowAll","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let idc = MemoryIdentityCenter::new()
        .with_permission_set("AdministratorAccess", Some(admins))
        .with_user("sara", "906721d6a0-1a2b3c4d-5e6f-4a5b-8c9d-0e1f2a3b4c5d");
    let p = MemoryPolicies::new();
    let r = Configured::with_ports(
        idc_config(),
        Ports {
            iam: &p,
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: Some(&idc),
            shared_breaker: None::<NoSharedBreaker>,
            guardduty: None,
            held: None::<deadbolt_core::ports::NoHeldFindings>,
        },
    );
    let raw = fixture("cloudtrail-logging-disabled-sso.json");
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason, record.strategy.as_deref()),
        (
            Outcome::Contained,
            Reason::IdentityCenterUserDenied,
            Some("permission-set-deny")
        )
    );
    let policy: Value =
        serde_json::from_str(&idc.inline_policy("AdministratorAccess").unwrap()).unwrap();
    assert_eq!(
        policy["Statement"],
        json!([
            {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "DeadboltDenyIdcUser32eeae3963771621a5fa1490b88154ef", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"identitystore:UserId": "906721d6a0-1a2b3c4d-5e6f-4a5b-8c9d-0e1f2a3b4c5d"}}}
        ])
    );
    assert_eq!(idc.provisioned().len(), 1);
    assert!(
        p.calls().iter().all(|c| c.starts_with("iam:GetRole ")),
        "IAM is never asked to change an AWSReservedSSO role: {:?}",
        p.calls()
    );

    // Delivered again: covered, not duplicated, re-provisioned (a failed provision heals).
    let again = r.handle(&raw).await;
    assert_eq!(again.outcome, Outcome::AlreadyContained);
    let policy: Value =
        serde_json::from_str(&idc.inline_policy("AdministratorAccess").unwrap()).unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(idc.provisioned().len(), 2);
}

#[tokio::test]
async fn identity_center_lookups_that_find_nothing_write_nothing() {
    let idc = MemoryIdentityCenter::new().with_permission_set("AdministratorAccess", None);
    let r = Configured::with_ports(
        idc_config(),
        Ports {
            iam: MemoryPolicies::new(),
            identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
            identity_center: Some(&idc),
            shared_breaker: None::<NoSharedBreaker>,
            guardduty: None,
            held: None::<deadbolt_core::ports::NoHeldFindings>,
        },
    );
    let record = r
        .handle(&fixture("cloudtrail-logging-disabled-sso.json"))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::IdentityCenterLookupFailed)
    );
    assert!(
        record
            .message
            .contains("no Identity Center user named \"sara\""),
        "{}",
        record.message
    );
    assert_eq!(idc.inline_policy("AdministratorAccess"), None);
    assert!(idc.provisioned().is_empty());
    // Permanent: delivering the event again would find nobody again, so it is not retried
    // into the dead-letter queue.
    assert!(!record.retryable);

    // Without an Identity Center client, permission-set-deny fails loudly, writing nothing.
    let bare = Configured::new(
        idc_config(),
        MemoryPolicies::new(),
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = bare
        .handle(&fixture("cloudtrail-logging-disabled-sso.json"))
        .await;
    assert_eq!(record.outcome, Outcome::Failed);
    assert!(!record.retryable, "a missing client is permanent");
    assert!(
        record.message.contains("no Identity Center client"),
        "{}",
        record.message
    );
}

#[test]
fn session_only_documents_list_as_sessions_blocked() {
    use deadbolt_core::containment::BlockState;
    let sessions = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltDenySessionx","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROAX:s"}}}]}"#;
    assert_eq!(
        BlockState::of(Some(sessions)),
        BlockState::SessionsBlockedByDeadbolt
    );
    assert!(BlockState::of(Some(sessions)).is_blocked());
    assert!(matches!(
        classify_existing(sessions),
        ExistingDenyAll::Deadbolt { .. }
    ));
}

/// IAM as another finding's responder sees it at the same moment: right after our first write,
/// it writes the document it merged from the state before ours.
struct RacingWriter {
    inner: MemoryPolicies,
    theirs: String,
    raced: std::sync::Mutex<bool>,
}

impl deadbolt_core::ports::InlinePolicies for RacingWriter {
    async fn get_policy(
        &self,
        t: &ContainmentTarget,
        name: &str,
    ) -> Result<Option<String>, deadbolt_core::ports::AwsError> {
        self.inner.get_policy(t, name).await
    }
    async fn put_policy(
        &self,
        t: &ContainmentTarget,
        name: &str,
        doc: &str,
    ) -> Result<(), deadbolt_core::ports::AwsError> {
        self.inner.put_policy(t, name, doc).await?;
        let first = !std::mem::replace(&mut *self.raced.lock().unwrap(), true);
        if first {
            self.inner.put_policy(t, name, &self.theirs).await?;
        }
        Ok(())
    }
    async fn delete_policy(
        &self,
        t: &ContainmentTarget,
        name: &str,
    ) -> Result<(), deadbolt_core::ports::AwsError> {
        self.inner.delete_policy(t, name).await
    }
}

impl deadbolt_core::ports::AccessKeys for RacingWriter {
    async fn access_key_active(
        &self,
        u: &str,
        k: &str,
    ) -> Result<Option<bool>, deadbolt_core::ports::AwsError> {
        deadbolt_core::ports::AccessKeys::access_key_active(&self.inner, u, k).await
    }
    async fn set_access_key_status(
        &self,
        u: &str,
        k: &str,
        a: bool,
    ) -> Result<(), deadbolt_core::ports::AwsError> {
        self.inner.set_access_key_status(u, k, a).await
    }
}

impl deadbolt_core::ports::ManagedPolicies for RacingWriter {
    async fn attached_policies(&self, t: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        self.inner.attached_policies(t).await
    }
    async fn attach_policy(&self, t: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.inner.attach_policy(t, arn).await
    }
    async fn detach_policy(&self, t: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.inner.detach_policy(t, arn).await
    }
    async fn tags(&self, t: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        self.inner.tags(t).await
    }
    async fn tag(&self, t: &ContainmentTarget, k: &str, v: &str) -> Result<(), AwsError> {
        self.inner.tag(t, k, v).await
    }
    async fn untag(&self, t: &ContainmentTarget, k: &str) -> Result<(), AwsError> {
        self.inner.untag(t, k).await
    }
    async fn permissions_boundary(
        &self,
        t: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        self.inner.permissions_boundary(t).await
    }
    async fn put_permissions_boundary(
        &self,
        t: &ContainmentTarget,
        a: &str,
    ) -> Result<(), AwsError> {
        self.inner.put_permissions_boundary(t, a).await
    }
    async fn delete_permissions_boundary(&self, t: &ContainmentTarget) -> Result<(), AwsError> {
        self.inner.delete_permissions_boundary(t).await
    }
}

#[tokio::test]
async fn a_concurrent_merge_that_drops_our_session_is_detected_and_merged_again() {
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltDenySessionother","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROA2MLRYQ7ZGH5D6PLQC:laptop-eve"}}}]}"#;
    let iam = RacingWriter {
        inner: MemoryPolicies::new().with_entity(&app_deployer()),
        theirs: theirs.to_string(),
        raced: std::sync::Mutex::new(false),
    };
    let r = Configured::new(
        role_strategy(RoleStrategy::DenySession),
        &iam,
        FixedIdentity::new(ACCOUNT, OWN_ARN),
    );
    let record = r.handle(&role_finding("ci-runner-42", "aaa111")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::SessionDenied),
        "{}",
        record.message
    );
    let userids: Vec<String> = doc(&iam.inner, &app_deployer())["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["Condition"]["StringEquals"]["aws:userid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        userids,
        [
            "AROA2MLRYQ7ZGH5D6PLQC:laptop-eve",
            "AROA2MLRYQ7ZGH5D6PLQC:ci-runner-42"
        ],
        "both sessions denied: neither write lost the other's"
    );
    let apis: Vec<&str> = record.actions.iter().map(|a| a.api.as_str()).collect();
    assert_eq!(
        apis,
        [
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            "iam:GetRolePolicy"
        ]
    );
}
