//! One CloudTrail event record, as S3 log files (`{"Records":[...]}`) and LookupEvents'
//! `CloudTrailEvent` string deliver it.
//!
//! Only the fields deadbolt reasons about are modelled; everything else is ignored, because
//! CloudTrail adds fields with new `eventVersion`s and an old reader must keep working.
//! `requestParameters` / `responseElements` stay as raw JSON: their shape depends on the API.

use chrono::format::ParseErrorKind;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// A CloudTrail event record.
///
/// Required fields are the ones without which a record cannot be attributed or counted:
/// `eventTime`, `eventSource`, `eventName`, `eventID` and `userIdentity`. A record missing any
/// of them is malformed and the file reader skips it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(default)]
    pub event_version: Option<String>,
    /// RFC 3339, UTC (`2026-11-20T14:03:11Z`). Kept as delivered; see [`Record::event_time_ms`].
    pub event_time: String,
    pub event_source: String,
    pub event_name: String,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(rename = "sourceIPAddress", default)]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// `null` in real records for calls without parameters; `None` then.
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    pub user_identity: UserIdentity,
    /// Set on AssumeRoleWithSAML / AssumeRoleWithWebIdentity records when the identity
    /// provider passed a source identity.
    #[serde(default)]
    pub source_identity: Option<String>,
}

/// Who made the call, and with which credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `FederatedUser`, `Root`, `AWSService`, `AWSAccount`,
    /// `SAMLUser`, `WebIdentityUser`, `IdentityCenterUser`, ...
    #[serde(rename = "type")]
    pub identity_type: String,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    /// Set when an AWS service made the call on the principal's behalf.
    #[serde(default)]
    pub invoked_by: Option<String>,
    /// For `SAMLUser` / `WebIdentityUser`: the IdP (SAML name qualifier, or OIDC issuer).
    #[serde(default)]
    pub identity_provider: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
    /// Set for IAM Identity Center identity-enhanced sessions.
    #[serde(default)]
    pub on_behalf_of: Option<OnBehalfOf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
    #[serde(default)]
    pub attributes: Option<SessionAttributes>,
    /// Persists across role chaining once set, which is what makes it useful corroboration.
    #[serde(default)]
    pub source_identity: Option<String>,
}

/// The role (or user, for federated users) whose session made the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type", default)]
    pub issuer_type: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default)]
    pub creation_date: Option<String>,
    /// CloudTrail writes this as the string `"true"` / `"false"`.
    #[serde(default)]
    pub mfa_authenticated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub identity_store_arn: Option<String>,
}

impl Record {
    /// Parses one record, e.g. LookupEvents' `CloudTrailEvent` string.
    pub fn from_json_str(json: &str) -> Result<Self, RecordError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Parses one record already read as JSON (e.g. rebuilt from Athena's columns).
    pub fn from_json_value(json: Value) -> Result<Self, RecordError> {
        Ok(serde_json::from_value(json)?)
    }

    /// `eventTime` as milliseconds since the Unix epoch.
    pub fn event_time_ms(&self) -> Result<i64, TimeError> {
        parse_rfc3339_ms(&self.event_time)
    }

    /// A failed call: CloudTrail sets `errorCode` (e.g. `AccessDenied`) only then.
    pub fn is_failure(&self) -> bool {
        self.error_code
            .as_deref()
            .is_some_and(|code| !code.is_empty())
    }

    /// A string at a dotted path inside `requestParameters`, e.g. `"roleArn"`.
    pub fn request_str(&self, path: &str) -> Option<&str> {
        lookup_str(self.request_parameters.as_ref()?, path)
    }

    /// A string at a dotted path inside `responseElements`, e.g. `"credentials.accessKeyId"`.
    pub fn response_str(&self, path: &str) -> Option<&str> {
        lookup_str(self.response_elements.as_ref()?, path)
    }

    /// The source identity this record carries, wherever CloudTrail put it: top level
    /// (federation calls), the caller's session context (calls made by a session that has one),
    /// or the request (AssumeRole with `SourceIdentity`).
    pub fn any_source_identity(&self) -> Option<&str> {
        self.source_identity
            .as_deref()
            .or_else(|| {
                self.user_identity
                    .session_context
                    .as_ref()
                    .and_then(|context| context.source_identity.as_deref())
            })
            .or_else(|| self.request_str("sourceIdentity"))
            .filter(|value| !value.is_empty())
    }
}

fn lookup_str<'a>(root: &'a Value, dotted_path: &str) -> Option<&'a str> {
    dotted_path
        .split('.')
        .try_fold(root, |value, key| value.get(key))?
        .as_str()
}

/// A JSON document that is not a usable CloudTrail record.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error(
        "not a CloudTrail event record (it needs eventTime, eventSource, eventName, eventID and \
         userIdentity, with string values): {0}"
    )]
    Malformed(#[from] serde_json::Error),
}

