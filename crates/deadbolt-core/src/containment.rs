//! Applying and releasing a containment on one IAM entity. The responder's automatic path and
//! the operator's `deadbolt block` / `unblock` both go through here, so "already contained",
//! "never overwrite someone else's DenyAll" and "remove only deadbolt's own" hold everywhere.

use crate::decision::ContainmentPlan;
use crate::policy::{classify_existing, deny_all_document, ExistingDenyAll, DENY_ALL_POLICY_NAME};
use crate::ports::{iam_api, IamError, InlinePolicies, PolicyOp};
use crate::principal::ContainmentTarget;
use crate::record::{ActionRecord, ActionStatus, Outcome, Reason};

/// What one containment or release did, ready to go into a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
    pub actions: Vec<ActionRecord>,
    pub retryable: bool,
}

/// The planned calls, for dry-run.
pub fn planned(target: &ContainmentTarget, write: PolicyOp) -> Vec<ActionRecord> {
    vec![
        action(target, PolicyOp::Get, ActionStatus::Planned),
        action(target, write, ActionStatus::Planned),
    ]
}

/// Contain: one read, then at most one write, on exactly one IAM entity.
pub async fn apply<P: InlinePolicies>(policies: &P, plan: &ContainmentPlan) -> Applied {
    let t = &plan.target;
    let existing = match policies.get_policy(t, plan.policy_name).await {
        Ok(existing) => existing,
        Err(e) => {
            return failed(
                e.reason(),
                format!(
                    "could not read {t}'s inline policy {} ({e}); nothing was written",
                    plan.policy_name
                ),
                vec![
                    failed_action(t, PolicyOp::Get, &e),
                    action(t, PolicyOp::Put, ActionStatus::NotNeeded),
                ],
                e.retryable(),
            )
        }
    };
    if let Some(document) = existing {
        let (outcome, reason, message) = match classify_existing(&document) {
            ExistingDenyAll::Deadbolt { sid } => (
                Outcome::AlreadyContained,
                Reason::DeadboltDenyAllPresent,
                format!(
                    "{t} already carries deadbolt's {} ({sid}); nothing written",
                    plan.policy_name
                ),
            ),
            ExistingDenyAll::Equivalent => (
                Outcome::AlreadyContained,
                Reason::EquivalentDenyAllPresent,
                format!(
                    "{t} already carries a deny-everything policy named {}; nothing written",
                    plan.policy_name
                ),
            ),
            ExistingDenyAll::Conflicting => (
                Outcome::Failed,
                Reason::ConflictingPolicyName,
                format!(
                    "{t} has a different inline policy named {}; deadbolt never overwrites it. \
                     The principal is NOT contained: review that policy and contain by hand",
                    plan.policy_name
                ),
            ),
        };
        return Applied {
            outcome,
            reason,
            message,
            actions: vec![
                action(t, PolicyOp::Get, ActionStatus::Done),
                action(t, PolicyOp::Put, ActionStatus::NotNeeded),
            ],
            retryable: false,
        };
    }
    match policies
        .put_policy(t, plan.policy_name, &plan.document)
        .await
    {
        Ok(()) => Applied {
            outcome: Outcome::Contained,
            reason: Reason::DenyAllAttached,
            message: format!(
                "attached the inline policy {} to {t}: every action it attempts is now denied",
                plan.policy_name
            ),
            actions: vec![
                action(t, PolicyOp::Get, ActionStatus::Done),
                action(t, PolicyOp::Put, ActionStatus::Done),
            ],
            retryable: false,
        },
        Err(e) => failed(
            e.reason(),
            format!(
                "could not attach {} to {t} ({e}); the principal is NOT contained",
                plan.policy_name
            ),
            vec![
                action(t, PolicyOp::Get, ActionStatus::Done),
                failed_action(t, PolicyOp::Put, &e),
            ],
            e.retryable(),
        ),
    }
}

