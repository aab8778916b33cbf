//! The responder: parse, decide, contain, record. One engine for every path that contains:
//! the responder Lambda and `deadbolt replay` (a finding's principal) and the enricher's
//! follow-ups (what the attacker created) all run [`Responder`], so they share one account
//! cache, one circuit breaker, one executor ([`containment::apply`]) and one record vocabulary.

use crate::account::AccountCache;
use crate::breaker::{Admission, ProcessBreaker, WriteGate};
use crate::clock::now_ms;
use crate::config::Mode;
use crate::containment::{self, describe, Applied};
use crate::decision::{
    decide, decide_each, plan_follow_ups, AccountContext, ContainmentPlan, Decision, MemberRole,
};
use crate::finding::{parse_event, Finding, GuardDutyEvent};
use crate::followup::{CreatedEntity, FollowUpPort, FollowUpRecord};
use crate::ledger::{apply_recorded, Ledger, LedgerEntry, NoLedger};
use crate::ports::{
    AccessKeys, AwsError, GuardDutyFindings, HeldFinding, HeldFindings, IdentityCenter,
    IdentityProvider, InlinePolicies, ManagedPolicies, MemberAccounts, NoGuardDuty, NoHeldFindings,
    NoIdentityCenter, NoMemberAccounts, NoSharedBreaker, SharedBreaker,
};
use crate::prefetch::Prefetch;
use crate::record::FieldMismatch;
use crate::record::{DecisionRecord, Outcome, PrincipalDecision, Reason, Timings};
use crate::runtime::SettingsUnavailable;
use crate::settings::Settings;
use crate::timing::{timed, Timed};

/// The AWS capabilities the responder acts through. Identity Center and the shared breaker
/// count are optional: without Identity Center, `permission-set-deny` fails with a clear
/// record; without a shared count, each instance counts only its own enforcements. Without
/// GuardDuty nothing is verified, and so nothing is ever enforced (`not_verified`).
pub struct Ports<
    P,
    I,
    C = NoIdentityCenter,
    B = NoSharedBreaker,
    G = NoGuardDuty,
    H = NoHeldFindings,
> {
    /// IAM inline policies and access keys.
    pub iam: P,
    /// deadbolt's own identity (`sts:GetCallerIdentity`).
    pub identity: I,
    pub identity_center: Option<C>,
    pub shared_breaker: Option<B>,
    /// GuardDuty's own copy of each finding: what every decision is taken on.
    pub guardduty: Option<G>,
    /// Where findings the circuit breaker refused are kept (`held`); without one they are
    /// recorded `would_contain` and kept nowhere.
    pub held: Option<H>,
}

impl<P, I> Ports<P, I> {
    /// IAM and identity only: no Identity Center, no shared breaker count, no GuardDuty (so
    /// dry-run only: an unverified finding is never enforced).
    pub fn iam(iam: P, identity: I) -> Self {
        Ports {
            iam,
            identity,
            identity_center: None,
            shared_breaker: None,
            guardduty: None,
            held: None,
        }
    }
}

pub struct Responder<
    P,
    I,
    C = NoIdentityCenter,
    B = NoSharedBreaker,
    G = NoGuardDuty,
    H = NoHeldFindings,
    M = NoMemberAccounts,
    L = NoLedger,
> {
    policies: P,
    identity: I,
    /// Identity Center, for `strategy.identity_center: permission-set-deny` only.
    identity_center: Option<C>,
    /// The breaker's count across every instance (DynamoDB in the Lambdas), if wired.
    shared_breaker: Option<B>,
    /// GuardDuty, which every finding is verified with before anything is decided.
    guardduty: Option<G>,
    /// Findings the circuit breaker refused, kept for an operator.
    held: Option<H>,
    /// IAM in member accounts through the member role; without it a member's finding fails
    /// with `member_role_unavailable`, never touching deadbolt's own account instead.
    members: Option<M>,
    /// Where every containment is recorded (what was there before, who acted).
    ledger: L,
    /// Who this engine acts as in the ledger: `function:NAME`, or the operator's ARN.
    actor: String,
    /// Why, in the ledger: an approver's `--reason`.
    reason: Option<String>,
    /// Caller identity, fetched once per process: one STS call per cold start, not per finding.
    account: AccountCache,
    /// Enforcements counted by the circuit breaker in this process.
    breaker: ProcessBreaker,
}

impl<P, I, C, B, G, H> Responder<P, I, C, B, G, H, NoMemberAccounts, NoLedger> {
    /// The engine over its ports. The configuration is not held: every call takes the
    /// settings in force for that event.
    pub fn new(ports: Ports<P, I, C, B, G, H>) -> Self {
        Responder {
            policies: ports.iam,
            identity: ports.identity,
            identity_center: ports.identity_center,
            shared_breaker: ports.shared_breaker,
            guardduty: ports.guardduty,
            held: ports.held,
            members: None,
            ledger: NoLedger,
            actor: "deadbolt".to_string(),
            reason: None,
            account: AccountCache::default(),
            breaker: ProcessBreaker::default(),
        }
    }
}

impl<P, I, C, B, G, H, M, L> Responder<P, I, C, B, G, H, M, L> {
    /// The same engine, containing in member accounts through `members` (a GuardDuty
    /// administrator's deadbolt; `member_accounts` in the settings says which accounts).
    pub fn with_members<N>(self, members: N) -> Responder<P, I, C, B, G, H, N, L> {
        Responder {
            policies: self.policies,
            identity: self.identity,
            identity_center: self.identity_center,
            shared_breaker: self.shared_breaker,
            guardduty: self.guardduty,
            held: self.held,
            members: Some(members),
            ledger: self.ledger,
            actor: self.actor,
            reason: self.reason,
            account: self.account,
            breaker: self.breaker,
        }
    }

    /// The same engine, recording every containment in `ledger` as `actor`
    /// (`function:NAME`, or an operator's ARN).
    pub fn with_ledger<K>(
        self,
        ledger: K,
        actor: impl Into<String>,
    ) -> Responder<P, I, C, B, G, H, M, K> {
        Responder {
            policies: self.policies,
            identity: self.identity,
            identity_center: self.identity_center,
            shared_breaker: self.shared_breaker,
            guardduty: self.guardduty,
            held: self.held,
            members: self.members,
            ledger,
            actor: actor.into(),
            reason: self.reason,
            account: self.account,
            breaker: self.breaker,
        }
    }
}

impl<P, I, C, B, G, H, M, L> Responder<P, I, C, B, G, H, M, L> {
    /// The same engine, recording `reason` with every containment it makes (an approver's
    /// `deadbolt approve ID --reason TEXT`).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The same engine, told who it runs as (an answer of `sts:GetCallerIdentity` the caller
    /// already has), so it does not ask again.
    pub fn knowing_caller(self, caller: &crate::ports::CallerIdentity) -> Self {
        self.account.learn(caller);
        self
    }
}

