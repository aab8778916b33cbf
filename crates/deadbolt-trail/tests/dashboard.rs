//! The dashboard and the alarms show what the code emits: every metric they read from
//! deadbolt's namespace is one the responder ([`deadbolt_core::metrics`]) or the enricher
//! ([`deadbolt_trail::metrics`]) writes in its EMF line (or a metric filter of the template
//! defines), with a dimension the code sets and a value the code can give it. Here because
//! this crate sees both sets of names.

use std::collections::BTreeSet;

use deadbolt_core::metrics::{DIMENSION_OUTCOME, DIMENSION_REASON, RESPONDER_METRICS};
use deadbolt_core::{Outcome, Reason};
use deadbolt_trail::metrics::ENRICHER_METRICS;
use deadbolt_trail::EnrichmentOutcome;
use serde_json::Value;

const NAMESPACE: &str = "deadbolt/${AWS::StackName}";

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    std::fs::read_to_string(path).expect("template.yaml at the repository root")
}

/// The template's resources, one block each (lines indented by exactly two spaces start one).
fn resources(t: &str) -> Vec<(String, String)> {
    let body = &t[t.find("\nResources:\n").expect("Resources")..];
    let body = &body[..body.find("\nOutputs:\n").unwrap_or(body.len())];
    let mut out: Vec<(String, String)> = Vec::new();
    for line in body.lines().skip(2) {
        let top = line.starts_with("  ") && !line[2..].starts_with(' ');
        if top && !line.trim_start().starts_with('#') {
            let name = line.trim().trim_end_matches(':').to_string();
            out.push((name, String::new()));
        } else if let Some((_, block)) = out.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

/// The dashboard's body (the `!Sub |` block), as JSON.
fn dashboard_body(t: &str) -> Value {
    let (_, block) = resources(t)
        .into_iter()
        .find(|(_, b)| b.contains("Type: AWS::CloudWatch::Dashboard"))
        .expect("a dashboard");
    let start = block
        .find("DashboardBody: !Sub |\n")
        .expect("DashboardBody: !Sub |");
    let json: String = block[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        ") || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("DashboardBody is not JSON: {e}"))
}

/// What the code can emit: (metric, dimension name, allowed values) with no dimension as "".
fn emitted() -> Vec<(&'static str, &'static str, BTreeSet<&'static str>)> {
    let outcomes: BTreeSet<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    let reasons: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let investigations: BTreeSet<&str> =
        EnrichmentOutcome::ALL.iter().map(|o| o.as_str()).collect();
    let mut out = vec![
        ("Decisions", DIMENSION_OUTCOME, outcomes),
        ("Decisions", DIMENSION_REASON, reasons),
        ("Investigations", DIMENSION_OUTCOME, investigations),
    ];
    for name in RESPONDER_METRICS.iter().chain(ENRICHER_METRICS) {
        if !["Decisions", "Investigations"].contains(name) {
            out.push((name, "", BTreeSet::new()));
        }
    }
    out
}

/// `metric` with `dimensions` (name, value) is something the code emits.
fn assert_emitted(metric: &str, dimensions: &[(String, String)], context: &str) {
    assert!(
        RESPONDER_METRICS.contains(&metric) || ENRICHER_METRICS.contains(&metric),
        "{context}: {metric} is not a metric the code emits"
    );
    assert!(
        dimensions.len() <= 1,
        "{context}: the code emits one dimension per series"
    );
    let (dim, value) = dimensions
        .first()
        .map(|(d, v)| (d.as_str(), v.as_str()))
        .unwrap_or(("", ""));
    let ok = emitted().iter().any(|(m, d, values)| {
        *m == metric && *d == dim && (dim.is_empty() || values.contains(value))
    });
    assert!(ok, "{context}: {metric} {dim}={value} is never emitted");
}

#[test]
fn every_dashboard_metric_is_one_the_code_emits() {
    let body = dashboard_body(&template());
    let mut seen = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let title = widget["properties"]["title"].as_str().unwrap_or("?");
        for metric in widget["properties"]["metrics"].as_array().expect("metrics") {
            let parts = metric.as_array().expect("a metric array");
            let strings: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            assert!(
                !strings.contains(&"."),
                "{title}: write every metric out, no \".\" shorthand"
            );
            let (namespace, name) = (strings[0], strings[1]);
            if namespace.starts_with("AWS/") {
                continue;
            }
            assert_eq!(namespace, NAMESPACE, "{title}");
            let dims: Vec<(String, String)> = strings[2..]
                .chunks(2)
                .map(|c| (c[0].to_string(), c[1].to_string()))
                .collect();
            assert_emitted(name, &dims, title);
            seen.insert(name.to_string());
        }
    }
    // The panels: decisions by outcome, time to contain, failures, held findings,
    // enricher duration and budget hits; and the per-stage latency.
    for name in [
        "Decisions",
        "TimeToContain",
        "EnrichmentDuration",
        "BudgetHits",
        "VerifyLatency",
        "IamReadLatency",
        "IamWriteLatency",
        "EvidenceCalls",
        "Investigations",
    ] {
        assert!(seen.contains(name), "the dashboard does not show {name}");
    }
}

#[test]
fn every_alarm_on_deadbolts_namespace_reads_an_emitted_metric() {
    let t = template();
    let filtered: BTreeSet<String> = resources(&t)
        .iter()
        .filter(|(_, b)| b.contains("Type: AWS::Logs::MetricFilter"))
        .filter_map(|(_, b)| {
            b.lines()
                .find_map(|l| l.trim().strip_prefix("MetricName: "))
                .map(str::to_string)
        })
        .collect();
    let mut checked = 0;
    for (name, block) in resources(&t) {
        if !block.contains("Type: AWS::CloudWatch::Alarm") {
            continue;
        }
        if !block.contains(&format!("Namespace: !Sub {NAMESPACE}")) {
            continue;
        }
        let metric = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("MetricName: "))
            .unwrap_or_else(|| panic!("{name} has no MetricName"));
        if filtered.contains(metric) {
            // From a metric filter of this template (settings errors are log lines, not
            // decisions).
            continue;
        }
        let lines: Vec<&str> = block.lines().map(str::trim).collect();
        let dims: Vec<(String, String)> = lines
            .windows(2)
            .filter_map(|w| {
                let d = w[0].strip_prefix("- Name: ")?;
                let v = w[1].strip_prefix("Value: ")?;
                Some((d.to_string(), v.to_string()))
            })
            .collect();
        assert_emitted(metric, &dims, &name);
        checked += 1;
    }
    assert!(checked >= 5, "{checked} alarms read the EMF metrics");
    // The decision alarms no longer need metric filters; the settings alarm keeps its own.
    assert_eq!(
        filtered,
        BTreeSet::from(["SettingsInvalid".to_string()]),
        "metric filters left"
    );
}

#[test]
fn both_functions_get_the_metrics_namespace() {
    let t = template();
    let line = format!(
        "{}: !Sub {NAMESPACE}",
        deadbolt_core::metrics::NAMESPACE_ENV
    );
    assert_eq!(t.matches(&line).count(), 2, "{line}");
}

/// Issue 18: the dashboard shows pending approvals (proposed, expired unanswered) and the
/// expiry events Scheduler could not deliver, in a panel of their own.
#[test]
fn the_dashboard_shows_pending_approvals() {
    let body = dashboard_body(&template());
    let widget = body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .find(|w| {
            w["properties"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Pending approvals"))
        })
        .expect("a pending-approvals panel");
    let series: Vec<String> = widget["properties"]["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| {
            let s: Vec<&str> = m
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            s.join(" ")
        })
        .collect();
    for wanted in [
        "Decisions Outcome pending_approval",
        "Decisions Reason approval_expired",
        "ApproximateNumberOfMessagesVisible QueueName ${ApprovalExpiryDeadLetterQueue.QueueName}",
    ] {
        assert!(
            series.iter().any(|s| s.contains(wanted)),
            "{wanted} missing from {series:?}"
        );
    }
}
