//! Every finding is verified with GuardDuty before anything is decided: a forged event (unknown
//! to GuardDuty), a tampered one (GuardDuty's copy names someone else), one archived since, or
//! a stale one never locks out the principal the event names; the real finding does.

mod common;
use common::*;

use std::sync::Arc;

use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryGuardDuty, MemoryPolicies};
use deadbolt_core::ports::{AwsError, AwsErrorKind, GuardDutyFindings, InlinePolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{
    parse_event, ContainmentTarget, Outcome, Ports, Reason, Responder, TargetKind,
};
use serde_json::json;

fn enforce() -> Settings {
    Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    }
}
fn user(name: &str) -> ContainmentTarget {
    ContainmentTarget::new(TargetKind::User, name).unwrap()
}
fn now_rfc3339(hours_ago: i64) -> String {
    deadbolt_core::strategy::format_rfc3339_utc(
        deadbolt_core::clock::now_ms() / 1000 - hours_ago * 3600,
    )
}
/// GuardDuty's copy of `raw`'s finding, updated `hours_ago`, with `edits` (JSON pointers into
/// the finding).
fn copy_of(
    raw: &str,
    hours_ago: i64,
    edits: &[(&str, serde_json::Value)],
) -> deadbolt_core::Finding {
    let mut v = serde_json::to_value(parse_event(raw).unwrap().detail).unwrap();
    v["updatedAt"] = json!(now_rfc3339(hours_ago));
    for (pointer, value) in edits {
        *v.pointer_mut(pointer).unwrap() = value.clone();
    }
    serde_json::from_value(v).unwrap()
}
/// A responder whose GuardDuty knows only what the test puts there.
fn verifying(
    policies: &MemoryPolicies,
) -> (
    Configured<&MemoryPolicies, FixedIdentity>,
    Arc<MemoryGuardDuty>,
) {
    let mut c = Configured::new(enforce(), policies, FixedIdentity::new(ACCOUNT, OWN_ARN));
    c.echo = false;
    let gd = c.guardduty.clone();
    (c, gd)
}
fn writes(p: &MemoryPolicies) -> Vec<String> {
    p.calls()
        .into_iter()
        .filter(|c| c.contains(":Put"))
        .collect()
}

#[tokio::test]
async fn the_real_finding_locks_its_principal_out_on_guarddutys_word() {
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let (r, gd) = verifying(&p);
    let raw = fixture("cloudtrail-logging-disabled.json");
    gd.insert(copy_of(&raw, 1, &[]));
    let record = r.handle(&raw).await;
    assert_eq!(
        (
            record.outcome,
            record.reason,
            record.verified_with_guardduty
        ),
        (Outcome::Contained, Reason::DenyAllAttached, true)
    );
    assert!(record.event_mismatch.is_empty());
    // One GetFindings, read and write: verifying added no IAM call.
    assert_eq!(gd.calls(), 1);
    assert_eq!(
        p.calls(),
        [
            "iam:GetUserPolicy user/mallory",
            "iam:PutUserPolicy user/mallory"
        ]
    );
}

#[tokio::test]
async fn a_forged_finding_unknown_to_guardduty_writes_nothing() {
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let (r, gd) = verifying(&p);
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(
        (record.outcome, record.reason),
        (Outcome::Rejected, Reason::FindingNotInGuardduty)
    );
    assert!(!record.retryable);
    assert_eq!(gd.calls(), 1);
    assert!(writes(&p).is_empty(), "{:?}", p.calls());
    assert!(p.policy(&user("mallory"), "DenyAll").is_none());
}

