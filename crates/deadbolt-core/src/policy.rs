//! The DenyAll inline policy: building deadbolt's document and recognising what is already
//! attached under that name. Documents are always built with serde, never by formatting
//! strings, so nothing from a finding can change their structure.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyDocument<'a> {
    version: &'a str,
    statement: [Statement<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    sid: String,
    effect: &'a str,
    action: &'a str,
    resource: &'a str,
}

/// deadbolt's DenyAll document for a finding:
/// `{"Version":"2012-10-17","Statement":[{"Sid":"DeadboltDenyAll<id>","Effect":"Deny","Action":"*","Resource":"*"}]}`.
pub fn deny_all_document(finding_id: &str) -> String {
    let doc = PolicyDocument {
        version: "2012-10-17",
        statement: [Statement {
            sid: format!("{SID_PREFIX}{}", sid_suffix(finding_id)),
            effect: "Deny",
            action: "*",
            resource: "*",
        }],
    };
    // Serialising a struct of strings cannot fail.
    serde_json::to_string(&doc).unwrap_or_default()
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

/// Classify a policy document (already URL-decoded) found under the DenyAll name.
pub fn classify_existing(document: &str) -> ExistingDenyAll {
    let Ok(policy) = serde_json::from_str::<AnyPolicy>(document) else {
        return ExistingDenyAll::Conflicting;
    };
    let statements: Vec<&Value> = match &policy.statement {
        Value::Array(items) => items.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => return ExistingDenyAll::Conflicting,
    };
    let kinds: Vec<StatementKind> = statements.iter().map(|s| statement_kind(s)).collect();
    if kinds.is_empty() || kinds.contains(&StatementKind::Other) {
        return ExistingDenyAll::Conflicting;
    }
    let sid = kinds.iter().find_map(|k| match k {
        StatementKind::DenyEverything { sid } => sid.filter(|s| s.starts_with(SID_PREFIX)),
        StatementKind::DeadboltConditional { sid } => Some(*sid),
        StatementKind::Other => None,
    });
    match sid {
        Some(sid) => ExistingDenyAll::Deadbolt {
            sid: sid.to_string(),
        },
        None => ExistingDenyAll::Equivalent,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatementKind<'a> {
    /// `{"Effect":"Deny","Action":"*","Resource":"*"}` with no conditions or exceptions.
    DenyEverything { sid: Option<&'a str> },
    /// Deny everything under exactly the one condition a deadbolt strategy writes, with that
    /// strategy's Sid. A conditional deny is only recognised with deadbolt's Sid: without it we
    /// cannot know what it was meant to restrain, so it stays someone else's policy.
    DeadboltConditional { sid: &'a str },
    /// Anything else: never deadbolt's, never overwritten.
    Other,
}

fn statement_kind(statement: &Value) -> StatementKind<'_> {
    let Some(obj) = statement.as_object() else {
        return StatementKind::Other;
    };
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
        return StatementKind::Other;
    }
    let sid = obj.get("Sid").and_then(Value::as_str);
    let Some(condition) = obj.get("Condition") else {
        return StatementKind::DenyEverything { sid };
    };
    // Exactly `{"<operator>":{"<key>":"<string>"}}`: one operator, one key, one value.
    fn only(v: &Value) -> Option<(&str, &Value)> {
        let m = v.as_object().filter(|m| m.len() == 1)?;
        m.iter().next().map(|(k, v)| (k.as_str(), v))
    }
    let condition = only(condition).and_then(|(op, inner)| {
        let (key, value) = only(inner)?;
        value.as_str().map(|_| (op, key))
    });
    match (sid, condition) {
        (Some(sid), Some(("DateLessThan", "aws:TokenIssueTime")))
            if sid.starts_with(REVOKE_SESSIONS_SID_PREFIX) =>
        {
            StatementKind::DeadboltConditional { sid }
        }
        (Some(sid), Some(("StringEquals", "aws:userid")))
            if sid.starts_with(DENY_SESSION_SID_PREFIX) =>
        {
            StatementKind::DeadboltConditional { sid }
        }
        _ => StatementKind::Other,
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
}
