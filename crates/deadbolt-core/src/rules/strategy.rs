//! Containment strategies and the inline policy documents they write. Like `policy`, every
//! document is built with serde from typed structs, never by formatting strings, so nothing
//! from a finding can change a document's structure.
//!
//! | strategy | for | document |
//! | --- | --- | --- |
//! | `deny-all` | user, role, group | Deny `*` on `*` ([`crate::policy::deny_all_document`]) |
//! | `revoke-sessions` | role | Deny `*` on `*` if `aws:TokenIssueTime` is before now: the IAM console's "Revoke active sessions" |
//! | `deny-session` | role | Deny `*` on `*` if `aws:userid` is the finding's `ROLEID:session` |

use chrono::Datelike;

use crate::finding::is_iam_name_char;
use crate::policy::{
    deny_statements, policy_document, sid_suffix, unique_sid, DenyStatement,
    DENY_SESSION_SID_PREFIX, REVOKE_SESSIONS_SID_PREFIX, SID_PREFIX,
};
pub use crate::settings::{IdentityCenterStrategy, RoleStrategy, StrategySettings};

/// What one finding needs in the DenyAll policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needed {
    /// Deny everything, unconditionally.
    Everything,
    /// Deny role sessions issued before this RFC 3339 time.
    IssuedBefore(String),
    /// Deny this one role session (`ROLEID:session`).
    Session(String),
}

impl Needed {
    /// `now_ms` only matters for `revoke-sessions`; `userid` only for `deny-session` and is
    /// validated by [`role_session_userid`] when the plan is made.
    pub fn for_role(
        strategy: RoleStrategy,
        userid: Option<&str>,
        now_ms: i64,
    ) -> Result<Needed, StrategyError> {
        match strategy {
            RoleStrategy::DenyAll => Ok(Needed::Everything),
            RoleStrategy::RevokeSessions => {
                // Rounded *up* to the second: the attacker's token was issued before
                // `now_ms`, possibly in the same second, and `DateLessThan` must still cover
                // it. A session issued in the remainder of this second is denied too, which
                // errs on the side of containment.
                let secs = now_ms.div_euclid(1000) + i64::from(now_ms.rem_euclid(1000) != 0);
                rfc3339_utc(secs)
                    .map(Needed::IssuedBefore)
                    .ok_or(StrategyError::TimeOutOfRange { now_ms })
            }
            RoleStrategy::DenySession => {
                let userid = userid.ok_or(StrategyError::MissingPrincipalId)?;
                role_session_userid(userid).map(|u| Needed::Session(u.to_string()))
            }
        }
    }

    fn statement(&self, sid: String) -> DenyStatement {
        match self {
            Needed::Everything => DenyStatement::Everything { sid: Some(sid) },
            Needed::IssuedBefore(before) => DenyStatement::IssuedBefore {
                sid,
                before: before.clone(),
            },
            Needed::Session(userid) => DenyStatement::Session {
                sid,
                userid: userid.clone(),
            },
        }
    }

    fn sid_prefix(&self) -> &'static str {
        match self {
            Needed::Everything => SID_PREFIX,
            Needed::IssuedBefore(_) => REVOKE_SESSIONS_SID_PREFIX,
            Needed::Session(_) => DENY_SESSION_SID_PREFIX,
        }
    }
}

/// IAM's limit on a role's inline policies, all together (non-whitespace characters). A
/// merged deny-session document must stay well under it: the role has other policies too.
pub const MERGED_DOCUMENT_LIMIT: usize = 8192;

/// What to do with the DenyAll policy for one finding, given what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// What is attached already denies everything this finding needs; nothing to write.
    Covered {
        /// The statement that covers it was written by deadbolt (else by a human).
        by_deadbolt: bool,
        sid: Option<String>,
    },
    /// Write this document (replacing the policy).
    Write {
        document: String,
        /// deadbolt statements from earlier findings that the new document keeps.
        kept: usize,
        /// deadbolt statements from earlier findings the new one supersedes.
        superseded: usize,
    },
    /// Something under the DenyAll name that deadbolt did not write: never overwritten.
    Conflicting,
    /// The merged document would be too large; deny-all is the way out.
    TooLarge { size: usize },
}

