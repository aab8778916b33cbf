//! The runtime configuration document (version 1): one JSON object operators keep in SSM
//! Parameter Store and change with `deadbolt config set`. Reading the parameter and refreshing
//! it are an adapter's job; this module only parses, validates, edits and renders it.
//! Every key and accepted value: `docs/configuration.md`.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere, each value validated while it is read)
//! because a document that half-parses could switch enforcement on for the wrong findings.
//! Every error names the line and column, the key path and the accepted values. A document that
//! does not validate must never be used for enforcement: the caller keeps the last good
//! [`Settings`] or falls back to dry-run.

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use crate::breaker::CircuitBreaker;
use crate::config::{
    effective_mode, is_finding_type_prefix, is_principal_pattern, split_list, Config, Mode,
    DEFAULT_FINDING_TYPES,
};
use crate::glob::Glob;
pub use crate::strategy::StrategySettings;
use crate::strategy::{IdentityCenterStrategy, RoleStrategy};

/// The document version this build reads and writes.
pub const SETTINGS_VERSION: u32 = 1;
/// SSM's advanced tier stores 8 KB; anything far beyond that is not a configuration document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Upper bound for `circuit_breaker.max_enforced_per_hour`. The breaker keeps one timestamp
/// per admitted block, and a limit this high no longer limits anything.
pub const MAX_ENFORCED_PER_HOUR_LIMIT: u32 = 10_000;

/// Top-level keys of the document.
pub const KEYS: &str = "version, mode, min_severity, finding_types, protected_principals, mode_by_finding_type, mode_by_account, strategy, follow_up, circuit_breaker";
/// Keys of the `strategy` object.
pub const STRATEGY_KEYS: &str = "role, user_deactivate_access_key, identity_center";
/// Keys of the `circuit_breaker` object.
pub const CIRCUIT_BREAKER_KEYS: &str = "max_enforced_per_hour";
/// Keys [`Settings::set`] accepts.
pub const SETTABLE_KEYS: &str = "mode, min_severity, finding_types, protected_principals, strategy.role, strategy.user_deactivate_access_key, strategy.identity_center, follow_up, circuit_breaker.max_enforced_per_hour, mode_by_account.<12-digit account id>, mode_by_finding_type.<finding-type prefix>";

const VERSION_ACCEPTED: &str = "1";
const SEVERITY_ACCEPTED: &str =
    "a number from 0 to 10 (GuardDuty: low 1-3.9, medium 4-6.9, high 7-8.9, critical 9-10)";
const FINDING_TYPES_ACCEPTED: &str = "a non-empty list of GuardDuty finding-type prefixes containing ':' such as \"Stealth:IAMUser/\" or \"UnauthorizedAccess:IAMUser/TorIPCaller\", or \"*\" for every type";
const PATTERNS_ACCEPTED: &str = "a list of IAM names or ARNs with * and ? wildcards, e.g. \"break-glass-*\" (letters, digits, _+=,.@- and * ? : /)";
const FINDING_TYPE_KEY_ACCEPTED: &str = "finding-type prefixes containing ':' such as \"PenTest:IAMUser/\" (not \"*\": set \"mode\" for every type)";
const ACCOUNT_KEY_ACCEPTED: &str = "12-digit AWS account ids such as \"123456789012\"";
const BOOL_ACCEPTED: &str = "true, false";
const MAX_PER_HOUR_ACCEPTED: &str = "a whole number from 1 to 10000";
const OVERRIDE_ACCEPTED: &str = "off, dry-run, enforce, or unset to remove the override";
const BREAKER_SET_ACCEPTED: &str = "a whole number from 1 to 10000, or unset to remove the breaker";

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
    /// Mode per 12-digit account id (wins over everything).
    pub mode_by_account: BTreeMap<String, Mode>,
    pub strategy: StrategySettings,
    /// `None`: no limit on enforced containments.
    pub circuit_breaker: Option<CircuitBreakerSettings>,
    /// What the enricher does with entities the attacker created (users, roles, access keys
    /// found by the investigation): `off` by default.
    pub follow_up: Mode,
}

