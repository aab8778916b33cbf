//! The enricher's whole path over the walkthrough's fixtures: investigate, publish, record.

use std::path::PathBuf;
use std::sync::Mutex;

use deadbolt_core::followup::NoFollowUp;
use deadbolt_core::settings::Settings;
use deadbolt_trail::{
    Enricher, EnrichmentOutcome, EnrichmentReason, FileSource, InvestigationOptions, Limits,
    Notifier, NotifyError,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[derive(Default)]
struct Inbox {
    messages: Mutex<Vec<(String, String)>>,
    fail: bool,
}

impl Notifier for Inbox {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        if self.fail {
            return Err(NotifyError("NotFound: Topic does not exist".into()));
        }
        self.messages
            .lock()
            .unwrap()
            .push((subject.into(), message.into()));
        Ok(())
    }
}

fn enricher(inbox: Inbox) -> Enricher<FileSource, Inbox, NoFollowUp> {
    Enricher::new(
        FileSource::new(fixtures().join("cloudtrail")),
        Some(inbox),
        NoFollowUp,
        InvestigationOptions::default(),
        Limits::default(),
    )
}

fn scenario_event() -> String {
    std::fs::read_to_string(fixtures().join("scenario/finding.json")).unwrap()
}

#[tokio::test]
async fn investigates_and_publishes_a_summary_that_names_who_did_it() {
    let e = enricher(Inbox::default());
    let record = e
        .handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    assert_eq!(
        (record.outcome, record.reason),
        (
            EnrichmentOutcome::Investigated,
            EnrichmentReason::Investigated
        )
    );
    assert!(record.published, "{:?}", record.publish_error);
    let report = record.report.as_ref().unwrap();
    assert!(
        report.origin_summary.contains("sara"),
        "{}",
        report.origin_summary
    );
    let json: serde_json::Value = serde_json::to_value(&record).unwrap();
    assert_eq!(json["finding_id"], "5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3");
    assert_eq!(
        (&json["outcome"], &json["reason"]),
        (&"investigated".into(), &"investigated".into())
    );
}

#[tokio::test]
async fn the_published_message_is_the_human_summary() {
    let inbox = Inbox::default();
    let e = Enricher::new(
        FileSource::new(fixtures().join("cloudtrail")),
        Some(&inbox),
        NoFollowUp,
        InvestigationOptions::default(),
        Limits::default(),
    );
    e.handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    let messages = inbox.messages.lock().unwrap();
    assert_eq!(messages.len(), 1);
    let (subject, body) = &messages[0];
    assert!(
        subject.starts_with("deadbolt: Stealth:IAMUser/CloudTrailLoggingDisabled by "),
        "{subject}"
    );
    assert!(
        subject.contains("sara") && subject.len() <= 100,
        "{subject}"
    );
    for needle in [
        "StopLogging",
        "DemoRole1",
        "AttachRolePolicy",
        "AccessDenied",
    ] {
        assert!(body.contains(needle), "summary lacks {needle}:\n{body}");
    }
}

#[tokio::test]
async fn a_failed_publish_keeps_the_report_and_says_why() {
    let e = enricher(Inbox {
        fail: true,
        ..Inbox::default()
    });
    let record = e
        .handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    assert_eq!(record.outcome, EnrichmentOutcome::Investigated);
    assert!(!record.published);
    assert!(record
        .publish_error
        .unwrap()
        .contains("Topic does not exist"));
    assert!(record.report.is_some());
}

#[tokio::test]
async fn samples_non_iam_and_malformed_events_are_not_investigated() {
    let e = enricher(Inbox::default());
    let sample = std::fs::read_to_string(fixtures().join("guardduty/sample-finding.json")).unwrap();
    let ec2 = std::fs::read_to_string(fixtures().join("guardduty/ec2-finding.json")).unwrap();
    for (raw, outcome, reason) in [
        (sample.as_str(), "skipped", "sample_finding"),
        (ec2.as_str(), "skipped", "not_iam_finding"),
        ("[1]", "rejected", "not_an_object"),
    ] {
        let record = e.handle(raw, None, Ok(&Settings::default())).await;
        // The codes as the enricher logs them: the JSON must not change.
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            (&json["outcome"], &json["reason"]),
            (&outcome.into(), &reason.into())
        );
        assert!(!record.published && record.report.is_none());
    }
}

impl Notifier for &Inbox {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        (**self).publish(subject, message).await
    }
}

