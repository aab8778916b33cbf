//! The responder: parse, decide, contain, record. One engine for every path that contains:
//! the responder Lambda and `deadbolt replay` (a finding's principal) and the enricher's
//! follow-ups (what the attacker created) all run [`Responder`], so they share one account
//! cache, one circuit breaker, one executor ([`containment::apply`]) and one record vocabulary.

use crate::breaker::{Admission, ProcessBreaker};
use crate::clock::now_ms;
use crate::config::Mode;
use crate::containment::{self, describe, Applied};
use crate::decision::{
    decide, plan_follow_ups, AccountCache, AccountContext, ContainmentPlan, Decision,
};
use crate::finding::{parse_event, Finding, GuardDutyEvent};
use crate::followup::{CreatedEntity, FollowUpPort, FollowUpRecord};
use crate::ports::{
    AccessKeys, AwsError, IdentityCenter, IdentityProvider, InlinePolicies, ManagedPolicies,
    NoIdentityCenter, NoSharedBreaker, SharedBreaker,
};
use crate::record::{DecisionRecord, Outcome, Reason};
use crate::runtime::SettingsUnavailable;
use crate::settings::Settings;

/// The AWS capabilities the responder acts through. Identity Center and the shared breaker
/// count are optional: without Identity Center, `permission-set-deny` fails with a clear
/// record; without a shared count, each instance counts only its own enforcements.
pub struct Ports<P, I, C = NoIdentityCenter, B = NoSharedBreaker> {
    /// IAM inline policies and access keys.
    pub iam: P,
    /// deadbolt's own identity (`sts:GetCallerIdentity`).
    pub identity: I,
    pub identity_center: Option<C>,
    pub shared_breaker: Option<B>,
}

impl<P, I> Ports<P, I> {
    /// IAM and identity only: no Identity Center, no shared breaker count.
    pub fn iam(iam: P, identity: I) -> Self {
        Ports {
            iam,
            identity,
            identity_center: None,
            shared_breaker: None,
        }
    }
}

pub struct Responder<P, I, C = NoIdentityCenter, B = NoSharedBreaker> {
    policies: P,
    identity: I,
    /// Identity Center, for `strategy.identity_center: permission-set-deny` only.
    identity_center: Option<C>,
    /// The breaker's count across every instance (DynamoDB in the Lambdas), if wired.
    shared_breaker: Option<B>,
    /// Caller identity, fetched once per process: one STS call per cold start, not per finding.
    account: AccountCache,
    /// Enforcements counted by the circuit breaker in this process.
    breaker: ProcessBreaker,
}

impl<P, I, C, B> Responder<P, I, C, B> {
    /// The engine over its ports. The configuration is not held: every call takes the
    /// settings in force for that event.
    pub fn new(ports: Ports<P, I, C, B>) -> Self {
        Responder {
            policies: ports.iam,
            identity: ports.identity,
            identity_center: ports.identity_center,
            shared_breaker: ports.shared_breaker,
            account: AccountCache::default(),
            breaker: ProcessBreaker::default(),
        }
    }
}

impl<P, I, C, B> Responder<P, I, C, B>
where
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: SharedBreaker,
{
    /// The account deadbolt acts in, from the cache or `sts:GetCallerIdentity`.
    pub async fn account(&self) -> Result<AccountContext, AwsError> {
        self.account.get(&self.identity).await
    }

    /// Handle one raw event under `settings`. Never panics and never fails: every path ends in
    /// a record.
    pub async fn handle(&self, raw: &str, settings: &Settings) -> DecisionRecord {
        match parse_event(raw) {
            Ok(event) => self.handle_event(&event, settings).await,
            Err(e) => DecisionRecord {
                outcome: Outcome::Rejected,
                reason: e.reason(),
                message: format!("rejected: {e}; nothing was done"),
                ..DecisionRecord::empty(settings.mode)
            },
        }
    }

    /// The record of an event that arrived while no settings are known (the settings document
    /// could not be read at all): nothing is decided, and the event is to be delivered again.
    pub fn settings_unavailable(&self, raw: &str, error: &SettingsUnavailable) -> DecisionRecord {
        let mut r = match parse_event(raw) {
            Ok(event) => record(
                &event,
                Mode::Off,
                None,
                Outcome::Failed,
                Reason::SettingsUnavailable,
            ),
            Err(_) => DecisionRecord {
                outcome: Outcome::Failed,
                reason: Reason::SettingsUnavailable,
                ..DecisionRecord::empty(Mode::Off)
            },
        };
        r.message = format!("{error}; nothing was written. Delivering the event again retries");
        r.retryable = true;
        r
    }

    /// Handle one parsed event.
    pub async fn handle_event(
        &self,
        event: &GuardDutyEvent,
        settings: &Settings,
    ) -> DecisionRecord {
        let f = &event.detail;
        // The mode this finding is decided in, overrides included, not the global one.
        let mode = settings.effective_mode(&f.finding_type, &f.account_id);
        let account = match self.account().await {
            Ok(a) => a,
            Err(e) => {
                let mut r = record(
                    event,
                    mode,
                    None,
                    Outcome::Failed,
                    Reason::IdentityUnavailable,
                );
                r.message = format!(
                    "could not establish which account deadbolt acts in (sts:GetCallerIdentity: {e}); nothing was written"
                );
                r.retryable = e.retryable();
                return r;
            }
        };
        let (principal, decision) = decide(event, settings, &account);
        let mut r = record(event, mode, principal, Outcome::Skipped, Reason::ModeOff);
        match decision {
            Decision::Pass {
                outcome,
                reason,
                message,
            } => (r.outcome, r.reason, r.message) = (outcome, reason, message),
            Decision::Manual {
                reason,
                message,
                steps,
            } => {
                (r.outcome, r.reason, r.message) = (Outcome::NotContainable, reason, message);
                r.manual_steps = steps;
            }
            Decision::DryRun(plan) => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                let applied = dry_run(&plan);
                (r.outcome, r.reason, r.actions) =
                    (applied.outcome, applied.reason, applied.actions);
                r.message = format!(
                    "{}; set mode enforce (deadbolt config set mode enforce, or DEADBOLT_MODE) to act",
                    applied.message
                );
            }
            Decision::Contain(plan) => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                let applied = self.execute(&plan, settings).await;
                (r.outcome, r.reason, r.message) =
                    (applied.outcome, applied.reason, applied.message);
                (r.actions, r.retryable) = (applied.actions, applied.retryable);
            }
        }
        r
    }

    /// The one executor: the plan's writes, each admitted by the circuit breaker right before
    /// it happens (a plan that needs no write consumes nothing).
    async fn execute(&self, plan: &ContainmentPlan, settings: &Settings) -> Applied {
        let now = now_ms();
        let mut admission = Admission::new(
            &self.breaker,
            &self.shared_breaker,
            settings.max_enforced_per_hour(),
            now,
        );
        match &self.identity_center {
            Some(idc) => containment::apply(&self.policies, idc, plan, now, &mut admission).await,
            None => {
                containment::apply(&self.policies, &NoIdentityCenter, plan, now, &mut admission)
                    .await
            }
        }
    }
}

