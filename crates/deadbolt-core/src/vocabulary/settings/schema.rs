//! The document's types, their defaults, and what they answer about one finding.

use super::*;

/// At most this many enforced containments per sliding hour, then dry-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CircuitBreakerSettings {
    pub max_enforced_per_hour: u32,
}

/// The validated configuration document.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub mode: Mode,
    pub min_severity: f64,
    /// Finding-type prefixes that may trigger containment; `"*"` allows every type.
    pub finding_types: Vec<String>,
    pub protected_principals: Vec<String>,
    /// Mode per finding-type prefix (longest matching prefix wins).
    pub mode_by_finding_type: BTreeMap<String, Mode>,
    /// Mode per 12-digit account id (wins over everything but a global `mode: off`).
    pub mode_by_account: BTreeMap<String, Mode>,
    pub strategy: StrategySettings,
    /// `None`: no limit on enforced containments (the operator wrote `0` or `null`); 10 an
    /// hour by default.
    pub circuit_breaker: Option<CircuitBreakerSettings>,
    /// What the enricher does with entities the attacker created (users, roles, access keys
    /// found by the investigation): `off` by default.
    pub follow_up: Mode,
    /// A finding whose GuardDuty copy was last updated longer ago than this is not acted on
    /// (`stale_finding`): a replay from an archive must not re-contain a principal released
    /// days ago. Seconds; 24 hours by default.
    pub max_finding_age_secs: u64,
    /// Member accounts of a GuardDuty administrator that deadbolt contains in, through the
    /// role [`Settings::member_role`] in each: 12-digit ids, or `"*"` for any account whose
    /// findings GuardDuty hands this administrator. Empty: only deadbolt's own account.
    pub member_accounts: Vec<String>,
    /// The role deadbolt assumes in a member account (`infra/member-role.yaml`).
    pub member_role: String,
    /// Role strategy per finding-type prefix (longest matching prefix wins over
    /// `strategy.role`). By default, credential exfiltration of a workload role
    /// (`InstanceCredentialExfiltration`, `ResourceCredentialExfiltration`) is contained with
    /// revoke-sessions. A document that sets the key replaces the whole map.
    pub strategy_by_finding_type: BTreeMap<String, RoleStrategy>,
    /// When each protected pattern was first written (milliseconds since the epoch): the
    /// oldest version of the settings parameter, in the unbroken run of versions up to the
    /// current one that all carry it (or `DEADBOLT_PROTECTED_SINCE` for the environment's
    /// patterns). Not part of the document: the runtime fills it from the parameter's
    /// history. A pattern protects only principals created before this moment, so nobody
    /// adopts a protection by creating `break-glass-x`; a pattern without a date here
    /// protects by name alone (and `config show` says so).
    pub protected_since: BTreeMap<String, i64>,
    /// `approve` mode: how long a pending approval waits and what happens when it expires.
    pub approval: crate::approval::ApprovalSettings,
    /// The same per finding-type prefix (longest matching prefix wins; what an entry leaves
    /// out is `approval`'s), e.g. 15 minutes then `contain` for `AttackSequence:IAM/`.
    pub approval_by_finding_type: BTreeMap<String, crate::approval::ApprovalOverride>,
    /// Write-back to the finding's Security Hub copy (off by default).
    pub security_hub: SecurityHubSettings,
}

impl Settings {
    /// The approval settings for a finding type.
    pub fn approval_for(&self, finding_type: &str) -> crate::approval::ApprovalSettings {
        self.approval_by_finding_type
            .iter()
            .filter(|(prefix, _)| finding_type.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.approval, |(_, o)| o.over(self.approval))
    }

    /// Fill [`Settings::protected_since`] from the parameter's history, newest first (the
    /// first entry is the document in force): for each pattern, the `modified_at` of the
    /// oldest version in the unbroken run of valid versions from the newest that carry it.
    /// Invalid versions were never in force and do not break a run. A pattern whose run
    /// reaches a version without a date gets none.
    pub fn date_protections(&mut self, history: &[StoredVersion]) {
        let parsed: Vec<(Option<i64>, Settings)> = history
            .iter()
            .filter_map(|v| {
                Settings::parse(&v.value)
                    .ok()
                    .map(|s| (v.modified_at.map(|t| t.timestamp_millis()), s))
            })
            .collect();
        self.protected_since.clear();
        for pattern in &self.protected_principals {
            let mut since = None;
            for (at, version) in &parsed {
                if !version.protected_principals.contains(pattern) {
                    break;
                }
                since = Some(*at);
            }
            if let Some(Some(at)) = since {
                self.protected_since.insert(pattern.clone(), at);
            }
        }
    }
}

