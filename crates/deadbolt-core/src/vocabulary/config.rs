//! The configuration's vocabulary (modes, default finding types) and its first source: the
//! `DEADBOLT_*` environment variables (SAM parameters), which parse into the one configuration
//! type, [`Settings`]. The settings document in SSM (`crate::settings`) overrides them when it
//! exists. A variable that does not parse is a start-up error, never a silent default.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::settings::Settings;

pub const ENV_MODE: &str = "DEADBOLT_MODE";
pub const ENV_FINDING_TYPES: &str = "DEADBOLT_FINDING_TYPES";
pub const ENV_MIN_SEVERITY: &str = "DEADBOLT_MIN_SEVERITY";
pub const ENV_PROTECTED_PRINCIPALS: &str = "DEADBOLT_PROTECTED_PRINCIPALS";
/// Member accounts contained through the member role: comma-separated 12-digit ids, or `*`.
pub const ENV_MEMBER_ACCOUNTS: &str = "DEADBOLT_MEMBER_ACCOUNTS";
/// The role assumed in a member account (default `deadbolt-member`).
pub const ENV_MEMBER_ROLE: &str = "DEADBOLT_MEMBER_ROLE";

/// Finding-type prefixes that may trigger containment by default: the IAM finding families
/// whose credentials an inline Deny can restrain. Prefixes, not exact names, because GuardDuty
/// renames types (`InstanceCredentialExfiltration` became `.OutsideAWS` / `.InsideAWS`) and an
/// exact list silently stops matching. `Policy:IAMUser/RootCredentialUsage` is deliberately
/// absent: root cannot be contained by a policy, and root use is often legitimate.
pub const DEFAULT_FINDING_TYPES: &[&str] = &[
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "Stealth:IAMUser/PasswordPolicyChange",
    "UnauthorizedAccess:IAMUser/TorIPCaller",
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
    "CredentialAccess:IAMUser/AnomalousBehavior",
    "DefenseEvasion:IAMUser/AnomalousBehavior",
    "Discovery:IAMUser/AnomalousBehavior",
    "Exfiltration:IAMUser/AnomalousBehavior",
    "Impact:IAMUser/AnomalousBehavior",
    "InitialAccess:IAMUser/AnomalousBehavior",
    "Persistence:IAMUser/AnomalousBehavior",
    "PrivilegeEscalation:IAMUser/AnomalousBehavior",
    "PenTest:IAMUser/",
    // Newer IAM types: a disabled Bedrock invocation log hides what stolen credentials do with
    // models; Lambda and ECS execution-role credentials used elsewhere (contained with
    // revoke-sessions by default, see DEFAULT_STRATEGY_BY_FINDING_TYPE).
    "DefenseEvasion:IAMUser/BedrockLoggingDisabled",
    "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration",
    // Extended Threat Detection: the IAM attack sequence (critical), every principal it names.
    "AttackSequence:IAM/",
];

/// Finding families deadbolt records (the record is the notification) but does not contain
/// unless `finding_types` names them explicitly (`*` does not): `Policy:S3/*` reports a bucket
/// made public or its protections removed, which a Deny on the caller does not undo.
pub const NOTIFY_ONLY_FAMILIES: &[&str] = &["Policy:S3/"];

/// Role strategy per finding-type prefix by default: credentials exfiltrated from a workload
/// (an EC2 instance, a Lambda function, an ECS task) are contained with `revoke-sessions`: the
/// stolen token dies, and the workload's next credentials (issued after the containment) work.
pub const DEFAULT_STRATEGY_BY_FINDING_TYPE: &[(&str, crate::settings::RoleStrategy)] = &[
    (
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
        crate::settings::RoleStrategy::RevokeSessions,
    ),
    (
        "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration",
        crate::settings::RoleStrategy::RevokeSessions,
    ),
];

/// What deadbolt does with a finding it would contain.
///
/// `Deserialize` accepts exactly the four documented spellings (the configuration document is
/// strict); the environment variable's more lenient spellings go through [`Mode::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Decide and record, nothing else.
    Off,
    /// Decide, record and show the planned calls. The default.
    #[default]
    DryRun,
    /// Decide, record and write the DenyAll policy.
    Enforce,
    /// Decide and plan exactly as `enforce`, write nothing, and keep a pending approval that
    /// a person approves (`deadbolt approve ID`) or rejects; on expiry it is dropped, or
    /// contained where `approval.on_expiry` says `contain`.
    Approve,
}

impl Mode {
    pub const ACCEPTED: &'static str = "off, dry-run, approve, enforce";

    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Mode::Off),
            "dry-run" | "dryrun" | "dry_run" => Some(Mode::DryRun),
            "enforce" => Some(Mode::Enforce),
            "approve" => Some(Mode::Approve),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::DryRun => "dry-run",
            Mode::Approve => "approve",
            Mode::Enforce => "enforce",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value deadbolt did not understand. It names the variable, what was found
