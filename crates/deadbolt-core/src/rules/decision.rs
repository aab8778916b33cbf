//! The decision: a pure function from (finding, configuration, account) to what deadbolt will
//! do. No I/O happens here, so every branch is unit-tested without AWS.
//!
//! Checks run in a fixed order and the first that applies decides:
//! 1. facts about the finding: sample, archived, not an IAM access-key finding;
//! 2. the account: a finding from another account is never acted on here;
//! 3. the principal: one an inline policy cannot restrain (root, federated, SSO, service-linked…);
//! 4. operator scope: finding type, minimum severity, protected principals, deadbolt itself;
//! 5. the mode: off, dry-run, approve (plan, keep for a person), enforce.

use crate::config::Mode;
use crate::created::{CreatedEntity, CreatedKind, MAX_FOLLOW_UPS};
use crate::finding::Finding;
use crate::finding::GuardDutyEvent;
use crate::policy::{sid_suffix, DENY_ALL_POLICY_NAME, IDC_SID_PREFIX};
use crate::principal::{resolve, resolve_ref, ContainmentTarget, Principal, TargetKind};
use crate::record::{Outcome, Reason};
use crate::sequence::{principals, PrincipalRef};
use crate::settings::Settings;
use crate::strategy::{role_session_userid, IdentityCenterStrategy, RoleStrategy};

/// Facts about the account deadbolt's own credentials act in (from `sts:GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContext {
    pub account_id: String,
    /// deadbolt's own identity, always protected: locking itself out would end containment.
    pub own_identity: Option<ContainmentTarget>,
    /// Roles named like reserved ones (`AWSReservedSSO_…`, `AWSServiceRoleFor…`) whose IAM path
    /// IAM says is not the reserved one (`/aws-reserved/sso.amazonaws.com/`,
    /// `/aws-service-role/`): anyone with `iam:CreateRole` can choose such a name, so these are
    /// ordinary roles and are contained as such. Filled per finding from one `GetRole` in the
    /// finding's account (deadbolt's own: while GuardDuty answers; a member's: through its
    /// member role, after).
    pub unreserved_roles: Vec<String>,
}

impl AccountContext {
    /// From the caller identity's account and ARN (`…:assumed-role/NAME/SESSION` for the
    /// Lambda, `…:user/PATH/NAME` for an operator, `…:role/PATH/NAME` for a session's
    /// issuer as CloudTrail names it).
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
        } else if let Some(rest) = resource.strip_prefix("role/") {
            rest.rsplit('/')
                .next()
                .and_then(|n| ContainmentTarget::new(TargetKind::Role, n).ok())
        } else {
            None
        };
        AccountContext {
            account_id: account_id.to_string(),
            own_identity,
            unreserved_roles: Vec::new(),
        }
    }
}

/// How the target is contained: which statement goes into its DenyAll policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanStrategy {
    /// Deny everything, unconditionally (users, groups, and roles by default).
    DenyAll,
    /// Deny every role session issued before the moment of containment.
    RevokeSessions,
    /// Deny the one role session `userid` (`ROLEID:session`, validated).
    DenySession { userid: String },
    /// IAM Identity Center: deny the Identity Center user `user_name` in the permission set
    /// `permission_set` and re-provision it. The target is the `AWSReservedSSO_*` role.
    PermissionSetDeny {
        permission_set: String,
        user_name: String,
    },
    /// No policy: only `deactivate_access_key` on the target user. For a key an attacker
    /// created for a user who is not otherwise suspect (follow-up containment).
    AccessKeyOnly,
}

impl PlanStrategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            PlanStrategy::DenyAll => "deny-all",
            PlanStrategy::RevokeSessions => "revoke-sessions",
            PlanStrategy::DenySession { .. } => "deny-session",
            PlanStrategy::PermissionSetDeny { .. } => "permission-set-deny",
            PlanStrategy::AccessKeyOnly => "deactivate-access-key",
        }
    }
}