/// Merge what a finding needs into the policy already attached under the DenyAll name.
///
/// A restriction is only ever dropped when the new statement denies strictly more: an
/// unconditional deny supersedes everything, a later `aws:TokenIssueTime` supersedes an
/// earlier one. A `deny-session` statement is kept under a later revoke: it also denies a
/// future session that reuses the same name, which the revoke does not.
pub fn merge(existing: Option<&str>, finding_id: &str, needed: &Needed) -> Merge {
    let fresh_sid = |taken: &[DenyStatement]| {
        let base = format!("{}{}", needed.sid_prefix(), sid_suffix(finding_id));
        unique_sid(base, |sid| taken.iter().any(|s| s.sid() == Some(sid)))
    };
    let Some(existing) = existing else {
        return Merge::Write {
            document: first_document(finding_id, needed),
            kept: 0,
            superseded: 0,
        };
    };
    let Some(statements) = deny_statements(existing) else {
        return Merge::Conflicting;
    };
    if let Some(s) = statements
        .iter()
        .find(|s| matches!(s, DenyStatement::Everything { .. }))
    {
        return Merge::Covered {
            by_deadbolt: s.is_deadbolts(),
            sid: s.sid().map(str::to_string),
        };
    }
    // Only deadbolt's conditional statements are left (anything else is `Conflicting`).
    let covered_by = statements.iter().find(|s| match (s, needed) {
        (DenyStatement::Session { userid, .. }, Needed::Session(u)) => userid == u,
        (DenyStatement::IssuedBefore { before, .. }, Needed::IssuedBefore(t)) => {
            comparable(before) && comparable(t) && before >= t
        }
        _ => false,
    });
    if let Some(s) = covered_by {
        return Merge::Covered {
            by_deadbolt: true,
            sid: s.sid().map(str::to_string),
        };
    }
    let superseded_by_new = |s: &DenyStatement| match (s, needed) {
        (_, Needed::Everything) => true,
        (DenyStatement::IssuedBefore { before, .. }, Needed::IssuedBefore(t)) => {
            comparable(before) && comparable(t) && before < t
        }
        _ => false,
    };
    let (superseded, mut kept): (Vec<_>, Vec<_>) =
        statements.into_iter().partition(superseded_by_new);
    let new = needed.statement(fresh_sid(&kept));
    let kept_count = kept.len();
    kept.push(new);
    let document = policy_document(&kept);
    if document.len() > MERGED_DOCUMENT_LIMIT {
        return Merge::TooLarge {
            size: document.len(),
        };
    }
    Merge::Write {
        document,
        kept: kept_count,
        superseded: superseded.len(),
    }
}

/// deadbolt's own `YYYY-MM-DDTHH:MM:SSZ`: such strings order like the times they name. Any
/// other spelling is never compared, so its statement is never dropped.
fn comparable(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Why a strategy's document could not be built from what the finding says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    #[error("the finding carries no accessKeyDetails.principalId, which deny-session needs (ROLEID:session-name); use revoke-sessions or deny-all for this role")]
    MissingPrincipalId,
    #[error("principalId {found:?} is not a role session (expected AROA…:session-name with 2-64 characters of letters, digits and _+=,.@-); use revoke-sessions or deny-all for this role")]
    NotARoleSession { found: String },
    #[error("the time {now_ms} ms since 1970 cannot be written as an RFC 3339 date between 1970 and 9999")]
    TimeOutOfRange { now_ms: i64 },
}

/// The IAM console's "Revoke active sessions" policy (`AWSRevokeOlderSessions`), with
/// deadbolt's Sid: every request made with a role session whose token was issued before
/// `now_ms` is denied.
pub fn revoke_sessions_document(finding_id: &str, now_ms: i64) -> Result<String, StrategyError> {
    role_document(RoleStrategy::RevokeSessions, finding_id, None, now_ms)
}

/// Deny everything to exactly one role session: `aws:userid` of an assumed-role session is
/// `ROLEID:session-name`, which is what GuardDuty reports as the access key's `principalId`.
pub fn deny_session_document(
    finding_id: &str,
    principal_id: &str,
) -> Result<String, StrategyError> {
    role_document(RoleStrategy::DenySession, finding_id, Some(principal_id), 0)
}

/// The document a role strategy writes for one finding on a role with no DenyAll yet: exactly
/// what the responder writes ([`Needed::for_role`], then [`merge`] with nothing there).
/// `principal_id` is the finding's `accessKeyDetails.principalId`; `now_ms` the containment
/// time (the caller owns the clock so this stays pure and testable).
pub fn role_document(
    strategy: RoleStrategy,
    finding_id: &str,
    principal_id: Option<&str>,
    now_ms: i64,
) -> Result<String, StrategyError> {
    let needed = Needed::for_role(strategy, principal_id, now_ms)?;
    Ok(first_document(finding_id, &needed))
}

/// The document for `needed` when nothing is attached yet.
fn first_document(finding_id: &str, needed: &Needed) -> String {
    let sid = format!("{}{}", needed.sid_prefix(), sid_suffix(finding_id));
    policy_document(&[needed.statement(sid)])
}

