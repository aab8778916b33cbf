//! The decision record: one JSON object per finding, identical in the Lambda's response, its
//! log line and the CLI's `--json` output. Schema: `docs/decision-record.md`.

use serde::Serialize;

use crate::config::Mode;
use crate::finding::InputError;
use crate::principal::Principal;

/// Version of the record's shape. Bumped on any incompatible change.
pub const RECORD_VERSION: u32 = 1;

/// What happened to the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The DenyAll policy was written.
    Contained,
    /// Dry-run: the DenyAll policy would have been written.
    WouldContain,
    /// The principal already carries deadbolt's DenyAll (or an identical deny-all).
    AlreadyContained,
    /// Out of scope by configuration or by the finding's nature (sample, archived, …).
    Skipped,
    /// In scope, but an inline policy cannot restrain this principal (root, SSO, …).
    NotContainable,
    /// Containment was attempted or prepared and did not happen.
    Failed,
    /// The input was malformed; nothing was done.
    Rejected,
    /// Operator release (`deadbolt unblock`): deadbolt's DenyAll was removed.
    Released,
    /// Operator release in dry-run: deadbolt's DenyAll would be removed.
    WouldRelease,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Contained => "contained",
            Outcome::WouldContain => "would_contain",
            Outcome::AlreadyContained => "already_contained",
            Outcome::Skipped => "skipped",
            Outcome::NotContainable => "not_containable",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
            Outcome::Released => "released",
            Outcome::WouldRelease => "would_release",
        }
    }
}

/// Why: a stable snake_case code. New codes may be added; existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // contained / would_contain / already_contained
    DenyAllAttached,
    DryRun,
    /// would_contain: enforce was configured, but the circuit breaker's hourly limit of
    /// enforced containments was reached, so this one fell back to dry-run.
    CircuitBreakerOpen,
    DeadboltDenyAllPresent,
    EquivalentDenyAllPresent,
    /// contained: role strategy revoke-sessions (sessions issued before now are denied).
    SessionsRevoked,
    /// contained: role strategy deny-session (the finding's role session is denied).
    SessionDenied,
    /// contained: Identity Center user denied in the permission set, re-provisioned.
    IdentityCenterUserDenied,
    /// contained: only an access key was set inactive (follow-up containment of a key the
    /// attacker created).
    AccessKeyDeactivated,
    // released (operator)
    DenyAllRemoved,
    NotContained,
    // skipped
    ModeOff,
    SampleFinding,
    ArchivedFinding,
    NotIamFinding,
    FindingTypeNotEnabled,
    BelowMinSeverity,
    ProtectedPrincipal,
    DeadboltItself,
    // not_containable
    ForeignAccount,
    RootPrincipal,
    FederatedPrincipal,
    SsoReservedRole,
    ServiceLinkedRole,
    ServicePrincipal,
    CrossAccountPrincipal,
    UnknownPrincipalType,
    NoPrincipal,
    InvalidPrincipalName,
    /// The configured strategy cannot be applied to what the finding says (e.g. deny-session
    /// without a role session id).
    StrategyNotApplicable,
    // failed
    ConflictingPolicyName,
    NoSuchEntity,
    UnmodifiableEntity,
    AccessDenied,
    Throttled,
    LimitExceeded,
    AwsError,
    IdentityUnavailable,
    /// failed: the settings document could not be read at all, so nothing was decided
    /// (retryable).
    SettingsUnavailable,
    /// skipped: more created entities in one finding than follow-up containment acts on.
    FollowUpLimit,
    /// The Identity Center user, instance or permission set could not be found.
    IdentityCenterLookupFailed,
    /// The permission set's inline policy is not one deadbolt can add a statement to safely.
    PermissionSetPolicyUnreadable,
    // rejected
    EmptyEvent,
    EventTooLarge,
    EventTooDeep,
    NotJson,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    WrongSource,
    WrongDetailType,
    InconsistentEvent,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        // A test checks this table against serde's rendering, so the two cannot drift.
        REASON_CODES
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, s)| *s)
            .unwrap_or("unknown")
    }
}

