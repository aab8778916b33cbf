//! Follow-up containment: entities the attacker *created* (IAM users, roles, access keys), as
//! found by the persistence sweep, contained after the investigation. Off by default
//! (`follow_up` in the settings document: off, dry-run, enforce), and under the same rules as
//! the responder: protected principals, deadbolt's own identity, service-linked roles and
//! other accounts are never touched, and the circuit breaker counts these too.
//!
//! Only what the attacker created is contained automatically. What they changed on existing
//! entities (a password set, a policy attached, a trust policy rewritten) belongs to people
//! who may be legitimate: the report lists those with the exact step to undo them.

use std::collections::HashSet;
use std::future::Future;

use deadbolt_core::breaker::ProcessBreaker;
use deadbolt_core::clock::now_ms;
use deadbolt_core::containment::{self, planned};
use deadbolt_core::decision::{
    is_long_term_key, never_contained, AccountCache, AccountContext, PlanStrategy,
};
use deadbolt_core::finding::Finding;
use deadbolt_core::policy::DENY_ALL_POLICY_NAME;
use deadbolt_core::ports::{
    AccessKeys, IdentityProvider, InlinePolicies, NoIdentityCenter, NoSharedBreaker, SharedBreaker,
};
use deadbolt_core::responder::describe;
use deadbolt_core::{
    ActionRecord, Config, ContainmentPlan, ContainmentTarget, Mode, Outcome, Reason, TargetKind,
};
use serde::Serialize;

use crate::persistence::PersistenceCandidate;

/// At most this many follow-up decisions per finding; the rest are reported, not acted on.
pub const MAX_FOLLOW_UPS: usize = 20;

/// One follow-up decision, in the decision record's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUpRecord {
    /// The CloudTrail call that created the entity, and the events that show it.
    pub event_name: String,
    pub event_ids: Vec<String>,
    /// `user/NAME` or `role/NAME`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    pub mode: deadbolt_core::Mode,
    pub outcome: Outcome,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    pub message: String,
    pub actions: Vec<ActionRecord>,
}

/// What to do about one created entity.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpDecision {
    Contain(ContainmentPlan),
    DryRun(ContainmentPlan),
    Pass {
        outcome: Outcome,
        reason: Reason,
        message: String,
    },
}

/// One created entity and the decision about it.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUpItem {
    pub event_name: String,
    pub event_ids: Vec<String>,
    pub target: String,
    pub access_key_id: Option<String>,
    pub decision: FollowUpDecision,
}

/// Pure: the follow-up decision for every entity the finding's sessions created.
pub fn plan_follow_ups(
    candidates: &[PersistenceCandidate],
    finding: &Finding,
    config: &Config,
    account: &AccountContext,
) -> Vec<FollowUpItem> {
    let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
    let mut items = Vec::new();
    for c in candidates.iter().filter(|c| c.succeeded) {
        let e = &c.entity;
        let (kind, name, key) = match c.event_name.as_str() {
            "CreateUser" => (TargetKind::User, e.user_name.clone(), None),
            "CreateRole" => (TargetKind::Role, e.role_name.clone(), None),
            "CreateAccessKey" => (
                TargetKind::User,
                e.user_name.clone(),
                e.access_key_id.clone(),
            ),
            _ => continue,
        };
        let shown = format!(
            "{}/{}",
            kind.as_str(),
            name.as_deref().unwrap_or("(unknown)")
        );
        if !seen.insert((shown.clone(), key.clone())) {
            continue;
        }
        let pass = |outcome, reason, message: String| FollowUpDecision::Pass {
            outcome,
            reason,
            message,
        };
        let decision = if items.len() >= MAX_FOLLOW_UPS {
            pass(
                Outcome::Skipped,
                Reason::FollowUpLimit,
                format!("more than {MAX_FOLLOW_UPS} created entities in one finding: this one is reported, not acted on"),
            )
        } else {
            decide_one(
                c,
                kind,
                name.as_deref(),
                key.as_deref(),
                finding,
                config,
                account,
            )
        };
        items.push(FollowUpItem {
            event_name: c.event_name.clone(),
            event_ids: c.event_ids.clone(),
            target: shown,
            access_key_id: key,
            decision,
        });
    }
    items
}

