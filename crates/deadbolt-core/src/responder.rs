//! The responder: parse, decide, contain, record. The Lambda and `deadbolt replay` both run
//! exactly this code; they differ only in where the event comes from and where records go.

use crate::breaker::ProcessBreaker;
use crate::clock::now_ms;
use crate::config::Config;
use crate::containment;
use crate::decision::{decide, AccountCache, AccountContext, ContainmentPlan, Decision};
use crate::finding::{parse_event, GuardDutyEvent};
use crate::ports::{
    AccessKeys, IamError, IdentityCenter, IdentityProvider, InlinePolicies, NoIdentityCenter,
    NoSharedBreaker, SharedBreaker,
};
use crate::principal::Principal;
use crate::record::{DecisionRecord, Outcome, Reason, RECORD_VERSION};

pub struct Responder<P, I, C = NoIdentityCenter, B = NoSharedBreaker> {
    config: Config,
    policies: P,
    identity: I,
    /// Identity Center, for `strategy.identity_center: permission-set-deny` only.
    identity_center: C,
    /// Caller identity, fetched once per process: one STS call per cold start, not per finding.
    account: AccountCache,
    /// Enforcements counted by the circuit breaker (this process only).
    breaker: ProcessBreaker,
    /// The breaker's count across every instance (DynamoDB in the Lambda), if wired.
    shared_breaker: B,
}

impl<P, I> Responder<P, I, NoIdentityCenter> {
    pub fn new(config: Config, policies: P, identity: I) -> Self {
        Responder {
            config,
            policies,
            identity,
            identity_center: NoIdentityCenter,
            account: AccountCache::default(),
            breaker: ProcessBreaker::default(),
            shared_breaker: NoSharedBreaker,
        }
    }
}

impl<P, I, C, B> Responder<P, I, C, B> {
    /// The same responder, able to contain Identity Center users through `identity_center`.
    pub fn with_identity_center<C2>(self, identity_center: C2) -> Responder<P, I, C2, B> {
        Responder {
            config: self.config,
            policies: self.policies,
            identity: self.identity,
            identity_center,
            account: self.account,
            breaker: self.breaker,
            shared_breaker: self.shared_breaker,
        }
    }

    /// The same responder, its circuit breaker also counted in `shared` across instances.
    pub fn with_shared_breaker<B2>(self, shared: B2) -> Responder<P, I, C, B2> {
        Responder {
            config: self.config,
            policies: self.policies,
            identity: self.identity,
            identity_center: self.identity_center,
            account: self.account,
            breaker: self.breaker,
            shared_breaker: shared,
        }
    }
}

