//! End to end against moto server with IAM authentication on: the attacker's credentials work,
//! deadbolt handles the finding, the same call is now denied.

use deadbolt_aws::{AwsIam, StsIdentity};
use deadbolt_core::config::Mode;
use deadbolt_core::memory::Configured;
use deadbolt_core::ports::InlinePolicies;
use deadbolt_core::ports::NoIdentityCenter;
use deadbolt_core::settings::Settings;
use deadbolt_core::{ContainmentTarget, Outcome, Ports, Reason, TargetKind};
use deadbolt_e2e::{finding_for, Moto, RequestCounter};

/// The production responder on moto, with `breaker` as its shared breaker count.
fn responder_with<B>(
    moto: &Moto,
    config: Settings,
    counter: &RequestCounter,
    breaker: Option<B>,
) -> Configured<AwsIam, StsIdentity, NoIdentityCenter, B> {
    Configured::with_ports(
        config,
        Ports {
            iam: AwsIam::new(moto.iam(&moto.admin, Some(counter))),
            identity: StsIdentity::new(moto.sts(&moto.admin, Some(counter))),
            identity_center: None,
            shared_breaker: breaker,
            guardduty: None,
            held: None::<deadbolt_core::ports::NoHeldFindings>,
        },
    )
}

fn responder(
    moto: &Moto,
    config: Settings,
    counter: &RequestCounter,
) -> Configured<AwsIam, StsIdentity> {
    responder_with(moto, config, counter, None)
}

