//! What the sessions of an attribution chain did during the scope window: API calls grouped by
//! (eventSource, eventName) with success and failure counts, plus where they came from.
//!
//! A call belongs to a session when it was made with that session's access key
//! (`userIdentity.accessKeyId`). Role ARN and session name are deliberately not used: the same
//! person assuming the same role twice gets the same ARN, and mixing two sessions would put
//! one session's actions on the other's bill.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use thiserror::Error;

use crate::chain::AttributionChain;
use crate::record::{parse_rfc3339_ms, Record, TimeError};

/// How far before the finding's first sighting the default window starts: long enough to catch
/// the reconnaissance and role assumption that usually precede what GuardDuty flagged.
pub const WINDOW_LEAD_MS: i64 = 15 * 60 * 1000;
/// How far after the last sighting the default window ends: what the actor did next.
pub const WINDOW_TAIL_MS: i64 = 60 * 60 * 1000;

/// An inclusive time range in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    #[error("finding timestamp is unusable: {0}")]
    Time(#[from] TimeError),
    #[error("window starts ({start_ms} ms) after it ends ({end_ms} ms); check firstSeen is not later than lastSeen")]
    Inverted { start_ms: i64, end_ms: i64 },
}

impl Window {
    pub fn new(start_ms: i64, end_ms: i64) -> Result<Self, WindowError> {
        if start_ms > end_ms {
            return Err(WindowError::Inverted { start_ms, end_ms });
        }
        Ok(Window { start_ms, end_ms })
    }

    /// The default scope window of a finding: `firstSeen − 15 min … lastSeen + 60 min`, from the
    /// finding's RFC 3339 `service.eventFirstSeen` / `service.eventLastSeen`.
    pub fn around_finding(first_seen: &str, last_seen: &str) -> Result<Self, WindowError> {
        let first_seen_ms = parse_rfc3339_ms(first_seen)?;
        let last_seen_ms = parse_rfc3339_ms(last_seen)?;
        Window::new(
            first_seen_ms.saturating_sub(WINDOW_LEAD_MS),
            last_seen_ms.saturating_add(WINDOW_TAIL_MS),
        )
    }

    pub fn contains(&self, epoch_ms: i64) -> bool {
        (self.start_ms..=self.end_ms).contains(&epoch_ms)
    }
}

/// Calls of one API by one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionSummary {
    pub event_source: String,
    pub event_name: String,
    pub successes: u64,
    /// Calls with an `errorCode`.
    pub failures: u64,
    pub error_codes: BTreeSet<String>,
}

/// One call, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPoint {
    pub at_ms: i64,
    pub event_source: String,
    pub event_name: String,
    /// `errorCode`, when the call failed.
    pub error_code: Option<String>,
}

/// Everything one session of the chain did in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionActivity {
    pub access_key_id: String,
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub session_arn: Option<String>,
    /// Sorted by (event_source, event_name).
    pub actions: Vec<ActionSummary>,
    pub source_ips: BTreeSet<String>,
    pub user_agents: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// Every call in the window, oldest first (capped by the report): what the HTML report's
    /// timeline draws. Not in the JSON report, which stays one bounded log line.
    #[serde(skip)]
    pub calls: Vec<CallPoint>,
}

impl SessionActivity {
    /// The summary for one API, if the session called it.
    pub fn action(&self, event_source: &str, event_name: &str) -> Option<&ActionSummary> {
        self.actions
            .iter()
            .find(|action| action.event_source == event_source && action.event_name == event_name)
    }

    pub fn total_calls(&self) -> u64 {
        self.actions
            .iter()
            .map(|action| action.successes + action.failures)
            .sum()
    }
}

/// The chain's activity, one entry per hop in chain order (origin first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityReport {
    pub window: Window,
    pub sessions: Vec<SessionActivity>,
    /// Calls by a chain session whose `eventTime` could not be parsed, so could not be placed
    /// in or out of the window.
    pub undated_calls: u64,
}

#[derive(Default)]
struct SessionTally {
    actions: BTreeMap<(String, String), ActionSummary>,
    source_ips: BTreeSet<String>,
    user_agents: BTreeSet<String>,
    regions: BTreeSet<String>,
    calls: Vec<CallPoint>,
}

/// Groups the calls each session of `chain` made inside `window`.
pub fn session_activity<'r>(
    chain: &AttributionChain,
    records: impl IntoIterator<Item = &'r Record>,
    window: Window,
) -> ActivityReport {
    let sessions = chain
        .hops
        .iter()
        .map(|hop| {
            SessionActivity::empty(
                &hop.issued_access_key_id,
                hop.role_arn.clone(),
                hop.session_name.clone(),
                hop.session_arn.clone(),
            )
        })
        .collect();
    sessions_activity(sessions, records, window)
}

impl SessionActivity {
    /// A session with no calls counted yet: the input of [`sessions_activity`].
    pub fn empty(
        access_key_id: &str,
        role_arn: Option<String>,
        session_name: Option<String>,
        session_arn: Option<String>,
    ) -> Self {
        SessionActivity {
            access_key_id: access_key_id.to_string(),
            role_arn,
            session_name,
            session_arn,
            actions: Vec::new(),
            source_ips: BTreeSet::new(),
            user_agents: BTreeSet::new(),
            regions: BTreeSet::new(),
            calls: Vec::new(),
        }
    }
}

