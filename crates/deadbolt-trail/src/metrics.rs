//! The enricher's metrics, as one CloudWatch Embedded Metric Format line per investigation
//! (the responder's counterpart is [`deadbolt_core::metrics`], whose [`emf_line`] writes both):
//! investigations by outcome, how long one took, how many remote evidence calls it made, and
//! whether it ran out of budget (requests, records or time) before every question was
//! answered.

use deadbolt_core::metrics::{emf_line, DIMENSION_OUTCOME};
use serde_json::Value;

use crate::enrich::EnrichmentRecord;
use crate::report::InvestigationReport;

/// Count, one per event, by `Outcome` (`investigated`, `skipped`, `rejected`).
pub const INVESTIGATIONS: &str = "Investigations";
/// Milliseconds from the event's arrival to the record (investigation, follow-ups, publish).
pub const ENRICHMENT_DURATION: &str = "EnrichmentDuration";
/// Remote requests made to the evidence source (LookupEvents or FilterLogEvents pages, S3
/// objects); investigated events only.
pub const EVIDENCE_CALLS: &str = "EvidenceCalls";
/// 1 when the investigation stopped on its budget (a question left partial or unasked because
/// requests, records or time ran out), else 0; investigated events only.
pub const BUDGET_HITS: &str = "BudgetHits";

/// With a report bucket: 1 when the investigation's HTML page could not be written, else 0
/// (absent without a bucket).
pub const REPORT_WRITE_FAILURES: &str = "ReportWriteFailures";

/// Every metric name the enricher emits.
pub const ENRICHER_METRICS: &[&str] = &[
    INVESTIGATIONS,
    ENRICHMENT_DURATION,
    EVIDENCE_CALLS,
    BUDGET_HITS,
    REPORT_WRITE_FAILURES,
];

/// Whether any question of `report` was cut short or not asked for lack of budget (the
/// reasons [`crate::source::Budget::exhausted`] gives).
pub fn hit_budget(report: &InvestigationReport) -> bool {
    report
        .sources
        .iter()
        .flat_map(|s| &s.questions)
        .filter_map(|q| q.incomplete.as_deref())
        .any(|why| why.contains("budget exhausted"))
}