impl<P, I, C, B> Responder<P, I, C, B>
where
    P: InlinePolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: SharedBreaker,
{
    pub fn identity_center(&self) -> &C {
        &self.identity_center
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn policies(&self) -> &P {
        &self.policies
    }

    /// The account deadbolt acts in, from the cache or `sts:GetCallerIdentity`.
    pub async fn account(&self) -> Result<AccountContext, IamError> {
        self.account.get(&self.identity).await
    }

    /// Handle one raw event. Never panics and never fails: every path ends in a record.
    pub async fn handle(&self, raw: &str) -> DecisionRecord {
        self.handle_with(raw, &self.config).await
    }

    /// Handle one raw event under `config` instead of the one given at construction: the
    /// Lambda passes the runtime configuration in force for this invocation.
    pub async fn handle_with(&self, raw: &str, config: &Config) -> DecisionRecord {
        let event = match parse_event(raw) {
            Ok(event) => event,
            Err(e) => {
                return DecisionRecord {
                    record_version: RECORD_VERSION,
                    finding_id: None,
                    finding_type: None,
                    account_id: None,
                    region: None,
                    severity: None,
                    mode: config.mode,
                    principal: None,
                    outcome: Outcome::Rejected,
                    reason: e.reason(),
                    strategy: None,
                    message: format!("rejected: {e}; nothing was done"),
                    manual_steps: Vec::new(),
                    actions: Vec::new(),
                    retryable: false,
                }
            }
        };
        self.handle_event_with(&event, config).await
    }

    /// Handle one parsed event.
    pub async fn handle_event(&self, event: &GuardDutyEvent) -> DecisionRecord {
        self.handle_event_with(event, &self.config).await
    }

    async fn handle_event_with(&self, event: &GuardDutyEvent, config: &Config) -> DecisionRecord {
        let account = match self.account().await {
            Ok(a) => a,
            Err(e) => {
                let mut r = self.record(
                    config,
                    event,
                    None,
                    Outcome::Failed,
                    Reason::IdentityUnavailable,
                );
                r.message = format!(
                    "could not establish which account deadbolt acts in (sts:GetCallerIdentity: {e}); nothing was written"
                );
                r.retryable = true;
                return r;
            }
        };
        let (principal, decision) = decide(event, config, &account);
        match decision {
            Decision::Pass {
                outcome,
                reason,
                message,
            } => {
                let mut r = self.record(config, event, principal, outcome, reason);
                r.message = message;
                r
            }
            Decision::Manual {
                reason,
                message,
                steps,
            } => {
                let mut r = self.record(config, event, principal, Outcome::NotContainable, reason);
                r.message = message;
                r.manual_steps = steps;
                r
            }
            Decision::DryRun(plan) => {
                let mut r = self.record(
                    config,
                    event,
                    principal,
                    Outcome::WouldContain,
                    Reason::DryRun,
                );
                r.actions = containment::planned(&plan);
                r.strategy = Some(plan.strategy.as_str().to_string());
                r.message = format!(
                    "dry-run: would {}; set mode enforce (deadbolt config set mode enforce, or DEADBOLT_MODE) to act",
                    describe(&plan)
                );
                r
            }
            Decision::Contain(plan) => {
                if let Some((open, retryable)) = self.breaker_refuses(config).await {
                    let mut r = self.record(
                        config,
                        event,
                        principal,
                        Outcome::WouldContain,
                        Reason::CircuitBreakerOpen,
                    );
                    r.actions = containment::planned(&plan);
                    r.strategy = Some(plan.strategy.as_str().to_string());
                    r.message = format!(
                        "circuit breaker open: {open}; falling back to dry-run, would {}",
                        describe(&plan)
                    );
                    r.retryable = retryable;
                    return r;
                }
                self.contain(config, event, principal, &plan).await
            }
        }
    }

    /// The critical path: one read, then at most one write, on exactly one IAM entity.
    async fn contain(
        &self,
        config: &Config,
        event: &GuardDutyEvent,
        principal: Option<Principal>,
        plan: &ContainmentPlan,
    ) -> DecisionRecord {
        let applied =
            containment::apply(&self.policies, &self.identity_center, plan, now_ms()).await;
        let mut r = self.record(config, event, principal, applied.outcome, applied.reason);
        r.strategy = Some(plan.strategy.as_str().to_string());
        r.message = applied.message;
        r.actions = applied.actions;
        r.retryable = applied.retryable;
        r
    }

    /// `Some((why, retryable))` when the configured limit of enforced containments per hour
    /// is reached (in this instance's sliding hour, or in the shared count's UTC hour), or the
    /// shared count cannot be read; otherwise counts this one and returns `None`.
    async fn breaker_refuses(&self, config: &Config) -> Option<(String, bool)> {
        // The operators asked for a limit; if the shared count cannot be updated it cannot be
        // honoured, so nothing is enforced (retryable: contained once the count is readable).
        self.breaker
            .admit(&self.shared_breaker, config.max_enforced_per_hour, now_ms())
            .await
            .err()
            .map(|refusal| (refusal.message(), refusal.retryable()))
    }

    fn record(
        &self,
        config: &Config,
        event: &GuardDutyEvent,
        principal: Option<Principal>,
        outcome: Outcome,
        reason: Reason,
    ) -> DecisionRecord {
        let f = &event.detail;
        DecisionRecord {
            record_version: RECORD_VERSION,
            finding_id: Some(f.id.clone()),
            finding_type: Some(f.finding_type.clone()),
            account_id: Some(f.account_id.clone()),
            region: Some(f.region.clone()),
            severity: Some(f.severity),
            // The mode this finding was decided in, overrides included, not the global one.
            mode: config.effective_mode(&f.finding_type, &f.account_id),
            principal,
            outcome,
            reason,
            strategy: None,
            message: String::new(),
            manual_steps: Vec::new(),
            actions: Vec::new(),
            retryable: false,
        }
    }
}

/// What a plan would do, for dry-run messages.
pub fn describe(plan: &ContainmentPlan) -> String {
    use crate::decision::PlanStrategy;
    let t = &plan.target;
    let name = plan.policy_name;
    let mut what = match &plan.strategy {
        PlanStrategy::DenyAll => format!("attach the inline policy {name} to {t} (deny everything)"),
        PlanStrategy::RevokeSessions => format!(
            "attach the inline policy {name} to {t} denying every session issued before the moment of containment (revoke-sessions)"
        ),
        PlanStrategy::DenySession { userid } => format!(
            "attach the inline policy {name} to {t} denying the role session {userid} (deny-session)"
        ),
        PlanStrategy::PermissionSetDeny {
            permission_set,
            user_name,
        } => format!(
            "deny Identity Center user {user_name} in permission set {permission_set} and re-provision it (permission-set-deny)"
        ),
        PlanStrategy::AccessKeyOnly => format!("leave {t}'s policies alone"),
    };
    if let Some(key) = &plan.deactivate_access_key {
        what.push_str(&format!(", then set access key {key} inactive"));
    }
    what
}
