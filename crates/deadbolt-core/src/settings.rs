//! The runtime configuration document (version 1): one JSON object operators keep in SSM
//! Parameter Store and change with `deadbolt config set`. Reading the parameter and refreshing
//! it are an adapter's job; this module only parses, validates, edits and renders it.
//! Every key and accepted value: `docs/configuration.md`.
//!
//! Parsing is strict (unknown and repeated keys refused in every object, each key and value
//! validated as soon as it is read, by this module's own checks into typed problems) because a
//! document that half-parses could switch enforcement on for the wrong findings.
//! Every error names the line and column, the key path and the accepted values. A document that
//! does not validate must never be used for enforcement: the caller keeps the last good
//! [`Settings`] or falls back to dry-run.

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::error::Category;
use serde_json::Value;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use crate::config::{
    is_finding_type_prefix, is_principal_pattern, split_list, Mode, DEFAULT_FINDING_TYPES,
    DEFAULT_STRATEGY_BY_FINDING_TYPE, NOTIFY_ONLY_FAMILIES,
};
use crate::finding::json_error_message;
use crate::glob::Glob;
pub use crate::strategy::StrategySettings;
use crate::strategy::{IdentityCenterStrategy, RoleStrategy};

/// The suffix GuardDuty gives finding types matched against a customer-supplied threat list.
pub const CUSTOM_THREAT_LIST_SUFFIX: &str = ".Custom";
/// The document version this build reads and writes.
pub const SETTINGS_VERSION: u32 = 1;
/// SSM's advanced tier stores 8 KB; anything far beyond that is not a configuration document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Upper bound for `circuit_breaker.max_enforced_per_hour`. The breaker keeps one timestamp
/// per admitted block, and a limit this high no longer limits anything.
pub const MAX_ENFORCED_PER_HOUR_LIMIT: u32 = 10_000;
/// The circuit breaker a document (or the environment) that says nothing about it gets: a
/// misfiring detector or a poisoned threat list locks out at most this many principals an
/// hour. `0` (or `null`) removes the limit, an explicit choice `config show` flags.
pub const DEFAULT_MAX_ENFORCED_PER_HOUR: u32 = 10;

/// Top-level keys of the document.
pub const KEYS: &str = "version, mode, min_severity, finding_types, protected_principals, mode_by_finding_type, mode_by_account, strategy, follow_up, circuit_breaker, max_finding_age, member_accounts, member_role, strategy_by_finding_type, approval, approval_by_finding_type, security_hub";
/// Keys of the `security_hub` object.
pub const SECURITY_HUB_KEYS: &str = "write_back, resolve_on_contain";
/// Keys of the `approval` object and of each `approval_by_finding_type` entry.
pub const APPROVAL_KEYS: &str = "expires_after, on_expiry";
/// `max_finding_age` when absent: 24 hours.
pub const DEFAULT_MAX_FINDING_AGE_SECS: u64 = 24 * 3600;
/// `member_role` when absent: the role `infra/member-role.yaml` creates in every member account.
pub const DEFAULT_MEMBER_ROLE: &str = "deadbolt-member";
pub(crate) const MEMBER_ACCOUNTS_ACCEPTED: &str = "a list of 12-digit AWS account ids such as [\"111111111111\"], or \"*\" for every account whose findings GuardDuty hands this administrator";
pub(crate) const MEMBER_ROLE_ACCEPTED: &str = "an IAM role name of 1 to 64 characters (letters, digits and _+=,.@-), such as \"deadbolt-member\"";
const MAX_FINDING_AGE_ACCEPTED: &str =
    "a duration from 1m to 30d with a unit: s, m, h or d, such as \"24h\" or \"90m\"";

/// Keys of the `strategy` object.
pub const STRATEGY_KEYS: &str = "role, user_deactivate_access_key, identity_center";
/// Keys of the `circuit_breaker` object.
pub const CIRCUIT_BREAKER_KEYS: &str = "max_enforced_per_hour";
/// Keys [`Settings::set`] accepts.
pub const SETTABLE_KEYS: &str = "mode, min_severity, finding_types, protected_principals, strategy.role, strategy.user_deactivate_access_key, strategy.identity_center, follow_up, circuit_breaker.max_enforced_per_hour, max_finding_age, member_accounts, member_role, approval.expires_after, approval.on_expiry, security_hub.write_back, security_hub.resolve_on_contain, mode_by_account.<12-digit account id>, mode_by_finding_type.<finding-type prefix>, strategy_by_finding_type.<finding-type prefix>, approval_by_finding_type.<finding-type prefix>.expires_after, approval_by_finding_type.<finding-type prefix>.on_expiry";

const VERSION_ACCEPTED: &str = "1";
const SEVERITY_ACCEPTED: &str =
    "a number from 0 to 10 (GuardDuty: low 1-3.9, medium 4-6.9, high 7-8.9, critical 9-10)";
const FINDING_TYPES_ACCEPTED: &str = "a non-empty list of GuardDuty finding-type prefixes containing ':' such as \"Stealth:IAMUser/\" or \"UnauthorizedAccess:IAMUser/TorIPCaller\", or \"*\" for every type";
const PATTERNS_ACCEPTED: &str = "a list of IAM names or ARNs with * and ? wildcards, e.g. \"break-glass-*\" (letters, digits, _+=,.@- and * ? : /)";
const FINDING_TYPE_KEY_ACCEPTED: &str = "finding-type prefixes containing ':' such as \"PenTest:IAMUser/\" (not \"*\": set \"mode\" for every type)";
const ACCOUNT_KEY_ACCEPTED: &str = "12-digit AWS account ids such as \"123456789012\"";
const BOOL_ACCEPTED: &str = "true, false";
const MAX_PER_HOUR_ACCEPTED: &str = "a whole number from 0 (no limit) to 10000";
const OVERRIDE_ACCEPTED: &str = "off, dry-run, approve, enforce, or unset to remove the override";
/// `follow_up` takes no `approve`: follow-ups of a finding in approve mode are planned, dry-run.
const FOLLOW_UP_ACCEPTED: &str = "off, dry-run, enforce";
const BREAKER_SET_ACCEPTED: &str =
    "a whole number from 0 (no limit) to 10000, or unset for the default of 10";

/// Where in the document an error is (1-based, as serde_json and editors count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// `"line L, column C: "`, or nothing for `config set` (which has no document position).
fn pos_prefix(p: &Option<Position>) -> String {
    p.map(|p| format!("line {}, column {}: ", p.line, p.column))
        .unwrap_or_default()
}

/// `" at line L, column C"`, or nothing.
fn pos_suffix(p: &Option<Position>) -> String {
    p.map(|p| format!(" at line {}, column {}", p.line, p.column))
        .unwrap_or_default()
}

/// Why a configuration document (or a `config set`) was refused. Each message says where, which
/// key, and what is accepted, so the operator can fix it without reading the source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("the configuration document is empty; accepted: a JSON object such as {{\"version\": 1, \"mode\": \"dry-run\"}} (see docs/configuration.md)")]
    Empty,
    #[error("the configuration document is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error(
        "line {line}, column {column}: the configuration document is not valid JSON: {message}"
    )]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unknown key {key:?}{}; accepted keys: {accepted}", pos_suffix(.position))]
    UnknownKey {
        key: String,
        position: Option<Position>,
        accepted: String,
    },
    #[error("duplicate key {key:?}{}; each key may appear only once", pos_suffix(.position))]
    DuplicateKey {
        key: String,
        position: Option<Position>,
    },
    #[error("{}{key} is missing; accepted values: {accepted}", pos_prefix(.position))]
    MissingKey {
        key: String,
        position: Option<Position>,
        accepted: String,
    },
    #[error("{}{key} {problem}; accepted values: {accepted}", pos_prefix(.position))]
    InvalidValue {
        key: String,
        /// What is wrong with the value, e.g. `"enforcing" is not accepted`.
        problem: String,
        position: Option<Position>,
        accepted: String,
    },
}

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
    pub security_hub: crate::securityhub::SecurityHubSettings,
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
    pub fn date_protections(&mut self, history: &[crate::runtime::StoredVersion]) {
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
            security_hub: crate::securityhub::SecurityHubSettings::default(),
        }
    }
}

