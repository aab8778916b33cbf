//! GuardDuty Extended Threat Detection: the attack sequence an `AttackSequence:*` finding
//! carries in `service.detection.sequence` (GuardDuty API reference: `Detection`, `Sequence`,
//! `Actor`, `User`, `Session`, `ResourceV2`, `ResourceData`, `AccessKey`), and every IAM
//! principal a finding names, whatever its shape ([`principals`]).
//!
//! Parser policy, as for the rest of the finding: the fields a decision rests on (the actors'
//! `user.name`, `user.type`, `user.uid`, `user.credentialUid`, `user.account.uid`,
//! `session.issuer`, and the `ACCESS_KEY` resources' `resourceType`, `uid` and
//! `data.accessKey`) are strict: a wrong type rejects the event with its path. Signals,
//! indicators, endpoints, descriptions and timestamps are context: read along when they are
//! there, never a reason to reject.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::{AccessKeyDetails, Finding};

/// `service.detection`: GuardDuty's detection details. Only `sequence` is read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
    /// Context only (anomaly details of `AnomalousBehavior` findings, when GuardDuty sends them
    /// here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<Value>,
}

/// `service.detection.sequence`: the attack sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sequence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actors: Option<Vec<Actor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceV2>>,
    /// Context only: the findings and activities that make up the sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_indicators: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Value>,
}

/// One actor of the sequence: an identity and the session it used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

/// `Actor.user`: the identity (CloudTrail's `userIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's name (for an assumed role, the role session as GuardDuty names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`, `AWSService`, ….
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// The principal id (`AIDA…`; for a role session `AROA…:session-name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The access key id the actor used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `User.account`: the account the activity took place in (not necessarily the identity's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The account's name (GuardDuty's JSON key is `account`). Context only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Value>,
}

/// `Actor.session`: CloudTrail's `sessionContext`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<Value>,
    /// The session issuer's ARN (`sessionContext.sessionIssuer.arn`): for an assumed role,
    /// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, which names the role to contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// One resource of the sequence. Only `ACCESS_KEY` resources name a principal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceV2 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ResourceData>,
}

/// `ResourceV2.data`: only `accessKey` is read; the other members are context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKeyData>,
}

/// `ResourceData.accessKey`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

/// `ResourceV2.resourceType` of an access key.
pub const ACCESS_KEY_RESOURCE: &str = "ACCESS_KEY";

/// One principal a finding names, in `accessKeyDetails` terms, and where the finding says it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalRef {
    pub details: AccessKeyDetails,
    /// The JSON path it was read from (`resource.accessKeyDetails`,
    /// `service.detection.sequence.actors[1]`, …).
    pub source: String,
    /// The account the identity belongs to, when the finding says so (a role session's issuer
    /// ARN). `None`: the finding's account.
    pub owner_account: Option<String>,
}

/// Every IAM principal the finding names, in the finding's order, each once:
/// `resource.accessKeyDetails` (IAM findings, and S3 and EKS findings whatever their
/// `resourceType`), then an attack sequence's actors, then its `ACCESS_KEY` resources. Two
/// mentions of the same identity (same type, name and session) are one principal; the first
/// keeps its place and gains what the later one adds (an access key id).
pub fn principals(finding: &Finding) -> Vec<PrincipalRef> {
    let mut out: Vec<PrincipalRef> = Vec::new();
    if let Some(details) = &finding.resource.access_key_details {
        out.push(PrincipalRef {
            details: details.clone(),
            source: "resource.accessKeyDetails".into(),
            owner_account: None,
        });
    }
    let sequence = finding
        .service
        .detection
        .as_ref()
        .and_then(|d| d.sequence.as_ref());
    if let Some(sequence) = sequence {
        for (i, actor) in sequence.actors.iter().flatten().enumerate() {
            if let Some(r) = from_actor(actor, i) {
                merge(&mut out, r);
            }
        }
        for (i, resource) in sequence.resources.iter().flatten().enumerate() {
            if let Some(r) = from_resource(resource, i) {
                merge(&mut out, r);
            }
        }
    }
    out
}

