//! Humans in the loop: `approve` mode. The responder verifies, decides and plans exactly as in
//! `enforce`, writes nothing to IAM, and keeps a [`PendingApproval`]: the exact event, the
//! plan, and an expiry. A person approves it (`deadbolt approve ID --reason TEXT`: re-verified
//! with GuardDuty, then contained through the one engine, the approver in the ledger) or
//! rejects it (`deadbolt reject ID --reason TEXT`: recorded, the plan forgotten). When the
//! window closes unanswered it is dropped, or, where `approval.on_expiry` says `contain` for
//! the finding's type, contained: "contain unless someone objects".

use serde::{Deserialize, Serialize};

use crate::error::AwsError;

/// Pending approvals expire after this long unless the settings say otherwise (24 hours).
pub const DEFAULT_APPROVAL_EXPIRES_AFTER_SECS: u64 = 86_400;

/// What happens to a pending approval nobody answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
    /// Forgotten: nothing is written (the default).
    #[default]
    Drop,
    /// Contained when the window closes, unless rejected first.
    Contain,
}

impl OnExpiry {
    pub const ACCEPTED: &'static str = "drop, contain";

    pub fn as_str(self) -> &'static str {
        match self {
            OnExpiry::Drop => "drop",
            OnExpiry::Contain => "contain",
        }
    }
}

/// How long a pending approval waits, and what happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalSettings {
    pub expires_after_secs: u64,
    pub on_expiry: OnExpiry,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            expires_after_secs: DEFAULT_APPROVAL_EXPIRES_AFTER_SECS,
            on_expiry: OnExpiry::Drop,
        }
    }
}

/// One finding-type prefix's approval settings; what it leaves out is `approval`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalOverride {
    pub expires_after_secs: Option<u64>,
    pub on_expiry: Option<OnExpiry>,
}

impl ApprovalOverride {
    pub fn over(&self, base: ApprovalSettings) -> ApprovalSettings {
        ApprovalSettings {
            expires_after_secs: self.expires_after_secs.unwrap_or(base.expires_after_secs),
            on_expiry: self.on_expiry.unwrap_or(base.on_expiry),
        }
    }
}

/// A containment prepared in `approve` mode, waiting for a person. Kept where held findings
/// live (the breaker table, `pk = approval#<finding id>`): one per finding, so a redelivery
/// finds the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The finding id: what `deadbolt approve` / `reject` take.
    pub id: String,
    pub account_id: String,
    pub region: String,
    pub finding_type: String,
    /// Who would be contained, e.g. `user/mallory`.
    pub target: String,
    /// The plan's strategy (`deny-all`, `revoke-sessions`, …).
    pub strategy: String,
    /// The writes the plan would make, as the record lists them (`iam:PutUserPolicy user/mallory`).
    pub writes: Vec<String>,
    /// Epoch milliseconds.
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub on_expiry: OnExpiry,
    /// The raw EventBridge event, replayed exactly on approval.
    pub event: String,
}

impl PendingApproval {
    /// Past its window at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// The two exact commands a person answers with.
    pub fn commands(&self) -> [String; 2] {
        [
            format!("deadbolt approve {} --reason TEXT", self.id),
            format!("deadbolt reject {} --reason TEXT", self.id),
        ]
    }
}

/// No store for pending approvals: approve mode then records `failed` and writes nothing.
pub fn no_store() -> AwsError {
    AwsError::new(
        crate::error::AwsErrorKind::Other,
        "NoApprovalStore",
        "approve mode needs the breaker table (DEADBOLT_BREAKER_TABLE) to keep pending approvals in",
    )
}

/// The `source` of the event a pending approval's schedule sends the responder.
pub const EXPIRY_SOURCE: &str = "deadbolt.approval";
/// Its `detail-type`.
pub const EXPIRY_DETAIL_TYPE: &str = "Approval Expired";

/// The event a pending approval's one-time schedule sends the responder when its window
/// closes: `{"source":"deadbolt.approval","detail-type":"Approval Expired","detail":{"approval_id":ID}}`.
pub fn expiry_event_for(id: &str) -> String {
    serde_json::json!({
        "source": EXPIRY_SOURCE,
        "detail-type": EXPIRY_DETAIL_TYPE,
        "detail": {"approval_id": id},
    })
    .to_string()
}

/// The approval id in an expiry event, if `raw` is one (and the id is a plausible GuardDuty
/// finding id: it only ever selects a stored approval, never anything else).
pub fn expiry_event(raw: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    if v.get("source")?.as_str()? != EXPIRY_SOURCE
        || v.get("detail-type")?.as_str()? != EXPIRY_DETAIL_TYPE
    {
        return None;
    }
    let id = v.get("detail")?.get("approval_id")?.as_str()?;
    let plausible =
        !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric());
    plausible.then(|| id.to_string())
}
