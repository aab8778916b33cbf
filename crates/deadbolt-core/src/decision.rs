//! The decision: a pure function from (finding, configuration, account) to what deadbolt will
//! do. No I/O happens here, so every branch is unit-tested without AWS.
//!
//! Checks run in a fixed order and the first that applies decides:
//! 1. facts about the finding: sample, archived, not an IAM access-key finding;
//! 2. the account: a finding from another account is never acted on here;
//! 3. the principal: one an inline policy cannot restrain (root, federated, SSO, service-linked…);
//! 4. operator scope: finding type, minimum severity, protected principals, deadbolt itself;
//! 5. the mode: off, dry-run, enforce.

use crate::config::{Config, Mode};
use crate::finding::GuardDutyEvent;
use crate::policy::{deny_all_document, DENY_ALL_POLICY_NAME};
use crate::principal::{resolve, ContainmentTarget, Principal, TargetKind};
use crate::record::{Outcome, Reason};

/// Facts about the account deadbolt's own credentials act in (from `sts:GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContext {
    pub account_id: String,
    /// deadbolt's own identity, always protected: locking itself out would end containment.
    pub own_identity: Option<ContainmentTarget>,
}

impl AccountContext {
    /// From the caller identity's account and ARN (`…:assumed-role/NAME/SESSION` for the
    /// Lambda, `…:user/PATH/NAME` for an operator).
    pub fn from_caller(account_id: &str, caller_arn: &str) -> Self {
        let resource = caller_arn.splitn(6, ':').nth(5).unwrap_or("");
        let own_identity = if let Some(rest) = resource.strip_prefix("assumed-role/") {
            rest.split('/')
                .next()
                .and_then(|n| ContainmentTarget::new(TargetKind::Role, n).ok())
        } else if let Some(rest) = resource.strip_prefix("user/") {
            rest.rsplit('/')
                .next()
                .and_then(|n| ContainmentTarget::new(TargetKind::User, n).ok())
        } else {
            None
        };
        AccountContext {
            account_id: account_id.to_string(),
            own_identity,
        }
    }
}

/// The one write containment needs: an inline policy on one IAM entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentPlan {
    pub target: ContainmentTarget,
    pub policy_name: &'static str,
    pub document: String,
}

/// What deadbolt will do with a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Write the plan (mode enforce).
    Contain(ContainmentPlan),
    /// Report the plan, write nothing (mode dry-run).
    DryRun(ContainmentPlan),
    /// Do nothing, for this reason. `outcome` is `skipped` or `not_containable`.
    Pass {
        outcome: Outcome,
        reason: Reason,
        message: String,
    },
}

/// Decide what to do with a parsed, validated finding.
pub fn decide(
    event: &GuardDutyEvent,
    config: &Config,
    account: &AccountContext,
) -> (Option<Principal>, Decision) {
    let f = &event.detail;
    let pass = |outcome, reason, message: String| Decision::Pass {
        outcome,
        reason,
        message,
    };

    if f.is_sample() {
        return (
            None,
            pass(
                Outcome::Skipped,
                Reason::SampleFinding,
                "AWS sample finding (additionalInfo.sample or GeneratedFinding placeholders): never acted on".into(),
            ),
        );
    }
    if f.service.archived {
        return (
            None,
            pass(
                Outcome::Skipped,
                Reason::ArchivedFinding,
                "the finding is archived (suppressed or closed by an operator)".into(),
            ),
        );
    }
    if f.resource.resource_type != "AccessKey" {
        return (
            None,
            pass(
                Outcome::Skipped,
                Reason::NotIamFinding,
                format!(
                    "resource type is {:?}; deadbolt contains IAM access-key findings only",
                    f.resource.resource_type
                ),
            ),
        );
    }

    let resolution = resolve(f);
    let principal = Some(resolution.principal);

    if f.account_id != account.account_id {
        return (
            principal,
            pass(
                Outcome::NotContainable,
                Reason::ForeignAccount,
                format!(
                    "the finding is for account {} but deadbolt's credentials act in {}; nothing was written",
                    f.account_id, account.account_id
                ),
            ),
        );
    }
    let target = match resolution.containment {
        Ok(t) => t,
        Err((reason, message)) => {
            return (principal, pass(Outcome::NotContainable, reason, message));
        }
    };
    if !config.finding_type_enabled(&f.finding_type) {
        return (
            principal,
            pass(
                Outcome::Skipped,
                Reason::FindingTypeNotEnabled,
                format!(
                    "finding type {} is not among the types that may trigger containment",
                    f.finding_type
                ),
            ),
        );
    }
    if f.severity < config.min_severity {
        return (
            principal,
            pass(
                Outcome::Skipped,
                Reason::BelowMinSeverity,
                format!(
                    "severity {} is below the configured minimum {}",
                    f.severity, config.min_severity
                ),
            ),
        );
    }
    if account
        .own_identity
        .as_ref()
        .is_some_and(|own| own.kind == target.kind && own.name.eq_ignore_ascii_case(&target.name))
    {
        return (
            principal,
            pass(
                Outcome::Skipped,
                Reason::DeadboltItself,
                format!("{target} is deadbolt's own identity and is always protected"),
            ),
        );
    }
    if let Some(pattern) = protected_by(
        config,
        &target,
        principal.as_ref(),
        &f.partition,
        &f.account_id,
    ) {
        return (
            principal,
            pass(
                Outcome::Skipped,
                Reason::ProtectedPrincipal,
                format!("{target} matches the protected-principal pattern {pattern:?}"),
            ),
        );
    }

    let plan = ContainmentPlan {
        document: deny_all_document(&f.id),
        policy_name: DENY_ALL_POLICY_NAME,
        target,
    };
    let decision = match config.effective_mode(&f.finding_type, &f.account_id) {
        Mode::Off => pass(
            Outcome::Skipped,
            Reason::ModeOff,
            format!("mode is off; {} would otherwise be contained", plan.target),
        ),
        Mode::DryRun => Decision::DryRun(plan),
        Mode::Enforce => Decision::Contain(plan),
    };
    (principal, decision)
}

/// The first protected pattern matching the target's name, its path-less IAM ARN, or its
/// session ARN. Findings do not carry IAM paths, so patterns match ARNs without one.
fn protected_by<'c>(
    config: &'c Config,
    target: &ContainmentTarget,
    principal: Option<&Principal>,
    partition: &str,
    account: &str,
) -> Option<&'c str> {
    let iam_arn = format!(
        "arn:{partition}:iam::{account}:{}/{}",
        target.kind.as_str(),
        target.name
    );
    let session_arn = principal.and_then(|p| p.arn.as_deref());
    config
        .protected
        .iter()
        .find(|g| {
            g.matches(&target.name)
                || g.matches(&iam_arn)
                || session_arn.is_some_and(|a| g.matches(a))
        })
        .map(|g| g.as_str())
}