mod follow_up {
    use super::*;
    use deadbolt_core::config::Mode;
    use deadbolt_core::memory::{FixedIdentity, MemoryPolicies};
    use deadbolt_core::{ContainmentTarget, Outcome, Ports, Reason, Responder, TargetKind};

    const ACCOUNT: &str = "111122223333";
    const OWN: &str = "arn:aws:sts::111122223333:assumed-role/deadbolt-enricher/enricher";

    /// GuardDuty knowing `event`'s finding, updated now.
    fn confirmed(event: &str) -> deadbolt_core::memory::MemoryGuardDuty {
        let gd = deadbolt_core::memory::MemoryGuardDuty::new();
        let mut copy = deadbolt_core::parse_event(event).unwrap().detail;
        copy.updated_at = Some(deadbolt_core::strategy::format_rfc3339_utc(
            deadbolt_core::clock::now_ms() / 1000,
        ));
        gd.insert(copy);
        gd
    }

    fn backdoor() -> ContainmentTarget {
        ContainmentTarget::new(TargetKind::User, "backdoor-admin").unwrap()
    }
    fn bob() -> ContainmentTarget {
        ContainmentTarget::new(TargetKind::User, "bob").unwrap()
    }
    fn demo_role() -> ContainmentTarget {
        ContainmentTarget::new(TargetKind::Role, "DemoRole1").unwrap()
    }
    fn iam() -> MemoryPolicies {
        MemoryPolicies::new()
            .with_entity(&demo_role())
            .with_entity(&backdoor())
            .with_entity(&bob())
            .with_access_key("backdoor-admin", "AKIARBACKDOOR0000001")
            .with_access_key("bob", "AKIARBOBSECONDKEY002")
            .with_access_key("bob", "AKIARBOBEXAMPLEKEY01")
    }
    /// The finding itself in enforce, follow-ups as given.
    fn config(follow_up: Mode) -> Settings {
        Settings {
            mode: Mode::Enforce,
            follow_up,
            ..Settings::default()
        }
    }
    async fn run(
        policies: &MemoryPolicies,
        config: &Settings,
        inbox: &Inbox,
    ) -> deadbolt_trail::EnrichmentRecord {
        Enricher::new(
            FileSource::new(fixtures().join("cloudtrail-followup")),
            Some(inbox),
            // The responder's own engine contains the follow-ups, on a finding GuardDuty
            // confirms.
            Responder::new(Ports {
                iam: policies,
                identity: FixedIdentity::new(ACCOUNT, OWN),
                identity_center: None::<deadbolt_core::ports::NoIdentityCenter>,
                shared_breaker: None::<deadbolt_core::ports::NoSharedBreaker>,
                guardduty: Some(confirmed(&scenario_event())),
                held: None::<deadbolt_core::ports::NoHeldFindings>,
            }),
            InvestigationOptions::default(),
            Limits::default(),
        )
        .handle(&scenario_event(), None, Ok(config))
        .await
    }

    #[tokio::test]
    async fn off_by_default_reports_what_it_would_do_and_changes_nothing() {
        let p = iam();
        let record = run(&p, &Settings::default(), &Inbox::default()).await;
        let seen: Vec<(&str, &str, Outcome, Reason)> = record
            .follow_up
            .iter()
            .map(|r| {
                (
                    r.event_name.as_str(),
                    r.target.as_str(),
                    r.outcome,
                    r.reason,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "CreateUser",
                    "user/backdoor-admin",
                    Outcome::Skipped,
                    Reason::ModeOff
                ),
                (
                    "CreateAccessKey",
                    "user/backdoor-admin",
                    Outcome::Skipped,
                    Reason::ModeOff
                ),
                (
                    "CreateAccessKey",
                    "user/bob",
                    Outcome::Skipped,
                    Reason::ModeOff
                ),
                // sara's session went on to assume DemoRole1: that session is the tree.
                (
                    "AssumeRole",
                    "role/DemoRole1",
                    Outcome::Skipped,
                    Reason::ModeOff
                ),
            ]
        );
        assert!(p.calls().is_empty());
    }