impl Settings {
    /// Parse and validate a version-1 document. Absent keys (or `null`) take the defaults.
    pub fn parse(text: &str) -> Result<Settings, SettingsError> {
        if text.trim().is_empty() {
            return Err(SettingsError::Empty);
        }
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(SettingsError::TooLarge {
                size: text.len(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let problem = Cell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        Walk(DocumentReader(Ctx(&problem)))
            .deserialize(&mut de)
            .and_then(|settings| de.end().map(|()| settings))
            .map_err(|e| {
                let position = Position {
                    line: e.line(),
                    column: e.column(),
                };
                match (problem.take(), e.classify()) {
                    // Found by the readers: serde_json only contributed the position.
                    (Some(problem), _) => problem.at(position),
                    (None, Category::Syntax | Category::Eof | Category::Io) => {
                        SettingsError::Syntax {
                            line: position.line,
                            column: position.column,
                            message: json_error_message(&e),
                        }
                    }
                    // Every data error comes from a reader, which records its problem first;
                    // should one ever not, the document is still refused, with serde's text.
                    (None, Category::Data) => SettingsError::InvalidValue {
                        key: "the document".to_string(),
                        problem: json_error_message(&e),
                        position: Some(position),
                        accepted: DOCUMENT_ACCEPTED.to_string(),
                    },
                }
            })
    }

    /// The document, pretty-printed, every key present (except an absent circuit breaker), so
    /// `config show` tells the operator exactly what is in force. `parse` reads it back equal.
    pub fn to_json_pretty(&self) -> String {
        // Plain data with string keys and finite numbers (validated) cannot fail to serialise.
        serde_json::to_string_pretty(&self.document_out()).unwrap_or_default()
    }

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

    /// `deadbolt config set KEY VALUE`: change one key, validated exactly as the document is.
    /// On error nothing changes. Lists are comma-separated; `unset` removes an override or the
    /// circuit breaker.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingsError> {
        let value = value.trim();
        let invalid = |problem: String, accepted: &str| SettingsError::InvalidValue {
            key: key.to_string(),
            problem,
            position: None,
            accepted: accepted.to_string(),
        };
        let not_accepted = || format!("{value:?} is not accepted");
        match key {
            "mode" => {
                self.mode =
                    parse_word(value).ok_or_else(|| invalid(not_accepted(), Mode::ACCEPTED))?;
            }
            "min_severity" => {
                let n = value.parse::<f64>().map_err(|_| {
                    invalid(format!("{value:?} is not a number"), SEVERITY_ACCEPTED)
                })?;
                self.min_severity = check_severity(n).map_err(|p| invalid(p, SEVERITY_ACCEPTED))?;
            }
            "finding_types" => {
                let types = split_list(value)
                    .map(|t| check_finding_type(t, true))
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(check_non_empty)
                    .map_err(|p| invalid(p, FINDING_TYPES_ACCEPTED))?;
                self.finding_types = types;
            }
            "protected_principals" => {
                // An empty value clears the list: protection can be removed deliberately.
                self.protected_principals = split_list(value)
                    .map(check_pattern)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|p| invalid(p, PATTERNS_ACCEPTED))?;
            }
            "follow_up" => {
                self.follow_up = parse_word(value)
                    .filter(|m| *m != Mode::Approve)
                    .ok_or_else(|| invalid(not_accepted(), FOLLOW_UP_ACCEPTED))?;
            }
            "max_finding_age" => {
                self.max_finding_age_secs =
                    check_duration(value).map_err(|p| invalid(p, MAX_FINDING_AGE_ACCEPTED))?;
            }
            "member_accounts" => {
                // An empty value clears the list: deadbolt's own account only.
                self.member_accounts = split_list(value)
                    .map(check_member_account)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|p| invalid(p, MEMBER_ACCOUNTS_ACCEPTED))?;
            }
            "member_role" => {
                self.member_role =
                    check_member_role(value).map_err(|p| invalid(p, MEMBER_ROLE_ACCEPTED))?;
            }
            "strategy.role" => {
                self.strategy.role = parse_word(value)
                    .ok_or_else(|| invalid(not_accepted(), RoleStrategy::ACCEPTED))?;
            }
            "strategy.user_deactivate_access_key" => {
                self.strategy.user_deactivate_access_key = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid(not_accepted(), BOOL_ACCEPTED)),
                };
            }
            "strategy.identity_center" => {
                self.strategy.identity_center = parse_word(value)
                    .ok_or_else(|| invalid(not_accepted(), IdentityCenterStrategy::ACCEPTED))?;
            }
            "circuit_breaker.max_enforced_per_hour" => {
                self.circuit_breaker = if value == "unset" {
                    Settings::default().circuit_breaker
                } else {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| invalid(not_accepted(), BREAKER_SET_ACCEPTED))?;
                    let max =
                        check_max_per_hour(n).map_err(|p| invalid(p, BREAKER_SET_ACCEPTED))?;
                    breaker_of(max)
                };
            }
            "security_hub.write_back" | "security_hub.resolve_on_contain" => {
                let b = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid(not_accepted(), BOOL_ACCEPTED)),
                };
                if key.ends_with("write_back") {
                    self.security_hub.write_back = b;
                } else {
                    self.security_hub.resolve_on_contain = b;
                }
            }
            "approval.expires_after" => {
                self.approval.expires_after_secs = check_approval_expiry(value)
                    .map_err(|p| invalid(p, APPROVAL_EXPIRES_ACCEPTED))?;
            }
            "approval.on_expiry" => {
                self.approval.on_expiry = parse_word(value)
                    .ok_or_else(|| invalid(not_accepted(), crate::approval::OnExpiry::ACCEPTED))?;
            }
            _ => {
                if let Some(rest) = key.strip_prefix("approval_by_finding_type.") {
                    let (prefix, field) = rest
                        .rsplit_once('.')
                        .filter(|(_, f)| ["expires_after", "on_expiry"].contains(f))
                        .ok_or_else(|| SettingsError::UnknownKey {
                            key: key.to_string(),
                            position: None,
                            accepted: SETTABLE_KEYS.to_string(),
                        })?;
                    let prefix = check_finding_type(prefix, false).map_err(|p| {
                        SettingsError::InvalidValue {
                            key: "approval_by_finding_type".into(),
                            problem: format!("key {p}"),
                            position: None,
                            accepted: FINDING_TYPE_KEY_ACCEPTED.into(),
                        }
                    })?;
                    let entry = self
                        .approval_by_finding_type
                        .entry(prefix.clone())
                        .or_default();
                    match (field, value) {
                        (_, "unset") if field == "expires_after" => entry.expires_after_secs = None,
                        (_, "unset") => entry.on_expiry = None,
                        ("expires_after", v) => {
                            entry.expires_after_secs = Some(
                                check_approval_expiry(v)
                                    .map_err(|p| invalid(p, APPROVAL_EXPIRES_ACCEPTED))?,
                            )
                        }
                        (_, v) => {
                            entry.on_expiry = Some(parse_word(v).ok_or_else(|| {
                                invalid(not_accepted(), crate::approval::OnExpiry::ACCEPTED)
                            })?)
                        }
                    }
                    if *entry == crate::approval::ApprovalOverride::default() {
                        self.approval_by_finding_type.remove(&prefix);
                    }
                } else if let Some(account) = key.strip_prefix("mode_by_account.") {
                    let account =
                        check_account(account).map_err(|p| SettingsError::InvalidValue {
                            key: "mode_by_account".into(),
                            problem: format!("key {p}"),
                            position: None,
                            accepted: ACCOUNT_KEY_ACCEPTED.into(),
                        })?;
                    set_override(&mut self.mode_by_account, account, value)
                        .map_err(|p| invalid(p, OVERRIDE_ACCEPTED))?;
                } else if let Some(prefix) = key.strip_prefix("strategy_by_finding_type.") {
                    let prefix = check_finding_type(prefix, false).map_err(|p| {
                        SettingsError::InvalidValue {
                            key: "strategy_by_finding_type".into(),
                            problem: format!("key {p}"),
                            position: None,
                            accepted: FINDING_TYPE_KEY_ACCEPTED.into(),
                        }
                    })?;
                    set_override(&mut self.strategy_by_finding_type, prefix, value)
                        .map_err(|p| invalid(p, STRATEGY_OVERRIDE_ACCEPTED))?;
                } else if let Some(prefix) = key.strip_prefix("mode_by_finding_type.") {
                    let prefix = check_finding_type(prefix, false).map_err(|p| {
                        SettingsError::InvalidValue {
                            key: "mode_by_finding_type".into(),
                            problem: format!("key {p}"),
                            position: None,
                            accepted: FINDING_TYPE_KEY_ACCEPTED.into(),
                        }
                    })?;
                    set_override(&mut self.mode_by_finding_type, prefix, value)
                        .map_err(|p| invalid(p, OVERRIDE_ACCEPTED))?;
                } else {
                    return Err(SettingsError::UnknownKey {
                        key: key.to_string(),
                        position: None,
                        accepted: SETTABLE_KEYS.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// One of an enum's documented spellings, exactly as the document accepts it.
fn parse_word<T: DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
}

/// One override of a per-key map (`mode_by_…`, `strategy_by_finding_type`): one of the
/// value's spellings, or `unset` to remove it.
fn set_override<T: DeserializeOwned>(
    map: &mut BTreeMap<String, T>,
    key: String,
    value: &str,
) -> Result<(), String> {
    if value == "unset" {
        map.remove(&key);
    } else {
        let parsed = parse_word(value).ok_or_else(|| format!("{value:?} is not accepted"))?;
        map.insert(key, parsed);
    }
    Ok(())
}

// ---- validators: one rule per value, used by the document and by `set` alike. Each returns
// the problem as `<value> <what is wrong>`, so messages read "min_severity 11 is out of range".

fn check_severity(n: f64) -> Result<f64, String> {
    if n.is_finite() && (0.0..=10.0).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range"))
    }
}

fn check_finding_type(entry: &str, allow_star: bool) -> Result<String, String> {
    if entry == "*" && !allow_star {
        return Err("\"*\" cannot be overridden per finding type".into());
    }
    if entry == "*" || is_finding_type_prefix(entry) {
        Ok(entry.to_string())
    } else {
        Err(format!(
            "{:?} is not a finding-type prefix",
            truncate(entry)
        ))
    }
}

fn check_non_empty(types: Vec<String>) -> Result<Vec<String>, String> {
    if types.is_empty() {
        // Acting on no type at all is what `mode: off` is for; an empty list is a slip.
        Err("is empty (to act on no finding, set mode off)".into())
    } else {
        Ok(types)
    }
}

fn check_pattern(entry: &str) -> Result<String, String> {
    if !entry.is_empty() && is_principal_pattern(entry) {
        Ok(entry.to_string())
    } else {
        Err(format!("{:?} is not a principal pattern", truncate(entry)))
    }
}

fn check_account(id: &str) -> Result<String, String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(format!("{:?} is not a 12-digit account id", truncate(id)))
    }
}

/// A member account entry: a 12-digit id, or `*` for every account GuardDuty hands over.
pub(crate) fn check_member_account(entry: &str) -> Result<String, String> {
    if entry == "*" {
        return Ok(entry.to_string());
    }
    check_account(entry)
}

/// An IAM role name as IAM accepts it: it ends up in the member role's ARN.
pub(crate) fn check_member_role(name: &str) -> Result<String, String> {
    if (1..=64).contains(&name.len()) && name.chars().all(crate::finding::is_iam_name_char) {
        Ok(name.to_string())
    } else {
        Err(format!("{:?} is not an IAM role name", truncate(name)))
    }
}