/// The plan an operator's `block` carries: deadbolt's DenyAll with a `Manual` Sid suffix.
pub fn manual_plan(target: ContainmentTarget) -> ContainmentPlan {
    ContainmentPlan {
        target,
        policy_name: DENY_ALL_POLICY_NAME,
        document: deny_all_document("Manual"),
    }
}

/// Release: delete the DenyAll only if it is deadbolt's own. A deny-all someone attached by
/// hand, or any other policy under that name, is left alone and reported.
pub async fn release<P: InlinePolicies>(
    policies: &P,
    target: &ContainmentTarget,
    dry_run: bool,
) -> Applied {
    let name = DENY_ALL_POLICY_NAME;
    let existing = match policies.get_policy(target, name).await {
        Ok(existing) => existing,
        Err(e) => {
            return failed(
                e.reason(),
                format!(
                    "could not read {target}'s inline policy {name} ({e}); nothing was removed"
                ),
                vec![
                    failed_action(target, PolicyOp::Get, &e),
                    action(target, PolicyOp::Delete, ActionStatus::NotNeeded),
                ],
                e.retryable(),
            )
        }
    };
    let not_ours = |reason, message: String| Applied {
        outcome: Outcome::Skipped,
        reason,
        message,
        actions: vec![
            action(target, PolicyOp::Get, ActionStatus::Done),
            action(target, PolicyOp::Delete, ActionStatus::NotNeeded),
        ],
        retryable: false,
    };
    match existing.as_deref().map(classify_existing) {
        None => not_ours(Reason::NotContained, format!("{target} carries no inline policy named {name}; nothing to remove")),
        Some(ExistingDenyAll::Equivalent) => not_ours(
            Reason::EquivalentDenyAllPresent,
            format!("{target}'s {name} was not written by deadbolt (no DeadboltDenyAll Sid); remove it by hand if intended"),
        ),
        Some(ExistingDenyAll::Conflicting) => not_ours(
            Reason::ConflictingPolicyName,
            format!("{target}'s inline policy {name} is not a deny-all written by deadbolt; left untouched"),
        ),
        Some(ExistingDenyAll::Deadbolt { .. }) if dry_run => Applied {
            outcome: Outcome::WouldRelease,
            reason: Reason::DryRun,
            message: format!("dry-run: would remove deadbolt's {name} from {target}"),
            actions: vec![action(target, PolicyOp::Get, ActionStatus::Done), action(target, PolicyOp::Delete, ActionStatus::Planned)],
            retryable: false,
        },
        Some(ExistingDenyAll::Deadbolt { .. }) => match policies.delete_policy(target, name).await {
            Ok(()) => Applied {
                outcome: Outcome::Released,
                reason: Reason::DenyAllRemoved,
                message: format!("removed deadbolt's {name} from {target}: its own permissions apply again"),
                actions: vec![action(target, PolicyOp::Get, ActionStatus::Done), action(target, PolicyOp::Delete, ActionStatus::Done)],
                retryable: false,
            },
            Err(e) => failed(
                e.reason(),
                format!("could not remove {name} from {target} ({e}); it is still blocked"),
                vec![action(target, PolicyOp::Get, ActionStatus::Done), failed_action(target, PolicyOp::Delete, &e)],
                e.retryable(),
            ),
        },
    }
}

fn failed(reason: Reason, message: String, actions: Vec<ActionRecord>, retryable: bool) -> Applied {
    Applied {
        outcome: Outcome::Failed,
        reason,
        message,
        actions,
        retryable,
    }
}

pub fn action(target: &ContainmentTarget, op: PolicyOp, status: ActionStatus) -> ActionRecord {
    ActionRecord {
        api: iam_api(op, target.kind).to_string(),
        target: target.to_string(),
        policy_name: DENY_ALL_POLICY_NAME.to_string(),
        status,
        error_code: None,
        error_message: None,
    }
}

fn failed_action(target: &ContainmentTarget, op: PolicyOp, e: &IamError) -> ActionRecord {
    ActionRecord {
        error_code: Some(e.code.clone()),
        error_message: Some(e.message.clone()),
        ..action(target, op, ActionStatus::Failed)
    }
}

