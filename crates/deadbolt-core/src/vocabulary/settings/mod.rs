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
//!
//! One concern per file: [`schema`] is the document's types and defaults and what they answer,
//! [`problems`] the typed refusals, [`reader`] and [`sections`] read a document (the
//! framework and the readers of each object), [`checks`] the rules for one value that the
//! reader and `config set` ([`edit`]) share, [`render`] writes a document back and diffs two.
//! The environment's configuration is [`crate::config`].

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
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

mod checks;
mod edit;
mod problems;
mod reader;
mod render;
mod schema;
mod sections;

pub use checks::*;
use edit::*;
pub use problems::*;
use reader::*;
pub use render::*;
pub use schema::*;
use sections::*;

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

#[cfg(test)]
mod tests;
