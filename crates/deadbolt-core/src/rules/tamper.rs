//! The tamper watch's vocabulary: a CloudTrail management event (as EventBridge delivers it,
//! `detail-type: AWS API Call via CloudTrail`, or the bare CloudTrail record `deadbolt replay`
//! reads from a file) that undoes part of a containment: deadbolt's inline `DenyAll` deleted,
//! `AWSDenyAll` detached or removed as the permissions boundary, or a key set active again.
//!
//! The event is a *hint*, never the evidence: the responder re-applies only what its own
//! ledger says is in force and not released, and re-applying is idempotent. A forged event can
//! at most make deadbolt check a containment that is already there.

use serde_json::Value;

use crate::finding::InputError;
use crate::policy::DENY_ALL_POLICY_NAME;
use crate::principal::{ContainmentTarget, TargetKind};

/// EventBridge's `detail-type` for CloudTrail management events.
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// The IAM calls the watch reacts to (the template's `TamperWatchRule` routes exactly these).
pub const WATCHED_EVENTS: &[&str] = &[
    "DeleteUserPolicy",
    "DeleteRolePolicy",
    "DeleteGroupPolicy",
    "DetachUserPolicy",
    "DetachRolePolicy",
    "DetachGroupPolicy",
    "DeleteUserPermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "PutUserPermissionsBoundary",
    "PutRolePermissionsBoundary",
    "UpdateAccessKey",
];

/// What the call undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoKind {
    /// `Delete*Policy` of the inline `DenyAll`.
    InlineDenyAllDeleted,
    /// `Detach*Policy` of the managed `AWSDenyAll`.
    ManagedDenyAllDetached,
    /// `Delete*PermissionsBoundary`, or `Put*PermissionsBoundary` with another policy.
    BoundaryRemoved,
    /// `UpdateAccessKey` to `Active`.
    KeyReactivated { access_key_id: String },
}

impl UndoKind {
    pub fn describe(&self) -> String {
        match self {
            UndoKind::InlineDenyAllDeleted => format!("deleted the inline {DENY_ALL_POLICY_NAME}"),
            UndoKind::ManagedDenyAllDetached => "detached AWSDenyAll".into(),
            UndoKind::BoundaryRemoved => "removed the AWSDenyAll permissions boundary".into(),
            UndoKind::KeyReactivated { access_key_id } => {
                format!("set access key {access_key_id} active again")
            }
        }
    }
}

/// One call that undid (part of) a containment, as CloudTrail reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    pub event_name: String,
    /// CloudTrail's `eventID`: the id of the re-containment's ledger entry, so a redelivery
    /// of the same event finds its own entry.
    pub event_id: String,
    pub event_time: Option<String>,
    /// The account the call was made in (`recipientAccountId`).
    pub account_id: String,
    pub region: Option<String>,
    /// Who made the call (`userIdentity.arn`).
    pub actor_arn: String,
    /// The IAM role or user behind the caller's session (`sessionIssuer.arn`, or the user's
    /// ARN), what deadbolt's own identity is compared with.
    pub actor_identity: Option<String>,
    pub target: ContainmentTarget,
    pub kind: UndoKind,
}

/// What the watch made of a CloudTrail event.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    /// A call that undid part of a containment.
    Undo(Undo),
    /// A watched call that undid nothing deadbolt writes (another policy, a failed call, a
    /// key set inactive): why, for the record.
    Irrelevant { event_name: String, why: String },
}

/// Is this raw event a CloudTrail call (EventBridge's wrapper or a bare record)? Cheap enough
/// to run only after the GuardDuty parser refused the event.
pub fn is_cloudtrail_call(v: &Value) -> bool {
    let wrapped = v.get("detail-type").and_then(Value::as_str) == Some(CLOUDTRAIL_DETAIL_TYPE)
        && v.get("source").and_then(Value::as_str) == Some("aws.iam");
    let bare = v.get("detail-type").is_none()
        && v.get("eventSource").is_some()
        && v.get("eventName").is_some();
    wrapped || bare
}

