//! The enricher: one GuardDuty event in, one investigation out, a human summary published.
//! Runs as the second target of the same EventBridge rule as the responder, so containment
//! never waits for it. The Lambda only wires a source and a notifier into [`Enricher`].

use std::future::Future;
use std::time::{Duration, Instant};

use deadbolt_core::finding::parse_event;
use deadbolt_core::followup::{CreatedEntity, FollowUpPort, FollowUpRecord};
use deadbolt_core::report_object::{ReportBucket, ReportObject};
use deadbolt_core::runtime::SettingsUnavailable;
use deadbolt_core::settings::Settings;
use deadbolt_core::Reason;
use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::investigate::{investigate, InvestigationOptions, Subject};
use crate::report::InvestigationReport;
use crate::source::{Budget, EvidenceSource};

/// SNS caps a message at 256 KiB; keep well under it, the full report is in the log.
pub const MAX_SUMMARY_BYTES: usize = 200 * 1024;
/// SNS subjects are at most 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Where human summaries go (an SNS topic in production).
pub trait Notifier: Send + Sync {
    fn publish(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("could not publish the summary: {0}")]
pub struct NotifyError(pub String);

/// Where the HTML investigation pages go (the `ReportBucket`, S3 in production): one object
/// per finding, overwritten when GuardDuty updates the finding (the bucket keeps versions).
pub trait ReportStore: Send + Sync {
    /// Write `html` as `object`; the bucket must belong to `expected_owner` when given.
    fn put(
        &self,
        object: &ReportObject,
        expected_owner: Option<&str>,
        html: String,
    ) -> impl Future<Output = Result<(), ReportStoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("could not store the report page: {0}")]
pub struct ReportStoreError(pub String);

/// No report bucket: no page is written and no message links one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReportStore;

impl ReportStore for NoReportStore {
    async fn put(
        &self,
        _: &ReportObject,
        _: Option<&str>,
        _: String,
    ) -> Result<(), ReportStoreError> {
        Err(ReportStoreError("no report bucket".into()))
    }
}

deadbolt_core::code_enum! {
    /// What the enricher did with one event.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EnrichmentOutcome {
        /// The finding was investigated; the report is in the record.
        Investigated => "investigated",
        /// Nothing to investigate (a sample, not an IAM access-key finding, no subject).
        Skipped => "skipped",
        /// The event is malformed.
        Rejected => "rejected",
        /// The finding's evidence could not be reached (a member account's role).
        Failed => "failed",
    }
}

/// Why the enricher did what it did: a stable snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrichmentReason {
    /// investigated.
    Investigated,
    /// skipped: an AWS sample finding (the decision record's `sample_finding`).
    SampleFinding,
    /// skipped: not an IAM access-key finding (the decision record's `not_iam_finding`).
    NotIamFinding,
    /// skipped: the finding names nothing CloudTrail can be searched for.
    NoSubject,
    /// rejected: the event's input error, as the decision record's reason
    /// ([`deadbolt_core::InputError::reason`]: `not_json`, `missing_field`, …).
    Rejected(Reason),
    /// failed: the finding is a member account's, and that account's evidence could not be
    /// reached through the member role. Investigating deadbolt's own account instead would
    /// report "nothing found" for a principal that is simply elsewhere.
    MemberRoleUnavailable,
}

impl EnrichmentReason {
    /// The code, exactly as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrichmentReason::Investigated => "investigated",
            EnrichmentReason::SampleFinding => Reason::SampleFinding.as_str(),
            EnrichmentReason::NotIamFinding => Reason::NotIamFinding.as_str(),
            EnrichmentReason::NoSubject => "no_subject",
            EnrichmentReason::Rejected(reason) => reason.as_str(),
            EnrichmentReason::MemberRoleUnavailable => Reason::MemberRoleUnavailable.as_str(),
        }
    }

    /// The outcome this reason belongs to.
    pub fn outcome(self) -> EnrichmentOutcome {
        match self {
            EnrichmentReason::Investigated => EnrichmentOutcome::Investigated,
            EnrichmentReason::SampleFinding
            | EnrichmentReason::NotIamFinding
            | EnrichmentReason::NoSubject => EnrichmentOutcome::Skipped,
            EnrichmentReason::Rejected(_) => EnrichmentOutcome::Rejected,
            EnrichmentReason::MemberRoleUnavailable => EnrichmentOutcome::Failed,
        }
    }
}

