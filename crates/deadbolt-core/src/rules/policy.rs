//! The DenyAll inline policy: building deadbolt's document and recognising what is already
//! attached under that name. Documents are always built with serde, never by formatting
//! strings, so nothing from a finding can change their structure.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The inline policy name the playbook uses; operators recognise it.
pub const DENY_ALL_POLICY_NAME: &str = "DenyAll";
/// deadbolt's statements carry this Sid prefix, followed by the finding id, so a DenyAll can be
/// traced back to the finding that caused it and told apart from one a human attached.
pub const SID_PREFIX: &str = "DeadboltDenyAll";
/// Sid prefix of deadbolt's `revoke-sessions` statement (Deny everything to role sessions whose
/// token was issued before the containment). A separate prefix tells an operator reading the
/// policy in the console which strategy wrote it.
pub const REVOKE_SESSIONS_SID_PREFIX: &str = "DeadboltRevokeSessions";
/// Sid prefix of deadbolt's `deny-session` statement (Deny everything to one role session).
pub const DENY_SESSION_SID_PREFIX: &str = "DeadboltDenySession";

/// deadbolt's DenyAll document for a finding:
/// `{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltDenyAll<id>","Effect":"Deny","Action":"*","Resource":"*"}]}`.
pub fn deny_all_document(finding_id: &str) -> String {
    policy_document(&[DenyStatement::Everything {
        sid: Some(format!("{SID_PREFIX}{}", sid_suffix(finding_id))),
    }])
}

/// The finding id as a Sid suffix. IAM Sids are alphanumeric only; GuardDuty ids are hex, but
/// never trust that.
pub(crate) fn sid_suffix(finding_id: &str) -> String {
    finding_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect()
}

/// `base`, or `base1`, `base2`, … : the first Sid not `taken`. IAM wants Sids unique within a
/// policy, and the same finding id can come back (another session, another user).
pub(crate) fn unique_sid(base: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&base) {
        return base;
    }
    (1u32..)
        .map(|n| format!("{base}{n}"))
        .find(|sid| !taken(sid))
        .unwrap_or(base)
}

/// What an existing inline policy named `DenyAll` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingDenyAll {
    /// deadbolt's own document (Sid `DeadboltDenyAll…`).
    Deadbolt { sid: String },
    /// A deny-everything document someone else attached (the playbook's manual step).
    Equivalent,
    /// Something else under the same name: never overwritten.
    Conflicting,
}

impl ExistingDenyAll {
    pub fn is_deadbolts(&self) -> bool {
        matches!(self, ExistingDenyAll::Deadbolt { .. })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnyPolicy {
    statement: Value,
}

/// One statement of a policy under the DenyAll name that deadbolt understands exactly. Anything
/// else makes the whole policy someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyStatement {
    /// `{"Effect":"Deny","Action":"*","Resource":"*"}` with no condition; `sid` as written.
    Everything { sid: Option<String> },
    /// deadbolt's `revoke-sessions`: deny role sessions whose token was issued before `before`.
    IssuedBefore { sid: String, before: String },
    /// deadbolt's `deny-session`: deny the one role session `userid` (`ROLEID:session`).
    Session { sid: String, userid: String },
}

impl DenyStatement {
    pub fn sid(&self) -> Option<&str> {
        match self {
            DenyStatement::Everything { sid } => sid.as_deref(),
            DenyStatement::IssuedBefore { sid, .. } | DenyStatement::Session { sid, .. } => {
                Some(sid)
            }
        }
    }

    /// Whether IAM applies this statement to a request made with the role session `userid`
    /// (`ROLEID:session`, `aws:userid`) whose token was issued at `token_issued` (RFC 3339,
    /// `aws:TokenIssueTime`): how AWS evaluates the three shapes deadbolt writes.
    /// `StringEquals` is case-sensitive; `DateLessThan` compares instants, and deadbolt writes
    /// both sides as `YYYY-MM-DDTHH:MM:SSZ`, so comparing the strings is comparing the times.
    pub fn denies(&self, userid: &str, token_issued: &str) -> bool {
        match self {
            DenyStatement::Everything { .. } => true,
            DenyStatement::IssuedBefore { before, .. } => token_issued < before.as_str(),
            DenyStatement::Session { userid: denied, .. } => denied == userid,
        }
    }