fn check_max_per_hour(n: u64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if n <= MAX_ENFORCED_PER_HOUR_LIMIT => Ok(n),
        _ => Err(format!("{n} is out of range")),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

// ---- reading the document. serde_json reads the JSON; every rule about keys and values is
// checked here, into a typed `Problem`, as soon as the key or value has been read, so the error
// carries the position of what is wrong. Nothing here reads serde's messages.

/// Accepted values when the document is not a JSON object.
const DOCUMENT_ACCEPTED: &str = "a JSON object with the keys version, mode, min_severity, finding_types, protected_principals, mode_by_finding_type, mode_by_account, strategy, follow_up, circuit_breaker, max_finding_age, member_accounts, member_role, strategy_by_finding_type, approval, approval_by_finding_type, security_hub";
const APPROVAL_ACCEPTED: &str = "an object with the keys expires_after (a duration such as 15m or 24h, at most 7d) and on_expiry (drop or contain)";
const APPROVAL_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are objects with expires_after and/or on_expiry";
const SECURITY_HUB_ACCEPTED: &str =
    "an object with the keys write_back and resolve_on_contain (true or false)";
const APPROVAL_EXPIRES_ACCEPTED: &str = "a duration from 1m to 7d, such as 15m, 2h or 24h";
const STRATEGY_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are deny-all, revoke-sessions, deny-session";
const STRATEGY_OVERRIDE_ACCEPTED: &str =
    "deny-all, revoke-sessions, deny-session, or unset to remove the override";
const STRATEGY_ACCEPTED: &str =
    "an object with the keys role, user_deactivate_access_key, identity_center";
const CIRCUIT_BREAKER_ACCEPTED: &str = "an object with the key max_enforced_per_hour";
const MODE_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are off, dry-run, approve, enforce";
const MODE_BY_ACCOUNT_ACCEPTED: &str =
    "an object whose keys are 12-digit account ids and whose values are off, dry-run, approve, enforce";

/// What is wrong with a document; `Settings::parse` adds the position.
#[derive(Debug)]
enum Problem {
    UnknownKey {
        key: String,
        accepted: &'static str,
    },
    DuplicateKey {
        key: String,
    },
    MissingKey {
        key: String,
        accepted: &'static str,
    },
    InvalidValue {
        key: String,
        problem: String,
        accepted: &'static str,
    },
}

impl Problem {
    fn invalid(key: impl Into<String>, problem: String, accepted: &'static str) -> Problem {
        Problem::InvalidValue {
            key: key.into(),
            problem,
            accepted,
        }
    }

    /// `<key> has the wrong type: string "high"`, described from the value found.
    fn wrong_type(key: impl Into<String>, found: &Value, accepted: &'static str) -> Problem {
        Problem::invalid(
            key,
            format!("has the wrong type: {}", describe(found)),
            accepted,
        )
    }

    fn at(self, position: Position) -> SettingsError {
        let position = Some(position);
        match self {
            Problem::UnknownKey { key, accepted } => SettingsError::UnknownKey {
                key,
                position,
                accepted: accepted.to_string(),
            },
            Problem::DuplicateKey { key } => SettingsError::DuplicateKey { key, position },
            Problem::MissingKey { key, accepted } => SettingsError::MissingKey {
                key,
                position,
                accepted: accepted.to_string(),
            },
            Problem::InvalidValue {
                key,
                problem,
                accepted,
            } => SettingsError::InvalidValue {
                key,
                problem,
                position,
                accepted: accepted.to_string(),
            },
        }
    }
}

/// The kind of JSON value found where another was expected, in the words serde uses.
fn describe(found: &Value) -> String {
    match found {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {:?}", truncate(s)),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    }
}

/// Where a reader leaves the problem it found. It then returns an error that means nothing by
/// itself: serde_json gives that error the position, and `Settings::parse` pairs the two.
#[derive(Clone, Copy)]
struct Ctx<'p>(&'p Cell<Option<Problem>>);

impl Ctx<'_> {
    fn fail<E: de::Error>(self, problem: Problem) -> E {
        self.0.set(Some(problem));
        E::custom("invalid settings document")
    }
}

/// Reads one JSON value of the document. [`Walk`] hands it whatever JSON is there: readers of
/// objects and lists override `map` or `seq` and walk the entries; anything else arrives as a
/// `Value`, so a wrong type is described from what was actually found.
trait Reader<'de>: Sized {
    type Output;

    /// A scalar or `null`; or an object or list this reader does not walk, which is always the
    /// wrong type here: it arrives empty (only its kind is described) and unread, so the error
    /// points at its opening bracket.
    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E>;

    fn map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Output, A::Error> {
        self.value(Value::Object(serde_json::Map::new()))
    }

    fn seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Output, A::Error> {
        self.value(Value::Array(Vec::new()))
    }
}

/// A [`Reader`] as a serde seed. Every check runs inside serde_json's `deserialize_any` for
/// the value at fault, which is what positions the error right after that value (or key).
struct Walk<R>(R);

impl<'de, R: Reader<'de>> DeserializeSeed<'de> for Walk<R> {
    type Value = R::Output;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<R::Output, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Reader<'de>> Visitor<'de> for Walk<R> {
    type Value = R::Output;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R::Output, A::Error> {
        self.0.map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<R::Output, A::Error> {
        self.0.seq(seq)
    }
    fn visit_unit<E: de::Error>(self) -> Result<R::Output, E> {
        self.0.value(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<R::Output, E> {
        self.0.value(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<R::Output, E> {
        self.0.value(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<R::Output, E> {
        self.0.value(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<R::Output, E> {
        self.0.value(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<R::Output, E> {
        self.0.value(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<R::Output, E> {
        self.0.value(Value::String(v))
    }
}

/// One value, validated by `check`.
struct Check<'p, F> {
    ctx: Ctx<'p>,
    check: F,
}

impl<'de, T, F: FnOnce(Value) -> Result<T, Problem>> Reader<'de> for Check<'_, F> {
    type Output = T;
    fn value<E: de::Error>(self, found: Value) -> Result<T, E> {
        (self.check)(found).map_err(|p| self.ctx.fail(p))
    }
}

/// The value of the key just read, validated by `check`; `None` for `null` (the default
/// applies, as for an absent key).
fn optional_value<'de, A, T>(
    map: &mut A,
    ctx: Ctx<'_>,
    check: impl FnOnce(Value) -> Result<T, Problem>,
) -> Result<Option<T>, A::Error>
where
    A: MapAccess<'de>,
{
    map.next_value_seed(Walk(Check {
        ctx,
        check: |found: Value| {
            if found.is_null() {
                Ok(None)
            } else {
                check(found).map(Some)
            }
        },
    }))
}

/// The keys of one object. Each is read as a string and refused as a duplicate right after it
/// is read, so the error points at it: serde's maps would silently keep the last value, and
/// `{"123456789012":"off","123456789012":"enforce"}` must not quietly mean enforce.
struct Keys<'p> {
    ctx: Ctx<'p>,
    /// The object's key path (`strategy`), empty for the document itself.
    parent: std::borrow::Cow<'static, str>,
    seen: BTreeSet<String>,
}

impl<'p> Keys<'p> {
    fn new(ctx: Ctx<'p>, parent: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Keys {
            ctx,
            parent: parent.into(),
            seen: BTreeSet::new(),
        }
    }

    fn next<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Option<String>, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Ok(None);
        };
        if !self.seen.insert(key.clone()) {
            return Err(self.ctx.fail(Problem::DuplicateKey {
                key: self.path(&key),
            }));
        }
        Ok(Some(key))
    }

    /// `strategy.role`, or `mode` at the top.
    fn path(&self, key: &str) -> String {
        if self.parent.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.parent)
        }
    }

    fn unknown<E: de::Error>(&self, key: &str, accepted: &'static str) -> E {
        self.ctx.fail(Problem::UnknownKey {
            key: self.path(key),
            accepted,
        })
    }
}

/// The document: a JSON object and nothing else.
struct DocumentReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for DocumentReader<'_> {
    type Output = Settings;

    fn value<E: de::Error>(self, found: Value) -> Result<Settings, E> {
        Err(self.0.fail(Problem::wrong_type(
            "the document",
            &found,
            DOCUMENT_ACCEPTED,
        )))
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Settings, A::Error> {
        let ctx = self.0;
        let mut s = Settings::default();
        let mut keys = Keys::new(ctx, "");
        while let Some(key) = keys.next(&mut map)? {
            match key.as_str() {
                // Read only to be validated: there is one version, so nothing else depends on it.
                "version" => {
                    optional_value(&mut map, ctx, version)?;
                }
                "mode" => {
                    if let Some(mode) =
                        optional_value(&mut map, ctx, |v| word("mode", v, Mode::ACCEPTED))?
                    {
                        s.mode = mode;
                    }
                }
                "min_severity" => {
                    if let Some(n) = optional_value(&mut map, ctx, severity)? {
                        s.min_severity = n;
                    }
                }
                "finding_types" => {
                    let reader = ListReader {
                        ctx,
                        key: "finding_types",
                        accepted: FINDING_TYPES_ACCEPTED,
                        check: |t| check_finding_type(t, true),
                        index_invalid: false,
                        non_empty: true,
                    };
                    if let Some(types) = map.next_value_seed(Walk(reader))? {
                        s.finding_types = types;
                    }
                }
                "protected_principals" => {
                    let reader = ListReader {
                        ctx,
                        key: "protected_principals",
                        accepted: PATTERNS_ACCEPTED,
                        check: check_pattern,
                        index_invalid: true,
                        non_empty: false,
                    };
                    if let Some(patterns) = map.next_value_seed(Walk(reader))? {
                        s.protected_principals = patterns;
                    }
                }
                "mode_by_finding_type" => {
                    let reader = WordMapReader {
                        ctx,
                        key: "mode_by_finding_type",
                        accepted: MODE_BY_FINDING_TYPE_ACCEPTED,
                        check_key: |k| check_finding_type(k, false),
                        key_accepted: FINDING_TYPE_KEY_ACCEPTED,
                        values_accepted: Mode::ACCEPTED,
                        values: PhantomData,
                    };
                    if let Some(modes) = map.next_value_seed(Walk(reader))? {
                        s.mode_by_finding_type = modes;
                    }
                }
                "mode_by_account" => {
                    let reader = WordMapReader {
                        ctx,
                        key: "mode_by_account",
                        accepted: MODE_BY_ACCOUNT_ACCEPTED,
                        check_key: check_account,
                        key_accepted: ACCOUNT_KEY_ACCEPTED,
                        values_accepted: Mode::ACCEPTED,
                        values: PhantomData,
                    };
                    if let Some(modes) = map.next_value_seed(Walk(reader))? {
                        s.mode_by_account = modes;
                    }
                }
                "strategy" => {
                    if let Some(strategy) = map.next_value_seed(Walk(StrategyReader(ctx)))? {
                        s.strategy = strategy;
                    }
                }
                "follow_up" => {
                    if let Some(mode) = optional_value(&mut map, ctx, |v| {
                        word("follow_up", v, FOLLOW_UP_ACCEPTED).and_then(|m: Mode| {
                            if m == Mode::Approve {
                                Err(Problem::invalid(
                                    "follow_up",
                                    "\"approve\" is not accepted (approve is the finding's own mode; its follow-ups are planned dry-run)".to_string(),
                                    FOLLOW_UP_ACCEPTED,
                                ))
                            } else {
                                Ok(m)
                            }
                        })
                    })? {
                        s.follow_up = mode;
                    }
                }
                "circuit_breaker" => {
                    s.circuit_breaker = map.next_value_seed(Walk(CircuitBreakerReader(ctx)))?;
                }
                "max_finding_age" => {
                    if let Some(secs) = optional_value(&mut map, ctx, |v| {
                        checked_string(
                            "max_finding_age",
                            v,
                            MAX_FINDING_AGE_ACCEPTED,
                            check_duration,
                        )
                    })? {
                        s.max_finding_age_secs = secs;
                    }
                }
                "member_accounts" => {
                    if let Some(accounts) = map.next_value_seed(Walk(MemberAccountsReader(ctx)))? {
                        s.member_accounts = accounts;
                    }
                }
                "member_role" => {
                    if let Some(role) = optional_value(&mut map, ctx, |v| {
                        checked_string("member_role", v, MEMBER_ROLE_ACCEPTED, check_member_role)
                    })? {
                        s.member_role = role;
                    }
                }
                "approval" => {
                    if let Some(o) = map.next_value_seed(Walk(ApprovalReader {
                        ctx,
                        path: "approval".to_string(),
                    }))? {
                        s.approval = o.over(crate::approval::ApprovalSettings::default());
                    }
                }
                "security_hub" => {
                    if let Some(h) = map.next_value_seed(Walk(SecurityHubReader(ctx)))? {
                        s.security_hub = h;
                    }
                }
                "approval_by_finding_type" => {
                    if let Some(m) = map.next_value_seed(Walk(ApprovalMapReader(ctx)))? {
                        s.approval_by_finding_type = m;
                    }
                }
                "strategy_by_finding_type" => {
                    let reader = WordMapReader {
                        ctx,
                        key: "strategy_by_finding_type",
                        accepted: STRATEGY_BY_FINDING_TYPE_ACCEPTED,
                        check_key: |k| check_finding_type(k, false),
                        key_accepted: FINDING_TYPE_KEY_ACCEPTED,
                        values_accepted: RoleStrategy::ACCEPTED,
                        values: PhantomData,
                    };
                    if let Some(map) = map.next_value_seed(Walk(reader))? {
                        s.strategy_by_finding_type = map;
                    }
                }
                _ => return Err(keys.unknown(&key, KEYS)),
            }
        }
        Ok(s)
    }
}

/// `strategy`: an object, or `null` for the defaults.
struct StrategyReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for StrategyReader<'_> {
    type Output = Option<StrategySettings>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self
                .0
                .fail(Problem::wrong_type("strategy", &other, STRATEGY_ACCEPTED))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.0;
        let mut s = StrategySettings::default();
        let mut keys = Keys::new(ctx, "strategy");
        while let Some(key) = keys.next(&mut map)? {
            match key.as_str() {
                "role" => {
                    if let Some(role) = optional_value(&mut map, ctx, |v| {
                        word("strategy.role", v, RoleStrategy::ACCEPTED)
                    })? {
                        s.role = role;
                    }
                }
                "user_deactivate_access_key" => {
                    if let Some(b) = optional_value(&mut map, ctx, |v| match v {
                        Value::Bool(b) => Ok(b),
                        other => Err(Problem::wrong_type(
                            "strategy.user_deactivate_access_key",
                            &other,
                            BOOL_ACCEPTED,
                        )),
                    })? {
                        s.user_deactivate_access_key = b;
                    }
                }
                "identity_center" => {
                    if let Some(ic) = optional_value(&mut map, ctx, |v| {
                        word(
                            "strategy.identity_center",
                            v,
                            IdentityCenterStrategy::ACCEPTED,
                        )
                    })? {
                        s.identity_center = ic;
                    }
                }
                _ => return Err(keys.unknown(&key, STRATEGY_KEYS)),
            }
        }
        Ok(Some(s))
    }
}

/// `circuit_breaker`: an object, or `null` for no limit (as `max_enforced_per_hour: 0` is).
struct CircuitBreakerReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for CircuitBreakerReader<'_> {
    type Output = Option<CircuitBreakerSettings>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self.0.fail(Problem::wrong_type(
                "circuit_breaker",
                &other,
                CIRCUIT_BREAKER_ACCEPTED,
            ))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.0;
        let mut max = None;
        let mut keys = Keys::new(ctx, "circuit_breaker");
        while let Some(key) = keys.next(&mut map)? {
            match key.as_str() {
                // Not optional: `null` is the wrong type here, not "absent".
                "max_enforced_per_hour" => {
                    max = Some(map.next_value_seed(Walk(Check {
                        ctx,
                        check: max_per_hour,
                    }))?);
                }
                _ => return Err(keys.unknown(&key, CIRCUIT_BREAKER_KEYS)),
            }
        }
        // Required: an empty `circuit_breaker` object would say "limit" without saying how much.
        let max_enforced_per_hour = max.ok_or_else(|| {
            ctx.fail(Problem::MissingKey {
                key: "circuit_breaker.max_enforced_per_hour".to_string(),
                accepted: MAX_PER_HOUR_ACCEPTED,
            })
        })?;
        Ok(breaker_of(max_enforced_per_hour))
    }
}