impl Serialize for EnrichmentReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What the enricher did with one event.
#[derive(Debug, Clone, Serialize)]
pub struct EnrichmentRecord {
    pub finding_id: Option<String>,
    pub outcome: EnrichmentOutcome,
    pub reason: EnrichmentReason,
    pub message: String,
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<InvestigationReport>,
    /// The HTML page in the report bucket (`s3://BUCKET/reports/ACCOUNT/FINDING_ID.html`),
    /// when one is configured and the page was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_object: Option<String>,
    /// Its S3 console page, the link the summary carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
    /// Why the page was not written (a bucket is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_error: Option<String>,
    /// Follow-up containment of entities the attacker created (`follow_up` setting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub follow_up: Vec<FollowUpRecord>,
    /// A follow-up may succeed if the event is delivered again (throttling, an outage,
    /// unreadable settings): the Lambda returns an error so the invocation is retried. The
    /// investigation is read-only and follow-ups are idempotent, so a retry is safe.
    pub retryable: bool,
}

/// How much one investigation may spend.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Remote requests (LookupEvents allows 2/s: 240 requests is two minutes of paging).
    pub requests: u32,
    /// Records collected across all questions.
    pub records: u64,
    /// Time kept in reserve before the deadline to publish and log.
    pub reserve: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests: 240,
            records: 50_000,
            reserve: Duration::from_secs(15),
        }
    }
}

pub struct Enricher<S, N, F, R = OwnAccountOnly, P = NoReportStore> {
    source: S,
    notifier: Option<N>,
    follow_up: F,
    options: InvestigationOptions,
    limits: Limits,
    router: R,
    reports: Option<(ReportBucket, P)>,
}

/// Where a finding's evidence is: the enricher's own source, or (a GuardDuty administrator)
/// the member account's, reached through the member role.
pub trait SourceRouter<S>: Send + Sync {
    /// `Ok(None)`: the default source. `Ok(Some(s))`: the finding's account's own. `Err`:
    /// the finding is a member's and its evidence cannot be reached (why, in a sentence).
    fn source_for(
        &self,
        finding: &deadbolt_core::Finding,
        settings: Option<&Settings>,
    ) -> impl std::future::Future<Output = Result<Option<S>, String>> + Send;
}

/// Every finding is investigated with the enricher's own source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnAccountOnly;

impl<S: Send> SourceRouter<S> for OwnAccountOnly {
    async fn source_for(
        &self,
        _: &deadbolt_core::Finding,
        _: Option<&Settings>,
    ) -> Result<Option<S>, String> {
        Ok(None)
    }
}

impl<S, N, F, R, P> Enricher<S, N, F, R, P> {
    /// The same enricher, investigating member accounts' findings where `router` says.
    pub fn with_router<Q>(self, router: Q) -> Enricher<S, N, F, Q, P> {
        Enricher {
            source: self.source,
            notifier: self.notifier,
            follow_up: self.follow_up,
            options: self.options,
            limits: self.limits,
            router,
            reports: self.reports,
        }
    }

    /// The same enricher, writing each investigation's HTML page to `bucket` through `store`
    /// and linking it in the summary; `None`: no page, and the summary is as without.
    pub fn with_reports<Q>(self, reports: Option<(ReportBucket, Q)>) -> Enricher<S, N, F, R, Q> {
        Enricher {
            source: self.source,
            notifier: self.notifier,
            follow_up: self.follow_up,
            options: self.options,
            limits: self.limits,
            router: self.router,
            reports,
        }
    }
}