fn enforce() -> Settings {
    Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_user_is_locked_out_with_one_read_and_one_write() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    assert_eq!(
        moto.probe(&mallory).await,
        Ok(()),
        "before containment the attacker's call works"
    );

    let counter = RequestCounter::default();
    let record = responder(&moto, enforce(), &counter)
        .handle(&finding_for(
            "cloudtrail-logging-disabled.json",
            &mallory.principal,
        ))
        .await;

    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::DenyAllAttached),
        "{}",
        record.message
    );
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    // The critical path: caller identity once per process, then one read and one write.
    assert_eq!(
        counter.requests(),
        [
            "sts:GetCallerIdentity",
            "iam:GetUserPolicy",
            "iam:PutUserPolicy"
        ]
    );
    let doc: serde_json::Value =
        serde_json::from_str(&moto.user_policy("mallory", "DenyAll").await.unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_session_is_locked_out_via_its_role() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    assert_eq!(moto.probe(&session).await, Ok(()));

    let counter = RequestCounter::default();
    let record = responder(&moto, enforce(), &counter)
        .handle(&finding_for("tor-ip-caller.json", &session.principal))
        .await;

    assert_eq!(record.outcome, Outcome::Contained, "{}", record.message);
    let principal = record.decision.principal.unwrap();
    assert_eq!(principal.name.as_deref(), Some("app-deployer"));
    assert_eq!(principal.session.as_deref(), Some("ci-runner-42"));
    assert_eq!(moto.probe(&session).await, Err("AccessDenied".to_string()));
    assert!(moto.role_policy("app-deployer", "DenyAll").await.is_some());
    assert_eq!(
        counter.requests(),
        [
            "sts:GetCallerIdentity",
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            // The read-back after the lockout (concurrent merges on one role).
            "iam:GetRolePolicy"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_is_contained_without_touching_the_group_and_groups_can_be_blocked_and_released(
) {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let member = moto.create_group_member("developers", "dev-alice").await;
    let bystander = moto.add_group_member("developers", "dev-bob").await;
    assert_eq!(moto.probe(&member).await, Ok(()));
    assert_eq!(moto.probe(&bystander).await, Ok(()));

    let counter = RequestCounter::default();
    let r = responder(&moto, enforce(), &counter);
    let record = r
        .handle(&finding_for("malicious-ip-caller.json", &member.principal))
        .await;
    assert_eq!(record.outcome, Outcome::Contained, "{}", record.message);
    assert_eq!(moto.probe(&member).await, Err("AccessDenied".to_string()));
    // Only the principal named in the finding: the group and its other members are untouched.
    assert_eq!(moto.probe(&bystander).await, Ok(()));
    assert!(moto.group_policy("developers", "DenyAll").await.is_none());

    // The adapter contains a group directly (the CLI's `block --group`) and undoes it.
    let group = ContainmentTarget::new(TargetKind::Group, "developers").unwrap();
    let doc = deadbolt_core::policy::deny_all_document("manual");
    let iam = AwsIam::new(moto.iam(&moto.admin, None));
    iam.put_policy(&group, "DenyAll", &doc).await.unwrap();
    assert_eq!(
        moto.probe(&bystander).await,
        Err("AccessDenied".to_string())
    );
    iam.delete_policy(&group, "DenyAll").await.unwrap();
    assert_eq!(moto.probe(&bystander).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let counter = RequestCounter::default();
    let record = responder(&moto, Settings::default(), &counter)
        .handle(&finding_for(
            "cloudtrail-logging-disabled.json",
            &mallory.principal,
        ))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::WouldContain, Reason::DryRun)
    );
    assert_eq!(moto.probe(&mallory).await, Ok(()));
    assert!(moto.user_policy("mallory", "DenyAll").await.is_none());
    assert_eq!(
        counter.requests(),
        ["sts:GetCallerIdentity"],
        "dry-run makes no IAM call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_principal_is_untouched() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let admin = moto.create_attacker_user("break-glass-admin").await;
    let config = Settings::from_lookup(|k| match k {
        "DEADBOLT_MODE" => Some("enforce".into()),
        "DEADBOLT_PROTECTED_PRINCIPALS" => Some("break-glass-*".into()),
        _ => None,
    })
    .unwrap();
    let counter = RequestCounter::default();
    let record = responder(&moto, config, &counter)
        .handle(&finding_for("protected-break-glass.json", &admin.principal))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal)
    );
    assert_eq!(moto.probe(&admin).await, Ok(()));
    assert_eq!(counter.requests(), ["sts:GetCallerIdentity"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_finding_delivered_twice_writes_once_and_deadbolt_never_blocks_itself() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let counter = RequestCounter::default();
    let r = responder(&moto, enforce(), &counter);
    let event = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    assert_eq!(r.handle(&event).await.outcome, Outcome::Contained);
    let again = r.handle(&event).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent)
    );
    let puts = counter
        .requests()
        .iter()
        .filter(|c| c.as_str() == "iam:PutUserPolicy")
        .count();
    assert_eq!(puts, 1);
    assert_eq!(
        counter
            .requests()
            .iter()
            .filter(|c| c.starts_with("sts:"))
            .count(),
        1,
        "identity is cached"
    );

    // A finding naming deadbolt's own identity is refused.
    let own = deadbolt_e2e::Principal {
        name: "deadbolt-operator".into(),
        user_type: "IAMUser",
        access_key_id: moto.admin.access_key_id().to_string(),
        principal_id: "AIDAOPERATOR00000000".into(),
    };
    let record = r
        .handle(&finding_for("cloudtrail-logging-disabled.json", &own))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Skipped, Reason::DeadboltItself)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_principal_yields_no_such_entity_in_the_record() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let ghost = deadbolt_e2e::Principal {
        name: "ghost".into(),
        user_type: "IAMUser",
        access_key_id: "AKIAGHOST00000000000".into(),
        principal_id: "AIDAGHOST00000000000".into(),
    };
    let counter = RequestCounter::default();
    let record = responder(&moto, enforce(), &counter)
        .handle(&finding_for("cloudtrail-logging-disabled.json", &ghost))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Failed, Reason::NoSuchEntity),
        "{}",
        record.message
    );
    let put = record
        .actions
        .iter()
        .find(|a| a.api == "iam:PutUserPolicy")
        .unwrap();
    assert_eq!(put.error_code.as_deref(), Some("NoSuchEntity"));
    assert!(!record.retryable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_from_another_account_writes_nothing() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let counter = RequestCounter::default();
    let mut event: serde_json::Value =
        serde_json::from_str(&finding_for("foreign-account.json", &session.principal)).unwrap();
    assert_eq!(event["detail"]["accountId"], "210987654321");
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = "app-deployer".into();
    let record = responder(&moto, enforce(), &counter)
        .handle(&event.to_string())
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::NotContainable, Reason::ForeignAccount)
    );
    assert_eq!(moto.probe(&session).await, Ok(()));
    assert_eq!(counter.requests(), ["sts:GetCallerIdentity"]);
}

