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

pub use crate::created::{CreatedEntity, CreatedKind, MAX_FOLLOW_UPS};

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
