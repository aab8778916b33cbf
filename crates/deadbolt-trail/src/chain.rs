//! The attribution chain: from the temporary access key a finding names back to whoever, or
//! whatever, first obtained credentials.
//!
//! Every link rests on an exact match: the STS event whose
//! `responseElements.credentials.accessKeyId` is the key, then the key that made *that* call
//! (`userIdentity.accessKeyId`), and so on. Session names, timing and IPs are never used to
//! bridge a missing link: a missing event is recorded as a [`Gap`] and the walk stops, because
//! a confident wrong answer sends responders after the wrong person.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::record::Record;

/// Longest chain followed. Role chaining is capped by how long people are willing to hop, not
/// by AWS; 16 is far beyond anything legitimate and stops crafted loops cheaply.
pub const MAX_CHAIN_HOPS: usize = 16;

/// The STS calls whose response hands out a new access key.
pub const CREDENTIAL_ISSUING_EVENTS: [&str; 5] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
    "GetSessionToken",
];

const STS_EVENT_SOURCE: &str = "sts.amazonaws.com";
const ISSUED_KEY_FIELD: &str = "credentials.accessKeyId";

/// Who is behind an access key, as far as the evidence shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributionChain {
    /// The key the walk started from (the finding's).
    pub access_key_id: String,
    /// Origin first: `hops[0]` is the first credential issuance, the last hop issued
    /// `access_key_id`. Empty when the key was not issued by STS in the evidence.
    pub hops: Vec<Hop>,
    pub origin: Origin,
    /// Missing or contradicting evidence. Empty means every link was found and nothing disagreed.
    pub gaps: Vec<Gap>,
}

impl AttributionChain {
    /// Every access key in the chain, origin first: the sessions whose activity matters.
    pub fn session_keys(&self) -> impl Iterator<Item = &str> {
        self.hops
            .iter()
            .map(|hop| hop.issued_access_key_id.as_str())
    }

    /// True when the walk reached an origin with no gap or contradiction on the way.
    pub fn is_complete(&self) -> bool {
        self.gaps.is_empty() && self.origin != Origin::Unknown
    }
}

/// One credential issuance: an STS call that produced a new access key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// `AssumeRole`, `AssumeRoleWithSAML`, ... (one of [`CREDENTIAL_ISSUING_EVENTS`]).
    pub event_name: String,
    /// `requestParameters.roleArn`; `None` for GetSessionToken / GetFederationToken.
    pub role_arn: Option<String>,
    /// Last path segment of `role_arn` (`AWSReservedSSO_...`, not `aws-reserved/...`).
    pub role_name: Option<String>,
    /// `requestParameters.roleSessionName` (GetFederationToken: `requestParameters.name`).
    pub session_name: Option<String>,
    /// `responseElements.assumedRoleUser.arn` or `responseElements.federatedUser.arn`.
    pub session_arn: Option<String>,
    /// `responseElements.assumedRoleUser.assumedRoleId` (`AROA…:session`): the session's
    /// `aws:userid`, which a `deny-session` statement names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role_id: Option<String>,
    /// The key this call handed out.
    pub issued_access_key_id: String,
    /// Who made the call.
    pub caller_type: String,
    pub caller_arn: Option<String>,
    pub caller_account_id: Option<String>,
    pub caller_access_key_id: Option<String>,
    pub event_time: String,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub event_id: String,
    /// The caller's account differs from the role's account. False when either is unknown
    /// (federated callers belong to no account).
    pub cross_account: bool,
    /// What this hop rests on; always starts with [`Evidence::IssuedKey`].
    pub evidence: Vec<Evidence>,
}

/// A fact a hop rests on, with the CloudTrail field it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// The issuing event's `responseElements.credentials.accessKeyId` is the key.
    IssuedKey,
    /// The issuing call was made with the key the previous hop issued.
    CallerKeyFromPreviousHop,
    /// The issuing call's session was issued by the previous hop's role.
    CallerSessionIssuerIsPreviousRole,
    /// This many calls made with the issued key name this hop's role as their session issuer.
    KeyUsedUnderRole { calls: u64 },
    /// The source identity set at or inherited by this hop is the one carried by calls made
    /// with the issued key.
    SourceIdentityAgrees { value: String },
}

impl Evidence {
    /// The CloudTrail field this evidence is read from.
    pub fn field(&self) -> &'static str {
        match self {
            Evidence::IssuedKey => "responseElements.credentials.accessKeyId",
            Evidence::CallerKeyFromPreviousHop => "userIdentity.accessKeyId",
            Evidence::CallerSessionIssuerIsPreviousRole | Evidence::KeyUsedUnderRole { .. } => {
                "userIdentity.sessionContext.sessionIssuer.arn"
            }
            Evidence::SourceIdentityAgrees { .. } => "sourceIdentity",
        }
    }
}

