//! The decision record: one JSON object per finding, identical in the Lambda's response, its
//! log line and the CLI's `--json` output. Schema: `docs/decision-record.md`.

use serde::Serialize;
use std::ops::{Deref, DerefMut};

use crate::config::Mode;
use crate::principal::Principal;

/// Version of the record's shape. Bumped on any incompatible change.
pub const RECORD_VERSION: u32 = 1;

/// Declares a code enum from one list: each variant with the string it leaves the process as.
/// Generates the enum (with the attributes given, e.g. serde's `rename_all`), an exhaustive
/// `as_str` (a variant without a code does not compile) and `ALL`, every variant in order, so a
/// test can check each code against serde's rendering.
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The code, exactly as serialized.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }
        }
    };
}

code_enum! {
    /// What happened to the finding.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Outcome {
        /// The DenyAll policy was written.
        Contained => "contained",
        /// Some calls of the plan succeeded and others failed: something is in place (the
        /// message says what), something is not (e.g. the DenyAll is attached but the
        /// finding's access key is still active). Never reported as `contained`.
        PartiallyContained => "partially_contained",
        /// Dry-run: the DenyAll policy would have been written.
        WouldContain => "would_contain",
        /// Enforce was configured, but the circuit breaker was open: nothing was written, and
        /// the finding is kept (with its raw event) until an operator runs
        /// `deadbolt release-held <finding id>`. Reason `circuit_breaker_open`.
        Held => "held",
        /// The principal already carries deadbolt's DenyAll (or an identical deny-all).
        AlreadyContained => "already_contained",
        /// Out of scope by configuration or by the finding's nature (sample, archived, …).
        Skipped => "skipped",
        /// In scope, but an inline policy cannot restrain this principal (root, SSO, …).
        NotContainable => "not_containable",
        /// Containment was attempted or prepared and did not happen.
        Failed => "failed",
        /// The input was malformed; nothing was done.
        Rejected => "rejected",
        /// Operator release (`deadbolt unblock`): deadbolt's DenyAll was removed.
        Released => "released",
        /// Operator release in dry-run: deadbolt's DenyAll would be removed.
        WouldRelease => "would_release",
        /// The tamper watch: someone undid part of a containment the ledger says is in force
        /// and not released (deleted the DenyAll, detached AWSDenyAll, removed the boundary,
        /// set the key active), and deadbolt wrote it again. Pages the alarm topic.
        Recontained => "recontained",
        /// `approve` mode: verified, decided and planned as in enforce, nothing written; the
        /// plan waits for a person (`deadbolt approve ID` / `deadbolt reject ID`) until it
        /// expires (`approval` in the record). Reason `awaiting_approval`.
        PendingApproval => "pending_approval",
        /// `deadbolt reject ID`: the pending approval was refused and forgotten; nothing was
        /// written. Reason `approval_rejected`.
        ApprovalRejected => "approval_rejected",
    }
}

