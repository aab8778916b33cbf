//! approve mode end to end on moto with IAM authentication: a finding leaves the attacker's
//! access intact and one pending approval (with its EventBridge Scheduler one-time schedule);
//! `deadbolt approve` locks the attacker out and the ledger names the approver; `reject` and
//! an expiry with `drop` write nothing; an expiry with `contain` locks the attacker out; an
//! approval of a finding archived meanwhile is refused.
//!
//! moto's EventBridge Scheduler, with authentication on, refuses the signature of every GET
//! and DELETE (moto 5's signature check; boto3 gets the same 403), so the schedules live on a
//! second moto server on loopback without authentication, reached through the SDK's service
//! endpoint (`AWS_ENDPOINT_URL_SCHEDULER` for the CLI). IAM, the tables and the ledger are on
//! the authenticated one.

use deadbolt_aws::{
    AwsIam, DynamoBreaker, DynamoHeldFindings, DynamoLedger, ExpirySchedules, StsIdentity,
};
use deadbolt_core::approval::{expiry_event_for, OnExpiry};
use deadbolt_core::config::Mode;
use deadbolt_core::memory::Configured;
use deadbolt_core::ports::{HeldFindings, NoIdentityCenter, NoSharedBreaker, SharedBreaker};
use deadbolt_core::settings::Settings;
use deadbolt_core::{Outcome, Ports, Reason};
use deadbolt_e2e::{finding_for, AttackerCredentials, Moto};

const TABLE: &str = "deadbolt-breaker";
const LEDGER: &str = "deadbolt-ledger";
const GROUP: &str = "deadbolt-approvals";
const RESPONDER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:deadbolt-responder";

/// The fixture's finding about `who`, under a finding id of its own.
fn finding(who: &AttackerCredentials, id: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&finding_for(
        "cloudtrail-logging-disabled.json",
        &who.principal,
    ))
    .unwrap();
    v["detail"]["id"] = id.into();
    v["detail"]["arn"] =
        format!("arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/{id}").into();
    v.to_string()
}

fn scheduler(moto: &Moto) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(&moto.sdk_config(&moto.admin))
}

/// The unauthenticated moto the schedules live on, with the group created.
async fn schedules() -> Moto {
    let moto = Moto::start_with_auth(false).await;
    scheduler(&moto)
        .create_schedule_group()
        .name(GROUP)
        .send()
        .await
        .unwrap();
    moto
}

type Responder = Configured<
    AwsIam,
    StsIdentity,
    NoIdentityCenter,
    NoSharedBreaker,
    DynamoHeldFindings,
    deadbolt_core::ports::NoMemberAccounts,
    Option<DynamoLedger>,
>;

/// The responder as deployed in approve mode: pending approvals on the breaker table, their
/// expiry scheduled in `GROUP`, containments in the ledger.
fn responder(moto: &Moto, schedules: &Moto, settings: Settings) -> Responder {
    let sdk = moto.sdk_config(&moto.admin);
    let store = DynamoHeldFindings::from_conf(&sdk, TABLE).scheduling(ExpirySchedules {
        client: scheduler(schedules),
        group: GROUP.into(),
        target_arn: std::sync::Arc::new(std::sync::OnceLock::from(RESPONDER_ARN.to_string())),
        role_arn: "arn:aws:iam::123456789012:role/deadbolt/approval-scheduler".into(),
        dead_letter: None,
    });
    Configured::with_ports(
        settings,
        Ports {
            iam: AwsIam::new(moto.iam(&moto.admin, None)),
            identity: StsIdentity::new(moto.sts(&moto.admin, None)),
            identity_center: None,
            shared_breaker: None,
            guardduty: None,
            held: Some(store),
        },
    )
    .with_ledger(
        Some(DynamoLedger::from_conf(&sdk, LEDGER)),
        "function:deadbolt-responder",
    )
}

fn approve_mode(expires_after: &str, on_expiry: OnExpiry) -> Settings {
    let mut s = Settings {
        mode: Mode::Approve,
        ..Settings::default()
    };
    s.set("approval.expires_after", expires_after).unwrap();
    s.set("approval.on_expiry", on_expiry.as_str()).unwrap();
    s
}

/// The CLI against moto, the breaker table and the ledger named, the schedule group known.
fn cli(moto: &Moto, schedules: &Moto, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--table", TABLE]);
    moto.deadbolt_with(
        &all,
        &[
            ("DEADBOLT_LEDGER_TABLE", LEDGER),
            ("DEADBOLT_APPROVAL_SCHEDULE_GROUP", GROUP),
            ("AWS_ENDPOINT_URL_SCHEDULER", &schedules.endpoint),
        ],
    )
}