fn decide_one(
    c: &PersistenceCandidate,
    kind: TargetKind,
    name: Option<&str>,
    key: Option<&str>,
    finding: &Finding,
    config: &Config,
    account: &AccountContext,
) -> FollowUpDecision {
    let pass = |outcome, reason, message: String| FollowUpDecision::Pass {
        outcome,
        reason,
        message,
    };
    if finding.account_id != account.account_id {
        return pass(
            Outcome::NotContainable,
            Reason::ForeignAccount,
            format!(
                "the finding is for account {} but deadbolt acts in {}",
                finding.account_id, account.account_id
            ),
        );
    }
    let Some(name) = name else {
        return pass(
            Outcome::NotContainable,
            Reason::NoPrincipal,
            format!("{} names no entity in CloudTrail", c.event_name),
        );
    };
    let target = match ContainmentTarget::new(kind, name) {
        Ok(t) => t,
        Err(e) => {
            return pass(
                Outcome::NotContainable,
                Reason::InvalidPrincipalName,
                e.to_string(),
            )
        }
    };
    if kind == TargetKind::Role && name.starts_with("AWSServiceRoleFor") {
        return pass(
            Outcome::NotContainable,
            Reason::ServiceLinkedRole,
            format!("{target} is a service-linked role"),
        );
    }
    if let Some((reason, message)) = never_contained(
        config,
        account,
        &target,
        None,
        &finding.partition,
        &finding.account_id,
    ) {
        return pass(Outcome::Skipped, reason, message);
    }
    let (strategy, deactivate_access_key) = match key {
        Some(k) if is_long_term_key(k) => (PlanStrategy::AccessKeyOnly, Some(k.to_string())),
        Some(k) => {
            return pass(
                Outcome::NotContainable,
                Reason::InvalidValue,
                format!("{k:?} from CloudTrail is not an IAM access key id"),
            )
        }
        None => (PlanStrategy::DenyAll, None),
    };
    let plan = ContainmentPlan {
        target,
        policy_name: DENY_ALL_POLICY_NAME,
        finding_id: finding.id.clone(),
        strategy,
        deactivate_access_key,
    };
    if config.follow_up == Mode::Off {
        return pass(
            Outcome::Skipped,
            Reason::ModeOff,
            format!("follow_up is off; would {} (deadbolt config set follow_up dry-run to see it planned)", describe(&plan)),
        );
    }
    // Follow-ups never act beyond the finding itself: a finding the operators keep out of
    // scope, or in dry-run, does not have its follow-ups enforced either.
    if !config.finding_type_enabled(&finding.finding_type) {
        return pass(
            Outcome::Skipped,
            Reason::FindingTypeNotEnabled,
            format!("finding type {} is not among the types that may trigger containment, so neither are its follow-ups", finding.finding_type),
        );
    }
    if finding.severity < config.min_severity {
        return pass(
            Outcome::Skipped,
            Reason::BelowMinSeverity,
            format!(
                "severity {} is below the configured minimum {}, so no follow-up either",
                finding.severity, config.min_severity
            ),
        );
    }
    let finding_mode = config.effective_mode(&finding.finding_type, &finding.account_id);
    match (config.follow_up, finding_mode) {
        (_, Mode::Off) => pass(
            Outcome::Skipped,
            Reason::ModeOff,
            format!(
                "the finding's mode is off, so are its follow-ups; would {}",
                describe(&plan)
            ),
        ),
        (Mode::Enforce, Mode::Enforce) => FollowUpDecision::Contain(plan),
        _ => FollowUpDecision::DryRun(plan),
    }
}

/// Carries out follow-up containment; the enricher calls it after the investigation.
pub trait FollowUpPort: Send + Sync {
    fn follow_up(
        &self,
        finding: &Finding,
        candidates: &[PersistenceCandidate],
        config: &Config,
    ) -> impl Future<Output = Vec<FollowUpRecord>> + Send;
}

/// No follow-up containment (the enricher's default wiring).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFollowUp;

impl FollowUpPort for NoFollowUp {
    async fn follow_up(
        &self,
        _: &Finding,
        _: &[PersistenceCandidate],
        _: &Config,
    ) -> Vec<FollowUpRecord> {
        Vec::new()
    }
}

