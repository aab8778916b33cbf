//! Follow-up containment: what the attacker *created* (IAM users, roles, access keys), as the
//! investigation found it, contained after the investigation. Off by default (`follow_up` in
//! the settings: off, dry-run, enforce). The decision is the responder's own
//! ([`crate::decision::plan_follow_ups`], under [`crate::decision::may_contain`]) and so is the
//! executor ([`crate::responder::Responder`]): one account cache, one circuit breaker, one
//! `apply`, one record vocabulary.
//!
//! Only what the attacker created is contained automatically: the entities they created, the
//! role sessions they went on to assume *from* the finding's principal (the session tree: each
//! gets a `deny-session` statement, the role's other sessions untouched), and, for a
//! `FederatedUser` finding, the IAM user whose `GetFederationToken` issued the session. What
//! they changed on existing entities (a password set, a policy attached, a trust policy
//! rewritten) belongs to people who may be legitimate: the investigation report lists those
//! with the exact step to undo them.

use std::future::Future;

use serde::Serialize;

use crate::config::Mode;
use crate::finding::Finding;
use crate::record::{ActionRecord, Outcome, Reason};
use crate::runtime::SettingsUnavailable;
use crate::settings::Settings;

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

/// One follow-up decision, in the decision record's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUpRecord {
    /// The CloudTrail call that created the entity, and the events that show it.
    pub event_name: String,
    pub event_ids: Vec<String>,
    /// `user/NAME` or `role/NAME`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The derived role session denied (`aws:userid`), for a session-tree follow-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub mode: Mode,
    pub outcome: Outcome,
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    pub message: String,
    pub actions: Vec<ActionRecord>,
    /// Delivering the finding again may complete it (throttling, an outage, an unreadable
    /// shared breaker count): the enricher then returns an error so Lambda retries.
    pub retryable: bool,
}

/// Carries out follow-up containment; the enricher calls it after the investigation.
pub trait FollowUpPort: Send + Sync {
    fn follow_up(
        &self,
        finding: &Finding,
        created: &[CreatedEntity],
        settings: Result<&Settings, &SettingsUnavailable>,
    ) -> impl Future<Output = Vec<FollowUpRecord>> + Send;
}

/// No follow-up containment (the enricher's wiring when it has no IAM access).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFollowUp;

impl FollowUpPort for NoFollowUp {
    async fn follow_up(
        &self,
        _: &Finding,
        _: &[CreatedEntity],
        _: Result<&Settings, &SettingsUnavailable>,
    ) -> Vec<FollowUpRecord> {
        Vec::new()
    }
}
