//! The GuardDuty finding as EventBridge delivers it, and the one way to parse it.
//!
//! Parsing is defensive: the event is size- and depth-checked before serde sees it, every
//! error names the JSON path that is wrong, and the envelope is checked for consistency with
//! the finding inside it. Unknown fields are ignored (GuardDuty adds fields over time).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::record::Reason;

/// EventBridge's maximum event size. Anything larger did not come from EventBridge.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// GuardDuty findings nest about eight levels deep; 32 leaves ample room for new fields while
/// refusing the pathological nesting that is only ever an attack on the parser.
pub const MAX_JSON_DEPTH: usize = 32;

pub const GUARDDUTY_SOURCE: &str = "aws.guardduty";
pub const GUARDDUTY_DETAIL_TYPE: &str = "GuardDuty Finding";

/// The EventBridge envelope around a GuardDuty finding.
pub type GuardDutyEvent = EventBridgeEvent<Finding>;

/// A GuardDuty finding, schema 2.0 (the fields deadbolt uses).
///
/// `Default` only because `EventBridgeEvent` is `#[non_exhaustive]`: [`parse_event`] can build
/// one only from `GuardDutyEvent::default()`, which needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(default)]
    pub schema_version: Option<String>,
    pub id: String,
    pub arn: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: f64,
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub resource: Resource,
    pub service: Service,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub resource_type: String,
    #[serde(default)]
    pub access_key_details: Option<AccessKeyDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyDetails {
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(default, deserialize_with = "lenient_object")]
    pub action: Option<Action>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub event_first_seen: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub event_last_seen: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub count: Option<u64>,
    /// GuardDuty always sends this; a finding without it is treated as not archived.
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub additional_info: Option<Value>,
    /// Extended Threat Detection: an attack sequence's actors and resources (the principals of
    /// `AttackSequence:*` findings). Strict: a decision rests on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<crate::sequence::Detection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(default, deserialize_with = "lenient_text")]
    pub action_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_object")]
    pub aws_api_call_action: Option<AwsApiCallAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsApiCallAction {
    #[serde(default, deserialize_with = "lenient_text")]
    pub api: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub service_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub caller_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_object")]
    pub remote_ip_details: Option<RemoteIpDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteIpDetails {
    #[serde(default, deserialize_with = "lenient_text")]
    pub ip_address_v4: Option<String>,
    #[serde(default, deserialize_with = "lenient_object")]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub country: Option<Value>,
    #[serde(default)]
    pub city: Option<Value>,
    /// `{"lat": …, "lon": …}`: context for people (the report's map), never decided on.
    #[serde(default)]
    pub geo_location: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default, deserialize_with = "lenient_text")]
    pub asn: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub asn_org: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub isp: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub org: Option<String>,
}

// ---- context fields: only reported, never decided on. Real findings (and other projects' test
// data) carry numbers where strings are usual (`asn: -1`), strings for counts, `null` or other
// shapes for objects: those are read as well as they can be, never a reason to reject the event.
// The fields a decision rests on (ids, account, region, type, severity, accessKeyDetails, the
// archived and sample flags) stay strict.

/// A string, or a number or boolean as its text; anything else (null, an object) is absent.
fn lenient_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// A count as a number or a numeric string; anything else is absent.
fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A context object of the expected shape, or absent when it has another one (`null`, a
/// string, an array).
fn lenient_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        v @ Value::Object(_) => serde_json::from_value(v).ok(),
        _ => None,
    })
}

