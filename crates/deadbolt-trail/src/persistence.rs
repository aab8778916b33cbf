//! The persistence sweep: what the investigated sessions created or changed in IAM that could
//! outlive the session (new users, keys, passwords, trust policies, attached or inline
//! policies). Containing the session does not undo any of these; each is a follow-up
//! containment candidate, with the CloudTrail events that show it.

use deadbolt_core::followup::{CreatedEntity, CreatedKind};
use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::activity::Window;
use crate::record::Record;

const IAM_EVENT_SOURCE: &str = "iam.amazonaws.com";

/// The IAM calls that leave something behind.
pub const PERSISTENCE_EVENTS: [&str; 14] = [
    "CreateUser",
    "CreateRole",
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "UpdateAssumeRolePolicy",
    "AttachUserPolicy",
    "AttachRolePolicy",
    "AttachGroupPolicy",
    "PutUserPolicy",
    "PutRolePolicy",
    "PutGroupPolicy",
    "CreatePolicyVersion",
    "AddUserToGroup",
];

/// What a persistence call acted on, from `requestParameters` (and, for a new access key,
/// `responseElements.accessKey`). Fields the call does not take stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PersistenceEntity {
    pub user_name: Option<String>,
    pub role_name: Option<String>,
    pub group_name: Option<String>,
    pub policy_arn: Option<String>,
    pub policy_name: Option<String>,
    /// The key CreateAccessKey handed out (`responseElements.accessKey.accessKeyId`).
    pub access_key_id: Option<String>,
}

/// One thing to check and, if it was the attacker's, undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersistenceCandidate {
    pub event_source: String,
    pub event_name: String,
    pub entity: PersistenceEntity,
    /// False when CloudTrail recorded an `errorCode`: nothing to undo, but it shows intent.
    pub succeeded: bool,
    /// The error codes of failed calls.
    pub error_codes: Vec<String>,
    /// The session key that made the call(s).
    pub session_access_key_id: String,
    pub first_event_time: String,
    /// Every event showing this (same call, entity, session and outcome), in time order.
    pub event_ids: Vec<String>,
    /// What a responder should do about it.
    pub follow_up: String,
}

impl PersistenceCandidate {
    /// What this call created, for follow-up containment: a user, a role or an access key, and
    /// only if the call succeeded. Everything else (changes to existing entities) is reported
    /// with its undo step, never contained automatically.
    pub fn created(&self) -> Option<CreatedEntity> {
        if !self.succeeded {
            return None;
        }
        let e = &self.entity;
        let (kind, name, key) = match self.event_name.as_str() {
            "CreateUser" => (CreatedKind::User, &e.user_name, None),
            "CreateRole" => (CreatedKind::Role, &e.role_name, None),
            "CreateAccessKey" => (
                CreatedKind::AccessKey,
                &e.user_name,
                e.access_key_id.clone(),
            ),
            _ => return None,
        };
        Some(CreatedEntity::created(
            kind,
            &self.event_name,
            self.event_ids.clone(),
            name.clone(),
            key,
        ))
    }
}

type CandidateKey = (String, PersistenceEntity, bool, String);

/// The persistence calls in `records` made with one of `session_keys` inside `window`, in time
/// order of their first event.
pub fn persistence_sweep<'r>(
    session_keys: &HashSet<&str>,
    records: impl IntoIterator<Item = &'r Record>,
    window: Window,
) -> Vec<PersistenceCandidate> {
    let mut seen_events: HashSet<&str> = HashSet::new();
    let mut found: BTreeMap<CandidateKey, PersistenceCandidate> = BTreeMap::new();
    let mut hits: Vec<&Record> = records
        .into_iter()
        .filter(|record| {
            record.event_source == IAM_EVENT_SOURCE
                && PERSISTENCE_EVENTS.contains(&record.event_name.as_str())
                && record
                    .user_identity
                    .access_key_id
                    .as_deref()
                    .is_some_and(|key| session_keys.contains(key))
                && record.event_time_ms().is_ok_and(|t| window.contains(t))
        })
        .collect();
    // RFC 3339 UTC strings of one shape sort chronologically; eventID breaks ties so the
    // output does not depend on file order.
    hits.sort_by(|a, b| {
        (a.event_time_ms().ok(), &a.event_id).cmp(&(b.event_time_ms().ok(), &b.event_id))
    });

    for record in hits {
        if !seen_events.insert(record.event_id.as_str()) {
            continue;
        }
        let entity = entity_of(record);
        let succeeded = !record.is_failure();
        let session = record
            .user_identity
            .access_key_id
            .clone()
            .unwrap_or_default();
        let key = (
            record.event_name.clone(),
            entity.clone(),
            succeeded,
            session.clone(),
        );
        let candidate = found.entry(key).or_insert_with(|| PersistenceCandidate {
            event_source: record.event_source.clone(),
            event_name: record.event_name.clone(),
            follow_up: follow_up(&record.event_name, &entity, succeeded),
            entity,
            succeeded,
            error_codes: Vec::new(),
            session_access_key_id: session,
            first_event_time: record.event_time.clone(),
            event_ids: Vec::new(),
        });
        candidate.event_ids.push(record.event_id.clone());
        if let Some(code) = record.error_code.as_ref().filter(|code| !code.is_empty()) {
            if !candidate.error_codes.contains(code) {
                candidate.error_codes.push(code.clone());
            }
        }
    }
    let mut candidates: Vec<PersistenceCandidate> = found.into_values().collect();
    candidates.sort_by(|a, b| {
        (&a.first_event_time, &a.event_ids).cmp(&(&b.first_event_time, &b.event_ids))
    });
    candidates
}