impl<S, N, F> Enricher<S, N, F> {
    /// `follow_up` contains what the attacker created when the settings' `follow_up` mode
    /// says so (`deadbolt_core::followup::NoFollowUp` for none).
    pub fn new(
        source: S,
        notifier: Option<N>,
        follow_up: F,
        options: InvestigationOptions,
        limits: Limits,
    ) -> Self {
        Enricher {
            source,
            notifier,
            follow_up,
            options,
            limits,
            router: OwnAccountOnly,
            reports: None,
        }
    }
}

impl<S: EvidenceSource, N: Notifier, F: FollowUpPort, R: SourceRouter<S>, P: ReportStore>
    Enricher<S, N, F, R, P>
{
    /// Investigate one raw EventBridge event, stopping by `deadline` (the Lambda's), under the
    /// settings in force for this invocation (or none, if they could not be read: then the
    /// investigation still runs, and follow-ups are not decided).
    pub async fn handle(
        &self,
        raw: &str,
        deadline: Option<Instant>,
        settings: Result<&Settings, &SettingsUnavailable>,
    ) -> EnrichmentRecord {
        let skip = |finding_id: Option<String>, reason: EnrichmentReason, message: String| {
            EnrichmentRecord {
                finding_id,
                outcome: reason.outcome(),
                reason,
                message,
                published: false,
                publish_error: None,
                report: None,
                report_object: None,
                report_url: None,
                report_error: None,
                follow_up: Vec::new(),
                retryable: false,
            }
        };
        let event = match parse_event(raw) {
            Ok(e) => e,
            Err(e) => {
                let reason = EnrichmentReason::Rejected(e.reason());
                return skip(None, reason, format!("rejected: {e}"));
            }
        };
        let f = &event.detail;
        let id = Some(f.id.clone());
        if f.is_sample() {
            return skip(
                id,
                EnrichmentReason::SampleFinding,
                "AWS sample finding: nothing to investigate".into(),
            );
        }
        // Any finding that names the caller's access key (IAM, and the S3 and EKS families'
        // accessKeyDetails) can be investigated from CloudTrail; attack sequences carry their
        // principals elsewhere and are not investigated here yet.
        if f.resource.access_key_details.is_none() {
            return skip(
                id,
                EnrichmentReason::NotIamFinding,
                format!(
                    "resource type {:?} names no access key (resource.accessKeyDetails): nothing to search CloudTrail for",
                    f.resource.resource_type
                ),
            );
        }
        let subject = match Subject::from_finding(f) {
            Ok(s) => s,
            Err(e) => return skip(id, EnrichmentReason::NoSubject, e.to_string()),
        };
        let deadline = deadline.map(|d| {
            d.checked_sub(self.limits.reserve)
                .unwrap_or_else(Instant::now)
        });
        let budget = Budget::new(self.limits.requests, self.limits.records, deadline);
        let routed = match self.router.source_for(f, settings.ok()).await {
            Ok(routed) => routed,
            Err(message) => return skip(id, EnrichmentReason::MemberRoleUnavailable, message),
        };
        let source = routed.as_ref().unwrap_or(&self.source);
        let report = investigate(source, &subject, &self.options, budget).await;
        let mut record = EnrichmentRecord {
            finding_id: id,
            outcome: EnrichmentOutcome::Investigated,
            reason: EnrichmentReason::Investigated,
            message: report.origin_summary.clone(),
            published: false,
            publish_error: None,
            report: None,
            report_object: None,
            report_url: None,
            report_error: None,
            follow_up: Vec::new(),
            retryable: false,
        };
        // Archived findings are still investigated (the history matters), never acted on.
        if !f.service.archived {
            // What the attacker created, then the sessions they went on to assume from the
            // finding's principal (and a federated session's issuing user).
            let created: Vec<CreatedEntity> = report
                .persistence
                .iter()
                .filter_map(|c| c.created())
                .chain(crate::session_tree::session_tree_follow_ups(&report, f))
                .collect();
            record.follow_up = self.follow_up.follow_up(f, &created, settings).await;
            record.retryable = record.follow_up.iter().any(|r| r.retryable);
        }
        // The page is written before the summary goes out, so that its link works when
        // someone follows it.
        if let Some((bucket, store)) = &self.reports {
            match bucket.object_for(&f.account_id, &f.id) {
                Ok(object) => {
                    let html = crate::html::render(&report, None);
                    match store
                        .put(&object, bucket.expected_owner.as_deref(), html)
                        .await
                    {
                        Ok(()) => {
                            record.report_object = Some(object.s3_uri());
                            record.report_url = Some(object.console_url());
                        }
                        Err(e) => record.report_error = Some(e.to_string()),
                    }
                }
                Err(e) => record.report_error = Some(e.to_string()),
            }
        }
        if let Some(notifier) = &self.notifier {
            let subject_line = summary_subject(&f.finding_type, &report.origin_summary);
            let mut text = String::new();
            match (&record.report_url, &record.report_error) {
                (Some(url), _) => text.push_str(&format!(
                    "Investigation page (S3 console, sign-in required): {url}\n\n"
                )),
                (None, Some(e)) => text.push_str(&format!(
                    "Investigation page: not written ({e}); the full report is in the enricher's log\n\n"
                )),
                (None, None) => {}
            }
            text.push_str(&report.to_text());
            if !record.follow_up.is_empty() {
                text.push_str(
                    "\nFollow-up containment (what the attacker created, the sessions they \
                     assumed from the principal)\n",
                );
                for r in &record.follow_up {
                    text.push_str(&format!(
                        "- {} {}: {} ({}): {}\n",
                        r.event_name,
                        r.target,
                        r.outcome.as_str(),
                        r.reason.as_str(),
                        r.message
                    ));
                }
            }
            let body = bounded(text, MAX_SUMMARY_BYTES);
            match notifier.publish(&subject_line, &body).await {
                Ok(()) => record.published = true,
                Err(e) => record.publish_error = Some(e.to_string()),
            }
        }
        record.report = Some(report);
        record
    }
}