#[tokio::test]
async fn a_tampered_finding_is_decided_on_guarddutys_copy_and_says_what_differed() {
    let p = MemoryPolicies::new()
        .with_entity(&user("mallory"))
        .with_entity(&user("eve"));
    let (r, gd) = verifying(&p);
    // The event names mallory (an admin the forger wants locked out); GuardDuty's copy names eve.
    let raw = fixture("cloudtrail-logging-disabled.json");
    gd.insert(copy_of(
        &raw,
        1,
        &[("/resource/accessKeyDetails/userName", json!("eve"))],
    ));
    let record = r.handle(&raw).await;
    assert_eq!(record.outcome, Outcome::Contained, "{}", record.message);
    assert_eq!(
        record.principal.as_ref().unwrap().name.as_deref(),
        Some("eve")
    );
    assert_eq!(record.event_mismatch.len(), 1);
    assert_eq!(
        record.event_mismatch[0].field,
        "resource.accessKeyDetails.userName"
    );
    assert_eq!(record.event_mismatch[0].event.as_deref(), Some("mallory"));
    assert_eq!(record.event_mismatch[0].guardduty.as_deref(), Some("eve"));
    assert!(record.message.contains("differed from GuardDuty's copy"));
    assert!(
        p.policy(&user("mallory"), "DenyAll").is_none(),
        "the named admin is untouched"
    );
    assert!(p.policy(&user("eve"), "DenyAll").is_some());
    // mallory's policy was read speculatively while GuardDuty answered; only eve was written.
    assert_eq!(writes(&p), ["iam:PutUserPolicy user/eve"]);
}

#[tokio::test]
async fn archived_since_the_event_or_stale_or_unknown_type_leave_the_principal_alone() {
    let raw = fixture("cloudtrail-logging-disabled.json");
    let cases: Vec<(deadbolt_core::Finding, Reason)> = vec![
        (
            copy_of(&raw, 1, &[("/service/archived", json!(true))]),
            Reason::ArchivedFinding,
        ),
        (copy_of(&raw, 72, &[]), Reason::StaleFinding),
        (
            copy_of(
                &raw,
                1,
                &[("/type", json!("Recon:IAMUser/UserPermissions"))],
            ),
            Reason::FindingTypeNotEnabled,
        ),
    ];
    for (copy, reason) in cases {
        let p = MemoryPolicies::new().with_entity(&user("mallory"));
        let (r, gd) = verifying(&p);
        gd.insert(copy);
        let record = r.handle(&raw).await;
        assert_eq!(
            (record.outcome, record.reason),
            (Outcome::Skipped, reason),
            "{}",
            record.message
        );
        assert!(writes(&p).is_empty());
    }
}

#[tokio::test]
async fn max_finding_age_is_a_setting() {
    let raw = fixture("cloudtrail-logging-disabled.json");
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let (mut r, gd) = verifying(&p);
    r.settings.max_finding_age_secs = 4 * 86_400;
    gd.insert(copy_of(&raw, 72, &[]));
    assert_eq!(r.handle(&raw).await.outcome, Outcome::Contained);
}

#[tokio::test]
async fn guardduty_unreachable_is_failed_and_retryable_denied_is_failed_and_permanent() {
    for (kind, retryable) in [
        (AwsErrorKind::Throttled, true),
        (AwsErrorKind::Unavailable, true),
        (AwsErrorKind::AccessDenied, false),
    ] {
        let p = MemoryPolicies::new().with_entity(&user("mallory"));
        let (r, gd) = verifying(&p);
        gd.fail_with(Some(AwsError::new(kind, "X", "injected")));
        let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
        assert_eq!(
            (record.outcome, record.reason, record.retryable),
            (Outcome::Failed, Reason::GuarddutyUnavailable, retryable)
        );
        assert!(writes(&p).is_empty());
    }
}

#[tokio::test]
async fn dry_run_verifies_too_so_the_record_is_true() {
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let (mut r, gd) = verifying(&p);
    r.settings.mode = Mode::DryRun;
    let record = r.handle(&fixture("cloudtrail-logging-disabled.json")).await;
    assert_eq!(record.reason, Reason::FindingNotInGuardduty);
    assert_eq!(gd.calls(), 1);
    assert!(p.calls().is_empty(), "dry-run makes no IAM call");
}

