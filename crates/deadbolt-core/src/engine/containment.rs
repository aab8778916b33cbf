//! Applying and releasing a containment on one IAM entity. The responder's automatic path and
//! the operator's `deadbolt block` / `unblock` both go through here, so "already contained",
//! "never overwrite someone else's DenyAll" and "remove only deadbolt's own" hold everywhere.

use crate::breaker::{BreakerRefusal, WriteGate};
use crate::decision::{ContainmentPlan, PlanStrategy};
use crate::policy::{
    classify_existing, merge_permission_set_policy, ExistingDenyAll, PermissionSetMerge,
    DENY_ALL_POLICY_NAME, PERMISSION_SET_POLICY_LIMIT,
};
use crate::ports::{
    iam_api, managed_api, AccessKeys, AwsError, AwsErrorKind, IdentityCenter, InlinePolicies,
    ManagedOp, ManagedPolicies, PolicyOp,
};
use crate::principal::ContainmentTarget;
use crate::record::{ActionRecord, ActionStatus, Outcome, Reason};
use crate::strategy::{merge, Merge, Needed, RoleStrategy, MERGED_DOCUMENT_LIMIT};

/// What one containment or release did, ready to go into a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
    pub actions: Vec<ActionRecord>,
    pub retryable: bool,
}

pub use crate::decision::describe;

/// The calls a plan makes, for dry-run.
pub fn planned(plan: &ContainmentPlan) -> Vec<ActionRecord> {
    let t = &plan.target;
    if let PlanStrategy::PermissionSetDeny { permission_set, .. } = &plan.strategy {
        return IDC_APIS
            .iter()
            .map(|api| idc_action(permission_set, api, ActionStatus::Planned))
            .collect();
    }
    // The key first: it needs no quota, so nothing the attacker planted can block it.
    let mut actions = Vec::new();
    if let Some(key) = &plan.deactivate_access_key {
        actions.push(key_read_action(t, key, ActionStatus::Planned));
        actions.push(key_action(t, key, ActionStatus::Planned));
    }
    if plan.strategy != PlanStrategy::AccessKeyOnly {
        actions.push(action(t, PolicyOp::Get, ActionStatus::Planned));
        actions.push(action(t, PolicyOp::Put, ActionStatus::Planned));
    }
    actions
}

/// The Identity Center calls of `permission-set-deny`, in order.
const IDC_APIS: [&str; 5] = [
    "sso:ListPermissionSets",
    "identitystore:GetUserId",
    "sso:GetInlinePolicyForPermissionSet",
    "sso:PutInlinePolicyToPermissionSet",
    "sso:ProvisionPermissionSet",
];

/// Contain: one read, then the write the plan needs (none if the principal is already
/// covered), on exactly one IAM entity (the Identity Center strategy works on the permission set
/// instead); for roles the policy is read back once after the write (a concurrent merge must
/// not have dropped this statement); then, if the plan says so, the finding's access key is
/// set inactive. `gate` is asked right before each write (the circuit breaker: it counts only
/// writes that happen). `now_ms` is the moment `revoke-sessions` cuts at.
pub async fn apply<P, C, G>(
    policies: &P,
    idc: &C,
    plan: &ContainmentPlan,
    now_ms: i64,
    gate: &mut G,
) -> Applied
where
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    C: IdentityCenter,
    G: WriteGate,
{
    let needed = match &plan.strategy {
        PlanStrategy::PermissionSetDeny {
            permission_set,
            user_name,
        } => {
            return apply_identity_center(idc, &plan.finding_id, permission_set, user_name, gate)
                .await;
        }
        PlanStrategy::DenyAll => Ok(Needed::Everything),
        PlanStrategy::RevokeSessions => {
            Needed::for_role(RoleStrategy::RevokeSessions, None, now_ms)
        }
        PlanStrategy::DenySession { userid } => Ok(Needed::Session(userid.clone())),
        PlanStrategy::AccessKeyOnly => return apply_key_only(policies, plan, gate).await,
    };
    // What needs no quota comes first: the finding's access key. A planted policy or a full
    // quota cannot stop `UpdateAccessKey`, so the key is inactive whatever the policy writes
    // do. The breaker admits (or refuses) the containment at its first write, here.
    let key = match &plan.deactivate_access_key {
        Some(key) => match deactivate_key(policies, &plan.target, key, gate).await {
            Err(KeyFailure::Refused(actions, refusal)) => return refused(plan, actions, &refusal),
            done => Some((key.as_str(), done)),
        },
        None => None,
    };
    let mut applied = match needed {
        Ok(needed) => apply_policy(policies, plan, &needed, gate).await,
        Err(e) => failed(
            Reason::StrategyNotApplicable,
            format!("{e}; nothing was written"),
            vec![],
            false,
        ),
    };
    if let Some((key, done)) = key {
        with_key(&mut applied, &plan.target, key, done);
    }
    // Every write failed: the breaker slot it was admitted for goes back, so failures (a
    // throttled IAM, a blocked principal) cannot use up the hour's budget for real ones.
    if applied.outcome == Outcome::Failed && !wrote_anything(&applied.actions) {
        gate.nothing_written().await;
    }
    applied
}

/// Whether any write among `actions` succeeded.
fn wrote_anything(actions: &[ActionRecord]) -> bool {
    actions.iter().any(|a| {
        a.status == ActionStatus::Done
            && ["Put", "Attach", "Tag", "Update", "Provision"]
                .iter()
                .any(|verb| {
                    a.api
                        .split_once(':')
                        .is_some_and(|(_, op)| op.starts_with(verb))
                })
    })
}

/// Fold the key's result (done before the policy) into the policy's record: the key's calls
/// first, in the order they were made.
fn with_key(
    applied: &mut Applied,
    t: &ContainmentTarget,
    key: &str,
    done: Result<(Vec<ActionRecord>, bool), KeyFailure>,
) {
    let policy_in_place = matches!(
        applied.outcome,
        Outcome::Contained | Outcome::AlreadyContained | Outcome::PartiallyContained
    );
    let (actions, key_inactive) = match done {
        Ok((actions, written)) => {
            if policy_in_place {
                if written {
                    applied.message.push_str(&format!(
                        ". Access key {key} is now inactive (the user's other keys are untouched)"
                    ));
                    // The policy was there already (a redelivery of a partial containment):
                    // the key is what this delivery contained.
                    if applied.outcome == Outcome::AlreadyContained {
                        applied.outcome = Outcome::Contained;
                        applied.reason = Reason::AccessKeyDeactivated;
                    }
                } else {
                    applied
                        .message
                        .push_str(&format!(". Access key {key} was already inactive"));
                }
            }
            (actions, true)
        }
        // The breaker's refusal returned before the policy was tried.
        Err(KeyFailure::Refused(actions, _)) => (actions, false),
        Err(KeyFailure::Aws(actions, e)) => {
            applied.message.push_str(&format!(
                ". Access key {key} is still ACTIVE: could not deactivate it ({e}); \
                 deactivate it by hand \
                 (aws iam update-access-key --user-name {} --access-key-id {key} --status Inactive)",
                t.name
            ));
            // What is in place stays in place; a key that could not be set inactive makes the
            // record partial (never `contained`), with the reason the key is still active.
            if policy_in_place && applied.outcome != Outcome::PartiallyContained {
                applied.outcome = Outcome::PartiallyContained;
                applied.reason = e.reason();
            }
            applied.retryable |= e.retryable();
            (actions, false)
        }
    };
    if key_inactive && applied.outcome == Outcome::Failed {
        // The policy could not be written, but the finding's credentials no longer work.
        applied.outcome = Outcome::PartiallyContained;
        applied.message = format!(
            "access key {key} of {t} is inactive, so the finding's credentials no longer work; but {}",
            applied.message
        );
    }
    let mut all = actions;
    all.append(&mut applied.actions);
    applied.actions = all;
}

/// Why a key was not set inactive, with the calls made.
enum KeyFailure {
    Refused(Vec<ActionRecord>, BreakerRefusal),
    Aws(Vec<ActionRecord>, AwsError),
}

