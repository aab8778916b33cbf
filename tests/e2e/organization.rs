//! One deadbolt in the GuardDuty administrator account, containing in a member account through
//! the member role. moto serves several accounts only without `MOTO_ACCOUNT_ID` and with
//! authentication off ([`Moto::start_organization`]): there, where the policy lands proves the
//! account acted in. `AssumeRole` refused is proven on the authenticated single-account moto,
//! where IAM policies are evaluated.

use std::process::{Command, Output};

use aws_sdk_iam::config::Credentials;
use deadbolt_e2e::runtime_api::{built_binary, LambdaHarness};
use deadbolt_e2e::{fixture_path, Moto};

const MEMBER: &str = "111111111111";
const MEMBER_ROLE: &str = "arn:aws:iam::111111111111:role/deadbolt-member";

/// The built CLI as `credentials` (the administrator by default) with `extra` variables.
fn deadbolt_as(
    moto: &Moto,
    credentials: Option<&Credentials>,
    extra: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut command = Command::new(built_binary("deadbolt"));
    command.args(args).env_clear();
    for (k, v) in moto.binary_env() {
        command.env(k, v);
    }
    if let Some(c) = credentials {
        command
            .env("AWS_ACCESS_KEY_ID", c.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", c.secret_access_key());
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in extra {
        command.env(k, v);
    }
    command.output().expect("deadbolt runs")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `mallory` in the member account and, to prove nothing is written there, in the
/// administrator's too; the member role exists in the member account.
async fn organization_with_mallory() -> (Moto, aws_sdk_iam::Client, aws_sdk_iam::Client) {
    let moto = Moto::start_organization().await;
    let member = moto.member_iam(MEMBER).await;
    member
        .create_role()
        .role_name("deadbolt-member")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    member
        .create_user()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    let admin = moto.iam(&moto.admin, None);
    admin
        .create_user()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    (moto, member, admin)
}

async fn deny_all_of(iam: &aws_sdk_iam::Client, user: &str) -> Option<String> {
    iam.get_user_policy()
        .user_name(user)
        .policy_name("DenyAll")
        .send()
        .await
        .ok()
        .map(|o| o.policy_document)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_contains_a_members_user_in_the_member_account_only() {
    deadbolt_e2e::require_tools!(MotoServer);
    let (moto, member, admin) = organization_with_mallory().await;
    let file = fixture_path("member-account-finding.json");
    let file = file.to_str().unwrap();
    moto.confirm(&std::fs::read_to_string(file).unwrap());

    // Not among member_accounts: another account's finding, untouched.
    let foreign = json(&deadbolt_as(
        &moto,
        None,
        &[],
        &["replay", file, "--enforce", "--json"],
    ));
    assert_eq!(foreign["reason"], "foreign_account", "{foreign}");
    assert_eq!(deny_all_of(&member, "mallory").await, None);

    let out = deadbolt_as(
        &moto,
        None,
        &[],
        &["replay", file, "--enforce", "--json", "--account", MEMBER],
    );
    let record = json(&out);
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(record["acted_in_account"], MEMBER);
    assert_eq!(record["member_role"], MEMBER_ROLE);
    assert!(deny_all_of(&member, "mallory").await.is_some());
    assert_eq!(
        deny_all_of(&admin, "mallory").await,
        None,
        "nothing is written in the administrator's account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responder_lambda_contains_a_listed_member_and_leaves_others_alone() {
    deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
    let (moto, member, admin) = organization_with_mallory().await;
    let listed = std::fs::read_to_string(fixture_path("member-account-finding.json")).unwrap();
    // The same finding in an account that is not listed (its ARN follows the account).
    let unlisted = listed.replace(MEMBER, "222222222222").replace(
        "5ac7a4e1c3f04e0b8f1d2c3b4a596870",
        "6bd8b5f2d4e15f1c9a2e3d4c5b6a7981",
    );
    moto.confirm(&listed);
    moto.confirm(&unlisted);
    let mut env = moto.binary_env();
    env.push(("DEADBOLT_MODE", "enforce".into()));
    env.push(("DEADBOLT_MEMBER_ACCOUNTS", MEMBER.into()));
    let log = std::env::temp_dir().join(format!("deadbolt-org-{}.log", std::process::id()));
    let lambda = LambdaHarness::start(&built_binary("responder"), &env, log);
    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = lambda.invoke(&listed);
        let second = lambda.invoke(&unlisted);
        (first, second)
    })
    .await
    .unwrap();
    let record = first.expect("invocation succeeds");
    assert_eq!(record["outcome"], "contained", "{record}");
    assert_eq!(record["acted_in_account"], MEMBER);
    assert_eq!(record["member_role"], MEMBER_ROLE);
    assert!(deny_all_of(&member, "mallory").await.is_some());
    assert_eq!(deny_all_of(&admin, "mallory").await, None);
    let other = second.expect("a foreign account is a decision, not an error");
    assert_eq!(other["reason"], "foreign_account", "{other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_block_list_and_unblock_in_a_member_account() {
    deadbolt_e2e::require_tools!(MotoServer);
    let (moto, member, admin) = organization_with_mallory().await;
    let block = deadbolt_as(
        &moto,
        None,
        &[],
        &[
            "block",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--account",
            MEMBER,
            "--json",
        ],
    );
    assert!(
        block.status.success(),
        "{}",
        String::from_utf8_lossy(&block.stderr)
    );
    assert_eq!(json(&block)["outcome"], "contained");
    assert!(deny_all_of(&member, "mallory").await.is_some());
    assert_eq!(deny_all_of(&admin, "mallory").await, None);

    let listed = json(&deadbolt_as(
        &moto,
        None,
        &[],
        &["list", "users", "--blocked", "--account", MEMBER, "--json"],
    ));
    assert_eq!(listed[0]["name"], "mallory", "{listed}");

    // Every account: the administrator's own and the member (an account whose role refuses
    // is in the denied test below, where moto evaluates IAM policies).
    let all = deadbolt_as(
        &moto,
        None,
        &[("DEADBOLT_MEMBER_ACCOUNTS", MEMBER)],
        &["list", "users", "--blocked", "--all-accounts", "--json"],
    );
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let all = json(&all);
    assert_eq!(all["errors"], serde_json::json!([]), "{all}");
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{all}");
    assert_eq!(items[0]["account"], MEMBER);
    assert_eq!(items[0]["name"], "mallory");

    let unblock = deadbolt_as(
        &moto,
        None,
        &[],
        &[
            "unblock",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--account",
            MEMBER,
            "--json",
        ],
    );
    assert!(unblock.status.success());
    assert_eq!(deny_all_of(&member, "mallory").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_assume_role_is_one_clear_failure_naming_the_role_and_account() {
    deadbolt_e2e::require_tools!(MotoServer);
    // Authentication on: an identity without sts:AssumeRole is refused, as in AWS.
    let moto = Moto::start().await;
    let hub = moto.create_attacker_user("deadbolt-hub").await;
    // Everything deadbolt needs in its own account, but not sts:AssumeRole.
    moto.iam(&moto.admin, None)
        .put_user_policy()
        .user_name("deadbolt-hub")
        .policy_name("hub-without-assume-role")
        .policy_document(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["iam:*", "ssm:GetParameter*", "sts:GetCallerIdentity"], "Resource": "*"}]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let file = fixture_path("member-account-finding.json");
    let file = file.to_str().unwrap();
    moto.confirm(&std::fs::read_to_string(file).unwrap());

    let replay = deadbolt_as(
        &moto,
        Some(&hub.credentials),
        &[],
        &["replay", file, "--enforce", "--json", "--account", MEMBER],
    );
    let record = json(&replay);
    assert_eq!(record["outcome"], "failed", "{record}");
    assert_eq!(record["reason"], "member_role_unavailable");
    assert_eq!(record["retryable"], false, "AccessDenied is not retried");
    let message = record["message"].as_str().unwrap();
    // moto's STS error body has no code (the status says 403); the hint is only given for an
    // access-denied failure, so it proves the kind.
    assert!(
        message.contains(MEMBER_ROLE)
            && message.contains("member account 111111111111")
            && message.contains("is infra/member-role.yaml deployed in that account"),
        "{message}"
    );

    let block = deadbolt_as(
        &moto,
        Some(&hub.credentials),
        &[],
        &[
            "block",
            "--reason",
            "e2e",
            "--user",
            "mallory",
            "--account",
            MEMBER,
        ],
    );
    assert_eq!(block.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&block.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "could not assume {MEMBER_ROLE} in account {MEMBER}"
        )),
        "{stderr}"
    );

    let all = deadbolt_as(
        &moto,
        Some(&hub.credentials),
        &[("DEADBOLT_MEMBER_ACCOUNTS", MEMBER)],
        &["list", "users", "--all-accounts", "--json"],
    );
    assert_eq!(
        all.status.code(),
        Some(1),
        "a failed account is reported in the exit code"
    );
    let all = json(&all);
    assert_eq!(all["errors"][0]["account"], MEMBER, "{all}");
    assert!(all["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("could not assume"));
    assert!(
        all["items"].as_array().is_some_and(|i| !i.is_empty()),
        "the administrator's own account is still listed: {all}"
    );
}
