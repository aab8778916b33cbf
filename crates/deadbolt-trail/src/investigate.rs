//! The investigation: from a GuardDuty finding's access key to a report saying who was behind
//! it, how they got there, what they did, what was new and what they left behind.
//!
//! It asks an [`EvidenceSource`] narrow questions (calls made with a key, the event that
//! issued a key, an identity's history) rather than reading everything, so that sources which
//! filter natively (LookupEvents, CloudWatch Logs) stay cheap. Every question is counted with
//! its [`Coverage`]; an exhausted budget or a failing source turns into a line under
//! `missing` and the investigation carries on with what it has. It never fails and never
//! panics: a partial report that says what it lacks is worth more to a responder than none.

use std::collections::HashSet;

use serde::Serialize;
use thiserror::Error;

use deadbolt_core::finding::Finding;

use crate::activity::{sessions_activity, SessionActivity, Window, WINDOW_LEAD_MS, WINDOW_TAIL_MS};
use crate::behaviour::{new_behaviour, FindingNetwork};
use crate::chain::{attribute, Hop, Origin, CREDENTIAL_ISSUING_EVENTS, MAX_CHAIN_HOPS};
use crate::persistence::persistence_sweep;
use crate::record::{parse_rfc3339_ms, Record, TimeError};
use crate::report::{InvestigationReport, QuestionReport, SourceReport, WindowSpan};
use crate::source::{Budget, EventFilter, EvidenceSource};

const MS_PER_DAY: i64 = 86_400_000;

/// What a finding says, as far as the investigation needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subject {
    pub finding_id: String,
    pub finding_type: String,
    pub account_id: String,
    /// The key GuardDuty saw (`resource.accessKeyDetails.accessKeyId`).
    pub access_key_id: String,
    /// `service.eventFirstSeen` / `service.eventLastSeen`, RFC 3339.
    pub first_seen: String,
    pub last_seen: String,
    /// `remoteIpDetails.ipAddressV4`, `organization.asn`, `organization.asnOrg`.
    pub remote_ip: Option<String>,
    pub asn: Option<String>,
    pub asn_org: Option<String>,
    /// `service.additionalInfo.userAgent`, when GuardDuty recorded one.
    pub user_agent: Option<String>,
    /// Where GuardDuty placed the remote IP address (`remoteIpDetails.city`, `.country`,
    /// `.geoLocation`), when it did. Context for the report's map only: read leniently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A point GuardDuty geolocated (latitude and longitude in degrees, checked to be on Earth).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub city: Option<String>,
    pub country: Option<String>,
    pub lat: f64,
    pub lon: f64,
}

impl Location {
    fn from_details(details: &deadbolt_core::finding::RemoteIpDetails) -> Option<Location> {
        let geo = details.geo_location.as_ref()?;
        let (lat, lon) = (geo.get("lat")?.as_f64()?, geo.get("lon")?.as_f64()?);
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return None;
        }
        let name = |value: &Option<serde_json::Value>, field: &str| {
            value
                .as_ref()
                .and_then(|v| v.get(field))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        Some(Location {
            city: name(&details.city, "cityName"),
            country: name(&details.country, "countryName"),
            lat,
            lon,
        })
    }
}

/// A finding that cannot be investigated in CloudTrail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubjectError {
    #[error(
        "finding {finding_id} names no access key (resource.accessKeyDetails.accessKeyId); only \
         findings about an access key can be traced in CloudTrail"
    )]
    NoAccessKey { finding_id: String },
    #[error(
        "finding {finding_id} has no {field}; the investigation window is built from \
         service.eventFirstSeen and service.eventLastSeen"
    )]
    NoTimestamp {
        finding_id: String,
        field: &'static str,
    },
    #[error("finding {finding_id}: {field} is unusable: {source}")]
    BadTimestamp {
        finding_id: String,
        field: &'static str,
        #[source]
        source: TimeError,
    },
}