/// The enricher's EMF line for `record`, which took `duration_ms`, stamped `timestamp_ms`.
pub fn enrichment_emf(
    record: &EnrichmentRecord,
    duration_ms: f64,
    namespace: &str,
    timestamp_ms: i64,
) -> String {
    let mut plain = vec![(ENRICHMENT_DURATION, "Milliseconds", duration_ms)];
    if let Some(report) = &record.report {
        let calls: u64 = report.sources.iter().map(|s| s.requests).sum();
        plain.push((EVIDENCE_CALLS, "Count", calls as f64));
        plain.push((
            BUDGET_HITS,
            "Count",
            if hit_budget(report) { 1.0 } else { 0.0 },
        ));
    }
    match (&record.report_object, &record.report_error) {
        (Some(_), _) => plain.push((REPORT_WRITE_FAILURES, "Count", 0.0)),
        (None, Some(_)) => plain.push((REPORT_WRITE_FAILURES, "Count", 1.0)),
        (None, None) => {}
    }
    emf_line(
        namespace,
        timestamp_ms,
        &[(DIMENSION_OUTCOME, record.outcome.as_str())],
        &[(INVESTIGATIONS, "Count", 1.0)],
        &plain,
        &[
            (
                "finding_id",
                Value::from(record.finding_id.clone().unwrap_or_default()),
            ),
            ("reason", Value::from(record.reason.as_str())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{EnrichmentOutcome, EnrichmentReason};
    use crate::report::{QuestionReport, SourceReport, WindowSpan};
    use deadbolt_core::metrics::check_emf;

    fn question(incomplete: Option<&str>) -> QuestionReport {
        QuestionReport {
            purpose: "calls made with key AKIA2MLRYQ7ZT4XH9KPD".into(),
            filter: "AccessKeyId=AKIA2MLRYQ7ZT4XH9KPD".into(),
            window: WindowSpan {
                start: "2026-11-30T03:00:00Z".into(),
                end: "2026-11-30T04:00:00Z".into(),
                start_ms: 0,
                end_ms: 3_600_000,
            },
            asked: incomplete.is_none(),
            requests: 3,
            records: 10,
            skipped: 0,
            incomplete: incomplete.map(str::to_string),
            error: None,
        }
    }

    fn investigated(questions: Vec<QuestionReport>) -> EnrichmentRecord {
        let subject = crate::investigate::Subject {
            finding_id: "92b108e6e29fae28af700f610bd20943".into(),
            finding_type: "Stealth:IAMUser/CloudTrailLoggingDisabled".into(),
            account_id: "123456789012".into(),
            access_key_id: "AKIA2MLRYQ7ZT4XH9KPD".into(),
            first_seen: "2026-11-30T03:00:00Z".into(),
            last_seen: "2026-11-30T04:00:00Z".into(),
            remote_ip: None,
            asn: None,
            asn_org: None,
            user_agent: None,
            location: None,
        };
        let mut report = InvestigationReport::empty(subject);
        report.sources = vec![SourceReport {
            name: "lookup-events".into(),
            questions_asked: questions.len() as u64,
            requests: questions.iter().map(|q| u64::from(q.requests)).sum(),
            records: 0,
            skipped: 0,
            questions,
        }];
        EnrichmentRecord {
            finding_id: Some("92b108e6e29fae28af700f610bd20943".into()),
            outcome: EnrichmentOutcome::Investigated,
            reason: EnrichmentReason::Investigated,
            message: String::new(),
            published: true,
            publish_error: None,
            report: Some(report),
            report_object: None,
            report_url: None,
            report_error: None,
            follow_up: Vec::new(),
            retryable: false,
        }
    }

    #[test]
    fn an_investigation_is_one_emf_line_with_duration_calls_and_budget() {
        let line = enrichment_emf(
            &investigated(vec![question(None), question(None)]),
            1234.5,
            "deadbolt/prod",
            1_764_470_000_000,
        );
        check_emf(&line).unwrap();
        let expected: Value = serde_json::from_str(
            r#"{"BudgetHits":0.0,"EnrichmentDuration":1234.5,"EvidenceCalls":6.0,"Investigations":1.0,"Outcome":"investigated","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Outcome"]],"Metrics":[{"Name":"Investigations","Unit":"Count"}],"Namespace":"deadbolt/prod"},{"Dimensions":[[]],"Metrics":[{"Name":"EnrichmentDuration","Unit":"Milliseconds"},{"Name":"EvidenceCalls","Unit":"Count"},{"Name":"BudgetHits","Unit":"Count"}],"Namespace":"deadbolt/prod"}],"Timestamp":1764470000000},"finding_id":"92b108e6e29fae28af700f610bd20943","reason":"investigated"}"#,
        )
        .unwrap();
        // Compared as JSON: member order depends on serde_json's `preserve_order` feature,
        // which other crates of the workspace switch on.
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), expected);
    }

    #[test]
    fn a_budget_cut_counts_and_a_skip_has_no_evidence_metrics() {
        let cut = investigated(vec![
            question(None),
            question(Some("time budget exhausted")),
        ]);
        let v: Value = serde_json::from_str(&enrichment_emf(&cut, 1.0, "deadbolt", 0)).unwrap();
        assert_eq!(
            (v[BUDGET_HITS].as_f64(), v[EVIDENCE_CALLS].as_f64()),
            (Some(1.0), Some(6.0))
        );

        let mut skipped = investigated(Vec::new());
        (skipped.outcome, skipped.reason, skipped.report) = (
            EnrichmentOutcome::Skipped,
            EnrichmentReason::SampleFinding,
            None,
        );
        let line = enrichment_emf(&skipped, 2.0, "deadbolt", 0);
        check_emf(&line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v[DIMENSION_OUTCOME], "skipped");
        assert!(
            v.get(EVIDENCE_CALLS).is_none() && v.get(BUDGET_HITS).is_none(),
            "{line}"
        );
        assert_eq!(v[INVESTIGATIONS], 1.0);
    }

    #[test]
    fn a_report_write_counts_only_with_a_report_bucket() {
        let value = |r: &EnrichmentRecord| -> Value {
            serde_json::from_str(&enrichment_emf(r, 1.0, "deadbolt", 0)).unwrap()
        };
        let mut r = investigated(Vec::new());
        assert!(value(&r).get(REPORT_WRITE_FAILURES).is_none());
        r.report_object = Some("s3://reports/reports/123456789012/x.html".into());
        assert_eq!(value(&r)[REPORT_WRITE_FAILURES], 0.0);
        r.report_object = None;
        r.report_error = Some("could not store the report page: AccessDenied".into());
        let line = enrichment_emf(&r, 1.0, "deadbolt", 0);
        check_emf(&line).unwrap();
        assert_eq!(value(&r)[REPORT_WRITE_FAILURES], 1.0);
    }
}