    #[tokio::test]
    async fn enforce_blocks_created_users_and_deactivates_only_created_keys() {
        let p = iam();
        let inbox = Inbox::default();
        let record = run(&p, &config(Mode::Enforce), &inbox).await;
        let seen: Vec<(&str, Outcome, Reason)> = record
            .follow_up
            .iter()
            .map(|r| (r.target.as_str(), r.outcome, r.reason))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "user/backdoor-admin",
                    Outcome::Contained,
                    Reason::DenyAllAttached
                ),
                (
                    "user/backdoor-admin",
                    Outcome::Contained,
                    Reason::AccessKeyDeactivated
                ),
                ("user/bob", Outcome::Contained, Reason::AccessKeyDeactivated),
                ("role/DemoRole1", Outcome::Contained, Reason::SessionDenied),
            ]
        );
        assert!(p.policy(&backdoor(), "DenyAll").is_some());
        // The session sara assumed into DemoRole1 is denied; bob's own DemoRole1 session (in
        // the same trail, assumed with his key) is not.
        let demo = p.policy(&demo_role(), "DenyAll").unwrap();
        let statements: serde_json::Value = serde_json::from_str(&demo).unwrap();
        assert_eq!(
            statements["Statement"][0]["Condition"],
            serde_json::json!({"StringEquals": {"aws:userid": "AROARDEMOROLE1EXAMPLE:sara"}})
        );
        assert_eq!(statements["Statement"].as_array().unwrap().len(), 1);
        let issued = "2026-11-20T14:05:27Z";
        assert_eq!(
            deadbolt_core::policy::denies_session(&demo, "AROARDEMOROLE1EXAMPLE:sara", issued),
            Some(true)
        );
        assert_eq!(
            deadbolt_core::policy::denies_session(&demo, "AROARDEMOROLE1EXAMPLE:bob", issued),
            Some(false)
        );
        let tree = &record.follow_up[3];
        assert_eq!(tree.session.as_deref(), Some("AROARDEMOROLE1EXAMPLE:sara"));
        assert_eq!(tree.strategy.as_deref(), Some("deny-session"));
        assert_eq!(tree.event_ids, ["d4e5f6a7-2222-4b3c-8d4e-0c0ffee00005"]);
        // bob did not create anything: his policies and his own key are untouched.
        assert!(p.policy(&bob(), "DenyAll").is_none());
        assert_eq!(
            p.access_key_active("bob", "AKIARBOBSECONDKEY002"),
            Some(false)
        );
        assert_eq!(
            p.access_key_active("bob", "AKIARBOBEXAMPLEKEY01"),
            Some(true)
        );
        assert_eq!(
            p.access_key_active("backdoor-admin", "AKIARBACKDOOR0000001"),
            Some(false)
        );
        // The evidence travels with each decision, and the summary says what was done.
        assert_eq!(
            record.follow_up[0].event_ids,
            ["c0d1e2f3-7777-4a8b-9c9d-0c0ffee00020"]
        );
        let messages = inbox.messages.lock().unwrap();
        assert!(
            messages[0].1.contains("Follow-up containment"),
            "{}",
            messages[0].1
        );
        assert!(messages[0]
            .1
            .contains("CreateUser user/backdoor-admin: contained"));
    }

    #[tokio::test]
    async fn protected_principals_and_dry_run_write_nothing() {
        let p = iam();
        let mut c = config(Mode::Enforce);
        c.protected_principals = vec!["bob".into()];
        let record = run(&p, &c, &Inbox::default()).await;
        let bob = record
            .follow_up
            .iter()
            .find(|r| r.target == "user/bob")
            .unwrap();
        assert_eq!(
            (bob.outcome, bob.reason),
            (Outcome::Skipped, Reason::ProtectedPrincipal)
        );
        assert_eq!(
            p.access_key_active("bob", "AKIARBOBSECONDKEY002"),
            Some(true)
        );

        let p = iam();
        let record = run(&p, &config(Mode::DryRun), &Inbox::default()).await;
        assert!(record
            .follow_up
            .iter()
            .all(|r| r.outcome == Outcome::WouldContain));
        assert!(p.calls().is_empty());
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json["follow_up"][1]["actions"][1]["api"],
            "iam:UpdateAccessKey"
        );
        assert_eq!(json["follow_up"][1]["actions"][1]["status"], "planned");
    }

    #[tokio::test]
    async fn follow_ups_never_act_beyond_the_findings_own_mode_and_scope() {
        // follow_up enforce, but the finding is in dry-run: the follow-ups are dry-run too.
        let p = iam();
        let mut c = config(Mode::Enforce);
        c.mode = Mode::DryRun;
        let record = run(&p, &c, &Inbox::default()).await;
        assert!(record
            .follow_up
            .iter()
            .all(|r| r.outcome == Outcome::WouldContain));
        assert!(p.calls().is_empty());
        // The finding's account is switched off: so are its follow-ups.
        let mut c = config(Mode::Enforce);
        c.mode_by_account.insert(ACCOUNT.into(), Mode::Off);
        let record = run(&p, &c, &Inbox::default()).await;
        assert!(record
            .follow_up
            .iter()
            .all(|r| (r.outcome, r.reason) == (Outcome::Skipped, Reason::ModeOff)));
        // Below the minimum severity (the scenario's finding is 2): nothing either.
        let mut c = config(Mode::Enforce);
        c.min_severity = 4.0;
        let record = run(&p, &c, &Inbox::default()).await;
        assert!(
            record
                .follow_up
                .iter()
                .all(|r| r.reason == Reason::BelowMinSeverity),
            "{:?}",
            record.follow_up
        );
        assert!(p.calls().is_empty());
    }

    #[tokio::test]
    async fn the_circuit_breaker_counts_follow_ups() {
        let p = iam();
        let mut c = config(Mode::Enforce);
        c.circuit_breaker = Some(deadbolt_core::settings::CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        });
        let record = run(&p, &c, &Inbox::default()).await;
        let outcomes: Vec<(Outcome, Reason)> = record
            .follow_up
            .iter()
            .map(|r| (r.outcome, r.reason))
            .collect();
        assert_eq!(
            outcomes,
            [
                (Outcome::Contained, Reason::DenyAllAttached),
                (Outcome::WouldContain, Reason::CircuitBreakerOpen),
                (Outcome::WouldContain, Reason::CircuitBreakerOpen),
                (Outcome::WouldContain, Reason::CircuitBreakerOpen),
            ]
        );
    }

    #[tokio::test]
    async fn a_throttled_follow_up_makes_the_enrichment_retryable_a_permanent_error_does_not() {
        for (kind, code, retryable) in [
            (
                deadbolt_core::ports::AwsErrorKind::Throttled,
                "Throttling",
                true,
            ),
            (
                deadbolt_core::ports::AwsErrorKind::Other,
                "ValidationError",
                false,
            ),
        ] {
            let p = iam().failing("iam:UpdateAccessKey", kind, code);
            let record = run(&p, &config(Mode::Enforce), &Inbox::default()).await;
            let keys: Vec<_> = record
                .follow_up
                .iter()
                .filter(|r| r.access_key_id.is_some())
                .collect();
            assert!(keys
                .iter()
                .all(|r| r.outcome == Outcome::Failed && r.retryable == retryable));
            assert_eq!(record.retryable, retryable, "{code}");
        }
    }

    #[tokio::test]
    async fn unreadable_settings_decide_no_follow_up_and_ask_for_a_retry() {
        let p = iam();
        let record = Enricher::new(
            FileSource::new(fixtures().join("cloudtrail-followup")),
            None::<&Inbox>,
            Responder::new(Ports::iam(&p, FixedIdentity::new(ACCOUNT, OWN))),
            InvestigationOptions::default(),
            Limits::default(),
        )
        .handle(
            &scenario_event(),
            None,
            Err(&deadbolt_core::runtime::SettingsUnavailable {
                error: "DispatchFailure: connection refused".into(),
            }),
        )
        .await;
        assert!(record.report.is_some(), "the investigation still ran");
        assert_eq!(record.follow_up.len(), 1);
        assert_eq!(
            (record.follow_up[0].outcome, record.follow_up[0].reason),
            (Outcome::Failed, Reason::SettingsUnavailable)
        );
        assert!(record.retryable);
        assert!(p.calls().is_empty());
    }
}