/// Follow-up containment on IAM.
pub struct FollowUp<P, I, B = NoSharedBreaker> {
    policies: P,
    identity: I,
    account: AccountCache,
    breaker: ProcessBreaker,
    /// The responder's shared count, so follow-ups and containments share one limit.
    shared_breaker: B,
}

impl<P, I> FollowUp<P, I> {
    pub fn new(policies: P, identity: I) -> Self {
        FollowUp {
            policies,
            identity,
            account: AccountCache::default(),
            breaker: ProcessBreaker::default(),
            shared_breaker: NoSharedBreaker,
        }
    }

    pub fn with_shared_breaker<B>(self, shared: B) -> FollowUp<P, I, B> {
        FollowUp {
            policies: self.policies,
            identity: self.identity,
            account: self.account,
            breaker: self.breaker,
            shared_breaker: shared,
        }
    }
}

impl<P, I, B> FollowUpPort for FollowUp<P, I, B>
where
    P: InlinePolicies + AccessKeys,
    I: IdentityProvider,
    B: SharedBreaker,
{
    async fn follow_up(
        &self,
        finding: &Finding,
        candidates: &[PersistenceCandidate],
        config: &Config,
    ) -> Vec<FollowUpRecord> {
        let creations = candidates.iter().any(|c| {
            c.succeeded
                && matches!(
                    c.event_name.as_str(),
                    "CreateUser" | "CreateRole" | "CreateAccessKey"
                )
        });
        if !creations {
            return Vec::new();
        }
        let account = match self.account.get(&self.identity).await {
            Ok(a) => a,
            Err(e) => {
                return vec![FollowUpRecord {
                    event_name: String::new(),
                    event_ids: Vec::new(),
                    target: String::new(),
                    access_key_id: None,
                    mode: config.follow_up,
                    outcome: Outcome::Failed,
                    reason: Reason::IdentityUnavailable,
                    strategy: None,
                    message: format!("could not establish which account deadbolt acts in ({e}); no follow-up containment"),
                    actions: Vec::new(),
                }]
            }
        };
        let mut records = Vec::new();
        for item in plan_follow_ups(candidates, finding, config, &account) {
            let mut record = FollowUpRecord {
                event_name: item.event_name,
                event_ids: item.event_ids,
                target: item.target,
                access_key_id: item.access_key_id,
                mode: config.follow_up,
                outcome: Outcome::Skipped,
                reason: Reason::ModeOff,
                strategy: None,
                message: String::new(),
                actions: Vec::new(),
            };
            match item.decision {
                FollowUpDecision::Pass {
                    outcome,
                    reason,
                    message,
                } => {
                    (record.outcome, record.reason, record.message) = (outcome, reason, message);
                }
                FollowUpDecision::DryRun(plan) => {
                    record.outcome = Outcome::WouldContain;
                    record.reason = Reason::DryRun;
                    record.strategy = Some(plan.strategy.as_str().to_string());
                    record.message = format!("dry-run: would {}", describe(&plan));
                    record.actions = planned(&plan);
                }
                FollowUpDecision::Contain(plan) => {
                    record.strategy = Some(plan.strategy.as_str().to_string());
                    let now = now_ms();
                    // Local sliding hour, then the shared count; an unreadable shared count
                    // admits nothing (the limit cannot be honoured without it).
                    let admitted = self
                        .breaker
                        .admit(&self.shared_breaker, config.max_enforced_per_hour, now)
                        .await;
                    if admitted.is_err() {
                        record.outcome = Outcome::WouldContain;
                        record.reason = Reason::CircuitBreakerOpen;
                        record.message = format!(
                            "circuit breaker open; falling back to dry-run, would {}",
                            describe(&plan)
                        );
                        record.actions = planned(&plan);
                    } else {
                        let applied =
                            containment::apply(&self.policies, &NoIdentityCenter, &plan, now).await;
                        record.outcome = applied.outcome;
                        record.reason = applied.reason;
                        record.message = applied.message;
                        record.actions = applied.actions;
                    }
                }
            }
            records.push(record);
        }
        records
    }
}