/// `deadbolt: <type> by <origin>`, ASCII, at most 100 characters (SNS's rules for subjects).
pub fn summary_subject(finding_type: &str, origin: &str) -> String {
    let raw = format!("deadbolt: {finding_type} by {origin}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

/// Cut `text` to at most `max` bytes on a character boundary, saying so.
pub fn bounded(mut text: String, max: usize) -> String {
    const NOTE: &str = "\n... (truncated: the full report is in the enricher's log)\n";
    if text.len() <= max {
        return text;
    }
    let mut cut = max.saturating_sub(NOTE.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(NOTE);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_short_ascii_and_bodies_bounded() {
        let s = summary_subject(
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            &"Identity Center user sära ".repeat(10),
        );
        assert!(s.len() <= MAX_SUBJECT_CHARS && s.is_ascii(), "{s}");
        assert!(s.starts_with(
            "deadbolt: Stealth:IAMUser/CloudTrailLoggingDisabled by Identity Center user s?ra"
        ));
        let long = "é".repeat(300_000);
        let b = bounded(long, MAX_SUMMARY_BYTES);
        assert!(b.len() <= MAX_SUMMARY_BYTES);
        assert!(b.ends_with("enricher's log)\n"));
        assert_eq!(bounded("short".into(), 10), "short");
    }

    #[test]
    fn enrichment_codes_are_serdes_and_each_reason_has_its_outcome() {
        for outcome in EnrichmentOutcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
        for (reason, code, outcome) in [
            (
                EnrichmentReason::Investigated,
                "investigated",
                "investigated",
            ),
            (EnrichmentReason::SampleFinding, "sample_finding", "skipped"),
            (
                EnrichmentReason::NotIamFinding,
                "not_iam_finding",
                "skipped",
            ),
            (EnrichmentReason::NoSubject, "no_subject", "skipped"),
            (
                EnrichmentReason::Rejected(Reason::NotAnObject),
                "not_an_object",
                "rejected",
            ),
        ] {
            assert_eq!(reason.as_str(), code);
            assert_eq!(serde_json::to_value(reason).unwrap(), code);
            assert_eq!(reason.outcome().as_str(), outcome);
        }
    }
}