#[tokio::test]
async fn without_guardduty_nothing_is_enforced() {
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let r = Responder::new(Ports::iam(&p, FixedIdentity::new(ACCOUNT, OWN_ARN)));
    let record = r
        .handle(&fixture("cloudtrail-logging-disabled.json"), &enforce())
        .await;
    assert_eq!(
        (
            record.outcome,
            record.reason,
            record.verified_with_guardduty
        ),
        (Outcome::WouldContain, Reason::NotVerified, false)
    );
    assert!(p.calls().is_empty());
}

/// IAM that tells GuardDuty when the policy read has started, and a GuardDuty that answers
/// only once it has: if the engine asked GuardDuty first and read the policy after, the
/// GuardDuty call would never be told and would fail; answering proves the two overlap.
struct SignallingIam<'a> {
    inner: &'a MemoryPolicies,
    read_started: Arc<tokio::sync::Notify>,
}

impl InlinePolicies for SignallingIam<'_> {
    async fn get_policy(
        &self,
        t: &ContainmentTarget,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        self.read_started.notify_one();
        self.inner.get_policy(t, name).await
    }
    async fn put_policy(
        &self,
        t: &ContainmentTarget,
        name: &str,
        doc: &str,
    ) -> Result<(), AwsError> {
        self.inner.put_policy(t, name, doc).await
    }
    async fn delete_policy(&self, t: &ContainmentTarget, name: &str) -> Result<(), AwsError> {
        self.inner.delete_policy(t, name).await
    }
}

impl deadbolt_core::ports::AccessKeys for SignallingIam<'_> {
    async fn access_key_active(&self, u: &str, k: &str) -> Result<Option<bool>, AwsError> {
        deadbolt_core::ports::AccessKeys::access_key_active(self.inner, u, k).await
    }
    async fn set_access_key_status(&self, u: &str, k: &str, a: bool) -> Result<(), AwsError> {
        self.inner.set_access_key_status(u, k, a).await
    }
}

impl deadbolt_core::ports::ManagedPolicies for SignallingIam<'_> {
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

struct WaitingGuardDuty {
    inner: MemoryGuardDuty,
    read_started: Arc<tokio::sync::Notify>,
}

impl GuardDutyFindings for WaitingGuardDuty {
    async fn get_finding(&self, id: &str) -> Result<Option<deadbolt_core::Finding>, AwsError> {
        // The bound only keeps a broken engine from hanging the test; it measures nothing.
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.read_started.notified(),
        )
        .await
        {
            Ok(()) => self.inner.get_finding(id).await,
            Err(_) => Err(AwsError::new(
                AwsErrorKind::Other,
                "NotConcurrent",
                "the policy read never started while GuardDuty was asked",
            )),
        }
    }
}

#[tokio::test]
async fn the_policy_read_runs_while_guardduty_answers() {
    let p = MemoryPolicies::new().with_entity(&user("mallory"));
    let read_started = Arc::new(tokio::sync::Notify::new());
    let raw = fixture("cloudtrail-logging-disabled.json");
    let gd = WaitingGuardDuty {
        inner: MemoryGuardDuty::new(),
        read_started: read_started.clone(),
    };
    gd.inner.insert(copy_of(&raw, 1, &[]));
    let r = Responder::new(Ports {
        iam: SignallingIam {
            inner: &p,
            read_started,
        },
        identity: FixedIdentity::new(ACCOUNT, OWN_ARN),
        identity_center: None::<deadbolt_core::ports::NoIdentityCenter>,
        shared_breaker: None::<deadbolt_core::ports::NoSharedBreaker>,
        guardduty: Some(gd),
        held: None::<deadbolt_core::ports::NoHeldFindings>,
    });
    let record = r.handle(&raw, &enforce()).await;
    assert_eq!(record.outcome, Outcome::Contained, "{}", record.message);
    // Still one read and one write: the early read was used, not repeated.
    assert_eq!(
        p.calls(),
        [
            "iam:GetUserPolicy user/mallory",
            "iam:PutUserPolicy user/mallory"
        ]
    );
}