/// Read the key's status, and set it inactive if it is active: `(calls, written)`. A key that
/// is already inactive (a redelivery) is not written and consumes no admission.
async fn deactivate_key<P: AccessKeys, G: WriteGate>(
    policies: &P,
    t: &ContainmentTarget,
    key: &str,
    gate: &mut G,
) -> Result<(Vec<ActionRecord>, bool), KeyFailure> {
    let read = |status| key_read_action(t, key, status);
    match policies.access_key_active(&t.name, key).await {
        Ok(Some(true)) => {}
        Ok(Some(false)) => {
            return Ok((
                vec![
                    read(ActionStatus::Done),
                    key_action(t, key, ActionStatus::NotNeeded),
                ],
                false,
            ))
        }
        Ok(None) => {
            let e = AwsError::new(
                crate::ports::AwsErrorKind::NoSuchEntity,
                "NoSuchEntity",
                format!("{t} has no access key {key}"),
            );
            return Err(KeyFailure::Aws(
                vec![
                    read(ActionStatus::Done),
                    key_action(t, key, ActionStatus::NotNeeded),
                ],
                e,
            ));
        }
        Err(e) => {
            return Err(KeyFailure::Aws(
                vec![with_error(read(ActionStatus::Failed), &e)],
                e,
            ))
        }
    }
    if let Err(refusal) = gate.before_write().await {
        return Err(KeyFailure::Refused(
            vec![
                read(ActionStatus::Done),
                key_action(t, key, ActionStatus::Planned),
            ],
            refusal,
        ));
    }
    match policies.set_access_key_status(&t.name, key, false).await {
        Ok(()) => Ok((
            vec![
                read(ActionStatus::Done),
                key_action(t, key, ActionStatus::Done),
            ],
            true,
        )),
        Err(e) => Err(KeyFailure::Aws(
            vec![
                read(ActionStatus::Done),
                with_error(key_action(t, key, ActionStatus::Failed), &e),
            ],
            e,
        )),
    }
}

/// The circuit breaker refused the plan's first write: nothing was written, the record says
/// what would have been done.
fn refused(
    plan: &ContainmentPlan,
    mut actions: Vec<ActionRecord>,
    refusal: &BreakerRefusal,
) -> Applied {
    let rest: Vec<ActionRecord> = planned(plan)
        .into_iter()
        .filter(|a| !actions.iter().any(|done| done.api == a.api))
        .collect();
    actions.extend(rest);
    Applied {
        outcome: Outcome::WouldContain,
        reason: Reason::CircuitBreakerOpen,
        message: format!(
            "circuit breaker open: {}; falling back to dry-run, would {}",
            refusal.message(),
            describe(plan)
        ),
        actions,
        retryable: refusal.retryable(),
    }
}

/// Only the access key: set it inactive, nothing else.
async fn apply_key_only<P: AccessKeys, G: WriteGate>(
    policies: &P,
    plan: &ContainmentPlan,
    gate: &mut G,
) -> Applied {
    let t = &plan.target;
    let Some(key) = plan.deactivate_access_key.as_deref() else {
        return failed(
            Reason::StrategyNotApplicable,
            format!("no access key named for {t}; nothing was done"),
            vec![],
            false,
        );
    };
    match deactivate_key(policies, t, key, gate).await {
        Ok((actions, true)) => Applied {
            outcome: Outcome::Contained,
            reason: Reason::AccessKeyDeactivated,
            message: format!(
                "access key {key} of {t} is now inactive; the user's other keys and permissions are untouched"
            ),
            actions,
            retryable: false,
        },
        Ok((actions, false)) => Applied {
            outcome: Outcome::AlreadyContained,
            reason: Reason::AccessKeyDeactivated,
            message: format!("access key {key} of {t} is already inactive; nothing written"),
            actions,
            retryable: false,
        },
        Err(KeyFailure::Refused(actions, refusal)) => refused(plan, actions, &refusal),
        Err(KeyFailure::Aws(actions, e)) => failed(
            e.reason(),
            format!(
                "could not deactivate access key {key} of {t} ({e}); it still works. By hand: aws iam update-access-key --user-name {} --access-key-id {key} --status Inactive",
                t.name
            ),
            actions,
            e.retryable(),
        ),
    }
}

/// How many times a merged write is retried when a concurrent writer (another finding for the
/// same role, handled at the same moment) replaced the policy between our read and our write.
const MERGE_ATTEMPTS: usize = 3;

async fn apply_policy<P: InlinePolicies + ManagedPolicies, G: WriteGate>(
    policies: &P,
    plan: &ContainmentPlan,
    needed: &Needed,
    gate: &mut G,
) -> Applied {
    let t = &plan.target;
    let name = plan.policy_name;
    let mut existing = match policies.get_policy(t, name).await {
        Ok(existing) => existing,
        Err(e) => {
            return failed(
                e.reason(),
                format!("could not read {t}'s inline policy {name} ({e}); nothing was written"),
                vec![
                    failed_action(t, PolicyOp::Get, &e),
                    action(t, PolicyOp::Put, ActionStatus::NotNeeded),
                ],
                e.retryable(),
            )
        }
    };
    let mut actions = vec![action(t, PolicyOp::Get, ActionStatus::Done)];
    let mut written = false;
    for _ in 0..MERGE_ATTEMPTS {
        let finish = |mut actions: Vec<ActionRecord>, outcome, reason, message: String| {
            if !written {
                actions.push(action(t, PolicyOp::Put, ActionStatus::NotNeeded));
            }
            Applied {
                outcome,
                reason,
                message,
                actions,
                retryable: false,
            }
        };
        let (document, kept, superseded) =
            match merge(existing.as_deref(), &plan.finding_id, needed) {
                // Our own earlier write, re-read, already covers it.
                Merge::Covered { .. } if written => {
                    return contained(t, name, needed, 0, 0, actions)
                }
                Merge::Covered {
                    by_deadbolt: true,
                    sid,
                } => {
                    return finish(
                        actions,
                        Outcome::AlreadyContained,
                        Reason::DeadboltDenyAllPresent,
                        format!(
                            "{t} already carries deadbolt's {name} ({}), which covers this finding; nothing written",
                            sid.unwrap_or_default()
                        ),
                    )
                }
                Merge::Covered {
                    by_deadbolt: false, ..
                } => {
                    return finish(
                        actions,
                        Outcome::AlreadyContained,
                        Reason::EquivalentDenyAllPresent,
                        format!("{t} already carries a deny-everything policy named {name}; nothing written"),
                    )
                }
                // Possibly planted by the attacker (iam:PutUserPolicy on itself). Never
                // overwritten; deny-all contains through the managed policy instead.
                Merge::Conflicting if *needed == Needed::Everything => {
                    if !written {
                        actions.push(action(t, PolicyOp::Put, ActionStatus::NotNeeded));
                    }
                    let why = format!(
                        "{t} has an inline policy named {name} that deadbolt did not write (left untouched)"
                    );
                    return apply_managed(policies, plan, actions, why, gate).await;
                }
                Merge::Conflicting => {
                    return finish(
                        actions,
                        Outcome::Failed,
                        Reason::ConflictingPolicyName,
                        format!(
                            "{t} has a different inline policy named {name}; deadbolt never overwrites it, \
                             and the managed AWSDenyAll would deny more than this session strategy. \
                             The principal is NOT contained: review that policy, or block the whole role \
                             (deadbolt block --role {})",
                            t.name
                        ),
                    )
                }
                Merge::TooLarge { size } => {
                    return finish(
                        actions,
                        Outcome::Failed,
                        Reason::LimitExceeded,
                        format!(
                            "adding this finding's statement to {t}'s {name} would make it {size} characters \
                             (deadbolt keeps it under {MERGED_DOCUMENT_LIMIT}); the principal is NOT contained: \
                             block the whole role (deadbolt block --role {})",
                            t.name
                        ),
                    )
                }
                Merge::Write {
                    document,
                    kept,
                    superseded,
                } => (document, kept, superseded),
            };
        if let Err(refusal) = gate.before_write().await {
            return refused(plan, actions, &refusal);
        }
        if let Err(e) = policies.put_policy(t, name, &document).await {
            actions.push(failed_action(t, PolicyOp::Put, &e));
            // The inline-policy quota is full: deny-all contains through the managed policy.
            if e.kind == AwsErrorKind::LimitExceeded && *needed == Needed::Everything {
                let why = format!("IAM refused the inline policy {name} on {t} ({e})");
                return apply_managed(policies, plan, actions, why, gate).await;
            }
            return failed(
                e.reason(),
                format!("could not attach {name} to {t} ({e}); the principal is NOT contained"),
                actions,
                e.retryable(),
            );
        }
        actions.push(action(t, PolicyOp::Put, ActionStatus::Done));
        written = true;
        // Only roles have session strategies, so only a role's policy can be rewritten by a
        // concurrent merge from the state before ours (dropping our statement, or replacing a
        // deny-all with narrower ones). Read it back and merge again if so. The containment is
        // already in place: the read-back delays the record, not the lockout.
        if t.kind != crate::principal::TargetKind::Role {
            return contained(t, name, needed, kept, superseded, actions);
        }
        match policies.get_policy(t, name).await {
            Ok(now) => {
                actions.push(action(t, PolicyOp::Get, ActionStatus::Done));
                if matches!(
                    merge(now.as_deref(), &plan.finding_id, needed),
                    Merge::Covered { .. }
                ) {
                    return contained(t, name, needed, kept, superseded, actions);
                }
                existing = now;
            }
            // The write succeeded; a failed read-back does not undo it.
            Err(_) => return contained(t, name, needed, kept, superseded, actions),
        }
    }
    failed(
        Reason::AwsError,
        format!(
            "{t}'s {name} kept being replaced by concurrent writers; this finding's statement may be missing. Delivering the event again retries"
        ),
        actions,
        true,
    )
}