impl Default for Settings {
    /// The same defaults as the environment variables: dry-run, the IAM families, severity 0,
    /// nothing protected, no overrides, deny-all everywhere, a circuit breaker of
    /// [`DEFAULT_MAX_ENFORCED_PER_HOUR`] enforced containments an hour.
    fn default() -> Self {
        Settings {
            mode: Mode::DryRun,
            min_severity: 0.0,
            finding_types: DEFAULT_FINDING_TYPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            protected_principals: Vec::new(),
            mode_by_finding_type: BTreeMap::new(),
            mode_by_account: BTreeMap::new(),
            strategy: StrategySettings::default(),
            circuit_breaker: Some(CircuitBreakerSettings {
                max_enforced_per_hour: DEFAULT_MAX_ENFORCED_PER_HOUR,
            }),
            follow_up: Mode::Off,
            max_finding_age_secs: DEFAULT_MAX_FINDING_AGE_SECS,
            member_accounts: Vec::new(),
            member_role: DEFAULT_MEMBER_ROLE.to_string(),
            strategy_by_finding_type: DEFAULT_STRATEGY_BY_FINDING_TYPE
                .iter()
                .map(|(prefix, strategy)| (prefix.to_string(), *strategy))
                .collect(),
            protected_since: BTreeMap::new(),
            approval: crate::approval::ApprovalSettings::default(),
            approval_by_finding_type: BTreeMap::new(),
            security_hub: SecurityHubSettings::default(),
        }
    }
}

/// How a role is contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RoleStrategy {
    /// Every session of the role, past and future, is denied everything.
    #[default]
    DenyAll,
    /// Sessions issued before the containment are denied; new sessions work. Workloads that
    /// re-assume the role recover; a thief holding only stolen session credentials does not.
    RevokeSessions,
    /// Only the finding's session (`ROLEID:session-name`) is denied.
    DenySession,
}

impl RoleStrategy {
    pub const ACCEPTED: &'static str = "deny-all, revoke-sessions, deny-session";
    pub fn as_str(self) -> &'static str {
        match self {
            RoleStrategy::DenyAll => "deny-all",
            RoleStrategy::RevokeSessions => "revoke-sessions",
            RoleStrategy::DenySession => "deny-session",
        }
    }
}

/// How an IAM Identity Center session (`AWSReservedSSO_*` role, which IAM refuses to modify)
/// is contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityCenterStrategy {
    /// deadbolt writes nothing and puts the exact manual steps in the record. The default:
    /// permission sets live in the organisation's management (or delegated admin) account,
    /// and changing one affects every account it is provisioned to.
    #[default]
    Manual,
    /// Add a Deny for that one Identity Center user (`identitystore:UserId`) to the permission
    /// set's inline policy and re-provision it.
    PermissionSetDeny,
}

impl IdentityCenterStrategy {
    pub const ACCEPTED: &'static str = "manual, permission-set-deny";
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityCenterStrategy::Manual => "manual",
            IdentityCenterStrategy::PermissionSetDeny => "permission-set-deny",
        }
    }
}

/// Containment strategy per principal kind. Users and groups are always contained with
/// deny-all: their keys come back when there is a second strategy to choose for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StrategySettings {
    pub role: RoleStrategy,
    /// Also deactivate the finding's access key (that key only, never the user's others).
    pub user_deactivate_access_key: bool,
    pub identity_center: IdentityCenterStrategy,
}

impl fmt::Display for RoleStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `security_hub` in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecurityHubSettings {
    /// Write a note on the finding's Security Hub copy after the decisions that matter.
    pub write_back: bool,
    /// Set the workflow status `RESOLVED` (instead of `NOTIFIED`) when the principal is
    /// contained: for teams whose tickets close on resolution.
    pub resolve_on_contain: bool,
}