/// Where the chain starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Long-term IAM user credentials.
    IamUser {
        name: Option<String>,
        arn: Option<String>,
        account_id: Option<String>,
    },
    /// An IAM Identity Center user: AssumeRoleWithSAML into an `AWSReservedSSO_` role through
    /// Identity Center's SAML provider.
    IdentityCenterUser {
        user_name: Option<String>,
        /// `userIdentity.onBehalfOf.userId`, when CloudTrail recorded it.
        user_id: Option<String>,
        identity_store_arn: Option<String>,
        saml_provider_arn: Option<String>,
    },
    /// Any other SAML federation.
    SamlUser {
        user_name: Option<String>,
        identity_provider: Option<String>,
        saml_provider_arn: Option<String>,
    },
    /// OIDC / web identity federation (EKS IRSA, GitHub Actions, Cognito, ...).
    WebIdentity {
        provider: Option<String>,
        subject: Option<String>,
    },
    /// An AWS service obtained the credentials (Lambda, ECS, ...).
    AwsService {
        invoked_by: Option<String>,
    },
    /// EC2 obtained instance-profile credentials for this instance.
    Ec2Instance {
        instance_id: String,
        role_arn: Option<String>,
    },
    Root {
        account_id: Option<String>,
    },
    /// The chain continues in another account whose logs were not in the evidence.
    OtherAccount {
        account_id: String,
    },
    Unknown,
}

/// Why the walk stopped early, or something that did not add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gap {
    /// No credential-issuing event for this key in the records searched.
    KeyNotIssuedInEvidence { access_key_id: String },
    /// Several distinct events claim to have issued the key; the evidence is inconsistent.
    AmbiguousIssuer {
        access_key_id: String,
        event_ids: Vec<String>,
    },
    /// The issuing call's `userIdentity` has no access key to follow and no recognisable origin.
    CallerUnidentified { event_id: String },
    /// The chain leads back to a key already on it.
    Cycle { access_key_id: String },
    /// Stopped after [`MAX_CHAIN_HOPS`] hops.
    ChainTooLong { max_hops: usize },
    /// Two pieces of evidence about a hop disagree; the hop is kept (its key link is exact).
    Contradiction {
        access_key_id: String,
        detail: String,
    },
}

impl fmt::Display for Gap {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::KeyNotIssuedInEvidence { access_key_id } => write!(
                formatter,
                "no event issued key {access_key_id} in the evidence searched \
                 (add the CloudTrail logs of the account and time it was issued in)"
            ),
            Gap::AmbiguousIssuer {
                access_key_id,
                event_ids,
            } => write!(
                formatter,
                "key {access_key_id} was issued by more than one event ({}); the logs are \
                 inconsistent, so the chain stops here",
                event_ids.join(", ")
            ),
            Gap::CallerUnidentified { event_id } => write!(
                formatter,
                "event {event_id} records no access key for its caller, so the chain cannot be \
                 followed past it"
            ),
            Gap::Cycle { access_key_id } => write!(
                formatter,
                "key {access_key_id} appears twice in its own chain; the logs are inconsistent"
            ),
            Gap::ChainTooLong { max_hops } => {
                write!(formatter, "stopped after {max_hops} hops of role chaining")
            }
            Gap::Contradiction {
                access_key_id,
                detail,
            } => write!(
                formatter,
                "evidence about key {access_key_id} disagrees: {detail}"
            ),
        }
    }
}

/// What lies above a hop: an origin, another key to follow, or nothing the evidence shows.
enum Above<'r> {
    Origin(Origin),
    Follow(&'r str),
    /// The walk cannot continue; `origin` is what the recorded caller identity still shows.
    Stop {
        gap: Gap,
        origin: Origin,
    },
}

/// The records indexed by access key, built once per attribution.
struct KeyIndex<'r> {
    /// Successful STS calls by the key they issued.
    issued_by: HashMap<&'r str, Vec<&'r Record>>,
    /// Every call by the key that made it.
    used_by: HashMap<&'r str, Vec<&'r Record>>,
}