impl Default for Settings {
    /// The same defaults as the environment variables: dry-run, the IAM families, severity 0,
    /// nothing protected, no overrides, deny-all everywhere, no circuit breaker.
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
            circuit_breaker: None,
            follow_up: Mode::Off,
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
        let mut de = serde_json::Deserializer::from_str(text);
        let Root(doc) = serde_path_to_error::deserialize(&mut de).map_err(from_serde)?;
        de.end().map_err(|e| SettingsError::Syntax {
            line: e.line(),
            column: e.column(),
            message: serde_message(&e),
        })?;
        Ok(doc.into_settings())
    }

    /// The document, pretty-printed, every key present (except an absent circuit breaker), so
    /// `config show` tells the operator exactly what is in force. `parse` reads it back equal.
    pub fn to_json_pretty(&self) -> String {
        let out = DocumentOut {
            version: SETTINGS_VERSION,
            mode: self.mode,
            min_severity: self.min_severity,
            finding_types: &self.finding_types,
            protected_principals: &self.protected_principals,
            mode_by_finding_type: &self.mode_by_finding_type,
            mode_by_account: &self.mode_by_account,
            strategy: &self.strategy,
            follow_up: self.follow_up,
            circuit_breaker: self.circuit_breaker.as_ref(),
        };
        // Plain data with string keys and finite numbers (validated) cannot fail to serialise.
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    /// The environment-variable configuration as a document: what applies when no document is
    /// configured or readable. Protected patterns come back lower-cased (matching is
    /// case-insensitive, so nothing changes).
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            mode: config.mode,
            min_severity: config.min_severity,
            finding_types: config.finding_types.clone(),
            protected_principals: config
                .protected
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            mode_by_finding_type: config.mode_by_finding_type.clone(),
            mode_by_account: config.mode_by_account.clone(),
            strategy: config.strategy,
            follow_up: config.follow_up,
            circuit_breaker: config.max_enforced_per_hour.map(|max_enforced_per_hour| {
                CircuitBreakerSettings {
                    max_enforced_per_hour,
                }
            }),
        }
    }

    /// The part of the document `decide` uses.
    pub fn to_config(&self) -> Config {
        Config {
            mode: self.mode,
            finding_types: self.finding_types.clone(),
            min_severity: self.min_severity,
            protected: self
                .protected_principals
                .iter()
                .map(|p| Glob::new(p))
                .collect(),
            mode_by_finding_type: self.mode_by_finding_type.clone(),
            mode_by_account: self.mode_by_account.clone(),
            max_enforced_per_hour: self.circuit_breaker.map(|c| c.max_enforced_per_hour),
            strategy: self.strategy,
            follow_up: self.follow_up,
        }
    }

    /// The mode for one finding: account override > finding-type override (longest matching
    /// prefix) > `mode`.
    pub fn effective_mode(&self, finding_type: &str, account_id: &str) -> Mode {
        effective_mode(
            self.mode,
            &self.mode_by_finding_type,
            &self.mode_by_account,
            finding_type,
            account_id,
        )
    }

    /// A fresh breaker for this document's limit, `None` without one.
    pub fn circuit_breaker(&self) -> Option<CircuitBreaker> {
        self.circuit_breaker
            .map(|c| CircuitBreaker::new(c.max_enforced_per_hour))
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
                self.follow_up =
                    parse_word(value).ok_or_else(|| invalid(not_accepted(), Mode::ACCEPTED))?;
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
                    None
                } else {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| invalid(not_accepted(), BREAKER_SET_ACCEPTED))?;
                    let max =
                        check_max_per_hour(n).map_err(|p| invalid(p, BREAKER_SET_ACCEPTED))?;
                    Some(CircuitBreakerSettings {
                        max_enforced_per_hour: max,
                    })
                };
            }
            _ => {
                if let Some(account) = key.strip_prefix("mode_by_account.") {
                    let account =
                        check_account(account).map_err(|p| SettingsError::InvalidValue {
                            key: "mode_by_account".into(),
                            problem: format!("key {p}"),
                            position: None,
                            accepted: ACCOUNT_KEY_ACCEPTED.into(),
                        })?;
                    set_override(&mut self.mode_by_account, account, value)
                        .map_err(|p| invalid(p, OVERRIDE_ACCEPTED))?;
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

fn set_override(map: &mut BTreeMap<String, Mode>, key: String, value: &str) -> Result<(), String> {
    if value == "unset" {
        map.remove(&key);
    } else {
        let mode = parse_word(value).ok_or_else(|| format!("{value:?} is not accepted"))?;
        map.insert(key, mode);
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

fn check_max_per_hour(n: u64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if (1..=MAX_ENFORCED_PER_HOUR_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("{n} is out of range")),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

// ---- the wire format. Newtypes validate while deserialising, so a bad value is reported at
// its own line and column rather than after the whole document was read.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    // Read only to be validated: there is one version, so nothing else depends on it.
    #[allow(dead_code)]
    version: Option<Version>,
    mode: Option<Mode>,
    min_severity: Option<Severity>,
    finding_types: Option<FindingTypes>,
    protected_principals: Option<Vec<Pattern>>,
    mode_by_finding_type: Option<UniqueMap<FindingTypeKey, Mode>>,
    mode_by_account: Option<UniqueMap<AccountId, Mode>>,
    #[serde(default, deserialize_with = "object")]
    strategy: Option<StrategyDocument>,
    follow_up: Option<Mode>,
    #[serde(default, deserialize_with = "object")]
    circuit_breaker: Option<CircuitBreakerDocument>,
}

/// The document itself: a JSON object and nothing else.
struct Root(Document);

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectOnly::<Document> {
            allow_null: false,
            marker: PhantomData,
        })
        .and_then(|doc| {
            doc.ok_or_else(|| de::Error::custom("invalid type: null, expected a JSON object"))
        })
        .map(Root)
    }
}

/// A nested object (`strategy`, `circuit_breaker`), or `null` for absent.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(ObjectOnly {
        allow_null: true,
        marker: PhantomData,
    })
}

