//! `deadbolt simulate`: what deadbolt would have done with an account's real GuardDuty history,
//! under the settings in force or a candidate document. Pure and write-free: the findings come
//! in (the CLI reads them from GuardDuty), each goes through the responder's own decision
//! ([`decide_each`]) and the circuit breaker's math ([`CircuitBreaker`]), in the order
//! GuardDuty created them; nothing is asked of IAM.
//!
//! What the simulation assumes, so its numbers read right:
//! - every event arrived live when the finding was created (`createdAt`, else `updatedAt`),
//!   verified with GuardDuty (these are GuardDuty's own copies); `max_finding_age` does not
//!   apply to history;
//! - every write would have succeeded, and no principal carried a DenyAll before the window: a
//!   later finding for a principal already contained with deny-all (or with the identical
//!   plan) is `already_contained` and consumes nothing, as in production;
//! - the circuit breaker counts every write the settings would make, dry-run ones included
//!   ("if enforced"): in enforce mode a refused write is `held`; in dry-run the finding stays
//!   `would_contain` and the summary says which hours would have tripped.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::breaker::CircuitBreaker;
use crate::config::Mode;
use crate::decision::{decide_each, AccountContext, ContainmentPlan, Decision, PlanStrategy};
use crate::finding::{Finding, GuardDutyEvent};
use crate::principal::{Principal, PrincipalKind};
use crate::record::{Outcome, Reason};
use crate::settings::Settings;

/// The whole simulation: one entry per finding, then the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    pub account_id: String,
    /// The window's start (`updatedAt` at or after it), RFC 3339.
    pub since: String,
    /// Where the settings came from (a file, the SSM parameter, the environment).
    pub settings_source: String,
    /// The settings' global mode.
    pub mode: Mode,
    pub findings: Vec<SimulatedFinding>,
    pub summary: Summary,
}

/// What deadbolt would have done with one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulatedFinding {
    pub finding_id: String,
    pub finding_type: String,
    pub severity: f64,
    /// When deadbolt would have acted (`createdAt`, else `updatedAt`).
    pub at: String,
    pub account_id: String,
    /// The mode in force for this finding (account and finding-type overrides applied).
    pub mode: Mode,
    /// One per principal the finding names (one without a principal for a finding deadbolt
    /// does not act on at all).
    pub decisions: Vec<SimulatedDecision>,
}

/// The decision about one principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulatedDecision {
    pub principal: Option<Principal>,
    /// `user/NAME` or `role/NAME`, when deadbolt would have written to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub outcome: Outcome,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Why the role looks like one a workload uses (its containment may stop that workload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_role: Option<String>,
    pub message: String,
}