// Where they are defined: the rules (the tamper watch reads them too).
pub use crate::policy::{
    is_managed_deny_all, managed_deny_all_arn, partition_of, MANAGED_DENY_ALL_NAME,
    MANAGED_DENY_ALL_TAG,
};

fn managed_action(
    target: &ContainmentTarget,
    op: ManagedOp,
    status: ActionStatus,
) -> Option<ActionRecord> {
    let api = managed_api(op, target.kind)?;
    let policy_name = match op {
        ManagedOp::ListAttached
        | ManagedOp::Attach
        | ManagedOp::Detach
        | ManagedOp::PutBoundary
        | ManagedOp::DeleteBoundary => MANAGED_DENY_ALL_NAME,
        ManagedOp::ListTags | ManagedOp::Tag | ManagedOp::Untag | ManagedOp::GetBoundary => "",
    };
    Some(ActionRecord {
        api: api.to_string(),
        target: target.to_string(),
        policy_name: policy_name.to_string(),
        access_key_id: None,
        status,
        error_code: None,
        error_message: None,
    })
}

/// The exact command that detaches `AWSDenyAll` by hand.
fn detach_by_hand(t: &ContainmentTarget, arn: &str) -> String {
    let kind = t.kind.as_str();
    format!(
        "aws iam detach-{kind}-policy --{kind}-name {} --policy-arn {arn}",
        t.name
    )
}

/// The inline path is blocked (`why`): contain with the AWS managed policy `AWSDenyAll`
/// instead, then tag the user or role so `deadbolt unblock` knows deadbolt attached it. The
/// attachments are read first (only on this path, so a redelivery of an ordinary containment
/// stays one read): `AWSDenyAll` already attached means already contained.
async fn apply_managed<P: ManagedPolicies, G: WriteGate>(
    policies: &P,
    plan: &ContainmentPlan,
    mut actions: Vec<ActionRecord>,
    why: String,
    gate: &mut G,
) -> Applied {
    let t = &plan.target;
    let arn = managed_deny_all_arn(&plan.partition);
    let push = |actions: &mut Vec<ActionRecord>, op, status| {
        actions.extend(managed_action(t, op, status));
    };
    let push_failed = |actions: &mut Vec<ActionRecord>, op, e: &AwsError| {
        actions.extend(managed_action(t, op, ActionStatus::Failed).map(|a| with_error(a, e)));
    };
    let attached = match policies.attached_policies(t).await {
        Ok(attached) => attached,
        Err(e) => {
            push_failed(&mut actions, ManagedOp::ListAttached, &e);
            push(&mut actions, ManagedOp::Attach, ActionStatus::NotNeeded);
            return failed(
                e.reason(),
                format!("{why}; could not read its attached policies ({e}), so {MANAGED_DENY_ALL_NAME} was not attached: the principal is NOT contained"),
                actions,
                e.retryable(),
            );
        }
    };
    push(&mut actions, ManagedOp::ListAttached, ActionStatus::Done);
    if attached.iter().any(|a| a == &arn) {
        push(&mut actions, ManagedOp::Attach, ActionStatus::NotNeeded);
        let ours = if t.kind == crate::principal::TargetKind::Group {
            None
        } else {
            match policies.tags(t).await {
                Ok(tags) => {
                    push(&mut actions, ManagedOp::ListTags, ActionStatus::Done);
                    tags.into_iter()
                        .find(|(k, _)| k == MANAGED_DENY_ALL_TAG)
                        .map(|(_, v)| v)
                }
                // Who attached it only decides the reason: it is attached either way.
                Err(e) => {
                    push_failed(&mut actions, ManagedOp::ListTags, &e);
                    None
                }
            }
        };
        let (reason, by) = match &ours {
            Some(finding) => (
                Reason::DeadboltDenyAllPresent,
                format!("attached by deadbolt ({MANAGED_DENY_ALL_TAG}={finding})"),
            ),
            None => (
                Reason::EquivalentDenyAllPresent,
                format!("without deadbolt's {MANAGED_DENY_ALL_TAG} tag"),
            ),
        };
        return Applied {
            outcome: Outcome::AlreadyContained,
            reason,
            message: format!("{why}; {t} already has the managed policy {MANAGED_DENY_ALL_NAME} attached ({by}), which denies everything; nothing written"),
            actions,
            retryable: false,
        };
    }
    if let Err(refusal) = gate.before_write().await {
        push(&mut actions, ManagedOp::Attach, ActionStatus::Planned);
        push(&mut actions, ManagedOp::Tag, ActionStatus::Planned);
        return Applied {
            outcome: Outcome::WouldContain,
            reason: Reason::CircuitBreakerOpen,
            message: format!(
                "circuit breaker open: {}; falling back to dry-run, would attach the managed policy {MANAGED_DENY_ALL_NAME} to {t} ({why})",
                refusal.message()
            ),
            actions,
            retryable: refusal.retryable(),
        };
    }
    if let Err(e) = policies.attach_policy(t, &arn).await {
        push_failed(&mut actions, ManagedOp::Attach, &e);
        let why =
            format!("{why}; attaching the managed policy {MANAGED_DENY_ALL_NAME} failed too ({e})");
        // A user or role still has the path no quota can block: its permissions boundary.
        if t.kind == crate::principal::TargetKind::Group {
            return blocked(plan, actions, why, &e);
        }
        return apply_boundary(policies, plan, actions, why, gate).await;
    }
    push(&mut actions, ManagedOp::Attach, ActionStatus::Done);
    let contained = format!(
        "{why}; attached the AWS managed policy {MANAGED_DENY_ALL_NAME} ({arn}) to {t} instead: every action it attempts is now denied"
    );
    if t.kind == crate::principal::TargetKind::Group {
        return Applied {
            outcome: Outcome::Contained,
            reason: Reason::ManagedDenyAllAttached,
            message: format!(
                "{contained}. Groups cannot be tagged, so this attachment is not marked as deadbolt's and deadbolt unblock leaves it: when the incident is over, {}",
                detach_by_hand(t, &arn)
            ),
            actions,
            retryable: false,
        };
    }
    match policies
        .tag(t, MANAGED_DENY_ALL_TAG, &plan.finding_id)
        .await
    {
        Ok(()) => {
            push(&mut actions, ManagedOp::Tag, ActionStatus::Done);
            Applied {
                outcome: Outcome::Contained,
                reason: Reason::ManagedDenyAllAttached,
                message: format!(
                    "{contained}; tagged {MANAGED_DENY_ALL_TAG}={} so deadbolt unblock detaches it",
                    plan.finding_id
                ),
                actions,
                retryable: false,
            }
        }
        // Contained, but unmarked: a redelivery cannot tell this attachment from an
        // administrator's, so it cannot add the tag later and delivering again does not help.
        Err(e) => {
            push_failed(&mut actions, ManagedOp::Tag, &e);
            Applied {
                outcome: Outcome::PartiallyContained,
                reason: e.reason(),
                message: format!(
                    "{contained}; but tagging it {MANAGED_DENY_ALL_TAG} failed ({e}), so deadbolt unblock will not detach it: when the incident is over, {}",
                    detach_by_hand(t, &arn)
                ),
                actions,
                retryable: false,
            }
        }
    }
}