/// Two responder instances (two Lambda execution environments) share the breaker's count in
/// DynamoDB: the limit holds across them, and an unreadable count means no enforcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_circuit_breaker_holds_across_instances() {
    use deadbolt_aws::DynamoBreaker;

    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let sdk = moto.sdk_config(&moto.admin);
    moto.create_breaker_table("deadbolt-breaker").await;
    let users = [
        moto.create_attacker_user("u1").await,
        moto.create_attacker_user("u2").await,
        moto.create_attacker_user("u3").await,
    ];
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 2,
        }),
        ..enforce()
    };
    let counter = RequestCounter::default();
    let instance = || {
        responder_with(
            &moto,
            config.clone(),
            &counter,
            Some(DynamoBreaker::from_conf(&sdk, "deadbolt-breaker")),
        )
    };
    let (a, b) = (instance(), instance());
    let finding = |i: usize| finding_for("cloudtrail-logging-disabled.json", &users[i].principal);

    assert_eq!(a.handle(&finding(0)).await.outcome, Outcome::Contained);
    assert_eq!(b.handle(&finding(1)).await.outcome, Outcome::Contained);
    // b has counted only one itself; the account has had two.
    let third = b.handle(&finding(2)).await;
    assert_eq!(
        (third.outcome, third.reason),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen),
        "{}",
        third.message
    );
    assert!(
        third.message.contains("across all deadbolt instances"),
        "{}",
        third.message
    );
    assert_eq!(moto.probe(&users[2]).await, Ok(()), "u3 was not contained");

    // The count cannot be read: nothing is enforced, and the event is worth delivering again.
    let blind = responder_with(
        &moto,
        config.clone(),
        &counter,
        Some(DynamoBreaker::from_conf(&sdk, "no-such-table")),
    );
    let r = blind.handle(&finding(2)).await;
    assert_eq!(
        (r.outcome, r.reason, r.retryable),
        (Outcome::WouldContain, Reason::CircuitBreakerOpen, true)
    );
    assert!(r.message.contains("could not be updated"), "{}", r.message);
    assert_eq!(moto.probe(&users[2]).await, Ok(()));
}

/// What an attacker with `iam:PutUserPolicy` on itself plants under deadbolt's policy name.
const PLANTED: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const AWS_DENY_ALL: &str = "arn:aws:iam::aws:policy/AWSDenyAll";

fn json(doc: &str) -> serde_json::Value {
    serde_json::from_str(doc).unwrap()
}

