//! The responder's metrics, as one CloudWatch Embedded Metric Format (EMF) line per decision:
//! a JSON object whose `_aws.CloudWatchMetrics` directives tell CloudWatch Logs which members
//! are metrics. The Lambda prints it to stdout next to the decision line; CloudWatch extracts
//! the metrics from the log group with no API call and no extra permission.
//!
//! The names are constants so the template's dashboard and alarms can be checked against what
//! the code emits (`crates/deadbolt-core/tests/template.rs`).

use serde_json::{json, Map, Value};

use crate::record::{DecisionRecord, Outcome};

/// Where the Lambdas read their namespace (the template sets `deadbolt/<stack name>`).
pub const NAMESPACE_ENV: &str = "DEADBOLT_METRICS_NAMESPACE";
/// The namespace without that variable.
pub const DEFAULT_NAMESPACE: &str = "deadbolt";

/// Dimension: the decision's outcome code (`contained`, `failed`, …).
pub const DIMENSION_OUTCOME: &str = "Outcome";
/// Dimension: the decision's reason code (`deny_all_attached`, `circuit_breaker_open`, …).
pub const DIMENSION_REASON: &str = "Reason";

/// Count, one per decision, by `Outcome` and (separately) by `Reason`.
pub const DECISIONS: &str = "Decisions";
/// Milliseconds from GuardDuty's `updatedAt` of the finding to the end of the containing
/// write; `contained` decisions only.
pub const TIME_TO_CONTAIN: &str = "TimeToContain";
/// Milliseconds GuardDuty took to answer `GetFindings` (verification).
pub const VERIFY_LATENCY: &str = "VerifyLatency";
/// Milliseconds spent in IAM reads for one finding.
pub const IAM_READ_LATENCY: &str = "IamReadLatency";
/// Milliseconds spent in IAM writes for one finding.
pub const IAM_WRITE_LATENCY: &str = "IamWriteLatency";

/// Count: a Security Hub write-back that failed (logged, never retried).
pub const SECURITY_HUB_WRITE_BACK_FAILURES: &str = "SecurityHubWriteBackFailures";

/// Every metric name the responder emits.
pub const RESPONDER_METRICS: &[&str] = &[
    DECISIONS,
    TIME_TO_CONTAIN,
    VERIFY_LATENCY,
    IAM_READ_LATENCY,
    IAM_WRITE_LATENCY,
    SECURITY_HUB_WRITE_BACK_FAILURES,
];

/// One EMF line counting a failed Security Hub write-back for `finding_id`.
pub fn write_back_failure_emf(finding_id: &str, namespace: &str, timestamp_ms: i64) -> String {
    emf_line(
        namespace,
        timestamp_ms,
        &[],
        &[(SECURITY_HUB_WRITE_BACK_FAILURES, "Count", 1.0)],
        &[],
        &[("finding_id", Value::from(finding_id))],
    )
}

/// The namespace from [`NAMESPACE_ENV`], or [`DEFAULT_NAMESPACE`].
pub fn namespace_from_env() -> String {
    std::env::var(NAMESPACE_ENV)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

/// One EMF document. `counts` are recorded under one dimension set per entry of
/// `dimensions` (so each can be graphed alone); `plain` metrics (latencies) without
/// dimensions, one series each; `properties` are plain members (searchable in Logs Insights,
/// not metrics). Each metric is (name, unit, value). Shared by the responder and the enricher.
pub fn emf_line(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    counts: &[(&str, &str, f64)],
    plain: &[(&str, &str, f64)],
    properties: &[(&str, Value)],
) -> String {
    let declare = |metrics: &[(&str, &str, f64)]| -> Vec<Value> {
        metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect()
    };
    let mut directives = Vec::new();
    if !counts.is_empty() {
        let sets: Vec<Value> = dimensions.iter().map(|(d, _)| json!([d])).collect();
        directives
            .push(json!({"Namespace": namespace, "Dimensions": sets, "Metrics": declare(counts)}));
    }
    if !plain.is_empty() {
        // One empty dimension set: the metric without dimensions.
        directives
            .push(json!({"Namespace": namespace, "Dimensions": [[]], "Metrics": declare(plain)}));
    }
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
    );
    for (name, value) in dimensions {
        root.insert((*name).to_string(), Value::from(*value));
    }
    for (name, _, value) in counts.iter().chain(plain) {
        root.insert((*name).to_string(), json!(value));
    }
    for (name, value) in properties {
        root.insert((*name).to_string(), value.clone());
    }
    Value::Object(root).to_string()
}

/// The responder's EMF line for `record`, stamped `timestamp_ms`.
pub fn decision_emf(record: &DecisionRecord, namespace: &str, timestamp_ms: i64) -> String {
    let mut latencies = Vec::new();
    if let Some(t) = &record.timings {
        let stages = [
            (VERIFY_LATENCY, t.verify_ms),
            (IAM_READ_LATENCY, t.read_ms),
            (IAM_WRITE_LATENCY, t.write_ms),
        ];
        for (name, value) in stages {
            if let Some(ms) = value {
                latencies.push((name, "Milliseconds", ms));
            }
        }
        if let (Outcome::Contained, Some(ms)) = (record.outcome, t.time_to_contain_ms) {
            latencies.push((TIME_TO_CONTAIN, "Milliseconds", ms));
        }
    }
    let properties = [
        (
            "finding_id",
            Value::from(record.finding_id.clone().unwrap_or_default()),
        ),
        ("mode", Value::from(record.mode.to_string())),
    ];
    emf_line(
        namespace,
        timestamp_ms,
        &[
            (DIMENSION_OUTCOME, record.outcome.as_str()),
            (DIMENSION_REASON, record.reason.as_str()),
        ],
        &[(DECISIONS, "Count", 1.0)],
        &latencies,
        &properties,
    )
}