/// A GuardDuty administrator's enricher: a member's finding is investigated with that
/// account's evidence (the router's source), and when it cannot be reached the record says so
/// instead of investigating the administrator's own trail, where the principal left nothing.
struct MemberRouter {
    member_source: Option<FileSource>,
}

impl deadbolt_trail::SourceRouter<FileSource> for MemberRouter {
    async fn source_for(
        &self,
        finding: &deadbolt_core::Finding,
        settings: Option<&Settings>,
    ) -> Result<Option<FileSource>, String> {
        if !settings.is_some_and(|s| s.is_member_account(&finding.account_id)) {
            return Ok(None);
        }
        match &self.member_source {
            Some(s) => Ok(Some(s.clone())),
            None => Err(format!(
                "could not assume the member role in {}",
                finding.account_id
            )),
        }
    }
}

#[tokio::test]
async fn a_members_finding_is_investigated_with_the_members_evidence_or_fails_clearly() {
    let event = scenario_event();
    let account = serde_json::from_str::<serde_json::Value>(&event).unwrap()["detail"]["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    let member = Settings {
        member_accounts: vec![account],
        ..Settings::default()
    };
    // The enricher's own source has nothing; the member's has the walkthrough.
    let empty = std::env::temp_dir().join(format!("deadbolt-empty-trail-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let routed = |member_source| {
        Enricher::new(
            FileSource::new(&empty),
            None::<Inbox>,
            NoFollowUp,
            InvestigationOptions::default(),
            Limits::default(),
        )
        .with_router(MemberRouter { member_source })
    };
    let found = routed(Some(FileSource::new(fixtures().join("cloudtrail"))))
        .handle(&event, None, Ok(&member))
        .await;
    assert_eq!(found.reason, EnrichmentReason::Investigated);
    let summary = &found.report.as_ref().unwrap().origin_summary;
    assert!(summary.contains("sara"), "{summary}");

    let unreachable = routed(None).handle(&event, None, Ok(&member)).await;
    assert_eq!(
        (unreachable.outcome, unreachable.reason),
        (
            EnrichmentOutcome::Failed,
            EnrichmentReason::MemberRoleUnavailable
        )
    );
    assert!(unreachable.report.is_none());
    assert!(unreachable.message.contains("could not assume"));
    let json = serde_json::to_value(&unreachable).unwrap();
    assert_eq!(json["reason"], "member_role_unavailable");

    // Not a listed member: the enricher's own source, as before.
    let own = routed(None)
        .handle(&event, None, Ok(&Settings::default()))
        .await;
    assert_eq!(own.reason, EnrichmentReason::Investigated);
}

/// An S3 finding names its caller in `resource.accessKeyDetails` (resource type `S3Bucket`):
/// it is investigated like an IAM one. A finding that names no access key is skipped, saying
/// which resource type it was.
#[tokio::test]
async fn findings_with_access_key_details_of_any_resource_type_are_investigated() {
    let e = enricher(Inbox::default());
    let s3 =
        std::fs::read_to_string(fixtures().join("guardduty/s3-malicious-ip-caller.json")).unwrap();
    let record = e.handle(&s3, None, Ok(&Settings::default())).await;
    assert_eq!(
        record.reason,
        EnrichmentReason::Investigated,
        "{}",
        record.message
    );
    let ec2 = std::fs::read_to_string(fixtures().join("guardduty/ec2-finding.json")).unwrap();
    let skipped = e.handle(&ec2, None, Ok(&Settings::default())).await;
    assert_eq!(skipped.reason, EnrichmentReason::NotIamFinding);
    assert!(skipped.message.contains("Instance"), "{}", skipped.message);
}

/// One object written: bucket, key, expected owner, body.
type Written = (String, String, Option<String>, String);

/// A report bucket that keeps what was written (or refuses, like a bucket policy would).
#[derive(Default)]
struct Bucket {
    objects: Mutex<Vec<Written>>,
    refuse: bool,
}

impl deadbolt_trail::ReportStore for Bucket {
    async fn put(
        &self,
        object: &deadbolt_core::report_object::ReportObject,
        expected_owner: Option<&str>,
        html: String,
    ) -> Result<(), deadbolt_trail::ReportStoreError> {
        if self.refuse {
            return Err(deadbolt_trail::ReportStoreError(
                "AccessDenied: Access Denied".into(),
            ));
        }
        self.objects.lock().unwrap().push((
            object.bucket.clone(),
            object.key.clone(),
            expected_owner.map(str::to_string),
            html,
        ));
        Ok(())
    }
}

impl deadbolt_trail::ReportStore for &Bucket {
    async fn put(
        &self,
        object: &deadbolt_core::report_object::ReportObject,
        expected_owner: Option<&str>,
        html: String,
    ) -> Result<(), deadbolt_trail::ReportStoreError> {
        (**self).put(object, expected_owner, html).await
    }
}

/// The scenario's enricher, its summary to `inbox`, its pages to `bucket`.
fn publishing_to<'a>(
    inbox: &'a Inbox,
    bucket: &'a Bucket,
) -> Enricher<FileSource, &'a Inbox, NoFollowUp, deadbolt_trail::OwnAccountOnly, &'a Bucket> {
    Enricher::new(
        FileSource::new(fixtures().join("cloudtrail")),
        Some(inbox),
        NoFollowUp,
        InvestigationOptions::default(),
        Limits::default(),
    )
    .with_reports(Some((report_bucket(), bucket)))
}