impl Finding {
    /// AWS sample findings (`CreateSampleFindings`) carry `additionalInfo.sample: true` and
    /// `GeneratedFinding…` placeholders. Either marks the finding as a sample: acting on one
    /// would lock out whatever real principal happens to share a placeholder name.
    pub fn is_sample(&self) -> bool {
        let truthy = |v: Option<&Value>| match v {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let info = self.service.additional_info.as_ref();
        // Since 2023 GuardDuty also nests the same keys as a JSON string in `value`.
        let nested = info
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .and_then(|v| serde_json::from_str::<Value>(v).ok());
        let flagged = truthy(info.and_then(|i| i.get("sample")))
            || truthy(nested.as_ref().and_then(|n| n.get("sample")));
        let placeholder = self
            .resource
            .access_key_details
            .as_ref()
            .map(|d| {
                [&d.user_name, &d.access_key_id, &d.principal_id]
                    .iter()
                    .any(|f| {
                        f.as_deref()
                            .is_some_and(|v| v.starts_with("GeneratedFinding"))
                    })
            })
            .unwrap_or(false);
        flagged || placeholder
    }

    pub fn api_call(&self) -> Option<&AwsApiCallAction> {
        self.service.action.as_ref()?.aws_api_call_action.as_ref()
    }
}

/// Everything that can be wrong with an incoming event. Each variant names what is wrong and
/// where, so an operator reading the decision record can fix the producer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("the event is empty")]
    Empty,
    #[error(
        "the event is {size} bytes; the limit is {limit} bytes (EventBridge's maximum event size)"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the event nests JSON deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("the event is not valid JSON: {detail}")]
    NotJson { detail: String },
    #[error("the event must be a JSON object, but it is {found}")]
    NotAnObject { found: &'static str },
    #[error("missing required field `{path}`")]
    MissingField { path: String },
    #[error("field `{path}` has the wrong type: {detail}")]
    WrongType { path: String, detail: String },
    #[error("field `{path}` is invalid: {reason}")]
    InvalidValue { path: String, reason: String },
    #[error("`source` is {found:?}; deadbolt handles only {expected:?} events")]
    WrongSource {
        found: String,
        expected: &'static str,
    },
    #[error("`detail-type` is {found:?}; deadbolt handles only {expected:?} events")]
    WrongDetailType {
        found: String,
        expected: &'static str,
    },
    #[error("this looks like a Security Hub ASFF finding (PascalCase keys); deadbolt takes GuardDuty's EventBridge event (detail-type `GuardDuty Finding`)")]
    SecurityHubFinding,
    #[error("`{field}` is {found:?} but `{other_field}` is {other:?}; they must agree")]
    Inconsistent {
        field: &'static str,
        found: String,
        other_field: &'static str,
        other: String,
    },
}

impl InputError {
    /// The decision record's `reason` for this error; its code is `reason().as_str()`.
    pub fn reason(&self) -> Reason {
        match self {
            InputError::Empty => Reason::EmptyEvent,
            InputError::TooLarge { .. } => Reason::EventTooLarge,
            InputError::TooDeep { .. } => Reason::EventTooDeep,
            InputError::NotJson { .. } => Reason::NotJson,
            InputError::NotAnObject { .. } => Reason::NotAnObject,
            InputError::MissingField { .. } => Reason::MissingField,
            InputError::WrongType { .. } => Reason::WrongType,
            InputError::InvalidValue { .. } => Reason::InvalidValue,
            InputError::WrongSource { .. } | InputError::SecurityHubFinding => Reason::WrongSource,
            InputError::WrongDetailType { .. } => Reason::WrongDetailType,
            InputError::Inconsistent { .. } => Reason::InconsistentEvent,
        }
    }
}

pub fn parse_event(raw: &str) -> Result<GuardDutyEvent, InputError> {
    parse_guardduty_event(raw).map_err(|e| match e {
        // A well-formed JSON object of the wrong format: say which format it is.
        InputError::MissingField { .. }
        | InputError::WrongType { .. }
        | InputError::WrongSource { .. }
        | InputError::WrongDetailType { .. }
            if looks_like_asff(raw) =>
        {
            InputError::SecurityHubFinding
        }
        e => e,
    })
}

fn parse_guardduty_event(raw: &str) -> Result<GuardDutyEvent, InputError> {
    if raw.trim().is_empty() {
        return Err(InputError::Empty);
    }
    if raw.len() > MAX_EVENT_BYTES {
        return Err(InputError::TooLarge {
            size: raw.len(),
            limit: MAX_EVENT_BYTES,
        });
    }
    check_shape(raw)?;
    let wire: WireEvent<_> = deserialize_explained(raw).map_err(|e| {
        if looks_like_asff(raw) {
            InputError::SecurityHubFinding
        } else {
            e
        }
    })?;
    let (mut event, time) = wire.into_event()?;
    // This assignment is what fixes `WireEvent`'s `_`: the envelope's timestamp type is
    // aws_lambda_events' chrono `DateTime<Utc>`, which deadbolt-core does not name.
    event.time = time;
    validate(&event)?;
    Ok(event)
}