/// and what is accepted; deadbolt refuses to start rather than guess.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={found:?} is not a mode; accepted values: {accepted}")]
    Mode {
        var: &'static str,
        found: String,
        accepted: &'static str,
    },
    #[error("{var}={found:?} is not a severity; accepted values: a number from 0 to 10 (GuardDuty: low 1-3.9, medium 4-6.9, high 7-8.9, critical 9-10)")]
    Severity { var: &'static str, found: String },
    #[error("{var} entry {entry:?} is not a finding-type prefix; accepted values: comma-separated prefixes of GuardDuty types such as \"Stealth:IAMUser/\" or \"UnauthorizedAccess:IAMUser/TorIPCaller\", or \"*\" for every type")]
    FindingType { var: &'static str, entry: String },
    #[error("{var} entry {entry:?} is not a member account; accepted values: comma-separated 12-digit account ids, or \"*\" for every account whose findings GuardDuty hands this administrator")]
    MemberAccount { var: &'static str, entry: String },
    #[error("{var}={found:?} is not a role name; accepted values: {accepted}")]
    MemberRole {
        var: &'static str,
        found: String,
        accepted: &'static str,
    },
    #[error("{var} entry {entry:?} is not a principal pattern; accepted values: comma-separated IAM names or ARNs with * and ? wildcards, e.g. \"break-glass-*\"")]
    Protected { var: &'static str, entry: String },
    #[error("{var}={found:?} is not a time; accepted values: an RFC 3339 UTC time such as 2026-12-01T00:00:00Z (when the protected patterns were written)")]
    ProtectedSince { var: &'static str, found: String },
}

/// When `DEADBOLT_PROTECTED_PRINCIPALS` was written: its patterns protect only principals
/// created before then. Unset: they protect by name alone.
pub const ENV_PROTECTED_SINCE: &str = "DEADBOLT_PROTECTED_SINCE";
/// `enabled` where the stack granted the Security Hub write-back (SecurityHubWriteBack):
/// then, without a settings document, `security_hub.write_back` is on, as in the document
/// the stack writes.
pub const ENV_SECURITY_HUB: &str = "DEADBOLT_SECURITY_HUB";

impl Settings {
    /// The settings the `DEADBOLT_*` environment variables (SAM parameters) describe: what
    /// applies while no settings document is stored. Unset or blank variables take the
    /// document's defaults, so both sources mean the same thing by "not set".
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`Settings::from_env`], from any key lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        let value = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        settings.security_hub.write_back = value(ENV_SECURITY_HUB).as_deref() == Some("enabled");

        if let Some(v) = value(ENV_MODE) {
            settings.mode = Mode::parse(&v).ok_or_else(|| ConfigError::Mode {
                var: ENV_MODE,
                found: v.clone(),
                accepted: Mode::ACCEPTED,
            })?;
        }
        if let Some(v) = value(ENV_MIN_SEVERITY) {
            settings.min_severity = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (0.0..=10.0).contains(s))
                .ok_or(ConfigError::Severity {
                    var: ENV_MIN_SEVERITY,
                    found: v.clone(),
                })?;
        }
        if let Some(v) = value(ENV_FINDING_TYPES) {
            let mut types = Vec::new();
            for entry in split_list(&v) {
                if !(entry == "*" || is_finding_type_prefix(entry)) {
                    return Err(ConfigError::FindingType {
                        var: ENV_FINDING_TYPES,
                        entry: entry.to_string(),
                    });
                }
                types.push(entry.to_string());
            }
            settings.finding_types = types;
        }
        if let Some(v) = value(ENV_PROTECTED_PRINCIPALS) {
            for entry in split_list(&v) {
                if !is_principal_pattern(entry) {
                    return Err(ConfigError::Protected {
                        var: ENV_PROTECTED_PRINCIPALS,
                        entry: entry.to_string(),
                    });
                }
                // Matching is case-insensitive; the lower-case form is what `config show` prints.
                settings
                    .protected_principals
                    .push(entry.to_ascii_lowercase());
            }
        }
        if let Some(v) = value(ENV_PROTECTED_SINCE) {
            let at = chrono::DateTime::parse_from_rfc3339(v.trim()).map_err(|_| {
                ConfigError::ProtectedSince {
                    var: ENV_PROTECTED_SINCE,
                    found: v.clone(),
                }
            })?;
            for pattern in &settings.protected_principals {
                settings
                    .protected_since
                    .insert(pattern.clone(), at.timestamp_millis());
            }
        }
        if let Some(v) = value(ENV_MEMBER_ACCOUNTS) {
            settings.member_accounts = split_list(&v)
                .map(|entry| {
                    crate::settings::check_member_account(entry).map_err(|_| {
                        ConfigError::MemberAccount {
                            var: ENV_MEMBER_ACCOUNTS,
                            entry: entry.to_string(),
                        }
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = value(ENV_MEMBER_ROLE) {
            settings.member_role = crate::settings::check_member_role(v.trim()).map_err(|_| {
                ConfigError::MemberRole {
                    var: ENV_MEMBER_ROLE,
                    found: v.clone(),
                    accepted: crate::settings::MEMBER_ROLE_ACCEPTED,
                }
            })?;
        }
        Ok(settings)
    }
}

/// A GuardDuty finding-type prefix (`Stealth:IAMUser/`): every type has a `:` after its threat
/// purpose, so a prefix without one is almost certainly a mistake (a bare type name). Shared
/// with the configuration document so both sources accept exactly the same values.
pub(crate) fn is_finding_type_prefix(entry: &str) -> bool {
    entry.len() <= 256 && entry.contains(':') && entry.chars().all(|c| c.is_ascii_graphic())
}

/// A protected-principal pattern: IAM name characters, ARN separators and the two wildcards.
pub(crate) fn is_principal_pattern(entry: &str) -> bool {
    entry.len() <= 2048
        && entry
            .chars()
            .all(|c| crate::finding::is_iam_name_char(c) || matches!(c, '*' | '?' | ':' | '/'))
}

pub(crate) fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_dry_run_and_the_iam_families() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.mode, Mode::DryRun);
        assert_eq!(c.min_severity, 0.0);
        assert!(c.protected_principals.is_empty());
        assert!(c.finding_type_enabled("Stealth:IAMUser/CloudTrailLoggingDisabled"));
        assert!(c.finding_type_enabled(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
        ));
        assert!(c.finding_type_enabled("PenTest:IAMUser/KaliLinux"));
        assert!(!c.finding_type_enabled("Policy:IAMUser/RootCredentialUsage"));
        assert!(!c.finding_type_enabled("Backdoor:EC2/C&CActivity.B!DNS"));
    }

    #[test]
    fn blank_values_take_defaults() {
        let c = cfg(&[(ENV_MODE, "  "), (ENV_FINDING_TYPES, "")]).unwrap();
        assert_eq!(c, Settings::default());
    }

    #[test]
    fn parses_every_variable() {
        let c = cfg(&[
            (ENV_MODE, "Enforce"),
            (ENV_MIN_SEVERITY, "4.5"),
            (
                ENV_FINDING_TYPES,
                "Stealth:IAMUser/, PenTest:IAMUser/KaliLinux",
            ),
            (
                ENV_PROTECTED_PRINCIPALS,
                "break-glass-*, arn:aws:iam::*:role/Admin?",
            ),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.min_severity, 4.5);
        assert_eq!(
            c.finding_types,
            vec!["Stealth:IAMUser/", "PenTest:IAMUser/KaliLinux"]
        );
        assert!(c.finding_type_enabled("Stealth:IAMUser/PasswordPolicyChange"));
        assert!(!c.finding_type_enabled("PenTest:IAMUser/ParrotLinux"));
        assert_eq!(
            c.protected_principals,
            vec!["break-glass-*", "arn:aws:iam::*:role/admin?"]
        );
    }

    #[test]
    fn every_invalid_value_names_the_variable_and_accepted_values() {
        let cases: &[(&str, &str, &str)] = &[
            (
                ENV_MODE,
                "enforcing",
                "accepted values: off, dry-run, approve, enforce",
            ),
            (ENV_MIN_SEVERITY, "high", "a number from 0 to 10"),
            (ENV_MIN_SEVERITY, "11", "a number from 0 to 10"),
            (ENV_MIN_SEVERITY, "NaN", "a number from 0 to 10"),
            (
                ENV_FINDING_TYPES,
                "CloudTrailLoggingDisabled",
                "finding-type prefix",
            ),
            (ENV_PROTECTED_PRINCIPALS, "bob\"}", "principal pattern"),
        ];
        for (var, value, expected) in cases {
            let err = cfg(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn star_enables_every_type() {
        let c = cfg(&[(ENV_FINDING_TYPES, "*")]).unwrap();
        assert!(c.finding_type_enabled("Policy:IAMUser/RootCredentialUsage"));
    }

    #[test]
    fn member_accounts_and_role_from_the_environment() {
        let s = cfg(&[
            (ENV_MEMBER_ACCOUNTS, "111111111111, 222222222222"),
            (ENV_MEMBER_ROLE, "sec-deadbolt"),
        ])
        .unwrap();
        assert_eq!(s.member_accounts, ["111111111111", "222222222222"]);
        assert_eq!(s.member_role, "sec-deadbolt");
        assert!(cfg(&[(ENV_MEMBER_ACCOUNTS, "*")])
            .unwrap()
            .is_member_account("333333333333"));
        let e = cfg(&[(ENV_MEMBER_ACCOUNTS, "111111111111,nope")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("DEADBOLT_MEMBER_ACCOUNTS entry \"nope\""),
            "{e}"
        );
        let e = cfg(&[(ENV_MEMBER_ROLE, "role/x")]).unwrap_err();
        assert!(
            e.to_string().starts_with("DEADBOLT_MEMBER_ROLE=\"role/x\""),
            "{e}"
        );
        assert_eq!(cfg(&[]).unwrap().member_role, "deadbolt-member");
    }
}