/// The writes containment needs: a statement in the DenyAll inline policy of one IAM entity
/// (or, for Identity Center, of one permission set), and optionally one access key set
/// inactive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentPlan {
    pub target: ContainmentTarget,
    pub policy_name: &'static str,
    /// The finding id, or `Manual` for an operator's block: it becomes the statement's Sid.
    pub finding_id: String,
    pub strategy: PlanStrategy,
    /// Users only, when configured: the finding's long-term access key (`AKIA…`), set
    /// inactive after the policy is in place. Never any other key of the user.
    pub deactivate_access_key: Option<String>,
    /// The finding's partition (`aws`, `aws-cn`, `aws-us-gov`): the ARN of the AWS managed
    /// policy `AWSDenyAll` deadbolt attaches when the inline DenyAll cannot be written.
    pub partition: String,
    /// `Some` when the target is in a member account: the writes go through this role there.
    /// `None`: deadbolt's own account, with its own credentials.
    pub member: Option<MemberRole>,
}

impl ContainmentPlan {
    /// The deny-all plan (operators' `block`, and the default for every kind).
    pub fn deny_all(target: ContainmentTarget, finding_id: &str) -> Self {
        ContainmentPlan {
            target,
            policy_name: DENY_ALL_POLICY_NAME,
            finding_id: finding_id.to_string(),
            strategy: PlanStrategy::DenyAll,
            deactivate_access_key: None,
            partition: "aws".to_string(),
            member: None,
        }
    }
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
    /// deadbolt may not act, but a human can: the exact steps go into the record.
    Manual {
        reason: Reason,
        message: String,
        steps: Vec<String>,
    },
}

/// Decide what to do with a parsed, validated finding: the decision for its first principal
/// (see [`decide_each`] for a finding that names several).
pub fn decide(
    event: &GuardDutyEvent,
    settings: &Settings,
    account: &AccountContext,
) -> (Option<Principal>, Decision) {
    let mut each = decide_each(event, settings, account);
    if each.is_empty() {
        // `decide_each` always decides something; should it not, nothing is done.
        return (
            None,
            Decision::Pass {
                outcome: Outcome::NotContainable,
                reason: Reason::NoPrincipal,
                message: "the finding names no principal".into(),
            },
        );
    }
    each.swap_remove(0)
}

/// One decision per principal the finding names ([`crate::sequence::principals`]: an attack
/// sequence can name several), in the finding's order; never empty. Facts about the finding
/// itself (sample, archived, names no IAM principal) are one decision without a principal.
/// Every principal goes through the same checks, protections included.
pub fn decide_each(
    event: &GuardDutyEvent,
    settings: &Settings,
    account: &AccountContext,
) -> Vec<(Option<Principal>, Decision)> {
    let f = &event.detail;
    let pass = |outcome, reason, message: String| Decision::Pass {
        outcome,
        reason,
        message,
    };

    if f.is_sample() {
        return vec![(
            None,
            pass(
                Outcome::Skipped,
                Reason::SampleFinding,
                "AWS sample finding (additionalInfo.sample or GeneratedFinding placeholders): never acted on".into(),
            ),
        )];
    }
    if f.service.archived {
        return vec![(
            None,
            pass(
                Outcome::Skipped,
                Reason::ArchivedFinding,
                "the finding is archived (suppressed or closed by an operator)".into(),
            ),
        )];
    }
    let named = principals(f);
    if named.is_empty() {
        if f.resource.resource_type != "AccessKey" {
            return vec![(
                None,
                pass(
                    Outcome::Skipped,
                    Reason::NotIamFinding,
                    format!(
                        "resource type is {:?} and the finding names no IAM principal (no resource.accessKeyDetails, no attack-sequence actor); deadbolt contains IAM principals only",
                        f.resource.resource_type
                    ),
                ),
            )];
        }
        // An access-key finding without accessKeyDetails: `resolve` says so.
        return vec![decide_principal(f, None, settings, account)];
    }
    named
        .iter()
        .map(|r| decide_principal(f, Some(r), settings, account))
        .collect()
}