code_enum! {
    /// Why: a stable snake_case code. New codes may be added; existing ones never change meaning.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Reason {
        // contained / would_contain / already_contained
        DenyAllAttached => "deny_all_attached",
        DryRun => "dry_run",
        /// would_contain: enforce was configured, but the circuit breaker's hourly limit of
        /// enforced containments was reached, so this one fell back to dry-run.
        CircuitBreakerOpen => "circuit_breaker_open",
        DeadboltDenyAllPresent => "deadbolt_deny_all_present",
        EquivalentDenyAllPresent => "equivalent_deny_all_present",
        /// contained: role strategy revoke-sessions (sessions issued before now are denied).
        SessionsRevoked => "sessions_revoked",
        /// contained: role strategy deny-session (the finding's role session is denied).
        SessionDenied => "session_denied",
        /// contained: Identity Center user denied in the permission set, re-provisioned.
        IdentityCenterUserDenied => "identity_center_user_denied",
        /// contained: the inline DenyAll could not be written (a policy deadbolt did not write
        /// holds the name, or the inline-policy quota is full), so the AWS managed policy
        /// `AWSDenyAll` was attached and the user or role tagged as contained by deadbolt.
        ManagedDenyAllAttached => "managed_deny_all_attached",
        /// contained: neither the inline DenyAll nor the managed `AWSDenyAll` could be written
        /// (a planted policy, full quotas), so `AWSDenyAll` was set as the user's or role's
        /// permissions boundary, which uses no quota; the ledger keeps the boundary before.
        PermissionsBoundarySet => "permissions_boundary_set",
        /// contained: only an access key was set inactive (follow-up containment of a key the
        /// attacker created).
        AccessKeyDeactivated => "access_key_deactivated",
        // released (operator)
        DenyAllRemoved => "deny_all_removed",
        /// released: `AWSDenyAll`, attached by deadbolt (its tag says so), was detached.
        ManagedDenyAllDetached => "managed_deny_all_detached",
        /// released: deadbolt's `AWSDenyAll` permissions boundary was replaced by the boundary
        /// the ledger says the principal had before (or deleted, if it had none).
        PermissionsBoundaryRestored => "permissions_boundary_restored",
        NotContained => "not_contained",
        // skipped
        ModeOff => "mode_off",
        SampleFinding => "sample_finding",
        ArchivedFinding => "archived_finding",
        NotIamFinding => "not_iam_finding",
        FindingTypeNotEnabled => "finding_type_not_enabled",
        BelowMinSeverity => "below_min_severity",
        ProtectedPrincipal => "protected_principal",
        DeadboltItself => "deadbolt_itself",
        /// GuardDuty's copy of the finding was last updated longer ago than `max_finding_age`:
        /// a replayed or delayed event must not re-contain a principal released since.
        StaleFinding => "stale_finding",
        /// would_contain: enforce was configured, but the finding was not verified with
        /// GuardDuty (`deadbolt replay --no-verify`, or no GuardDuty client): never enforced.
        NotVerified => "not_verified",
        /// skipped: a session assumed from the finding's role is that role's own session,
        /// which the finding's containment already denies.
        CoveredByFindingContainment => "covered_by_finding_containment",
        // not_containable
        ForeignAccount => "foreign_account",
        RootPrincipal => "root_principal",
        FederatedPrincipal => "federated_principal",
        SsoReservedRole => "sso_reserved_role",
        ServiceLinkedRole => "service_linked_role",
        ServicePrincipal => "service_principal",
        CrossAccountPrincipal => "cross_account_principal",
        UnknownPrincipalType => "unknown_principal_type",
        NoPrincipal => "no_principal",
        InvalidPrincipalName => "invalid_principal_name",
        /// The configured strategy cannot be applied to what the finding says (e.g. deny-session
        /// without a role session id).
        StrategyNotApplicable => "strategy_not_applicable",
        /// not_containable: a FederatedUser finding whose issuing IAM user the evidence does
        /// not name (no GetFederationToken event, no sessionIssuer).
        FederationIssuerUnknown => "federation_issuer_unknown",
        // failed
        /// failed (or partially contained, when the finding's access key was set inactive):
        /// every way deadbolt restrains a principal was blocked (the inline name held by a
        /// policy deadbolt did not write or its quota full, the managed-policy quota full, the
        /// permissions boundary refused). Pages the alarm topic with the manual step.
        ContainmentBlocked => "containment_blocked",
        ConflictingPolicyName => "conflicting_policy_name",
        NoSuchEntity => "no_such_entity",
        UnmodifiableEntity => "unmodifiable_entity",
        AccessDenied => "access_denied",
        Throttled => "throttled",
        LimitExceeded => "limit_exceeded",
        AwsError => "aws_error",
        IdentityUnavailable => "identity_unavailable",
        /// failed: the member role could not be assumed in the finding's member account
        /// (not deployed there, not trusting this deadbolt, or STS unavailable).
        MemberRoleUnavailable => "member_role_unavailable",
        /// skipped: more created entities in one finding than follow-up containment acts on.
        FollowUpLimit => "follow_up_limit",
        /// The Identity Center user, instance or permission set could not be found.
        IdentityCenterLookupFailed => "identity_center_lookup_failed",
        /// The permission set's inline policy is not one deadbolt can add a statement to safely.
        PermissionSetPolicyUnreadable => "permission_set_policy_unreadable",
        /// failed: the settings document could not be read at all, so no decision was taken;
        /// retryable.
        SettingsUnavailable => "settings_unavailable",
        /// failed: GuardDuty could not be asked for its copy of the finding (throttled,
        /// unreachable, denied); nothing was written. Retryable when transient.
        GuarddutyUnavailable => "guardduty_unavailable",
        /// failed: the function stopped before its Lambda timeout instead of being killed
        /// mid-flight; what was planned is in the `intent` line. Retryable: a redelivery
        /// completes it idempotently.
        DeadlineExceeded => "deadline_exceeded",
        // rejected
        /// GuardDuty does not know this finding id: the event is forged or from elsewhere.
        FindingNotInGuardduty => "finding_not_in_guardduty",
        EmptyEvent => "empty_event",
        EventTooLarge => "event_too_large",
        EventTooDeep => "event_too_deep",
        NotJson => "not_json",
        NotAnObject => "not_an_object",
        MissingField => "missing_field",
        WrongType => "wrong_type",
        InvalidValue => "invalid_value",
        WrongSource => "wrong_source",
        WrongDetailType => "wrong_detail_type",
        InconsistentEvent => "inconsistent_event",
        /// recontained / would_contain / failed: a CloudTrail call undid part of a containment
        /// in force (`tamper`: who, which call); the containment is written again.
        ContainmentUndone => "containment_undone",
        /// skipped: a watched CloudTrail call, but the ledger has no containment of that
        /// principal in force (never contained by deadbolt, or released by an operator's
        /// unblock, which is recorded before anything is removed).
        NotUnderContainment => "not_under_containment",
        /// skipped: the watched call was deadbolt's own (its function or the identity it
        /// runs as).
        UndoneByDeadbolt => "undone_by_deadbolt",
        /// skipped: a watched CloudTrail call that undid nothing deadbolt writes (another
        /// policy, a failed call, a key set inactive).
        NothingUndone => "nothing_undone",
        /// skipped: a watched call, but no ledger is configured, so deadbolt cannot tell
        /// whether it contained the principal: it re-applies nothing on an event's word.
        NoLedger => "no_ledger",
        /// skipped: a finding family deadbolt reports but does not contain by default
        /// (`Policy:S3/*`), unless `finding_types` names the family explicitly.
        NotifyOnly => "notify_only",
        /// pending_approval: the plan waits for `deadbolt approve` or `deadbolt reject`.
        AwaitingApproval => "awaiting_approval",
        /// failed: approve mode could not keep the pending approval (no breaker table, or
        /// the table refused); nothing was written, the event is delivered again.
        ApprovalNotKept => "approval_not_kept",
        /// approval_rejected: a person rejected the pending approval.
        RejectedByOperator => "rejected_by_operator",
        /// skipped: the pending approval expired unanswered and its on_expiry is drop.
        ApprovalExpired => "approval_expired",
    }
}

