//! The investigation report: one bounded, serialisable object (schema in
//! `docs/investigation-report.md`), and a human summary of it for the terminal or Markdown
//! that reads like an analyst's notes: who, how, what they did, what is new, what they left
//! behind, what is missing.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::activity::{SessionActivity, Window};
use crate::behaviour::NewBehaviour;
use crate::chain::{Evidence, Hop, Origin};
use crate::investigate::Subject;
use crate::persistence::PersistenceCandidate;
use crate::record::format_rfc3339_ms;

/// Bumped when a field changes meaning or is removed; adding fields does not bump it.
pub const REPORT_VERSION: u32 = 1;
/// Caps that keep a report readable and bounded whatever the logs contain.
pub const MAX_ACTIONS_PER_SESSION: usize = 200;
pub const MAX_PERSISTENCE_CANDIDATES: usize = 100;
/// Source IPs, user agents and regions per session, and each "new" list.
pub const MAX_LIST_ITEMS: usize = 50;
pub const MAX_MISSING_LINES: usize = 100;
/// Calls per session drawn on the HTML report's timeline.
pub const MAX_TIMELINE_CALLS: usize = 2000;

/// A time range, readable and exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowSpan {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl WindowSpan {
    pub fn of(window: Window) -> Self {
        WindowSpan {
            start: format_rfc3339_ms(window.start_ms),
            end: format_rfc3339_ms(window.end_ms),
            start_ms: window.start_ms,
            end_ms: window.end_ms,
        }
    }
}

/// One question put to a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionReport {
    /// What the answer was for: `issuer of key ASIA…`.
    pub purpose: String,
    /// The filter, as [`crate::EventFilter::describe`] writes it.
    pub filter: String,
    pub window: WindowSpan,
    /// False when the budget was spent before it could be asked.
    pub asked: bool,
    pub requests: u32,
    pub records: u64,
    pub skipped: u64,
    /// Why the answer is partial (or, when not asked, why not).
    pub incomplete: Option<String>,
    /// The source's error, when it could not answer at all.
    pub error: Option<String>,
}

/// What one source was asked and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    pub name: String,
    pub questions_asked: u64,
    pub requests: u64,
    pub records: u64,
    pub skipped: u64,
    pub questions: Vec<QuestionReport>,
}

/// Which lists were cut to their cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Truncated {
    /// Some session had more than [`MAX_ACTIONS_PER_SESSION`] distinct APIs.
    pub actions: bool,
    pub source_ips: bool,
    pub user_agents: bool,
    pub regions: bool,
    pub persistence: bool,
    pub new_behaviour: bool,
    /// More chained sessions than are followed.
    pub derived_sessions: bool,
    pub missing: bool,
    /// Some session had more than [`MAX_TIMELINE_CALLS`] calls (the timeline shows the first).
    pub timeline: bool,
}

/// Everything an investigation found, and what it could not look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvestigationReport {
    pub report_version: u32,
    pub subject: Subject,
    /// The scope window; `None` when the finding's timestamps were unusable.
    pub window: Option<WindowSpan>,
    pub origin: Origin,
    /// The origin in words: `Identity Center user sara`.
    pub origin_summary: String,
    /// Every link of the chain was found and nothing disagreed.
    pub chain_complete: bool,
    /// Origin first; the last hop issued the finding's key.
    pub chain: Vec<Hop>,
    /// Sessions created from the chain's sessions inside the window (role chaining onwards).
    pub derived_sessions: Vec<Hop>,
    /// The IAM user behind a federated session (`GetFederationToken`), when the evidence
    /// names one exactly ([`crate::session_tree::issuing_user`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuing_user: Option<crate::session_tree::IssuingUser>,
    pub gaps: Vec<String>,
    /// One entry per session: the chain's, the finding key's when no hop issued it, then the
    /// derived ones.
    pub activity: Vec<SessionActivity>,
    /// Calls by these sessions whose eventTime could not be read.
    pub undated_calls: u64,
    /// The user or session name the baseline was searched by.
    pub baseline_identity: Option<String>,
    pub baseline_window: Option<WindowSpan>,
    /// `None` when no baseline could be searched (see `missing`).
    pub new_behaviour: Option<NewBehaviour>,
    pub persistence: Vec<PersistenceCandidate>,
    pub sources: Vec<SourceReport>,
    /// What could not be searched or was only partly searched, one sentence each.
    pub missing: Vec<String>,
    pub truncated: Truncated,
}

