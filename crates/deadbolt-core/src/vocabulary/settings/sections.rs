//! The readers of the document and of each object in it.

use super::*;

/// The document: a JSON object and nothing else.
pub(super) struct DocumentReader<'p>(pub(super) Ctx<'p>);

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
    type Output = Option<SecurityHubSettings>;

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
        let mut out = SecurityHubSettings::default();
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
pub(super) fn check_approval_expiry(text: &str) -> Result<u64, String> {
    let secs = check_duration(text)?;
    if !(60..=7 * 86_400).contains(&secs) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(secs)
}

/// `0` is "no limit": no breaker.
pub(super) fn breaker_of(max_enforced_per_hour: u32) -> Option<CircuitBreakerSettings> {
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