impl<'r> KeyIndex<'r> {
    fn index(records: impl IntoIterator<Item = &'r Record>) -> Self {
        let mut issued_by: HashMap<&str, Vec<&Record>> = HashMap::new();
        let mut used_by: HashMap<&str, Vec<&Record>> = HashMap::new();
        // CloudTrail may deliver an event more than once (and overlapping exports repeat
        // them); counting a copy would inflate corroboration, so each eventID is indexed once.
        let mut indexed_events: HashSet<&str> = HashSet::new();
        for record in records {
            if !indexed_events.insert(record.event_id.as_str()) {
                continue;
            }
            if let Some(key) = issued_key(record) {
                issued_by.entry(key).or_default().push(record);
            }
            if let Some(key) = non_empty(record.user_identity.access_key_id.as_deref()) {
                used_by.entry(key).or_default().push(record);
            }
        }
        KeyIndex { issued_by, used_by }
    }

    /// The distinct events that issued `key`.
    fn issuers(&self, key: &str) -> &[&'r Record] {
        self.issued_by
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn used(&self, key: &str) -> &[&'r Record] {
        self.used_by.get(key).map(Vec::as_slice).unwrap_or_default()
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

/// The key a record issued, if it is a successful credential-issuing STS call.
fn issued_key(record: &Record) -> Option<&str> {
    let issues_credentials = record.event_source == STS_EVENT_SOURCE
        && CREDENTIAL_ISSUING_EVENTS.contains(&record.event_name.as_str())
        && !record.is_failure();
    if !issues_credentials {
        return None;
    }
    non_empty(record.response_str(ISSUED_KEY_FIELD))
}

/// The account in an ARN (`arn:partition:service:region:ACCOUNT:resource`).
fn arn_account(arn: &str) -> Option<&str> {
    non_empty(arn.split(':').nth(4))
}

/// A role's name is the last segment of its path (`role/aws-reserved/sso.amazonaws.com/NAME`).
fn arn_resource_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    non_empty(resource.rsplit('/').next())
}

/// Walks from `access_key_id` back to its origin through `records`.
pub fn attribute<'r>(
    access_key_id: &str,
    records: impl IntoIterator<Item = &'r Record>,
) -> AttributionChain {
    let index = KeyIndex::index(records);
    let mut issuing_events: Vec<&Record> = Vec::new();
    let mut gaps = Vec::new();
    let mut seen_keys: HashSet<&str> = HashSet::new();
    let mut key: &str = access_key_id;
    // The identity that used `key` to call the previous (lower) hop, once there is one.
    let mut key_user: Option<&Record> = None;

    let origin = loop {
        if !seen_keys.insert(key) {
            gaps.push(Gap::Cycle {
                access_key_id: key.to_string(),
            });
            break Origin::Unknown;
        }
        if issuing_events.len() >= MAX_CHAIN_HOPS {
            gaps.push(Gap::ChainTooLong {
                max_hops: MAX_CHAIN_HOPS,
            });
            break Origin::Unknown;
        }
        let issuing_event = match index.issuers(key) {
            [] => break origin_of_unissued_key(key, key_user, &index, &mut gaps),
            [only] => *only,
            several => {
                gaps.push(Gap::AmbiguousIssuer {
                    access_key_id: key.to_string(),
                    event_ids: several.iter().map(|event| event.event_id.clone()).collect(),
                });
                break Origin::Unknown;
            }
        };
        issuing_events.push(issuing_event);
        match above(issuing_event, &index) {
            Above::Origin(origin) => break origin,
            Above::Stop { gap, origin } => {
                gaps.push(gap);
                break origin;
            }
            Above::Follow(caller_key) => {
                key = caller_key;
                key_user = Some(issuing_event);
            }
        }
    };

    issuing_events.reverse();
    let hops = build_hops(&issuing_events, &index, &mut gaps);
    AttributionChain {
        access_key_id: access_key_id.to_string(),
        hops,
        origin,
        gaps,
    }
}

/// No STS event issued `key`. Long-term keys are never issued by STS, so calls made with the
/// key can still name an IAM user or root; anything else is a gap.
fn origin_of_unissued_key(
    key: &str,
    key_user: Option<&Record>,
    index: &KeyIndex<'_>,
    gaps: &mut Vec<Gap>,
) -> Origin {
    let identities = key_user
        .into_iter()
        .chain(index.used(key).iter().copied())
        .map(|record| &record.user_identity);
    for identity in identities {
        match identity.identity_type.as_str() {
            "IAMUser" if !key.starts_with("ASIA") => {
                return Origin::IamUser {
                    name: identity.user_name.clone(),
                    arn: identity.arn.clone(),
                    account_id: identity.account_id.clone(),
                }
            }
            "Root" if !key.starts_with("ASIA") => {
                return Origin::Root {
                    account_id: identity.account_id.clone(),
                }
            }
            _ => {}
        }
    }
    gaps.push(Gap::KeyNotIssuedInEvidence {
        access_key_id: key.to_string(),
    });
    key_user
        .and_then(caller_in_other_account)
        .unwrap_or(Origin::Unknown)
}

/// The caller's own account is a fact CloudTrail recorded, not a guess: if it differs from the
/// account the call landed in, the rest of the chain lives in that account's logs.
fn caller_in_other_account(record: &Record) -> Option<Origin> {
    let caller_account = non_empty(record.user_identity.account_id.as_deref())?;
    let landed_in = record
        .recipient_account_id
        .as_deref()
        .or_else(|| record.request_str("roleArn").and_then(arn_account))?;
    (caller_account != landed_in).then(|| Origin::OtherAccount {
        account_id: caller_account.to_string(),
    })
}

/// Decides what lies above an issuing event from how it was called.
fn above<'r>(event: &'r Record, index: &KeyIndex<'r>) -> Above<'r> {
    let identity = &event.user_identity;
    match event.event_name.as_str() {
        "AssumeRoleWithSAML" => {
            let saml_provider_arn = event.request_str("principalArn").map(str::to_string);
            let user_name = identity
                .user_name
                .clone()
                .or_else(|| event.response_str("subject").map(str::to_string));
            let role_name = event.request_str("roleArn").and_then(arn_resource_name);
            // Identity Center provisions both the role (AWSReservedSSO_ prefix) and the SAML
            // provider (AWSSSO_ prefix); either one is its signature.
            let via_identity_center = role_name
                .is_some_and(|name| name.starts_with("AWSReservedSSO_"))
                || saml_provider_arn
                    .as_deref()
                    .and_then(arn_resource_name)
                    .is_some_and(|name| name.starts_with("AWSSSO_"));
            let origin = if via_identity_center {
                let on_behalf_of = identity.on_behalf_of.as_ref();
                Origin::IdentityCenterUser {
                    user_name,
                    user_id: on_behalf_of.and_then(|who| who.user_id.clone()),
                    identity_store_arn: on_behalf_of.and_then(|who| who.identity_store_arn.clone()),
                    saml_provider_arn,
                }
            } else {
                Origin::SamlUser {
                    user_name,
                    identity_provider: identity
                        .identity_provider
                        .clone()
                        .or_else(|| event.response_str("issuer").map(str::to_string)),
                    saml_provider_arn,
                }
            };
            return Above::Origin(origin);
        }
        "AssumeRoleWithWebIdentity" => {
            return Above::Origin(Origin::WebIdentity {
                provider: event
                    .response_str("provider")
                    .map(str::to_string)
                    .or_else(|| identity.identity_provider.clone()),
                subject: event
                    .response_str("subjectFromWebIdentityToken")
                    .map(str::to_string)
                    .or_else(|| identity.user_name.clone()),
            });
        }
        _ => {}
    }

    let caller_key = non_empty(identity.access_key_id.as_deref());
    match identity.identity_type.as_str() {
        "AWSService" => {
            let session_name = event.request_str("roleSessionName").unwrap_or_default();
            let invoked_by = identity.invoked_by.as_deref();
            // EC2 names instance-profile sessions after the instance.
            if invoked_by == Some("ec2.amazonaws.com") && session_name.starts_with("i-") {
                Above::Origin(Origin::Ec2Instance {
                    instance_id: session_name.to_string(),
                    role_arn: event.request_str("roleArn").map(str::to_string),
                })
            } else {
                Above::Origin(Origin::AwsService {
                    invoked_by: invoked_by.map(str::to_string),
                })
            }
        }
        "Root" => Above::Origin(Origin::Root {
            account_id: identity.account_id.clone(),
        }),
        // An IAM user's long-term key is the origin; only a session key of theirs
        // (GetSessionToken) that the evidence shows being issued is worth following.
        "IAMUser" => match caller_key {
            Some(key) if !index.issuers(key).is_empty() => Above::Follow(key),
            _ => Above::Origin(Origin::IamUser {
                name: identity.user_name.clone(),
                arn: identity.arn.clone(),
                account_id: identity.account_id.clone(),
            }),
        },
        _ => match caller_key {
            Some(key) => Above::Follow(key),
            None => Above::Stop {
                gap: Gap::CallerUnidentified {
                    event_id: event.event_id.clone(),
                },
                origin: caller_in_other_account(event).unwrap_or(Origin::Unknown),
            },
        },
    }
}

fn build_hops(issuing_events: &[&Record], index: &KeyIndex<'_>, gaps: &mut Vec<Gap>) -> Vec<Hop> {
    let mut hops: Vec<Hop> = Vec::with_capacity(issuing_events.len());
    for event in issuing_events {
        let identity = &event.user_identity;
        let issued_access_key_id = issued_key(event).unwrap_or_default().to_string();
        let role_arn = event.request_str("roleArn").map(str::to_string);
        let role_account = role_arn.as_deref().and_then(arn_account);
        let caller_account = non_empty(identity.account_id.as_deref());
        let session_name = event
            .request_str("roleSessionName")
            .or_else(|| event.request_str("name"))
            .map(str::to_string);
        let session_arn = event
            .response_str("assumedRoleUser.arn")
            .or_else(|| event.response_str("federatedUser.arn"))
            .map(str::to_string);

        let mut hop_evidence = vec![Evidence::IssuedKey];
        let mut contradict = |detail: String| {
            gaps.push(Gap::Contradiction {
                access_key_id: issued_access_key_id.clone(),
                detail,
            })
        };

        if let Some(previous) = hops.last() {
            if identity.access_key_id.as_deref() == Some(previous.issued_access_key_id.as_str()) {
                hop_evidence.push(Evidence::CallerKeyFromPreviousHop);
            }
            let caller_issuer = session_issuer_arn(event);
            match (caller_issuer, previous.role_arn.as_deref()) {
                (Some(issuer), Some(previous_role)) if issuer == previous_role => {
                    hop_evidence.push(Evidence::CallerSessionIssuerIsPreviousRole);
                }
                (Some(issuer), Some(previous_role)) => contradict(format!(
                    "event {} was called by a session of {issuer}, but its key was issued for {previous_role}",
                    event.event_id
                )),
                _ => {}
            }
        }

        let uses = index.used(&issued_access_key_id);
        if let Some(role) = role_arn.as_deref() {
            let (agreeing, disagreeing): (Vec<&Record>, Vec<&Record>) = uses
                .iter()
                .filter(|used| session_issuer_arn(used).is_some())
                .partition(|used| session_issuer_arn(used) == Some(role));
            if !agreeing.is_empty() {
                hop_evidence.push(Evidence::KeyUsedUnderRole {
                    calls: agreeing.len() as u64,
                });
            }
            if let Some(first) = disagreeing.first() {
                contradict(format!(
                    "{} call(s) made with it name another session issuer, e.g. event {}",
                    disagreeing.len(),
                    first.event_id
                ));
            }
        }

        if let Some(set_identity) = event.any_source_identity() {
            let carried: Vec<&str> = uses
                .iter()
                .filter_map(|used| {
                    used.user_identity
                        .session_context
                        .as_ref()
                        .and_then(|context| non_empty(context.source_identity.as_deref()))
                })
                .collect();
            if !carried.is_empty() && carried.iter().all(|value| *value == set_identity) {
                hop_evidence.push(Evidence::SourceIdentityAgrees {
                    value: set_identity.to_string(),
                });
            } else if let Some(other) = carried.iter().find(|value| **value != set_identity) {
                contradict(format!(
                    "source identity {set_identity:?} was set, but calls made with it carry {other:?}"
                ));
            }
        }

        hops.push(Hop {
            event_name: event.event_name.clone(),
            role_name: role_arn
                .as_deref()
                .and_then(arn_resource_name)
                .map(str::to_string),
            cross_account: matches!((caller_account, role_account), (Some(a), Some(b)) if a != b),
            role_arn,
            session_name,
            session_arn,
            assumed_role_id: event
                .response_str("assumedRoleUser.assumedRoleId")
                .map(str::to_string),
            issued_access_key_id,
            caller_type: identity.identity_type.clone(),
            caller_arn: identity.arn.clone(),
            caller_account_id: caller_account.map(str::to_string),
            caller_access_key_id: identity.access_key_id.clone(),
            event_time: event.event_time.clone(),
            source_ip_address: event.source_ip_address.clone(),
            user_agent: event.user_agent.clone(),
            event_id: event.event_id.clone(),
            evidence: hop_evidence,
        });
    }
    hops
}

fn session_issuer_arn(record: &Record) -> Option<&str> {
    record
        .user_identity
        .session_context
        .as_ref()?
        .session_issuer
        .as_ref()?
        .arn
        .as_deref()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn record(fields: Value) -> Record {
        let mut base = json!({
            "eventVersion": "1.09",
            "eventTime": "2026-11-20T14:00:00Z",
            "eventSource": "sts.amazonaws.com",
            "awsRegion": "us-east-1",
            "recipientAccountId": ACCOUNT,
        });
        let (Value::Object(base_fields), Value::Object(extra)) = (&mut base, fields) else {
            panic!("record fields must be an object");
        };
        base_fields.extend(extra);
        serde_json::from_value(base).unwrap()
    }

    fn assume_role(
        event_id: &str,
        caller: Value,
        role_arn: &str,
        session: &str,
        issued: &str,
    ) -> Record {
        record(json!({
            "eventName": "AssumeRole", "eventID": event_id, "userIdentity": caller,
            "requestParameters": {"roleArn": role_arn, "roleSessionName": session},
            "responseElements": {
                "credentials": {"accessKeyId": issued, "expiration": "Nov 20, 2026, 3:00:00 PM"},
                "assumedRoleUser": {"arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/x/{session}")}
            }
        }))
    }