impl InvestigationReport {
    /// A report with nothing found yet.
    pub fn empty(subject: Subject) -> Self {
        InvestigationReport {
            report_version: REPORT_VERSION,
            subject,
            window: None,
            origin: Origin::Unknown,
            origin_summary: describe_origin(&Origin::Unknown),
            chain_complete: false,
            chain: Vec::new(),
            derived_sessions: Vec::new(),
            issuing_user: None,
            gaps: Vec::new(),
            activity: Vec::new(),
            undated_calls: 0,
            baseline_identity: None,
            baseline_window: None,
            new_behaviour: None,
            persistence: Vec::new(),
            sources: Vec::new(),
            missing: Vec::new(),
            truncated: Truncated::default(),
        }
    }

    /// Applies the caps and fills the derived fields; call once everything is in.
    pub fn bound(&mut self) {
        self.origin_summary = describe_origin(&self.origin);
        let truncated = &mut self.truncated;
        for session in &mut self.activity {
            truncated.actions |= cap_vec(&mut session.actions, MAX_ACTIONS_PER_SESSION);
            truncated.source_ips |= cap_set(&mut session.source_ips, MAX_LIST_ITEMS);
            truncated.user_agents |= cap_set(&mut session.user_agents, MAX_LIST_ITEMS);
            truncated.regions |= cap_set(&mut session.regions, MAX_LIST_ITEMS);
            truncated.timeline |= cap_vec(&mut session.calls, MAX_TIMELINE_CALLS);
        }
        truncated.persistence |= cap_vec(&mut self.persistence, MAX_PERSISTENCE_CANDIDATES);
        if let Some(new) = &mut self.new_behaviour {
            truncated.new_behaviour |= cap_vec(&mut new.new_api_calls, MAX_ACTIONS_PER_SESSION)
                | cap_vec(&mut new.new_source_ips, MAX_LIST_ITEMS)
                | cap_vec(&mut new.new_user_agents, MAX_LIST_ITEMS)
                | cap_vec(&mut new.new_regions, MAX_LIST_ITEMS);
        }
        if self.missing.len() > MAX_MISSING_LINES {
            let more = self.missing.len() - (MAX_MISSING_LINES - 1);
            self.missing.truncate(MAX_MISSING_LINES - 1);
            self.missing.push(format!("… and {more} more"));
            truncated.missing = true;
        }
    }