code_enum! {
    /// The state of one AWS call in the record.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ActionStatus {
        /// Dry-run: this call would be made.
        Planned => "planned",
        /// The call was made and succeeded.
        Done => "done",
        /// The call was made and failed.
        Failed => "failed",
        /// Not made, because an earlier step made it unnecessary or unsafe.
        NotNeeded => "not_needed",
    }
}

/// One AWS call made (or planned) for this finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    /// `service:Operation`, as in IAM policies and CloudTrail (`iam:PutUserPolicy`).
    pub api: String,
    /// `user/NAME`, `role/NAME`, `group/NAME`, or `permission-set/NAME` (Identity Center).
    pub target: String,
    /// The inline policy the call reads or writes; empty (and absent from the JSON) for calls
    /// on something else, such as an access key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy_name: String,
    /// The access key an `iam:UpdateAccessKey` call sets inactive (or active again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    pub status: ActionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One decision about one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub record_version: u32,
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub severity: Option<f64>,
    pub mode: Mode,
    /// What was decided, about whom, and what was done: the finding's only principal's, or,
    /// for a finding naming several, its primary principal's (see [`Self::principals`]). Its
    /// fields are the record's own in the JSON (`principal`, `outcome`, `reason`, `strategy`,
    /// `message`, `manual_steps`, `actions`), and `record.outcome` reads it ([`Deref`]).
    #[serde(flatten)]
    pub decision: PrincipalDecision,
    /// True when the same event delivered again may succeed (throttling, a transient AWS
    /// error, unreadable settings). The Lambda returns these as errors, so Lambda's
    /// asynchronous-invocation retries (then the failure destination) apply.
    pub retryable: bool,
    /// The decision was taken on GuardDuty's own copy of the finding (`GetFindings`), not on
    /// the event alone.
    pub verified_with_guardduty: bool,
    /// Where the event said something else than GuardDuty's copy (type, account, region,
    /// principal): deadbolt acted on GuardDuty's copy only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_mismatch: Vec<FieldMismatch>,
    /// The account the plan is for (acted in, or would be): deadbolt's own account or a
    /// member account. Absent when nothing was to be contained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acted_in_account: Option<String>,
    /// The member role the plan goes through in a member account (its ARN); absent in
    /// deadbolt's own account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_role: Option<String>,
    /// When the finding names more than one principal (an attack sequence): one decision per
    /// principal, in the finding's order, each with its own outcome, reason and actions. The
    /// top-level `principal`, `outcome`, `reason`, `strategy`, `message`, `manual_steps` and
    /// `actions` are those of the primary principal: the one with the most severe outcome
    /// ([`Outcome::severity_rank`]), the first of equals. Absent for a single principal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<PrincipalDecision>,
    /// The tamper watch's records only: the CloudTrail call that undid the containment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tamper: Option<TamperRecord>,
    /// The GuardDuty finding's ARN (GuardDuty's copy), for the Security Hub write-back. Not
    /// in the record's JSON: the record names the finding by id, as it always has.
    #[serde(skip)]
    pub finding_arn: Option<String>,
    /// `pending_approval` records: the approval waiting for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
    /// How long each stage took. Measurements, not facts of the decision: they differ on
    /// every run, so they are not part of the record's JSON (pinned by golden files); the
    /// Lambdas emit them as metrics ([`crate::metrics`]) on the line after the record's.
    #[serde(skip)]
    pub timings: Option<Timings>,
}