impl Subject {
    pub fn from_finding(finding: &Finding) -> Result<Subject, SubjectError> {
        let finding_id = finding.id.clone();
        let access_key_id = finding
            .resource
            .access_key_details
            .as_ref()
            .and_then(|details| details.access_key_id.clone())
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| SubjectError::NoAccessKey {
                finding_id: finding_id.clone(),
            })?;
        let timestamp = |value: &Option<String>, field: &'static str| {
            let value = value.clone().ok_or_else(|| SubjectError::NoTimestamp {
                finding_id: finding_id.clone(),
                field,
            })?;
            parse_rfc3339_ms(&value).map_err(|source| SubjectError::BadTimestamp {
                finding_id: finding_id.clone(),
                field,
                source,
            })?;
            Ok(value)
        };
        let first_seen = timestamp(&finding.service.event_first_seen, "service.eventFirstSeen")?;
        let last_seen = timestamp(&finding.service.event_last_seen, "service.eventLastSeen")?;
        let remote = finding
            .api_call()
            .and_then(|call| call.remote_ip_details.as_ref());
        let organization = remote.and_then(|details| details.organization.as_ref());
        let additional = finding.service.additional_info.as_ref();
        // GuardDuty writes the user agent either as a string or as {fullUserAgent, userAgentCategory}.
        let user_agent = additional
            .and_then(|info| info.get("userAgent"))
            .and_then(|agent| {
                agent
                    .as_str()
                    .or_else(|| agent.get("fullUserAgent").and_then(|full| full.as_str()))
            })
            .map(str::to_string);
        Ok(Subject {
            finding_id,
            finding_type: finding.finding_type.clone(),
            account_id: finding.account_id.clone(),
            access_key_id,
            first_seen,
            last_seen,
            remote_ip: remote.and_then(|details| details.ip_address_v4.clone()),
            asn: organization.and_then(|org| org.asn.clone()),
            asn_org: organization.and_then(|org| org.asn_org.clone()),
            user_agent,
            location: remote.and_then(Location::from_details),
        })
    }
}

/// How far to look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvestigationOptions {
    /// The window starts this long before `first_seen` (default 15 minutes).
    pub window_lead_ms: i64,
    /// ... and ends this long after `last_seen` (default 60 minutes).
    pub window_tail_ms: i64,
    /// The baseline is this many days before the window (default 30).
    pub baseline_days: u32,
    /// How far before the window to look for the STS call that issued a key (default 36 h,
    /// the longest a GetSessionToken credential lives).
    pub max_issuer_lookback_ms: i64,
}

impl Default for InvestigationOptions {
    fn default() -> Self {
        InvestigationOptions {
            window_lead_ms: WINDOW_LEAD_MS,
            window_tail_ms: WINDOW_TAIL_MS,
            baseline_days: 30,
            max_issuer_lookback_ms: 36 * 60 * 60 * 1000,
        }
    }
}

/// The investigation's running state: what was asked, what came back, what could not be.
struct Run<'s, S> {
    source: &'s S,
    budget: Budget,
    questions: Vec<QuestionReport>,
    missing: Vec<String>,
    /// Everything collected for attribution and activity, one copy per eventID.
    records: Vec<Record>,
    seen_events: HashSet<String>,
}

/// What one question returned.
struct Answer {
    records: Vec<Record>,
    complete: bool,
}