/// The decision for one principal of `f` (`None`: the finding's `accessKeyDetails`, absent).
fn decide_principal(
    f: &Finding,
    named: Option<&PrincipalRef>,
    settings: &Settings,
    account: &AccountContext,
) -> (Option<Principal>, Decision) {
    let pass = |outcome, reason, message: String| Decision::Pass {
        outcome,
        reason,
        message,
    };
    let mut resolution = match named {
        Some(r) => resolve_ref(r, f),
        None => resolve(f),
    };
    // A reserved-looking name outside the reserved path is an ordinary role (see
    // `AccountContext::unreserved_roles`, read in the finding's account for this finding).
    if let (Err((Reason::SsoReservedRole | Reason::ServiceLinkedRole, _)), Some(name)) = (
        &resolution.containment,
        resolution.principal.name.as_deref(),
    ) {
        if account.unreserved_roles.iter().any(|r| r == name) {
            if let Ok(t) = ContainmentTarget::new(TargetKind::Role, name) {
                resolution.containment = Ok(t);
            }
        }
    }
    let principal = Some(resolution.principal);

    let acting = match acting_account(f, settings, account) {
        Ok(acting) => acting,
        Err(refusal) => return (principal, refusal.into()),
    };
    // Identity Center roles cannot be changed through IAM, but their permission set can.
    let identity_center = match &resolution.containment {
        Err((Reason::SsoReservedRole, _)) => principal.as_ref().and_then(IdentityCenterSession::of),
        _ => None,
    };
    let target = match (resolution.containment, &identity_center) {
        (Ok(t), _) => t,
        (Err(_), Some(session)) => session.role.clone(),
        (Err((reason, message)), None) => {
            return (principal, pass(Outcome::NotContainable, reason, message));
        }
    };
    // A protected unique id names exactly this principal: a principal re-created under the
    // same name gets a new id, so, unlike a name, it cannot be adopted.
    let details = named
        .map(|r| &r.details)
        .or(f.resource.access_key_details.as_ref());
    if let Some(id) = details
        .and_then(|d| d.principal_id.as_deref())
        .and_then(unique_id)
    {
        if settings.protected_principals.iter().any(|p| p == id) {
            return (
                principal,
                pass(
                    Outcome::Skipped,
                    Reason::ProtectedPrincipal,
                    format!("{target} has the protected unique id {id}"),
                ),
            );
        }
    }
    if let Err(refusal) = may_contain(f, &target, settings, account) {
        return (principal, refusal.into());
    }

    let mode = settings.effective_mode(&f.finding_type, &f.account_id);
    if mode == Mode::Off {
        return (
            principal,
            pass(
                Outcome::Skipped,
                Reason::ModeOff,
                format!("mode is off; {target} would otherwise be contained"),
            ),
        );
    }
    let strategy = settings.strategy;
    let plan_strategy = match (&identity_center, target.kind) {
        (Some(session), _) => match strategy.identity_center {
            IdentityCenterStrategy::Manual => {
                return (
                    principal,
                    Decision::Manual {
                        reason: Reason::SsoReservedRole,
                        message: format!(
                            "{} is an IAM Identity Center role; IAM refuses changes to it and \
                             strategy.identity_center is manual, so deadbolt wrote nothing. \
                             Deny Identity Center user {:?} in permission set {:?} by hand \
                             (manual_steps)",
                            session.role.name, session.user_name, session.permission_set
                        ),
                        steps: session.manual_steps(&f.id),
                    },
                )
            }
            IdentityCenterStrategy::PermissionSetDeny => PlanStrategy::PermissionSetDeny {
                permission_set: session.permission_set.clone(),
                user_name: session.user_name.clone(),
            },
        },
        (None, TargetKind::Role) => match settings.role_strategy_for(&f.finding_type) {
            RoleStrategy::DenyAll => PlanStrategy::DenyAll,
            RoleStrategy::RevokeSessions => PlanStrategy::RevokeSessions,
            RoleStrategy::DenySession => {
                let details = match named {
                    Some(r) => Some(&r.details),
                    None => f.resource.access_key_details.as_ref(),
                };
                let principal_id = details.and_then(|d| d.principal_id.as_deref());
                match principal_id.map(role_session_userid) {
                    Some(Ok(userid)) => PlanStrategy::DenySession {
                        userid: userid.to_string(),
                    },
                    Some(Err(e)) => {
                        return (
                            principal,
                            pass(
                                Outcome::NotContainable,
                                Reason::StrategyNotApplicable,
                                e.to_string(),
                            ),
                        )
                    }
                    None => {
                        return (
                            principal,
                            pass(
                                Outcome::NotContainable,
                                Reason::StrategyNotApplicable,
                                crate::strategy::StrategyError::MissingPrincipalId.to_string(),
                            ),
                        )
                    }
                }
            }
        },
        (None, _) => PlanStrategy::DenyAll,
    };
    let deactivate_access_key = match (target.kind, strategy.user_deactivate_access_key) {
        (TargetKind::User, true) => principal
            .as_ref()
            .and_then(|p| p.access_key_id.as_deref())
            .filter(|k| is_long_term_key(k))
            .map(str::to_string),
        _ => None,
    };
    let plan = ContainmentPlan {
        target,
        policy_name: DENY_ALL_POLICY_NAME,
        finding_id: f.id.clone(),
        strategy: plan_strategy,
        deactivate_access_key,
        partition: f.partition.clone(),
        member: acting.member(),
    };
    let decision = match mode {
        Mode::Enforce => Decision::Contain(plan),
        _ => Decision::DryRun(plan),
    };
    (principal, decision)
}