/// The summary a change request needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub decisions: usize,
    /// Findings GuardDuty returned that deadbolt could not read (set by the caller).
    pub unreadable: usize,
    /// Decisions by outcome and reason, most severe outcome first.
    pub by_outcome: Vec<OutcomeCount>,
    /// Distinct principals deadbolt would have contained, first contained first.
    pub contained_principals: Vec<ContainedPrincipal>,
    /// Principals only ever held by the circuit breaker (never contained), first held first.
    pub held_principals: Vec<String>,
    /// Principals findings named that the protected list kept out of reach.
    pub protected_principals: Vec<ProtectedPrincipal>,
    pub circuit_breaker: BreakerSummary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeCount {
    pub outcome: Outcome,
    pub reason: Reason,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainedPrincipal {
    pub target: String,
    /// Findings that would have contained it (or found it already contained).
    pub findings: usize,
    /// When it would first have been contained.
    pub first_at: String,
    pub strategies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedPrincipal {
    pub target: String,
    pub findings: usize,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerSummary {
    /// `circuit_breaker.max_enforced_per_hour`; `None`: no breaker configured.
    pub max_enforced_per_hour: Option<u32>,
    /// Writes the settings would make (contained, would_contain and held).
    pub writes: usize,
    /// The hour with the most writes.
    pub peak_hour: Option<HourCount>,
    /// Hours in which the breaker would have refused writes (as if enforced), oldest first.
    pub tripped: Vec<HourCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourCount {
    /// The hour, `YYYY-MM-DDTHH:00Z`.
    pub hour: String,
    /// Writes wanted in that hour.
    pub writes: usize,
    /// Of those, refused by the breaker.
    pub refused: usize,
}

/// Simulate `findings` under `settings` in `account`. `since` and `settings_source` are
/// carried into the report as given.
pub fn simulate(
    findings: &[Finding],
    settings: &Settings,
    account: &AccountContext,
    since: &str,
    settings_source: &str,
) -> Simulation {
    let mut ordered: Vec<(&Finding, i64, String)> = findings
        .iter()
        .map(|f| {
            let at = f
                .created_at
                .clone()
                .or_else(|| f.updated_at.clone())
                .unwrap_or_default();
            (f, millis(&at).unwrap_or(0), at)
        })
        .collect();
    ordered.sort_by(|a, b| (a.1, &a.0.id).cmp(&(b.1, &b.0.id)));

    let mut breaker = settings.max_enforced_per_hour().map(CircuitBreaker::new);
    let mut contained: BTreeMap<String, PlanStrategy> = BTreeMap::new();
    let mut out = Vec::with_capacity(ordered.len());
    let mut hours: BTreeMap<String, HourCount> = BTreeMap::new();
    for (finding, at_ms, at) in ordered {
        let mut event = GuardDutyEvent::default();
        event.detail = finding.clone();
        let mode = settings.effective_mode(&finding.finding_type, &finding.account_id);
        let decisions = decide_each(&event, settings, account)
            .into_iter()
            .map(|(principal, decision)| {
                let workload = principal
                    .as_ref()
                    .and_then(|p| workload_role(&finding.finding_type, p));
                let mut d = SimulatedDecision {
                    principal,
                    target: None,
                    outcome: Outcome::Skipped,
                    reason: Reason::ModeOff,
                    strategy: None,
                    workload_role: None,
                    message: String::new(),
                };
                match decision {
                    Decision::Pass {
                        outcome,
                        reason,
                        message,
                    } => (d.outcome, d.reason, d.message) = (outcome, reason, message),
                    Decision::Manual {
                        reason, message, ..
                    } => (d.outcome, d.reason, d.message) = (Outcome::NotContainable, reason, message),
                    Decision::Contain(plan) | Decision::DryRun(plan) => {
                        d.target = Some(plan.target.to_string());
                        d.strategy = Some(plan.strategy.as_str().to_string());
                        d.workload_role = workload;
                        let enforce = mode == Mode::Enforce;
                        let target = plan.target.to_string();
                        if already(&contained, &target, &plan) {
                            d.outcome = Outcome::AlreadyContained;
                            d.reason = Reason::DeadboltDenyAllPresent;
                            d.message = format!(
                                "{target} would already carry deadbolt's policy from an earlier finding: nothing written"
                            );
                        } else {
                            let hour = hour_of(&at);
                            let slot = hours.entry(hour.clone()).or_insert(HourCount {
                                hour,
                                writes: 0,
                                refused: 0,
                            });
                            slot.writes += 1;
                            let admitted = breaker.as_mut().is_none_or(|b| b.admit(at_ms).is_some());
                            if !admitted {
                                slot.refused += 1;
                            }
                            let what = crate::containment::describe(&plan);
                            match (enforce, admitted) {
                                (true, true) => {
                                    d.outcome = Outcome::Contained;
                                    d.reason = contained_reason(&plan);
                                    d.message = format!("would {what}");
                                }
                                (true, false) => {
                                    d.outcome = Outcome::Held;
                                    d.reason = Reason::CircuitBreakerOpen;
                                    d.message = format!(
                                        "the circuit breaker ({} per hour) would have been open: held, not written; would otherwise {what}",
                                        settings.max_enforced_per_hour().unwrap_or(0)
                                    );
                                }
                                (false, admitted) => {
                                    d.outcome = Outcome::WouldContain;
                                    d.reason = Reason::DryRun;
                                    d.message = if admitted {
                                        format!("dry-run: would {what}")
                                    } else {
                                        format!("dry-run: would {what}; if enforced, the circuit breaker would have held it")
                                    };
                                }
                            }
                            if admitted {
                                contained.insert(target, plan.strategy.clone());
                            }
                        }
                    }
                }
                d
            })
            .collect();
        out.push(SimulatedFinding {
            finding_id: finding.id.clone(),
            finding_type: finding.finding_type.clone(),
            severity: finding.severity,
            at,
            account_id: finding.account_id.clone(),
            mode,
            decisions,
        });
    }
    let summary = summarize(&out, settings, hours);
    Simulation {
        account_id: account.account_id.clone(),
        since: since.to_string(),
        settings_source: settings_source.to_string(),
        mode: settings.mode,
        findings: out,
        summary,
    }
}

/// Would `plan` write nothing because an earlier finding's plan already covers it?
fn already(
    contained: &BTreeMap<String, PlanStrategy>,
    target: &str,
    plan: &ContainmentPlan,
) -> bool {
    match contained.get(target) {
        Some(PlanStrategy::DenyAll) => true,
        // A later revoke-sessions moves the cut-off to its own time: a new write.
        Some(PlanStrategy::RevokeSessions) => false,
        Some(earlier) => *earlier == plan.strategy,
        None => false,
    }
}

fn contained_reason(plan: &ContainmentPlan) -> Reason {
    match plan.strategy {
        PlanStrategy::DenyAll => Reason::DenyAllAttached,
        PlanStrategy::RevokeSessions => Reason::SessionsRevoked,
        PlanStrategy::DenySession { .. } => Reason::SessionDenied,
        PlanStrategy::PermissionSetDeny { .. } => Reason::IdentityCenterUserDenied,
        PlanStrategy::AccessKeyOnly => Reason::AccessKeyDeactivated,
    }
}

/// Why a role looks like a workload's: containing it with deny-all stops that workload.
pub fn workload_role(finding_type: &str, principal: &Principal) -> Option<String> {
    if principal.kind != PrincipalKind::Role {
        return None;
    }
    if finding_type.contains("InstanceCredentialExfiltration") {
        return Some("EC2 instance credentials (finding type)".into());
    }
    if finding_type.contains("ResourceCredentialExfiltration") {
        return Some("Lambda or ECS execution-role credentials (finding type)".into());
    }
    let session = principal.session.as_deref()?;
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(id) = session.strip_prefix("i-") {
        if (id.len() == 8 || id.len() == 17) && hex(id) {
            return Some("session name is an EC2 instance id".into());
        }
    }
    if session.len() == 32 && hex(session) {
        return Some("session name is an ECS task id".into());
    }
    None
}

fn summarize(
    findings: &[SimulatedFinding],
    settings: &Settings,
    hours: BTreeMap<String, HourCount>,
) -> Summary {
    let mut by: BTreeMap<(u8, &'static str), OutcomeCount> = BTreeMap::new();
    let mut principals: Vec<ContainedPrincipal> = Vec::new();
    let mut protected: Vec<ProtectedPrincipal> = Vec::new();
    let mut held: Vec<String> = Vec::new();
    let mut decisions = 0;
    for f in findings {
        for d in &f.decisions {
            decisions += 1;
            by.entry((d.outcome.severity_rank(), d.reason.as_str()))
                .or_insert(OutcomeCount {
                    outcome: d.outcome,
                    reason: d.reason,
                    count: 0,
                })
                .count += 1;
            if d.outcome == Outcome::Held {
                if let Some(target) = &d.target {
                    if !held.contains(target) {
                        held.push(target.clone());
                    }
                }
                continue;
            }
            if let Some(target) = &d.target {
                let i = match principals.iter().position(|p| &p.target == target) {
                    Some(i) => i,
                    None => {
                        principals.push(ContainedPrincipal {
                            target: target.clone(),
                            findings: 0,
                            first_at: f.at.clone(),
                            strategies: Vec::new(),
                            workload_role: None,
                        });
                        principals.len() - 1
                    }
                };
                let p = &mut principals[i];
                p.findings += 1;
                if let Some(s) = &d.strategy {
                    if !p.strategies.contains(s) {
                        p.strategies.push(s.clone());
                    }
                }
                if p.workload_role.is_none() {
                    p.workload_role = d.workload_role.clone();
                }
            }
            if d.reason == Reason::ProtectedPrincipal {
                let Some(p) = &d.principal else { continue };
                let kind = match p.kind {
                    PrincipalKind::User => "user",
                    _ => "role",
                };
                let target = format!("{kind}/{}", p.name.as_deref().unwrap_or("?"));
                let pattern = d
                    .message
                    .rsplit_once("pattern ")
                    .map(|(_, pat)| pat.trim_matches('"').to_string())
                    .unwrap_or_default();
                match protected.iter_mut().find(|x| x.target == target) {
                    Some(x) => x.findings += 1,
                    None => protected.push(ProtectedPrincipal {
                        target,
                        findings: 1,
                        pattern,
                    }),
                }
            }
        }
    }
    held.retain(|t| !principals.iter().any(|p| &p.target == t));
    let writes = hours.values().map(|h| h.writes).sum();
    let peak_hour = hours
        .values()
        .max_by(|a, b| a.writes.cmp(&b.writes).then(b.hour.cmp(&a.hour)))
        .cloned();
    let tripped = hours.into_values().filter(|h| h.refused > 0).collect();
    Summary {
        findings: findings.len(),
        decisions,
        unreadable: 0,
        by_outcome: by.into_values().collect(),
        contained_principals: principals,
        held_principals: held,
        protected_principals: protected,
        circuit_breaker: BreakerSummary {
            max_enforced_per_hour: settings.max_enforced_per_hour(),
            writes,
            peak_hour,
            tripped,
        },
    }
}

fn millis(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `2026-11-12T14:00Z` for any time in that hour (the text as given if it is not RFC 3339).
fn hour_of(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:00Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

impl Simulation {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report for a human (and a change request): one line per finding and principal,
    /// then the summary.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "deadbolt simulate: account {}, findings updated since {}, settings from {} (mode {})",
            self.account_id, self.since, self.settings_source, self.mode
        );
        let _ = writeln!(o, "nothing was written: decisions only, no IAM call\n");
        let type_w = self
            .findings
            .iter()
            .map(|f| f.finding_type.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            o,
            "{:<20}  {:<type_w$}  {:>4}  {:<40}  OUTCOME (REASON)",
            "AT", "TYPE", "SEV", "PRINCIPAL"
        );
        for f in &self.findings {
            let at: String = f.at.chars().take(19).collect::<String>() + "Z";
            for d in &f.decisions {
                let who = match (&d.target, &d.principal) {
                    (_, Some(p)) => {
                        let mut w = match (&d.target, p.kind, p.name.as_deref()) {
                            (Some(t), _, _) => t.clone(),
                            (None, PrincipalKind::Root, _) => "root".to_string(),
                            (None, kind, name) => {
                                format!("{}/{}", kind.as_str(), name.unwrap_or("?"))
                            }
                        };
                        if let Some(s) = &p.session {
                            w.push_str(&format!(" ({s})"));
                        }
                        w
                    }
                    (Some(t), None) => t.clone(),
                    (None, None) => "-".into(),
                };
                let mut line = format!(
                    "{at:<20}  {:<type_w$}  {:>4.1}  {who:<40}  {} ({})",
                    f.finding_type,
                    f.severity,
                    d.outcome.as_str(),
                    d.reason.as_str()
                );
                if let Some(s) = &d.strategy {
                    let _ = write!(line, " {s}");
                }
                if d.workload_role.is_some() {
                    line.push_str(" [workload role]");
                }
                let _ = writeln!(o, "{}", line.trim_end());
            }
        }
        let s = &self.summary;
        let _ = writeln!(o, "\nSummary");
        let _ = writeln!(
            o,
            "  findings: {} ({} principal decisions){}",
            s.findings,
            s.decisions,
            if s.unreadable > 0 {
                format!(", {} unreadable and left out", s.unreadable)
            } else {
                String::new()
            }
        );
        let _ = writeln!(o, "  by outcome and reason:");
        for c in &s.by_outcome {
            let _ = writeln!(
                o,
                "    {:<18} {:<28} {:>5}",
                c.outcome.as_str(),
                c.reason.as_str(),
                c.count
            );
        }
        let _ = writeln!(
            o,
            "  principals that would have been contained: {}",
            s.contained_principals.len()
        );
        for p in &s.contained_principals {
            let mut line = format!(
                "    {:<40} {:>3} finding(s), first {}, {}",
                p.target,
                p.findings,
                p.first_at.chars().take(19).collect::<String>() + "Z",
                p.strategies.join(", ")
            );
            if let Some(w) = &p.workload_role {
                let _ = write!(line, "  WORKLOAD ROLE: {w}");
            }
            let _ = writeln!(o, "{line}");
        }
        if !s.held_principals.is_empty() {
            let _ = writeln!(
                o,
                "  principals only held by the circuit breaker (not contained): {}",
                s.held_principals.join(", ")
            );
        }
        if s.protected_principals.is_empty() {
            let _ = writeln!(o, "  protected principals named by findings: none");
        } else {
            let _ = writeln!(
                o,
                "  protected principals named by findings (never contained):"
            );
            for p in &s.protected_principals {
                let _ = writeln!(
                    o,
                    "    {:<40} {:>3} finding(s), pattern {:?}",
                    p.target, p.findings, p.pattern
                );
            }
        }
        let b = &s.circuit_breaker;
        let peak = b
            .peak_hour
            .as_ref()
            .map(|h| format!("; busiest hour {} with {}", h.hour, h.writes))
            .unwrap_or_default();
        match b.max_enforced_per_hour {
            None => {
                let _ = writeln!(
                    o,
                    "  circuit breaker: not configured; {} write(s){peak}",
                    b.writes
                );
            }
            Some(limit) if b.tripped.is_empty() => {
                let _ = writeln!(
                    o,
                    "  circuit breaker ({limit} per hour): would not have tripped; {} write(s){peak}",
                    b.writes
                );
            }
            Some(limit) => {
                let _ = writeln!(
                    o,
                    "  circuit breaker ({limit} per hour): would have tripped in {} hour(s) (as if enforced); {} write(s){peak}",
                    b.tripped.len(),
                    b.writes
                );
                for h in &b.tripped {
                    let _ = writeln!(
                        o,
                        "    {}  {} write(s) wanted, {} refused (held)",
                        h.hour, h.writes, h.refused
                    );
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_roles_are_recognised_by_type_or_session_name() {
        let role = |session: &str| Principal {
            kind: PrincipalKind::Role,
            name: Some("r".into()),
            arn: None,
            session: Some(session.into()),
            access_key_id: None,
        };
        assert!(workload_role(
            "Discovery:IAMUser/AnomalousBehavior",
            &role("i-0a1b2c3d4e5f67890")
        )
        .is_some());
        assert!(workload_role(
            "Discovery:IAMUser/AnomalousBehavior",
            &role("0123456789abcdef0123456789abcdef")
        )
        .is_some());
        assert!(
            workload_role("Discovery:IAMUser/AnomalousBehavior", &role("ci-runner-42")).is_none()
        );
        assert!(workload_role(
            "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS",
            &role("my-function")
        )
        .is_some());
    }

    #[test]
    fn hours_are_utc() {
        assert_eq!(hour_of("2026-11-12T14:59:59.999Z"), "2026-11-12T14:00Z");
        assert_eq!(hour_of("2026-11-12T15:30:00+01:00"), "2026-11-12T14:00Z");
    }
}
