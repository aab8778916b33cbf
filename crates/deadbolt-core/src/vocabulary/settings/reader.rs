//! Reading the document: serde_json reads the JSON, and every rule about keys and values is
//! checked by the readers as soon as the key or value has been read, into a typed `Problem`,
//! so the error carries the position of what is wrong. Nothing here reads serde's messages.

use super::*;

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
}

/// Accepted values when the document is not a JSON object.
pub(super) const DOCUMENT_ACCEPTED: &str = "a JSON object with the keys version, mode, min_severity, finding_types, protected_principals, mode_by_finding_type, mode_by_account, strategy, follow_up, circuit_breaker, max_finding_age, member_accounts, member_role, strategy_by_finding_type, approval, approval_by_finding_type, security_hub";
pub(super) const APPROVAL_ACCEPTED: &str = "an object with the keys expires_after (a duration such as 15m or 24h, at most 7d) and on_expiry (drop or contain)";
pub(super) const APPROVAL_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are objects with expires_after and/or on_expiry";
pub(super) const SECURITY_HUB_ACCEPTED: &str =
    "an object with the keys write_back and resolve_on_contain (true or false)";
pub(super) const APPROVAL_EXPIRES_ACCEPTED: &str =
    "a duration from 1m to 7d, such as 15m, 2h or 24h";
pub(super) const STRATEGY_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are deny-all, revoke-sessions, deny-session";
pub(super) const STRATEGY_OVERRIDE_ACCEPTED: &str =
    "deny-all, revoke-sessions, deny-session, or unset to remove the override";
pub(super) const STRATEGY_ACCEPTED: &str =
    "an object with the keys role, user_deactivate_access_key, identity_center";
pub(super) const CIRCUIT_BREAKER_ACCEPTED: &str = "an object with the key max_enforced_per_hour";
pub(super) const MODE_BY_FINDING_TYPE_ACCEPTED: &str = "an object whose keys are finding-type prefixes containing ':' and whose values are off, dry-run, approve, enforce";
pub(super) const MODE_BY_ACCOUNT_ACCEPTED: &str =
    "an object whose keys are 12-digit account ids and whose values are off, dry-run, approve, enforce";

/// What is wrong with a document; `Settings::parse` adds the position.
#[derive(Debug)]
pub(super) enum Problem {
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
    pub(super) fn invalid(
        key: impl Into<String>,
        problem: String,
        accepted: &'static str,
    ) -> Problem {
        Problem::InvalidValue {
            key: key.into(),
            problem,
            accepted,
        }
    }

    /// `<key> has the wrong type: string "high"`, described from the value found.
    pub(super) fn wrong_type(
        key: impl Into<String>,
        found: &Value,
        accepted: &'static str,
    ) -> Problem {
        Problem::invalid(
            key,
            format!("has the wrong type: {}", describe(found)),
            accepted,
        )
    }

    pub(super) fn at(self, position: Position) -> SettingsError {
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
pub(super) struct Ctx<'p>(pub(super) &'p Cell<Option<Problem>>);

impl Ctx<'_> {
    pub(super) fn fail<E: de::Error>(self, problem: Problem) -> E {
        self.0.set(Some(problem));
        E::custom("invalid settings document")
    }
}

/// Reads one JSON value of the document. [`Walk`] hands it whatever JSON is there: readers of
/// objects and lists override `map` or `seq` and walk the entries; anything else arrives as a
/// `Value`, so a wrong type is described from what was actually found.
pub(super) trait Reader<'de>: Sized {
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
pub(super) struct Walk<R>(pub(super) R);

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
pub(super) struct Check<'p, F> {
    pub(super) ctx: Ctx<'p>,
    pub(super) check: F,
}

impl<'de, T, F: FnOnce(Value) -> Result<T, Problem>> Reader<'de> for Check<'_, F> {
    type Output = T;
    fn value<E: de::Error>(self, found: Value) -> Result<T, E> {
        (self.check)(found).map_err(|p| self.ctx.fail(p))
    }
}

/// The value of the key just read, validated by `check`; `None` for `null` (the default
/// applies, as for an absent key).
pub(super) fn optional_value<'de, A, T>(
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
pub(super) struct Keys<'p> {
    pub(super) ctx: Ctx<'p>,
    /// The object's key path (`strategy`), empty for the document itself.
    pub(super) parent: std::borrow::Cow<'static, str>,
    pub(super) seen: BTreeSet<String>,
}

impl<'p> Keys<'p> {
    pub(super) fn new(ctx: Ctx<'p>, parent: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Keys {
            ctx,
            parent: parent.into(),
            seen: BTreeSet::new(),
        }
    }

    pub(super) fn next<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
    ) -> Result<Option<String>, A::Error> {
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
    pub(super) fn path(&self, key: &str) -> String {
        if self.parent.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.parent)
        }
    }

    pub(super) fn unknown<E: de::Error>(&self, key: &str, accepted: &'static str) -> E {
        self.ctx.fail(Problem::UnknownKey {
            key: self.path(key),
            accepted,
        })
    }
}
