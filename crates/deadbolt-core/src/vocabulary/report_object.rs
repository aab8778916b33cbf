//! Where the enricher stores a finding's HTML investigation page (`ReportBucket`), and the
//! link people follow to it: the object's page in the S3 console, which asks them to sign in
//! with their own AWS identity. Never a presigned or public URL: the page holds the attacker's
//! calls, keys and addresses, and a link that works for anyone who sees the message (a chat
//! channel, a forwarded email) would hand that to them.
//!
//! The key is `reports/ACCOUNT/FINDING_ID.html`, computed from the finding by the enricher
//! (which writes it) and the responder (which links it in its notice before the enricher is
//! done). Both come from the event, so both are checked here: a finding id or account that is
//! not what GuardDuty issues would otherwise choose another key (`../`, `/`) in the bucket.

use thiserror::Error;

use crate::text::{console_host, url_component};

/// The environment variable naming the bucket (the template's `ReportBucket`).
pub const ENV_REPORT_BUCKET: &str = "DEADBOLT_REPORT_BUCKET";
/// The account that must own the bucket (S3's `ExpectedBucketOwner`): a bucket of the same
/// name in someone else's account is never written to.
pub const ENV_REPORT_BUCKET_OWNER: &str = "DEADBOLT_REPORT_BUCKET_OWNER";

/// Finding ids longer than this are not GuardDuty's (its ids are 32 hex characters).
const MAX_FINDING_ID_CHARS: usize = 128;

/// Why a report cannot be stored, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportObjectError {
    #[error(
        "{ENV_REPORT_BUCKET} {0:?} is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
    )]
    BucketName(String),
    #[error("{ENV_REPORT_BUCKET_OWNER} {0:?} is not a 12-digit AWS account id")]
    BucketOwner(String),
    #[error("the finding's accountId {0:?} is not a 12-digit AWS account id: no report key")]
    Account(String),
    #[error(
        "the finding's id {0:?} is not a GuardDuty finding id (1-128 letters, digits, '-' or '_'): no report key"
    )]
    FindingId(String),
}

/// The report bucket as configured: its name, the account that must own it, the region its
/// console page is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBucket {
    pub name: String,
    /// `None`: the owner is not checked (a bucket named without `DEADBOLT_REPORT_BUCKET_OWNER`).
    pub expected_owner: Option<String>,
    /// The function's region; S3 console links name it.
    pub region: String,
}

impl ReportBucket {
    /// The bucket from `name` and `owner` (empty: none), checked.
    pub fn new(name: &str, owner: Option<&str>, region: &str) -> Result<Self, ReportObjectError> {
        if !is_bucket_name(name) {
            return Err(ReportObjectError::BucketName(name.to_string()));
        }
        let expected_owner = match owner.filter(|o| !o.is_empty()) {
            Some(o) if is_account_id(o) => Some(o.to_string()),
            Some(o) => return Err(ReportObjectError::BucketOwner(o.to_string())),
            None => None,
        };
        Ok(ReportBucket {
            name: name.to_string(),
            expected_owner,
            region: region.to_string(),
        })
    }

    /// `DEADBOLT_REPORT_BUCKET` (and its owner) in `region`; `Ok(None)` when unset or empty:
    /// then no report is stored and no message links one.
    pub fn from_env(region: &str) -> Result<Option<Self>, ReportObjectError> {
        let name = std::env::var(ENV_REPORT_BUCKET).unwrap_or_default();
        if name.is_empty() {
            return Ok(None);
        }
        let owner = std::env::var(ENV_REPORT_BUCKET_OWNER).ok();
        Self::new(&name, owner.as_deref(), region).map(Some)
    }

    /// The object of the finding `finding_id` of `account`.
    pub fn object_for(
        &self,
        account: &str,
        finding_id: &str,
    ) -> Result<ReportObject, ReportObjectError> {
        Ok(ReportObject {
            bucket: self.name.clone(),
            region: self.region.clone(),
            key: report_key(account, finding_id)?,
        })
    }
}

/// One finding's report in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportObject {
    pub bucket: String,
    pub region: String,
    pub key: String,
}

impl ReportObject {
    /// The object's page in the S3 console (sign-in required; nothing in the URL grants
    /// access).
    pub fn console_url(&self) -> String {
        format!(
            "https://{}/s3/object/{}?region={}&bucketType=general&prefix={}",
            console_host(&self.region),
            url_component(&self.bucket),
            url_component(&self.region),
            url_component(&self.key)
        )
    }

    /// `s3://BUCKET/KEY`, for logs and records.
    pub fn s3_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// `reports/ACCOUNT/FINDING_ID.html`, or why the finding's fields cannot name a key.
pub fn report_key(account: &str, finding_id: &str) -> Result<String, ReportObjectError> {
    if !is_account_id(account) {
        return Err(ReportObjectError::Account(crate::text::bounded(
            account, 64,
        )));
    }
    let id_ok = !finding_id.is_empty()
        && finding_id.chars().count() <= MAX_FINDING_ID_CHARS
        && finding_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(ReportObjectError::FindingId(crate::text::bounded(
            finding_id, 64,
        )));
    }
    Ok(format!("reports/{account}/{finding_id}.html"))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// S3's general purpose bucket naming rules (the ones a template parameter can check too).
fn is_bucket_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (3..=63).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'.' || *b == b'-')
        && !s.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> ReportBucket {
        ReportBucket::new("deadbolt-reports-1", Some("123456789012"), "eu-west-1").unwrap()
    }

    #[test]
    fn a_finding_names_its_key_and_the_console_page_of_it() {
        let object = bucket()
            .object_for("111122223333", "5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3")
            .unwrap();
        assert_eq!(
            object.key,
            "reports/111122223333/5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html"
        );
        assert_eq!(
            object.console_url(),
            "https://eu-west-1.console.aws.amazon.com/s3/object/deadbolt-reports-1?region=eu-west-1&bucketType=general&prefix=reports%2F111122223333%2F5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html"
        );
        assert_eq!(
            object.s3_uri(),
            "s3://deadbolt-reports-1/reports/111122223333/5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3.html"
        );
    }

    #[test]
    fn a_forged_id_or_account_cannot_choose_another_key() {
        for id in [
            "",
            "../../other/evil",
            "a/b",
            "a.html",
            "id with space",
            "é",
            &"a".repeat(129),
        ] {
            let e = report_key("111122223333", id).unwrap_err();
            assert!(matches!(e, ReportObjectError::FindingId(_)), "{id}: {e}");
            assert!(e.to_string().contains("not a GuardDuty finding id"), "{e}");
        }
        for account in ["", "11112222333", "1111222233334", "11112222333x", "../"] {
            let e = report_key(account, "abc").unwrap_err();
            assert!(matches!(e, ReportObjectError::Account(_)), "{account}: {e}");
        }
        assert!(report_key("111122223333", &"a".repeat(128)).is_ok());
    }

    #[test]
    fn bucket_names_and_owners_are_checked() {
        for name in [
            "",
            "ab",
            "Bad",
            "a..b",
            "-ab",
            "ab-",
            "a_b",
            &"a".repeat(64),
        ] {
            let e = ReportBucket::new(name, None, "us-east-1").unwrap_err();
            assert!(e.to_string().contains("DEADBOLT_REPORT_BUCKET"), "{e}");
        }
        let e = ReportBucket::new("reports", Some("12345"), "us-east-1").unwrap_err();
        assert_eq!(e, ReportObjectError::BucketOwner("12345".into()));
        let b = ReportBucket::new("reports.example", Some(""), "us-east-1").unwrap();
        assert_eq!(b.expected_owner, None);
    }
}