fn report_bucket() -> deadbolt_core::report_object::ReportBucket {
    deadbolt_core::report_object::ReportBucket::new(
        "deadbolt-reports",
        Some("111122223333"),
        "us-east-1",
    )
    .unwrap()
}

/// ReportBucket: the page is written to `reports/ACCOUNT/FINDING_ID.html` in the bucket, with
/// the bucket's owner checked, and the summary links its S3 console page; without a bucket
/// the summary and the record are what they were.
#[tokio::test]
async fn with_a_report_bucket_the_page_is_written_and_the_summary_links_it() {
    let plain = enricher(Inbox::default());
    let without = plain
        .handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    let json = serde_json::to_value(&without).unwrap();
    for field in ["report_object", "report_url", "report_error"] {
        assert!(json.get(field).is_none(), "{field} without a bucket");
    }

    let inbox = Inbox::default();
    let bucket = Bucket::default();
    let e = publishing_to(&inbox, &bucket);
    let record = e
        .handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    let key = "reports/111122223333/5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html";
    assert_eq!(
        record.report_object.as_deref(),
        Some(&*format!("s3://deadbolt-reports/{key}"))
    );
    let url = "https://us-east-1.console.aws.amazon.com/s3/object/deadbolt-reports?region=us-east-1&bucketType=general&prefix=reports%2F111122223333%2F5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html";
    assert_eq!(record.report_url.as_deref(), Some(url));
    assert_eq!(record.report_error, None);
    // What went into the bucket is the investigation page (the same renderer as
    // `deadbolt report --html`), for that finding, in a bucket of the expected owner.
    {
        let objects = bucket.objects.lock().unwrap();
        assert_eq!(objects.len(), 1);
        let (name, written, owner, html) = &objects[0];
        assert_eq!((name.as_str(), written.as_str()), ("deadbolt-reports", key));
        assert_eq!(owner.as_deref(), Some("111122223333"));
        assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
        assert!(html.contains("Content-Security-Policy"));
        assert!(html.contains("5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3") && html.contains("DemoRole1"));
    }
    let messages = inbox.messages.lock().unwrap();
    let body = &messages[0].1;
    assert!(
        body.starts_with(&format!(
            "Investigation page (S3 console, sign-in required): {url}\n\n"
        )),
        "{body}"
    );
    // The rest is the summary as without a bucket.
    assert!(body.contains("StopLogging") && body.contains("DemoRole1"));
}