impl<S: EvidenceSource> Run<'_, S> {
    /// Asks one question. `None` when it could not be asked or the source failed; the reason
    /// is already under `missing`.
    async fn ask(
        &mut self,
        purpose: String,
        filter: EventFilter,
        window: Window,
    ) -> Option<Answer> {
        let mut question = QuestionReport {
            purpose: purpose.clone(),
            filter: filter.describe(),
            window: WindowSpan::of(window),
            asked: false,
            requests: 0,
            records: 0,
            skipped: 0,
            incomplete: None,
            error: None,
        };
        if let Some(why) = self.budget.exhausted() {
            self.missing.push(format!("{purpose} not searched: {why}"));
            question.incomplete = Some(why.to_string());
            self.questions.push(question);
            return None;
        }
        question.asked = true;
        let mut delivered: Vec<Record> = Vec::new();
        let mut sink = |record: Record| delivered.push(record);
        let outcome = self
            .source
            .events(&filter, window, &mut self.budget, &mut sink)
            .await;
        let answer = match outcome {
            Ok(coverage) => {
                question.requests = coverage.requests;
                question.records = coverage.records;
                question.skipped = coverage.skipped;
                if let Some(why) = &coverage.incomplete {
                    self.missing
                        .push(format!("{purpose}: partial answer ({why})"));
                }
                question.incomplete = coverage.incomplete.clone();
                Some(Answer {
                    complete: coverage.incomplete.is_none(),
                    records: delivered,
                })
            }
            Err(error) => {
                self.missing
                    .push(format!("{purpose} not searched: {error}"));
                question.error = Some(error.to_string());
                None
            }
        };
        self.questions.push(question);
        answer
    }

    /// Keeps the records for attribution and activity (each eventID once).
    fn collect(&mut self, records: &[Record]) {
        for record in records {
            if self.seen_events.insert(record.event_id.clone()) {
                self.records.push(record.clone());
            }
        }
    }
}

/// Long-term keys are created by IAM, never issued by STS: asking who issued one would spend
/// budget on a question whose answer is always "nobody".
fn is_long_term_key(key: &str) -> bool {
    key.starts_with("AKIA")
}

/// The key a record issued, if it is a successful credential-issuing STS call.
fn issued_key(record: &Record) -> Option<&str> {
    (record.event_source == "sts.amazonaws.com"
        && CREDENTIAL_ISSUING_EVENTS.contains(&record.event_name.as_str())
        && !record.is_failure())
    .then(|| record.response_str("credentials.accessKeyId"))
    .flatten()
    .filter(|key| !key.is_empty())
}