async fn attached_user_policies(moto: &Moto, user: &str) -> Vec<String> {
    moto.iam(&moto.admin, None)
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_allow_all_named_deny_all_does_not_save_the_attacker() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    // The attacker plants an Allow-everything policy under deadbolt's name (done here by the
    // administrator, as the attacker's iam:PutUserPolicy on itself would).
    moto.iam(&moto.admin, None)
        .put_user_policy()
        .user_name("mallory")
        .policy_name("DenyAll")
        .policy_document(PLANTED)
        .send()
        .await
        .unwrap();
    assert_eq!(moto.probe(&mallory).await, Ok(()));

    let counter = RequestCounter::default();
    let r = responder(&moto, enforce(), &counter);
    let raw = finding_for("cloudtrail-logging-disabled.json", &mallory.principal);
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached),
        "{}",
        record.message
    );
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    assert_eq!(
        counter.requests(),
        [
            "sts:GetCallerIdentity",
            "iam:GetUserPolicy",
            "iam:ListAttachedUserPolicies",
            "iam:AttachUserPolicy",
            "iam:TagUser",
        ]
    );
    // The planted policy is still there, untouched; AWSDenyAll is attached and tagged.
    assert_eq!(
        moto.user_policy("mallory", "DenyAll")
            .await
            .map(|d| json(&d)),
        Some(json(PLANTED))
    );
    assert_eq!(
        attached_user_policies(&moto, "mallory").await,
        [AWS_DENY_ALL]
    );
    let tags = moto
        .iam(&moto.admin, None)
        .list_user_tags()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .tags;
    assert!(
        tags.iter().any(|t| t.key == "deadbolt:managed-deny-all"
            && t.value == record.finding_id.clone().unwrap()),
        "{tags:?}"
    );

    // Redelivered: seen as contained, nothing written.
    let again = r.handle(&raw).await;
    assert_eq!(
        (again.outcome, again.reason),
        (Outcome::AlreadyContained, Reason::DeadboltDenyAllPresent),
        "{}",
        again.message
    );

    // deadbolt unblock detaches it (its tag says deadbolt attached it); the planted policy stays.
    let out = moto.deadbolt(&["unblock", "--reason", "e2e", "--user", "mallory", "--json"]);
    let unblock: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (unblock["outcome"].as_str(), unblock["reason"].as_str()),
        (Some("released"), Some("managed_deny_all_detached")),
        "{unblock} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(moto.probe(&mallory).await, Ok(()));
    assert!(attached_user_policies(&moto, "mallory").await.is_empty());
    assert_eq!(
        moto.user_policy("mallory", "DenyAll")
            .await
            .map(|d| json(&d)),
        Some(json(PLANTED))
    );

    // An AWSDenyAll an administrator attached (no deadbolt tag) is left attached by unblock.
    moto.iam(&moto.admin, None)
        .attach_user_policy()
        .user_name("mallory")
        .policy_arn(AWS_DENY_ALL)
        .send()
        .await
        .unwrap();
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    let out = moto.deadbolt(&["unblock", "--reason", "e2e", "--user", "mallory", "--json"]);
    let unblock: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(unblock["outcome"], "skipped", "{unblock}");
    assert_eq!(
        attached_user_policies(&moto, "mallory").await,
        [AWS_DENY_ALL]
    );
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_a_planted_deny_all_is_contained_through_aws_deny_all_and_released() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    moto.iam(&moto.admin, None)
        .put_role_policy()
        .role_name("app-deployer")
        .policy_name("DenyAll")
        .policy_document(PLANTED)
        .send()
        .await
        .unwrap();
    assert_eq!(moto.probe(&session).await, Ok(()));

    let counter = RequestCounter::default();
    let record = responder(&moto, enforce(), &counter)
        .handle(&finding_for("tor-ip-caller.json", &session.principal))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::ManagedDenyAllAttached),
        "{}",
        record.message
    );
    assert_eq!(moto.probe(&session).await, Err("AccessDenied".to_string()));
    assert_eq!(
        counter.requests()[1..],
        [
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:AttachRolePolicy",
            "iam:TagRole",
        ]
    );

    let iam = AwsIam::new(moto.iam(&moto.admin, None));
    let role = ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap();
    let released = deadbolt_core::containment::release(&iam, &role, false).await;
    assert_eq!(
        (released.outcome, released.reason),
        (Outcome::Released, Reason::ManagedDenyAllDetached),
        "{}",
        released.message
    );
    assert_eq!(moto.probe(&session).await, Ok(()));
    assert_eq!(
        moto.role_policy("app-deployer", "DenyAll")
            .await
            .map(|d| json(&d)),
        Some(json(PLANTED))
    );
}

