//! The session tree: the credentials the finding's principal went on to obtain, and the IAM
//! user behind a federated session, as follow-up containment subjects.
//!
//! Containing a role denies its own sessions; it does nothing to the sessions of *other* roles
//! the attacker assumed from it. The investigation already follows those (by exact key: the
//! `AssumeRole` call made with the finding's key, then calls made with the key it issued, and
//! so on); here each becomes a `deny-session` follow-up on its role, naming that one session's
//! `aws:userid`, so the role's other, legitimate sessions keep working. Only descendants of the
//! finding's key count: sessions the chain's *upstream* identities assumed elsewhere are the
//! origin's business, not evidence against this principal.
//!
//! A `FederatedUser` session (`GetFederationToken`) has no IAM entity of its own; it carries
//! its issuing user's permissions, so that user is what gets contained. The user is named only
//! from exact evidence: the `GetFederationToken` event that issued the finding's key, or the
//! `sessionIssuer` CloudTrail records on the calls made with it (all agreeing).

use std::collections::HashSet;

use serde::Serialize;

use deadbolt_core::finding::Finding;
use deadbolt_core::followup::{CreatedEntity, CreatedKind};

use crate::chain::Hop;
use crate::record::Record;
use crate::report::InvestigationReport;

/// The IAM user that issued a federated session, and what says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuingUser {
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `GetFederationToken` (the issuing event) or `sessionIssuer` (calls made with the key).
    pub evidence: &'static str,
    pub event_ids: Vec<String>,
}