/// A pending approval, as the record shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRecord {
    /// What `deadbolt approve` / `reject` take (the finding id).
    pub id: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `drop` or `contain`: what happens when nobody answers.
    pub on_expiry: crate::approval::OnExpiry,
    /// The two exact commands.
    pub commands: Vec<String>,
    /// False for a redelivery: the approval already pending stands, with its expiry.
    pub new: bool,
}

/// Who undid a containment, and how (a [`crate::tamper::Undo`], as the record shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TamperRecord {
    /// The CloudTrail call (`DeleteUserPolicy`, `DetachRolePolicy`, `UpdateAccessKey`, …).
    pub event_name: String,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// The caller's ARN (`userIdentity.arn`).
    pub undone_by: String,
    /// What the call undid, in words.
    pub undid: String,
    /// The ledger entry of the containment in force (what was re-applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_entry: Option<String>,
}

/// The decision about one principal: the record's own ([`DecisionRecord::decision`]) and each
/// of the principals of a finding that names several ([`DecisionRecord::principals`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalDecision {
    pub principal: Option<Principal>,
    pub outcome: Outcome,
    pub reason: Reason,
    /// The containment strategy applied or planned (`deny-all`, `revoke-sessions`,
    /// `deny-session`, `permission-set-deny`); absent when nothing was to be contained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// A sentence for a human: what happened and, where relevant, what to do next.
    pub message: String,
    /// Exact steps for a human where deadbolt may not act itself (Identity Center, manual).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manual_steps: Vec<String>,
    pub actions: Vec<ActionRecord>,
}