/// A long-term IAM user access key id (`AKIA` + 16 upper-case letters or digits). Temporary
/// keys (`ASIA…`, from GetSessionToken) cannot be deactivated; the user's DenyAll covers them.
pub fn is_long_term_key(key: &str) -> bool {
    key.len() == 20
        && key.starts_with("AKIA")
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An IAM Identity Center session: `AWSReservedSSO_<PermissionSet>_<16 hex>` assumed with the
/// Identity Center user name as the session name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCenterSession {
    pub role: ContainmentTarget,
    pub permission_set: String,
    pub user_name: String,
}

impl IdentityCenterSession {
    pub fn of(principal: &Principal) -> Option<Self> {
        let role = principal.name.as_deref()?;
        let rest = role.strip_prefix("AWSReservedSSO_")?;
        let (permission_set, suffix) = rest.rsplit_once('_')?;
        let ok_suffix = suffix.len() == 16 && suffix.chars().all(|c| c.is_ascii_hexdigit());
        // Permission set names: 1-32 of [\w+=,.@-].
        let ok_name = (1..=32).contains(&permission_set.len())
            && permission_set.chars().all(crate::finding::is_iam_name_char);
        let user_name = principal.session.as_deref()?;
        let ok_user = (2..=64).contains(&user_name.len())
            && user_name.chars().all(crate::finding::is_iam_name_char);
        if !(ok_suffix && ok_name && ok_user) {
            return None;
        }
        Some(IdentityCenterSession {
            role: ContainmentTarget::new(TargetKind::Role, role).ok()?,
            permission_set: permission_set.to_string(),
            user_name: user_name.to_string(),
        })
    }