/// One stored version of the document, as the store's history has it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    /// The store's version number (SSM counts from 1).
    pub version: i64,
    pub value: String,
    pub modified_at: Option<DateTime<Utc>>,
    /// Who wrote it (SSM's `LastModifiedUser`: the IAM identity's ARN), when the store says.
    pub modified_by: Option<String>,
}

impl Settings {
    /// The mode for one finding: global `mode: off` > account override > finding-type override
    /// (longest matching prefix) > `mode`. A global `off` is the kill switch: no override, not
    /// even `enforce`, brings enforcement back while it is set.
    pub fn effective_mode(&self, finding_type: &str, account_id: &str) -> Mode {
        if self.mode == Mode::Off {
            return Mode::Off;
        }
        if let Some(mode) = self.mode_by_account.get(account_id) {
            return *mode;
        }
        self.mode_by_finding_type
            .iter()
            .filter(|(prefix, _)| finding_type.starts_with(prefix.as_str()))
            // Keys are unique, so two matching prefixes of equal length cannot exist.
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, mode)| *mode)
            .unwrap_or(self.mode)
    }

    /// May this finding type trigger containment at all?
    pub fn finding_type_enabled(&self, finding_type: &str) -> bool {
        self.finding_types
            .iter()
            .any(|p| p == "*" || finding_type.starts_with(p.as_str()))
    }

    /// Is `account_id` a member account deadbolt contains in through the member role?
    /// (deadbolt's own account is not a member: it is contained directly.)
    pub fn is_member_account(&self, account_id: &str) -> bool {
        self.member_accounts
            .iter()
            .any(|a| a == "*" || a == account_id)
    }

    /// The strategy for a role named by a finding of this type: the longest matching prefix of
    /// `strategy_by_finding_type`, else `strategy.role`.
    pub fn role_strategy_for(&self, finding_type: &str) -> RoleStrategy {
        self.strategy_by_finding_type
            .iter()
            .filter(|(prefix, _)| finding_type.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, strategy)| *strategy)
            .unwrap_or(self.strategy.role)
    }

    /// The notify-only family ([`NOTIFY_ONLY_FAMILIES`]) this type belongs to, unless
    /// `finding_types` names that family (or a narrower prefix of this type) explicitly: `*`
    /// alone does not switch containment on for it.
    pub fn notify_only_family(&self, finding_type: &str) -> Option<&'static str> {
        let family = NOTIFY_ONLY_FAMILIES
            .iter()
            .find(|f| finding_type.starts_with(**f))?;
        let named = self
            .finding_types
            .iter()
            .any(|p| p != "*" && finding_type.starts_with(p.as_str()) && p.starts_with(*family));
        (!named).then_some(*family)
    }

    /// Is this a finding from a customer-supplied threat list (`….Custom`, e.g.
    /// `UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom`) that `finding_types` does not name
    /// explicitly? Such findings are notify-only by default: whoever can add an address to a
    /// threat list (the office NAT, say) could otherwise aim deadbolt at everyone behind it. Only
    /// an entry that itself ends in `.Custom` switches containment on for one; the built-in
    /// type's prefix (`…/MaliciousIPCaller`) and `*` do not.
    pub fn custom_threat_list_notify_only(&self, finding_type: &str) -> bool {
        finding_type.ends_with(CUSTOM_THREAT_LIST_SUFFIX)
            && !self.finding_types.iter().any(|p| {
                p.ends_with(CUSTOM_THREAT_LIST_SUFFIX) && finding_type.starts_with(p.as_str())
            })
    }

    /// The circuit breaker's limit: enforced containments per hour, `None` for no limit.
    pub fn max_enforced_per_hour(&self) -> Option<u32> {
        self.circuit_breaker.map(|c| c.max_enforced_per_hour)
    }

    /// The protected-principal patterns, compiled for matching.
    pub fn protected_globs(&self) -> impl Iterator<Item = Glob> + '_ {
        self.protected_principals.iter().map(|p| Glob::new(p))
    }
}