/// `approval` (or one `approval_by_finding_type` entry, at `path`): an object with
/// `expires_after` and `on_expiry`, either left out; `null` for the defaults.
struct ApprovalReader<'p> {
    ctx: Ctx<'p>,
    path: String,
}

impl<'de> Reader<'de> for ApprovalReader<'_> {
    type Output = Option<crate::approval::ApprovalOverride>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self
                .ctx
                .fail(Problem::wrong_type(self.path, &other, APPROVAL_ACCEPTED))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.ctx;
        let mut out = crate::approval::ApprovalOverride::default();
        let mut keys = Keys::new(ctx, self.path.clone());
        while let Some(key) = keys.next(&mut map)? {
            let path = keys.path(&key);
            match key.as_str() {
                "expires_after" => {
                    out.expires_after_secs = optional_value(&mut map, ctx, |v| {
                        checked_string(&path, v, APPROVAL_EXPIRES_ACCEPTED, check_approval_expiry)
                    })?;
                }
                "on_expiry" => {
                    out.on_expiry = optional_value(&mut map, ctx, |v| {
                        word(&path, v, crate::approval::OnExpiry::ACCEPTED)
                    })?;
                }
                _ => return Err(keys.unknown(&key, APPROVAL_KEYS)),
            }
        }
        Ok(Some(out))
    }
}

/// `security_hub`: an object with two booleans, either left out (false); `null` for the defaults.
struct SecurityHubReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for SecurityHubReader<'_> {
    type Output = Option<crate::securityhub::SecurityHubSettings>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self.0.fail(Problem::wrong_type(
                "security_hub",
                &other,
                SECURITY_HUB_ACCEPTED,
            ))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.0;
        let mut out = crate::securityhub::SecurityHubSettings::default();
        let mut keys = Keys::new(ctx, "security_hub");
        while let Some(key) = keys.next(&mut map)? {
            let path = keys.path(&key);
            let slot = match key.as_str() {
                "write_back" => &mut out.write_back,
                "resolve_on_contain" => &mut out.resolve_on_contain,
                _ => return Err(keys.unknown(&key, SECURITY_HUB_KEYS)),
            };
            if let Some(b) = optional_value(&mut map, ctx, |v| match v {
                Value::Bool(b) => Ok(b),
                other => Err(Problem::wrong_type(&path, &other, BOOL_ACCEPTED)),
            })? {
                *slot = b;
            }
        }
        Ok(Some(out))
    }
}

/// `approval_by_finding_type`: finding-type prefixes to [`ApprovalReader`] objects.
struct ApprovalMapReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for ApprovalMapReader<'_> {
    type Output = Option<BTreeMap<String, crate::approval::ApprovalOverride>>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self.0.fail(Problem::wrong_type(
                "approval_by_finding_type",
                &other,
                APPROVAL_BY_FINDING_TYPE_ACCEPTED,
            ))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.0;
        let mut out = BTreeMap::new();
        let mut keys = Keys::new(ctx, "approval_by_finding_type");
        while let Some(key) = keys.next(&mut map)? {
            let prefix = check_finding_type(&key, false).map_err(|p| {
                ctx.fail(Problem::invalid(
                    "approval_by_finding_type",
                    format!("key {p}"),
                    FINDING_TYPE_KEY_ACCEPTED,
                ))
            })?;
            let path = keys.path(&prefix);
            if let Some(o) = map.next_value_seed(Walk(ApprovalReader { ctx, path }))? {
                out.insert(prefix, o);
            }
        }
        Ok(Some(out))
    }
}

/// A pending approval's window: a minute at least (the scheduler's granularity), a week at
/// most (nobody approves a containment from last month).
fn check_approval_expiry(text: &str) -> Result<u64, String> {
    let secs = check_duration(text)?;
    if !(60..=7 * 86_400).contains(&secs) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(secs)
}

/// `0` is "no limit": no breaker.
fn breaker_of(max_enforced_per_hour: u32) -> Option<CircuitBreakerSettings> {
    (max_enforced_per_hour > 0).then_some(CircuitBreakerSettings {
        max_enforced_per_hour,
    })
}

/// `mode_by_account` / `mode_by_finding_type` / `strategy_by_finding_type`: an object of
/// validated keys to one of an enum's spellings (a mode, a role strategy), or `null` for none.
struct WordMapReader<'p, T> {
    ctx: Ctx<'p>,
    key: &'static str,
    /// What the map must be.
    accepted: &'static str,
    check_key: fn(&str) -> Result<String, String>,
    key_accepted: &'static str,
    /// The values' spellings.
    values_accepted: &'static str,
    values: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Reader<'de> for WordMapReader<'_, T> {
    type Output = Option<BTreeMap<String, T>>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self
                .ctx
                .fail(Problem::wrong_type(self.key, &other, self.accepted))),
        }
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Output, A::Error> {
        let ctx = self.ctx;
        let mut out = BTreeMap::new();
        let mut keys = Keys::new(ctx, self.key);
        while let Some(key) = keys.next(&mut map)? {
            // Reported against the map ("mode_by_account key ..."): it is the key that is wrong.
            let key = (self.check_key)(&key).map_err(|p| {
                ctx.fail(Problem::invalid(
                    self.key,
                    format!("key {p}"),
                    self.key_accepted,
                ))
            })?;
            let path = keys.path(&key);
            let value = map.next_value_seed(Walk(Check {
                ctx,
                check: |v| word(&path, v, self.values_accepted),
            }))?;
            out.insert(key, value);
        }
        Ok(Some(out))
    }
}

/// `finding_types` / `protected_principals`: a list of strings, each validated as soon as it
/// is read, or `null` for the default.
struct ListReader<'p> {
    ctx: Ctx<'p>,
    key: &'static str,
    accepted: &'static str,
    check: fn(&str) -> Result<String, String>,
    /// Name the entry (`protected_principals[1]`) when its value is refused, not only when its
    /// type is.
    index_invalid: bool,
    non_empty: bool,
}

