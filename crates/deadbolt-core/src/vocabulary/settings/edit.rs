//! `deadbolt config set KEY VALUE`: one key changed, validated exactly as the document is.

use super::*;

impl Settings {
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
pub(super) fn parse_word<T: DeserializeOwned>(value: &str) -> Option<T> {
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
