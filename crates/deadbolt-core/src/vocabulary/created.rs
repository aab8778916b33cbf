//! What the attacker created (users, roles, access keys, sessions), as the investigation found
//! it: the input of follow-up containment ([`crate::followup`]), which the decision reads too.

/// At most this many follow-up decisions per finding; the rest are reported, not acted on.
pub const MAX_FOLLOW_UPS: usize = 20;

/// What kind of entity a CloudTrail event created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedKind {
    /// `CreateUser`: the user is contained with deadbolt's DenyAll.
    User,
    /// `CreateRole`: the role is contained with deadbolt's DenyAll.
    Role,
    /// `CreateAccessKey`: that key is set inactive; its user is otherwise left alone.
    AccessKey,
    /// A role session assumed (`AssumeRole`) with the finding's key or a key derived from it:
    /// that one session is denied (`deny-session` on its role, by `aws:userid`).
    DerivedSession,
    /// The IAM user that issued a `FederatedUser` finding's session (its `GetFederationToken`
    /// event, or the `sessionIssuer` of the calls made with it): contained with DenyAll, which
    /// also denies every federation token it issued. `name` is `None` when the evidence has
    /// neither.
    IssuingUser,
}

/// One entity the finding's sessions created, as the investigation reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedEntity {
    pub kind: CreatedKind,
    /// The CloudTrail call that created it, and the events that show it.
    pub event_name: String,
    pub event_ids: Vec<String>,
    /// The user or role name (for an access key, its user; for a derived session, its role).
    pub name: Option<String>,
    pub access_key_id: Option<String>,
    /// A derived session's `aws:userid` (`AROA…:session-name`).
    pub session_userid: Option<String>,
    /// The account the entity lives in, when the evidence says (a derived session's role ARN).
    pub account_id: Option<String>,
}

impl CreatedEntity {
    /// What a persistence call created (`CreateUser`, `CreateRole`, `CreateAccessKey`).
    pub fn created(
        kind: CreatedKind,
        event_name: &str,
        event_ids: Vec<String>,
        name: Option<String>,
        access_key_id: Option<String>,
    ) -> Self {
        CreatedEntity {
            kind,
            event_name: event_name.to_string(),
            event_ids,
            name,
            access_key_id,
            session_userid: None,
            account_id: None,
        }
    }
}