/// Check `AROA…:session-name`. The value goes into a condition, not a structure, so this is
/// not about injection: a wrong value would silently deny nobody, so it must be refused loudly.
pub fn role_session_userid(principal_id: &str) -> Result<&str, StrategyError> {
    let not_a_session = || StrategyError::NotARoleSession {
        found: principal_id.chars().take(200).collect(),
    };
    let (role_id, session) = principal_id.split_once(':').ok_or_else(not_a_session)?;
    let role_id_ok = role_id.len() >= 16
        && role_id.len() <= 128
        && role_id.starts_with("AROA")
        && role_id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let session_ok = (2..=64).contains(&session.len()) && session.chars().all(is_iam_name_char);
    if role_id_ok && session_ok {
        Ok(principal_id)
    } else {
        Err(not_a_session())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970; `""` outside 1970-9999.
pub fn format_rfc3339_utc(secs: i64) -> String {
    rfc3339_utc(secs).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (years 1970-9999): the shape IAM's
/// `aws:TokenIssueTime` conditions and the breaker's hour buckets use.
pub(crate) fn rfc3339_utc(secs: i64) -> Option<String> {
    if secs < 0 {
        return None;
    }
    let time = chrono::DateTime::from_timestamp(secs, 0).filter(|t| t.year() <= 9999)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{classify_existing, deny_all_document, ExistingDenyAll};
    use serde_json::{json, Value};

    const FINDING: &str = "5ab1c2d3";
    // 2014-05-07T23:47:00Z, the timestamp in AWS's own example of the revoke policy.
    const AWS_EXAMPLE_MS: i64 = 1_399_506_420_000;

    fn parsed(doc: &str) -> Value {
        serde_json::from_str(doc).unwrap()
    }

    #[test]
    fn revoke_sessions_is_the_consoles_revoke_active_sessions_policy() {
        let doc = revoke_sessions_document(FINDING, AWS_EXAMPLE_MS).unwrap();
        // AWS documents (IAM User Guide, "Revoke IAM role temporary security credentials"):
        // {"Effect":"Deny","Action":"*","Resource":"*",
        //  "Condition":{"DateLessThan":{"aws:TokenIssueTime":"2014-05-07T23:47:00Z"}}}
        assert_eq!(
            parsed(&doc),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "DeadboltRevokeSessions5ab1c2d3",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2014-05-07T23:47:00Z"}}
                }]
            })
        );
        // Exact bytes too: this is what PutRolePolicy receives.
        assert_eq!(
            doc,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltRevokeSessions5ab1c2d3","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2014-05-07T23:47:00Z"}}}]}"#
        );
    }

    #[test]
    fn revoke_sessions_rounds_up_so_a_token_from_this_second_is_covered() {
        let doc = parsed(&revoke_sessions_document(FINDING, AWS_EXAMPLE_MS + 1).unwrap());
        assert_eq!(
            doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2014-05-07T23:47:01Z"
        );
        assert_eq!(
            revoke_sessions_document(FINDING, -1001),
            Err(StrategyError::TimeOutOfRange { now_ms: -1001 })
        );
    }

    #[test]
    fn deny_session_denies_exactly_the_findings_role_session() {
        let doc = deny_session_document(FINDING, "AROA2MLRYQ7ZT4XH9KPD1:ci-runner-42").unwrap();
        // AWS documents aws:userid for an assumed role as "role-id:caller-specified-role-name".
        assert_eq!(
            parsed(&doc),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "DeadboltDenySession5ab1c2d3",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:userid": "AROA2MLRYQ7ZT4XH9KPD1:ci-runner-42"}}
                }]
            })
        );
    }

    #[test]
    fn deny_session_refuses_what_is_not_a_role_session() {
        for bad in [
            "AIDA2MLRYQ7ZT4XH9KPD1",              // an IAM user's id, no session
            "AIDA2MLRYQ7ZT4XH9KPD1:alice",        // not a role id
            "AROA2MLRYQ7ZT4XH9KPD1:",             // empty session
            "AROA2MLRYQ7ZT4XH9KPD1:a",            // STS requires 2+ characters
            "AROA2MLRYQ7ZT4XH9KPD1:x\",\"y\":\"", // not IAM name characters
            "aroa2mlryq7zt4xh9kpd1:session",      // unique ids are upper case
        ] {
            assert!(
                matches!(
                    deny_session_document(FINDING, bad),
                    Err(StrategyError::NotARoleSession { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            role_document(RoleStrategy::DenySession, FINDING, None, 0),
            Err(StrategyError::MissingPrincipalId)
        );
    }

    #[test]
    fn role_document_dispatches_and_deny_all_is_unchanged() {
        assert_eq!(
            role_document(RoleStrategy::DenyAll, FINDING, None, 0).unwrap(),
            deny_all_document(FINDING)
        );
        assert_eq!(
            role_document(RoleStrategy::RevokeSessions, FINDING, None, AWS_EXAMPLE_MS).unwrap(),
            revoke_sessions_document(FINDING, AWS_EXAMPLE_MS).unwrap()
        );
    }

    #[test]
    fn deadbolts_strategy_documents_classify_as_deadbolts() {
        let revoke = revoke_sessions_document(FINDING, AWS_EXAMPLE_MS).unwrap();
        let session = deny_session_document(FINDING, "AROA2MLRYQ7ZT4XH9KPD1:s1").unwrap();
        assert_eq!(
            classify_existing(&revoke),
            ExistingDenyAll::Deadbolt {
                sid: "DeadboltRevokeSessions5ab1c2d3".into()
            }
        );
        assert_eq!(
            classify_existing(&session),
            ExistingDenyAll::Deadbolt {
                sid: "DeadboltDenySession5ab1c2d3".into()
            }
        );
        // The console's own revoke policy (no deadbolt Sid) and conditional denies that are
        // not exactly deadbolt's stay someone else's.
        for other in [
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2014-05-07T23:47:00Z"}}}}"#,
            r#"{"Statement":[{"Sid":"DeadboltRevokeSessionsX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:TokenIssueTime":"2014-05-07T23:47:00Z"}}}]}"#,
            r#"{"Statement":[{"Sid":"DeadboltRevokeSessionsX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROAX:s"}}}]}"#,
            r#"{"Statement":[{"Sid":"DeadboltDenySessionX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROAX:s","aws:SourceIp":"10.0.0.1"}}}]}"#,
            r#"{"Statement":[{"Sid":"DeadboltDenySessionX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":["AROAX:s"]}}}]}"#,
            r#"{"Statement":[{"Sid":"DeadboltDenyAllX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2014-05-07T23:47:00Z"}}}]}"#,
            r#"{"Statement":[{"Sid":"DeadboltDenySessionX","Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AROAX:s"}}}]}"#,
        ] {
            assert_eq!(
                classify_existing(other),
                ExistingDenyAll::Conflicting,
                "{other}"
            );
        }
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339_utc(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_251_199).unwrap(), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(1_798_761_600).unwrap(), "2027-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_utc(253_402_300_799).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(rfc3339_utc(253_402_300_800), None);
        assert_eq!(rfc3339_utc(-1), None);
    }

    #[test]
    fn strategies_use_the_documented_spellings() {
        for (s, text) in [
            (RoleStrategy::DenyAll, "deny-all"),
            (RoleStrategy::RevokeSessions, "revoke-sessions"),
            (RoleStrategy::DenySession, "deny-session"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), text);
            assert_eq!(s.as_str(), text);
            assert!(RoleStrategy::ACCEPTED.contains(text));
        }
    }

    #[test]
    fn merge_keeps_what_it_cannot_compare_and_refuses_to_grow_without_bound() {
        // A revoke time deadbolt did not spell is never dropped; the new one is added.
        let odd = r#"{"Statement":[{"Sid":"DeadboltRevokeSessionsX","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2020-01-01"}}}]}"#;
        let needed = Needed::IssuedBefore("2026-11-23T12:00:00Z".into());
        match merge(Some(odd), FINDING, &needed) {
            Merge::Write {
                kept,
                superseded,
                document,
            } => {
                assert_eq!((kept, superseded), (1, 0));
                assert!(document.contains("2020-01-01\""));
            }
            other => panic!("{other:?}"),
        }
        // An earlier finding with the same id: the Sid gets a suffix (IAM wants them unique).
        let first = match merge(
            None,
            FINDING,
            &Needed::Session("AROAAAAAAAAAAAAAAAAA:s1".into()),
        ) {
            Merge::Write { document, .. } => document,
            other => panic!("{other:?}"),
        };
        let second = match merge(
            Some(&first),
            FINDING,
            &Needed::Session("AROAAAAAAAAAAAAAAAAA:s2".into()),
        ) {
            Merge::Write { document, .. } => document,
            other => panic!("{other:?}"),
        };
        let v = parsed(&second);
        assert_eq!(v["Statement"][0]["Sid"], "DeadboltDenySession5ab1c2d3");
        assert_eq!(v["Statement"][1]["Sid"], "DeadboltDenySession5ab1c2d31");
        // Many sessions: refused before IAM's limit, never truncated.
        let mut doc = first;
        let mut outcome = None;
        for n in 0..200 {
            match merge(
                Some(&doc),
                &format!("f{n}"),
                &Needed::Session(format!("AROAAAAAAAAAAAAAAAAA:session-{n}")),
            ) {
                Merge::Write { document, .. } => doc = document,
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        assert!(matches!(outcome, Some(Merge::TooLarge { size }) if size > MERGED_DOCUMENT_LIMIT));
        assert!(doc.len() <= MERGED_DOCUMENT_LIMIT);
    }
}