/// Investigates `subject` using `source`, spending at most `budget`.
pub async fn investigate<S: EvidenceSource>(
    source: &S,
    subject: &Subject,
    options: &InvestigationOptions,
    budget: Budget,
) -> InvestigationReport {
    // An organization-wide source reads the finding's account only.
    let scoped = source.for_account(&subject.account_id);
    let source = scoped.as_ref().unwrap_or(source);
    let mut run = Run {
        source,
        budget,
        questions: Vec::new(),
        missing: Vec::new(),
        records: Vec::new(),
        seen_events: HashSet::new(),
    };
    let mut report = InvestigationReport::empty(subject.clone());

    let window = match scope_window(subject, options) {
        Ok(window) => window,
        Err(why) => {
            report.missing.push(format!(
                "nothing searched: the finding's time range is unusable: {why}"
            ));
            report.sources = vec![run.source_report()];
            return report;
        }
    };
    report.window = Some(WindowSpan::of(window));
    let finding_key = subject.access_key_id.as_str();

    // 1. Up the chain: the finding key's calls, the event that issued it, the key that made
    //    that call, and so on. Only exact key links are followed (see `chain`).
    let issuer_window = Window {
        start_ms: window
            .start_ms
            .saturating_sub(options.max_issuer_lookback_ms.max(0)),
        end_ms: window.end_ms,
    };
    let mut known_keys: HashSet<String> = HashSet::from([finding_key.to_string()]);
    let mut session_keys: Vec<String> = vec![finding_key.to_string()];
    if let Some(answer) = run
        .ask(
            format!("calls made with key {finding_key}"),
            EventFilter::CallerAccessKey(finding_key.to_string()),
            window,
        )
        .await
    {
        run.collect(&answer.records);
    }
    let mut key = finding_key.to_string();
    for _ in 0..MAX_CHAIN_HOPS {
        if is_long_term_key(&key) {
            break;
        }
        let Some(answer) = run
            .ask(
                format!("issuer of key {key}"),
                EventFilter::IssuedAccessKey(key.clone()),
                issuer_window,
            )
            .await
        else {
            break;
        };
        run.collect(&answer.records);
        let issuers: Vec<&Record> = answer
            .records
            .iter()
            .filter(|record| issued_key(record) == Some(key.as_str()))
            .collect();
        let distinct: HashSet<&str> = issuers.iter().map(|r| r.event_id.as_str()).collect();
        // None found or several: `attribute` records the gap; nothing exact to follow.
        let ([issuer, ..], 1) = (issuers.as_slice(), distinct.len()) else {
            break;
        };
        let Some(caller) = issuer
            .user_identity
            .access_key_id
            .clone()
            .filter(|caller| !caller.is_empty())
        else {
            break;
        };
        if !known_keys.insert(caller.clone()) {
            break; // a cycle: `attribute` reports it
        }
        if !is_long_term_key(&caller) {
            session_keys.push(caller.clone());
            if let Some(answer) = run
                .ask(
                    format!("calls made with key {caller}"),
                    EventFilter::CallerAccessKey(caller.clone()),
                    window,
                )
                .await
            {
                run.collect(&answer.records);
            }
        }
        key = caller;
    }

    // 2. Down the chain: roles the sessions went on to assume inside the window (role chaining
    //    after the finding, like sara's AssumeRole into DemoRole1). Followed by exact key too.
    let mut derived_keys: Vec<String> = Vec::new();
    let mut next = 0;
    while next < session_keys.len() + derived_keys.len() {
        let parent = if next < session_keys.len() {
            session_keys[next].clone()
        } else {
            derived_keys[next - session_keys.len()].clone()
        };
        next += 1;
        let children: Vec<String> = run
            .records
            .iter()
            .filter(|record| record.user_identity.access_key_id.as_deref() == Some(&parent))
            .filter(|record| record.event_time_ms().is_ok_and(|t| window.contains(t)))
            .filter_map(|record| issued_key(record).map(str::to_string))
            .collect();
        for child in children {
            if known_keys.contains(&child) {
                continue;
            }
            if derived_keys.len() >= MAX_CHAIN_HOPS {
                report.truncated.derived_sessions = true;
                report.missing.push(format!(
                    "session {child}, assumed with key {parent}, not followed: more than \
                     {MAX_CHAIN_HOPS} chained sessions"
                ));
                continue;
            }
            known_keys.insert(child.clone());
            derived_keys.push(child.clone());
            if let Some(answer) = run
                .ask(
                    format!("calls made with key {child} (assumed with key {parent})"),
                    EventFilter::CallerAccessKey(child.clone()),
                    window,
                )
                .await
            {
                run.collect(&answer.records);
            }
        }
    }

    // 3. Attribution over everything collected, then the derived sessions' own issuing hops.
    let chain = attribute(finding_key, &run.records);
    let derived: Vec<Hop> = derived_keys
        .iter()
        .filter_map(|child| {
            attribute(child, &run.records)
                .hops
                .into_iter()
                .rfind(|hop| &hop.issued_access_key_id == child)
        })
        .collect();

    // 4. Activity of every session: the chain's hops, the finding key itself when no hop
    //    issued it (a long-term key, or an issuer missing from the evidence), the derived ones.
    let mut sessions: Vec<SessionActivity> = chain
        .hops
        .iter()
        .chain(&derived)
        .map(|hop| {
            SessionActivity::empty(
                &hop.issued_access_key_id,
                hop.role_arn.clone(),
                hop.session_name.clone(),
                hop.session_arn.clone(),
            )
        })
        .collect();
    if !chain
        .hops
        .iter()
        .any(|hop| hop.issued_access_key_id == finding_key)
    {
        sessions.insert(
            chain.hops.len(),
            SessionActivity::empty(finding_key, None, None, None),
        );
    }
    let keys: Vec<String> = sessions
        .iter()
        .map(|session| session.access_key_id.clone())
        .collect();
    let activity_keys: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let activity = sessions_activity(sessions, &run.records, window);

    // 5. The baseline: the same identity's calls over the previous days.
    let baseline_window = Window {
        start_ms: window
            .start_ms
            .saturating_sub(i64::from(options.baseline_days).saturating_mul(MS_PER_DAY)),
        end_ms: window.start_ms.saturating_sub(1),
    };
    let baseline_answer = match baseline_name(&chain.origin, &chain.hops) {
        Some(name) if options.baseline_days > 0 => {
            report.baseline_identity = Some(name.clone());
            report.baseline_window = Some(WindowSpan::of(baseline_window));
            run.ask(
                format!("baseline of {name} ({} days)", options.baseline_days),
                EventFilter::Username(name),
                baseline_window,
            )
            .await
        }
        Some(_) => {
            report
                .missing
                .push("new behaviour not assessed: baseline_days is 0".to_string());
            None
        }
        None => {
            report.missing.push(
                "new behaviour not assessed: the origin has no user or session name to search \
                 its history by"
                    .to_string(),
            );
            None
        }
    };
    if let Some(answer) = baseline_answer {
        let hop_events: HashSet<&str> = chain
            .hops
            .iter()
            .chain(&derived)
            .map(|hop| hop.event_id.as_str())
            .collect();
        // The identity's calls in the window: those made with the sessions' keys, and the calls
        // that created the sessions (a sign-in is the identity's call too, and the baseline
        // has them).
        let window_records = run
            .records
            .iter()
            .filter(|record| record.event_time_ms().is_ok_and(|t| window.contains(t)))
            .filter(|record| {
                record
                    .user_identity
                    .access_key_id
                    .as_deref()
                    .is_some_and(|key| activity_keys.contains(key))
                    || hop_events.contains(record.event_id.as_str())
            });
        let network = FindingNetwork {
            remote_ip: subject.remote_ip.clone(),
            asn: subject.asn.clone(),
            asn_org: subject.asn_org.clone(),
        };
        report.new_behaviour = Some(new_behaviour(
            window_records,
            window,
            &answer.records,
            baseline_window,
            answer.complete,
            &network,
        ));
    }

    // 6. What they left behind.
    let persistence = persistence_sweep(&activity_keys, &run.records, window);

    report.issuing_user = crate::session_tree::issuing_user(finding_key, &chain.hops, &run.records);
    report.origin = chain.origin.clone();
    report.chain_complete = chain.is_complete();
    report.gaps = chain.gaps.iter().map(ToString::to_string).collect();
    report.chain = chain.hops;
    report.derived_sessions = derived;
    report.activity = activity.sessions;
    report.undated_calls = activity.undated_calls;
    report.persistence = persistence;
    let mut missing = std::mem::take(&mut run.missing);
    missing.append(&mut report.missing);
    report.missing = missing;
    report.sources = vec![run.source_report()];
    report.bound();
    report
}