impl<P, I, C, B> FollowUpPort for Responder<P, I, C, B>
where
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: SharedBreaker,
{
    async fn follow_up(
        &self,
        finding: &Finding,
        created: &[CreatedEntity],
        settings: Result<&Settings, &SettingsUnavailable>,
    ) -> Vec<FollowUpRecord> {
        if created.is_empty() {
            return Vec::new();
        }
        let failed = |mode, reason, message: String, retryable| {
            vec![FollowUpRecord {
                event_name: String::new(),
                event_ids: Vec::new(),
                target: String::new(),
                access_key_id: None,
                mode,
                outcome: Outcome::Failed,
                reason,
                strategy: None,
                message,
                actions: Vec::new(),
                retryable,
            }]
        };
        let settings = match settings {
            Ok(s) => s,
            Err(e) => {
                return failed(
                    Mode::Off,
                    Reason::SettingsUnavailable,
                    format!("{e}; no follow-up containment"),
                    true,
                )
            }
        };
        let account = match self.account().await {
            Ok(a) => a,
            Err(e) => {
                return failed(
                    settings.follow_up,
                    Reason::IdentityUnavailable,
                    format!("could not establish which account deadbolt acts in ({e}); no follow-up containment"),
                    e.retryable(),
                )
            }
        };
        let mut records = Vec::new();
        for item in plan_follow_ups(created, finding, settings, &account) {
            let (applied, strategy) = match item.decision {
                Decision::Pass {
                    outcome,
                    reason,
                    message,
                } => (
                    Applied {
                        outcome,
                        reason,
                        message,
                        actions: Vec::new(),
                        retryable: false,
                    },
                    None,
                ),
                // Follow-ups are never Identity Center sessions, so never manual.
                Decision::Manual {
                    reason, message, ..
                } => (
                    Applied {
                        outcome: Outcome::NotContainable,
                        reason,
                        message,
                        actions: Vec::new(),
                        retryable: false,
                    },
                    None,
                ),
                Decision::DryRun(plan) => (dry_run(&plan), Some(plan.strategy.as_str())),
                Decision::Contain(plan) => (
                    self.execute(&plan, settings).await,
                    Some(plan.strategy.as_str()),
                ),
            };
            records.push(FollowUpRecord {
                event_name: item.entity.event_name,
                event_ids: item.entity.event_ids,
                target: item.target,
                access_key_id: item.entity.access_key_id,
                mode: settings.follow_up,
                outcome: applied.outcome,
                reason: applied.reason,
                strategy: strategy.map(str::to_string),
                message: applied.message,
                actions: applied.actions,
                retryable: applied.retryable,
            });
        }
        records
    }
}

/// What a plan would do, written nowhere.
fn dry_run(plan: &ContainmentPlan) -> Applied {
    Applied {
        outcome: Outcome::WouldContain,
        reason: Reason::DryRun,
        message: format!("dry-run: would {}", describe(plan)),
        actions: containment::planned(plan),
        retryable: false,
    }
}

fn record(
    event: &GuardDutyEvent,
    mode: Mode,
    principal: Option<crate::principal::Principal>,
    outcome: Outcome,
    reason: Reason,
) -> DecisionRecord {
    let f = &event.detail;
    DecisionRecord {
        finding_id: Some(f.id.clone()),
        finding_type: Some(f.finding_type.clone()),
        account_id: Some(f.account_id.clone()),
        region: Some(f.region.clone()),
        severity: Some(f.severity),
        principal,
        outcome,
        reason,
        ..DecisionRecord::empty(mode)
    }
}