// ---- the wire form. `EventBridgeEvent` and `Finding` require some fields; here every one of
// them is a `Required`, so an absent field is found by `required` (a typed `MissingField` with
// its path) instead of by reading serde's "missing field" message. Everything else (names,
// renames, optional fields) is exactly as in the public types.

/// A field the public type requires. Absent: `Required(None)`, reported by [`required`].
/// Present (`null` included): deserialised as `T`, so a wrong type is still serde's error, at
/// its path.
struct Required<T>(Option<T>);

impl<T> Default for Required<T> {
    fn default() -> Self {
        Required(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Required<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|v| Required(Some(v)))
    }
}

fn required<T>(field: Required<T>, path: &str) -> Result<T, InputError> {
    field.0.ok_or_else(|| InputError::MissingField {
        path: path.to_string(),
    })
}

/// `EventBridgeEvent<Finding>` as sent. `Time` is the envelope's timestamp type. The
/// `expecting` keeps serde's type errors naming the public types, as before.
#[derive(Deserialize)]
#[serde(expecting = "struct EventBridgeEvent", rename_all = "kebab-case")]
struct WireEvent<Time> {
    version: Option<String>,
    id: Option<String>,
    #[serde(default)]
    detail_type: Required<String>,
    #[serde(default)]
    source: Required<String>,
    account: Option<String>,
    time: Option<Time>,
    region: Option<String>,
    resources: Option<Vec<String>>,
    #[serde(default)]
    detail: Required<WireFinding>,
}

#[derive(Deserialize)]
#[serde(expecting = "struct Finding", rename_all = "camelCase")]
struct WireFinding {
    schema_version: Option<String>,
    #[serde(default)]
    id: Required<String>,
    #[serde(default)]
    arn: Required<String>,
    #[serde(default, rename = "type")]
    finding_type: Required<String>,
    #[serde(default)]
    severity: Required<f64>,
    #[serde(default)]
    account_id: Required<String>,
    #[serde(default)]
    region: Required<String>,
    #[serde(default)]
    partition: Required<String>,
    #[serde(default)]
    resource: Required<WireResource>,
    #[serde(default)]
    service: Required<Service>,
    title: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "struct Resource", rename_all = "camelCase")]
struct WireResource {
    #[serde(default)]
    resource_type: Required<String>,
    access_key_details: Option<AccessKeyDetails>,
}

impl<Time> WireEvent<Time> {
    /// The event, and apart from it the timestamp (see `parse_event`). Missing fields are
    /// reported in the order serde reported them: an object's fields when it closes, in
    /// declaration order, so the innermost object's first.
    fn into_event(self) -> Result<(GuardDutyEvent, Option<Time>), InputError> {
        let detail = self.detail.0.map(WireFinding::into_finding).transpose()?;
        let detail_type = required(self.detail_type, "detail-type")?;
        let source = required(self.source, "source")?;
        let detail = required(Required(detail), "detail")?;
        // `EventBridgeEvent` is `#[non_exhaustive]`: no struct literal outside its crate.
        let mut event = GuardDutyEvent::default();
        event.version = self.version;
        event.id = self.id;
        event.detail_type = detail_type;
        event.source = source;
        event.account = self.account;
        event.region = self.region;
        event.resources = self.resources;
        event.detail = detail;
        Ok((event, self.time))
    }
}