async fn schedule_exists(moto: &Moto, id: &str) -> bool {
    scheduler(moto)
        .get_schedule()
        .name(format!("deadbolt-approval-{id}"))
        .group_name(GROUP)
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_mode_waits_for_a_person_and_does_exactly_what_they_answer() {
    // On the heap: this test's future is large, and the test thread's stack is not.
    Box::pin(async move {
        deadbolt_e2e::require_tools!(MotoServer, CargoLambda);
        let moto = Moto::start().await;
        moto.create_breaker_table(TABLE).await;
        moto.create_breaker_table(LEDGER).await;
        let sch = schedules().await;
        let sdk = moto.sdk_config(&moto.admin);
        let store = DynamoHeldFindings::from_conf(&sdk, TABLE);
        let mallory = moto.create_attacker_user("mallory").await;
        let bob = moto.create_attacker_user("bob").await;
        let erin = moto.create_attacker_user("erin").await;

        // 1. The finding: nothing written, the attacker's call still works, one pending approval
        //    and its schedule (at the expiry, the responder as target, the typed event as input).
        let r = responder(&moto, &sch, approve_mode("24h", OnExpiry::Drop));
        let event = finding(&mallory, "aaaa0000000000000000000000000001");
        let record = r.handle(&event).await;
        assert_eq!(
            (record.outcome, record.reason),
            (Outcome::PendingApproval, Reason::AwaitingApproval),
            "{}",
            record.message
        );
        assert_eq!(
            moto.probe(&mallory).await,
            Ok(()),
            "approve mode writes nothing"
        );
        assert_eq!(moto.user_policy("mallory", "DenyAll").await, None);
        let id = "aaaa0000000000000000000000000001";
        let schedule = scheduler(&sch)
            .get_schedule()
            .name(format!("deadbolt-approval-{id}"))
            .group_name(GROUP)
            .send()
            .await
            .expect("one schedule per pending approval");
        assert!(
            schedule
                .schedule_expression()
                .is_some_and(|e| e.starts_with("at(")),
            "{schedule:?}"
        );
        let target = schedule.target().expect("a target");
        assert_eq!(target.arn(), RESPONDER_ARN);
        assert_eq!(target.input(), Some(expiry_event_for(id).as_str()));

        let listed = cli(&moto, &sch, &["pending", "--json"]);
        assert!(listed.status.success(), "{listed:?}");
        let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["id"], id);
        assert_eq!(listed[0]["target"], "user/mallory");
        assert_eq!(listed[0]["on_expiry"], "drop");
        assert_eq!(listed[0]["expired"], false);

        // 1b. An approval takes a slot of the breaker's shared hourly count like the responder's
        //     own containment: with this hour's 10 slots taken, approving writes nothing and the
        //     approval stays pending.
        moto.confirm(&event);
        let shared = DynamoBreaker::from_conf(&sdk, TABLE);
        let now = deadbolt_core::clock::now_ms();
        // This hour and the next, so the test cannot straddle an hour boundary.
        for at in [now, now + 3_600_000] {
            for _ in 0..10 {
                assert!(shared.try_admit(10, at).await.unwrap());
            }
            assert!(!shared.try_admit(10, at).await.unwrap(), "full");
        }
        let out = cli(&moto, &sch, &["approve", id, "--reason", "INC-7", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not contained; the approval stays pending"),
            "{stderr}"
        );
        let refused: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(refused["outcome"], "would_contain", "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.contains("circuit breaker")),
            "{refused}"
        );
        assert_eq!(
            moto.probe(&mallory).await,
            Ok(()),
            "refused: nothing written"
        );
        assert_eq!(store.pending().await.unwrap().len(), 1);
        assert!(
            schedule_exists(&sch, id).await,
            "still pending: still scheduled"
        );
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        for at in [now, now + 3_600_000] {
            dynamo
                .delete_item()
                .table_name(TABLE)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(deadbolt_aws::hour_bucket(at).0),
                )
                .send()
                .await
                .unwrap();
        }

        // 2. Approved: re-verified with GuardDuty, contained, the approver in the ledger, the
        //    approval and its schedule gone.
        let out = cli(
            &moto,
            &sch,
            &[
                "approve",
                id,
                "--reason",
                "INC-7: confirmed with the owner",
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let approved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(approved["outcome"], "contained", "{approved}");
        assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
        let history = moto.deadbolt_with(
            &[
                "history",
                "--principal",
                "user/mallory",
                "--json",
                "--ledger-table",
                LEDGER,
            ],
            &[],
        );
        let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
        assert_eq!(history[0]["action"], "contain", "{history}");
        assert_eq!(
            history[0]["actor"],
            format!("deadbolt approve by {}", moto.admin_arn).as_str()
        );
        assert_eq!(history[0]["reason"], "INC-7: confirmed with the owner");
        assert!(store.pending().await.unwrap().is_empty());
        assert!(
            !schedule_exists(&sch, id).await,
            "answered: its schedule is deleted"
        );

        // 3. Rejected: recorded with who and why, nothing written.
        let bob_event = finding(&bob, "bbbb0000000000000000000000000002");
        assert_eq!(r.handle(&bob_event).await.outcome, Outcome::PendingApproval);
        let out = cli(
            &moto,
            &sch,
            &[
                "reject",
                "bbbb0000000000000000000000000002",
                "--reason",
                "pentest window",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(moto.probe(&bob).await, Ok(()), "a rejection writes nothing");
        assert!(store.pending().await.unwrap().is_empty());
        let history = moto.deadbolt_with(
            &[
                "history",
                "--principal",
                "user/bob",
                "--json",
                "--ledger-table",
                LEDGER,
            ],
            &[],
        );
        let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
        assert_eq!(history[0]["action"], "reject", "{history}");
        assert_eq!(history[0]["reason"], "pentest window");
        assert_eq!(
            history[0]["actor"],
            format!("deadbolt reject by {}", moto.admin_arn).as_str()
        );

        // 4. Archived meanwhile: the approval is refused, nothing written, the plan dropped.
        let erin_event = finding(&erin, "eeee0000000000000000000000000005");
        assert_eq!(
            r.handle(&erin_event).await.outcome,
            Outcome::PendingApproval
        );
        moto.confirm(&erin_event);
        assert!(moto
            .guardduty
            .set_archived("eeee0000000000000000000000000005", true));
        let out = cli(
            &moto,
            &sch,
            &[
                "approve",
                "eeee0000000000000000000000000005",
                "--reason",
                "go",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("refused") && stderr.contains("archived_finding"),
            "{stderr}"
        );
        assert_eq!(moto.probe(&erin).await, Ok(()));
        assert!(store.pending().await.unwrap().is_empty());

        // An unknown id is refused with a clear message.
        let out = cli(&moto, &sch, &["approve", "ffff", "--reason", "x"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no pending approval ffff"));
    })
    .await;
}

/// The window closes: `drop` forgets the plan and writes nothing; `contain` contains, driven
/// by the event the schedule sends the responder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_expiry_drop_writes_nothing_and_contain_locks_the_attacker_out() {
    // On the heap: this test's future is large, and the test thread's stack is not.
    Box::pin(async move {
        deadbolt_e2e::require_tools!(MotoServer);
        let moto = Moto::start().await;
        moto.create_breaker_table(TABLE).await;
        moto.create_breaker_table(LEDGER).await;
        let sch = schedules().await;
        let store = DynamoHeldFindings::from_conf(&moto.sdk_config(&moto.admin), TABLE);
        let carol = moto.create_attacker_user("carol").await;
        let dave = moto.create_attacker_user("dave").await;

        // A one-minute window, as short as the settings allow: it closes within the minute of
        // slack the expiry handler grants the scheduler's clock.
        let dropping = responder(&moto, &sch, approve_mode("1m", OnExpiry::Drop));
        let id = "cccc0000000000000000000000000003";
        assert_eq!(
            dropping.handle(&finding(&carol, id)).await.outcome,
            Outcome::PendingApproval
        );
        let expired = dropping.handle(&expiry_event_for(id)).await;
        assert_eq!(
            (expired.outcome, expired.reason),
            (Outcome::Skipped, Reason::ApprovalExpired),
            "{}",
            expired.message
        );
        assert_eq!(moto.probe(&carol).await, Ok(()));
        assert!(store.pending().await.unwrap().is_empty());

        let containing = responder(&moto, &sch, approve_mode("1m", OnExpiry::Contain));
        let id = "dddd0000000000000000000000000004";
        let pending = containing.handle(&finding(&dave, id)).await;
        assert_eq!(
            pending.outcome,
            Outcome::PendingApproval,
            "{}",
            pending.message
        );
        assert_eq!(
            moto.probe(&dave).await,
            Ok(()),
            "nothing before the window closes"
        );
        let expired = containing.handle(&expiry_event_for(id)).await;
        assert_eq!(expired.outcome, Outcome::Contained, "{}", expired.message);
        assert!(expired
            .message
            .contains("expired unanswered with on_expiry contain"));
        assert_eq!(moto.probe(&dave).await, Err("AccessDenied".to_string()));
        assert!(store.pending().await.unwrap().is_empty());
        // The same expiry event again (Scheduler retried): nothing left to do.
        let again = containing.handle(&expiry_event_for(id)).await;
        assert_eq!(
            (again.outcome, again.reason),
            (Outcome::Skipped, Reason::ApprovalExpired)
        );
    })
    .await;
}
