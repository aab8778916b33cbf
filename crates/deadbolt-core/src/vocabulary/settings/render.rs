//! Writing the document back (`config show`) and what changed between two (`config history`).

use super::*;

impl Settings {
    /// The document, pretty-printed, every key present (except an absent circuit breaker), so
    /// `config show` tells the operator exactly what is in force. `parse` reads it back equal.
    pub fn to_json_pretty(&self) -> String {
        // Plain data with string keys and finite numbers (validated) cannot fail to serialise.
        serde_json::to_string_pretty(&self.document_out()).unwrap_or_default()
    }
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