fn entity_of(record: &Record) -> PersistenceEntity {
    let request = |field: &str| record.request_str(field).map(str::to_string);
    PersistenceEntity {
        // CreateAccessKey without userName creates a key for the caller itself; the response
        // still names the user.
        user_name: request("userName").or_else(|| {
            record
                .response_str("accessKey.userName")
                .map(str::to_string)
        }),
        role_name: request("roleName"),
        group_name: request("groupName"),
        policy_arn: request("policyArn"),
        policy_name: request("policyName"),
        access_key_id: record
            .response_str("accessKey.accessKeyId")
            .map(str::to_string),
    }
}

fn follow_up(event_name: &str, entity: &PersistenceEntity, succeeded: bool) -> String {
    let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "(unknown)".to_string());
    if !succeeded {
        return format!(
            "{event_name} failed: nothing to undo, but it shows intent; check for a later \
             successful attempt"
        );
    }
    let (user, role, group) = (
        show(&entity.user_name),
        show(&entity.role_name),
        show(&entity.group_name),
    );
    let policy = entity
        .policy_arn
        .clone()
        .or_else(|| entity.policy_name.clone())
        .unwrap_or_else(|| "(unknown)".to_string());
    match event_name {
        "CreateUser" => format!("review IAM user {user}; delete it if it is not known"),
        "CreateRole" => {
            format!("review role {role} and its trust policy; delete it if it is not known")
        }
        "CreateAccessKey" => format!(
            "deactivate and delete access key {} of user {user}",
            show(&entity.access_key_id)
        ),
        "CreateLoginProfile" | "UpdateLoginProfile" => {
            format!("delete or reset the console password of user {user}")
        }
        "UpdateAssumeRolePolicy" => {
            format!("restore the previous trust policy of role {role}")
        }
        "AttachUserPolicy" => format!("detach {policy} from user {user}"),
        "AttachRolePolicy" => format!("detach {policy} from role {role}"),
        "AttachGroupPolicy" => format!("detach {policy} from group {group}"),
        "PutUserPolicy" => format!("delete inline policy {policy} of user {user}"),
        "PutRolePolicy" => format!("delete inline policy {policy} of role {role}"),
        "PutGroupPolicy" => format!("delete inline policy {policy} of group {group}"),
        "CreatePolicyVersion" => {
            format!("restore the previous default version of {policy} and delete the new one")
        }
        "AddUserToGroup" => format!("remove user {user} from group {group}"),
        _ => format!("review {event_name}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn call(
        id: &str,
        name: &str,
        key: &str,
        request: Value,
        response: Value,
        error: Option<&str>,
    ) -> Record {
        serde_json::from_value(json!({
            "eventTime": "2026-11-20T14:00:00Z", "eventSource": "iam.amazonaws.com",
            "eventName": name, "eventID": id, "errorCode": error,
            "requestParameters": request, "responseElements": response,
            "userIdentity": {"type": "AssumedRole", "accessKeyId": key}
        }))
        .unwrap()
    }

    #[test]
    fn finds_keys_users_and_policies_of_the_sessions_only() {
        let records = [
            call(
                "e1",
                "CreateAccessKey",
                "ASIAME",
                json!({"userName": "backdoor"}),
                json!({"accessKey": {"accessKeyId": "AKIANEW", "userName": "backdoor"}}),
                None,
            ),
            call(
                "e2",
                "CreateUser",
                "ASIAME",
                json!({"userName": "backdoor"}),
                Value::Null,
                None,
            ),
            call(
                "e3",
                "PutRolePolicy",
                "ASIAME",
                json!({"roleName": "Ops", "policyName": "x"}),
                Value::Null,
                Some("AccessDenied"),
            ),
            call(
                "e4",
                "CreateUser",
                "ASIAOTHER",
                json!({"userName": "legit"}),
                Value::Null,
                None,
            ),
            call("e5", "ListUsers", "ASIAME", Value::Null, Value::Null, None),
            call(
                "e1",
                "CreateAccessKey",
                "ASIAME",
                Value::Null,
                Value::Null,
                None,
            ), // duplicate
        ];
        let keys = HashSet::from(["ASIAME"]);
        let window = Window::new(0, i64::MAX).unwrap();
        let found = persistence_sweep(&keys, &records, window);
        let summary: Vec<(&str, bool, &[String])> = found
            .iter()
            .map(|c| (c.event_name.as_str(), c.succeeded, c.event_ids.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [
                ("CreateAccessKey", true, &["e1".to_string()][..]),
                ("CreateUser", true, &["e2".to_string()][..]),
                ("PutRolePolicy", false, &["e3".to_string()][..]),
            ]
        );
        assert_eq!(found[0].entity.access_key_id.as_deref(), Some("AKIANEW"));
        assert_eq!(
            found[0].follow_up,
            "deactivate and delete access key AKIANEW of user backdoor"
        );
        assert_eq!(found[2].error_codes, ["AccessDenied"]);
        assert!(found[2].follow_up.contains("failed"));
    }
}