/// A circuit breaker that never loses a finding: the one it refuses is held on the breaker's
/// table, listed by `deadbolt held`, and contained by `deadbolt release-held`, which then
/// forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_finding_is_kept_listed_and_released() {
    use deadbolt_aws::{DynamoBreaker, DynamoHeldFindings};
    use deadbolt_core::ports::HeldFindings;

    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let sdk = moto.sdk_config(&moto.admin);
    moto.create_breaker_table("deadbolt-breaker").await;
    let users = [
        moto.create_attacker_user("u1").await,
        moto.create_attacker_user("u2").await,
    ];
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..enforce()
    };
    let counter = RequestCounter::default();
    let store = DynamoHeldFindings::from_conf(&sdk, "deadbolt-breaker");
    let responder = Configured::with_ports(
        config,
        Ports {
            iam: AwsIam::new(moto.iam(&moto.admin, Some(&counter))),
            identity: StsIdentity::new(moto.sts(&moto.admin, Some(&counter))),
            identity_center: None::<NoIdentityCenter>,
            shared_breaker: Some(DynamoBreaker::from_conf(&sdk, "deadbolt-breaker")),
            guardduty: None,
            held: Some(DynamoHeldFindings::from_conf(&sdk, "deadbolt-breaker")),
        },
    );
    let finding = |i: usize| finding_for("cloudtrail-logging-disabled.json", &users[i].principal);

    assert_eq!(
        responder.handle(&finding(0)).await.outcome,
        Outcome::Contained
    );
    let second = finding(1);
    let held = responder.handle(&second).await;
    assert_eq!(
        (held.outcome, held.reason, held.retryable),
        (Outcome::Held, Reason::CircuitBreakerOpen, false),
        "{}",
        held.message
    );
    assert_eq!(moto.probe(&users[1]).await, Ok(()), "u2 was not contained");
    let id = held.finding_id.clone().unwrap();
    // Zero lost: the refused finding is on the table with its raw event, once, even when
    // delivered again.
    assert_eq!(responder.handle(&second).await.outcome, Outcome::Held);
    let list = store.list().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].finding_id.as_str(), list[0].target.as_str()),
        (id.as_str(), "user/u2")
    );
    assert_eq!(list[0].event, second);

    let out = moto.deadbolt(&["held", "--table", "deadbolt-breaker", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let listed = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed[0]["finding_id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["target"], "user/u2", "{listed}");

    // Dry-run decides and writes nothing; the finding stays held.
    moto.confirm(&second);
    let out = moto.deadbolt(&[
        "release-held",
        &id,
        "--table",
        "deadbolt-breaker",
        "--dry-run",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["outcome"],
        "would_contain"
    );
    assert_eq!(moto.probe(&users[1]).await, Ok(()));
    assert_eq!(store.list().await.unwrap().len(), 1);

    let out = moto.deadbolt(&["release-held", &id, "--table", "deadbolt-breaker", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let record = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(record["verified_with_guardduty"], true, "{record}");
    assert_eq!(moto.probe(&users[1]).await, Err("AccessDenied".to_string()));
    assert!(store.list().await.unwrap().is_empty(), "released from hold");

    let out = moto.deadbolt(&["release-held", &id, "--table", "deadbolt-breaker"]);
    assert_eq!(out.status.code(), Some(2), "no longer held: {out:?}");
}

/// A newly held finding is announced once on the alarm topic; its redelivery is not announced
/// again. (moto without authentication: its signature check mis-handles SNS `Publish` bodies
/// with spaces.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_finding_is_announced_once_on_the_alarm_topic() {
    use deadbolt_aws::{DynamoBreaker, DynamoHeldFindings};

    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start_with_auth(false).await;
    let sdk = moto.sdk_config(&moto.admin);
    moto.create_breaker_table("deadbolt-breaker").await;
    let topic = moto.create_topic("deadbolt-alarms").await;
    let users = [
        moto.create_attacker_user("u1").await,
        moto.create_attacker_user("u2").await,
    ];
    let config = Settings {
        circuit_breaker: Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..enforce()
    };
    let counter = RequestCounter::default();
    let responder = Configured::with_ports(
        config,
        Ports {
            iam: AwsIam::new(moto.iam(&moto.admin, Some(&counter))),
            identity: StsIdentity::new(moto.sts(&moto.admin, Some(&counter))),
            identity_center: None::<NoIdentityCenter>,
            shared_breaker: Some(DynamoBreaker::from_conf(&sdk, "deadbolt-breaker")),
            guardduty: None,
            held: Some(
                DynamoHeldFindings::from_conf(&sdk, "deadbolt-breaker")
                    .announcing(aws_sdk_sns::Client::new(&sdk), &topic),
            ),
        },
    );
    let finding = |i: usize| finding_for("cloudtrail-logging-disabled.json", &users[i].principal);
    assert_eq!(
        responder.handle(&finding(0)).await.outcome,
        Outcome::Contained
    );
    let held = responder.handle(&finding(1)).await;
    assert_eq!(held.outcome, Outcome::Held, "{}", held.message);
    assert_eq!(responder.handle(&finding(1)).await.outcome, Outcome::Held);
    let id = held.finding_id.unwrap();
    let sent = moto.sent_notifications(&topic);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].1.contains(&format!("deadbolt release-held {id}")) && sent[0].1.contains("user/u2"),
        "{sent:?}"
    );
}

/// deadbolt's own credentials, refused every managed-policy attach: what IAM answers once the
/// attacker has filled the ten-policy attachment quota (moto does not count attachments, so
/// an explicit Deny on deadbolt's identity stands in for the quota here).
async fn deadbolt_without_attach(moto: &Moto) -> deadbolt_e2e::AttackerCredentials {
    let ops = moto.create_attacker_user("deadbolt-ops").await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": ["iam:AttachUserPolicy", "iam:AttachRolePolicy"], "Resource": "*"}
        ]
    });
    moto.iam(&moto.admin, None)
        .put_user_policy()
        .user_name("deadbolt-ops")
        .policy_name("ops")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    ops
}

