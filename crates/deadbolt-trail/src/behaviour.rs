//! "New behaviour": what the investigated sessions did in the scope window that the same
//! identity never did in its baseline (by default the previous 30 days).
//!
//! Everything here is a set difference over CloudTrail fields, so every claim can be checked
//! by hand against the logs. Where CloudTrail cannot support a claim (autonomous systems) the
//! report says so instead of guessing.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::activity::Window;
use crate::record::Record;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// The network GuardDuty saw the finding's calls come from (`remoteIpDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FindingNetwork {
    pub remote_ip: Option<String>,
    pub asn: Option<String>,
    pub asn_org: Option<String>,
}

/// An API (eventSource + eventName) called in the window but never in the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewApiCall {
    pub event_source: String,
    pub event_name: String,
    /// Calls in the window, failed ones included.
    pub calls: u64,
    pub failures: u64,
}

/// What can honestly be said about the finding's autonomous system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AsnStatus {
    /// The finding's IP address itself appears in the baseline, so its network was used before
    /// (unless the address moved to another AS in between, which is rare within 30 days).
    SeenInBaseline,
    /// CloudTrail records IP addresses, not autonomous systems: without the baseline IPs'
    /// ASNs nothing can be said either way.
    NotVerifiableFromCloudTrail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsnAssessment {
    pub asn: Option<String>,
    pub asn_org: Option<String>,
    pub remote_ip: Option<String>,
    pub status: AsnStatus,
    /// One sentence saying exactly what is claimed.
    pub statement: String,
}

/// Calls per hour in the window against calls per hour in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallVolume {
    pub window_calls: u64,
    pub window_hours: f64,
    pub baseline_calls: u64,
    pub baseline_hours: f64,
    /// `None` when the baseline has no calls: a ratio against zero would be a made-up number.
    pub ratio: Option<f64>,
    pub statement: String,
    /// Calls per UTC hour over the baseline and the window (hours without calls left out),
    /// oldest first: what the HTML report draws. Not in the JSON report, which stays one
    /// bounded log line.
    #[serde(skip)]
    pub hourly: Vec<HourlyCalls>,
}

/// The calls that fell in one UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyCalls {
    /// The hour's start, epoch milliseconds.
    pub hour_start_ms: i64,
    pub calls: u64,
}

/// The difference between the window and the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewBehaviour {
    /// Distinct baseline events the comparison rests on.
    pub baseline_calls: u64,
    /// False when the baseline answer was partial (budget, unreadable logs): then some of what
    /// is listed as new may in fact have happened before.
    pub baseline_complete: bool,
    /// Sorted by (event_source, event_name).
    pub new_api_calls: Vec<NewApiCall>,
    pub new_source_ips: Vec<String>,
    pub new_user_agents: Vec<String>,
    pub new_regions: Vec<String>,
    /// `None` when the finding named no ASN.
    pub autonomous_system: Option<AsnAssessment>,
    pub call_volume: CallVolume,
}

#[derive(Default)]
struct Profile {
    apis: BTreeMap<(String, String), (u64, u64)>,
    ips: BTreeSet<String>,
    user_agents: BTreeSet<String>,
    regions: BTreeSet<String>,
    calls: u64,
    hourly: BTreeMap<i64, u64>,
}

impl Profile {
    fn of<'r>(records: impl IntoIterator<Item = &'r Record>) -> Self {
        let mut profile = Profile::default();
        // Duplicate deliveries would inflate the call volume; each eventID counts once.
        let mut seen: HashSet<&str> = HashSet::new();
        for record in records {
            if !seen.insert(record.event_id.as_str()) {
                continue;
            }
            profile.calls += 1;
            if let Ok(at) = record.event_time_ms() {
                *profile
                    .hourly
                    .entry(at.div_euclid(3_600_000) * 3_600_000)
                    .or_default() += 1;
            }
            let api = profile
                .apis
                .entry((record.event_source.clone(), record.event_name.clone()))
                .or_default();
            api.0 += 1;
            if record.is_failure() {
                api.1 += 1;
            }
            profile.ips.extend(record.source_ip_address.clone());
            profile.user_agents.extend(record.user_agent.clone());
            profile.regions.extend(record.aws_region.clone());
        }
        profile
    }
}

fn hours(window: Window) -> f64 {
    // Inclusive bounds: a window of one instant still lasts a millisecond, never zero hours.
    (window.end_ms - window.start_ms + 1) as f64 / MS_PER_HOUR
}

