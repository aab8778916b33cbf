//! Write-back to Security Hub, where analysts work: after a decision that did (or prepared,
//! or failed to do) something, the finding's Security Hub copy gets a note saying what
//! deadbolt did and how to undo it, and its workflow status `NOTIFIED` (`RESOLVED` only when
//! the operators choose `security_hub.resolve_on_contain`). Optional (`security_hub.write_back`
//! and the stack's `SecurityHubWriteBack=Enabled`), best effort: a failure is logged and
//! counted, never retried and never in the way of containment.
//!
//! GuardDuty's findings arrive in Security Hub under GuardDuty's product ARN in the finding's
//! region, with the GuardDuty finding's ARN as their `Id`: that pair is all
//! `BatchUpdateFindings` needs, so no Security Hub read is made.

use std::future::Future;

use crate::error::AwsError;
use crate::record::{ActionStatus, DecisionRecord, Outcome};
pub use crate::settings::SecurityHubSettings;

/// Security Hub's limit on `Note.Text`.
pub const NOTE_MAX_CHARS: usize = 512;

/// The workflow status written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    Notified,
    Resolved,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Notified => "NOTIFIED",
            WorkflowStatus::Resolved => "RESOLVED",
        }
    }
}

/// One `BatchUpdateFindings` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingUpdate {
    /// `arn:PARTITION:securityhub:REGION::product/aws/guardduty`.
    pub product_arn: String,
    /// The GuardDuty finding's ARN (Security Hub's `Id` for it).
    pub finding_arn: String,
    /// At most [`NOTE_MAX_CHARS`] characters.
    pub note: String,
    /// deadbolt's function name.
    pub updated_by: String,
    pub workflow: WorkflowStatus,
}

/// Where updates go (Security Hub's `BatchUpdateFindings` in the Lambda).
pub trait FindingsWriteBack: Send + Sync {
    fn update(&self, update: &FindingUpdate) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The update for `record`, when its outcome is one analysts must see (contained, partially
/// contained, pending approval, held, failed, re-contained) and the record knows the finding's
/// ARN (GuardDuty's copy carries it; a tamper-watch record takes it from the ledger entry of
/// the containment it re-applies).
pub fn write_back(
    record: &DecisionRecord,
    settings: SecurityHubSettings,
    updated_by: &str,
) -> Option<FindingUpdate> {
    if !settings.write_back {
        return None;
    }
    let contained = matches!(record.outcome, Outcome::Contained | Outcome::Recontained);
    let reported = contained
        || matches!(
            record.outcome,
            Outcome::PartiallyContained
                | Outcome::PendingApproval
                | Outcome::Held
                | Outcome::Failed
        );
    if !reported {
        return None;
    }
    let finding_arn = record.finding_arn.clone()?;
    // arn:PARTITION:guardduty:REGION:ACCOUNT:detector/…/finding/ID
    let parts: Vec<&str> = finding_arn.split(':').collect();
    let (partition, region) = (*parts.get(1)?, *parts.get(3)?);
    if region.is_empty() {
        return None;
    }
    let written: Vec<String> = record
        .actions
        .iter()
        .filter(|a| {
            a.status == ActionStatus::Done && !a.api.contains(":Get") && !a.api.contains(":List")
        })
        .map(|a| format!("{} {}", a.api, a.target))
        .collect();
    let mut note = format!(
        "deadbolt: {} ({})",
        record.outcome.as_str(),
        record.reason.as_str()
    );
    if !written.is_empty() {
        note.push_str(&format!("; wrote {}", written.join(", ")));
    }
    if let Some(approval) = &record.approval {
        note.push_str(&format!(
            "; approve: {}; reject: {}; expires {}",
            approval.commands.first().map_or("", String::as_str),
            approval.commands.get(1).map_or("", String::as_str),
            approval.expires_at
        ));
    }
    let target = record
        .actions
        .iter()
        .find(|a| a.status == ActionStatus::Done)
        .map(|a| a.target.clone());
    if let Some(undo) = target.and_then(|t| crate::notice::undo_command(record, &t)) {
        note.push_str(&format!("; undo: {undo}"));
    }
    if !contained && written.is_empty() && record.approval.is_none() {
        note.push_str(&format!("; {}", record.message));
    }
    Some(FindingUpdate {
        product_arn: format!("arn:{partition}:securityhub:{region}::product/aws/guardduty"),
        finding_arn,
        note: crate::text::bounded(&note, NOTE_MAX_CHARS),
        updated_by: updated_by.to_string(),
        // A re-containment stays NOTIFIED: someone undid a containment, which an analyst
        // must look at whatever the operator chose for first containments.
        workflow: if record.outcome == Outcome::Contained && settings.resolve_on_contain {
            WorkflowStatus::Resolved
        } else {
            WorkflowStatus::Notified
        },
    })
}