    fn role_session(account: &str, role_arn: &str, key: &str) -> Value {
        json!({
            "type": "AssumedRole", "accountId": account, "accessKeyId": key,
            "arn": format!("arn:aws:sts::{account}:assumed-role/r/s"),
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn, "accountId": account}}
        })
    }

    fn iam_user(name: &str, key: &str) -> Value {
        json!({"type": "IAMUser", "userName": name, "accountId": ACCOUNT, "accessKeyId": key,
               "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}")})
    }

    fn role(name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    #[test]
    fn iam_user_assuming_a_role() {
        let records = [assume_role(
            "e1",
            iam_user("bob", "AKIABOB"),
            &role("Ops"),
            "bob",
            "ASIAOPS",
        )];
        let chain = attribute("ASIAOPS", &records);
        assert_eq!(chain.hops.len(), 1);
        assert_eq!(chain.hops[0].role_name.as_deref(), Some("Ops"));
        assert!(!chain.hops[0].cross_account);
        assert_eq!(
            chain.origin,
            Origin::IamUser {
                name: Some("bob".into()),
                arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/bob")),
                account_id: Some(ACCOUNT.into()),
            }
        );
        assert!(chain.is_complete(), "{:?}", chain.gaps);
    }

    #[test]
    fn missing_issuer_is_a_gap_not_a_guess() {
        let records = [assume_role(
            "e1",
            role_session(ACCOUNT, &role("A"), "ASIAUNSEEN"),
            &role("B"),
            "s",
            "ASIAB",
        )];
        let chain = attribute("ASIAB", &records);
        assert_eq!(chain.hops.len(), 1);
        assert_eq!(chain.origin, Origin::Unknown);
        assert_eq!(
            chain.gaps,
            vec![Gap::KeyNotIssuedInEvidence {
                access_key_id: "ASIAUNSEEN".into()
            }]
        );
        assert!(chain.gaps[0]
            .to_string()
            .starts_with("no event issued key ASIAUNSEEN in the evidence searched"));
    }

    #[test]
    fn finding_key_never_seen_at_all() {
        let chain = attribute("ASIANOWHERE", &[]);
        assert!(chain.hops.is_empty());
        assert_eq!(chain.origin, Origin::Unknown);
        assert_eq!(chain.gaps.len(), 1);
    }

    #[test]
    fn cross_account_caller_whose_logs_are_missing() {
        let other = "444455556666";
        let caller = role_session(other, &format!("arn:aws:iam::{other}:role/Ci"), "ASIACI");
        let records = [assume_role(
            "e1",
            caller,
            &role("Deploy"),
            "ci",
            "ASIADEPLOY",
        )];
        let chain = attribute("ASIADEPLOY", &records);
        assert!(chain.hops[0].cross_account);
        assert_eq!(
            chain.origin,
            Origin::OtherAccount {
                account_id: other.into()
            }
        );
        assert_eq!(
            chain.gaps,
            vec![Gap::KeyNotIssuedInEvidence {
                access_key_id: "ASIACI".into()
            }]
        );
    }

    #[test]
    fn cross_account_caller_without_a_key_still_names_its_account() {
        let caller = json!({"type": "AWSAccount", "accountId": "444455556666",
                            "principalId": "AROAEXAMPLE:ci"});
        let records = [assume_role(
            "e1",
            caller,
            &role("Deploy"),
            "ci",
            "ASIADEPLOY",
        )];
        let chain = attribute("ASIADEPLOY", &records);
        assert_eq!(
            chain.origin,
            Origin::OtherAccount {
                account_id: "444455556666".into()
            }
        );
        assert_eq!(
            chain.gaps,
            vec![Gap::CallerUnidentified {
                event_id: "e1".into()
            }]
        );
    }

    #[test]
    fn ec2_instance_profile_credentials() {
        let ec2 = json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"});
        let records = [assume_role(
            "e1",
            ec2,
            &role("WebServer"),
            "i-0123456789abcdef0",
            "ASIAWEB",
        )];
        let chain = attribute("ASIAWEB", &records);
        assert_eq!(
            chain.origin,
            Origin::Ec2Instance {
                instance_id: "i-0123456789abcdef0".into(),
                role_arn: Some(role("WebServer")),
            }
        );
        assert!(chain.is_complete());
    }

    #[test]
    fn other_aws_service_credentials() {
        let lambda = json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"});
        let records = [assume_role(
            "e1",
            lambda,
            &role("Fn"),
            "fn-session",
            "ASIAFN",
        )];
        let chain = attribute("ASIAFN", &records);
        assert_eq!(
            chain.origin,
            Origin::AwsService {
                invoked_by: Some("lambda.amazonaws.com".into())
            }
        );
    }

    #[test]
    fn web_identity_federation() {
        let records = [record(json!({
            "eventName": "AssumeRoleWithWebIdentity", "eventID": "e1",
            "userIdentity": {"type": "WebIdentityUser", "userName": "repo:acme/app:ref:refs/heads/main",
                             "identityProvider": "token.actions.githubusercontent.com"},
            "requestParameters": {"roleArn": role("GitHubDeploy"), "roleSessionName": "gha"},
            "responseElements": {
                "credentials": {"accessKeyId": "ASIAGHA"},
                "subjectFromWebIdentityToken": "repo:acme/app:ref:refs/heads/main",
                "provider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
            }
        }))];
        let chain = attribute("ASIAGHA", &records);
        assert_eq!(
            chain.origin,
            Origin::WebIdentity {
                provider: Some(
                    "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
                        .into()
                ),
                subject: Some("repo:acme/app:ref:refs/heads/main".into()),
            }
        );
    }

    #[test]
    fn plain_saml_federation_is_not_identity_center() {
        let records = [record(json!({
            "eventName": "AssumeRoleWithSAML", "eventID": "e1",
            "userIdentity": {"type": "SAMLUser", "userName": "alice@example.com", "identityProvider": "QUALIFIER="},
            "requestParameters": {"roleArn": role("Okta-Admin"), "roleSessionName": "alice@example.com",
                                  "principalArn": format!("arn:aws:iam::{ACCOUNT}:saml-provider/Okta")},
            "responseElements": {"credentials": {"accessKeyId": "ASIAOKTA"}}
        }))];
        let chain = attribute("ASIAOKTA", &records);
        assert_eq!(
            chain.origin,
            Origin::SamlUser {
                user_name: Some("alice@example.com".into()),
                identity_provider: Some("QUALIFIER=".into()),
                saml_provider_arn: Some(format!("arn:aws:iam::{ACCOUNT}:saml-provider/Okta")),
            }
        );
    }

    #[test]
    fn root_and_long_term_keys_need_no_sts_event() {
        let root = json!({"type": "Root", "accountId": ACCOUNT, "accessKeyId": "AKIAROOT"});
        let records = [assume_role("e1", root, &role("Admin"), "root", "ASIAADMIN")];
        assert_eq!(
            attribute("ASIAADMIN", &records).origin,
            Origin::Root {
                account_id: Some(ACCOUNT.into())
            }
        );

        // A GuardDuty finding on an IAM user's own long-term key: calls made with it name the user.
        let calls = [record(json!({
            "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "eventID": "e2",
            "userIdentity": iam_user("bob", "AKIABOB")
        }))];
        let chain = attribute("AKIABOB", &calls);
        assert!(chain.hops.is_empty());
        assert!(
            matches!(chain.origin, Origin::IamUser { ref name, .. } if name.as_deref() == Some("bob"))
        );
        assert!(chain.is_complete());
    }

    #[test]
    fn get_session_token_then_assume_role() {
        let session_token = record(json!({
            "eventName": "GetSessionToken", "eventID": "e1", "userIdentity": iam_user("bob", "AKIABOB"),
            "requestParameters": {"durationSeconds": 3600},
            "responseElements": {"credentials": {"accessKeyId": "ASIABOBMFA"}}
        }));
        let assume = assume_role(
            "e2",
            iam_user("bob", "ASIABOBMFA"),
            &role("Prod"),
            "bob",
            "ASIAPROD",
        );
        let records = [session_token, assume];
        let chain = attribute("ASIAPROD", &records);
        let events: Vec<&str> = chain
            .hops
            .iter()
            .map(|hop| hop.event_name.as_str())
            .collect();
        assert_eq!(events, ["GetSessionToken", "AssumeRole"]);
        assert_eq!(chain.hops[0].role_arn, None);
        assert!(chain.hops[1]
            .evidence
            .contains(&Evidence::CallerKeyFromPreviousHop));
        assert!(matches!(chain.origin, Origin::IamUser { .. }));
        assert!(chain.is_complete(), "{:?}", chain.gaps);
    }

    #[test]
    fn cycles_are_detected() {
        let records = [
            assume_role(
                "e1",
                role_session(ACCOUNT, &role("B"), "ASIAB"),
                &role("A"),
                "s",
                "ASIAA",
            ),
            assume_role(
                "e2",
                role_session(ACCOUNT, &role("A"), "ASIAA"),
                &role("B"),
                "s",
                "ASIAB",
            ),
        ];
        let chain = attribute("ASIAA", &records);
        assert_eq!(chain.hops.len(), 2);
        assert_eq!(chain.origin, Origin::Unknown);
        assert!(chain.gaps.contains(&Gap::Cycle {
            access_key_id: "ASIAA".into()
        }));
    }

    #[test]
    fn chain_length_is_capped() {
        let records: Vec<Record> = (0..MAX_CHAIN_HOPS + 4)
            .map(|n| {
                let caller = role_session(
                    ACCOUNT,
                    &role(&format!("R{}", n + 1)),
                    &format!("ASIA{}", n + 1),
                );
                assume_role(
                    &format!("e{n}"),
                    caller,
                    &role(&format!("R{n}")),
                    "s",
                    &format!("ASIA{n}"),
                )
            })
            .collect();
        let chain = attribute("ASIA0", &records);
        assert_eq!(chain.hops.len(), MAX_CHAIN_HOPS);
        assert_eq!(
            chain.gaps,
            vec![Gap::ChainTooLong {
                max_hops: MAX_CHAIN_HOPS
            }]
        );
    }

    #[test]
    fn duplicate_delivery_is_not_ambiguity_but_two_issuers_are() {
        let issue = assume_role(
            "e1",
            iam_user("bob", "AKIABOB"),
            &role("Ops"),
            "bob",
            "ASIAOPS",
        );
        let duplicated = [issue.clone(), issue.clone()];
        assert!(attribute("ASIAOPS", &duplicated).is_complete());

        let mut second = issue.clone();
        second.event_id = "e2".into();
        let conflicting = [issue, second];
        let chain = attribute("ASIAOPS", &conflicting);
        assert!(chain.hops.is_empty());
        assert_eq!(
            chain.gaps,
            vec![Gap::AmbiguousIssuer {
                access_key_id: "ASIAOPS".into(),
                event_ids: vec!["e1".into(), "e2".into()],
            }]
        );
    }

    #[test]
    fn failed_sts_calls_issue_nothing() {
        let mut denied = assume_role(
            "e1",
            iam_user("bob", "AKIABOB"),
            &role("Ops"),
            "bob",
            "ASIAOPS",
        );
        denied.error_code = Some("AccessDenied".into());
        let chain = attribute("ASIAOPS", &[denied]);
        assert!(chain.hops.is_empty());
        assert_eq!(
            chain.gaps,
            vec![Gap::KeyNotIssuedInEvidence {
                access_key_id: "ASIAOPS".into()
            }]
        );
    }

    #[test]
    fn corroboration_and_contradiction() {
        let mut issue = assume_role(
            "e1",
            iam_user("bob", "AKIABOB"),
            &role("Ops"),
            "bob",
            "ASIAOPS",
        );
        issue.request_parameters = Some(json!({
            "roleArn": role("Ops"), "roleSessionName": "bob", "sourceIdentity": "bob@example.com"
        }));
        let used = |event_id: &str, issuer: &str| {
            let mut identity = role_session(ACCOUNT, issuer, "ASIAOPS");
            identity["sessionContext"]["sourceIdentity"] = json!("bob@example.com");
            record(
                json!({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeVpcs",
                          "eventID": event_id, "userIdentity": identity}),
            )
        };
        let records = [
            issue.clone(),
            used("u1", &role("Ops")),
            used("u2", &role("Ops")),
        ];
        let chain = attribute("ASIAOPS", &records);
        assert_eq!(
            chain.hops[0].evidence,
            vec![
                Evidence::IssuedKey,
                Evidence::KeyUsedUnderRole { calls: 2 },
                Evidence::SourceIdentityAgrees {
                    value: "bob@example.com".into()
                },
            ]
        );
        assert!(chain.is_complete());

        let records = [
            issue,
            used("u1", &role("Ops")),
            used("u3", &role("SomethingElse")),
        ];
        let chain = attribute("ASIAOPS", &records);
        assert_eq!(chain.hops.len(), 1, "the exact key link still stands");
        assert!(
            matches!(&chain.gaps[..], [Gap::Contradiction { detail, .. }] if detail.contains("u3"))
        );
    }
}