/// Compares the window's records with the baseline's.
///
/// `window_records` must already be restricted to the investigated sessions and the window;
/// `baseline_records` to the same identity and the baseline period.
pub fn new_behaviour<'w, 'b>(
    window_records: impl IntoIterator<Item = &'w Record>,
    window: Window,
    baseline_records: impl IntoIterator<Item = &'b Record>,
    baseline: Window,
    baseline_complete: bool,
    network: &FindingNetwork,
) -> NewBehaviour {
    let now = Profile::of(window_records);
    let before = Profile::of(baseline_records);

    let new_api_calls = now
        .apis
        .iter()
        .filter(|(api, _)| !before.apis.contains_key(*api))
        .map(
            |((event_source, event_name), (calls, failures))| NewApiCall {
                event_source: event_source.clone(),
                event_name: event_name.clone(),
                calls: *calls,
                failures: *failures,
            },
        )
        .collect();
    let new = |now: &BTreeSet<String>, before: &BTreeSet<String>| -> Vec<String> {
        now.difference(before).cloned().collect()
    };

    NewBehaviour {
        baseline_calls: before.calls,
        baseline_complete,
        new_api_calls,
        new_source_ips: new(&now.ips, &before.ips),
        new_user_agents: new(&now.user_agents, &before.user_agents),
        new_regions: new(&now.regions, &before.regions),
        autonomous_system: assess_asn(network, &before.ips),
        call_volume: CallVolume {
            hourly: hourly(&before.hourly, &now.hourly),
            ..call_volume(now.calls, window, before.calls, baseline)
        },
    }
}

/// The baseline's and the window's hourly counts, merged, oldest first.
fn hourly(before: &BTreeMap<i64, u64>, now: &BTreeMap<i64, u64>) -> Vec<HourlyCalls> {
    let mut all = before.clone();
    for (hour, calls) in now {
        *all.entry(*hour).or_default() += calls;
    }
    all.into_iter()
        .map(|(hour_start_ms, calls)| HourlyCalls {
            hour_start_ms,
            calls,
        })
        .collect()
}

fn assess_asn(network: &FindingNetwork, baseline_ips: &BTreeSet<String>) -> Option<AsnAssessment> {
    if network.asn.is_none() && network.asn_org.is_none() {
        return None;
    }
    let label = match (&network.asn, &network.asn_org) {
        (Some(asn), Some(org)) => format!("AS{asn} ({org})"),
        (Some(asn), None) => format!("AS{asn}"),
        (None, Some(org)) => org.clone(),
        (None, None) => String::new(),
    };
    let ip_in_baseline = network
        .remote_ip
        .as_ref()
        .filter(|ip| baseline_ips.contains(*ip));
    let (status, statement) = match ip_in_baseline {
        Some(ip) => (
            AsnStatus::SeenInBaseline,
            format!(
                "{label} is not new: the finding's IP address {ip} was also used in the baseline"
            ),
        ),
        None => (
            AsnStatus::NotVerifiableFromCloudTrail,
            format!(
                "{label}, from the finding: not verifiable from CloudTrail (CloudTrail records IP \
                 addresses, not autonomous systems, and the finding's IP address {} is not in the \
                 baseline)",
                network.remote_ip.as_deref().unwrap_or("(none given)")
            ),
        ),
    };
    Some(AsnAssessment {
        asn: network.asn.clone(),
        asn_org: network.asn_org.clone(),
        remote_ip: network.remote_ip.clone(),
        status,
        statement,
    })
}