fn responder_as(
    moto: &Moto,
    who: &deadbolt_e2e::AttackerCredentials,
    config: Settings,
    counter: &RequestCounter,
) -> Configured<AwsIam, StsIdentity> {
    Configured::with_ports(
        config,
        Ports {
            iam: AwsIam::new(moto.iam(&who.credentials, Some(counter))),
            identity: StsIdentity::new(moto.sts(&who.credentials, Some(counter))),
            identity_center: None,
            shared_breaker: None::<deadbolt_core::ports::NoSharedBreaker>,
            guardduty: None,
            held: None::<deadbolt_core::ports::NoHeldFindings>,
        },
    )
}

/// Issue 17, point 1: a role whose inline name is taken by a planted policy and whose managed
/// attachments are refused is contained through its permissions boundary (no quota), over the
/// wire; the boundary before is put back exactly by the adapter's restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_blocks_inline_and_managed_writes_is_contained_by_its_permissions_boundary() {
    use deadbolt_core::ports::ManagedPolicies;
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let admin = moto.iam(&moto.admin, None);
    admin
        .put_role_policy()
        .role_name("app-deployer")
        .policy_name("DenyAll")
        .policy_document(PLANTED)
        .send()
        .await
        .unwrap();
    let theirs = "arn:aws:iam::aws:policy/PowerUserAccess";
    admin
        .put_role_permissions_boundary()
        .role_name("app-deployer")
        .permissions_boundary(theirs)
        .send()
        .await
        .unwrap();
    let ops = deadbolt_without_attach(&moto).await;

    let counter = RequestCounter::default();
    let record = responder_as(&moto, &ops, enforce(), &counter)
        .handle(&finding_for("tor-ip-caller.json", &session.principal))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::PermissionsBoundarySet),
        "{}",
        record.message
    );
    assert!(
        record
            .message
            .contains(&format!("Its boundary before ({theirs})")),
        "{}",
        record.message
    );
    assert_eq!(
        counter.requests()[1..],
        [
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:AttachRolePolicy",
            "iam:GetRole",
            "iam:PutRolePermissionsBoundary",
        ]
    );
    let iam = AwsIam::new(moto.iam(&moto.admin, None));
    let role = ContainmentTarget::new(TargetKind::Role, "app-deployer").unwrap();
    assert_eq!(
        iam.permissions_boundary(&role).await.unwrap().as_deref(),
        Some(AWS_DENY_ALL)
    );

    // Released: the planted policy stays (not deadbolt's), the boundary before comes back.
    let mut released = deadbolt_core::containment::release(&iam, &role, false).await;
    deadbolt_core::containment::restore_boundary(&iam, &role, Some(theirs), false, &mut released)
        .await;
    assert_eq!(
        (released.outcome, released.reason),
        (Outcome::Released, Reason::PermissionsBoundaryRestored),
        "{}",
        released.message
    );
    assert_eq!(
        iam.permissions_boundary(&role).await.unwrap().as_deref(),
        Some(theirs)
    );
}