/// Neither the inline `DenyAll` nor the managed `AWSDenyAll` could be written (`why`): set
/// `AWSDenyAll` as the user's or role's permissions boundary. A boundary uses no quota and
/// replaces any boundary before (which the ledger keeps, through the observed read here, so
/// `unblock` restores it exactly); the effective permissions are the intersection, so nothing
/// is allowed.
async fn apply_boundary<P: ManagedPolicies, G: WriteGate>(
    policies: &P,
    plan: &ContainmentPlan,
    mut actions: Vec<ActionRecord>,
    why: String,
    gate: &mut G,
) -> Applied {
    let t = &plan.target;
    let arn = managed_deny_all_arn(&plan.partition);
    let push = |actions: &mut Vec<ActionRecord>, op, status| {
        actions.extend(managed_action(t, op, status));
    };
    let before = match policies.permissions_boundary(t).await {
        Ok(before) => before,
        Err(e) => {
            actions.extend(
                managed_action(t, ManagedOp::GetBoundary, ActionStatus::Failed)
                    .map(|a| with_error(a, &e)),
            );
            push(
                &mut actions,
                ManagedOp::PutBoundary,
                ActionStatus::NotNeeded,
            );
            let why = format!("{why}; reading its permissions boundary failed ({e})");
            return blocked(plan, actions, why, &e);
        }
    };
    push(&mut actions, ManagedOp::GetBoundary, ActionStatus::Done);
    if before.as_deref() == Some(arn.as_str()) {
        push(
            &mut actions,
            ManagedOp::PutBoundary,
            ActionStatus::NotNeeded,
        );
        return Applied {
            outcome: Outcome::AlreadyContained,
            reason: Reason::PermissionsBoundarySet,
            message: format!("{why}; {t} already has {MANAGED_DENY_ALL_NAME} as its permissions boundary, which denies everything; nothing written"),
            actions,
            retryable: false,
        };
    }
    if let Err(refusal) = gate.before_write().await {
        push(&mut actions, ManagedOp::PutBoundary, ActionStatus::Planned);
        return Applied {
            outcome: Outcome::WouldContain,
            reason: Reason::CircuitBreakerOpen,
            message: format!(
                "circuit breaker open: {}; falling back to dry-run, would set {MANAGED_DENY_ALL_NAME} as {t}'s permissions boundary ({why})",
                refusal.message()
            ),
            actions,
            retryable: refusal.retryable(),
        };
    }
    if let Err(e) = policies.put_permissions_boundary(t, &arn).await {
        actions.extend(
            managed_action(t, ManagedOp::PutBoundary, ActionStatus::Failed)
                .map(|a| with_error(a, &e)),
        );
        let why = format!(
            "{why}; setting {MANAGED_DENY_ALL_NAME} as its permissions boundary failed too ({e})"
        );
        return blocked(plan, actions, why, &e);
    }
    push(&mut actions, ManagedOp::PutBoundary, ActionStatus::Done);
    let was = before.as_deref().unwrap_or("none");
    Applied {
        outcome: Outcome::Contained,
        reason: Reason::PermissionsBoundarySet,
        message: format!(
            "{why}; set the AWS managed policy {MANAGED_DENY_ALL_NAME} ({arn}) as {t}'s permissions boundary instead, which needs no quota: every action it attempts is now denied. Its boundary before ({was}) is kept in the ledger; deadbolt unblock puts it back"
        ),
        actions,
        retryable: false,
    }
}

/// Every write that restrains the principal was refused (`why` says which and how): not
/// contained. `containment_blocked` when the refusals are permanent (what the attacker did:
/// a planted policy, full quotas); the last error's own reason, retryable, when it was
/// transient. The record carries the manual step, and the notice pages with it.
fn blocked(
    plan: &ContainmentPlan,
    actions: Vec<ActionRecord>,
    why: String,
    e: &AwsError,
) -> Applied {
    let t = &plan.target;
    let arn = managed_deny_all_arn(&plan.partition);
    let n = &t.name;
    let manual = match t.kind {
        crate::principal::TargetKind::User => format!(
            "aws iam put-user-permissions-boundary --user-name {n} --permissions-boundary {arn}; \
             if that is refused, detach a policy the user should not have \
             (aws iam list-attached-user-policies --user-name {n}) and \
             aws iam attach-user-policy --user-name {n} --policy-arn {arn}; \
             then aws iam delete-login-profile --user-name {n} and set each of its access keys inactive"
        ),
        crate::principal::TargetKind::Role => format!(
            "aws iam put-role-permissions-boundary --role-name {n} --permissions-boundary {arn}; \
             if that is refused, detach a policy the role should not have \
             (aws iam list-attached-role-policies --role-name {n}) and \
             aws iam attach-role-policy --role-name {n} --policy-arn {arn}; \
             then revoke its active sessions (IAM console, the role's Revoke sessions tab)"
        ),
        crate::principal::TargetKind::Group => format!(
            "detach a policy the group should not have (aws iam list-attached-group-policies --group-name {n}) \
             and aws iam attach-group-policy --group-name {n} --policy-arn {arn}, \
             or remove its members (aws iam get-group --group-name {n})"
        ),
    };
    let reason = if e.retryable() {
        e.reason()
    } else {
        Reason::ContainmentBlocked
    };
    failed(
        reason,
        format!(
            "{why}: the principal is NOT contained; every write deadbolt restrains it with was refused. By hand, as an administrator: {manual}"
        ),
        actions,
        e.retryable(),
    )
}

fn contained(
    t: &ContainmentTarget,
    name: &str,
    needed: &Needed,
    kept: usize,
    superseded: usize,
    actions: Vec<ActionRecord>,
) -> Applied {
    let (reason, what) = match needed {
        Needed::Everything => (
            Reason::DenyAllAttached,
            "every action it attempts is now denied".to_string(),
        ),
        Needed::IssuedBefore(before) => (
            Reason::SessionsRevoked,
            format!("every session of it issued before {before} is now denied (new sessions work)"),
        ),
        Needed::Session(userid) => (
            Reason::SessionDenied,
            format!("the role session {userid} is now denied everything"),
        ),
    };
    let mut message = format!("attached the inline policy {name} to {t}: {what}");
    if kept > 0 {
        message.push_str(&format!(
            " (kept {kept} statement(s) deadbolt wrote for earlier findings)"
        ));
    }
    if superseded > 0 {
        message.push_str(&format!(
            " (replaced {superseded} narrower statement(s) from earlier findings)"
        ));
    }
    Applied {
        outcome: Outcome::Contained,
        reason,
        message,
        actions,
        retryable: false,
    }
}

/// What both directions of the Identity Center strategy read first.
struct IdcLookup {
    ps: crate::ports::PermissionSetRef,
    user_id: String,
    existing: Option<String>,
    actions: Vec<ActionRecord>,
}

