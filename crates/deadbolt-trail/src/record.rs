//! One CloudTrail event record, as S3 log files (`{"Records":[...]}`) and LookupEvents'
//! `CloudTrailEvent` string deliver it.
//!
//! Only the fields deadbolt reasons about are modelled; everything else is ignored, because
//! CloudTrail adds fields with new `eventVersion`s and an old reader must keep working.
//! `requestParameters` / `responseElements` stay as raw JSON: their shape depends on the API.

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
/// Hand-written rather than pulling in chrono: CloudTrail and GuardDuty only ever emit this one
/// shape, and a small strict parser is easier to trust than a large lenient one.
pub fn parse_rfc3339_ms(value: &str) -> Result<i64, TimeError> {
    let fail = |reason| TimeError {
        value: value.to_string(),
        reason,
    };
    let bytes = value.as_bytes();
    if bytes.len() < 20 {
        return Err(fail("too short"));
    }
    let digits = |range: std::ops::Range<usize>| -> Result<i64, TimeError> {
        let slice = &bytes[range];
        if slice.is_empty() || !slice.iter().all(u8::is_ascii_digit) {
            return Err(fail("expected digits"));
        }
        Ok(slice
            .iter()
            .fold(0_i64, |acc, digit| acc * 10 + i64::from(digit - b'0')))
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return Err(fail("misplaced date or time separator"));
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return Err(fail("missing 'T' between date and time"));
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(fail("no such date"));
    }
    // 60 allows a leap second; it is folded into the next minute like every Unix clock does.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(fail("no such time of day"));
    }

    let mut rest = &bytes[19..];
    let mut millis = 0_i64;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let fraction_len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if fraction_len == 0 {
            return Err(fail("empty fractional seconds"));
        }
        // Only millisecond precision is kept; finer digits are truncated, never rounded up
        // across a second boundary.
        for (position, digit) in fraction[..fraction_len].iter().take(3).enumerate() {
            millis += i64::from(digit - b'0') * [100, 10, 1][position];
        }
        rest = &fraction[fraction_len..];
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let offset_digits = [*h1, *h2, *m1, *m2];
            if !offset_digits.iter().all(u8::is_ascii_digit) {
                return Err(fail("malformed UTC offset"));
            }
            let hours = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let minutes = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                magnitude
            } else {
                -magnitude
            }
        }
        _ => {
            return Err(fail(
                "missing or malformed time zone (expected 'Z' or ±HH:MM)",
            ))
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Ok(seconds * 1000 + millis)
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-20T14:03:11Z`, or with `.fff` when the
/// milliseconds are not zero): the inverse of [`parse_rfc3339_ms`], for reports.
pub fn format_rfc3339_ms(epoch_ms: i64) -> String {
    let seconds = epoch_ms.div_euclid(1000);
    let millis = epoch_ms.rem_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0, so the leap day ends the year
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