fn call_volume(
    window_calls: u64,
    window: Window,
    baseline_calls: u64,
    baseline: Window,
) -> CallVolume {
    let (window_hours, baseline_hours) = (hours(window), hours(baseline));
    let window_rate = window_calls as f64 / window_hours;
    let (ratio, statement) = if baseline_calls == 0 {
        (
            None,
            format!(
                "{window_calls} calls in {window_hours:.2} h ({window_rate:.1}/h); no baseline: \
                 no calls by this identity in the baseline period"
            ),
        )
    } else {
        let baseline_rate = baseline_calls as f64 / baseline_hours;
        let ratio = window_rate / baseline_rate;
        (
            Some(ratio),
            format!(
                "{window_calls} calls in {window_hours:.2} h ({window_rate:.1}/h) against \
                 {baseline_calls} in {baseline_hours:.0} h ({baseline_rate:.3}/h): {ratio:.1}x \
                 the usual rate"
            ),
        )
    };
    CallVolume {
        window_calls,
        window_hours,
        baseline_calls,
        baseline_hours,
        ratio,
        statement,
        hourly: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(id: &str, name: &str, ip: &str, error: Option<&str>) -> Record {
        serde_json::from_value(json!({
            "eventTime": "2026-11-20T14:00:00Z", "eventSource": "ec2.amazonaws.com",
            "eventName": name, "eventID": id, "sourceIPAddress": ip, "userAgent": "ua",
            "awsRegion": "us-east-1", "errorCode": error,
            "userIdentity": {"type": "AssumedRole", "accessKeyId": "ASIAX"}
        }))
        .unwrap()
    }

    fn hour_window() -> Window {
        Window::new(0, 3_600_000 - 1).unwrap()
    }

    #[test]
    fn lists_only_what_the_baseline_never_did() {
        let window = [
            call("w1", "DescribeInstances", "192.0.2.1", None),
            call(
                "w2",
                "RunInstances",
                "192.0.2.9",
                Some("UnauthorizedOperation"),
            ),
            call(
                "w2",
                "RunInstances",
                "192.0.2.9",
                Some("UnauthorizedOperation"),
            ),
        ];
        let baseline = [call("b1", "DescribeInstances", "192.0.2.1", None)];
        let network = FindingNetwork {
            remote_ip: Some("192.0.2.9".into()),
            asn: Some("64500".into()),
            asn_org: Some("EXAMPLE-NET".into()),
        };
        let behaviour = new_behaviour(
            &window,
            hour_window(),
            &baseline,
            Window::new(-10 * 3_600_000, -1).unwrap(),
            true,
            &network,
        );
        assert_eq!(
            behaviour.new_api_calls,
            vec![NewApiCall {
                event_source: "ec2.amazonaws.com".into(),
                event_name: "RunInstances".into(),
                calls: 1,
                failures: 1
            }]
        );
        assert_eq!(behaviour.new_source_ips, vec!["192.0.2.9".to_string()]);
        assert!(behaviour.new_user_agents.is_empty() && behaviour.new_regions.is_empty());
        let asn = behaviour.autonomous_system.unwrap();
        assert_eq!(asn.status, AsnStatus::NotVerifiableFromCloudTrail);
        assert!(asn.statement.contains("not verifiable from CloudTrail"));
        // 2 calls/h against 1 call in 10 h.
        let ratio = behaviour.call_volume.ratio.unwrap();
        assert!((ratio - 20.0).abs() < 1e-9, "{ratio}");
    }

    #[test]
    fn an_empty_baseline_gives_no_ratio_and_says_so() {
        let window = [call("w1", "DescribeInstances", "192.0.2.1", None)];
        let network = FindingNetwork {
            remote_ip: Some("192.0.2.1".into()),
            asn: Some("64500".into()),
            asn_org: None,
        };
        let behaviour = new_behaviour(
            &window,
            hour_window(),
            &[],
            Window::new(-10, -1).unwrap(),
            true,
            &network,
        );
        assert_eq!(behaviour.call_volume.ratio, None);
        assert!(behaviour.call_volume.statement.contains("no baseline"));
        assert_eq!(
            behaviour.autonomous_system.unwrap().status,
            AsnStatus::NotVerifiableFromCloudTrail
        );
    }

    #[test]
    fn the_finding_ip_in_the_baseline_makes_its_asn_not_new() {
        let baseline = [call("b1", "DescribeInstances", "192.0.2.1", None)];
        let network = FindingNetwork {
            remote_ip: Some("192.0.2.1".into()),
            asn: Some("64500".into()),
            asn_org: Some("EXAMPLE-NET".into()),
        };
        let behaviour = new_behaviour(
            &[],
            hour_window(),
            &baseline,
            Window::new(-10, -1).unwrap(),
            true,
            &network,
        );
        let asn = behaviour.autonomous_system.unwrap();
        assert_eq!(asn.status, AsnStatus::SeenInBaseline);
        assert!(asn
            .statement
            .starts_with("AS64500 (EXAMPLE-NET) is not new"));
        assert!(new_behaviour(
            &[],
            hour_window(),
            &baseline,
            hour_window(),
            true,
            &FindingNetwork::default()
        )
        .autonomous_system
        .is_none());
    }
}