/// What an operator's `block` or `unblock` did: the CLI's record, in the same vocabulary as the
/// responder's decision record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OperatorRecord {
    pub record_version: u32,
    /// `block` or `unblock`.
    pub command: &'static str,
    pub target: ContainmentTarget,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
    pub actions: Vec<ActionRecord>,
}

impl OperatorRecord {
    pub fn new(
        command: &'static str,
        target: ContainmentTarget,
        dry_run: bool,
        applied: Applied,
    ) -> Self {
        OperatorRecord {
            record_version: crate::record::RECORD_VERSION,
            command,
            target,
            dry_run,
            outcome: applied.outcome,
            reason: applied.reason,
            message: applied.message,
            actions: applied.actions,
        }
    }
}

/// How an entity's `DenyAll` looks in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockState {
    /// No inline policy named DenyAll.
    NotBlocked,
    /// deadbolt's DenyAll.
    BlockedByDeadbolt,
    /// A deny-everything DenyAll someone attached by hand.
    BlockedManually,
    /// Some other policy under the DenyAll name.
    ConflictingPolicy,
}

impl BlockState {
    pub fn of(document: Option<&str>) -> BlockState {
        match document.map(classify_existing) {
            None => BlockState::NotBlocked,
            Some(ExistingDenyAll::Deadbolt { .. }) => BlockState::BlockedByDeadbolt,
            Some(ExistingDenyAll::Equivalent) => BlockState::BlockedManually,
            Some(ExistingDenyAll::Conflicting) => BlockState::ConflictingPolicy,
        }
    }

    pub fn is_blocked(self) -> bool {
        matches!(
            self,
            BlockState::BlockedByDeadbolt | BlockState::BlockedManually
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPolicies;
    use crate::principal::TargetKind;

    fn group() -> ContainmentTarget {
        ContainmentTarget::new(TargetKind::Group, "developers").unwrap()
    }

    #[tokio::test]
    async fn block_then_unblock_round_trips_and_dry_run_changes_nothing() {
        let p = MemoryPolicies::new().with_entity(&group());
        let blocked = apply(&p, &manual_plan(group())).await;
        assert_eq!(blocked.outcome, Outcome::Contained);
        assert_eq!(
            BlockState::of(p.policy(&group(), DENY_ALL_POLICY_NAME).as_deref()),
            BlockState::BlockedByDeadbolt
        );

        let dry = release(&p, &group(), true).await;
        assert_eq!(
            (dry.outcome, dry.reason),
            (Outcome::WouldRelease, Reason::DryRun)
        );
        assert!(p.policy(&group(), DENY_ALL_POLICY_NAME).is_some());

        let released = release(&p, &group(), false).await;
        assert_eq!(
            (released.outcome, released.reason),
            (Outcome::Released, Reason::DenyAllRemoved)
        );
        assert!(p.policy(&group(), DENY_ALL_POLICY_NAME).is_none());

        let again = release(&p, &group(), false).await;
        assert_eq!(
            (again.outcome, again.reason),
            (Outcome::Skipped, Reason::NotContained)
        );
    }

    #[tokio::test]
    async fn unblock_removes_only_deadbolts_deny_all() {
        let manual = r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let other = r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
        for (doc, reason) in [
            (manual, Reason::EquivalentDenyAllPresent),
            (other, Reason::ConflictingPolicyName),
        ] {
            let p = MemoryPolicies::new().with_entity(&group()).with_policy(
                &group(),
                DENY_ALL_POLICY_NAME,
                doc,
            );
            let r = release(&p, &group(), false).await;
            assert_eq!((r.outcome, r.reason), (Outcome::Skipped, reason));
            assert_eq!(
                p.policy(&group(), DENY_ALL_POLICY_NAME).as_deref(),
                Some(doc)
            );
            assert!(!p.calls().iter().any(|c| c.starts_with("iam:Delete")));
        }
    }
}