impl<P, I, C, B, G, H, M, L> Responder<P, I, C, B, G, H, M, L>
where
    L: Ledger,
    M: MemberAccounts<P>,
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: SharedBreaker,
    G: GuardDutyFindings,
    H: HeldFindings,
{
    /// The account deadbolt acts in, from the cache or `sts:GetCallerIdentity`.
    pub async fn account(&self) -> Result<AccountContext, AwsError> {
        self.account.get(&self.identity).await
    }

    /// What a cold instance asks before its first finding and never again: the caller
    /// identity and what verification needs (GuardDuty's detector id), in flight together,
    /// so that the callers' settings read can join them in one round trip. Failures are not
    /// cached: the decision asks again and records why.
    pub async fn prepare(&self) {
        let verification = async {
            if let Some(guardduty) = &self.guardduty {
                guardduty.prepare().await;
            }
        };
        let _ = futures_util::future::join(self.account(), verification).await;
    }

    /// Handle one raw event under `settings`. Never panics and never fails: every path ends in
    /// a record.
    pub async fn handle(&self, raw: &str, settings: &Settings) -> DecisionRecord {
        match parse_event(raw) {
            Ok(event) => self.handle_parsed(&event, Some(raw), settings).await,
            // The tamper watch's CloudTrail calls: looked for only once the GuardDuty parser
            // refused the event, so a finding's path pays nothing for it.
            Err(e) => {
                if matches!(
                    e,
                    crate::finding::InputError::WrongDetailType { .. }
                        | crate::finding::InputError::WrongSource { .. }
                        | crate::finding::InputError::MissingField { .. }
                ) {
                    if let Some(v) = cloudtrail_call(raw) {
                        return self.handle_cloudtrail(&v, settings).await;
                    }
                    if let Some(id) = crate::approval::expiry_event(raw) {
                        return self.handle_approval_expiry(&id, settings).await;
                    }
                }
                // Whatever the event said that passes the parser's own rules, so the
                // rejection can be traced to its finding.
                let known = crate::finding::KnownFields::of(raw);
                DecisionRecord {
                    decision: PrincipalDecision {
                        message: format!("rejected: {e}; nothing was done"),
                        ..PrincipalDecision::new(Outcome::Rejected, e.reason())
                    },
                    finding_id: known.finding_id,
                    finding_type: known.finding_type,
                    account_id: known.account_id,
                    region: known.region,
                    severity: known.severity,
                    ..DecisionRecord::empty(settings.mode)
                }
            }
        }
    }

    /// The record of an event that arrived while no settings are known (the settings document
    /// could not be read at all): nothing is decided, and the event is to be delivered again.
    pub fn settings_unavailable(&self, raw: &str, error: &SettingsUnavailable) -> DecisionRecord {
        undecided(
            raw,
            Reason::SettingsUnavailable,
            format!("{error}; nothing was written. Delivering the event again retries"),
        )
    }

    /// The record of an event whose handling was stopped before the Lambda timeout (the caller
    /// enforces the deadline): retryable, since containment is idempotent and a redelivery
    /// completes what was in flight.
    pub fn deadline_exceeded(&self, raw: &str, reserve_ms: u64) -> DecisionRecord {
        undecided(
            raw,
            Reason::DeadlineExceeded,
            format!(
                "stopped {reserve_ms} ms before the Lambda timeout instead of being killed mid-flight; a write may have been in flight (see the intent line). Delivering the event again completes it"
            ),
        )
    }

    /// Handle one parsed event: verify it with GuardDuty, then decide and act on GuardDuty's
    /// copy. The policy read the event asks for runs while GuardDuty answers (enforce only), so
    /// containment still costs one round trip before the write.
    pub async fn handle_event(
        &self,
        event: &GuardDutyEvent,
        settings: &Settings,
    ) -> DecisionRecord {
        self.handle_parsed(event, None, settings).await
    }

    /// [`Self::handle_event`] with the raw event when there is one: a held finding keeps the
    /// event exactly as it arrived (without one, the parsed event serialized again).
    async fn handle_parsed(
        &self,
        event: &GuardDutyEvent,
        raw: Option<&str>,
        settings: &Settings,
    ) -> DecisionRecord {
        let arrived = Arrived { event, raw };
        let f = &event.detail;
        let mode = settings.effective_mode(&f.finding_type, &f.account_id);
        let account = match self.account().await {
            Ok(a) => a,
            Err(e) => {
                return failed(
                    event,
                    mode,
                    Reason::IdentityUnavailable,
                    format!("could not establish which account deadbolt acts in (sts:GetCallerIdentity: {e}); nothing was written"),
                    e.retryable(),
                )
            }
        };
        // Every IAM call is timed (per-stage latency in the record's timings).
        let iam = crate::timing::timed_port(&self.policies);
        let prefetch = crate::prefetch::prefetching(&iam);
        let Some(guardduty) = &self.guardduty else {
            let r = self
                .decide_and_act(
                    event,
                    &arrived,
                    settings,
                    &account,
                    None,
                    Prepared {
                        policies: &prefetch,
                        assumed: None,
                        protected_info: None,
                    },
                )
                .await;
            return with_timings(r, None, &iam);
        };
        // What the event asks for is prepared while GuardDuty answers, and used only if
        // GuardDuty's copy asks for the same: in deadbolt's own account the policy is read (a
        // read changes nothing). A member role is assumed only once GuardDuty's copy names
        // that account: a forged event must not make deadbolt reach into an account of the
        // forger's choosing, even without writing.
        let (_, asked) = decide(event, settings, &account);
        let warm = async {
            if let Decision::Contain(plan) = &asked {
                if plan.member.is_none() {
                    prefetch.warm(plan).await;
                }
            }
            None
        };
        // A principal the event says is protected by a dated pattern: its creation date, read
        // now, so that a protection adopted by creating a matching principal costs no extra
        // round trip to refuse.
        // Likewise a role named like a reserved one (Identity Center, service-linked): its
        // IAM path, read now, says whether it is one.
        let protected_read = async {
            if f.account_id != account.account_id {
                return None;
            }
            let target = match &asked {
                Decision::Pass {
                    reason: Reason::ProtectedPrincipal,
                    ..
                } => {
                    let target = crate::principal::resolve(f).containment.ok()?;
                    let pattern = crate::decision::protected_by(
                        settings,
                        &target,
                        &f.partition,
                        &f.account_id,
                    )?;
                    settings.protected_since.get(&pattern)?;
                    target
                }
                _ => reserved_looking_role(f)?,
            };
            let info = self.policies.entity_info(&target).await;
            Some((target, info))
        };
        let ((copy, verify_us), assumed, protected_info) =
            futures_util::future::join3(timed(guardduty.get_finding(&f.id)), warm, protected_read)
                .await;
        let r = match copy {
            Err(e) => failed(
                event,
                mode,
                Reason::GuarddutyUnavailable,
                format!("could not verify the finding with GuardDuty ({e}); nothing was written (deadbolt never acts on an unverified finding)"),
                e.retryable(),
            ),
            Ok(None) => {
                let mut r = record(
                    event,
                    mode,
                    None,
                    Outcome::Rejected,
                    Reason::FindingNotInGuardduty,
                );
                r.message = format!(
                    "GuardDuty has no finding {} in this account's detector: the event is forged or not GuardDuty's; nothing was done",
                    f.id
                );
                r
            }
            Ok(Some(copy)) => {
                let mismatch = differences(f, &copy);
                let mut verified = event.clone();
                verified.detail = copy;
                self.decide_and_act(
                    &verified,
                    &arrived,
                    settings,
                    &account,
                    Some(mismatch),
                    Prepared {
                        policies: &prefetch,
                        assumed,
                        protected_info,
                    },
                )
                .await
            }
        };
        with_timings(r, Some(verify_us), &iam)
    }

    /// Decide on `event` (GuardDuty's copy when `verified` is `Some`, with what the event said
    /// differently) and act.
    async fn decide_and_act(
        &self,
        event: &GuardDutyEvent,
        arrived: &Arrived<'_>,
        settings: &Settings,
        account: &AccountContext,
        verified: Option<Vec<FieldMismatch>>,
        Prepared {
            policies,
            assumed,
            protected_info,
        }: Prepared<'_, '_, Timed<'_, P>, P>,
    ) -> DecisionRecord {
        let f = &event.detail;
        let mode = settings.effective_mode(&f.finding_type, &f.account_id);
        let mut assumed = assumed;
        let (account, reserved_note) = self
            .reserved_path(f, settings, account, &protected_info, &mut assumed)
            .await;
        let account = &account;
        let each = decide_each(event, settings, account);
        let count = each.len();
        let mut parts = Vec::with_capacity(count);
        for (principal, decision) in each {
            parts.push(
                self.act_one(
                    event,
                    arrived,
                    settings,
                    account,
                    principal,
                    decision,
                    verified.is_some(),
                    policies,
                    &mut assumed,
                    &protected_info,
                )
                .await,
            );
        }
        let mut r = if count > 1 {
            combine(parts)
        } else {
            match parts.pop() {
                Some(r) => r,
                None => record(event, mode, None, Outcome::Skipped, Reason::ModeOff),
            }
        };
        if let Some(note) = reserved_note {
            r.message = format!("{note}; {}", r.message);
        }
        r.verified_with_guardduty = verified.is_some();
        r.event_mismatch = verified.clone().unwrap_or_default();
        if !r.event_mismatch.is_empty() {
            let fields: Vec<&str> = r.event_mismatch.iter().map(|m| m.field.as_str()).collect();
            r.message = format!(
                "{} (the event differed from GuardDuty's copy in {}; decided on GuardDuty's copy)",
                r.message,
                fields.join(", ")
            );
        }
        r
    }

    /// Act on the decision about one principal: the record as if it were the finding's only
    /// one (without the verification fields, which the caller sets).
    #[allow(clippy::too_many_arguments)]
    async fn act_one(
        &self,
        event: &GuardDutyEvent,
        arrived: &Arrived<'_>,
        settings: &Settings,
        account: &AccountContext,
        principal: Option<crate::principal::Principal>,
        mut decision: Decision,
        verified: bool,
        policies: &Prefetch<'_, Timed<'_, P>>,
        assumed: &mut Option<(MemberRole, Result<P, AwsError>)>,
        protected_info: &Option<ProtectedInfo>,
    ) -> DecisionRecord {
        let f = &event.detail;
        let mode = settings.effective_mode(&f.finding_type, &f.account_id);
        let mut note = None;
        if let (
            Decision::Pass {
                reason: Reason::ProtectedPrincipal,
                ..
            },
            Some(p),
        ) = (&decision, &principal)
        {
            if let Some((d, n)) = self
                .adoption(event, settings, account, p, protected_info, assumed)
                .await
            {
                note = Some(n);
                if let Some(d) = d {
                    decision = d;
                }
            }
        }
        let acts = matches!(
            decision,
            Decision::Contain(_) | Decision::DryRun(_) | Decision::Manual { .. }
        );
        if acts && verified {
            if let Some(message) = stale(f, settings.max_finding_age_secs, now_ms()) {
                decision = Decision::Pass {
                    outcome: Outcome::Skipped,
                    reason: Reason::StaleFinding,
                    message,
                };
            }
        }
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
            // approve mode: the same plan, kept for a person; only for a verified finding
            // (a replay without verification shows the plan, as dry-run).
            Decision::DryRun(plan) if mode == Mode::Approve && verified => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                (r.acted_in_account, r.member_role) = acting(&plan, &f.account_id);
                r.actions = dry_run(&plan).actions;
                self.propose(&mut r, f, &plan, arrived, settings).await;
            }
            Decision::DryRun(plan) => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                (r.acted_in_account, r.member_role) = acting(&plan, &f.account_id);
                let applied = dry_run(&plan);
                (r.outcome, r.reason, r.actions) =
                    (applied.outcome, applied.reason, applied.actions);
                r.message = format!(
                    "{}; set mode enforce (deadbolt config set mode enforce, or DEADBOLT_MODE) to act",
                    applied.message
                );
            }
            // Never a write on a finding GuardDuty did not confirm.
            Decision::Contain(plan) if !verified => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                (r.acted_in_account, r.member_role) = acting(&plan, &f.account_id);
                let applied = dry_run(&plan);
                (r.outcome, r.actions) = (applied.outcome, applied.actions);
                r.reason = Reason::NotVerified;
                r.message = format!(
                    "not verified with GuardDuty, so not enforced; {}",
                    applied.message
                );
            }
            Decision::Contain(plan) => {
                r.strategy = Some(plan.strategy.as_str().to_string());
                (r.acted_in_account, r.member_role) = acting(&plan, &f.account_id);
                let applied = match &plan.member {
                    None => self.execute(policies, &plan, settings, f).await,
                    Some(role) => {
                        // Assumed now that GuardDuty's copy names the account.
                        let iam = match assumed.take() {
                            Some((assumed_role, iam)) if &assumed_role == role => iam,
                            _ => self.assume(role, &f.id).await,
                        };
                        match iam {
                            Ok(iam) => self.execute(&iam, &plan, settings, f).await,
                            Err(e) => member_role_unavailable(role, &e),
                        }
                    }
                };
                (r.outcome, r.reason, r.message) =
                    (applied.outcome, applied.reason, applied.message);
                (r.actions, r.retryable) = (applied.actions, applied.retryable);
                if (r.outcome, r.reason) == (Outcome::WouldContain, Reason::CircuitBreakerOpen) {
                    self.hold(&mut r, f, &plan, arrived).await;
                }
                if r.outcome == Outcome::Contained {
                    r.timings
                        .get_or_insert_with(Timings::default)
                        .time_to_contain_ms = since_updated_ms(f, now_ms());
                }
            }
        }
        if let Some(n) = note {
            r.message = format!("{n}; {}", r.message);
        }
        r
    }

    /// What IAM says about `target` in the finding's account: deadbolt's own with its own
    /// credentials; a member account's through its member role, assumed (or reused: the
    /// containment that may follow takes the same session from `assumed`) now that the event
    /// is GuardDuty's copy naming that account. `None` for an account deadbolt does not act in.
    async fn entity_info_where(
        &self,
        f: &Finding,
        settings: &Settings,
        account: &AccountContext,
        target: &crate::principal::ContainmentTarget,
        assumed: &mut Option<(MemberRole, Result<P, AwsError>)>,
    ) -> Option<Result<Option<crate::ports::EntityInfo>, AwsError>> {
        match crate::decision::acting_account(f, settings, account).ok()? {
            crate::decision::ActingAccount::Own => Some(self.policies.entity_info(target).await),
            crate::decision::ActingAccount::Member(role) => {
                if !matches!(assumed, Some((r, _)) if r == &role) {
                    let iam = self.assume(&role, &f.id).await;
                    *assumed = Some((role, iam));
                }
                match assumed.as_ref()? {
                    (_, Ok(iam)) => Some(iam.entity_info(target).await),
                    (_, Err(e)) => Some(Err(e.clone())),
                }
            }
        }
    }

    /// A role named like an Identity Center or service-linked role is one only under its
    /// reserved IAM path; anyone with `iam:CreateRole` can choose the name. Returns the account
    /// context to decide with (the role marked as ordinary when IAM says its path is not the
    /// reserved one) and the note for the record. A path that cannot be read leaves the name's
    /// verdict (nothing is written on a guess), and says so.
    async fn reserved_path(
        &self,
        f: &Finding,
        settings: &Settings,
        account: &AccountContext,
        prefetched: &Option<ProtectedInfo>,
        assumed: &mut Option<(MemberRole, Result<P, AwsError>)>,
    ) -> (AccountContext, Option<String>) {
        let unchanged = (account.clone(), None);
        let Some(target) = reserved_looking_role(f) else {
            return unchanged;
        };
        let info = match prefetched {
            Some((t, info)) if t == &target => info.clone(),
            _ => match self
                .entity_info_where(f, settings, account, &target, assumed)
                .await
            {
                Some(info) => info,
                None => return unchanged,
            },
        };
        let reserved_path = if target.name.starts_with("AWSReservedSSO_") {
            "/aws-reserved/sso.amazonaws.com/"
        } else {
            "/aws-service-role/"
        };
        match info {
            Ok(Some(info)) if !info.path.starts_with(reserved_path) => {
                let mut ordinary = account.clone();
                ordinary.unreserved_roles.push(target.name.clone());
                let note = format!(
                    "reserved_name_outside_reserved_path: {target} is named like a reserved role, but its IAM path is {:?}, not {reserved_path}: it is an ordinary role and is decided as one",
                    info.path
                );
                (ordinary, Some(note))
            }
            Ok(_) => unchanged,
            Err(e) => (
                account.clone(),
                Some(format!(
                    "could not read the IAM path of {target} ({e}): recognised by its name"
                )),
            ),
        }
    }

    /// A protected pattern protects only what existed when it was written. `Some((None,
    /// note))`: still protected, and why (its creation date, or that it could not be read);
    /// `Some((Some(decision), note))`: created after the pattern was written, so the pattern
    /// does not protect it, and this is the decision without it. `None`: the pattern has no
    /// date (protection by name, as before), or the account is not one deadbolt acts in.
    async fn adoption(
        &self,
        event: &GuardDutyEvent,
        settings: &Settings,
        account: &AccountContext,
        principal: &crate::principal::Principal,
        prefetched: &Option<ProtectedInfo>,
        assumed: &mut Option<(MemberRole, Result<P, AwsError>)>,
    ) -> Option<(Option<Decision>, String)> {
        let f = &event.detail;
        let target = target_of(principal)?;
        let pattern =
            crate::decision::protected_by(settings, &target, &f.partition, &f.account_id)?;
        let since = *settings.protected_since.get(&pattern)?;
        let info = match prefetched {
            Some((t, info)) if t == &target => info.clone(),
            _ => {
                self.entity_info_where(f, settings, account, &target, assumed)
                    .await?
            }
        };
        match info {
            // Compared to the second: IAM's CreateDate has no finer precision, and a
            // principal created in the very second the pattern was written existed for it.
            Ok(Some(info)) if info.created_at_ms.div_euclid(1000) > since.div_euclid(1000) => {
                let mut without = settings.clone();
                without.protected_principals.retain(|p| p != &pattern);
                let decision = decide_each(event, &without, account)
                    .into_iter()
                    .find(|(p, _)| p.as_ref() == Some(principal))
                    .map(|(_, d)| d)?;
                Some((
                    Some(decision),
                    format!(
                        "protected_pattern_postdates: {target} matches the protected pattern {pattern:?}, but it was created at {} and the pattern was written at {}: a pattern protects only principals that existed when it was written, so it does not protect {target}",
                        rfc3339_ms(info.created_at_ms),
                        rfc3339_ms(since)
                    ),
                ))
            }
            Ok(Some(info)) => Some((
                None,
                format!(
                    "{target} existed before the pattern was written (created {}, pattern written {})",
                    rfc3339_ms(info.created_at_ms),
                    rfc3339_ms(since)
                ),
            )),
            Ok(None) => None,
            Err(e) => Some((
                None,
                format!("could not read when {target} was created ({e}): protected by name"),
            )),
        }
    }

    /// A pending approval's window closed (its one-time EventBridge Scheduler schedule fired):
    /// dropped, or, with `on_expiry: contain`, the stored event decided again as in enforce,
    /// verified with GuardDuty, through the one engine. Only while the finding is still in
    /// approve mode: an operator who has since switched it to dry-run or off is obeyed, and
    /// the kill switch wins. An approval already answered is nothing to do.
    pub async fn handle_approval_expiry(&self, id: &str, settings: &Settings) -> DecisionRecord {
        use crate::approval::OnExpiry;
        let mut r = DecisionRecord::empty(settings.mode);
        r.finding_id = Some(id.to_string());
        let Some(store) = &self.held else {
            (r.outcome, r.reason) = (Outcome::Failed, Reason::ApprovalNotKept);
            r.message = format!("the approval {id} expired, but no store of pending approvals is wired (DEADBOLT_BREAKER_TABLE); nothing was done");
            return r;
        };
        let approval = match store.pending().await {
            Ok(all) => all.into_iter().find(|a| a.id == id),
            Err(e) => {
                (r.outcome, r.reason, r.retryable) = (Outcome::Failed, e.reason(), e.retryable());
                r.message = format!("the approval {id} expired, but the pending approvals could not be read ({e}); nothing was done yet (the invocation is retried)");
                return r;
            }
        };
        let Some(approval) = approval else {
            (r.outcome, r.reason) = (Outcome::Skipped, Reason::ApprovalExpired);
            r.message = format!("no pending approval {id}: it was approved or rejected before its window closed; nothing to do");
            return r;
        };
        (r.finding_type, r.account_id, r.region) = (
            Some(approval.finding_type.clone()),
            Some(approval.account_id.clone()),
            Some(approval.region.clone()),
        );
        let now = now_ms();
        // The scheduler fires on the minute; a minute's slack for clocks.
        if now + 60_000 < approval.expires_at_ms {
            (r.outcome, r.reason) = (Outcome::PendingApproval, Reason::AwaitingApproval);
            r.message = format!(
                "the approval {id} does not expire until {}; it stays pending",
                rfc3339_ms(approval.expires_at_ms)
            );
            return r;
        }
        let mode = settings.effective_mode(&approval.finding_type, &approval.account_id);
        let contain = approval.on_expiry == OnExpiry::Contain && mode == Mode::Approve;
        if !contain {
            let forgot = store.forget(id).await;
            (r.outcome, r.reason, r.retryable) = (
                Outcome::Skipped,
                Reason::ApprovalExpired,
                forgot.as_ref().is_err_and(|e| e.retryable()),
            );
            let why = if approval.on_expiry == OnExpiry::Drop {
                "on_expiry is drop".to_string()
            } else {
                format!("on_expiry is contain, but the finding's mode is now {mode}, not approve")
            };
            r.message = format!(
                "the approval {id} for {} expired unanswered and {why}: dropped, nothing was written{}",
                approval.target,
                forgot.err().map(|e| format!(" (it could not be removed: {e})")).unwrap_or_default()
            );
            return r;
        }
        let event = match parse_event(&approval.event) {
            Ok(event) => event,
            Err(e) => {
                let _ = store.forget(id).await;
                (r.outcome, r.reason) = (Outcome::Rejected, e.reason());
                r.message = format!("the approval {id} expired with on_expiry contain, but its stored event does not parse ({e}); dropped, nothing was written");
                return r;
            }
        };
        // Enforce for exactly this finding's account: the global kill switch still wins.
        let mut now_enforce = settings.clone();
        now_enforce
            .mode_by_account
            .insert(approval.account_id.clone(), Mode::Enforce);
        let mut record = self
            .handle_parsed(&event, Some(&approval.event), &now_enforce)
            .await;
        let done = matches!(
            record.outcome,
            Outcome::Contained | Outcome::AlreadyContained | Outcome::PartiallyContained
        );
        // Not to be acted on any more (archived, stale, unknown to GuardDuty): forgotten too.
        let finished = done
            || matches!(
                record.outcome,
                Outcome::Skipped | Outcome::Rejected | Outcome::NotContainable
            );
        if finished {
            if let Err(e) = store.forget(id).await {
                record.message = format!(
                    "{}; the pending approval could not be removed ({e})",
                    record.message
                );
            }
        }
        record.message = format!(
            "the approval {id} expired unanswered with on_expiry contain: {}",
            record.message
        );
        record
    }

    /// approve mode: keep `plan` as a pending approval where held findings live, and say
    /// how to answer it. Without a store nothing can wait for a person, so nothing is
    /// decided: `failed`, retryable when the store's error is.
    async fn propose(
        &self,
        r: &mut DecisionRecord,
        f: &Finding,
        plan: &ContainmentPlan,
        arrived: &Arrived<'_>,
        settings: &Settings,
    ) {
        let now = now_ms();
        let window = settings.approval_for(&f.finding_type);
        let wanted = crate::approval::PendingApproval {
            id: f.id.clone(),
            account_id: f.account_id.clone(),
            region: f.region.clone(),
            finding_type: f.finding_type.clone(),
            target: plan.target.to_string(),
            strategy: plan.strategy.as_str().to_string(),
            writes: r
                .actions
                .iter()
                .filter(|a| !a.api.contains(":Get") && !a.api.contains(":List"))
                .map(|a| format!("{} {}", a.api, a.target))
                .collect(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(
                i64::try_from(window.expires_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            ),
            on_expiry: window.on_expiry,
            event: arrived.text(),
        };
        let kept = match &self.held {
            None => Err(crate::approval::no_store()),
            Some(store) => match store.propose(&wanted).await {
                Ok(true) => Ok((wanted.clone(), true)),
                // A redelivery: the approval already pending, with its own expiry, stands.
                Ok(false) => store
                    .pending()
                    .await
                    .map(|all| {
                        all.into_iter()
                            .find(|a| a.id == wanted.id)
                            .unwrap_or_else(|| wanted.clone())
                    })
                    .map(|a| (a, false)),
                Err(e) => Err(e),
            },
        };
        match kept {
            Ok((approval, new)) => {
                let expires_at = rfc3339_ms(approval.expires_at_ms);
                let [approve, reject] = approval.commands();
                (r.outcome, r.reason) = (Outcome::PendingApproval, Reason::AwaitingApproval);
                r.message = format!(
                    "approve mode: would {}; nothing was written. {} Approve: {approve}; reject: {reject}; expires at {expires_at}, then {}",
                    crate::containment::describe(plan),
                    if new { "Waiting for a person." } else { "Already pending (a redelivery): the first request and its expiry stand." },
                    match approval.on_expiry {
                        crate::approval::OnExpiry::Drop => "dropped (nothing written)",
                        crate::approval::OnExpiry::Contain => "CONTAINED unless rejected",
                    }
                );
                r.approval = Some(crate::record::ApprovalRecord {
                    id: approval.id.clone(),
                    expires_at,
                    on_expiry: approval.on_expiry,
                    commands: vec![approve, reject],
                    new,
                });
            }
            Err(e) => {
                (r.outcome, r.reason, r.retryable) =
                    (Outcome::Failed, Reason::ApprovalNotKept, e.retryable());
                r.message = format!(
                    "approve mode: would {}, but the pending approval could not be kept ({e}); nothing was written",
                    crate::containment::describe(plan)
                );
            }
        }
    }

    /// The circuit breaker refused `plan`: keep the finding for an operator (outcome `held`),
    /// when a store is wired. A failed hold leaves the record `would_contain` and retryable,
    /// so the event is delivered again rather than lost.
    async fn hold(
        &self,
        r: &mut DecisionRecord,
        f: &Finding,
        plan: &ContainmentPlan,
        arrived: &Arrived<'_>,
    ) {
        let Some(store) = &self.held else {
            return;
        };
        let held = HeldFinding {
            finding_id: f.id.clone(),
            account_id: f.account_id.clone(),
            region: f.region.clone(),
            finding_type: f.finding_type.clone(),
            target: plan.target.to_string(),
            held_at_ms: now_ms(),
            event: arrived.text(),
        };
        match store.hold(&held).await {
            Ok(()) => {
                r.outcome = Outcome::Held;
                r.message = format!(
                    "{}; held: the finding is kept until an operator acts on it (deadbolt release-held {id}, or deadbolt replay FILE --enforce)",
                    r.message,
                    id = f.id
                );
            }
            Err(e) => {
                r.retryable = true;
                r.message = format!(
                    "{}; could not hold the finding ({e}), so it is kept nowhere: delivering the event again retries",
                    r.message
                );
            }
        }
    }

    /// IAM in a member account through its member role.
    async fn assume(&self, role: &MemberRole, finding_id: &str) -> Result<P, AwsError> {
        match &self.members {
            Some(members) => members.iam_in(role, finding_id).await,
            None => NoMemberAccounts.iam_in(role, finding_id).await,
        }
    }

    /// The one executor: the plan's writes, each admitted by the circuit breaker right before
    /// it happens (a plan that needs no write consumes nothing), and recorded in the ledger:
    /// opened right before the first write with what was there before, completed after.
    async fn execute<Q: InlinePolicies + AccessKeys + ManagedPolicies>(
        &self,
        policies: &Q,
        plan: &ContainmentPlan,
        settings: &Settings,
        finding: &Finding,
    ) -> Applied {
        let account_id = finding.account_id.as_str();
        let now = now_ms();
        let admission = Intent {
            gate: Admission::new(
                &self.breaker,
                &self.shared_breaker,
                settings.max_enforced_per_hour(),
                now,
            ),
            plan,
            logged: false,
        };
        let account = plan.member.as_ref().map_or(account_id, |m| &m.account_id);
        let mut entry =
            LedgerEntry::containment(account, &plan.target, &plan.finding_id, &self.actor, now);
        entry.strategy = Some(plan.strategy.as_str().to_string());
        entry.reason = self.reason.clone();
        entry.finding_arn = Some(finding.arn.clone()).filter(|a| a.starts_with("arn:"));
        if let crate::decision::PlanStrategy::DenySession { userid } = &plan.strategy {
            // Sessions of one role denied for one finding: one entry each.
            entry.session = Some(userid.clone());
            entry.id = format!("{}#session-{userid}", entry.id);
        }
        self.apply_through(policies, plan, now, admission, entry)
            .await
    }

    /// [`apply_recorded`] with this engine's Identity Center (if wired) and ledger: the one
    /// place both the responder's containments and the tamper watch's re-containments write.
    async fn apply_through<Q, W>(
        &self,
        policies: &Q,
        plan: &ContainmentPlan,
        now: i64,
        gate: W,
        entry: LedgerEntry,
    ) -> Applied
    where
        Q: InlinePolicies + AccessKeys + ManagedPolicies,
        W: WriteGate,
    {
        let ledger = &self.ledger;
        match &self.identity_center {
            Some(idc) => apply_recorded(policies, idc, plan, now, gate, ledger, entry).await,
            None => {
                let idc = &NoIdentityCenter;
                apply_recorded(policies, idc, plan, now, gate, ledger, entry).await
            }
        }
    }

    /// The tamper watch: a CloudTrail call that undid part of a containment. Re-applied only
    /// when the ledger says deadbolt's containment of that principal is in force and not
    /// released; the event says only where to look. Never through the circuit breaker: a
    /// re-containment locks out nobody new, and an attacker must not be able to undo
    /// containment by tripping the breaker first.
    pub async fn handle_cloudtrail(
        &self,
        event: &serde_json::Value,
        settings: &Settings,
    ) -> DecisionRecord {
        use crate::tamper::{parse_watched, UndoKind, Watched};
        let mut r = DecisionRecord::empty(settings.mode);
        let undo = match parse_watched(event) {
            Err(e) => {
                (r.outcome, r.reason) = (Outcome::Rejected, e.reason());
                r.message = format!("rejected: CloudTrail event: {e}; nothing was done");
                return r;
            }
            Ok(Watched::Irrelevant { event_name, why }) => {
                (r.outcome, r.reason) = (Outcome::Skipped, Reason::NothingUndone);
                r.message = format!("{event_name}: {why}; nothing to re-apply");
                return r;
            }
            Ok(Watched::Undo(undo)) => undo,
        };
        let target = &undo.target;
        r.account_id = Some(undo.account_id.clone());
        r.region = undo.region.clone();
        r.tamper = Some(crate::record::TamperRecord {
            event_name: undo.event_name.clone(),
            event_id: undo.event_id.clone(),
            event_time: undo.event_time.clone(),
            undone_by: undo.actor_arn.clone(),
            undid: undo.kind.describe(),
            ledger_entry: None,
        });
        let what = format!(
            "{} {} on {target} ({}, CloudTrail event {})",
            undo.actor_arn,
            undo.kind.describe(),
            undo.event_name,
            undo.event_id
        );
        let account = match self.account().await {
            Ok(a) => a,
            Err(e) => {
                (r.outcome, r.reason, r.retryable) =
                    (Outcome::Failed, Reason::IdentityUnavailable, e.retryable());
                r.message = format!("{what}; could not establish which account deadbolt acts in (sts:GetCallerIdentity: {e}); nothing was re-applied");
                return r;
            }
        };
        if undo
            .actor_identity
            .as_deref()
            .is_some_and(|arn| is_own_identity(arn, &account))
        {
            (r.outcome, r.reason) = (Outcome::Skipped, Reason::UndoneByDeadbolt);
            r.message = format!("{what}: that is deadbolt's own identity; nothing to re-apply");
            return r;
        }
        let member = if undo.account_id == account.account_id {
            None
        } else if settings.is_member_account(&undo.account_id) {
            Some(MemberRole {
                account_id: undo.account_id.clone(),
                role_name: settings.member_role.clone(),
                partition: crate::containment::partition_of(&undo.actor_arn)
                    .unwrap_or("aws")
                    .to_string(),
            })
        } else {
            (r.outcome, r.reason) = (Outcome::NotContainable, Reason::ForeignAccount);
            r.message = format!("{what}: account {} is neither deadbolt's ({}) nor among member_accounts; nothing was re-applied", undo.account_id, account.account_id);
            return r;
        };
        if !self.ledger.configured() {
            (r.outcome, r.reason) = (Outcome::Skipped, Reason::NoLedger);
            r.message = format!("{what}; no containment ledger is configured (DEADBOLT_LEDGER_TABLE), so deadbolt cannot tell whether it contained {target}, and it re-applies nothing on an event's word");
            return r;
        }
        let entries = match self.ledger.entries().await {
            Ok(entries) => entries,
            Err(e) => {
                (r.outcome, r.reason, r.retryable) = (Outcome::Failed, e.reason(), e.retryable());
                r.message = format!("{what}; could not read the containment ledger ({e}); nothing was re-applied yet (delivering the event again retries)");
                return r;
            }
        };
        let live = crate::ledger::in_force(&entries, &undo.account_id, target);
        let Some(first) = live.first() else {
            (r.outcome, r.reason) = (Outcome::Skipped, Reason::NotUnderContainment);
            r.message = format!("{what}; the ledger has no containment of {target} in force (never contained by deadbolt, or released by deadbolt unblock): nothing to re-apply");
            return r;
        };
        r.finding_id = Some(first.finding_id.clone());
        r.finding_type = first.reason.clone();
        // The finding the containment was for: its Security Hub copy hears of the re-containment.
        r.finding_arn = live.iter().find_map(|e| e.finding_arn.clone());
        if let Some(t) = r.tamper.as_mut() {
            t.ledger_entry = Some(first.id.clone());
        }
        if let Some((reason, message)) = crate::decision::never_contained(
            settings,
            &account,
            &match &member {
                None => crate::decision::ActingAccount::Own,
                Some(m) => crate::decision::ActingAccount::Member(m.clone()),
            },
            target,
            member.as_ref().map_or("aws", |m| m.partition.as_str()),
            &undo.account_id,
        ) {
            (r.outcome, r.reason) = (Outcome::Skipped, reason);
            r.message = format!("{what}; {message}, so the containment (ledger entry {}) is not re-applied: release it with deadbolt unblock if that is intended", first.id);
            return r;
        }
        // What is in force decides what is re-applied: a deny-all (or revoke-sessions) entry
        // covers every session; otherwise exactly the sessions the deny-session entries name,
        // so the role's other sessions stay untouched.
        let strategies: Vec<crate::decision::PlanStrategy> = match reapplied_strategies(&live) {
            Ok(s) => s,
            Err(other) => {
                (r.outcome, r.reason) = (Outcome::Failed, Reason::StrategyNotApplicable);
                r.message = format!("{what}; the containment in force (ledger entry {}) used strategy {other}, which the tamper watch does not re-apply by itself", first.id);
                r.manual_steps = vec![format!(
                    "deadbolt block --{} {} --reason \"re-apply after {}\"",
                    target.kind.as_str(),
                    target.name,
                    undo.event_name
                )];
                return r;
            }
        };
        let Some(strategy) = strategies.first().cloned() else {
            (r.outcome, r.reason) = (Outcome::Skipped, Reason::NotUnderContainment);
            r.message =
                format!("{what}; the ledger's containment of {target} names nothing to re-apply");
            return r;
        };
        // The key deadbolt set inactive (the ledger says it was active before), never another:
        // the event's key is re-deactivated only if the ledger vouches for it.
        let deactivate = live
            .iter()
            .flat_map(|e| e.prior_keys.iter())
            .find(|k| {
                k.active == Some(true)
                    && match &undo.kind {
                        UndoKind::KeyReactivated { access_key_id } => {
                            &k.access_key_id == access_key_id
                        }
                        _ => true,
                    }
            })
            .map(|k| k.access_key_id.clone());
        let mut plan = ContainmentPlan::deny_all(target.clone(), &first.finding_id);
        plan.strategy = strategy;
        plan.deactivate_access_key =
            deactivate.filter(|_| target.kind == crate::principal::TargetKind::User);
        if let Some(m) = &member {
            plan.partition = m.partition.clone();
        }
        plan.member = member;
        // One plan per strategy to re-apply (several only for deny-session entries, one per
        // denied session); the first carries the key, if any.
        let plans: Vec<ContainmentPlan> = std::iter::once(plan.clone())
            .chain(strategies.iter().skip(1).map(|s| {
                let mut next = plan.clone();
                next.strategy = s.clone();
                next.deactivate_access_key = None;
                next
            }))
            .collect();
        r.strategy = Some(plan.strategy.as_str().to_string());
        (r.acted_in_account, r.member_role) = acting(&plan, &undo.account_id);
        let mode = settings.effective_mode(first.reason.as_deref().unwrap_or(""), &undo.account_id);
        r.mode = mode;
        if mode != Mode::Enforce {
            (r.outcome, r.reason) = (Outcome::WouldContain, Reason::ContainmentUndone);
            r.actions = plans.iter().flat_map(|p| dry_run(p).actions).collect();
            r.message = format!("{what}; deadbolt's containment (ledger entry {}) would be re-applied, but the mode for it is now {mode}: nothing was written", first.id);
            return r;
        }
        let assumed = match &plan.member {
            None => None,
            Some(role) => Some(
                self.assume(role, &first.finding_id)
                    .await
                    .map_err(|e| (role, e)),
            ),
        };
        let mut results: Vec<Applied> = Vec::with_capacity(plans.len());
        for plan in &plans {
            let now = now_ms();
            let mut entry = LedgerEntry::containment(
                &undo.account_id,
                target,
                &first.finding_id,
                &self.actor,
                now,
            );
            // One entry per CloudTrail event (and denied session): its redelivery finds its own.
            entry.id = format!(
                "contain#{}#{target}#recontain-{}",
                undo.account_id, undo.event_id
            );
            if let crate::decision::PlanStrategy::DenySession { userid } = &plan.strategy {
                entry.session = Some(userid.clone());
                entry.id = format!("{}#session-{userid}", entry.id);
            }
            entry.strategy = Some(plan.strategy.as_str().to_string());
            entry.reason = first.reason.clone();
            entry.finding_arn = first.finding_arn.clone();
            let gate = Intent {
                gate: crate::breaker::Ungated,
                plan,
                logged: false,
            };
            let applied = match &assumed {
                None => {
                    self.apply_through(&self.policies, plan, now, gate, entry)
                        .await
                }
                Some(Ok(iam)) => self.apply_through(iam, plan, now, gate, entry).await,
                Some(Err((role, e))) => member_role_unavailable(role, e),
            };
            results.push(applied);
        }
        let applied = combine_applied(results);
        (r.actions, r.retryable) = (applied.actions, applied.retryable);
        (r.outcome, r.reason) = match applied.outcome {
            Outcome::Contained => (Outcome::Recontained, Reason::ContainmentUndone),
            other => (other, applied.reason),
        };
        r.message = match r.outcome {
            Outcome::Recontained => format!("{what}; deadbolt's containment (ledger entry {}) was in force and not released, so it was re-applied: {}. To release it, use deadbolt unblock (recorded first, so it is not re-applied)", first.id, applied.message),
            Outcome::AlreadyContained => format!("{what}; but the containment is still in place ({}): nothing re-written", applied.message),
            _ => format!("{what}; re-applying deadbolt's containment (ledger entry {}): {}", first.id, applied.message),
        };
        r
    }
}

/// What the tamper watch re-applies for the containments in force: DenyAll when any of them
/// is deny-all, revoke-sessions when one is, else one deny-session per denied session (the
/// role's other sessions stay untouched). `Err(strategy)` for one it does not re-apply alone.
fn reapplied_strategies(
    live: &[&LedgerEntry],
) -> Result<Vec<crate::decision::PlanStrategy>, String> {
    use crate::decision::PlanStrategy;
    let mut sessions: Vec<PlanStrategy> = Vec::new();
    let mut revoke = false;
    for entry in live {
        match (entry.strategy.as_deref(), &entry.session) {
            (None | Some("deny-all"), _) => return Ok(vec![PlanStrategy::DenyAll]),
            (Some("revoke-sessions"), _) => revoke = true,
            (Some("deny-session"), Some(userid)) => {
                let strategy = PlanStrategy::DenySession {
                    userid: userid.clone(),
                };
                if !sessions.contains(&strategy) {
                    sessions.push(strategy);
                }
            }
            (Some(other), _) => return Err(other.to_string()),
        }
    }
    Ok(if revoke {
        vec![PlanStrategy::RevokeSessions]
    } else {
        sessions
    })
}

/// Several applies as one: the first failure decides, else any containment written, else
/// already in place; every action and message kept, in order.
fn combine_applied(results: Vec<Applied>) -> Applied {
    let decisive = results
        .iter()
        .find(|a| a.outcome == Outcome::Failed)
        .or_else(|| results.iter().find(|a| a.outcome == Outcome::Contained))
        .or_else(|| results.first());
    let (outcome, reason) = decisive
        .map_or((Outcome::AlreadyContained, Reason::NothingUndone), |a| {
            (a.outcome, a.reason)
        });
    Applied {
        outcome,
        reason,
        retryable: results.iter().any(|a| a.retryable),
        message: results
            .iter()
            .map(|a| a.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        actions: results.into_iter().flat_map(|a| a.actions).collect(),
    }
}

impl<P, I, C, B, G, H, M, L> FollowUpPort for Responder<P, I, C, B, G, H, M, L>
where
    L: Ledger,
    M: MemberAccounts<P>,
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: SharedBreaker,
    G: GuardDutyFindings,
    H: HeldFindings,
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
                session: None,
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
        // The finding the follow-ups hang on is verified like the responder's: GuardDuty's copy,
        // or nothing is decided. Without a GuardDuty client nothing is enforced.
        let copy = match &self.guardduty {
            None => None,
            Some(gd) => match gd.get_finding(&finding.id).await {
                Ok(Some(copy)) => Some(copy),
                Ok(None) => {
                    return failed(
                        settings.follow_up,
                        Reason::FindingNotInGuardduty,
                        format!("GuardDuty has no finding {}; no follow-up containment", finding.id),
                        false,
                    )
                }
                Err(e) => {
                    return failed(
                        settings.follow_up,
                        Reason::GuarddutyUnavailable,
                        format!("could not verify the finding with GuardDuty ({e}); no follow-up containment"),
                        e.retryable(),
                    )
                }
            },
        };
        let verified = copy.is_some();
        let finding = copy.as_ref().unwrap_or(finding);
        if verified && finding.service.archived {
            return Vec::new();
        }
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
                Decision::Contain(plan) if !verified => {
                    let mut applied = dry_run(&plan);
                    applied.reason = Reason::NotVerified;
                    (applied, Some(plan.strategy.as_str()))
                }
                Decision::Contain(plan) => {
                    let applied = match &plan.member {
                        None => self.execute(&self.policies, &plan, settings, finding).await,
                        Some(role) => match self.assume(role, &finding.id).await {
                            Ok(iam) => self.execute(&iam, &plan, settings, finding).await,
                            Err(e) => member_role_unavailable(role, &e),
                        },
                    };
                    (applied, Some(plan.strategy.as_str()))
                }
            };
            records.push(FollowUpRecord {
                event_name: item.entity.event_name,
                event_ids: item.entity.event_ids,
                target: item.target,
                access_key_id: item.entity.access_key_id,
                session: item.entity.session_userid,
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

/// The role a finding names when its name is a reserved one's (`AWSReservedSSO_…`,
/// `AWSServiceRoleFor…`): whether it really is one is its IAM path's to say.
fn reserved_looking_role(f: &Finding) -> Option<crate::principal::ContainmentTarget> {
    let resolution = crate::principal::resolve(f);
    match resolution.containment {
        Err((Reason::SsoReservedRole | Reason::ServiceLinkedRole, _)) => {
            crate::principal::ContainmentTarget::new(
                crate::principal::TargetKind::Role,
                resolution.principal.name.as_deref()?,
            )
            .ok()
        }
        _ => None,
    }
}

/// What was prepared while GuardDuty answered: deadbolt's own IAM with the policy the event
/// asked for already read, or the member role the event asked for already assumed.
struct Prepared<'p, 'a, Q, P> {
    policies: &'p Prefetch<'a, Q>,
    assumed: Option<(MemberRole, Result<P, AwsError>)>,
    /// What IAM says about a principal the event names as protected, read while GuardDuty
    /// answers (in deadbolt's own account only: a member account is read through its member
    /// role once GuardDuty's copy names it).
    protected_info: Option<ProtectedInfo>,
}

type ProtectedInfo = (
    crate::principal::ContainmentTarget,
    Result<Option<crate::ports::EntityInfo>, AwsError>,
);

/// The user or role a principal is, when it is one.
fn target_of(
    principal: &crate::principal::Principal,
) -> Option<crate::principal::ContainmentTarget> {
    use crate::principal::{ContainmentTarget, PrincipalKind, TargetKind};
    let kind = match principal.kind {
        PrincipalKind::User => TargetKind::User,
        PrincipalKind::Role => TargetKind::Role,
        _ => return None,
    };
    ContainmentTarget::new(kind, principal.name.as_deref()?).ok()
}

fn rfc3339_ms(ms: i64) -> String {
    crate::strategy::format_rfc3339_utc(ms / 1000)
}

/// The account a plan is for and, in a member account, the member role it goes through.
fn acting(plan: &ContainmentPlan, finding_account: &str) -> (Option<String>, Option<String>) {
    match &plan.member {
        Some(role) => (Some(role.account_id.clone()), Some(role.arn())),
        None => (Some(finding_account.to_string()), None),
    }
}

/// The member role could not be assumed: nothing was written anywhere. `AccessDenied` (the
/// role is not deployed there, or does not trust this deadbolt) is permanent, not a retry loop.
fn member_role_unavailable(role: &MemberRole, e: &AwsError) -> Applied {
    let hint = match e.kind {
        crate::ports::AwsErrorKind::AccessDenied => {
            " (is infra/member-role.yaml deployed in that account, trusting this deadbolt's role?)"
        }
        _ => "",
    };
    Applied {
        outcome: Outcome::Failed,
        reason: Reason::MemberRoleUnavailable,
        message: format!(
            "could not assume {} in member account {}: {e}{hint}; nothing was written",
            role.arn(),
            role.account_id
        ),
        actions: Vec::new(),
        retryable: e.retryable(),
    }
}

/// One record for a finding naming several principals, from the record of each: the primary
/// (most severe outcome, the first of equals) at the top level, every one in `principals`.
fn combine(parts: Vec<DecisionRecord>) -> DecisionRecord {
    let total = parts.len();
    let primary = parts
        .iter()
        .enumerate()
        .min_by_key(|(i, r)| (r.outcome.severity_rank(), *i))
        .map_or(0, |(i, _)| i);
    let retryable = parts.iter().any(|p| p.retryable);
    let principals: Vec<PrincipalDecision> = parts.iter().map(|p| p.decision.clone()).collect();
    let mut r = parts
        .into_iter()
        .nth(primary)
        .unwrap_or_else(|| DecisionRecord::empty(Mode::Off));
    r.message = format!(
        "{} (principal {} of {total} the finding names, the most severe outcome; each one's decision is in principals)",
        r.message,
        primary + 1
    );
    r.retryable = retryable;
    r.principals = principals;
    r
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
        finding_arn: Some(f.arn.clone()).filter(|a| a.starts_with("arn:")),
        finding_type: Some(f.finding_type.clone()),
        account_id: Some(f.account_id.clone()),
        region: Some(f.region.clone()),
        severity: Some(f.severity),
        decision: PrincipalDecision {
            principal,
            ..PrincipalDecision::new(outcome, reason)
        },
        ..DecisionRecord::empty(mode)
    }
}

/// What the event says differently from GuardDuty's copy, on the fields a decision rests on.
fn differences(event: &Finding, copy: &Finding) -> Vec<FieldMismatch> {
    let key = |f: &Finding| f.resource.access_key_details.clone().unwrap_or_default();
    let (e, c) = (key(event), key(copy));
    let fields: [(&str, Option<&str>, Option<&str>); 8] = [
        ("type", Some(&event.finding_type), Some(&copy.finding_type)),
        ("accountId", Some(&event.account_id), Some(&copy.account_id)),
        ("region", Some(&event.region), Some(&copy.region)),
        (
            "resource.resourceType",
            Some(&event.resource.resource_type),
            Some(&copy.resource.resource_type),
        ),
        (
            "resource.accessKeyDetails.userName",
            e.user_name.as_deref(),
            c.user_name.as_deref(),
        ),
        (
            "resource.accessKeyDetails.userType",
            e.user_type.as_deref(),
            c.user_type.as_deref(),
        ),
        (
            "resource.accessKeyDetails.accessKeyId",
            e.access_key_id.as_deref(),
            c.access_key_id.as_deref(),
        ),
        (
            "resource.accessKeyDetails.principalId",
            e.principal_id.as_deref(),
            c.principal_id.as_deref(),
        ),
    ];
    let mut out: Vec<FieldMismatch> = fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, a, b)| FieldMismatch {
            field: field.to_string(),
            event: a.map(str::to_string),
            guardduty: b.map(str::to_string),
        })
        .collect();
    let named = |f: &Finding| {
        crate::sequence::principals(f)
            .iter()
            .filter(|p| p.source.starts_with("service.detection"))
            .map(|p| {
                format!(
                    "{}/{}",
                    p.details.user_type.as_deref().unwrap_or("?"),
                    p.details.user_name.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let (in_event, in_copy) = (named(event), named(copy));
    if in_event != in_copy {
        out.push(FieldMismatch {
            field: "service.detection.sequence (principals)".into(),
            event: Some(in_event),
            guardduty: Some(in_copy),
        });
    }
    if event.service.archived != copy.service.archived {
        out.push(FieldMismatch {
            field: "service.archived".into(),
            event: Some(event.service.archived.to_string()),
            guardduty: Some(copy.service.archived.to_string()),
        });
    }
    out
}

/// `Some(why)` when GuardDuty last updated the finding longer ago than `max_age_secs`.
/// `max_finding_age` for a finding held by the circuit breaker since `held_at_ms`: its age
/// counts from the hold, so a finding that was fresh when held is still acted on by
/// `release-held` after a weekend, and one that was already stale when held is not.
pub fn max_age_for_held(max_age_secs: u64, held_at_ms: i64, now_ms: i64) -> u64 {
    let held_for_secs = u64::try_from((now_ms - held_at_ms) / 1000).unwrap_or(0);
    max_age_secs.saturating_add(held_for_secs)
}

fn stale(copy: &Finding, max_age_secs: u64, now_ms: i64) -> Option<String> {
    let updated = copy
        .updated_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let Some(updated) = updated else {
        return Some(format!(
            "GuardDuty's copy has no readable updatedAt ({:?}), so its age cannot be checked against max_finding_age; not acted on",
            copy.updated_at.as_deref().unwrap_or("")
        ));
    };
    let age_secs = (now_ms - updated.timestamp_millis()) / 1000;
    let max = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
    (age_secs > max).then(|| {
        format!(
            "GuardDuty last updated this finding at {} ({} h ago), longer ago than max_finding_age ({} h): a replayed or delayed event is not acted on",
            copy.updated_at.as_deref().unwrap_or(""),
            age_secs / 3600,
            max_age_secs / 3600
        )
    })
}

/// The executor's gate with the `intent` line: right before the first write a plan makes (after
/// the circuit breaker admitted it), one structured line says what is about to be written, so
/// a function killed mid-flight still leaves a trace of what it was doing.
struct Intent<'a, G> {
    gate: G,
    plan: &'a ContainmentPlan,
    logged: bool,
}

impl<G: WriteGate> WriteGate for Intent<'_, G> {
    async fn before_write(&mut self) -> Result<(), crate::breaker::BreakerRefusal> {
        self.gate.before_write().await?;
        if !self.logged {
            self.logged = true;
            let planned: Vec<String> = containment::planned(self.plan)
                .into_iter()
                .map(|a| a.api)
                .collect();
            tracing::info!(
                finding_id = %self.plan.finding_id,
                target = %self.plan.target,
                strategy = self.plan.strategy.as_str(),
                planned = %planned.join(","),
                "intent"
            );
        }
        Ok(())
    }

    async fn nothing_written(&mut self) {
        self.gate.nothing_written().await;
    }
}

/// The event as JSON when it is a CloudTrail call (the tamper watch's input).
fn cloudtrail_call(raw: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    crate::tamper::is_cloudtrail_call(&v).then_some(v)
}

/// Is `arn` (a role or user ARN, with or without a path) deadbolt's own identity?
fn is_own_identity(arn: &str, account: &AccountContext) -> bool {
    let account_id = arn.split(':').nth(4).unwrap_or("");
    let actor = AccountContext::from_caller(account_id, arn).own_identity;
    match (&account.own_identity, actor) {
        (Some(own), Some(actor)) => {
            account_id == account.account_id
                && own.kind == actor.kind
                && own.name.eq_ignore_ascii_case(&actor.name)
        }
        _ => false,
    }
}

/// A `failed` record of a parsed event, before anything was written.
fn failed(
    event: &GuardDutyEvent,
    mode: Mode,
    reason: Reason,
    message: String,
    retryable: bool,
) -> DecisionRecord {
    let mut r = record(event, mode, None, Outcome::Failed, reason);
    r.message = message;
    r.retryable = retryable;
    r
}

/// A retryable `failed` record for an event nothing was decided on (no settings, no time left),
/// naming its finding when the event parses.
fn undecided(raw: &str, reason: Reason, message: String) -> DecisionRecord {
    let mut r = match parse_event(raw) {
        Ok(event) => record(&event, Mode::Off, None, Outcome::Failed, reason),
        Err(_) => DecisionRecord {
            decision: PrincipalDecision::new(Outcome::Failed, reason),
            ..DecisionRecord::empty(Mode::Off)
        },
    };
    r.message = message;
    r.retryable = true;
    r
}

/// The event as it arrived: what a held finding keeps, so it can be replayed exactly. Without
/// the raw text (`handle_event`) the parsed event is serialized again, only when it is held.
struct Arrived<'a> {
    event: &'a GuardDutyEvent,
    raw: Option<&'a str>,
}

impl Arrived<'_> {
    fn text(&self) -> String {
        match self.raw {
            Some(raw) => raw.to_string(),
            None => serde_json::to_string(self.event).unwrap_or_default(),
        }
    }
}