/// The permission set by name, the user's identity-store id, and the set's inline policy, each
/// call recorded; on any failure the finished record, whose message ends with `consequence`.
async fn look_up_identity_center<C: IdentityCenter>(
    idc: &C,
    permission_set: &str,
    user_name: &str,
    consequence: &str,
) -> Result<IdcLookup, Applied> {
    let mut actions = Vec::new();
    let done = |api: &str| idc_action(permission_set, api, ActionStatus::Done);
    let fail = |actions, api: &str, e: &AwsError, reason, what: String| {
        let message = format!("{what} ({e}); {consequence}");
        idc_failed(permission_set, actions, api, e, reason, message)
    };
    let not_found = |mut actions: Vec<ActionRecord>, api: &str, what: String| {
        actions.push(done(api));
        failed(
            Reason::IdentityCenterLookupFailed,
            format!("{what}; {consequence}"),
            actions,
            false,
        )
    };
    let ps = match idc.find_permission_set(permission_set).await {
        Ok(Some(ps)) => ps,
        Ok(None) => {
            return Err(not_found(
                actions,
                IDC_APIS[0],
                format!(
                    "no permission set named {permission_set:?} in the Identity Center instance"
                ),
            ))
        }
        Err(e) => {
            return Err(fail(
                actions,
                IDC_APIS[0],
                &e,
                Reason::IdentityCenterLookupFailed,
                format!("could not find permission set {permission_set:?}"),
            ))
        }
    };
    actions.push(done(IDC_APIS[0]));
    let user_id = match idc.find_user_id(&ps.identity_store_id, user_name).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(not_found(
                actions,
                IDC_APIS[1],
                format!(
                    "no Identity Center user named {user_name:?} in identity store {}",
                    ps.identity_store_id
                ),
            ))
        }
        Err(e) => {
            return Err(fail(
                actions,
                IDC_APIS[1],
                &e,
                Reason::IdentityCenterLookupFailed,
                format!("could not look up Identity Center user {user_name:?}"),
            ))
        }
    };
    actions.push(done(IDC_APIS[1]));
    let existing = match idc.get_inline_policy(&ps).await {
        Ok(existing) => existing,
        Err(e) => {
            let reason = e.reason();
            return Err(fail(
                actions,
                IDC_APIS[2],
                &e,
                reason,
                format!("could not read permission set {permission_set}'s inline policy"),
            ));
        }
    };
    actions.push(done(IDC_APIS[2]));
    Ok(IdcLookup {
        ps,
        user_id,
        existing,
        actions,
    })
}

/// `permission-set-deny`: add a Deny for one Identity Center user to the permission set's
/// inline policy (every other statement kept exactly) and re-provision it.
pub async fn apply_identity_center<C: IdentityCenter, G: WriteGate>(
    idc: &C,
    finding_id: &str,
    permission_set: &str,
    user_name: &str,
    gate: &mut G,
) -> Applied {
    let IdcLookup {
        ps,
        user_id,
        existing,
        mut actions,
    } = match look_up_identity_center(
        idc,
        permission_set,
        user_name,
        "the Identity Center user is NOT contained",
    )
    .await
    {
        Ok(found) => found,
        Err(applied) => return applied,
    };
    let done = |api: &str| idc_action(permission_set, api, ActionStatus::Done);
    let fail = |actions, api: &str, e: &AwsError, reason, what: String| {
        let message = format!("{what} ({e}); the Identity Center user is NOT contained");
        idc_failed(permission_set, actions, api, e, reason, message)
    };
    let (outcome, reason, message) = match merge_permission_set_policy(
        existing.as_deref(),
        finding_id,
        &user_id,
    ) {
        PermissionSetMerge::Covered { sid } => {
            actions.push(idc_action(
                permission_set,
                IDC_APIS[3],
                ActionStatus::NotNeeded,
            ));
            (
                Outcome::AlreadyContained,
                Reason::DeadboltDenyAllPresent,
                format!("permission set {permission_set} already carries deadbolt's deny for Identity Center user {user_name} ({user_id}, {sid}); re-provisioned so every account has it"),
            )
        }
        PermissionSetMerge::Unreadable { problem } => {
            actions.push(idc_action(
                permission_set,
                IDC_APIS[3],
                ActionStatus::NotNeeded,
            ));
            return failed(Reason::PermissionSetPolicyUnreadable, format!("{problem}; deadbolt does not rewrite a permission set policy it cannot read. The Identity Center user is NOT contained"), actions, false);
        }
        PermissionSetMerge::TooLarge { size } => {
            actions.push(idc_action(
                permission_set,
                IDC_APIS[3],
                ActionStatus::NotNeeded,
            ));
            return failed(Reason::LimitExceeded, format!("adding the deny would make permission set {permission_set}'s inline policy {size} characters (limit {PERMISSION_SET_POLICY_LIMIT}); the Identity Center user is NOT contained"), actions, false);
        }
        PermissionSetMerge::Write { document } => {
            if let Err(refusal) = gate.before_write().await {
                actions.extend(
                    IDC_APIS[3..]
                        .iter()
                        .map(|api| idc_action(permission_set, api, ActionStatus::Planned)),
                );
                return Applied {
                    outcome: Outcome::WouldContain,
                    reason: Reason::CircuitBreakerOpen,
                    message: format!(
                        "circuit breaker open: {}; falling back to dry-run, would deny Identity Center user {user_name} in permission set {permission_set} and re-provision it (permission-set-deny)",
                        refusal.message()
                    ),
                    actions,
                    retryable: refusal.retryable(),
                };
            }
            if let Err(e) = idc.put_inline_policy(&ps, &document).await {
                return fail(
                    actions,
                    IDC_APIS[3],
                    &e,
                    e.reason(),
                    format!("could not write permission set {permission_set}'s inline policy"),
                );
            }
            actions.push(done(IDC_APIS[3]));
            (
                Outcome::Contained,
                Reason::IdentityCenterUserDenied,
                format!("denied Identity Center user {user_name} ({user_id}) everything in permission set {permission_set} (statement added to its inline policy, other statements kept) and re-provisioned it to every account"),
            )
        }
    };
    if let Err(e) = idc.provision(&ps).await {
        return fail(actions, IDC_APIS[4], &e, e.reason(), format!("the deny is in permission set {permission_set}'s policy but re-provisioning failed, so accounts do not have it yet"));
    }
    actions.push(done(IDC_APIS[4]));
    Applied {
        outcome,
        reason,
        message,
        actions,
        retryable: false,
    }
}