/// Issue 17, point 1: with key deactivation on, a user who blocks every policy write still
/// loses the finding's key, which is set inactive first (moto serves no
/// PutUserPermissionsBoundary, so the boundary fails here as a refused one would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_that_blocks_every_policy_write_still_loses_the_findings_key_first() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    moto.iam(&moto.admin, None)
        .put_user_policy()
        .user_name("mallory")
        .policy_name("DenyAll")
        .policy_document(PLANTED)
        .send()
        .await
        .unwrap();
    let ops = deadbolt_without_attach(&moto).await;
    let mut settings = enforce();
    settings.strategy.user_deactivate_access_key = true;
    let counter = RequestCounter::default();
    let record = responder_as(&moto, &ops, settings, &counter)
        .handle(&finding_for(
            "cloudtrail-logging-disabled.json",
            &mallory.principal,
        ))
        .await;
    assert_eq!(
        record.outcome,
        Outcome::PartiallyContained,
        "{}",
        record.message
    );
    assert!(
        record.message.starts_with(&format!(
            "access key {} of user/mallory is inactive",
            mallory.principal.access_key_id
        )),
        "{}",
        record.message
    );
    assert!(
        record
            .message
            .contains("aws iam put-user-permissions-boundary --user-name mallory"),
        "{}",
        record.message
    );
    let requests = counter.requests();
    let at = |api: &str| requests.iter().position(|r| r == api);
    assert!(
        at("iam:UpdateAccessKey") < at("iam:AttachUserPolicy"),
        "{requests:?}"
    );
    let status = moto
        .iam(&moto.admin, None)
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key_metadata
        .into_iter()
        .find(|k| k.access_key_id.as_deref() == Some(mallory.principal.access_key_id.as_str()))
        .and_then(|k| k.status);
    assert_eq!(status, Some(aws_sdk_iam::types::StatusType::Inactive));
}

/// The tamper watch on moto with IAM authentication: someone deletes deadbolt's DenyAll and
/// the attacker's call works again; the CloudTrail event reaches the responder, which finds
/// the containment in force in its ledger (DynamoDB) and writes it again: the call is denied
/// once more. After an operator's `deadbolt unblock` (recorded first), the same kind of event
/// re-applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_deny_all_is_re_applied_from_the_ledger_and_an_unblock_is_not() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    moto.create_breaker_table("deadbolt-ledger").await;
    let mallory = moto.create_attacker_user("mallory").await;
    let sdk = moto.sdk_config(&moto.admin);
    let counter = RequestCounter::default();
    let responder = responder(&moto, enforce(), &counter).with_ledger(
        deadbolt_aws::DynamoLedger::from_conf(&sdk, "deadbolt-ledger"),
        "function:deadbolt-responder",
    );
    let contained = responder
        .handle(&finding_for(
            "cloudtrail-logging-disabled.json",
            &mallory.principal,
        ))
        .await;
    assert_eq!(
        contained.outcome,
        Outcome::Contained,
        "{}",
        contained.message
    );
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));

    // A second principal with IAM rights undoes it.
    let iam = moto.iam(&moto.admin, None);
    iam.delete_user_policy()
        .user_name("mallory")
        .policy_name("DenyAll")
        .send()
        .await
        .expect("deleted by someone else");
    assert_eq!(
        moto.probe(&mallory).await,
        Ok(()),
        "undone: the attacker is back"
    );

    let tamper = |event_id: &str| {
        let path = deadbolt_e2e::fixture_path("../tamper/delete-user-policy-deny-all.json");
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("3e2d1c0b-9a8f-4e7d-6c5b-4a3f2e1d0c9b", event_id)
    };
    let r = responder.handle(&tamper("e-1")).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Recontained, Reason::ContainmentUndone),
        "{}",
        r.message
    );
    assert_eq!(
        r.tamper.as_ref().map(|t| t.undone_by.as_str()),
        Some("arn:aws:sts::123456789012:assumed-role/ci-helper/ci-helper")
    );
    // The finding it was for, kept in the DynamoDB ledger entry: the re-containment is
    // written back to that finding's Security Hub copy.
    assert!(
        r.finding_arn
            .as_deref()
            .is_some_and(|a| a.starts_with("arn:aws:guardduty:")
                && a.ends_with("/finding/92b108e6e29fae28af700f610bd20943")),
        "{:?}",
        r.finding_arn
    );
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));

    // The operator releases: the ledger says so before the DenyAll goes.
    let out = moto.deadbolt(&[
        "unblock",
        "--user",
        "mallory",
        "--reason",
        "INC-7 false positive",
        "--ledger-table",
        "deadbolt-ledger",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(moto.probe(&mallory).await, Ok(()));
    let r = responder.handle(&tamper("e-2")).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::NotUnderContainment),
        "{}",
        r.message
    );
    assert_eq!(moto.probe(&mallory).await, Ok(()), "the release stands");
}