impl<'de> Reader<'de> for ListReader<'_> {
    type Output = Option<Vec<String>>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            other => Err(self
                .ctx
                .fail(Problem::wrong_type(self.key, &other, self.accepted))),
        }
    }

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Output, A::Error> {
        let mut out = Vec::new();
        loop {
            let entry_key = format!("{}[{}]", self.key, out.len());
            let check = |found: Value| match found {
                Value::String(s) => (self.check)(&s).map_err(|p| {
                    let key = if self.index_invalid {
                        entry_key.clone()
                    } else {
                        self.key.to_string()
                    };
                    Problem::invalid(key, p, self.accepted)
                }),
                other => Err(Problem::wrong_type(&entry_key, &other, self.accepted)),
            };
            match seq.next_element_seed(Walk(Check {
                ctx: self.ctx,
                check,
            }))? {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        if self.non_empty {
            out = check_non_empty(out)
                .map_err(|p| self.ctx.fail(Problem::invalid(self.key, p, self.accepted)))?;
        }
        Ok(Some(out))
    }
}

/// `member_accounts`: a list of account ids, or the one word `"*"` (any member).
struct MemberAccountsReader<'p>(Ctx<'p>);

impl<'de> Reader<'de> for MemberAccountsReader<'_> {
    type Output = Option<Vec<String>>;

    fn value<E: de::Error>(self, found: Value) -> Result<Self::Output, E> {
        match found {
            Value::Null => Ok(None),
            Value::String(s) if s == "*" => Ok(Some(vec![s])),
            other => Err(self.0.fail(Problem::wrong_type(
                "member_accounts",
                &other,
                MEMBER_ACCOUNTS_ACCEPTED,
            ))),
        }
    }

    fn seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Output, A::Error> {
        ListReader {
            ctx: self.0,
            key: "member_accounts",
            accepted: MEMBER_ACCOUNTS_ACCEPTED,
            check: check_member_account,
            index_invalid: true,
            non_empty: false,
        }
        .seq(seq)
    }
}

/// A duration such as `7d` or `90m` in seconds (what `max_finding_age` accepts, for CLI flags).
pub fn parse_duration(text: &str) -> Option<u64> {
    check_duration(text).ok()
}

/// `24h`, `90m`, `3600s`, `7d`: a whole number and one unit, from one minute to 30 days.
fn check_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(format!("{:?} has no unit", truncate(text))),
    };
    let digits = &text[..text.len() - 1];
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{:?} is not a whole number of units", truncate(text)))?;
    if (60..=30 * 86_400).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{:?} is out of range", truncate(text)))
    }
}

/// The document's spelling of a duration: the largest unit that divides it.
fn format_duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A string value, validated by `check` (which says what is wrong with it).
fn checked_string<T>(
    key: &str,
    found: Value,
    accepted: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Problem> {
    match found {
        Value::String(text) => check(&text).map_err(|p| Problem::invalid(key, p, accepted)),
        other => Err(Problem::wrong_type(key, &other, accepted)),
    }
}

/// One of an enum's documented spellings.
fn word<T: DeserializeOwned>(
    key: &str,
    found: Value,
    accepted: &'static str,
) -> Result<T, Problem> {
    match found {
        Value::String(s) => parse_word(&s).ok_or_else(|| {
            Problem::invalid(key, format!("{:?} is not accepted", truncate(&s)), accepted)
        }),
        other => Err(Problem::wrong_type(key, &other, accepted)),
    }
}

fn version(found: Value) -> Result<(), Problem> {
    match &found {
        Value::Number(n) if !n.is_f64() => {
            if n.as_u64() == Some(u64::from(SETTINGS_VERSION)) {
                Ok(())
            } else {
                Err(Problem::invalid(
                    "version",
                    format!("{n} is not a version this deadbolt reads"),
                    VERSION_ACCEPTED,
                ))
            }
        }
        _ => Err(Problem::wrong_type("version", &found, VERSION_ACCEPTED)),
    }
}

fn severity(found: Value) -> Result<f64, Problem> {
    match found.as_f64() {
        Some(n) => {
            check_severity(n).map_err(|p| Problem::invalid("min_severity", p, SEVERITY_ACCEPTED))
        }
        None => Err(Problem::wrong_type(
            "min_severity",
            &found,
            SEVERITY_ACCEPTED,
        )),
    }
}

fn max_per_hour(found: Value) -> Result<u32, Problem> {
    const KEY: &str = "circuit_breaker.max_enforced_per_hour";
    let checked = match &found {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(n), _) => check_max_per_hour(n),
            (None, Some(negative)) => Err(format!("{negative} is out of range")),
            // A fraction is not a count.
            (None, None) => return Err(Problem::wrong_type(KEY, &found, MAX_PER_HOUR_ACCEPTED)),
        },
        _ => return Err(Problem::wrong_type(KEY, &found, MAX_PER_HOUR_ACCEPTED)),
    };
    checked.map_err(|p| Problem::invalid(KEY, p, MAX_PER_HOUR_ACCEPTED))
}

/// One difference between two documents, per key (`deadbolt config history`). Keys of nested
/// objects are dotted (`mode_by_account.123456789012`, `strategy.role`); list items are added
/// or removed one by one (their order does not matter to deadbolt).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Changed { key: String, from: Value, to: Value },
    Added { key: String, value: Value },
    Removed { key: String, value: Value },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `mode: dry-run -> enforce`; added and removed values keep their JSON quotes, so an
        // empty or odd pattern is still visible.
        let bare = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Change::Changed { key, from, to } => write!(f, "{key}: {} -> {}", bare(from), bare(to)),
            Change::Added { key, value } => write!(f, "{key}: added {value}"),
            Change::Removed { key, value } => write!(f, "{key}: removed {value}"),
        }
    }
}

impl Settings {
    /// What changed from `self` (the older document) to `newer`, key by key, in the order of
    /// [`KEYS`]. Both are complete documents, so a default that became explicit is no change.
    pub fn diff(&self, newer: &Settings) -> Vec<Change> {
        let (old, new) = (self.flat(), newer.flat());
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.sort_by_key(|k| {
            let top = k.split('.').next().unwrap_or_default();
            let rank = KEYS
                .split(", ")
                .position(|t| t == top)
                .unwrap_or(usize::MAX);
            (rank, k.as_str())
        });
        keys.dedup();
        let mut changes = Vec::new();
        for key in keys {
            match (old.get(key), new.get(key)) {
                (Some(Value::Array(a)), Some(Value::Array(b))) => {
                    for v in a.iter().filter(|v| !b.contains(v)) {
                        changes.push(Change::Removed {
                            key: key.clone(),
                            value: v.clone(),
                        });
                    }
                    for v in b.iter().filter(|v| !a.contains(v)) {
                        changes.push(Change::Added {
                            key: key.clone(),
                            value: v.clone(),
                        });
                    }
                }
                (Some(a), Some(b)) if a != b => changes.push(Change::Changed {
                    key: key.clone(),
                    from: a.clone(),
                    to: b.clone(),
                }),
                (Some(_), Some(_)) | (None, None) => {}
                (Some(a), None) => changes.push(Change::Removed {
                    key: key.clone(),
                    value: a.clone(),
                }),
                (None, Some(b)) => changes.push(Change::Added {
                    key: key.clone(),
                    value: b.clone(),
                }),
            }
        }
        changes
    }