/// Undo `permission-set-deny` for one user (`deadbolt unblock --sso-user NAME --permission-set
/// NAME`): remove deadbolt's deny statements for that user's id from the permission set's
/// inline policy (every other statement kept; the policy deleted if nothing else is left) and
/// re-provision it.
pub async fn release_identity_center<C: IdentityCenter>(
    idc: &C,
    permission_set: &str,
    user_name: &str,
    dry_run: bool,
) -> Applied {
    let IdcLookup {
        ps,
        user_id,
        existing,
        mut actions,
    } = match look_up_identity_center(idc, permission_set, user_name, "nothing was removed").await {
        Ok(found) => found,
        Err(applied) => return applied,
    };
    let done = |api: &str| idc_action(permission_set, api, ActionStatus::Done);
    let failure = |actions, api: &str, e: &AwsError, what: String| {
        let message = format!("{what} ({e}); nothing was removed");
        idc_failed(permission_set, actions, api, e, e.reason(), message)
    };
    let Some((remaining, removed)) = existing
        .as_deref()
        .and_then(|doc| crate::policy::remove_permission_set_denies(doc, Some(&user_id)))
    else {
        return Applied {
            outcome: Outcome::Skipped,
            reason: Reason::NotContained,
            message: format!("permission set {permission_set} has no deadbolt deny for Identity Center user {user_name} ({user_id}); nothing to remove"),
            actions,
            retryable: false,
        };
    };
    let write_api = if remaining.is_some() {
        IDC_APIS[3]
    } else {
        "sso:DeleteInlinePolicyFromPermissionSet"
    };
    if dry_run {
        actions.push(idc_action(permission_set, write_api, ActionStatus::Planned));
        actions.push(idc_action(
            permission_set,
            IDC_APIS[4],
            ActionStatus::Planned,
        ));
        return Applied {
            outcome: Outcome::WouldRelease,
            reason: Reason::DryRun,
            message: format!("dry-run: would remove {removed} deadbolt deny statement(s) for {user_name} from permission set {permission_set} and re-provision it"),
            actions,
            retryable: false,
        };
    }
    let written = match &remaining {
        Some(doc) => idc.put_inline_policy(&ps, doc).await,
        None => idc.delete_inline_policy(&ps).await,
    };
    if let Err(e) = written {
        return failure(
            actions,
            write_api,
            &e,
            format!("could not rewrite permission set {permission_set}'s inline policy"),
        );
    }
    actions.push(done(write_api));
    if let Err(e) = idc.provision(&ps).await {
        let message = format!("the deny is removed from permission set {permission_set}'s policy but re-provisioning failed ({e}): accounts still deny {user_name} until it is provisioned");
        return idc_failed(
            permission_set,
            actions,
            IDC_APIS[4],
            &e,
            e.reason(),
            message,
        );
    }
    actions.push(done(IDC_APIS[4]));
    Applied {
        outcome: Outcome::Released,
        reason: Reason::DenyAllRemoved,
        message: format!("removed deadbolt's deny for Identity Center user {user_name} ({user_id}) from permission set {permission_set} (other statements kept) and re-provisioned it"),
        actions,
        retryable: false,
    }
}

fn idc_action(permission_set: &str, api: &str, status: ActionStatus) -> ActionRecord {
    ActionRecord {
        api: api.to_string(),
        target: format!("permission-set/{permission_set}"),
        policy_name: if api.contains("InlinePolicy") {
            "inline".into()
        } else {
            String::new()
        },
        access_key_id: None,
        status,
        error_code: None,
        error_message: None,
    }
}

fn key_read_action(target: &ContainmentTarget, key: &str, status: ActionStatus) -> ActionRecord {
    ActionRecord {
        api: "iam:ListAccessKeys".into(),
        ..key_action(target, key, status)
    }
}

fn key_action(target: &ContainmentTarget, key: &str, status: ActionStatus) -> ActionRecord {
    ActionRecord {
        api: "iam:UpdateAccessKey".into(),
        target: target.to_string(),
        policy_name: String::new(),
        access_key_id: Some(key.to_string()),
        status,
        error_code: None,
        error_message: None,
    }
}

/// The plan an operator's `block` carries: deadbolt's DenyAll with a `Manual` Sid suffix.
pub fn manual_plan(target: ContainmentTarget) -> ContainmentPlan {
    ContainmentPlan::deny_all(target, "Manual")
}

/// Set a user's access key active again (`deadbolt unblock --user NAME --access-key ID`).
pub async fn reactivate_key<P: AccessKeys>(
    policies: &P,
    target: &ContainmentTarget,
    key: &str,
    dry_run: bool,
) -> ActionRecord {
    if dry_run {
        return key_action(target, key, ActionStatus::Planned);
    }
    match policies
        .set_access_key_status(&target.name, key, true)
        .await
    {
        Ok(()) => key_action(target, key, ActionStatus::Done),
        Err(e) => with_error(key_action(target, key, ActionStatus::Failed), &e),
    }
}

/// After [`release_with`]: put back the permissions boundary `target` had before deadbolt set
/// `AWSDenyAll` as its boundary (`prior`, from the ledger; `None`: it had none, so the boundary
/// is deleted). Only while `AWSDenyAll` is still the boundary: someone who changed it since
/// decided otherwise, and that is left alone and said.
pub async fn restore_boundary<P: ManagedPolicies>(
    policies: &P,
    target: &ContainmentTarget,
    prior: Option<&str>,
    dry_run: bool,
    applied: &mut Applied,
) {
    let note = |applied: &mut Applied, text: String| {
        applied.message.push_str("; ");
        applied.message.push_str(&text);
    };
    let current = match policies.permissions_boundary(target).await {
        Ok(current) => current,
        Err(e) => {
            applied.actions.extend(
                managed_action(target, ManagedOp::GetBoundary, ActionStatus::Failed)
                    .map(|a| with_error(a, &e)),
            );
            note(applied, format!("could not read its permissions boundary ({e}), so deadbolt's {MANAGED_DENY_ALL_NAME} boundary may still be in place: {target} is still blocked"));
            applied.outcome = Outcome::Failed;
            applied.reason = e.reason();
            applied.retryable = e.retryable();
            return;
        }
    };
    applied.actions.extend(managed_action(
        target,
        ManagedOp::GetBoundary,
        ActionStatus::Done,
    ));
    if !current.as_deref().is_some_and(is_managed_deny_all) {
        let now = current.as_deref().unwrap_or("none");
        note(applied, format!("its permissions boundary is no longer the {MANAGED_DENY_ALL_NAME} deadbolt set (now: {now}): left as it is"));
        return;
    }
    let (op, what) = match prior {
        Some(arn) => (
            ManagedOp::PutBoundary,
            format!("its permissions boundary {arn} as before"),
        ),
        None => (
            ManagedOp::DeleteBoundary,
            "no permissions boundary, as before".to_string(),
        ),
    };
    if dry_run {
        applied
            .actions
            .extend(managed_action(target, op, ActionStatus::Planned));
        note(applied, format!("would give {target} {what}"));
        if applied.outcome == Outcome::Skipped {
            applied.outcome = Outcome::WouldRelease;
            applied.reason = Reason::DryRun;
        }
        return;
    }
    let done = match prior {
        Some(arn) => policies.put_permissions_boundary(target, arn).await,
        None => policies.delete_permissions_boundary(target).await,
    };
    match done {
        Ok(()) => {
            applied
                .actions
                .extend(managed_action(target, op, ActionStatus::Done));
            note(applied, format!("gave {target} {what} (deadbolt had set {MANAGED_DENY_ALL_NAME} as its boundary)"));
            if matches!(applied.outcome, Outcome::Skipped | Outcome::Released) {
                if applied.outcome == Outcome::Skipped {
                    applied.reason = Reason::PermissionsBoundaryRestored;
                }
                applied.outcome = Outcome::Released;
            }
        }
        Err(e) => {
            applied.actions.extend(
                managed_action(target, op, ActionStatus::Failed).map(|a| with_error(a, &e)),
            );
            note(applied, format!("could not restore its permissions boundary ({e}): {MANAGED_DENY_ALL_NAME} is still its boundary, so {target} is still blocked"));
            applied.outcome = Outcome::Failed;
            applied.reason = e.reason();
            applied.retryable = e.retryable();
        }
    }
}

/// Release: delete the DenyAll only if it is deadbolt's own, and detach the managed
/// `AWSDenyAll` only where deadbolt's tag says deadbolt attached it (removing the tag). A
/// deny-all someone attached by hand, any other policy under that name, and an `AWSDenyAll`
/// without deadbolt's tag (always, on a group: groups cannot be tagged) are left alone and
/// reported.
pub async fn release<P: InlinePolicies + ManagedPolicies>(
    policies: &P,
    target: &ContainmentTarget,
    dry_run: bool,
) -> Applied {
    release_with(policies, target, dry_run, false).await
}

/// The revoke-sessions statements of a deadbolt DenyAll document, as a document of their own
/// (`None`: it has none). What a role's release keeps: tokens stolen before containment must
/// not come back to life when the role is released.
pub fn revoked_sessions_only(document: &str) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(document).ok()?;
    let statements = v.get_mut("Statement")?.as_array_mut()?;
    statements.retain(|s| {
        s.get("Sid")
            .and_then(|sid| sid.as_str())
            .is_some_and(|sid| sid.starts_with("DeadboltRevokeSessions"))
    });
    if statements.is_empty() {
        return None;
    }
    serde_json::to_string(&v).ok()
}