    /// Written by deadbolt: an unconditional deny with deadbolt's Sid, or one of its
    /// conditional statements (only ever recognised with deadbolt's Sid).
    pub fn is_deadbolts(&self) -> bool {
        match self {
            DenyStatement::Everything { sid } => {
                sid.as_deref().is_some_and(|s| s.starts_with(SID_PREFIX))
            }
            _ => true,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DocumentOut<'a> {
    version: &'a str,
    statement: Vec<StatementOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatementOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    effect: &'a str,
    action: &'a str,
    resource: &'a str,
    /// `{"<operator>": {"<condition key>": "<value>"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>>,
}

/// The policy document for a list of statements, built with serde: values from findings are
/// only ever JSON strings inside a fixed structure.
pub fn policy_document(statements: &[DenyStatement]) -> String {
    let condition = |op, key, value| Some(BTreeMap::from([(op, BTreeMap::from([(key, value)]))]));
    let doc = DocumentOut {
        version: "2012-10-17",
        statement: statements
            .iter()
            .map(|s| StatementOut {
                sid: s.sid(),
                effect: "Deny",
                action: "*",
                resource: "*",
                condition: match s {
                    DenyStatement::Everything { .. } => None,
                    DenyStatement::IssuedBefore { before, .. } => {
                        condition("DateLessThan", "aws:TokenIssueTime", before.as_str())
                    }
                    DenyStatement::Session { userid, .. } => {
                        condition("StringEquals", "aws:userid", userid.as_str())
                    }
                },
            })
            .collect(),
    };
    // Plain strings and string maps cannot fail to serialise.
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Parse a policy found under the DenyAll name into statements deadbolt understands, or
/// `None` when any part of it is something else (never touched by deadbolt).
pub fn deny_statements(document: &str) -> Option<Vec<DenyStatement>> {
    let policy = serde_json::from_str::<AnyPolicy>(document).ok()?;
    let statements: Vec<&Value> = match &policy.statement {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return None,
    };
    if statements.is_empty() {
        return None;
    }
    statements.into_iter().map(deny_statement).collect()
}

/// Whether a DenyAll document deadbolt understands denies the role session `userid` issued
/// at `token_issued` ([`DenyStatement::denies`]); `None` when the document is not one
/// deadbolt understands. What the decision record and tests use to say whose sessions a
/// written policy stops, and whose it leaves alone.
pub fn denies_session(document: &str, userid: &str, token_issued: &str) -> Option<bool> {
    deny_statements(document).map(|all| all.iter().any(|s| s.denies(userid, token_issued)))
}

/// Classify a policy document (already URL-decoded) found under the DenyAll name.
pub fn classify_existing(document: &str) -> ExistingDenyAll {
    let Some(statements) = deny_statements(document) else {
        return ExistingDenyAll::Conflicting;
    };
    match statements
        .iter()
        .find(|s| s.is_deadbolts())
        .and_then(|s| s.sid())
    {
        Some(sid) => ExistingDenyAll::Deadbolt {
            sid: sid.to_string(),
        },
        None => ExistingDenyAll::Equivalent,
    }
}

fn deny_statement(statement: &Value) -> Option<DenyStatement> {
    let obj = statement.as_object()?;
    let star = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s == "*",
        Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some("*"),
        _ => false,
    };
    let allowed_keys = ["Sid", "Effect", "Action", "Resource", "Condition"];
    let deny_all = obj.keys().all(|k| allowed_keys.contains(&k.as_str()))
        && obj.get("Effect").and_then(Value::as_str) == Some("Deny")
        && star(obj.get("Action"))
        && star(obj.get("Resource"));
    if !deny_all {
        return None;
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return None,
    };
    let Some(condition) = obj.get("Condition") else {
        return Some(DenyStatement::Everything {
            sid: sid.map(str::to_string),
        });
    };
    // A conditional deny is only recognised with deadbolt's Sid and exactly the one condition
    // a strategy writes, `{"<operator>":{"<key>":"<string>"}}`: without that we cannot know
    // what it was meant to restrain, so it stays someone else's policy.
    fn only(v: &Value) -> Option<(&str, &Value)> {
        let m = v.as_object().filter(|m| m.len() == 1)?;
        m.iter().next().map(|(k, v)| (k.as_str(), v))
    }
    let (op, inner) = only(condition)?;
    let (key, value) = only(inner)?;
    let value = value.as_str()?.to_string();
    let sid = sid?.to_string();
    match (op, key) {
        ("DateLessThan", "aws:TokenIssueTime") if sid.starts_with(REVOKE_SESSIONS_SID_PREFIX) => {
            Some(DenyStatement::IssuedBefore { sid, before: value })
        }
        ("StringEquals", "aws:userid") if sid.starts_with(DENY_SESSION_SID_PREFIX) => {
            Some(DenyStatement::Session { sid, userid: value })
        }
        _ => None,
    }
}

/// Sid prefix of the statement deadbolt adds to an Identity Center permission set's inline
/// policy to deny one Identity Center user.
pub const IDC_SID_PREFIX: &str = "DeadboltDenyIdcUser";
/// IAM Identity Center's limit on a permission set's inline policy.
pub const PERMISSION_SET_POLICY_LIMIT: usize = 32_768;

/// AWS's documented way to revoke an Identity Center user's sessions of a permission set:
/// `{"Sid":…,"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:UserId":…}}}`.
pub fn identity_center_statement(sid: &str, user_id: &str) -> String {
    serde_json::to_string(&idc_statement(sid, user_id)).unwrap_or_default()
}

/// A typed statement, so its keys come out in the documented order whatever serde_json
/// features the build unifies (a `json!` map would sort them in some builds and not others).
fn idc_statement<'a>(sid: &'a str, user_id: &'a str) -> StatementOut<'a> {
    StatementOut {
        sid: Some(sid),
        effect: "Deny",
        action: "*",
        resource: "*",
        condition: Some(BTreeMap::from([(
            "StringEquals",
            BTreeMap::from([("identitystore:UserId", user_id)]),
        )])),
    }
}

fn identity_center_value(sid: &str, user_id: &str) -> Value {
    serde_json::to_value(idc_statement(sid, user_id)).unwrap_or_default()
}

/// Whether `statement` is deadbolt's deny for `user_id` (any user when `None`).
fn is_deadbolt_idc_deny(statement: &Value, user_id: Option<&str>) -> bool {
    let sid_ok = statement
        .get("Sid")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with(IDC_SID_PREFIX));
    let denied = statement
        .pointer("/Condition/StringEquals/identitystore:UserId")
        .and_then(Value::as_str);
    sid_ok
        && statement.get("Effect").and_then(Value::as_str) == Some("Deny")
        && statement.get("Action").and_then(Value::as_str) == Some("*")
        && statement.get("Resource").and_then(Value::as_str) == Some("*")
        && denied.is_some_and(|d| user_id.is_none_or(|u| u == d))
}

/// What to do with a permission set's inline policy to deny one Identity Center user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionSetMerge {
    /// deadbolt's deny for this user is already there.
    Covered {
        sid: String,
    },
    /// Write this document: the existing statements, untouched, plus deadbolt's.
    Write {
        document: String,
    },
    /// The existing inline policy is not a policy document deadbolt can add to safely.
    Unreadable {
        problem: String,
    },
    TooLarge {
        size: usize,
    },
}

/// Add deadbolt's deny for `user_id` to the permission set's inline policy. Every statement
/// already there is kept exactly: the permission set belongs to the organisation's admins.
pub fn merge_permission_set_policy(
    existing: Option<&str>,
    finding_id: &str,
    user_id: &str,
) -> PermissionSetMerge {
    let existing = existing.filter(|d| !d.trim().is_empty());
    let mut doc = match existing.map(serde_json::from_str::<Value>) {
        None => serde_json::json!({"Version": "2012-10-17", "Statement": []}),
        Some(Ok(v @ Value::Object(_))) => v,
        Some(Ok(_)) => {
            return PermissionSetMerge::Unreadable {
                problem: "the inline policy is not a JSON object".into(),
            }
        }
        Some(Err(e)) => {
            return PermissionSetMerge::Unreadable {
                problem: format!("the inline policy is not JSON ({e})"),
            }
        }
    };
    let statements = match doc.get_mut("Statement") {
        Some(Value::Array(items)) => std::mem::take(items),
        Some(single @ Value::Object(_)) => vec![single.take()],
        _ => {
            return PermissionSetMerge::Unreadable {
                problem: "the inline policy has no Statement list".into(),
            }
        }
    };
    if let Some(s) = statements
        .iter()
        .find(|s| is_deadbolt_idc_deny(s, Some(user_id)))
    {
        return PermissionSetMerge::Covered {
            sid: s
                .get("Sid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        };
    }
    let base = format!("{IDC_SID_PREFIX}{}", sid_suffix(finding_id));
    let taken = |sid: &str| {
        statements
            .iter()
            .any(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
    };
    let sid = unique_sid(base, taken);
    let mut statements = statements;
    statements.push(identity_center_value(&sid, user_id));
    doc["Statement"] = Value::Array(statements);
    let document = doc.to_string();
    if document.len() > PERMISSION_SET_POLICY_LIMIT {
        return PermissionSetMerge::TooLarge {
            size: document.len(),
        };
    }
    PermissionSetMerge::Write { document }
}

/// Remove deadbolt's deny statements for `user_id` (every user when `None`) from a permission
/// set's inline policy. `None` when there is nothing of deadbolt's to remove; otherwise the
/// remaining document (`None` inside when no statement is left: delete the inline policy).
pub fn remove_permission_set_denies(
    existing: &str,
    user_id: Option<&str>,
) -> Option<(Option<String>, usize)> {
    let mut doc: Value = serde_json::from_str(existing).ok()?;
    let statements = match doc.get_mut("Statement")? {
        Value::Array(items) => std::mem::take(items),
        single @ Value::Object(_) => vec![single.take()],
        _ => return None,
    };
    let before = statements.len();
    let kept: Vec<Value> = statements
        .into_iter()
        .filter(|s| !is_deadbolt_idc_deny(s, user_id))
        .collect();
    let removed = before - kept.len();
    if removed == 0 {
        return None;
    }
    if kept.is_empty() {
        return Some((None, removed));
    }
    doc["Statement"] = Value::Array(kept);
    Some((Some(doc.to_string()), removed))
}

/// The AWS managed policy deadbolt attaches when its inline `DenyAll` cannot be written.
pub const MANAGED_DENY_ALL_NAME: &str = "AWSDenyAll";

/// The tag that says deadbolt attached `AWSDenyAll` to a user or role, with the finding id as
/// its value: `deadbolt unblock` detaches only where it is present. Groups cannot be tagged.
pub const MANAGED_DENY_ALL_TAG: &str = "deadbolt:managed-deny-all";

/// `arn:{partition}:iam::aws:policy/AWSDenyAll`.
pub fn managed_deny_all_arn(partition: &str) -> String {
    format!("arn:{partition}:iam::aws:policy/{MANAGED_DENY_ALL_NAME}")
}

/// Whether `arn` is the AWS managed `AWSDenyAll`, in any partition.
pub fn is_managed_deny_all(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", "aws", resource]
            if !partition.is_empty() && *resource == "policy/AWSDenyAll"
    )
}

/// The partition of an ARN (`arn:PARTITION:...`).
pub fn partition_of(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(p)) if !p.is_empty() => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_the_documented_deny_all_with_a_traceable_sid() {
        let doc: Value = serde_json::from_str(&deny_all_document("5ab1c2d3")).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Sid": "DeadboltDenyAll5ab1c2d3", "Effect": "Deny", "Action": "*", "Resource": "*"}]
            })
        );
    }

    #[test]
    fn hostile_finding_id_cannot_change_the_document_structure() {
        let doc: Value =
            serde_json::from_str(&deny_all_document("x\",\"Effect\":\"Allow")).unwrap();
        assert_eq!(doc["Statement"][0]["Sid"], "DeadboltDenyAllxEffectAllow");
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn classifies_what_is_already_attached() {
        assert_eq!(
            classify_existing(&deny_all_document("abc")),
            ExistingDenyAll::Deadbolt {
                sid: "DeadboltDenyAllabc".into()
            }
        );
        // The playbook's manual document: no Version, no Sid.
        assert_eq!(
            classify_existing(
                r#"{ "Statement": [ { "Effect": "Deny", "Action": "*", "Resource": "*" } ] }"#
            ),
            ExistingDenyAll::Equivalent
        );
        assert_eq!(
            classify_existing(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":["*"],"Resource":["*"]}}"#
            ),
            ExistingDenyAll::Equivalent
        );
        for conflicting in [
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
            r#"{"Statement":[{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}]}"#,
            r#"{"Statement":[]}"#,
            "not json",
        ] {
            assert_eq!(
                classify_existing(conflicting),
                ExistingDenyAll::Conflicting,
                "{conflicting}"
            );
        }
    }

    #[test]
    fn permission_set_merge_adds_one_statement_and_removal_takes_only_deadbolts() {
        let theirs = r#"{"Version":"2012-10-17","Statement":{"Sid":"ReadOnly","Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#;
        let PermissionSetMerge::Write { document } =
            merge_permission_set_policy(Some(theirs), "f1", "user-1")
        else {
            panic!("expected a write")
        };
        let v: Value = serde_json::from_str(&document).unwrap();
        assert_eq!(v["Statement"][0]["Sid"], "ReadOnly");
        assert_eq!(
            v["Statement"][1]["Condition"]["StringEquals"]["identitystore:UserId"],
            "user-1"
        );
        assert_eq!(
            merge_permission_set_policy(Some(&document), "f2", "user-1"),
            PermissionSetMerge::Covered {
                sid: "DeadboltDenyIdcUserf1".into()
            }
        );
        // Nothing deadbolt wrote: nothing to remove.
        assert_eq!(remove_permission_set_denies(theirs, None), None);
        let (left, removed) = remove_permission_set_denies(&document, Some("user-1")).unwrap();
        assert_eq!(removed, 1);
        let left: Value = serde_json::from_str(&left.unwrap()).unwrap();
        assert_eq!(left["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(left["Statement"][0]["Sid"], "ReadOnly");
        // Only deadbolt's statement: removing it leaves no policy.
        let PermissionSetMerge::Write { document: only } =
            merge_permission_set_policy(None, "f1", "u")
        else {
            panic!()
        };
        assert_eq!(
            remove_permission_set_denies(&only, Some("u")),
            Some((None, 1))
        );
        // A user id from the identity store is a value, never structure.
        let PermissionSetMerge::Write { document: hostile } =
            merge_permission_set_policy(None, "f1", "\"},{\"Effect\":\"Allow")
        else {
            panic!()
        };
        let v: Value = serde_json::from_str(&hostile).unwrap();
        assert_eq!(v["Statement"].as_array().unwrap().len(), 1);
        assert!(matches!(
            merge_permission_set_policy(Some("[1]"), "f", "u"),
            PermissionSetMerge::Unreadable { .. }
        ));
        assert!(matches!(
            merge_permission_set_policy(Some("{}"), "f", "u"),
            PermissionSetMerge::Unreadable { .. }
        ));
    }
}