/// Parse a CloudTrail call the watch routes. Strict on what re-containment rests on (the
/// account, the target's name, the event's id), lenient on what it only reports.
pub fn parse_watched(v: &Value) -> Result<Watched, InputError> {
    let detail = if v.get("detail-type").is_some() {
        let source = v.get("source").and_then(Value::as_str).unwrap_or("");
        if source != "aws.iam" {
            return Err(InputError::WrongSource {
                found: source.to_string(),
                expected: "aws.iam",
            });
        }
        v.get("detail").ok_or(InputError::MissingField {
            path: "detail".into(),
        })?
    } else {
        v
    };
    let prefix = if std::ptr::eq(detail, v) {
        ""
    } else {
        "detail."
    };
    let text = |key: &str| detail.get(key).and_then(Value::as_str);
    let required = |key: &str| {
        text(key).ok_or_else(|| InputError::MissingField {
            path: format!("{prefix}{key}"),
        })
    };
    let event_source = required("eventSource")?;
    if event_source != "iam.amazonaws.com" {
        return Err(InputError::InvalidValue {
            path: format!("{prefix}eventSource"),
            reason: format!("{event_source:?} is not IAM's (iam.amazonaws.com)"),
        });
    }
    let event_name = required("eventName")?.to_string();
    if !WATCHED_EVENTS.contains(&event_name.as_str()) {
        return Ok(Watched::Irrelevant {
            why: format!("{event_name} is not a call that undoes a containment"),
            event_name,
        });
    }
    if let Some(code) = text("errorCode") {
        return Ok(Watched::Irrelevant {
            why: format!("the call failed ({code}): nothing was undone"),
            event_name,
        });
    }
    let event_id = required("eventID")?.to_string();
    let account_id = text("recipientAccountId")
        .or_else(|| {
            detail
                .pointer("/userIdentity/accountId")
                .and_then(Value::as_str)
        })
        .ok_or_else(|| InputError::MissingField {
            path: format!("{prefix}recipientAccountId"),
        })?
        .to_string();
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError::InvalidValue {
            path: format!("{prefix}recipientAccountId"),
            reason: format!("{account_id:?} is not a 12-digit account id"),
        });
    }
    let identity = detail.get("userIdentity");
    let actor_arn = identity
        .and_then(|i| i.get("arn"))
        .and_then(Value::as_str)
        .unwrap_or("(unknown caller)")
        .to_string();
    let actor_identity = identity.and_then(|i| {
        i.pointer("/sessionContext/sessionIssuer/arn")
            .and_then(Value::as_str)
            .or_else(|| {
                (i.get("type").and_then(Value::as_str) == Some("IAMUser"))
                    .then(|| i.get("arn").and_then(Value::as_str))
                    .flatten()
            })
            .map(str::to_string)
    });
    let params = detail.get("requestParameters");
    let param = |key: &str| params.and_then(|p| p.get(key)).and_then(Value::as_str);
    let (kind, name_key) = if event_name.contains("User") || event_name == "UpdateAccessKey" {
        (TargetKind::User, "userName")
    } else if event_name.contains("Role") {
        (TargetKind::Role, "roleName")
    } else {
        (TargetKind::Group, "groupName")
    };
    // UpdateAccessKey without a userName is the caller's own key.
    let name = param(name_key).or_else(|| {
        (event_name == "UpdateAccessKey"
            && identity.and_then(|i| i.get("type")).and_then(Value::as_str) == Some("IAMUser"))
        .then(|| {
            identity
                .and_then(|i| i.get("userName"))
                .and_then(Value::as_str)
        })
        .flatten()
    });
    let Some(name) = name else {
        return Err(InputError::MissingField {
            path: format!("{prefix}requestParameters.{name_key}"),
        });
    };
    let target = ContainmentTarget::new(kind, name).map_err(|e| InputError::InvalidValue {
        path: format!("{prefix}requestParameters.{name_key}"),
        reason: e.to_string(),
    })?;
    let irrelevant = |why: String| {
        Ok(Watched::Irrelevant {
            event_name: event_name.clone(),
            why,
        })
    };
    let kind = match event_name.as_str() {
        "DeleteUserPolicy" | "DeleteRolePolicy" | "DeleteGroupPolicy" => {
            match param("policyName") {
                Some(DENY_ALL_POLICY_NAME) => UndoKind::InlineDenyAllDeleted,
                other => {
                    return irrelevant(format!(
                        "it deleted inline policy {other:?}, not {DENY_ALL_POLICY_NAME}"
                    ))
                }
            }
        }
        "DetachUserPolicy" | "DetachRolePolicy" | "DetachGroupPolicy" => match param("policyArn") {
            Some(arn) if crate::policy::is_managed_deny_all(arn) => {
                UndoKind::ManagedDenyAllDetached
            }
            other => return irrelevant(format!("it detached {other:?}, not AWSDenyAll")),
        },
        "DeleteUserPermissionsBoundary" | "DeleteRolePermissionsBoundary" => {
            UndoKind::BoundaryRemoved
        }
        "PutUserPermissionsBoundary" | "PutRolePermissionsBoundary" => {
            match param("permissionsBoundary") {
                Some(arn) if crate::policy::is_managed_deny_all(arn) => {
                    return irrelevant("it set AWSDenyAll as the boundary".into())
                }
                _ => UndoKind::BoundaryRemoved,
            }
        }
        _ => {
            // UpdateAccessKey
            if param("status") != Some("Active") {
                return irrelevant(format!(
                    "it set the key's status to {:?}, not Active",
                    param("status")
                ));
            }
            let Some(key) = param("accessKeyId") else {
                return Err(InputError::MissingField {
                    path: format!("{prefix}requestParameters.accessKeyId"),
                });
            };
            if !crate::finding::looks_like_access_key_id(key) {
                return Err(InputError::InvalidValue {
                    path: format!("{prefix}requestParameters.accessKeyId"),
                    reason: format!("{key:?} is not an access key id"),
                });
            }
            UndoKind::KeyReactivated {
                access_key_id: key.to_string(),
            }
        }
    };
    Ok(Watched::Undo(Undo {
        event_name,
        event_id,
        event_time: text("eventTime").map(str::to_string),
        account_id,
        region: text("awsRegion").map(str::to_string),
        actor_arn,
        actor_identity,
        target,
        kind,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, params: Value) -> Value {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": CLOUDTRAIL_DETAIL_TYPE,
            "source": "aws.iam", "account": "123456789012", "region": "us-east-1",
            "detail": {
                "eventSource": "iam.amazonaws.com", "eventName": name,
                "eventID": "0a1b", "eventTime": "2026-12-07T03:00:00Z",
                "recipientAccountId": "123456789012", "awsRegion": "us-east-1",
                "userIdentity": {"type": "AssumedRole",
                    "arn": "arn:aws:sts::123456789012:assumed-role/Helper/s",
                    "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/Helper"}}},
                "requestParameters": params
            }
        })
    }

    #[test]
    fn a_deleted_deny_all_names_the_principal_and_the_caller() {
        let w = parse_watched(&event(
            "DeleteUserPolicy",
            serde_json::json!({"userName": "mallory", "policyName": "DenyAll"}),
        ))
        .unwrap();
        let Watched::Undo(u) = w else { panic!("{w:?}") };
        assert_eq!(u.target.to_string(), "user/mallory");
        assert_eq!(u.kind, UndoKind::InlineDenyAllDeleted);
        assert_eq!(
            u.actor_identity.as_deref(),
            Some("arn:aws:iam::123456789012:role/Helper")
        );
        assert_eq!(u.event_id, "0a1b");
    }

    #[test]
    fn other_policies_and_inactive_keys_are_irrelevant() {
        for (name, params) in [
            (
                "DeleteRolePolicy",
                serde_json::json!({"roleName": "app", "policyName": "Other"}),
            ),
            (
                "DetachRolePolicy",
                serde_json::json!({"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
            ),
            (
                "UpdateAccessKey",
                serde_json::json!({"userName": "u", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"}),
            ),
            (
                "PutRolePermissionsBoundary",
                serde_json::json!({"roleName": "app", "permissionsBoundary": "arn:aws:iam::aws:policy/AWSDenyAll"}),
            ),
        ] {
            assert!(
                matches!(
                    parse_watched(&event(name, params)),
                    Ok(Watched::Irrelevant { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn names_from_the_event_are_validated_and_missing_ones_named() {
        let bad = parse_watched(&event(
            "DeleteRolePolicy",
            serde_json::json!({"roleName": "a\"b", "policyName": "DenyAll"}),
        ));
        assert!(
            matches!(&bad, Err(InputError::InvalidValue { path, .. }) if path == "detail.requestParameters.roleName"),
            "{bad:?}"
        );
        let missing = parse_watched(&event(
            "DeleteGroupPolicy",
            serde_json::json!({"policyName": "DenyAll"}),
        ));
        assert!(
            matches!(&missing, Err(InputError::MissingField { path }) if path == "detail.requestParameters.groupName"),
            "{missing:?}"
        );
    }

    #[test]
    fn a_failed_call_undid_nothing_and_a_key_of_the_caller_is_its_own() {
        let mut failed = event(
            "DeleteUserPolicy",
            serde_json::json!({"userName": "mallory", "policyName": "DenyAll"}),
        );
        failed["detail"]["errorCode"] = "AccessDenied".into();
        assert!(matches!(
            parse_watched(&failed),
            Ok(Watched::Irrelevant { .. })
        ));
        let mut own = event(
            "UpdateAccessKey",
            serde_json::json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Active"}),
        );
        own["detail"]["userIdentity"] = serde_json::json!({"type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/mallory", "userName": "mallory"});
        let Ok(Watched::Undo(u)) = parse_watched(&own) else {
            panic!()
        };
        assert_eq!(u.target.to_string(), "user/mallory");
        assert_eq!(
            u.actor_identity.as_deref(),
            Some("arn:aws:iam::123456789012:user/mallory")
        );
    }
}
