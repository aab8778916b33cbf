//! The settings document, read, refused, edited and compared.

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

mod keys;
mod protection_dates;
mod reading;