    /// The report as pretty-printed JSON (the schema in `docs/investigation-report.md`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|error| {
            // Unreachable with these types (string keys only, no fallible Serialize impls);
            // still a JSON object rather than a panic in a responder.
            serde_json::json!({"report_version": REPORT_VERSION, "error": error.to_string()})
                .to_string()
        })
    }

    /// The human summary for a terminal.
    pub fn to_text(&self) -> String {
        self.render(Style::Text)
    }

    /// The human summary as Markdown (tickets, chat, pull requests).
    pub fn to_markdown(&self) -> String {
        self.render(Style::Markdown)
    }

    fn render(&self, style: Style) -> String {
        let mut out = String::new();
        let subject = &self.subject;
        style.title(
            &mut out,
            &format!("Investigation of GuardDuty finding {}", subject.finding_id),
        );
        let window = self
            .window
            .as_ref()
            .map(|w| format!("{} to {}", w.start, w.end))
            .unwrap_or_else(|| "none (unusable finding timestamps)".to_string());
        line(
            &mut out,
            &format!(
                "{} on key {} in account {}, first seen {}, last seen {}. Window: {window}.",
                style.code(&subject.finding_type),
                style.code(&subject.access_key_id),
                subject.account_id,
                subject.first_seen,
                subject.last_seen
            ),
        );

        style.heading(&mut out, "Who");
        let completeness = if self.chain_complete {
            "every link of the chain is in the logs"
        } else {
            "the chain is incomplete, see What is missing"
        };
        line(
            &mut out,
            &format!("{} ({completeness}).", style.bold(&self.origin_summary)),
        );

        style.heading(&mut out, "How");
        if self.chain.is_empty() {
            line(
                &mut out,
                "No STS call in the evidence issued the finding's key.",
            );
        }
        for (position, hop) in self.chain.iter().enumerate() {
            item(
                &mut out,
                &format!("{}. {}", position + 1, describe_hop(hop, style)),
            );
        }
        if !self.derived_sessions.is_empty() {
            line(&mut out, "");
            line(
                &mut out,
                "Then, from these sessions (role chaining onwards):",
            );
            for hop in &self.derived_sessions {
                item(&mut out, &format!("- {}", describe_hop(hop, style)));
            }
        }

        style.heading(&mut out, "What they did");
        if self.activity.iter().all(|s| s.actions.is_empty()) {
            line(&mut out, "No calls by these sessions in the window.");
        }
        for session in &self.activity {
            style.subheading(&mut out, &session_label(session, style));
            line(
                &mut out,
                &format!(
                    "{} calls from {}; user agents: {}; regions: {}.",
                    session.total_calls(),
                    list_or_none(&session.source_ips, style),
                    list_or_none(&session.user_agents, style),
                    list_or_none(&session.regions, style)
                ),
            );
            for action in &session.actions {
                let mut parts = Vec::new();
                if action.failures > 0 {
                    let codes: Vec<&str> = action.error_codes.iter().map(String::as_str).collect();
                    parts.push(format!("{} failed ({})", action.failures, codes.join(", ")));
                }
                if action.successes > 0 {
                    parts.push(format!("{} succeeded", action.successes));
                }
                item(
                    &mut out,
                    &format!(
                        "- {} {}: {}",
                        style.code(&action.event_source),
                        action.event_name,
                        parts.join(", ")
                    ),
                );
            }
        }
        if self.undated_calls > 0 {
            line(
                &mut out,
                &format!(
                    "{} call(s) had an unreadable eventTime and are not counted.",
                    self.undated_calls
                ),
            );
        }

        style.heading(&mut out, "What is new");
        match &self.new_behaviour {
            None => line(
                &mut out,
                "Not assessed: no baseline was searched (see What is missing).",
            ),
            Some(new) => self.render_new(&mut out, new, style),
        }

        style.heading(&mut out, "What they left behind");
        if self.persistence.is_empty() {
            line(
                &mut out,
                "No IAM persistence calls (users, roles, keys, passwords, policies, group \
                 membership) by these sessions in the window.",
            );
        }
        for candidate in &self.persistence {
            let outcome = if candidate.succeeded {
                "succeeded".to_string()
            } else {
                format!("failed ({})", candidate.error_codes.join(", "))
            };
            item(
                &mut out,
                &format!(
                    "- {} {outcome}{} at {}: {}. Events: {}.",
                    candidate.event_name,
                    describe_entity(candidate),
                    candidate.first_event_time,
                    candidate.follow_up,
                    candidate
                        .event_ids
                        .iter()
                        .map(|id| style.code(id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }

        style.heading(&mut out, "What is missing");
        let mut nothing_missing = true;
        for gap in &self.gaps {
            item(&mut out, &format!("- {gap}"));
            nothing_missing = false;
        }
        for missing in &self.missing {
            item(&mut out, &format!("- {missing}"));
            nothing_missing = false;
        }
        for source in &self.sources {
            // Per question, not summed: a file source re-reads the same damaged files for
            // every question, and the sum would overstate what is unreadable.
            let skipped = source
                .questions
                .iter()
                .map(|q| q.skipped)
                .max()
                .unwrap_or(0);
            if skipped > 0 {
                item(
                    &mut out,
                    &format!(
                        "- {}: up to {skipped} unreadable record(s) or file(s) skipped per \
                         question; what they held was not searched",
                        source.name
                    ),
                );
                nothing_missing = false;
            }
        }
        let truncated = &self.truncated;
        if [
            truncated.actions,
            truncated.source_ips,
            truncated.user_agents,
            truncated.regions,
            truncated.persistence,
            truncated.new_behaviour,
            truncated.derived_sessions,
            truncated.missing,
        ]
        .contains(&true)
        {
            item(
                &mut out,
                "- some lists were cut to their caps; the JSON report's `truncated` says which",
            );
            nothing_missing = false;
        }
        if nothing_missing {
            line(&mut out, "Nothing: every question was answered in full.");
        }
        for source in &self.sources {
            line(
                &mut out,
                &format!(
                    "Sources: {} ({} questions, {} requests, {} records).",
                    source.name, source.questions_asked, source.requests, source.records
                ),
            );
        }
        out
    }

    fn render_new(&self, out: &mut String, new: &NewBehaviour, style: Style) {
        let who = self.baseline_identity.as_deref().unwrap_or("this identity");
        let period = self
            .baseline_window
            .as_ref()
            .map(|w| format!("{} to {}", w.start, w.end))
            .unwrap_or_default();
        line(
            out,
            &format!(
                "Compared with {who}'s calls from {period} ({} calls{}).",
                new.baseline_calls,
                if new.baseline_complete {
                    ""
                } else {
                    "; the baseline is partial, so some of this may not be new"
                }
            ),
        );
        let apis: Vec<String> = new
            .new_api_calls
            .iter()
            .map(|api| {
                let failed = if api.failures > 0 {
                    format!(", {} failed", api.failures)
                } else {
                    String::new()
                };
                format!(
                    "{} {} ({} call(s){failed})",
                    style.code(&api.event_source),
                    api.event_name,
                    api.calls
                )
            })
            .collect();
        item(
            out,
            &format!(
                "- New API calls: {}",
                if apis.is_empty() {
                    "none".to_string()
                } else {
                    apis.join(", ")
                }
            ),
        );
        item(
            out,
            &format!(
                "- New source IPs: {}",
                joined_or_none(&new.new_source_ips, style)
            ),
        );
        item(
            out,
            &format!(
                "- New user agents: {}",
                joined_or_none(&new.new_user_agents, style)
            ),
        );
        item(
            out,
            &format!("- New regions: {}", joined_or_none(&new.new_regions, style)),
        );
        if let Some(asn) = &new.autonomous_system {
            item(out, &format!("- Network: {}", asn.statement));
        }
        item(
            out,
            &format!("- Call volume: {}", new.call_volume.statement),
        );
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    Text,
    Markdown,
}

impl Style {
    fn title(self, out: &mut String, text: &str) {
        match self {
            Style::Text => {
                let _ = writeln!(out, "{text}\n{}", "=".repeat(text.chars().count()));
            }
            Style::Markdown => {
                let _ = writeln!(out, "# {text}\n");
            }
        }
    }

    fn heading(self, out: &mut String, text: &str) {
        match self {
            Style::Text => {
                let _ = writeln!(out, "\n{text}\n{}", "-".repeat(text.chars().count()));
            }
            Style::Markdown => {
                let _ = writeln!(out, "\n## {text}\n");
            }
        }
    }

    fn subheading(self, out: &mut String, text: &str) {
        match self {
            Style::Text => {
                let _ = writeln!(out, "\n* {text}");
            }
            Style::Markdown => {
                let _ = writeln!(out, "\n### {text}\n");
            }
        }
    }

    /// A value from the logs. User agents and names are chosen by whoever made the call, so
    /// control characters (terminal escape sequences, line breaks) are replaced, and in
    /// Markdown the value is a code span so it cannot inject links or formatting.
    fn code(self, text: &str) -> String {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        match self {
            Style::Text => clean,
            Style::Markdown => format!("`{}`", clean.replace('`', "'")),
        }
    }

    fn bold(self, text: &str) -> String {
        match self {
            Style::Text => text.to_string(),
            Style::Markdown => format!("**{text}**"),
        }
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn item(out: &mut String, text: &str) {
    line(out, text);
}

fn cap_vec<T>(items: &mut Vec<T>, cap: usize) -> bool {
    let over = items.len() > cap;
    items.truncate(cap);
    over
}

fn cap_set(items: &mut BTreeSet<String>, cap: usize) -> bool {
    if items.len() <= cap {
        return false;
    }
    *items = std::mem::take(items).into_iter().take(cap).collect();
    true
}

fn list_or_none(items: &BTreeSet<String>, style: Style) -> String {
    if items.is_empty() {
        "none recorded".to_string()
    } else {
        items
            .iter()
            .map(|item| style.code(item))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn joined_or_none(items: &[String], style: Style) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(|item| style.code(item))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub(crate) fn session_label(session: &SessionActivity, style: Style) -> String {
    let name = session.session_name.as_deref().unwrap_or("(unnamed)");
    match session.role_arn.as_deref() {
        Some(role) => format!(
            "Session {name} of role {} (key {})",
            last_segment(role),
            style.code(&session.access_key_id)
        ),
        None if session.session_name.is_some() => format!(
            "Session {name} (key {})",
            style.code(&session.access_key_id)
        ),
        None => format!("Key {}", style.code(&session.access_key_id)),
    }
}

pub(crate) fn describe_hop(hop: &Hop, style: Style) -> String {
    let target = match (&hop.role_name, &hop.session_name) {
        (Some(role), Some(session)) => format!(
            "into role {} as session {}",
            style.code(role),
            style.code(session)
        ),
        (Some(role), None) => format!("into role {}", style.code(role)),
        (None, Some(session)) => format!("as {}", style.code(session)),
        (None, None) => String::new(),
    };
    let caller = hop
        .caller_arn
        .clone()
        .or_else(|| hop.caller_access_key_id.clone())
        .unwrap_or_else(|| hop.caller_type.clone());
    let evidence: Vec<String> = hop
        .evidence
        .iter()
        .map(|evidence| match evidence {
            Evidence::IssuedKey => "the event issued this key".to_string(),
            Evidence::CallerKeyFromPreviousHop => "called with the previous hop's key".to_string(),
            Evidence::CallerSessionIssuerIsPreviousRole => {
                "caller's session belongs to the previous role".to_string()
            }
            Evidence::KeyUsedUnderRole { calls } => {
                format!("{calls} call(s) with the key name this role")
            }
            Evidence::SourceIdentityAgrees { value } => {
                format!("source identity {value} carried through")
            }
        })
        .collect();
    format!(
        "{} {} {target}, issuing key {}; called by {caller} from {} ({}){}. Evidence: {}. Event {}.",
        hop.event_time,
        style.code(&hop.event_name),
        style.code(&hop.issued_access_key_id),
        hop.source_ip_address.as_deref().unwrap_or("an unrecorded address"),
        style.code(hop.user_agent.as_deref().unwrap_or("no user agent")),
        if hop.cross_account {
            ", across accounts"
        } else {
            ""
        },
        evidence.join("; "),
        style.code(&hop.event_id)
    )
}

pub(crate) fn describe_entity(candidate: &PersistenceCandidate) -> String {
    let entity = &candidate.entity;
    let mut parts = Vec::new();
    let mut push = |label: &str, value: &Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{label} {value}"));
        }
    };
    push("user", &entity.user_name);
    push("role", &entity.role_name);
    push("group", &entity.group_name);
    push("policy", &entity.policy_arn);
    push("policy", &entity.policy_name);
    push("new key", &entity.access_key_id);
    if parts.is_empty() {
        String::new()
    } else {
        format!(" on {}", parts.join(", "))
    }
}

/// The origin in words, for people.
pub fn describe_origin(origin: &Origin) -> String {
    let or_unknown = |value: &Option<String>| {
        value
            .clone()
            .unwrap_or_else(|| "(name not recorded)".to_string())
    };
    match origin {
        Origin::IamUser { name, arn, .. } => match arn {
            Some(arn) => format!("IAM user {} ({arn})", or_unknown(name)),
            None => format!("IAM user {}", or_unknown(name)),
        },
        Origin::IdentityCenterUser {
            user_name,
            user_id,
            saml_provider_arn,
            ..
        } => {
            let mut text = format!("Identity Center user {}", or_unknown(user_name));
            if let Some(id) = user_id {
                let _ = write!(text, " (user id {id})");
            }
            if let Some(provider) = saml_provider_arn {
                let _ = write!(text, ", signed in through {}", last_segment(provider));
            }
            text
        }
        Origin::SamlUser {
            user_name,
            identity_provider,
            saml_provider_arn,
        } => {
            let provider = saml_provider_arn
                .as_deref()
                .map(last_segment)
                .or(identity_provider.as_deref())
                .unwrap_or("an unrecorded identity provider");
            format!("SAML user {} from {provider}", or_unknown(user_name))
        }
        Origin::WebIdentity { provider, subject } => format!(
            "web identity {} from {}",
            or_unknown(subject),
            provider.as_deref().unwrap_or("an unrecorded provider")
        ),
        Origin::AwsService { invoked_by } => format!(
            "the AWS service {}",
            invoked_by.as_deref().unwrap_or("(not recorded)")
        ),
        Origin::Ec2Instance {
            instance_id,
            role_arn,
        } => match role_arn {
            Some(role) => format!(
                "EC2 instance {instance_id} (instance profile role {})",
                last_segment(role)
            ),
            None => format!("EC2 instance {instance_id}"),
        },
        Origin::Root { account_id } => format!(
            "the root user of account {}",
            account_id.as_deref().unwrap_or("(not recorded)")
        ),
        Origin::OtherAccount { account_id } => {
            format!("a principal in account {account_id}, whose CloudTrail logs were not searched")
        }
        Origin::Unknown => {
            "unknown: the evidence searched does not show who obtained the credentials".to_string()
        }
    }
}
