//! Containment strategies against moto: the documents IAM receives, the access key that is
//! (and the keys that are not) deactivated, and Identity Center permission sets.
//!
//! moto evaluates unconditional IAM denies but not `aws:TokenIssueTime` or `aws:userid`
//! conditions, so for the session strategies these tests prove the exact document IAM
//! stores; the documents themselves are AWS's documented ones (unit tests in
//! `deadbolt-core`).

use aws_sdk_iam::types::StatusType;
use deadbolt_aws::{AwsIam, AwsIdentityCenter, StsIdentity};
use deadbolt_core::config::Mode;
use deadbolt_core::memory::Configured;
use deadbolt_core::ports::{NoIdentityCenter, NoSharedBreaker};
use deadbolt_core::settings::Settings;
use deadbolt_core::strategy::{IdentityCenterStrategy, RoleStrategy, StrategySettings};
use deadbolt_core::{Outcome, Ports, Reason};
use deadbolt_e2e::{finding_for, Moto, Principal, RequestCounter};
use serde_json::{json, Value};

fn config(strategy: StrategySettings) -> Settings {
    Settings {
        mode: Mode::Enforce,
        strategy,
        ..Settings::default()
    }
}

fn responder_with<C>(
    moto: &Moto,
    strategy: StrategySettings,
    counter: &RequestCounter,
    identity_center: Option<C>,
) -> Configured<AwsIam, StsIdentity, C, NoSharedBreaker> {
    Configured::with_ports(
        config(strategy),
        Ports {
            iam: AwsIam::new(moto.iam(&moto.admin, Some(counter))),
            identity: StsIdentity::new(moto.sts(&moto.admin, Some(counter))),
            identity_center,
            shared_breaker: None,
            guardduty: None,
            held: None::<deadbolt_core::ports::NoHeldFindings>,
        },
    )
}