    /// The statement deadbolt adds to the permission set's inline policy, as JSON, with the
    /// user id still to be looked up.
    pub fn manual_steps(&self, finding_id: &str) -> Vec<String> {
        let statement = crate::policy::identity_center_statement(
            &format!("{IDC_SID_PREFIX}{}", sid_suffix(finding_id)),
            "<USER_ID from step 1>",
        );
        let lookup = serde_json::json!({
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": self.user_name}
        });
        vec![
            "In the organisation's IAM Identity Center account (management or delegated administrator), with IDENTITY_STORE_ID and INSTANCE_ARN from `aws sso-admin list-instances`:".to_string(),
            format!(
                "1. Find the user's id: aws identitystore get-user-id --identity-store-id IDENTITY_STORE_ID --alternate-identifier '{lookup}'"
            ),
            format!(
                "2. Find the permission set: aws sso-admin list-permission-sets --instance-arn INSTANCE_ARN, then describe-permission-set on each until Name is {:?}",
                self.permission_set
            ),
            format!(
                "3. Add this statement to that permission set's inline policy, keeping its other statements (get-inline-policy-for-permission-set, then put-inline-policy-to-permission-set): {statement}"
            ),
            "4. Re-provision it: aws sso-admin provision-permission-set --instance-arn INSTANCE_ARN --permission-set-arn PERMISSION_SET_ARN --target-type ALL_PROVISIONED_ACCOUNTS".to_string(),
            format!(
                "5. Until step 4 completes, the user's existing sessions of {} keep working; the IAM role itself cannot be changed (AWSReservedSSO roles are managed by Identity Center).",
                self.role.name
            ),
            format!(
                "Steps 1-4 in one command, with credentials of that account: deadbolt block --sso-user {} --permission-set {} --reason TEXT (undo: deadbolt unblock with the same arguments)",
                self.user_name, self.permission_set
            ),
        ]
    }
}

/// Why a principal may not be contained: becomes a [`Decision::Pass`].
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
}

impl From<Refusal> for Decision {
    fn from(r: Refusal) -> Self {
        Decision::Pass {
            outcome: r.outcome,
            reason: r.reason,
            message: r.message,
        }
    }
}

/// Where deadbolt acts on a finding: its own account, directly, or a listed member account
/// through the member role there. The account is the finding's `accountId` (GuardDuty's copy,
/// once verified), never the event envelope's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActingAccount {
    Own,
    Member(MemberRole),
}

impl ActingAccount {
    pub fn member(&self) -> Option<MemberRole> {
        match self {
            ActingAccount::Own => None,
            ActingAccount::Member(role) => Some(role.clone()),
        }
    }
}

/// The role deadbolt assumes in a member account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberRole {
    pub account_id: String,
    pub role_name: String,
    pub partition: String,
}

impl MemberRole {
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account_id, self.role_name
        )
    }
}

/// The `sts:AssumeRole` session name for a finding: `deadbolt-` and the finding id, so the
/// member's CloudTrail says which finding deadbolt acted on. Session names allow 2-64
/// characters of `[\w+=,.@-]`; GuardDuty ids are 32 hex digits, anything else is filtered.
pub fn member_session_name(finding_id: &str) -> String {
    let mut name = String::from("deadbolt-");
    name.extend(
        finding_id
            .chars()
            .filter(|c| crate::finding::is_iam_name_char(*c))
            .take(64 - name.len()),
    );
    name
}

/// deadbolt's own account is contained directly, a listed member account through the member
/// role, and any other account is never touched (`foreign_account`).
pub fn acting_account(
    finding: &Finding,
    settings: &Settings,
    account: &AccountContext,
) -> Result<ActingAccount, Refusal> {
    if finding.account_id == account.account_id {
        return Ok(ActingAccount::Own);
    }
    if settings.is_member_account(&finding.account_id) {
        return Ok(ActingAccount::Member(MemberRole {
            account_id: finding.account_id.clone(),
            role_name: settings.member_role.clone(),
            partition: finding.partition.clone(),
        }));
    }
    Err(Refusal {
        outcome: Outcome::NotContainable,
        reason: Reason::ForeignAccount,
        message: format!(
            "the finding is for account {} but deadbolt's credentials act in {} and {} is not among member_accounts; nothing was written",
            finding.account_id, account.account_id, finding.account_id
        ),
    })
}