/// The issuing IAM user of `finding_key`, when the key is a federated session's: the
/// `GetFederationToken` hop that issued it (made with an IAM user's credentials), else the
/// `sessionIssuer` of the `FederatedUser` calls made with it, if they all name one user.
pub fn issuing_user(finding_key: &str, chain: &[Hop], records: &[Record]) -> Option<IssuingUser> {
    let issued = chain
        .iter()
        .rfind(|hop| hop.issued_access_key_id == finding_key);
    if let Some(hop) = issued.filter(|hop| hop.event_name == "GetFederationToken") {
        let user_name = hop
            .caller_arn
            .as_deref()
            .filter(|_| hop.caller_type == "IAMUser")
            .and_then(|arn| arn.split_once(":user/"))
            .and_then(|(_, path)| path.rsplit('/').next())
            .filter(|name| !name.is_empty())?;
        return Some(IssuingUser {
            user_name: user_name.to_string(),
            arn: hop.caller_arn.clone(),
            evidence: "GetFederationToken",
            event_ids: vec![hop.event_id.clone()],
        });
    }
    let mut names = HashSet::new();
    let mut found: Option<IssuingUser> = None;
    let mut seen = HashSet::new();
    for record in records {
        let identity = &record.user_identity;
        if identity.access_key_id.as_deref() != Some(finding_key)
            || identity.identity_type != "FederatedUser"
            || !seen.insert(record.event_id.as_str())
        {
            continue;
        }
        let issuer = identity
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .filter(|i| i.issuer_type.as_deref() == Some("IAMUser"));
        let Some(name) = issuer
            .and_then(|i| i.user_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        names.insert(name.to_string());
        let entry = found.get_or_insert_with(|| IssuingUser {
            user_name: name.to_string(),
            arn: issuer.and_then(|i| i.arn.clone()),
            evidence: "sessionIssuer",
            event_ids: Vec::new(),
        });
        if entry.event_ids.len() < 5 {
            entry.event_ids.push(record.event_id.clone());
        }
    }
    // Calls that disagree about their issuer are inconsistent evidence: nobody is named.
    found.filter(|_| names.len() == 1)
}

/// The derived sessions descending from `finding_key`: assumed with it, or with a key one of
/// them was issued, to any depth. Origin order (as the investigation found them).
pub fn descendants<'h>(finding_key: &str, derived: &'h [Hop]) -> Vec<&'h Hop> {
    let mut keys: HashSet<&str> = HashSet::from([finding_key]);
    let mut out: Vec<&Hop> = Vec::new();
    // Each pass adds the hops whose caller is already in the tree; the investigation lists
    // parents before children, so one pass usually suffices, and MAX_CHAIN_HOPS bounds them.
    loop {
        let before = out.len();
        for hop in derived {
            let from_tree = hop
                .caller_access_key_id
                .as_deref()
                .is_some_and(|k| keys.contains(k));
            if from_tree && !out.iter().any(|h| std::ptr::eq(*h, hop)) {
                keys.insert(hop.issued_access_key_id.as_str());
                out.push(hop);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The follow-up subjects the report's session tree yields for `finding`: one
/// [`CreatedKind::DerivedSession`] per role session descending from the finding's key, and for
/// a `FederatedUser` finding one [`CreatedKind::IssuingUser`] (named, or `None` when the
/// evidence has no issuer, so the record says which evidence is missing).
pub fn session_tree_follow_ups(
    report: &InvestigationReport,
    finding: &Finding,
) -> Vec<CreatedEntity> {
    let mut out: Vec<CreatedEntity> =
        descendants(&report.subject.access_key_id, &report.derived_sessions)
            .into_iter()
            // Only role sessions have a role to attach a statement to; GetSessionToken and
            // GetFederationToken sessions carry their user's permissions, which that user's own
            // containment governs.
            .filter_map(|hop| {
                let role_arn = hop.role_arn.as_deref()?;
                Some(CreatedEntity {
                    kind: CreatedKind::DerivedSession,
                    event_name: hop.event_name.clone(),
                    event_ids: vec![hop.event_id.clone()],
                    name: hop.role_name.clone(),
                    access_key_id: None,
                    session_userid: hop.assumed_role_id.clone(),
                    account_id: role_arn.split(':').nth(4).map(str::to_string),
                })
            })
            .collect();
    let federated = finding
        .resource
        .access_key_details
        .as_ref()
        .and_then(|d| d.user_type.as_deref())
        == Some("FederatedUser");
    if federated {
        let issuer = report.issuing_user.as_ref();
        out.push(CreatedEntity {
            kind: CreatedKind::IssuingUser,
            event_name: issuer
                .map_or("GetFederationToken", |i| i.evidence)
                .to_string(),
            event_ids: issuer.map(|i| i.event_ids.clone()).unwrap_or_default(),
            name: issuer.map(|i| i.user_name.clone()),
            access_key_id: None,
            session_userid: None,
            account_id: issuer
                .and_then(|i| i.arn.as_deref())
                .and_then(|arn| arn.split(':').nth(4))
                .map(str::to_string),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::chain::attribute;

    const ACCOUNT: &str = "111122223333";

    fn record(fields: Value) -> Record {
        let mut base = json!({
            "eventVersion": "1.09", "eventTime": "2026-11-20T14:00:00Z",
            "eventSource": "sts.amazonaws.com", "awsRegion": "us-east-1",
            "recipientAccountId": ACCOUNT,
        });
        let (Value::Object(base_fields), Value::Object(extra)) = (&mut base, fields) else {
            panic!("record fields must be an object");
        };
        base_fields.extend(extra);
        serde_json::from_value(base).unwrap()
    }

    fn assume(event_id: &str, caller_key: &str, role: &str, session: &str, issued: &str) -> Record {
        record(json!({
            "eventName": "AssumeRole", "eventID": event_id,
            "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT, "accessKeyId": caller_key,
                             "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/caller/s")},
            "requestParameters": {"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "roleSessionName": session},
            "responseElements": {
                "credentials": {"accessKeyId": issued, "expiration": "Nov 20, 2026, 3:00:00 PM"},
                "assumedRoleUser": {"assumedRoleId": format!("AROA{}EXAMPLE0:{session}", role.to_uppercase()),
                                    "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")}
            }
        }))
    }

    /// The issuing hop of `key` among `records`, as the investigation lists derived sessions.
    fn hop(key: &str, records: &[Record]) -> Hop {
        attribute(key, records)
            .hops
            .into_iter()
            .rfind(|h| h.issued_access_key_id == key)
            .unwrap()
    }

    #[test]
    fn only_sessions_descending_from_the_findings_key_are_the_tree() {
        let records = [
            // The finding's key assumed B, and B's session assumed C: both descend from it.
            assume(
                "e1",
                "ASIAFINDING000000001",
                "B",
                "pivot",
                "ASIABPIVOT0000000001",
            ),
            assume(
                "e2",
                "ASIABPIVOT0000000001",
                "C",
                "deeper",
                "ASIACDEEPER000000001",
            ),
            // Someone upstream (the origin's key) assumed D: not this principal's doing.
            assume(
                "e3",
                "ASIAORIGIN0000000001",
                "D",
                "elsewhere",
                "ASIADELSEWHERE000001",
            ),
        ];
        let derived: Vec<Hop> = [
            "ASIACDEEPER000000001",
            "ASIABPIVOT0000000001",
            "ASIADELSEWHERE000001",
        ]
        .iter()
        .map(|k| hop(k, &records))
        .collect();
        let tree: Vec<&str> = descendants("ASIAFINDING000000001", &derived)
            .iter()
            .map(|h| h.issued_access_key_id.as_str())
            .collect();
        // Listed child-first on purpose: a later pass still finds the grandchild.
        assert_eq!(tree, ["ASIABPIVOT0000000001", "ASIACDEEPER000000001"]);
        assert_eq!(
            derived[1].assumed_role_id.as_deref(),
            Some("AROABEXAMPLE0:pivot")
        );
    }

    fn federated_call(event_id: &str, key: &str, issuer: &str) -> Record {
        record(json!({
            "eventName": "ListBuckets", "eventID": event_id, "eventSource": "s3.amazonaws.com",
            "userIdentity": {"type": "FederatedUser", "accountId": ACCOUNT, "accessKeyId": key,
                "principalId": format!("{ACCOUNT}:contractor"),
                "arn": format!("arn:aws:sts::{ACCOUNT}:federated-user/contractor"),
                "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": issuer,
                    "principalId": "AIDAEXAMPLEISSUER001", "accountId": ACCOUNT,
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/{issuer}")}}}
        }))
    }

    #[test]
    fn a_federated_session_names_its_issuer_from_the_issuing_event_or_agreeing_calls() {
        let key = "ASIAFEDERATED0000001";
        let issuing = record(json!({
            "eventName": "GetFederationToken", "eventID": "gft-1",
            "userIdentity": {"type": "IAMUser", "userName": "build-bot", "accountId": ACCOUNT,
                             "accessKeyId": "AKIABUILDBOT00000001",
                             "arn": format!("arn:aws:iam::{ACCOUNT}:user/ci/build-bot")},
            "requestParameters": {"name": "contractor"},
            "responseElements": {
                "credentials": {"accessKeyId": key, "expiration": "Nov 20, 2026, 3:00:00 PM"},
                "federatedUser": {"federatedUserId": format!("{ACCOUNT}:contractor"),
                                  "arn": format!("arn:aws:sts::{ACCOUNT}:federated-user/contractor")}
            }
        }));
        let records = vec![issuing, federated_call("c1", key, "build-bot")];
        let chain = attribute(key, &records).hops;
        let issuer = issuing_user(key, &chain, &records).unwrap();
        // The user's name, not its path.
        assert_eq!(
            (
                issuer.user_name.as_str(),
                issuer.evidence,
                issuer.event_ids.as_slice()
            ),
            (
                "build-bot",
                "GetFederationToken",
                ["gft-1".to_string()].as_slice()
            )
        );

        // Without the issuing event, the calls' sessionIssuer names the user...
        let calls = vec![
            federated_call("c1", key, "build-bot"),
            federated_call("c2", key, "build-bot"),
        ];
        let issuer = issuing_user(key, &[], &calls).unwrap();
        assert_eq!(
            (issuer.user_name.as_str(), issuer.evidence),
            ("build-bot", "sessionIssuer")
        );
        assert_eq!(issuer.event_ids, ["c1", "c2"]);
        // ... unless they disagree, or there is nothing: then nobody is named.
        let forged = vec![
            federated_call("c1", key, "build-bot"),
            federated_call("c2", key, "admin"),
        ];
        assert_eq!(issuing_user(key, &[], &forged), None);
        assert_eq!(issuing_user(key, &[], &[]), None);
        // Another key's calls say nothing about this one.
        assert_eq!(
            issuing_user(
                key,
                &[],
                &[federated_call("c3", "ASIAOTHER00000000001", "x")]
            ),
            None
        );
    }
}