fn responder(
    moto: &Moto,
    strategy: StrategySettings,
    counter: &RequestCounter,
) -> Configured<AwsIam, StsIdentity> {
    responder_with::<NoIdentityCenter>(moto, strategy, counter, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_strategy_deactivates_the_findings_key_and_no_other() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let iam = moto.iam(&moto.admin, None);
    let other = iam
        .create_access_key()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;

    let counter = RequestCounter::default();
    let strategy = StrategySettings {
        user_deactivate_access_key: true,
        ..StrategySettings::default()
    };
    let record = responder(&moto, strategy, &counter)
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
    let keys = iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key_metadata;
    let status = |id: &str| {
        keys.iter()
            .find(|k| k.access_key_id.as_deref() == Some(id))
            .and_then(|k| k.status.clone())
    };
    assert_eq!(
        status(&mallory.principal.access_key_id),
        Some(StatusType::Inactive)
    );
    assert_eq!(status(&other), Some(StatusType::Active));
    assert_eq!(
        counter.requests(),
        [
            "sts:GetCallerIdentity",
            // The policy read runs while GuardDuty answers; then the key, which needs no
            // quota (its status read first: a redelivery finds it inactive and writes
            // nothing); then the policy write.
            "iam:GetUserPolicy",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:PutUserPolicy",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_session_strategies_write_the_documented_conditions_and_merge() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let first = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let second = moto
        .sts(&moto.admin, None)
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/app-deployer")
        .role_session_name("laptop-eve")
        .send()
        .await
        .unwrap()
        .assumed_role_user
        .unwrap()
        .assumed_role_id;

    let counter = RequestCounter::default();
    let deny_session = StrategySettings {
        role: RoleStrategy::DenySession,
        ..StrategySettings::default()
    };
    let r = responder(&moto, deny_session, &counter);
    let record = r
        .handle(&finding_for("tor-ip-caller.json", &first.principal))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::SessionDenied),
        "{}",
        record.message
    );
    let stored: Value =
        serde_json::from_str(&moto.role_policy("app-deployer", "DenyAll").await.unwrap()).unwrap();
    assert_eq!(
        stored["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:userid": first.principal.principal_id}})
    );

    // A second session, a second finding (another id): both sessions stay denied.
    let second_principal = Principal {
        principal_id: second.clone(),
        ..first.principal.clone()
    };
    let raw = finding_for("tor-ip-caller.json", &second_principal).replace(
        "f353ac10ba5a767e4324b7000d29076d",
        "0b3d5e7f9a1c2e4f6a8b0c2d4e6f8a0b",
    );
    let record = r.handle(&raw).await;
    assert_eq!(record.outcome, Outcome::Contained, "{}", record.message);
    let stored: Value =
        serde_json::from_str(&moto.role_policy("app-deployer", "DenyAll").await.unwrap()).unwrap();
    let userids: Vec<&str> = stored["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Condition"]["StringEquals"]["aws:userid"].as_str())
        .collect();
    assert_eq!(
        userids,
        [first.principal.principal_id.as_str(), second.as_str()]
    );

    // revoke-sessions on top: deny-session statements kept, a TokenIssueTime cut added.
    let revoke = StrategySettings {
        role: RoleStrategy::RevokeSessions,
        ..StrategySettings::default()
    };
    let raw = finding_for("tor-ip-caller.json", &first.principal).replace(
        "f353ac10ba5a767e4324b7000d29076d",
        "1c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b",
    );
    let record = responder(&moto, revoke, &counter).handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::SessionsRevoked),
        "{}",
        record.message
    );
    let stored: Value =
        serde_json::from_str(&moto.role_policy("app-deployer", "DenyAll").await.unwrap()).unwrap();
    let last = &stored["Statement"][2];
    assert_eq!(
        last["Sid"],
        "DeadboltRevokeSessions1c3e5a7b9d1f3a5c7e9b1d3f5a7c9e1b"
    );
    assert_eq!(
        (
            last["Effect"].as_str(),
            last["Action"].as_str(),
            last["Resource"].as_str()
        ),
        (Some("Deny"), Some("*"), Some("*"))
    );
    assert!(last["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .is_some_and(|t| t.len() == 20 && t.ends_with('Z')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_center_user_is_denied_in_the_permission_set_and_it_is_reprovisioned() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let sdk = moto.sdk_config(&moto.admin);
    let admin = aws_sdk_ssoadmin::Client::new(&sdk);
    let store = aws_sdk_identitystore::Client::new(&sdk);
    let instance = admin
        .list_instances()
        .send()
        .await
        .unwrap()
        .instances
        .unwrap()
        .remove(0);
    let (instance_arn, store_id) = (
        instance.instance_arn.unwrap(),
        instance.identity_store_id.unwrap(),
    );
    let ps_arn = admin
        .create_permission_set()
        .instance_arn(&instance_arn)
        .name("AdministratorAccess")
        // moto answers a number (3600) when no duration is given, which the SDK, following
        // the API's ISO 8601 string, refuses to read.
        .session_duration("PT1H")
        .send()
        .await
        .unwrap()
        .permission_set
        .unwrap()
        .permission_set_arn
        .unwrap();
    // A bystander permission set the lookup walks past.
    admin
        .create_permission_set()
        .instance_arn(&instance_arn)
        .name("ReadOnly")
        .session_duration("PT8H")
        .send()
        .await
        .unwrap();
    let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AdminsMayDoAnything","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    admin
        .put_inline_policy_to_permission_set()
        .instance_arn(&instance_arn)
        .permission_set_arn(&ps_arn)
        .inline_policy(existing)
        .send()
        .await
        .unwrap();
    let name = aws_sdk_identitystore::types::Name::builder()
        .given_name("Sara")
        .family_name("Example")
        .build();
    let user_id = store
        .create_user()
        .identity_store_id(&store_id)
        .user_name("sara")
        .display_name("Sara Example")
        .name(name)
        .send()
        .await
        .unwrap()
        .user_id;
    // A second user with a similar name must not be the one denied.
    store
        .create_user()
        .identity_store_id(&store_id)
        .user_name("sarah")
        .display_name("Sarah")
        .name(
            aws_sdk_identitystore::types::Name::builder()
                .given_name("Sarah")
                .family_name("Other")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let strategy = StrategySettings {
        identity_center: IdentityCenterStrategy::PermissionSetDeny,
        ..StrategySettings::default()
    };
    let counter = RequestCounter::default();
    let r = responder_with(
        &moto,
        strategy,
        &counter,
        Some(AwsIdentityCenter::from_conf(&sdk)),
    );
    let sso_session = Principal {
        name: "AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5".into(),
        user_type: "AssumedRole",
        access_key_id: "ASIA2MLRYQ7ZSARA5H3K".into(),
        principal_id: "AROA2MLRYQ7ZSS0ADM1NQ:sara".into(),
    };
    let raw = finding_for("cloudtrail-logging-disabled-sso.json", &sso_session);
    let record = r.handle(&raw).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Contained, Reason::IdentityCenterUserDenied),
        "{}",
        record.message
    );
    let policy: Value = serde_json::from_str(
        &admin
            .get_inline_policy_for_permission_set()
            .instance_arn(&instance_arn)
            .permission_set_arn(&ps_arn)
            .send()
            .await
            .unwrap()
            .inline_policy
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        policy["Statement"],
        json!([
            {"Sid": "AdminsMayDoAnything", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "DeadboltDenyIdcUser32eeae3963771621a5fa1490b88154ef", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"identitystore:UserId": user_id}}}
        ])
    );
    let provisioned = admin
        .list_permission_sets_provisioned_to_account()
        .instance_arn(&instance_arn)
        .account_id("123456789012")
        .send()
        .await
        .unwrap()
        .permission_sets
        .unwrap_or_default();
    assert!(provisioned.contains(&ps_arn), "{provisioned:?}");
    // IAM was never asked to change the AWSReservedSSO role: only read, for its path.
    assert!(
        counter
            .requests()
            .iter()
            .all(|r| !r.starts_with("iam:") || r == "iam:GetRole"),
        "{:?}",
        counter.requests()
    );

    // The operator's undo: dry-run changes nothing; unblock removes only deadbolt's statement.
    let inline = || async {
        admin
            .get_inline_policy_for_permission_set()
            .instance_arn(&instance_arn)
            .permission_set_arn(&ps_arn)
            .send()
            .await
            .unwrap()
            .inline_policy
            .unwrap_or_default()
    };
    let before = inline().await;
    let dry = cli(
        &moto,
        &[
            "unblock",
            "--reason",
            "e2e",
            "--sso-user",
            "sara",
            "--permission-set",
            "AdministratorAccess",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(dry["outcome"], "would_release", "{dry}");
    assert_eq!(inline().await, before);
    let undo = cli(
        &moto,
        &[
            "unblock",
            "--reason",
            "e2e",
            "--sso-user",
            "sara",
            "--permission-set",
            "AdministratorAccess",
            "--json",
        ],
    );
    assert_eq!(undo["outcome"], "released", "{undo}");
    assert_eq!(
        undo["identity_center"],
        json!({"user_name": "sara", "permission_set": "AdministratorAccess"})
    );
    let policy: Value = serde_json::from_str(&inline().await).unwrap();
    assert_eq!(
        policy["Statement"],
        json!([{"Sid": "AdminsMayDoAnything", "Effect": "Allow", "Action": "*", "Resource": "*"}])
    );
    // And by hand: block a user directly, then again (already there).
    let block = cli(
        &moto,
        &[
            "block",
            "--reason",
            "e2e",
            "--sso-user",
            "sarah",
            "--permission-set",
            "AdministratorAccess",
            "--json",
        ],
    );
    assert_eq!(block["outcome"], "contained", "{block}");
    let again = cli(
        &moto,
        &[
            "block",
            "--reason",
            "e2e",
            "--sso-user",
            "sarah",
            "--permission-set",
            "AdministratorAccess",
            "--json",
        ],
    );
    assert_eq!(again["outcome"], "already_contained", "{again}");
    let nobody = cli(
        &moto,
        &[
            "unblock",
            "--reason",
            "e2e",
            "--sso-user",
            "sara",
            "--permission-set",
            "AdministratorAccess",
            "--json",
        ],
    );
    assert_eq!(nobody["reason"], "not_contained", "{nobody}");
}

fn cli(moto: &Moto, args: &[&str]) -> Value {
    let out = moto.deadbolt(args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