/// serde's derived structs also accept a JSON array of the fields in declaration order, which
/// would make `[null, "enforce"]` a valid document. Only objects are configuration.
struct ObjectOnly<T> {
    allow_null: bool,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.allow_null {
            Ok(None)
        } else {
            Err(de::Error::invalid_type(de::Unexpected::Unit, &self))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyDocument {
    role: Option<RoleStrategy>,
    user_deactivate_access_key: Option<bool>,
    identity_center: Option<IdentityCenterStrategy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CircuitBreakerDocument {
    // Required: an empty `circuit_breaker` object would say "limit" without saying how much.
    max_enforced_per_hour: MaxPerHour,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "u64")]
struct Version;
impl TryFrom<u64> for Version {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v == u64::from(SETTINGS_VERSION) {
            Ok(Version)
        } else {
            Err(format!("{v} is not a version this deadbolt reads"))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
struct Severity(f64);
impl TryFrom<f64> for Severity {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        check_severity(v).map(Severity)
    }
}

#[derive(Deserialize)]
#[serde(try_from = "Vec<String>")]
struct FindingTypes(Vec<String>);
impl TryFrom<Vec<String>> for FindingTypes {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Self, String> {
        v.iter()
            .map(|t| check_finding_type(t, true))
            .collect::<Result<Vec<_>, _>>()
            .and_then(check_non_empty)
            .map(FindingTypes)
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Pattern(String);
impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        check_pattern(&v).map(Pattern)
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct FindingTypeKey(String);
impl TryFrom<String> for FindingTypeKey {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        // "key …": tells `from_serde` the key, not the value, is wrong (both share one path).
        check_finding_type(&v, false)
            .map(FindingTypeKey)
            .map_err(|p| format!("key {p}"))
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct AccountId(String);
impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        check_account(&v)
            .map(AccountId)
            .map_err(|p| format!("key {p}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "u64")]
struct MaxPerHour(u32);
impl TryFrom<u64> for MaxPerHour {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        check_max_per_hour(v).map(MaxPerHour)
    }
}

/// A JSON object read into a map that refuses a repeated key: serde's maps keep the last
/// value silently, and `{"123456789012":"off","123456789012":"enforce"}` must not quietly
/// mean enforce.
struct UniqueMap<K, V>(BTreeMap<K, V>);

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + KeyText,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Ord + KeyText,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    let value = map.next_value::<V>()?;
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format_args!(
                            "duplicate field `{}`",
                            key.text()
                        )));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

/// The key as written, for the duplicate-key message.
trait KeyText {
    fn text(&self) -> &str;
}
impl KeyText for FindingTypeKey {
    fn text(&self) -> &str {
        &self.0
    }
}
impl KeyText for AccountId {
    fn text(&self) -> &str {
        &self.0
    }
}

impl Document {
    fn into_settings(self) -> Settings {
        let d = Settings::default();
        let s = self.strategy;
        Settings {
            mode: self.mode.unwrap_or(d.mode),
            min_severity: self.min_severity.map_or(d.min_severity, |s| s.0),
            finding_types: self.finding_types.map_or(d.finding_types, |t| t.0),
            protected_principals: self
                .protected_principals
                .map(|p| p.into_iter().map(|p| p.0).collect())
                .unwrap_or(d.protected_principals),
            mode_by_finding_type: self
                .mode_by_finding_type
                .map(|m| m.0.into_iter().map(|(k, v)| (k.0, v)).collect())
                .unwrap_or_default(),
            mode_by_account: self
                .mode_by_account
                .map(|m| m.0.into_iter().map(|(k, v)| (k.0, v)).collect())
                .unwrap_or_default(),
            strategy: StrategySettings {
                role: s.as_ref().and_then(|s| s.role).unwrap_or_default(),
                user_deactivate_access_key: s
                    .as_ref()
                    .and_then(|s| s.user_deactivate_access_key)
                    .unwrap_or(false),
                identity_center: s
                    .as_ref()
                    .and_then(|s| s.identity_center)
                    .unwrap_or_default(),
            },
            follow_up: self.follow_up.unwrap_or(d.follow_up),
            circuit_breaker: self.circuit_breaker.map(|c| CircuitBreakerSettings {
                max_enforced_per_hour: c.max_enforced_per_hour.0,
            }),
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    circuit_breaker: Option<&'a CircuitBreakerSettings>,
}

// ---- turning serde's errors into SettingsError.

/// serde_json's message without its " at line L column C" suffix (we report the position
/// ourselves, in the same words for every error).
fn serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// The text between the first pair of backticks after `prefix` (serde's wording for unknown,
/// duplicate and missing fields and unknown variants).
fn backticked<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.strip_prefix(prefix)?.split('`').next()
}

fn join(parent: &[String], key: &str) -> String {
    let mut out = parent.join(".");
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
    out
}

/// Accepted keys of the object at `parent`.
fn accepted_keys(parent: &[String]) -> &'static str {
    match parent.first().map(String::as_str) {
        Some("strategy") => STRATEGY_KEYS,
        Some("circuit_breaker") => CIRCUIT_BREAKER_KEYS,
        Some("mode_by_account") => ACCOUNT_KEY_ACCEPTED,
        Some("mode_by_finding_type") => FINDING_TYPE_KEY_ACCEPTED,
        _ => KEYS,
    }
}

/// Accepted values at `path` (segments; sequence indices are their own `[i]` segments).
fn accepted_values(path: &[String]) -> &'static str {
    let first = path.first().map(String::as_str);
    let second = path.get(1).map(String::as_str);
    match (first, second) {
        (None, _) => "a JSON object with the keys version, mode, min_severity, finding_types, protected_principals, mode_by_finding_type, mode_by_account, strategy, follow_up, circuit_breaker",
        (Some("version"), _) => VERSION_ACCEPTED,
        (Some("mode" | "follow_up"), _) => Mode::ACCEPTED,
        (Some("min_severity"), _) => SEVERITY_ACCEPTED,
        (Some("finding_types"), _) => FINDING_TYPES_ACCEPTED,
        (Some("protected_principals"), _) => PATTERNS_ACCEPTED,
        (Some("mode_by_finding_type"), None) => {
            "an object whose keys are finding-type prefixes containing ':' and whose values are off, dry-run, enforce"
        }
        (Some("mode_by_account"), None) => {
            "an object whose keys are 12-digit account ids and whose values are off, dry-run, enforce"
        }
        (Some("mode_by_finding_type" | "mode_by_account"), Some(_)) => Mode::ACCEPTED,
        (Some("strategy"), None) => "an object with the keys role, user_deactivate_access_key, identity_center",
        (Some("strategy"), Some("role")) => RoleStrategy::ACCEPTED,
        (Some("strategy"), Some("identity_center")) => IdentityCenterStrategy::ACCEPTED,
        (Some("strategy"), Some(_)) => BOOL_ACCEPTED,
        (Some("circuit_breaker"), None) => "an object with the key max_enforced_per_hour",
        (Some("circuit_breaker"), Some(_)) => MAX_PER_HOUR_ACCEPTED,
        (Some(_), _) => KEYS,
    }
}

fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> SettingsError {
    let path: Vec<String> = err
        .path()
        .iter()
        .map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
            serde_path_to_error::Segment::Map { key } => key.clone(),
            serde_path_to_error::Segment::Enum { variant } => variant.clone(),
            serde_path_to_error::Segment::Unknown => "?".to_string(),
        })
        .collect();
    let inner = err.inner();
    let msg = serde_message(inner);
    let position = Some(Position {
        line: inner.line(),
        column: inner.column(),
    });
    if inner.classify() != serde_json::error::Category::Data {
        return SettingsError::Syntax {
            line: inner.line(),
            column: inner.column(),
            message: msg,
        };
    }
    // Display of a key path: `strategy.role`, `finding_types[1]`.
    let display = |segments: &[String]| {
        let mut out = String::new();
        for s in segments {
            if !out.is_empty() && !s.starts_with('[') {
                out.push('.');
            }
            out.push_str(s);
        }
        if out.is_empty() {
            "the document".to_string()
        } else {
            out
        }
    };
    // serde_path_to_error may or may not have pushed the offending key itself; either way the
    // parent is the path without it.
    let parent_of = |key: &str| -> Vec<String> {
        let mut p = path.clone();
        if p.last().map(String::as_str) == Some(key) {
            p.pop();
        }
        p
    };
    if let Some(key) = backticked(&msg, "unknown field `") {
        let parent = parent_of(key);
        return SettingsError::UnknownKey {
            key: join(&parent, key),
            position,
            accepted: accepted_keys(&parent).to_string(),
        };
    }
    if let Some(key) = backticked(&msg, "duplicate field `") {
        return SettingsError::DuplicateKey {
            key: join(&parent_of(key), key),
            position,
        };
    }
    if let Some(key) = backticked(&msg, "missing field `") {
        let mut full = parent_of(key);
        full.push(key.to_string());
        return SettingsError::MissingKey {
            key: display(&full),
            position,
            accepted: accepted_values(&full).to_string(),
        };
    }
    if msg.starts_with("key ") && path.len() >= 2 {
        // A map key failed its validator: report it against the map, with the accepted keys.
        return SettingsError::InvalidValue {
            key: path[0].clone(),
            problem: msg.clone(),
            position,
            accepted: accepted_keys(&path[..1]).to_string(),
        };
    }
    let problem = if let Some(found) = backticked(&msg, "unknown variant `") {
        format!("{found:?} is not accepted")
    } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let found = rest.split(", expected").next().unwrap_or(rest);
        format!("has the wrong type: {found}")
    } else if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let found = rest.split(", expected").next().unwrap_or(rest);
        format!("has an invalid value: {found}")
    } else {
        // Our own validators' wording (`11 is out of range`).
        msg.clone()
    };
    SettingsError::InvalidValue {
        key: display(&path),
        problem,
        position,
        accepted: accepted_values(&path).to_string(),
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
        assert_eq!(Settings::default().to_config(), Config::default());
        assert_eq!(
            Settings::from_config(&Config::default()),
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
        let none = Settings::default();
        assert!(!none.to_json_pretty().contains("circuit_breaker"));
        assert_eq!(Settings::parse(&none.to_json_pretty()).unwrap(), none);
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
        // The bridge to `decide` keeps the precedence.
        let c = s.to_config();
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
            "line 3, column 21: mode \"enforcing\" is not accepted; accepted values: off, dry-run, enforce"
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
                "accepted values: off, dry-run, enforce",
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
                r#"{"circuit_breaker": {"max_enforced_per_hour": 0}}"#,
                "circuit_breaker.max_enforced_per_hour 0 is out of range",
                "from 1 to 10000",
            ),
            (
                r#"{"circuit_breaker": {"max_enforced_per_hour": 2.5}}"#,
                "circuit_breaker.max_enforced_per_hour has the wrong type",
                "from 1 to 10000",
            ),
            (
                r#"{"circuit_breaker": {}}"#,
                "circuit_breaker.max_enforced_per_hour is missing",
                "from 1 to 10000",
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
        // The responder's configuration carries both.
        assert_eq!(s.to_config().strategy, s.strategy);
        assert_eq!(s.to_config().follow_up, Mode::DryRun);
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
                "accepted values: off, dry-run, enforce",
            ),
            ("mode", "Enforce", "accepted values: off, dry-run, enforce"),
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
                "0",
                "from 1 to 10000",
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
            "mode \"enforcing\" is not accepted; accepted values: off, dry-run, enforce"
        );
    }

    #[test]
    fn env_fallback_and_bridge_agree() {
        let config = Config::from_lookup(|k| match k {
            "DEADBOLT_MODE" => Some("enforce".into()),
            "DEADBOLT_MIN_SEVERITY" => Some("5".into()),
            "DEADBOLT_PROTECTED_PRINCIPALS" => Some("Break-Glass-*".into()),
            _ => None,
        })
        .unwrap();
        let s = Settings::from_config(&config);
        assert_eq!(s.mode, Mode::Enforce);
        assert_eq!(s.min_severity, 5.0);
        assert_eq!(s.protected_principals, vec!["break-glass-*"]);
        assert_eq!(s.to_config(), config);
        assert!(s.circuit_breaker().is_none());
        let with_breaker =
            Settings::parse(r#"{"circuit_breaker":{"max_enforced_per_hour":3}}"#).unwrap();
        assert_eq!(
            with_breaker.circuit_breaker().map(|b| b.max_per_hour()),
            Some(3)
        );
    }
}