/// An `eventTime` (or finding timestamp) that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("timestamp {value:?} is not RFC 3339 (expected e.g. 2026-11-20T14:03:11Z): {reason}")]
pub struct TimeError {
    pub value: String,
    pub reason: &'static str,
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`) to epoch milliseconds.
///
/// chrono's RFC 3339 parser is as strict as the shape CloudTrail and GuardDuty emit: four-digit
/// year, a `T` (or space) between date and time, and a `Z` or `±HH:MM` offset, nothing after.
/// Only millisecond precision is kept: finer digits are truncated, never rounded up across a
/// second boundary. A leap second (`:60`) is folded into the next minute like every Unix clock.
pub fn parse_rfc3339_ms(value: &str) -> Result<i64, TimeError> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.timestamp_millis())
        .map_err(|e| TimeError {
            value: value.to_string(),
            reason: match e.kind() {
                ParseErrorKind::OutOfRange => "no such date, time of day or UTC offset",
                ParseErrorKind::TooShort => {
                    "too short (a date, a time and 'Z' or ±HH:MM are all required)"
                }
                ParseErrorKind::TooLong => "unexpected characters after the time zone",
                _ => "malformed (expected YYYY-MM-DDTHH:MM:SS[.fff] then 'Z' or ±HH:MM)",
            },
        })
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-20T14:03:11Z`, or with `.fff` when the
/// milliseconds are not zero): the inverse of [`parse_rfc3339_ms`], for reports. Instants
/// beyond chrono's range (±262,000 years) are written as its first or last millisecond.
pub fn format_rfc3339_ms(epoch_ms: i64) -> String {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp_millis(),
        DateTime::<Utc>::MAX_UTC.timestamp_millis(),
    );
    DateTime::from_timestamp_millis(epoch_ms.clamp(min, max))
        .map(|time| {
            let precision = if time.timestamp_subsec_millis() == 0 {
                SecondsFormat::Secs
            } else {
                SecondsFormat::Millis
            };
            time.to_rfc3339_opts(precision, true)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_timestamps_to_epoch_millis() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339_ms("2021-03-08T17:19:41Z").unwrap(),
            1_615_223_981_000
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T23:59:59.999Z").unwrap(),
            951_868_799_999
        );
        // Digits past milliseconds are truncated.
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.0019Z").unwrap(), 1001);
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z").unwrap(), -1000);
        // A leap second is the first second of the next minute.
        assert_eq!(
            parse_rfc3339_ms("2016-12-31T23:59:60.5Z").unwrap(),
            parse_rfc3339_ms("2017-01-01T00:00:00.5Z").unwrap()
        );
    }

    #[test]
    fn formats_what_it_parses() {
        for value in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59.999Z",
            "2026-11-20T14:02:11Z",
            "1969-12-31T23:59:59Z",
            "2400-03-01T00:00:00.001Z",
        ] {
            assert_eq!(format_rfc3339_ms(parse_rfc3339_ms(value).unwrap()), value);
        }
    }

    #[test]
    fn honours_utc_offsets() {
        assert_eq!(
            parse_rfc3339_ms("2021-03-08T19:19:41+02:00").unwrap(),
            parse_rfc3339_ms("2021-03-08T17:19:41Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339_ms("2021-03-08T12:19:41-05:00").unwrap(),
            parse_rfc3339_ms("2021-03-08T17:19:41Z").unwrap()
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2021-03-08",
            "2021-03-08T17:19:41",
            "2021-02-29T00:00:00Z",
            "2021-13-01T00:00:00Z",
            "2021-03-08T24:00:00Z",
            "2021/03/08T17:19:41Z",
            "2021-03-08T17:19:41.Z",
            "2021-03-08T17:19:41+0200",
            "２０21-03-08T17:19:41Z",
        ] {
            let error = parse_rfc3339_ms(bad).unwrap_err();
            assert_eq!(error.value, bad);
        }
    }

    #[test]
    fn tolerates_unknown_fields_and_null_parameters() {
        let record = Record::from_json_str(
            r#"{"eventVersion":"1.11","eventTime":"2026-11-20T14:03:11Z",
                "eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances",
                "eventID":"e1","requestParameters":null,"brandNewField":{"x":1},
                "userIdentity":{"type":"IAMUser","userName":"bob","futureField":true}}"#,
        )
        .unwrap();
        assert_eq!(record.request_parameters, None);
        assert_eq!(record.user_identity.user_name.as_deref(), Some("bob"));
        assert!(!record.is_failure());
    }

    #[test]
    fn reads_nested_request_and_response_strings() {
        let record = Record::from_json_str(
            r#"{"eventTime":"2026-11-20T14:03:11Z","eventSource":"sts.amazonaws.com",
                "eventName":"AssumeRole","eventID":"e2","errorCode":"AccessDenied",
                "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/R","sourceIdentity":"sara"},
                "responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE"}},
                "userIdentity":{"type":"AssumedRole"}}"#,
        )
        .unwrap();
        assert_eq!(
            record.response_str("credentials.accessKeyId"),
            Some("ASIAEXAMPLE")
        );
        assert_eq!(
            record.request_str("roleArn"),
            Some("arn:aws:iam::111122223333:role/R")
        );
        assert_eq!(record.request_str("missing.path"), None);
        assert_eq!(record.any_source_identity(), Some("sara"));
        assert!(record.is_failure());
    }

    #[test]
    fn a_record_without_user_identity_is_malformed() {
        let error = Record::from_json_str(
            r#"{"eventTime":"2026-11-20T14:03:11Z","eventSource":"s","eventName":"n","eventID":"e"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("userIdentity"), "{error}");
    }
}