/// `r` with the stage timings measured for it: GuardDuty's answer (`verify_us`) and the IAM
/// reads and writes made through `iam`. A record with no stage measured keeps `None`.
fn with_timings<P>(
    mut r: DecisionRecord,
    verify_us: Option<u64>,
    iam: &Timed<'_, P>,
) -> DecisionRecord {
    let verify_ms = verify_us.map(|us| us as f64 / 1000.0);
    let (read_ms, write_ms) = (iam.hook.read_ms(), iam.hook.write_ms());
    if verify_ms.is_some() || read_ms.is_some() || write_ms.is_some() || r.timings.is_some() {
        let t = r.timings.get_or_insert_with(Timings::default);
        (t.verify_ms, t.read_ms, t.write_ms) = (verify_ms, read_ms, write_ms);
    }
    r
}

/// Milliseconds from GuardDuty's `updatedAt` of `f` to `now_ms` (`None` if unreadable; never
/// negative: a clock behind GuardDuty's counts as 0).
fn since_updated_ms(f: &Finding, now_ms: i64) -> Option<f64> {
    let updated = chrono::DateTime::parse_from_rfc3339(f.updated_at.as_deref()?).ok()?;
    Some((now_ms - updated.timestamp_millis()).max(0) as f64)
}

#[cfg(test)]
mod held_age_tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn updated(hours_before: i64, now_ms: i64) -> Finding {
        let mut f = crate::finding::parse_event(include_str!(
            "../../../../tests/fixtures/guardduty/cloudtrail-logging-disabled.json"
        ))
        .expect("fixture parses")
        .detail;
        f.updated_at = Some(crate::strategy::format_rfc3339_utc(
            (now_ms - hours_before * HOUR_MS) / 1000,
        ));
        f
    }

    #[test]
    fn a_held_findings_age_counts_from_the_hold() {
        let now = 1_796_000_000_000;
        let day = 24 * 3600;
        // Updated 2 h before it was held, held 60 h ago (a weekend): acted on.
        let max = max_age_for_held(day, now - 60 * HOUR_MS, now);
        assert_eq!(stale(&updated(62, now), max, now), None);
        // Without the hold it would be stale.
        assert!(stale(&updated(62, now), day, now).is_some());
        // Already 25 h old when held: still stale.
        assert!(stale(&updated(85, now), max, now).is_some());
        // A hold "in the future" (clock skew) extends nothing.
        assert_eq!(max_age_for_held(day, now + HOUR_MS, now), day);
    }
}