impl<S: EvidenceSource> Run<'_, S> {
    fn source_report(&mut self) -> SourceReport {
        let questions = std::mem::take(&mut self.questions);
        SourceReport {
            name: self.source.name().to_string(),
            questions_asked: questions.iter().filter(|q| q.asked).count() as u64,
            requests: questions.iter().map(|q| u64::from(q.requests)).sum(),
            records: questions.iter().map(|q| q.records).sum(),
            skipped: questions.iter().map(|q| q.skipped).sum(),
            questions,
        }
    }
}

fn scope_window(subject: &Subject, options: &InvestigationOptions) -> Result<Window, String> {
    let first = parse_rfc3339_ms(&subject.first_seen).map_err(|e| e.to_string())?;
    let last = parse_rfc3339_ms(&subject.last_seen).map_err(|e| e.to_string())?;
    Window::new(
        first.saturating_sub(options.window_lead_ms.max(0)),
        last.saturating_add(options.window_tail_ms.max(0)),
    )
    .map_err(|e| e.to_string())
}

/// Whose history the baseline is: the person at the origin when CloudTrail names one, else
/// the first session's name (which by AWS's naming guidance identifies who assumed the role).
fn baseline_name(origin: &Origin, hops: &[Hop]) -> Option<String> {
    let named = match origin {
        Origin::IamUser { name, .. } => name.clone(),
        Origin::IdentityCenterUser { user_name, .. } | Origin::SamlUser { user_name, .. } => {
            user_name.clone()
        }
        _ => None,
    };
    named
        .or_else(|| hops.first().and_then(|hop| hop.session_name.clone()))
        .filter(|name| !name.is_empty())
}