fn merge(out: &mut Vec<PrincipalRef>, r: PrincipalRef) {
    let key = |p: &PrincipalRef| {
        (
            p.details.user_type.clone(),
            p.details.user_name.clone(),
            session_of(p.details.principal_id.as_deref()),
        )
    };
    match out.iter_mut().find(|p| key(p) == key(&r)) {
        Some(existing) => {
            if existing.details.access_key_id.is_none() {
                existing.details.access_key_id = r.details.access_key_id;
            }
            if existing.details.principal_id.is_none() {
                existing.details.principal_id = r.details.principal_id;
            }
        }
        None => out.push(r),
    }
}

fn session_of(principal_id: Option<&str>) -> Option<String> {
    principal_id
        .and_then(|p| p.split_once(':'))
        .map(|(_, s)| s.to_string())
}

/// An actor as `accessKeyDetails`. An assumed role's name is the last segment of its session
/// issuer's ARN (`…:role/PATH/NAME`), its session the part of `user.uid` after `:`.
fn from_actor(actor: &Actor, index: usize) -> Option<PrincipalRef> {
    let user = actor.user.as_ref()?;
    let user_type = user.user_type.clone();
    let issuer = actor.session.as_ref().and_then(|s| s.issuer.as_deref());
    let (user_name, owner_account) = match user_type.as_deref() {
        Some("AssumedRole" | "Role") => match issuer.and_then(role_of_issuer) {
            Some((account, role)) => (Some(role), Some(account)),
            // Without an issuer the role is not named: resolved as "no principal".
            None => (None, None),
        },
        _ => (user.name.clone(), None),
    };
    let principal_id = match (user_type.as_deref(), user.uid.as_deref()) {
        // A role session's uid is `ROLEID:session`; without the session part, take the
        // session from the user's name.
        (Some("AssumedRole" | "Role"), Some(uid)) if !uid.contains(':') => user
            .name
            .as_deref()
            .map(|n| format!("{uid}:{}", n.rsplit('/').next().unwrap_or(n))),
        (_, uid) => uid.map(str::to_string),
    };
    Some(PrincipalRef {
        details: AccessKeyDetails {
            access_key_id: user.credential_uid.clone().filter(|k| !k.is_empty()),
            principal_id,
            user_type,
            user_name,
        },
        source: format!("service.detection.sequence.actors[{index}]"),
        owner_account,
    })
}

fn from_resource(resource: &ResourceV2, index: usize) -> Option<PrincipalRef> {
    if resource.resource_type.as_deref() != Some(ACCESS_KEY_RESOURCE) {
        return None;
    }
    let key = resource.data.as_ref()?.access_key.as_ref()?;
    let access_key_id = resource
        .uid
        .clone()
        .filter(|u| crate::finding::looks_like_access_key_id(u));
    Some(PrincipalRef {
        details: AccessKeyDetails {
            access_key_id,
            principal_id: key.principal_id.clone(),
            user_type: key.user_type.clone(),
            user_name: key.user_name.clone(),
        },
        source: format!("service.detection.sequence.resources[{index}]"),
        owner_account: None,
    })
}

/// `(account, role name)` of a role ARN `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
pub fn role_of_issuer(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_word, _partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn_word != "arn" || service != "iam" {
        return None;
    }
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (!name.is_empty()).then(|| (account.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_arns_name_the_role_and_its_account() {
        assert_eq!(
            role_of_issuer("arn:aws:iam::123456789012:role/service/app-deployer"),
            Some(("123456789012".into(), "app-deployer".into()))
        );
        assert_eq!(
            role_of_issuer("arn:aws:iam::123456789012:user/mallory"),
            None
        );
        assert_eq!(role_of_issuer("arn:aws:sts::1:assumed-role/r/s"), None);
        assert_eq!(role_of_issuer("not an arn"), None);
    }
}
