//! The enricher's whole path over the walkthrough's fixtures: investigate, publish, record.

use std::path::PathBuf;
use std::sync::Mutex;

use deadbolt_trail::{Enricher, FileSource, InvestigationOptions, Limits, Notifier, NotifyError};

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

fn enricher(inbox: Inbox) -> Enricher<FileSource, Inbox> {
    Enricher::new(
        FileSource::new(fixtures().join("cloudtrail")),
        Some(inbox),
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
    let record = e.handle(&scenario_event(), None).await;
    assert_eq!(
        (record.outcome, record.reason),
        ("investigated", "investigated")
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
}

#[tokio::test]
async fn the_published_message_is_the_human_summary() {
    let inbox = Inbox::default();
    let e = Enricher::new(
        FileSource::new(fixtures().join("cloudtrail")),
        Some(&inbox),
        InvestigationOptions::default(),
        Limits::default(),
    );
    e.handle(&scenario_event(), None).await;
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
    let record = e.handle(&scenario_event(), None).await;
    assert_eq!(record.outcome, "investigated");
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
        let record = e.handle(raw, None).await;
        assert_eq!((record.outcome, record.reason), (outcome, reason));
        assert!(!record.published && record.report.is_none());
    }
}

impl Notifier for &Inbox {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        (**self).publish(subject, message).await
    }
}