/// [`release`], keeping deadbolt's revoke-sessions statements in place when
/// `keep_revoked_sessions` (a role's release without `--restore-sessions`): the role works
/// again for sessions issued after containment, never for the ones issued before.
pub async fn release_with<P: InlinePolicies + ManagedPolicies>(
    policies: &P,
    target: &ContainmentTarget,
    dry_run: bool,
    keep_revoked_sessions: bool,
) -> Applied {
    release_vouched(policies, target, dry_run, keep_revoked_sessions, None).await
}

/// [`release_with`], with the ledger's word on what deadbolt attached: `Some(arns)` (a ledger
/// is configured) detaches only the `AWSDenyAll` ARNs the unreleased containments recorded as
/// attached by deadbolt, whatever tags say (a tag is one `iam:TagUser` away from forged);
/// `None` (no ledger) falls back to deadbolt's tag.
pub async fn release_vouched<P: InlinePolicies + ManagedPolicies>(
    policies: &P,
    target: &ContainmentTarget,
    dry_run: bool,
    keep_revoked_sessions: bool,
    attached_by_deadbolt: Option<&[String]>,
) -> Applied {
    let name = DENY_ALL_POLICY_NAME;
    let nothing_removed = |e: &AwsError, what: &str, actions: Vec<ActionRecord>| {
        failed(
            e.reason(),
            format!("could not read {target}'s {what} ({e}); nothing was removed"),
            actions,
            e.retryable(),
        )
    };
    // Every read first: nothing is removed unless the whole picture is known.
    let existing = match policies.get_policy(target, name).await {
        Ok(existing) => existing,
        Err(e) => {
            let actions = vec![
                failed_action(target, PolicyOp::Get, &e),
                action(target, PolicyOp::Delete, ActionStatus::NotNeeded),
            ];
            return nothing_removed(&e, &format!("inline policy {name}"), actions);
        }
    };
    let mut actions = vec![action(target, PolicyOp::Get, ActionStatus::Done)];
    let managed: Vec<String> = match policies.attached_policies(target).await {
        Ok(attached) => attached
            .into_iter()
            .filter(|a| is_managed_deny_all(a))
            .collect(),
        Err(e) => {
            actions.extend(
                managed_action(target, ManagedOp::ListAttached, ActionStatus::Failed)
                    .map(|a| with_error(a, &e)),
            );
            return nothing_removed(&e, "attached policies", actions);
        }
    };
    actions.extend(managed_action(
        target,
        ManagedOp::ListAttached,
        ActionStatus::Done,
    ));
    let tag = if target.kind == crate::principal::TargetKind::Group {
        None
    } else {
        match policies.tags(target).await {
            Ok(tags) => tags
                .into_iter()
                .find(|(k, _)| k == MANAGED_DENY_ALL_TAG)
                .map(|(_, v)| v),
            Err(e) => {
                actions.extend(
                    managed_action(target, ManagedOp::ListTags, ActionStatus::Failed)
                        .map(|a| with_error(a, &e)),
                );
                return nothing_removed(&e, "tags", actions);
            }
        }
    };
    actions.extend(managed_action(
        target,
        ManagedOp::ListTags,
        ActionStatus::Done,
    ));

    let inline = existing.as_deref().map(classify_existing);
    let inline_ours = matches!(inline, Some(ExistingDenyAll::Deadbolt { .. }));
    let vouched: Vec<String> = match attached_by_deadbolt {
        Some(recorded) => managed
            .iter()
            .filter(|a| recorded.contains(a))
            .cloned()
            .collect(),
        None if tag.is_some() => managed.clone(),
        None => Vec::new(),
    };
    let detach: &[String] = &vouched;
    // A tag with nothing attached (detached by hand) is stale: removed so it cannot vouch for
    // an attachment someone makes later.
    let untag = tag.is_some();
    let mut notes = Vec::new();
    match &inline {
        Some(ExistingDenyAll::Equivalent) => notes.push(format!(
            "its inline {name} was not written by deadbolt (no DeadboltDenyAll Sid): left in place, remove it by hand if intended"
        )),
        Some(ExistingDenyAll::Conflicting) => notes.push(format!(
            "its inline policy {name} is not a deny-all written by deadbolt: left untouched"
        )),
        _ => {}
    }
    if attached_by_deadbolt.is_some() {
        for arn in managed.iter().filter(|a| !detach.contains(a)) {
            notes.push(format!(
                "{MANAGED_DENY_ALL_NAME} stays attached (the containment ledger has no record of deadbolt attaching it{}; if intended, detach by hand: {})",
                if tag.is_some() { ", whatever its deadbolt:managed-deny-all tag says" } else { "" },
                detach_by_hand(target, arn)
            ));
        }
    } else if tag.is_none() {
        for arn in &managed {
            let why = if target.kind == crate::principal::TargetKind::Group {
                "groups cannot be tagged, so deadbolt cannot tell who attached it; if deadbolt's record says managed_deny_all_attached"
            } else {
                "it has no deadbolt:managed-deny-all tag, so deadbolt did not attach it; if intended"
            };
            notes.push(format!(
                "{MANAGED_DENY_ALL_NAME} stays attached ({why}, detach by hand: {})",
                detach_by_hand(target, arn)
            ));
        }
    }
    let note = |message: String, notes: &[String]| {
        if notes.is_empty() {
            message
        } else {
            format!("{message}; {}", notes.join("; "))
        }
    };

    if !inline_ours && detach.is_empty() && !untag {
        if !managed.is_empty() {
            actions.extend(managed_action(
                target,
                ManagedOp::Detach,
                ActionStatus::NotNeeded,
            ));
        }
        let reason = match (&inline, managed.is_empty()) {
            (Some(ExistingDenyAll::Conflicting), true) => Reason::ConflictingPolicyName,
            (Some(_), _) | (None, false) => Reason::EquivalentDenyAllPresent,
            (None, true) => Reason::NotContained,
        };
        let message = if inline.is_none() && managed.is_empty() {
            format!("{target} carries no inline policy named {name} and no {MANAGED_DENY_ALL_NAME}; nothing to remove")
        } else {
            note(
                format!("nothing of deadbolt's to remove from {target}"),
                &notes,
            )
        };
        return Applied {
            outcome: Outcome::Skipped,
            reason,
            message,
            actions,
            retryable: false,
        };
    }

    let mut removed = Vec::new();
    if dry_run {
        if inline_ours {
            actions.push(action(target, PolicyOp::Delete, ActionStatus::Planned));
            removed.push(format!("deadbolt's {name}"));
        }
        for _ in detach {
            actions.extend(managed_action(
                target,
                ManagedOp::Detach,
                ActionStatus::Planned,
            ));
            removed.push(format!(
                "{MANAGED_DENY_ALL_NAME} ({})",
                if attached_by_deadbolt.is_some() {
                    "attached by deadbolt per the ledger"
                } else {
                    "deadbolt's tag"
                }
            ));
        }
        if untag {
            actions.extend(managed_action(
                target,
                ManagedOp::Untag,
                ActionStatus::Planned,
            ));
        }
        let message = if removed.is_empty() {
            format!("dry-run: would remove the stale {MANAGED_DENY_ALL_TAG} tag from {target}")
        } else {
            format!(
                "dry-run: would remove {} from {target}",
                removed.join(" and ")
            )
        };
        return Applied {
            outcome: if removed.is_empty() {
                Outcome::Skipped
            } else {
                Outcome::WouldRelease
            },
            reason: if removed.is_empty() {
                Reason::NotContained
            } else {
                Reason::DryRun
            },
            message: note(message, &notes),
            actions,
            retryable: false,
        };
    }

    let failure = |mut actions: Vec<ActionRecord>,
                   a: Option<ActionRecord>,
                   e: &AwsError,
                   removed: &[String],
                   what: String| {
        actions.extend(a.map(|a| with_error(a, e)));
        let done = if removed.is_empty() {
            "nothing was removed".to_string()
        } else {
            format!("removed {}", removed.join(" and "))
        };
        failed(
            e.reason(),
            format!("{what} ({e}); {done}: {target} is still blocked"),
            actions,
            e.retryable(),
        )
    };
    let kept = existing
        .as_deref()
        .filter(|_| keep_revoked_sessions && inline_ours)
        .and_then(revoked_sessions_only);
    if let Some(kept) = &kept {
        if let Err(e) = policies.put_policy(target, name, kept).await {
            let a = Some(action(target, PolicyOp::Put, ActionStatus::Failed));
            return failure(
                actions,
                a,
                &e,
                &removed,
                format!("could not rewrite {name} on {target}"),
            );
        }
        actions.push(action(target, PolicyOp::Put, ActionStatus::Done));
        removed.push("deadbolt's deny-all statements (kept the revoke-sessions statement: sessions issued before containment stay denied; --restore-sessions removes it too)".to_string());
    } else if inline_ours {
        if let Err(e) = policies.delete_policy(target, name).await {
            let a = Some(action(target, PolicyOp::Delete, ActionStatus::Failed));
            return failure(
                actions,
                a,
                &e,
                &removed,
                format!("could not remove {name} from {target}"),
            );
        }
        actions.push(action(target, PolicyOp::Delete, ActionStatus::Done));
        removed.push(format!("deadbolt's {name}"));
    }
    for arn in detach {
        if let Err(e) = policies.detach_policy(target, arn).await {
            let a = managed_action(target, ManagedOp::Detach, ActionStatus::Failed);
            return failure(
                actions,
                a,
                &e,
                &removed,
                format!("could not detach {MANAGED_DENY_ALL_NAME} from {target}"),
            );
        }
        actions.extend(managed_action(
            target,
            ManagedOp::Detach,
            ActionStatus::Done,
        ));
        removed.push(format!(
            "{MANAGED_DENY_ALL_NAME} (attached by deadbolt, {MANAGED_DENY_ALL_TAG}={})",
            tag.as_deref().unwrap_or_default()
        ));
    }
    if untag {
        // The deny is already gone; a tag left behind only misleads a later unblock.
        if let Err(e) = policies.untag(target, MANAGED_DENY_ALL_TAG).await {
            actions.extend(
                managed_action(target, ManagedOp::Untag, ActionStatus::Failed)
                    .map(|a| with_error(a, &e)),
            );
            notes.push(format!(
                "the {MANAGED_DENY_ALL_TAG} tag could not be removed ({e}): remove it by hand"
            ));
        } else {
            actions.extend(managed_action(target, ManagedOp::Untag, ActionStatus::Done));
        }
    }
    if removed.is_empty() {
        return Applied {
            outcome: Outcome::Skipped,
            reason: Reason::NotContained,
            message: note(
                format!("{target} carries nothing of deadbolt's; removed the stale {MANAGED_DENY_ALL_TAG} tag"),
                &notes,
            ),
            actions,
            retryable: false,
        };
    }
    let still_denied = !managed.is_empty() && detach.is_empty()
        || matches!(inline, Some(ExistingDenyAll::Equivalent));
    let effect = if still_denied {
        "but it is still denied by what deadbolt did not write"
    } else {
        "its own permissions apply again"
    };
    Applied {
        outcome: Outcome::Released,
        reason: if inline_ours {
            Reason::DenyAllRemoved
        } else {
            Reason::ManagedDenyAllDetached
        },
        message: note(
            format!("removed {} from {target}: {effect}", removed.join(" and ")),
            &notes,
        ),
        actions,
        retryable: false,
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
        access_key_id: None,
        status,
        error_code: None,
        error_message: None,
    }
}