/// A page that cannot be written (a bucket policy, an outage) never stops the summary: it
/// says the page is missing and why; a forged finding id never names another key.
#[tokio::test]
async fn a_page_that_cannot_be_written_is_said_and_a_forged_id_writes_nothing() {
    let inbox = Inbox::default();
    let refusing = Bucket {
        refuse: true,
        ..Bucket::default()
    };
    let e = publishing_to(&inbox, &refusing);
    let record = e
        .handle(&scenario_event(), None, Ok(&Settings::default()))
        .await;
    assert!(record.published);
    assert_eq!((&record.report_object, &record.report_url), (&None, &None));
    let error = record.report_error.clone().unwrap();
    assert_eq!(
        error,
        "could not store the report page: AccessDenied: Access Denied"
    );
    assert!(inbox.messages.lock().unwrap()[0].1.starts_with(&format!(
        "Investigation page: not written ({error}); the full report is in the enricher's log\n\n"
    )));

    let bucket = Bucket::default();
    let e = enricher(Inbox::default()).with_reports(Some((report_bucket(), &bucket)));
    // The event parser already refuses a '/' in `detail.id`; dots pass it (GuardDuty's ids
    // are hex), and the report key refuses them.
    let forged = scenario_event().replace("5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3", "..");
    let record = e.handle(&forged, None, Ok(&Settings::default())).await;
    assert_eq!(
        record.outcome,
        EnrichmentOutcome::Investigated,
        "{}",
        record.message
    );
    assert!(bucket.objects.lock().unwrap().is_empty());
    assert!(
        record
            .report_error
            .as_deref()
            .is_some_and(|e| e.contains("is not a GuardDuty finding id")),
        "{:?}",
        record.report_error
    );
}