impl PrincipalDecision {
    /// A decision with nothing done yet and no principal.
    pub fn new(outcome: Outcome, reason: Reason) -> Self {
        PrincipalDecision {
            principal: None,
            outcome,
            reason,
            strategy: None,
            message: String::new(),
            manual_steps: Vec::new(),
            actions: Vec::new(),
        }
    }
}

// A record is its (primary) decision plus what it knows of the finding: `record.outcome`
// reads the decision, as every consumer of the record has always read it.
impl Deref for DecisionRecord {
    type Target = PrincipalDecision;
    fn deref(&self) -> &PrincipalDecision {
        &self.decision
    }
}

impl DerefMut for DecisionRecord {
    fn deref_mut(&mut self) -> &mut PrincipalDecision {
        &mut self.decision
    }
}

impl Outcome {
    /// How much an operator needs to see this outcome first, 0 the most: a failure, then what
    /// was (partly) written or held, then what would be written, then what needed nothing,
    /// then what deadbolt may not or did not act on. The record of a finding naming several
    /// principals leads with the most severe.
    pub fn severity_rank(self) -> u8 {
        match self {
            Outcome::Failed => 0,
            Outcome::PartiallyContained => 1,
            Outcome::Held => 2,
            Outcome::Contained => 3,
            Outcome::WouldContain => 4,
            Outcome::AlreadyContained => 5,
            Outcome::NotContainable => 6,
            Outcome::Skipped => 7,
            Outcome::Rejected => 8,
            Outcome::Released => 9,
            Outcome::WouldRelease => 10,
            Outcome::Recontained => 1,
            Outcome::PendingApproval => 2,
            Outcome::ApprovalRejected => 8,
        }
    }
}

/// Per-stage latency of one finding, in milliseconds; `None` where the stage did not happen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// GuardDuty's answer (`GetFindings`): runs while the policy is read.
    pub verify_ms: Option<f64>,
    /// Every IAM read made for the finding, summed (the early read included).
    pub read_ms: Option<f64>,
    /// Every IAM write made for the finding, summed.
    pub write_ms: Option<f64>,
    /// `contained` only: from GuardDuty's `updatedAt` of the finding to the end of the last
    /// write (the finding's delivery delay, EventBridge, the function and IAM together).
    pub time_to_contain_ms: Option<f64>,
}

/// One field on which the event and GuardDuty's copy of the finding disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMismatch {
    /// The finding's JSON path, e.g. `resource.accessKeyDetails.userName`.
    pub field: String,
    pub event: Option<String>,
    pub guardduty: Option<String>,
}

impl DecisionRecord {
    /// A record that knows nothing about the finding yet: the base the responder fills in.
    pub fn empty(mode: Mode) -> Self {
        DecisionRecord {
            record_version: RECORD_VERSION,
            finding_id: None,
            finding_type: None,
            account_id: None,
            region: None,
            severity: None,
            mode,
            decision: PrincipalDecision::new(Outcome::Skipped, Reason::ModeOff),
            retryable: false,
            verified_with_guardduty: false,
            event_mismatch: Vec::new(),
            acted_in_account: None,
            member_role: None,
            principals: Vec::new(),
            tamper: None,
            finding_arn: None,
            approval: None,
            timings: None,
        }
    }
}

impl DecisionRecord {
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail; fall back to a minimal object
        // rather than panicking if it ever does.
        serde_json::to_string(self).unwrap_or_else(|e| {
            serde_json::json!({
                "outcome": self.outcome.as_str(),
                "serialization_error": e.to_string(),
            })
            .to_string()
        })
    }
}