/// May `target` be contained for `finding`? The one rule every path applies (the responder's
/// principal, follow-ups of what the attacker created): the finding is for deadbolt's own
/// account, the target is not a service-linked role, the finding is in scope (type and minimum
/// severity), and the target is neither deadbolt itself nor protected. The mode is the caller's
/// last step: it says how, not whether.
pub fn may_contain(
    finding: &Finding,
    target: &ContainmentTarget,
    settings: &Settings,
    account: &AccountContext,
) -> Result<(), Refusal> {
    let pass = |outcome, reason, message: String| Refusal {
        outcome,
        reason,
        message,
    };
    let acting = acting_account(finding, settings, account)?;
    if target.kind == TargetKind::Role
        && target.name.starts_with("AWSServiceRoleFor")
        && !account.unreserved_roles.contains(&target.name)
    {
        return Err(pass(
            Outcome::NotContainable,
            Reason::ServiceLinkedRole,
            format!("{target} is a service-linked role; only its AWS service can change it"),
        ));
    }
    if settings.custom_threat_list_notify_only(&finding.finding_type) {
        return Err(pass(
            Outcome::Skipped,
            Reason::NotifyOnly,
            format!(
                "{} matched a customer-supplied threat list, which anyone who can edit GuardDuty's threat lists controls: notify-only by default (this record is the notification). To contain on it, name it in finding_types with its .Custom suffix (e.g. {:?}); neither \"*\" nor the built-in type's prefix counts",
                finding.finding_type, finding.finding_type
            ),
        ));
    }
    if let Some(family) = settings.notify_only_family(&finding.finding_type) {
        return Err(pass(
            Outcome::Skipped,
            Reason::NotifyOnly,
            format!(
                "{} findings are notify-only by default (this record is the notification): they report a configuration change, which a Deny on the caller does not undo. To contain on them, name the family in finding_types (e.g. {family:?}; \"*\" does not count)",
                family
            ),
        ));
    }
    if !settings.finding_type_enabled(&finding.finding_type) {
        return Err(pass(
            Outcome::Skipped,
            Reason::FindingTypeNotEnabled,
            format!(
                "finding type {} is not among the types that may trigger containment",
                finding.finding_type
            ),
        ));
    }
    if finding.severity < settings.min_severity {
        return Err(pass(
            Outcome::Skipped,
            Reason::BelowMinSeverity,
            format!(
                "severity {} is below the configured minimum {}",
                finding.severity, settings.min_severity
            ),
        ));
    }
    if let Some((reason, message)) = never_contained(
        settings,
        account,
        &acting,
        target,
        &finding.partition,
        &finding.account_id,
    ) {
        return Err(pass(Outcome::Skipped, reason, message));
    }
    Ok(())
}

/// deadbolt's own identity and the protected principals: never contained, whatever the mode.
pub fn never_contained(
    settings: &Settings,
    account: &AccountContext,
    acting: &ActingAccount,
    target: &ContainmentTarget,
    partition: &str,
    account_id: &str,
) -> Option<(Reason, String)> {
    // In deadbolt's own account its identity is the caller's; in a member account it is the
    // member role (locking that out would end containment there).
    let itself = match acting {
        ActingAccount::Own => account.own_identity.as_ref().is_some_and(|own| {
            own.kind == target.kind && own.name.eq_ignore_ascii_case(&target.name)
        }),
        ActingAccount::Member(role) => {
            target.kind == TargetKind::Role && role.role_name.eq_ignore_ascii_case(&target.name)
        }
    };
    if itself {
        return Some((
            Reason::DeadboltItself,
            format!("{target} is deadbolt's own identity and is always protected"),
        ));
    }
    protected_by(settings, target, partition, account_id).map(|pattern| {
        (
            Reason::ProtectedPrincipal,
            format!("{target} matches the protected-principal pattern {pattern:?}"),
        )
    })
}

/// The first protected pattern matching the target's name or its path-less IAM ARN. Findings
/// do not carry IAM paths, so patterns match ARNs without one. Never the session ARN: the
/// session name is the caller's choice (`RoleSessionName`), so a pattern such as
/// `*break-glass*` would otherwise protect any session its attacker chose to name that way.
pub fn protected_by(
    settings: &Settings,
    target: &ContainmentTarget,
    partition: &str,
    account: &str,
) -> Option<String> {
    let iam_arn = format!(
        "arn:{partition}:iam::{account}:{}/{}",
        target.kind.as_str(),
        target.name
    );
    settings
        .protected_globs()
        .find(|g| g.matches(&target.name) || g.matches(&iam_arn))
        .map(|g| g.as_str().to_string())
}