/// What the EMF specification requires of a document, checked: one JSON object; a numeric
/// `_aws.Timestamp`; each directive with a namespace, at most 30 dimensions per set and 1 to
/// 100 metrics; every dimension a string and every metric a number at the root. For tests.
pub fn check_emf(line: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let aws = &v["_aws"];
    if !aws["Timestamp"].is_i64() {
        return Err("_aws.Timestamp is not an integer".into());
    }
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or("no _aws.CloudWatchMetrics directives")?;
    for d in directives {
        if d["Namespace"].as_str().is_none_or(str::is_empty) {
            return Err("a directive without a namespace".into());
        }
        for set in d["Dimensions"].as_array().ok_or("no Dimensions")? {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                if !v[key].is_string() {
                    return Err(format!("dimension {key} is not a string at the root"));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("no Metrics")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err("a directive needs 1 to 100 metrics".into());
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric without a name")?;
            if !v[name].is_number() {
                return Err(format!("metric {name} is not a number at the root"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::record::{PrincipalDecision, Reason, Timings};

    fn assert_ok(line: &str) {
        if let Err(e) = check_emf(line) {
            panic!("{e}: {line}");
        }
    }

    fn contained() -> DecisionRecord {
        DecisionRecord {
            decision: PrincipalDecision::new(Outcome::Contained, Reason::DenyAllAttached),
            finding_id: Some("92b108e6e29fae28af700f610bd20943".into()),
            timings: Some(Timings {
                verify_ms: Some(41.5),
                read_ms: Some(38.25),
                write_ms: Some(80.0),
                time_to_contain_ms: Some(312_000.0),
            }),
            ..DecisionRecord::empty(Mode::Enforce)
        }
    }

    #[test]
    fn a_containment_is_one_emf_line_with_outcome_reason_and_each_stage() {
        let line = decision_emf(&contained(), "deadbolt/prod", 1_764_470_000_000);
        assert!(!line.contains('\n'), "one line");
        let expected: Value = serde_json::from_str(
            r#"{"Decisions":1.0,"IamReadLatency":38.25,"IamWriteLatency":80.0,"Outcome":"contained","Reason":"deny_all_attached","TimeToContain":312000.0,"VerifyLatency":41.5,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Outcome"],["Reason"]],"Metrics":[{"Name":"Decisions","Unit":"Count"}],"Namespace":"deadbolt/prod"},{"Dimensions":[[]],"Metrics":[{"Name":"VerifyLatency","Unit":"Milliseconds"},{"Name":"IamReadLatency","Unit":"Milliseconds"},{"Name":"IamWriteLatency","Unit":"Milliseconds"},{"Name":"TimeToContain","Unit":"Milliseconds"}],"Namespace":"deadbolt/prod"}],"Timestamp":1764470000000},"finding_id":"92b108e6e29fae28af700f610bd20943","mode":"enforce"}"#,
        )
        .unwrap();
        // Compared as JSON: member order depends on serde_json's `preserve_order` feature,
        // which other crates of the workspace switch on.
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), expected);
    }

    #[test]
    fn every_record_shape_is_valid_emf_and_only_contained_has_time_to_contain() {
        assert_ok(&decision_emf(&contained(), "deadbolt", 0));
        for outcome in Outcome::ALL {
            let mut r = contained();
            r.outcome = *outcome;
            let line = decision_emf(&r, "deadbolt", 0);
            assert_ok(&line);
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v[DIMENSION_OUTCOME], outcome.as_str());
            assert_eq!(
                v.get(TIME_TO_CONTAIN).is_some(),
                *outcome == Outcome::Contained,
                "{line}"
            );
        }
        // A rejected event: no finding, no timings, still counted.
        let rejected = DecisionRecord {
            decision: PrincipalDecision::new(Outcome::Rejected, Reason::NotJson),
            ..DecisionRecord::empty(Mode::DryRun)
        };
        let line = decision_emf(&rejected, "deadbolt", 0);
        assert_ok(&line);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v[DECISIONS], 1.0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn every_name_emitted_is_declared() {
        let v: Value = serde_json::from_str(&decision_emf(&contained(), "deadbolt", 0)).unwrap();
        for d in v["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for m in d["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                assert!(RESPONDER_METRICS.contains(&name), "{name}");
            }
        }
        // ... and the write-back failure line's, a valid EMF document of its own.
        let failure = write_back_failure_emf("f1", "deadbolt", 0);
        assert_ok(&failure);
        let v: Value = serde_json::from_str(&failure).unwrap();
        assert_eq!(v[SECURITY_HUB_WRITE_BACK_FAILURES], 1.0);
        assert_eq!(RESPONDER_METRICS.len(), 6);
    }
}