/// Protection cannot be adopted, on moto with IAM authentication and moto's SSM: the real
/// `break-glass-admin` existed before `break-glass-*` was written into the settings parameter
/// and keeps its access; `break-glass-x`, created afterwards by the attacker, is contained.
/// The pattern's date comes from the parameter's history, the users' from IAM's CreateDate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_after_break_glass_was_configured_is_contained_and_the_old_one_is_not() {
    use deadbolt_core::runtime::{RuntimeConfig, SettingsStore};

    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let real = moto.create_attacker_user("break-glass-admin").await;
    // IAM and SSM dates have second precision: keep the three moments apart.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let store = deadbolt_aws::SsmSettingsStore::from_conf(
        &moto.sdk_config(&moto.admin),
        "/deadbolt/config",
    );
    store
        .store(r#"{"version":1,"mode":"enforce","protected_principals":["break-glass-*"]}"#)
        .await
        .expect("settings written");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let adopted = moto.create_attacker_user("break-glass-x").await;

    let mut runtime = RuntimeConfig::new(Settings::default(), 60_000);
    runtime
        .refresh(&store, deadbolt_core::clock::now_ms())
        .await;
    let settings = runtime.current().expect("settings in force").clone();
    assert!(
        settings.protected_since.contains_key("break-glass-*"),
        "dated from the history: {:?}",
        settings.protected_since
    );
    let counter = RequestCounter::default();
    let responder = responder(&moto, settings, &counter);

    let r = responder
        .handle(&finding_for("protected-break-glass.json", &real.principal))
        .await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Skipped, Reason::ProtectedPrincipal),
        "{}",
        r.message
    );
    assert_eq!(
        moto.probe(&real).await,
        Ok(()),
        "the real one keeps its access"
    );

    let r = responder
        .handle(&finding_for(
            "protected-break-glass.json",
            &adopted.principal,
        ))
        .await;
    assert_eq!(r.outcome, Outcome::Contained, "{}", r.message);
    assert!(
        r.message.starts_with("protected_pattern_postdates"),
        "{}",
        r.message
    );
    assert_eq!(moto.probe(&adopted).await, Err("AccessDenied".to_string()));
}

/// An attacker with `iam:CreateRole` names a role like an Identity Center or service-linked
/// role, at the default path: IAM's own path, read while GuardDuty answers, says it is an
/// ordinary role, and it is contained as one (moto with IAM authentication).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_named_like_a_reserved_one_outside_its_path_is_contained() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    for (name, fixture) in [
        (
            "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
            "cloudtrail-logging-disabled-sso.json",
        ),
        ("AWSServiceRoleForSupport", "service-linked-role.json"),
    ] {
        let session = moto.create_attacker_session(name, "attacker").await;
        assert_eq!(moto.probe(&session).await, Ok(()), "{name} works before");
        let counter = RequestCounter::default();
        let record = responder(&moto, enforce(), &counter)
            .handle(&finding_for(fixture, &session.principal))
            .await;
        assert_eq!(
            (record.outcome, record.reason),
            (Outcome::Contained, Reason::DenyAllAttached),
            "{name}: {}",
            record.message
        );
        assert!(
            record
                .message
                .starts_with("reserved_name_outside_reserved_path"),
            "{}",
            record.message
        );
        assert_eq!(
            moto.probe(&session).await,
            Err("AccessDenied".to_string()),
            "{name} after"
        );
        // The path read is the one extra read, and it ran before any write.
        let requests = counter.requests();
        assert!(
            requests.contains(&"iam:GetRole".to_string()),
            "{requests:?}"
        );
    }
}