/// Why a session assumed from the finding's principal is not denied on its own, if it is not:
/// it lives in another account (contained there, by that account's deadbolt or member role),
/// or it is a session of the finding's own role, which the finding's containment already
/// denies (unless that containment is `deny-session`, which spares every other session).
fn derived_session_refusal(
    entity: &CreatedEntity,
    target: &ContainmentTarget,
    finding: &Finding,
    settings: &Settings,
) -> Option<Decision> {
    let userid = entity
        .session_userid
        .as_deref()
        .unwrap_or("(no assumedRoleId)");
    if let Some(other) = entity
        .account_id
        .as_deref()
        .filter(|a| *a != finding.account_id)
    {
        return Some(Decision::Pass {
            outcome: Outcome::NotContainable,
            reason: Reason::CrossAccountPrincipal,
            message: format!(
                "{target} session {userid} was assumed in account {other}, not the finding's \
                 account {}; deny it there (deadbolt block {target} in that account)",
                finding.account_id
            ),
        });
    }
    let own = resolve(finding).containment.ok();
    let spares_sessions =
        settings.role_strategy_for(&finding.finding_type) == RoleStrategy::DenySession;
    (own.as_ref() == Some(target) && !spares_sessions).then(|| Decision::Pass {
        outcome: Outcome::Skipped,
        reason: Reason::CoveredByFindingContainment,
        message: format!(
            "{target} session {userid} is a session of the finding's own role: its containment \
             already denies it"
        ),
    })
}

/// The IAM unique id in a finding's `principalId`: a user's `AIDA…`, or the role's `AROA…`
/// before the `:` of a role session's. `None` for anything else (a federated user's
/// `ACCOUNT:name`, root's account id).
pub fn unique_id(principal_id: &str) -> Option<&str> {
    let id = principal_id.split(':').next()?;
    let well_formed = (16..=128).contains(&id.len())
        && (id.starts_with("AIDA") || id.starts_with("AROA"))
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    // A user's principalId has no session part; a role's always has one.
    let shape_agrees = id.starts_with("AROA") == principal_id.contains(':');
    (well_formed && shape_agrees).then_some(id)
}

/// One created entity and the decision about it.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUpItem {
    pub entity: CreatedEntity,
    /// `user/NAME` or `role/NAME`, as the record shows it.
    pub target: String,
    /// `Contain`, `DryRun` or `Pass` (never `Manual`).
    pub decision: Decision,
}

/// Pure: the follow-up decision for every entity the finding's sessions created, under the
/// same rule as the finding's own principal ([`may_contain`]) and never beyond the finding:
/// enforced only when both `follow_up` and the finding's own mode are enforce.
pub fn plan_follow_ups(
    created: &[CreatedEntity],
    finding: &Finding,
    settings: &Settings,
    account: &AccountContext,
) -> Vec<FollowUpItem> {
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::new();
    for entity in created {
        let kind = match entity.kind {
            CreatedKind::User | CreatedKind::AccessKey | CreatedKind::IssuingUser => {
                TargetKind::User
            }
            CreatedKind::Role | CreatedKind::DerivedSession => TargetKind::Role,
        };
        let target = format!(
            "{}/{}",
            kind.as_str(),
            entity.name.as_deref().unwrap_or("(unknown)")
        );
        let distinct = (
            target.clone(),
            entity.access_key_id.clone(),
            entity.session_userid.clone(),
        );
        if !seen.insert(distinct) {
            continue;
        }
        let decision = if items.len() >= MAX_FOLLOW_UPS {
            Decision::Pass {
                outcome: Outcome::Skipped,
                reason: Reason::FollowUpLimit,
                message: format!("more than {MAX_FOLLOW_UPS} created entities in one finding: this one is reported, not acted on"),
            }
        } else {
            decide_follow_up(entity, kind, finding, settings, account)
        };
        items.push(FollowUpItem {
            entity: entity.clone(),
            target,
            decision,
        });
    }
    items
}