impl WireFinding {
    fn into_finding(self) -> Result<Finding, InputError> {
        let resource = self
            .resource
            .0
            .map(|r| {
                Ok::<_, InputError>(Resource {
                    resource_type: required(r.resource_type, "detail.resource.resourceType")?,
                    access_key_details: r.access_key_details,
                })
            })
            .transpose()?;
        Ok(Finding {
            schema_version: self.schema_version,
            id: required(self.id, "detail.id")?,
            arn: required(self.arn, "detail.arn")?,
            finding_type: required(self.finding_type, "detail.type")?,
            severity: required(self.severity, "detail.severity")?,
            account_id: required(self.account_id, "detail.accountId")?,
            region: required(self.region, "detail.region")?,
            partition: required(self.partition, "detail.partition")?,
            resource: required(Required(resource), "detail.resource")?,
            service: required(self.service, "detail.service")?,
            title: self.title,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// One pass over the bytes before serde: reject non-objects and excessive nesting with a
/// precise error (serde_json would say "recursion limit exceeded" at 128 levels).
fn check_shape(raw: &str) -> Result<(), InputError> {
    let first = raw.trim_start().as_bytes().first().copied();
    let found = match first {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        Some(b'-' | b'0'..=b'9') => Some("a number"),
        _ => {
            return Err(InputError::NotJson {
                detail: "expected a JSON object at the start of the event".into(),
            })
        }
    };
    if let Some(found) = found {
        // Only call it "not an object" if it is JSON at all.
        return match serde_json::from_str::<serde::de::IgnoredAny>(raw) {
            Ok(_) => Err(InputError::NotAnObject { found }),
            Err(e) => Err(InputError::NotJson {
                detail: e.to_string(),
            }),
        };
    }
    // Most of a finding's bytes are inside strings: a string is skipped to its closing quote
    // in one search (an escaped character is stepped over with its backslash), so the
    // per-byte loop runs over structure only.
    let bytes = raw.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'"' => loop {
                match bytes[i..].iter().position(|&c| c == b'"' || c == b'\\') {
                    Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                    Some(at) => {
                        i += at + 1;
                        break;
                    }
                    // An unterminated string: serde_json says so, with its position.
                    None => return Ok(()),
                }
                if i >= bytes.len() {
                    return Ok(());
                }
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(InputError::TooDeep {
                        limit: MAX_JSON_DEPTH,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Missing fields are not serde errors here (see [`Required`]), so a data error is a value of
/// the wrong type (or a repeated field), reported with serde's description and its path.
/// What a rejected event still said about its finding: each field only if it is there and
/// passes the same rule the parser applies, so a rejection can be traced without echoing
/// anything malformed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownFields {
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub severity: Option<f64>,
}

impl KnownFields {
    /// Best effort over an event that failed to parse or validate (only called then).
    pub fn of(raw: &str) -> KnownFields {
        if raw.len() > MAX_EVENT_BYTES || check_shape(raw).is_err() {
            return KnownFields::default();
        }
        let Ok(v) = serde_json::from_str::<Value>(raw) else {
            return KnownFields::default();
        };
        let text = |key: &str, max: usize, ok: fn(char) -> bool| {
            v.get("detail")
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .filter(|t| check_token(key, t, max, ok).is_ok())
                .map(str::to_string)
        };
        KnownFields {
            finding_id: text("id", 128, |c| {
                c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
            }),
            finding_type: text("type", 256, |c| c.is_ascii_graphic()),
            account_id: text("accountId", 12, |c| c.is_ascii_digit()).filter(|a| a.len() == 12),
            region: text("region", 32, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            }),
            severity: v
                .get("detail")
                .and_then(|d| d.get("severity"))
                .and_then(Value::as_f64)
                .filter(|s| (0.0..=10.0).contains(s)),
        }
    }
}

/// Security Hub's format (ASFF, PascalCase: `SchemaVersion`, `AwsAccountId`, `ProductArn`), on
/// its own, as a `{"Findings": [...]}` batch, or inside Security Hub's EventBridge event
/// (`detail.findings`). Only asked once parsing has failed, so it costs nothing otherwise.
fn looks_like_asff(raw: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(raw) else {
        return false;
    };
    let pascal = |o: &Value| {
        ["SchemaVersion", "AwsAccountId", "ProductArn", "GeneratorId"]
            .iter()
            .filter(|k| o.get(*k).is_some())
            .count()
            >= 2
    };
    let first = |list: Option<&Value>| {
        list.and_then(Value::as_array)
            .and_then(|a| a.first())
            .is_some_and(pascal)
    };
    pascal(&v) || first(v.get("Findings")) || first(v.get("detail").and_then(|d| d.get("findings")))
}

/// `raw` as a `T`; a failure names the path of the field that failed. The path is asked for
/// only once the plain parse failed: `serde_path_to_error` keeps every field's path as it goes
/// (bookkeeping the happy path never reads), and the same deserializer over the same text
/// fails at the same place the second time.
fn deserialize_explained<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, InputError> {
    if let Ok(value) = serde_json::from_str(raw) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    let value = serde_path_to_error::deserialize(&mut de).map_err(classify_serde_error)?;
    de.end().map_err(|e| InputError::NotJson {
        detail: e.to_string(),
    })?;
    Ok(value)
}

fn classify_serde_error(err: serde_path_to_error::Error<serde_json::Error>) -> InputError {
    let path = err.path().to_string();
    let inner = err.inner();
    match inner.classify() {
        serde_json::error::Category::Data => InputError::WrongType {
            path,
            detail: json_error_message(inner),
        },
        _ => InputError::NotJson {
            detail: inner.to_string(),
        },
    }
}

/// serde_json's description of an error without the " at line L column C" it appends (the
/// event's position is of no use to whoever reads the record; the settings report it in their
/// own words). Shown, never inspected.
pub(crate) fn json_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

fn validate(event: &GuardDutyEvent) -> Result<(), InputError> {
    if event.source != GUARDDUTY_SOURCE {
        return Err(InputError::WrongSource {
            found: truncate(&event.source),
            expected: GUARDDUTY_SOURCE,
        });
    }
    if event.detail_type != GUARDDUTY_DETAIL_TYPE {
        return Err(InputError::WrongDetailType {
            found: truncate(&event.detail_type),
            expected: GUARDDUTY_DETAIL_TYPE,
        });
    }
    let f = &event.detail;
    check_token("detail.id", &f.id, 128, |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
    })?;
    check_token("detail.accountId", &f.account_id, 12, |c| {
        c.is_ascii_digit()
    })?;
    if f.account_id.len() != 12 {
        return Err(invalid(
            "detail.accountId",
            "an AWS account id is 12 digits",
        ));
    }
    check_token("detail.region", &f.region, 32, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    check_token("detail.partition", &f.partition, 16, |c| {
        c.is_ascii_lowercase() || c == '-'
    })?;
    check_token("detail.type", &f.finding_type, 256, |c| {
        c.is_ascii_graphic()
    })?;
    if !(0.0..=10.0).contains(&f.severity) || !f.severity.is_finite() {
        return Err(invalid(
            "detail.severity",
            "GuardDuty severity is a number from 0.0 to 10.0",
        ));
    }
    // The envelope's `account` is the bus the event came through, not the finding's account:
    // a GuardDuty administrator's bus carries its members' findings, and a bus can forward
    // another account's events. The account acted in is `detail.accountId`, as GuardDuty's
    // own copy of the finding confirms it (verification), so the envelope is not checked
    // against it.
    if let Some(region) = &event.region {
        if region != &f.region {
            return Err(InputError::Inconsistent {
                field: "region",
                found: truncate(region),
                other_field: "detail.region",
                other: f.region.clone(),
            });
        }
    }
    let arn_prefix = format!(
        "arn:{}:guardduty:{}:{}:",
        f.partition, f.region, f.account_id
    );
    if !f.arn.starts_with(&arn_prefix) || !f.arn.ends_with(&format!("/finding/{}", f.id)) {
        return Err(InputError::Inconsistent {
            field: "detail.arn",
            found: truncate(&f.arn),
            other_field: "detail.id",
            other: f.id.clone(),
        });
    }
    if let Some(details) = &f.resource.access_key_details {
        // Names and ids end up as IAM API parameters: refuse anything IAM itself would
        // refuse, before it gets near a request.
        if let Some(name) = &details.user_name {
            check_token(
                "detail.resource.accessKeyDetails.userName",
                name,
                128,
                is_iam_name_char,
            )?;
        }
        if let Some(key) = &details.access_key_id {
            if !key.is_empty() {
                check_token(
                    "detail.resource.accessKeyDetails.accessKeyId",
                    key,
                    128,
                    |c| c.is_ascii_alphanumeric(),
                )?;
            }
        }
        if let Some(pid) = &details.principal_id {
            check_token(
                "detail.resource.accessKeyDetails.principalId",
                pid,
                256,
                |c| is_iam_name_char(c) || c == ':',
            )?;
        }
    }
    validate_sequence(f)
}

/// An access key id as IAM issues them: `AKIA…` (long-term) or `ASIA…` (temporary), 16 to
/// 128 letters and digits.
pub fn looks_like_access_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The attack sequence's principal fields: the same rules as `accessKeyDetails` where they
/// become IAM parameters (names, ids, keys), ARN characters for the issuer.
fn validate_sequence(f: &Finding) -> Result<(), InputError> {
    let Some(sequence) = f
        .service
        .detection
        .as_ref()
        .and_then(|d| d.sequence.as_ref())
    else {
        return Ok(());
    };
    let base = "detail.service.detection.sequence";
    let id_char = |c: char| is_iam_name_char(c) || c == ':';
    let arn_char = |c: char| is_iam_name_char(c) || c == ':' || c == '/';
    for (i, actor) in sequence.actors.iter().flatten().enumerate() {
        if let Some(user) = &actor.user {
            let path = |field: &str| format!("{base}.actors[{i}].user.{field}");
            if let Some(name) = &user.name {
                check_token(&path("name"), name, 256, arn_char)?;
            }
            if let Some(t) = &user.user_type {
                check_token(&path("type"), t, 64, |c| c.is_ascii_alphanumeric())?;
            }
            if let Some(uid) = &user.uid {
                check_token(&path("uid"), uid, 256, id_char)?;
            }
            if let Some(key) = user.credential_uid.as_deref().filter(|k| !k.is_empty()) {
                check_token(&path("credentialUid"), key, 128, |c| {
                    c.is_ascii_alphanumeric()
                })?;
            }
            if let Some(account) = user.account.as_ref().and_then(|a| a.uid.as_deref()) {
                check_token(&path("account.uid"), account, 12, |c| c.is_ascii_digit())?;
            }
        }
        if let Some(issuer) = actor.session.as_ref().and_then(|s| s.issuer.as_deref()) {
            check_token(
                &format!("{base}.actors[{i}].session.issuer"),
                issuer,
                2048,
                arn_char,
            )?;
        }
    }
    for (i, resource) in sequence.resources.iter().flatten().enumerate() {
        let Some(key) = resource.data.as_ref().and_then(|d| d.access_key.as_ref()) else {
            continue;
        };
        let path = |field: &str| format!("{base}.resources[{i}].data.accessKey.{field}");
        if let Some(name) = &key.user_name {
            check_token(&path("userName"), name, 128, is_iam_name_char)?;
        }
        if let Some(pid) = &key.principal_id {
            check_token(&path("principalId"), pid, 256, id_char)?;
        }
        if let Some(t) = &key.user_type {
            check_token(&path("userType"), t, 64, |c| c.is_ascii_alphanumeric())?;
        }
    }
    Ok(())
}

/// Characters IAM accepts in user, role, group and session names: `[\w+=,.@-]`.
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn check_token(
    path: &str,
    value: &str,
    max_len: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), InputError> {
    if value.is_empty() {
        return Err(invalid(path, "must not be empty"));
    }
    if value.len() > max_len {
        return Err(invalid(
            path,
            &format!(
                "is {} characters; at most {max_len} are allowed",
                value.len()
            ),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(invalid(
            path,
            &format!("contains the character {bad:?}, which is not allowed here"),
        ));
    }
    Ok(())
}

fn invalid(path: &str, reason: &str) -> InputError {
    InputError::InvalidValue {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// Echo at most 64 characters of an untrusted value back in an error message.
fn truncate(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(64).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str =
        include_str!("../../../../tests/fixtures/guardduty/cloudtrail-logging-disabled.json");

    /// Brackets inside strings, escaped quotes and escaped backslashes are not structure: only
    /// real nesting counts towards MAX_JSON_DEPTH, and an unterminated string is left to
    /// serde_json to report.
    #[test]
    fn the_depth_check_counts_structure_and_skips_strings() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_shape(&format!("{{\"a\":{}}}", nested(31))), Ok(()));
        assert_eq!(
            check_shape(&format!("{{\"a\":{}}}", nested(32))),
            Err(InputError::TooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
        let brackets = "[".repeat(100);
        for text in [
            format!("{{\"a\":\"{brackets}\"}}"),
            format!("{{\"a\":\"\\\"{brackets}\"}}"),
            format!("{{\"a\\\\\":\"{brackets}\"}}"),
            format!("{{\"a\":\"{brackets}"),
            "{\"a\":\"\\".to_string(),
        ] {
            assert_eq!(check_shape(&text), Ok(()), "{text}");
        }
        // After an escaped backslash the next quote closes the string: what follows is
        // structure again.
        assert_eq!(
            check_shape(&format!("{{\"a\":\"\\\\\",\"b\":{}}}", nested(40))),
            Err(InputError::TooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
    }

    /// The fixture without the fields at these JSON pointers.
    fn without(pointers: &[&str]) -> String {
        let mut v: Value = serde_json::from_str(EVENT).unwrap();
        for pointer in pointers {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let removed = v
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .and_then(|o| o.remove(key));
            assert!(removed.is_some(), "{pointer} is not in the fixture");
        }
        v.to_string()
    }

    fn missing(path: &str) -> Result<GuardDutyEvent, InputError> {
        Err(InputError::MissingField { path: path.into() })
    }

    #[test]
    fn every_required_field_when_absent_is_named_by_its_path() {
        for (pointer, path) in [
            ("/detail-type", "detail-type"),
            ("/source", "source"),
            ("/detail", "detail"),
            ("/detail/id", "detail.id"),
            ("/detail/arn", "detail.arn"),
            ("/detail/type", "detail.type"),
            ("/detail/severity", "detail.severity"),
            ("/detail/accountId", "detail.accountId"),
            ("/detail/region", "detail.region"),
            ("/detail/partition", "detail.partition"),
            ("/detail/resource", "detail.resource"),
            ("/detail/service", "detail.service"),
            (
                "/detail/resource/resourceType",
                "detail.resource.resourceType",
            ),
        ] {
            assert_eq!(
                parse_event(&without(&[pointer])),
                missing(path),
                "{pointer}"
            );
        }
        // Optional ones may go.
        let optional = without(&["/time", "/account", "/region", "/id", "/detail/title"]);
        assert!(parse_event(&optional).is_ok());
    }

    #[test]
    fn the_innermost_missing_field_is_reported_first_as_before() {
        assert_eq!(
            parse_event(&without(&["/source", "/detail/id"])),
            missing("detail.id")
        );
        assert_eq!(
            parse_event(&without(&["/detail/id", "/detail/resource/resourceType"])),
            missing("detail.resource.resourceType")
        );
        assert_eq!(
            parse_event(&without(&["/detail-type", "/source"])),
            missing("detail-type")
        );
    }

    #[test]
    fn null_in_a_required_field_is_the_wrong_type_not_missing() {
        let mut v: Value = serde_json::from_str(EVENT).unwrap();
        v["detail"]["id"] = Value::Null;
        assert!(
            matches!(
                parse_event(&v.to_string()),
                Err(InputError::WrongType { ref path, .. }) if path == "detail.id"
            ),
            "{:?}",
            parse_event(&v.to_string())
        );
    }

    #[test]
    fn the_envelope_keeps_every_field() {
        let event = parse_event(EVENT).unwrap();
        let reparsed: Value = serde_json::to_value(&event).unwrap();
        let original: Value = serde_json::from_str(EVENT).unwrap();
        for key in [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "region",
            "resources",
        ] {
            assert_eq!(reparsed[key], original[key], "{key}");
        }
        assert!(event.time.is_some());
        assert_eq!(reparsed["detail"]["id"], original["detail"]["id"]);
    }
}