    /// The document as dotted keys to leaf values (lists are leaves).
    fn flat(&self) -> BTreeMap<String, Value> {
        fn walk(prefix: &str, v: Value, out: &mut BTreeMap<String, Value>) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        let key = if prefix.is_empty() {
                            k
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                leaf => {
                    out.insert(prefix.to_string(), leaf);
                }
            }
        }
        let mut out = BTreeMap::new();
        // Plain validated data: serialising it cannot fail (an empty diff would be the result).
        if let Ok(v) = serde_json::to_value(self.document_out()) {
            walk("", v, &mut out);
        }
        out
    }

    /// What `config show` flags about these settings: explicit choices that widen what
    /// deadbolt may do.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.circuit_breaker.is_none() {
            out.push(format!(
                "circuit_breaker.max_enforced_per_hour is 0: NO limit on enforced containments (the default is {DEFAULT_MAX_ENFORCED_PER_HOUR} an hour); a misfiring detector or a poisoned threat list could lock out every principal it names"
            ));
        }
        out
    }

    fn document_out(&self) -> DocumentOut<'_> {
        DocumentOut {
            version: SETTINGS_VERSION,
            mode: self.mode,
            min_severity: self.min_severity,
            finding_types: &self.finding_types,
            protected_principals: &self.protected_principals,
            mode_by_finding_type: &self.mode_by_finding_type,
            mode_by_account: &self.mode_by_account,
            strategy: &self.strategy,
            follow_up: self.follow_up,
            // Always written: an absent key means the default breaker, so "no limit" must
            // be said (as 0) to survive a round trip.
            circuit_breaker: self.circuit_breaker.unwrap_or(CircuitBreakerSettings {
                max_enforced_per_hour: 0,
            }),
            max_finding_age: format_duration(self.max_finding_age_secs),
            member_accounts: &self.member_accounts,
            member_role: &self.member_role,
            strategy_by_finding_type: &self.strategy_by_finding_type,
            security_hub: SecurityHubOut {
                write_back: self.security_hub.write_back,
                resolve_on_contain: self.security_hub.resolve_on_contain,
            },
            approval: ApprovalOut {
                expires_after: Some(format_duration(self.approval.expires_after_secs)),
                on_expiry: Some(self.approval.on_expiry),
            },
            approval_by_finding_type: self
                .approval_by_finding_type
                .iter()
                .map(|(k, o)| {
                    (
                        k.as_str(),
                        ApprovalOut {
                            expires_after: o.expires_after_secs.map(format_duration),
                            on_expiry: o.on_expiry,
                        },
                    )
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct SecurityHubOut {
    write_back: bool,
    resolve_on_contain: bool,
}

#[derive(Serialize)]
struct ApprovalOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_expiry: Option<crate::approval::OnExpiry>,
}

#[derive(Serialize)]
struct DocumentOut<'a> {
    version: u32,
    mode: Mode,
    min_severity: f64,
    finding_types: &'a [String],
    protected_principals: &'a [String],
    mode_by_finding_type: &'a BTreeMap<String, Mode>,
    mode_by_account: &'a BTreeMap<String, Mode>,
    strategy: &'a StrategySettings,
    follow_up: Mode,
    circuit_breaker: CircuitBreakerSettings,
    max_finding_age: String,
    member_accounts: &'a [String],
    member_role: &'a str,
    strategy_by_finding_type: &'a BTreeMap<String, RoleStrategy>,
    security_hub: SecurityHubOut,
    approval: ApprovalOut,
    approval_by_finding_type: BTreeMap<&'a str, ApprovalOut>,
}

#[cfg(test)]
mod protection_dates {
    use super::*;
    use crate::runtime::StoredVersion;

    fn version(n: i64, day: u32, protected: &str) -> StoredVersion {
        StoredVersion {
            version: n,
            value: format!(r#"{{"version":1,"protected_principals":[{protected}]}}"#),
            modified_at: chrono::NaiveDate::from_ymd_opt(2026, 11, day)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            modified_by: None,
        }
    }

    /// A pattern dates from the oldest version of the unbroken run that carries it: removed
    /// and added again, it dates from when it came back; an invalid version in between was
    /// never in force and breaks nothing.
    #[test]
    fn a_pattern_dates_from_the_start_of_its_unbroken_run() {
        let history = vec![
            version(5, 20, r#""break-glass-*","ops-*""#),
            StoredVersion {
                value: "{not json".into(),
                ..version(4, 18, "")
            },
            version(3, 15, r#""break-glass-*""#),
            version(2, 10, r#""ops-*""#),
            version(1, 5, r#""break-glass-*","ops-*""#),
        ];
        let mut s = Settings::parse(&history[0].value).unwrap();
        s.date_protections(&history);
        let day = |d: u32| {
            history
                .iter()
                .find(|v| {
                    v.modified_at
                        .is_some_and(|t| t.format("%d").to_string() == format!("{d:02}"))
                })
                .and_then(|v| v.modified_at)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(s.protected_since.get("break-glass-*"), Some(&day(15)));
        assert_eq!(s.protected_since.get("ops-*"), Some(&day(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
  "version": 1,
  "mode": "dry-run",
  "min_severity": 4.0,
  "finding_types": ["Stealth:IAMUser/", "UnauthorizedAccess:IAMUser/"],
  "protected_principals": ["break-glass-*"],
  "mode_by_finding_type": {"PenTest:IAMUser/": "off"},
  "mode_by_account": {"123456789012": "enforce"},
  "strategy": {"role": "deny-all", "user_deactivate_access_key": false, "identity_center": "manual"},
  "circuit_breaker": {"max_enforced_per_hour": 10}
}"#;

    fn err(text: &str) -> SettingsError {
        Settings::parse(text).unwrap_err()
    }

    #[test]
    fn parses_the_documented_example() {
        let s = Settings::parse(EXAMPLE).unwrap();
        assert_eq!(s.mode, Mode::DryRun);
        assert_eq!(s.min_severity, 4.0);
        assert_eq!(
            s.finding_types,
            vec!["Stealth:IAMUser/", "UnauthorizedAccess:IAMUser/"]
        );
        assert_eq!(s.protected_principals, vec!["break-glass-*"]);
        assert_eq!(s.mode_by_finding_type["PenTest:IAMUser/"], Mode::Off);
        assert_eq!(s.mode_by_account["123456789012"], Mode::Enforce);
        assert_eq!(s.strategy, StrategySettings::default());
        assert_eq!(
            s.circuit_breaker,
            Some(CircuitBreakerSettings {
                max_enforced_per_hour: 10
            })
        );
    }

    #[test]
    fn the_repository_example_file_parses() {
        let text = include_str!("../../../docs/config.example.json");
        let s = Settings::parse(text).unwrap();
        assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
    }

    #[test]
    fn every_key_is_optional_and_absent_means_the_env_defaults() {
        assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
        assert_eq!(
            Settings::parse(r#"{"mode": null, "strategy": {}}"#).unwrap(),
            Settings::default()
        );
        assert_eq!(
            Settings::from_lookup(|_| None).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn round_trips_through_to_json_pretty() {
        let mut s = Settings::parse(EXAMPLE).unwrap();
        s.strategy.role = RoleStrategy::RevokeSessions;
        s.strategy.user_deactivate_access_key = true;
        let text = s.to_json_pretty();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"role\": \"revoke-sessions\""), "{text}");
        assert_eq!(Settings::parse(&text).unwrap(), s);
        // The default breaker, and "no limit" (written as 0 so it survives the round trip:
        // an absent key is the default breaker).
        let default = Settings::default();
        assert_eq!(
            default.max_enforced_per_hour(),
            Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
        );
        assert_eq!(Settings::parse(&default.to_json_pretty()).unwrap(), default);
        let unlimited = Settings {
            circuit_breaker: None,
            ..Settings::default()
        };
        let text = unlimited.to_json_pretty();
        assert!(text.contains("\"max_enforced_per_hour\": 0"), "{text}");
        assert_eq!(Settings::parse(&text).unwrap(), unlimited);
        assert_eq!(
            Settings::parse(r#"{"circuit_breaker": null}"#).unwrap(),
            unlimited
        );
        assert!(unlimited.warnings()[0].contains("NO limit on enforced containments"));
        assert!(default.warnings().is_empty());
    }

    #[test]
    fn mode_precedence_account_then_longest_prefix_then_global() {
        let s = Settings::parse(
            r#"{
              "mode": "dry-run",
              "mode_by_finding_type": {
                "UnauthorizedAccess:IAMUser/": "enforce",
                "UnauthorizedAccess:IAMUser/TorIPCaller": "off"
              },
              "mode_by_account": {"111111111111": "enforce", "222222222222": "off"}
            }"#,
        )
        .unwrap();
        let other = "333333333333";
        assert_eq!(
            s.effective_mode("Stealth:IAMUser/CloudTrailLoggingDisabled", other),
            Mode::DryRun
        );
        assert_eq!(
            s.effective_mode("UnauthorizedAccess:IAMUser/MaliciousIPCaller", other),
            Mode::Enforce
        );
        assert_eq!(
            s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", other),
            Mode::Off
        );
        assert_eq!(
            s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "111111111111"),
            Mode::Enforce
        );
        assert_eq!(
            s.effective_mode(
                "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
                "222222222222"
            ),
            Mode::Off
        );
        let c = &s;
        assert_eq!(
            c.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "111111111111"),
            Mode::Enforce
        );
        assert_eq!(
            c.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", other),
            Mode::Off
        );
    }

    #[test]
    fn invalid_mode_names_line_column_key_and_accepted_values() {
        let e = err("{\n  \"version\": 1,\n  \"mode\": \"enforcing\"\n}");
        assert_eq!(
            e.to_string(),
            "line 3, column 21: mode \"enforcing\" is not accepted; accepted values: off, dry-run, approve, enforce"
        );
    }

    #[test]
    fn unknown_keys_name_the_key_path_line_and_accepted_keys() {
        let e = err("{\n  \"moed\": \"enforce\"\n}");
        assert_eq!(
            e.to_string(),
            format!("unknown key \"moed\" at line 2, column 8; accepted keys: {KEYS}")
        );
        let e = err("{\"strategy\": {\"rol\": \"deny-all\"}}");
        assert!(
            e.to_string()
                .starts_with("unknown key \"strategy.rol\" at line 1"),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with(&format!("accepted keys: {STRATEGY_KEYS}")),
            "{e}"
        );
        let e = err("{\"circuit_breaker\": {\"max_per_hour\": 3}}");
        assert!(
            e.to_string().contains("\"circuit_breaker.max_per_hour\""),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("accepted keys: max_enforced_per_hour"),
            "{e}"
        );
    }

    #[test]
    fn the_removed_user_and_group_strategy_keys_are_unknown() {
        // Users and groups are always contained with deny-all; a document or `config set`
        // still naming the keys is refused rather than silently accepted.
        for key in ["user", "group"] {
            let e = err(&format!(r#"{{"strategy": {{"{key}": "deny-all"}}}}"#));
            assert!(
                matches!(&e, SettingsError::UnknownKey { key: k, accepted, .. }
                    if *k == format!("strategy.{key}") && accepted == STRATEGY_KEYS),
                "{e}"
            );
            let mut s = Settings::default();
            let e = s.set(&format!("strategy.{key}"), "deny-all").unwrap_err();
            assert!(
                matches!(&e, SettingsError::UnknownKey { accepted, .. } if accepted == SETTABLE_KEYS),
                "{e}"
            );
        }
    }

    #[test]
    fn every_invalid_value_names_its_key_and_accepted_values() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"{"version": 2}"#,
                "version 2 is not a version",
                "accepted values: 1",
            ),
            (
                r#"{"version": "1"}"#,
                "version has the wrong type",
                "accepted values: 1",
            ),
            (
                r#"{"min_severity": 11}"#,
                "min_severity 11 is out of range",
                "a number from 0 to 10",
            ),
            (
                r#"{"min_severity": -1}"#,
                "min_severity -1 is out of range",
                "a number from 0 to 10",
            ),
            (
                r#"{"min_severity": "high"}"#,
                "min_severity has the wrong type: string \"high\"",
                "a number from 0 to 10",
            ),
            (
                r#"{"finding_types": ["Stealth:IAMUser/", "TorIPCaller"]}"#,
                "finding_types \"TorIPCaller\" is not a finding-type prefix",
                "containing ':'",
            ),
            (
                r#"{"finding_types": []}"#,
                "finding_types is empty",
                "finding-type prefixes",
            ),
            (
                r#"{"finding_types": "Stealth:IAMUser/"}"#,
                "finding_types has the wrong type",
                "a non-empty list",
            ),
            (
                r#"{"protected_principals": ["ok", "bob\"}"]}"#,
                "protected_principals[1] \"bob\\\"}\" is not a principal pattern",
                "* and ? wildcards",
            ),
            (
                r#"{"protected_principals": [""]}"#,
                "protected_principals[0] \"\" is not a principal pattern",
                "wildcards",
            ),
            (
                r#"{"mode_by_account": {"12345": "off"}}"#,
                "mode_by_account key \"12345\" is not a 12-digit account id",
                "12-digit",
            ),
            (
                r#"{"mode_by_account": {"123456789012": "enforcing"}}"#,
                "mode_by_account.123456789012 \"enforcing\" is not accepted",
                "accepted values: off, dry-run, approve, enforce",
            ),
            (
                r#"{"mode_by_finding_type": {"*": "off"}}"#,
                "mode_by_finding_type key \"*\" cannot be overridden per finding type",
                "set \"mode\"",
            ),
            (
                r#"{"mode_by_finding_type": {"PenTest": "off"}}"#,
                "\"PenTest\" is not a finding-type prefix",
                "containing ':'",
            ),
            (
                r#"{"strategy": {"role": "revoke"}}"#,
                "strategy.role \"revoke\" is not accepted",
                "accepted values: deny-all, revoke-sessions, deny-session",
            ),
            (
                r#"{"strategy": {"user_deactivate_access_key": "yes"}}"#,
                "strategy.user_deactivate_access_key has the wrong type",
                "accepted values: true, false",
            ),
            (
                r#"{"circuit_breaker": {"max_enforced_per_hour": 10001}}"#,
                "circuit_breaker.max_enforced_per_hour 10001 is out of range",
                "from 0 (no limit) to 10000",
            ),
            (
                r#"{"circuit_breaker": {"max_enforced_per_hour": 2.5}}"#,
                "circuit_breaker.max_enforced_per_hour has the wrong type",
                "from 0 (no limit) to 10000",
            ),
            (
                r#"{"circuit_breaker": {}}"#,
                "circuit_breaker.max_enforced_per_hour is missing",
                "from 0 (no limit) to 10000",
            ),
            (
                "[]",
                "the document has the wrong type: sequence",
                "a JSON object",
            ),
            (
                "null",
                "the document has the wrong type: null",
                "a JSON object",
            ),
            (
                "1",
                "the document has the wrong type: integer",
                "a JSON object",
            ),
            (
                r#"[null, "enforce"]"#,
                "the document has the wrong type: sequence",
                "a JSON object",
            ),
            (
                r#"{"strategy": [null, "revoke-sessions"]}"#,
                "strategy has the wrong type: sequence",
                "an object with the keys role",
            ),
            (
                r#"{"circuit_breaker": [5]}"#,
                "circuit_breaker has the wrong type: sequence",
                "max_enforced_per_hour",
            ),
        ];
        for (text, problem, accepted) in cases {
            let e = err(text).to_string();
            assert!(e.starts_with("line 1, column "), "{text}: {e}");
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.contains(accepted), "{text}: {e}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused_not_silently_last_wins() {
        let e = err(r#"{"mode": "off", "mode": "enforce"}"#);
        assert!(
            matches!(&e, SettingsError::DuplicateKey { key, .. } if key == "mode"),
            "{e}"
        );
        let e = err(r#"{"mode_by_account": {"123456789012": "off", "123456789012": "enforce"}}"#);
        assert!(e.to_string().contains("duplicate key"), "{e}");
        assert!(e.to_string().contains("123456789012"), "{e}");
    }

    #[test]
    fn errors_point_at_the_key_or_entry_at_fault() {
        // A repeated key: the second occurrence, not the end of its value.
        let e = err(r#"{"mode": "off", "mode": "enforce"}"#);
        assert_eq!(
            e.to_string(),
            "duplicate key \"mode\" at line 1, column 22; each key may appear only once"
        );
        // A bad list entry: its own line, not the end of the list.
        let e = err("{\"protected_principals\": [\n  \"ok\",\n  \"b b\",\n  \"c\"\n]}");
        assert!(
            e.to_string()
                .starts_with("line 3, column 7: protected_principals[1]"),
            "{e}"
        );
        // A map value of the wrong kind is a wrong type, not a JSON syntax error.
        let e = err(r#"{"mode_by_account": {"123456789012": null}}"#);
        assert!(
            matches!(&e, SettingsError::InvalidValue { key, problem, .. }
                if key == "mode_by_account.123456789012" && problem == "has the wrong type: null"),
            "{e:?}"
        );
        // Modes are strings: serde's other spelling of an enum (`{"enforce": null}`) is refused.
        let e = err(r#"{"mode": {"enforce": null}}"#);
        assert!(
            matches!(&e, SettingsError::InvalidValue { key, problem, .. }
                if key == "mode" && problem == "has the wrong type: map"),
            "{e:?}"
        );
    }

    #[test]
    fn broken_json_empty_and_oversized_documents() {
        assert_eq!(err("  "), SettingsError::Empty);
        let e = err("{\n  \"mode\": \"off\",\n}");
        assert!(matches!(e, SettingsError::Syntax { line: 3, .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("line 3, column 1: the configuration document is not valid JSON"),
            "{e}"
        );
        let e = err("{\"mode\": \"off\"} {}");
        assert!(matches!(e, SettingsError::Syntax { line: 1, .. }), "{e:?}");
        let e = err("{\"mode\": ");
        assert!(matches!(e, SettingsError::Syntax { .. }), "{e:?}");
        let big = format!(
            "{{\"protected_principals\": [\"{}\"]}}",
            "a".repeat(MAX_DOCUMENT_BYTES)
        );
        assert!(matches!(err(&big), SettingsError::TooLarge { .. }));
    }

    #[test]
    fn diff_names_each_changed_key_in_document_order() {
        let old = Settings::parse(
            r#"{"mode": "dry-run", "protected_principals": ["break-glass-*", "admin"],
                "mode_by_account": {"123456789012": "off"}}"#,
        )
        .unwrap();
        let new = Settings::parse(
            r#"{"mode": "enforce", "protected_principals": ["admin", "ops-*"],
                "mode_by_account": {"210987654321": "dry-run"},
                "strategy": {"role": "revoke-sessions"},
                "circuit_breaker": {"max_enforced_per_hour": 20}}"#,
        )
        .unwrap();
        let lines: Vec<String> = old.diff(&new).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "mode: dry-run -> enforce",
                "protected_principals: removed \"break-glass-*\"",
                "protected_principals: added \"ops-*\"",
                "mode_by_account.123456789012: removed \"off\"",
                "mode_by_account.210987654321: added \"dry-run\"",
                "strategy.role: deny-all -> revoke-sessions",
                "circuit_breaker.max_enforced_per_hour: 10 -> 20",
            ]
        );
        assert!(old.diff(&old).is_empty());
        // An explicit default is no change; the order of a list is none either.
        let explicit = Settings::parse(r#"{"mode": "dry-run", "follow_up": "off", "protected_principals": ["admin", "break-glass-*"], "mode_by_account": {"123456789012": "off"}}"#).unwrap();
        assert!(old.diff(&explicit).is_empty(), "{:?}", old.diff(&explicit));
        assert_eq!(
            serde_json::to_value(&old.diff(&new)[0]).unwrap(),
            serde_json::json!({"change": "changed", "key": "mode", "from": "dry-run", "to": "enforce"})
        );
    }

    #[test]
    fn global_off_is_a_kill_switch_no_override_wins_over_it() {
        let s = Settings::parse(
            r#"{"mode": "off",
                "mode_by_account": {"123456789012": "enforce"},
                "mode_by_finding_type": {"UnauthorizedAccess:IAMUser/": "enforce", "PenTest:IAMUser/": "dry-run"}}"#,
        )
        .unwrap();
        for (finding_type, account) in [
            ("Stealth:IAMUser/X", "123456789012"),
            ("UnauthorizedAccess:IAMUser/TorIPCaller", "999999999999"),
            ("UnauthorizedAccess:IAMUser/TorIPCaller", "123456789012"),
            ("PenTest:IAMUser/KaliLinux", "999999999999"),
        ] {
            assert_eq!(
                s.effective_mode(finding_type, account),
                Mode::Off,
                "{finding_type} in {account}"
            );
        }
        // Overrides still apply under dry-run and enforce, in either direction.
        let mut s = s;
        s.mode = Mode::DryRun;
        assert_eq!(
            s.effective_mode("Stealth:IAMUser/X", "123456789012"),
            Mode::Enforce
        );
        assert_eq!(
            s.effective_mode("PenTest:IAMUser/KaliLinux", "999999999999"),
            Mode::DryRun
        );
        s.mode = Mode::Enforce;
        s.mode_by_account.insert("123456789012".into(), Mode::Off);
        assert_eq!(
            s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "123456789012"),
            Mode::Off
        );
    }

    #[test]
    fn set_changes_one_key_validated_like_the_document() {
        let mut s = Settings::default();
        s.set("mode", "enforce").unwrap();
        s.set("min_severity", "7").unwrap();
        s.set("finding_types", "Stealth:IAMUser/, PenTest:IAMUser/")
            .unwrap();
        s.set(
            "protected_principals",
            "break-glass-*,arn:aws:iam::*:role/Admin",
        )
        .unwrap();
        s.set("strategy.role", "deny-session").unwrap();
        s.set("strategy.user_deactivate_access_key", "true")
            .unwrap();
        s.set("circuit_breaker.max_enforced_per_hour", "5").unwrap();
        s.set("strategy.identity_center", "permission-set-deny")
            .unwrap();
        s.set("follow_up", "dry-run").unwrap();
        s.set("mode_by_account.123456789012", "off").unwrap();
        s.set("mode_by_finding_type.PenTest:IAMUser/", "dry-run")
            .unwrap();
        assert_eq!(s.mode, Mode::Enforce);
        assert_eq!(s.min_severity, 7.0);
        assert_eq!(
            s.finding_types,
            vec!["Stealth:IAMUser/", "PenTest:IAMUser/"]
        );
        assert_eq!(s.protected_principals.len(), 2);
        assert_eq!(s.strategy.role, RoleStrategy::DenySession);
        assert!(s.strategy.user_deactivate_access_key);
        assert_eq!(
            s.strategy.identity_center,
            IdentityCenterStrategy::PermissionSetDeny
        );
        assert_eq!(s.follow_up, Mode::DryRun);
        assert_eq!(s.circuit_breaker.map(|c| c.max_enforced_per_hour), Some(5));
        assert_eq!(
            s.effective_mode("Stealth:IAMUser/X", "123456789012"),
            Mode::Off
        );
        assert_eq!(
            s.effective_mode("PenTest:IAMUser/KaliLinux", "999999999999"),
            Mode::DryRun
        );
        // What `set` produces, the document reads back identically.
        assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);

        s.set("mode_by_account.123456789012", "unset").unwrap();
        s.set("circuit_breaker.max_enforced_per_hour", "unset")
            .unwrap();
        s.set("protected_principals", "").unwrap();
        assert!(s.mode_by_account.is_empty());
        // unset: back to the default breaker; 0: no limit.
        assert_eq!(
            s.max_enforced_per_hour(),
            Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
        );
        s.set("circuit_breaker.max_enforced_per_hour", "0").unwrap();
        assert_eq!(s.circuit_breaker, None);
        assert!(s.protected_principals.is_empty());
    }

    #[test]
    fn set_refuses_unknown_keys_and_values_with_the_accepted_ones_and_changes_nothing() {
        let mut s = Settings::default();
        let before = s.clone();
        let cases: &[(&str, &str, &str)] = &[
            ("moed", "enforce", SETTABLE_KEYS),
            ("version", "2", SETTABLE_KEYS),
            (
                "mode",
                "enforcing",
                "accepted values: off, dry-run, approve, enforce",
            ),
            (
                "mode",
                "Enforce",
                "accepted values: off, dry-run, approve, enforce",
            ),
            ("min_severity", "high", "a number from 0 to 10"),
            ("min_severity", "10.5", "a number from 0 to 10"),
            ("finding_types", "", "finding-type prefixes"),
            (
                "finding_types",
                "Stealth:IAMUser/,TorIPCaller",
                "finding-type prefixes",
            ),
            ("protected_principals", "bob\"}", "wildcards"),
            (
                "strategy.identity_center",
                "auto",
                "accepted values: manual, permission-set-deny",
            ),
            ("follow_up", "on", "accepted values: off, dry-run, enforce"),
            (
                "strategy.role",
                "revoke",
                "deny-all, revoke-sessions, deny-session",
            ),
            ("strategy.user_deactivate_access_key", "yes", "true, false"),
            (
                "circuit_breaker.max_enforced_per_hour",
                "10001",
                "from 0 (no limit) to 10000",
            ),
            ("circuit_breaker.max_enforced_per_hour", "-3", "or unset"),
            ("mode_by_account.1234", "off", "12-digit"),
            (
                "mode_by_account.123456789012",
                "on",
                "or unset to remove the override",
            ),
            ("mode_by_finding_type.*", "off", "finding-type prefixes"),
        ];
        for (key, value, accepted) in cases {
            let e = s.set(key, value).unwrap_err().to_string();
            assert!(e.contains(accepted), "{key}={value}: {e}");
            assert!(!e.contains("line "), "{key}={value}: {e}");
        }
        assert_eq!(s, before);
        assert_eq!(
            s.set("mode", "enforcing").unwrap_err().to_string(),
            "mode \"enforcing\" is not accepted; accepted values: off, dry-run, approve, enforce"
        );
    }

    #[test]
    fn env_fallback_is_a_settings_document_too() {
        let s = Settings::from_lookup(|k| match k {
            "DEADBOLT_MODE" => Some("enforce".into()),
            "DEADBOLT_MIN_SEVERITY" => Some("5".into()),
            "DEADBOLT_PROTECTED_PRINCIPALS" => Some("Break-Glass-*".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.mode, Mode::Enforce);
        assert_eq!(s.min_severity, 5.0);
        assert_eq!(s.protected_principals, vec!["break-glass-*"]);
        assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
        // A fresh stack with no document: the default breaker is in force.
        assert_eq!(
            s.max_enforced_per_hour(),
            Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
        );
        let with_breaker =
            Settings::parse(r#"{"circuit_breaker":{"max_enforced_per_hour":3}}"#).unwrap();
        assert_eq!(with_breaker.max_enforced_per_hour(), Some(3));
    }

    #[test]
    fn max_finding_age_takes_a_duration_with_a_unit() {
        let s = Settings::parse(r#"{"max_finding_age": "90m"}"#).unwrap();
        assert_eq!(s.max_finding_age_secs, 5400);
        assert_eq!(Settings::default().max_finding_age_secs, 86_400);
        assert!(s.to_json_pretty().contains("\"max_finding_age\": \"90m\""));
        assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
        for (text, problem) in [
            (r#"{"max_finding_age": "24"}"#, "has no unit"),
            (r#"{"max_finding_age": "0h"}"#, "is out of range"),
            (r#"{"max_finding_age": "31d"}"#, "is out of range"),
            (r#"{"max_finding_age": "1.5h"}"#, "not a whole number"),
            (r#"{"max_finding_age": 3600}"#, "has the wrong type"),
        ] {
            let e = err(text).to_string();
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.contains("such as \"24h\""), "{text}: {e}");
        }
        let mut s = Settings::default();
        s.set("max_finding_age", "2d").unwrap();
        assert_eq!(s.max_finding_age_secs, 2 * 86_400);
        assert!(s.set("max_finding_age", "soon").is_err());
    }

    #[test]
    fn member_accounts_take_ids_or_star_and_member_role_an_iam_name() {
        let s =
            Settings::parse(r#"{"member_accounts": ["111111111111", "222222222222"]}"#).unwrap();
        assert!(s.is_member_account("111111111111"));
        assert!(!s.is_member_account("333333333333"));
        assert_eq!(s.member_role, "deadbolt-member");
        let any =
            Settings::parse(r#"{"member_accounts": "*", "member_role": "sec-deadbolt"}"#).unwrap();
        assert!(any.is_member_account("333333333333"));
        assert_eq!(any.member_role, "sec-deadbolt");
        assert_eq!(Settings::parse(&any.to_json_pretty()).unwrap(), any);
        assert!(!Settings::default().is_member_account("111111111111"));
        for (doc, says) in [
            (r#"{"member_accounts": ["1111"]}"#, "member_accounts[0]"),
            (
                r#"{"member_accounts": "111111111111"}"#,
                "has the wrong type",
            ),
            (
                r#"{"member_accounts": [111111111111]}"#,
                "member_accounts[0]",
            ),
            (r#"{"member_role": "a/b"}"#, "is not an IAM role name"),
            (r#"{"member_role": ""}"#, "is not an IAM role name"),
        ] {
            let e = Settings::parse(doc).unwrap_err().to_string();
            assert!(e.contains(says), "{doc}: {e}");
            assert!(e.contains("member_"), "{doc}: {e}");
        }
        let mut s = Settings::default();
        s.set("member_accounts", "111111111111, 222222222222")
            .unwrap();
        assert_eq!(s.member_accounts, ["111111111111", "222222222222"]);
        assert!(s.set("member_accounts", "111111111111,x").is_err());
        assert_eq!(s.member_accounts.len(), 2, "a refused set changes nothing");
        s.set("member_role", "deadbolt-hub").unwrap();
        assert_eq!(s.member_role, "deadbolt-hub");
        s.set("member_accounts", "").unwrap();
        assert!(s.member_accounts.is_empty());
    }

    #[test]
    fn strategy_by_finding_type_overrides_the_role_strategy_per_prefix() {
        let d = Settings::default();
        let exfil = "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS";
        assert_eq!(d.role_strategy_for(exfil), RoleStrategy::RevokeSessions);
        assert_eq!(
            d.role_strategy_for(
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"
            ),
            RoleStrategy::RevokeSessions
        );
        assert_eq!(
            d.role_strategy_for("UnauthorizedAccess:IAMUser/TorIPCaller"),
            RoleStrategy::DenyAll
        );
        // The document replaces the map; the longest prefix wins; strategy.role is the rest.
        let s = Settings::parse(
            r#"{"strategy": {"role": "deny-session"}, "strategy_by_finding_type": {"UnauthorizedAccess:IAMUser/": "deny-all", "UnauthorizedAccess:IAMUser/TorIPCaller": "revoke-sessions"}}"#,
        )
        .unwrap();
        assert_eq!(
            s.role_strategy_for("UnauthorizedAccess:IAMUser/TorIPCaller"),
            RoleStrategy::RevokeSessions
        );
        assert_eq!(s.role_strategy_for(exfil), RoleStrategy::DenyAll);
        assert_eq!(
            s.role_strategy_for("Discovery:IAMUser/AnomalousBehavior"),
            RoleStrategy::DenySession
        );
        assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
        assert!(d.to_json_pretty().contains(
            "\"UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration\": \"revoke-sessions\""
        ));
        // `null` keeps the defaults; `{}` removes every override.
        let null = Settings::parse(r#"{"strategy_by_finding_type": null}"#).unwrap();
        assert_eq!(null.strategy_by_finding_type, d.strategy_by_finding_type);
        let none = Settings::parse(r#"{"strategy_by_finding_type": {}}"#).unwrap();
        assert_eq!(none.role_strategy_for(exfil), RoleStrategy::DenyAll);
        // Typed problems with line, column and the accepted values.
        for (text, expected) in [
            (
                "{\"strategy_by_finding_type\": {\"Stealth:IAMUser/\": \"revoke\"}}",
                "line 1, column 58: strategy_by_finding_type.Stealth:IAMUser/ \"revoke\" is not accepted; accepted values: deny-all, revoke-sessions, deny-session",
            ),
            (
                "{\n \"strategy_by_finding_type\": {\"TorIPCaller\": \"deny-all\"}}",
                "line 2, column 43: strategy_by_finding_type key \"TorIPCaller\" is not a finding-type prefix; accepted values: finding-type prefixes",
            ),
            (
                "{\"strategy_by_finding_type\": [\"deny-all\"]}",
                "strategy_by_finding_type has the wrong type: sequence",
            ),
        ] {
            let e = err(text).to_string();
            assert!(e.starts_with(expected) || e.contains(expected), "{text}: {e}");
        }
        // config set, validated the same way; unset removes one override.
        let mut s = Settings::default();
        s.set("strategy_by_finding_type.PenTest:IAMUser/", "deny-session")
            .unwrap();
        assert_eq!(
            s.role_strategy_for("PenTest:IAMUser/KaliLinux"),
            RoleStrategy::DenySession
        );
        s.set(
            "strategy_by_finding_type.UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration",
            "unset",
        )
        .unwrap();
        assert_eq!(s.role_strategy_for(exfil), RoleStrategy::DenyAll);
        assert!(s
            .set("strategy_by_finding_type.PenTest:IAMUser/", "revoke")
            .is_err());
        assert!(s.set("strategy_by_finding_type.*", "deny-all").is_err());
        assert_eq!(
            Settings::default()
                .diff(&s)
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            [
                "strategy_by_finding_type.PenTest:IAMUser/: added \"deny-session\"",
                "strategy_by_finding_type.UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration: removed \"revoke-sessions\""
            ]
        );
    }

    #[test]
    fn notify_only_families_need_an_explicit_finding_type() {
        let d = Settings::default();
        let t = "Policy:S3/BucketBlockPublicAccessDisabled";
        assert_eq!(d.notify_only_family(t), Some("Policy:S3/"));
        let star = Settings::parse(r#"{"finding_types": ["*"]}"#).unwrap();
        assert_eq!(star.notify_only_family(t), Some("Policy:S3/"));
        let named = Settings::parse(r#"{"finding_types": ["Policy:S3/"]}"#).unwrap();
        assert_eq!(named.notify_only_family(t), None);
        let broad = Settings::parse(r#"{"finding_types": ["Policy:"]}"#).unwrap();
        assert_eq!(broad.notify_only_family(t), Some("Policy:S3/"));
        assert_eq!(
            d.notify_only_family("Exfiltration:S3/MaliciousIPCaller"),
            None
        );
    }
}