fn decide_follow_up(
    entity: &CreatedEntity,
    kind: TargetKind,
    finding: &Finding,
    settings: &Settings,
    account: &AccountContext,
) -> Decision {
    let pass = |outcome, reason, message: String| Decision::Pass {
        outcome,
        reason,
        message,
    };
    let acting = match acting_account(finding, settings, account) {
        Ok(acting) => acting,
        Err(refusal) => return refusal.into(),
    };
    let Some(name) = entity.name.as_deref() else {
        if entity.kind == CreatedKind::IssuingUser {
            return pass(
                Outcome::NotContainable,
                Reason::FederationIssuerUnknown,
                "a FederatedUser session carries its issuing IAM user's permissions, but the \
                 evidence searched has neither the GetFederationToken event that issued the \
                 finding's key nor a call made with it whose \
                 userIdentity.sessionContext.sessionIssuer names the user; nothing is contained \
                 (add the CloudTrail logs of the hours before the finding, or deadbolt block \
                 user/NAME once you know the user)"
                    .into(),
            );
        }
        return pass(
            Outcome::NotContainable,
            Reason::NoPrincipal,
            format!("{} names no entity in CloudTrail", entity.event_name),
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
    if entity.kind == CreatedKind::DerivedSession {
        if let Some(refusal) = derived_session_refusal(entity, &target, finding, settings) {
            return refusal;
        }
    }
    let (strategy, deactivate_access_key) = match entity.access_key_id.as_deref() {
        _ if entity.kind == CreatedKind::DerivedSession => {
            let userid = entity.session_userid.as_deref().unwrap_or_default();
            match role_session_userid(userid) {
                Ok(userid) => (
                    PlanStrategy::DenySession {
                        userid: userid.to_string(),
                    },
                    None,
                ),
                Err(e) => {
                    return pass(
                        Outcome::NotContainable,
                        Reason::InvalidValue,
                        format!(
                            "{} event's responseElements.assumedRoleUser.assumedRoleId: {e}",
                            entity.event_name
                        ),
                    )
                }
            }
        }
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
        partition: finding.partition.clone(),
        member: acting.member(),
    };
    if settings.follow_up == Mode::Off {
        return pass(
            Outcome::Skipped,
            Reason::ModeOff,
            format!(
                "follow_up is off; would {} (deadbolt config set follow_up dry-run to see it planned)",
                describe(&plan)
            ),
        );
    }
    // A role made with CreateRole is never service-linked (those come from
    // CreateServiceLinkedRole, under /aws-service-role/), whatever its name.
    let created_role;
    let account = if entity.kind == CreatedKind::Role && entity.event_name == "CreateRole" {
        let mut ordinary = account.clone();
        ordinary.unreserved_roles.push(plan.target.name.clone());
        created_role = ordinary;
        &created_role
    } else {
        account
    };
    // The same rule as the finding's own principal: a finding the operators keep out of
    // scope does not have its follow-ups acted on either.
    if let Err(refusal) = may_contain(finding, &plan.target, settings, account) {
        return refusal.into();
    }
    match (
        settings.follow_up,
        settings.effective_mode(&finding.finding_type, &finding.account_id),
    ) {
        (_, Mode::Off) => pass(
            Outcome::Skipped,
            Reason::ModeOff,
            format!(
                "the finding's mode is off, so are its follow-ups; would {}",
                describe(&plan)
            ),
        ),
        (Mode::Enforce, Mode::Enforce) => Decision::Contain(plan),
        _ => Decision::DryRun(plan),
    }
}

/// What a plan would do, for dry-run and circuit-breaker messages.
pub fn describe(plan: &ContainmentPlan) -> String {
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
    if let Some(role) = &plan.member {
        what.push_str(&format!(
            ", in member account {} through {}",
            role.account_id,
            role.arn()
        ));
    }
    what
}