fn failed_action(target: &ContainmentTarget, op: PolicyOp, e: &AwsError) -> ActionRecord {
    with_error(action(target, op, ActionStatus::Failed), e)
}

/// `action`, marked failed with the error code and message AWS returned.
fn with_error(action: ActionRecord, e: &AwsError) -> ActionRecord {
    ActionRecord {
        status: ActionStatus::Failed,
        error_code: Some(e.code.clone()),
        error_message: Some(e.message.clone()),
        ..action
    }
}

/// A failed Identity Center call ends the record: the call marked failed, then `message`.
fn idc_failed(
    permission_set: &str,
    mut actions: Vec<ActionRecord>,
    api: &str,
    e: &AwsError,
    reason: Reason,
    message: String,
) -> Applied {
    actions.push(with_error(
        idc_action(permission_set, api, ActionStatus::Failed),
        e,
    ));
    failed(reason, message, actions, e.retryable())
}

crate::code_enum! {
    /// The operator command an [`OperatorRecord`] is the record of.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum OperatorCommand {
        /// `deadbolt block`: attach deadbolt's DenyAll.
        Block => "block",
        /// `deadbolt unblock`: remove deadbolt's DenyAll.
        Unblock => "unblock",
    }
}

/// What an operator's `block` or `unblock` did: the CLI's record, in the same vocabulary as the
/// responder's decision record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OperatorRecord {
    pub record_version: u32,
    pub command: OperatorCommand,
    /// The IAM user, role or group (absent for an Identity Center user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ContainmentTarget>,
    /// The Identity Center user and permission set (`--sso-user`, `--permission-set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_center: Option<IdentityCenterTarget>,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
    pub actions: Vec<ActionRecord>,
}

impl OperatorRecord {
    pub fn new(
        command: OperatorCommand,
        target: ContainmentTarget,
        dry_run: bool,
        applied: Applied,
    ) -> Self {
        OperatorRecord {
            record_version: crate::record::RECORD_VERSION,
            command,
            target: Some(target),
            identity_center: None,
            dry_run,
            outcome: applied.outcome,
            reason: applied.reason,
            message: applied.message,
            actions: applied.actions,
        }
    }
}

/// An Identity Center user in one permission set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentityCenterTarget {
    pub user_name: String,
    pub permission_set: String,
}

impl OperatorRecord {
    /// The record of an operator's block or unblock of an Identity Center user.
    pub fn identity_center(
        command: OperatorCommand,
        target: IdentityCenterTarget,
        dry_run: bool,
        applied: Applied,
    ) -> Self {
        OperatorRecord {
            record_version: crate::record::RECORD_VERSION,
            command,
            target: None,
            identity_center: Some(target),
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
    /// deadbolt's DenyAll with only session statements (revoke-sessions, deny-session): the
    /// role works for new or other sessions.
    SessionsBlockedByDeadbolt,
    /// A deny-everything DenyAll someone attached by hand.
    BlockedManually,
    /// Some other policy under the DenyAll name.
    ConflictingPolicy,
}

impl BlockState {
    pub fn of(document: Option<&str>) -> BlockState {
        let unconditional = || {
            document
                .and_then(crate::policy::deny_statements)
                .is_some_and(|s| {
                    s.iter()
                        .any(|s| matches!(s, crate::policy::DenyStatement::Everything { .. }))
                })
        };
        match document.map(classify_existing) {
            None => BlockState::NotBlocked,
            Some(ExistingDenyAll::Deadbolt { .. }) if unconditional() => {
                BlockState::BlockedByDeadbolt
            }
            Some(ExistingDenyAll::Deadbolt { .. }) => BlockState::SessionsBlockedByDeadbolt,
            Some(ExistingDenyAll::Equivalent) => BlockState::BlockedManually,
            Some(ExistingDenyAll::Conflicting) => BlockState::ConflictingPolicy,
        }
    }

    pub fn is_blocked(self) -> bool {
        matches!(
            self,
            BlockState::BlockedByDeadbolt
                | BlockState::SessionsBlockedByDeadbolt
                | BlockState::BlockedManually
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
        let blocked = apply(
            &p,
            &crate::ports::NoIdentityCenter,
            &manual_plan(group()),
            0,
            &mut crate::breaker::Ungated,
        )
        .await;
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