impl DecisionRecord {
    /// The record for a human at a terminal: same facts as the JSON, aligned.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let severity = self
            .severity
            .map(|s| format!(" (severity {s})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "finding    {}{}",
            or_dash(&self.finding_type),
            severity
        );
        let _ = writeln!(out, "id         {}", or_dash(&self.finding_id));
        let _ = writeln!(
            out,
            "account    {} {}",
            or_dash(&self.account_id),
            or_dash(&self.region)
        );
        if let Some(p) = &self.principal {
            let mut line = format!("{} {}", p.kind.as_str(), p.name.as_deref().unwrap_or("?"));
            if let Some(s) = &p.session {
                let _ = write!(line, ", session {s}");
            }
            if let Some(k) = &p.access_key_id {
                let _ = write!(line, ", access key {k}");
            }
            let _ = writeln!(out, "principal  {line}");
        }
        let _ = writeln!(out, "mode       {}", self.mode);
        let _ = writeln!(
            out,
            "outcome    {} ({})",
            self.outcome.as_str(),
            self.reason.as_str()
        );
        if let Some(strategy) = &self.strategy {
            let _ = writeln!(out, "strategy   {strategy}");
        }
        if let Some(role) = &self.member_role {
            let _ = writeln!(out, "through    {role}");
        }
        let _ = writeln!(out, "why        {}", self.message);
        for (i, step) in self.manual_steps.iter().enumerate() {
            let label = if i == 0 { "by hand" } else { "" };
            let _ = writeln!(out, "{label:<10} {step}");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let label = if i == 0 { "actions" } else { "" };
            let detail = a.access_key_id.as_deref().unwrap_or(&a.policy_name);
            let _ = write!(
                out,
                "{label:<10} {} {} {detail} -> {}",
                a.api,
                a.target,
                a.status.as_str()
            );
            if let Some(code) = &a.error_code {
                let _ = write!(out, " [{code}]");
            }
            out.push('\n');
        }
        for (i, d) in self.principals.iter().enumerate() {
            let label = if i == 0 { "each" } else { "" };
            let who = d
                .principal
                .as_ref()
                .map(|p| {
                    let mut w = format!("{} {}", p.kind.as_str(), p.name.as_deref().unwrap_or("?"));
                    if let Some(s) = &p.session {
                        w.push_str(&format!(" ({s})"));
                    }
                    w
                })
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "{label:<10} {who}: {} ({}){} - {}",
                d.outcome.as_str(),
                d.reason.as_str(),
                d.strategy
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default(),
                d.message
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's `as_str` is serde's rendering of it, and no two variants share a code.
    fn codes_match_serde<T: Serialize + Copy>(all: &[T], as_str: fn(T) -> &'static str) {
        let mut seen = std::collections::HashSet::new();
        for &value in all {
            let code = as_str(value);
            assert_eq!(serde_json::to_value(value).unwrap(), code);
            assert!(seen.insert(code), "duplicate code {code}");
        }
    }

    #[test]
    fn codes_match_serde_rendering_and_are_unique() {
        codes_match_serde(Reason::ALL, Reason::as_str);
        codes_match_serde(Outcome::ALL, Outcome::as_str);
        codes_match_serde(ActionStatus::ALL, ActionStatus::as_str);
        codes_match_serde(
            crate::principal::PrincipalKind::ALL,
            crate::principal::PrincipalKind::as_str,
        );
        codes_match_serde(
            crate::containment::OperatorCommand::ALL,
            crate::containment::OperatorCommand::as_str,
        );
        assert_eq!(Reason::SettingsUnavailable.as_str(), "settings_unavailable");
        assert_eq!(Outcome::PartiallyContained.as_str(), "partially_contained");
        assert_eq!(
            Reason::ManagedDenyAllAttached.as_str(),
            "managed_deny_all_attached"
        );
    }
}