/// Groups the calls each of `sessions` (identified by access key) made inside `window`.
///
/// The general form of [`session_activity`]: an investigation also follows sessions that are
/// not on the attribution chain (roles the finding's session went on to assume, or a finding
/// key whose issuer is not in the evidence), and they are counted the same way.
pub fn sessions_activity<'r>(
    sessions: Vec<SessionActivity>,
    records: impl IntoIterator<Item = &'r Record>,
    window: Window,
) -> ActivityReport {
    let position_by_key: HashMap<String, usize> = sessions
        .iter()
        .enumerate()
        .map(|(position, session)| (session.access_key_id.clone(), position))
        .collect();
    let mut tallies: Vec<SessionTally> = sessions.iter().map(|_| SessionTally::default()).collect();
    // CloudTrail delivers some records more than once; count each event once.
    let mut counted_events: HashSet<&str> = HashSet::new();
    let mut undated_calls = 0;

    for record in records {
        let Some(&position) = record
            .user_identity
            .access_key_id
            .as_deref()
            .and_then(|key| position_by_key.get(key))
        else {
            continue;
        };
        let at_ms = match record.event_time_ms() {
            Ok(epoch_ms) if window.contains(epoch_ms) => epoch_ms,
            Ok(_) => continue,
            Err(_) => {
                undated_calls += 1;
                continue;
            }
        };
        if !counted_events.insert(record.event_id.as_str()) {
            continue;
        }
        let tally = &mut tallies[position];
        let action = tally
            .actions
            .entry((record.event_source.clone(), record.event_name.clone()))
            .or_insert_with(|| ActionSummary {
                event_source: record.event_source.clone(),
                event_name: record.event_name.clone(),
                successes: 0,
                failures: 0,
                error_codes: BTreeSet::new(),
            });
        let error_code = record.error_code.clone().filter(|code| !code.is_empty());
        match error_code.as_deref() {
            Some(code) => {
                action.failures += 1;
                action.error_codes.insert(code.to_string());
            }
            None => action.successes += 1,
        }
        tally.calls.push(CallPoint {
            at_ms,
            event_source: record.event_source.clone(),
            event_name: record.event_name.clone(),
            error_code,
        });
        tally.source_ips.extend(record.source_ip_address.clone());
        tally.user_agents.extend(record.user_agent.clone());
        tally.regions.extend(record.aws_region.clone());
    }

    let sessions = sessions
        .into_iter()
        .zip(tallies)
        .map(|(session, mut tally)| SessionActivity {
            actions: tally.actions.into_values().collect(),
            calls: {
                tally.calls.sort_by_key(|c| c.at_ms);
                tally.calls
            },
            source_ips: tally.source_ips,
            user_agents: tally.user_agents,
            regions: tally.regions,
            ..session
        })
        .collect();
    ActivityReport {
        window,
        sessions,
        undated_calls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_window_is_fifteen_minutes_before_to_an_hour_after() {
        let window =
            Window::around_finding("2026-11-20T14:00:00Z", "2026-11-20T14:30:00.500Z").unwrap();
        assert_eq!(
            window.start_ms,
            parse_rfc3339_ms("2026-11-20T13:45:00Z").unwrap()
        );
        assert_eq!(
            window.end_ms,
            parse_rfc3339_ms("2026-11-20T15:30:00.500Z").unwrap()
        );
        assert!(window.contains(window.start_ms) && window.contains(window.end_ms));
        assert!(!window.contains(window.end_ms + 1));
    }

    fn record(fields: serde_json::Value) -> Record {
        serde_json::from_value(fields).unwrap()
    }

    #[test]
    fn counts_each_event_once_and_reports_undated_calls() {
        let issue = record(serde_json::json!({
            "eventTime": "2026-11-20T14:00:00Z", "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRole", "eventID": "issue",
            "userIdentity": {"type": "IAMUser", "userName": "bob", "accessKeyId": "AKIABOB"},
            "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/Ops", "roleSessionName": "bob"},
            "responseElements": {"credentials": {"accessKeyId": "ASIAOPS"}}
        }));
        let call = |event_id: &str, time: &str, error_code: Option<&str>| {
            record(serde_json::json!({
                "eventTime": time, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "eventID": event_id, "errorCode": error_code, "awsRegion": "eu-west-1",
                "userIdentity": {"type": "AssumedRole", "accessKeyId": "ASIAOPS"}
            }))
        };
        let records = vec![
            issue,
            call("c1", "2026-11-20T14:01:00Z", None),
            call("c1", "2026-11-20T14:01:00Z", None), // delivered twice
            call("c2", "2026-11-20T14:02:00Z", Some("NoSuchKey")),
            call("c3", "not a time", None),
            call("c4", "2026-11-21T14:02:00Z", None), // a day later: outside
        ];
        let chain = crate::chain::attribute("ASIAOPS", &records);
        let window =
            Window::around_finding("2026-11-20T14:00:00Z", "2026-11-20T14:00:00Z").unwrap();
        let report = session_activity(&chain, &records, window);
        assert_eq!(report.undated_calls, 1);
        let [session] = report.sessions.as_slice() else {
            panic!("one hop, one session: {report:?}");
        };
        let get_object = session.action("s3.amazonaws.com", "GetObject").unwrap();
        assert_eq!((get_object.successes, get_object.failures), (1, 1));
        assert_eq!(
            get_object.error_codes,
            BTreeSet::from(["NoSuchKey".to_string()])
        );
        assert_eq!(session.regions, BTreeSet::from(["eu-west-1".to_string()]));
    }

    #[test]
    fn window_rejects_bad_timestamps_and_inverted_ranges() {
        assert!(matches!(
            Window::around_finding("yesterday", "2026-11-20T14:00:00Z"),
            Err(WindowError::Time(_))
        ));
        // lastSeen three hours before firstSeen: even with the margins the range is inverted.
        assert!(matches!(
            Window::around_finding("2026-11-20T14:00:00Z", "2026-11-20T11:00:00Z"),
            Err(WindowError::Inverted { .. })
        ));
    }
}