macro_rules! reason_codes {
    ($($v:ident => $s:literal),* $(,)?) => {
        const REASON_CODES: &[(Reason, &str)] = &[$((Reason::$v, $s)),*];
    };
}
reason_codes! {
    DenyAllAttached => "deny_all_attached", DryRun => "dry_run",
    CircuitBreakerOpen => "circuit_breaker_open",
    DeadboltDenyAllPresent => "deadbolt_deny_all_present",
    SessionsRevoked => "sessions_revoked", SessionDenied => "session_denied",
    IdentityCenterUserDenied => "identity_center_user_denied",
    AccessKeyDeactivated => "access_key_deactivated", FollowUpLimit => "follow_up_limit",
    StrategyNotApplicable => "strategy_not_applicable",
    IdentityCenterLookupFailed => "identity_center_lookup_failed",
    PermissionSetPolicyUnreadable => "permission_set_policy_unreadable",
    EquivalentDenyAllPresent => "equivalent_deny_all_present",
    DenyAllRemoved => "deny_all_removed", NotContained => "not_contained",
    ModeOff => "mode_off", SampleFinding => "sample_finding", ArchivedFinding => "archived_finding",
    NotIamFinding => "not_iam_finding", FindingTypeNotEnabled => "finding_type_not_enabled",
    BelowMinSeverity => "below_min_severity", ProtectedPrincipal => "protected_principal",
    DeadboltItself => "deadbolt_itself", ForeignAccount => "foreign_account",
    RootPrincipal => "root_principal", FederatedPrincipal => "federated_principal",
    SsoReservedRole => "sso_reserved_role", ServiceLinkedRole => "service_linked_role",
    ServicePrincipal => "service_principal", CrossAccountPrincipal => "cross_account_principal",
    UnknownPrincipalType => "unknown_principal_type", NoPrincipal => "no_principal",
    InvalidPrincipalName => "invalid_principal_name", ConflictingPolicyName => "conflicting_policy_name",
    NoSuchEntity => "no_such_entity", UnmodifiableEntity => "unmodifiable_entity",
    AccessDenied => "access_denied", Throttled => "throttled", LimitExceeded => "limit_exceeded",
    AwsError => "aws_error", IdentityUnavailable => "identity_unavailable",
    SettingsUnavailable => "settings_unavailable",
    EmptyEvent => "empty_event", EventTooLarge => "event_too_large", EventTooDeep => "event_too_deep",
    NotJson => "not_json", NotAnObject => "not_an_object", MissingField => "missing_field",
    WrongType => "wrong_type", InvalidValue => "invalid_value", WrongSource => "wrong_source",
    WrongDetailType => "wrong_detail_type", InconsistentEvent => "inconsistent_event",
}

impl From<&InputError> for Reason {
    fn from(e: &InputError) -> Self {
        match e {
            InputError::Empty => Reason::EmptyEvent,
            InputError::TooLarge { .. } => Reason::EventTooLarge,
            InputError::TooDeep { .. } => Reason::EventTooDeep,
            InputError::NotJson { .. } => Reason::NotJson,
            InputError::NotAnObject { .. } => Reason::NotAnObject,
            InputError::MissingField { .. } => Reason::MissingField,
            InputError::WrongType { .. } => Reason::WrongType,
            InputError::InvalidValue { .. } => Reason::InvalidValue,
            InputError::WrongSource { .. } => Reason::WrongSource,
            InputError::WrongDetailType { .. } => Reason::WrongDetailType,
            InputError::Inconsistent { .. } => Reason::InconsistentEvent,
        }
    }
}

/// The state of one AWS call in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Dry-run: this call would be made.
    Planned,
    /// The call was made and succeeded.
    Done,
    /// The call was made and failed.
    Failed,
    /// Not made, because an earlier step made it unnecessary or unsafe.
    NotNeeded,
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
    /// True when the same event delivered again may succeed (throttling, a transient AWS
    /// error, unreadable settings). The Lambda returns these as errors, so Lambda's
    /// asynchronous-invocation retries (then the failure destination) apply.
    pub retryable: bool,
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
            principal: None,
            outcome: Outcome::Skipped,
            reason: Reason::ModeOff,
            strategy: None,
            message: String::new(),
            manual_steps: Vec::new(),
            actions: Vec::new(),
            retryable: false,
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
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut line = format!("{kind} {}", p.name.as_deref().unwrap_or("?"));
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
        let _ = writeln!(out, "why        {}", self.message);
        for (i, step) in self.manual_steps.iter().enumerate() {
            let label = if i == 0 { "by hand" } else { "" };
            let _ = writeln!(out, "{label:<10} {step}");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let label = if i == 0 { "actions" } else { "" };
            let status = serde_json::to_value(a.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let detail = a.access_key_id.as_deref().unwrap_or(&a.policy_name);
            let _ = write!(
                out,
                "{label:<10} {} {} {detail} -> {status}",
                a.api, a.target
            );
            if let Some(code) = &a.error_code {
                let _ = write!(out, " [{code}]");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_match_serde_rendering_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (reason, code) in REASON_CODES {
            assert_eq!(serde_json::to_value(reason).unwrap(), *code);
            assert_eq!(reason.as_str(), *code);
            assert!(seen.insert(*code), "duplicate code {code}");
        }
    }
}
