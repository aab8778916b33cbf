//! The Security Hub write-back through `BatchUpdateFindings`: one finding per call, the note
//! and workflow status of [`deadbolt_core::securityhub::write_back`]. A finding Security Hub
//! reports as unprocessed is an error naming its code, like a refused call.

use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
};
use deadbolt_core::ports::{AwsError, AwsErrorKind};
use deadbolt_core::securityhub::{FindingUpdate, FindingsWriteBack};

use crate::classify;

#[derive(Debug, Clone)]
pub struct SecurityHubWriteBack {
    client: aws_sdk_securityhub::Client,
}

impl SecurityHubWriteBack {
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        SecurityHubWriteBack { client }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_securityhub::Client::new(config))
    }

    /// Built only where the stack granted `securityhub:BatchUpdateFindings`
    /// (`SecurityHubWriteBack=Enabled` sets `DEADBOLT_SECURITY_HUB=enabled`).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        (std::env::var("DEADBOLT_SECURITY_HUB").as_deref() == Ok("enabled"))
            .then(|| Self::from_conf(config))
    }
}

impl FindingsWriteBack for SecurityHubWriteBack {
    async fn update(&self, update: &FindingUpdate) -> Result<(), AwsError> {
        let status = match update.workflow {
            deadbolt_core::securityhub::WorkflowStatus::Notified => WorkflowStatus::Notified,
            deadbolt_core::securityhub::WorkflowStatus::Resolved => WorkflowStatus::Resolved,
        };
        let out = self
            .client
            .batch_update_findings()
            .finding_identifiers(
                AwsSecurityFindingIdentifier::builder()
                    .id(&update.finding_arn)
                    .product_arn(&update.product_arn)
                    .build(),
            )
            .note(
                NoteUpdate::builder()
                    .text(&update.note)
                    .updated_by(&update.updated_by)
                    .build(),
            )
            .workflow(WorkflowUpdate::builder().status(status).build())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match out.unprocessed_findings().first() {
            None => Ok(()),
            Some(u) => Err(AwsError::new(
                AwsErrorKind::Other,
                u.error_code().unwrap_or("UnprocessedFinding"),
                format!(
                    "Security Hub did not update {}: {}",
                    update.finding_arn,
                    u.error_message().unwrap_or("no message")
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput;
    use aws_sdk_securityhub::types::BatchUpdateFindingsUnprocessedFinding;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn update() -> FindingUpdate {
        FindingUpdate {
            product_arn: "arn:aws:securityhub:eu-west-1::product/aws/guardduty".into(),
            finding_arn: "arn:aws:guardduty:eu-west-1:123456789012:detector/12abc34d567e8fa901bc2d34eexample/finding/92b108e6e29fae28af700f610bd20943".into(),
            note: "deadbolt: contained (deny_all_attached); wrote iam:PutUserPolicy user/mallory; undo: deadbolt unblock --user mallory".into(),
            updated_by: "deadbolt-responder".into(),
            workflow: deadbolt_core::securityhub::WorkflowStatus::Notified,
        }
    }

    #[tokio::test]
    async fn the_finding_is_named_by_guardduty_product_and_arn_with_the_note_and_status() {
        let u = update();
        let expected = u.clone();
        let rule = mock!(aws_sdk_securityhub::Client::batch_update_findings)
            .match_requests(move |r| {
                let id = &r.finding_identifiers()[0];
                id.id() == Some(expected.finding_arn.as_str())
                    && id.product_arn() == Some(expected.product_arn.as_str())
                    && r.note().and_then(|n| n.text()) == Some(expected.note.as_str())
                    && r.note().and_then(|n| n.updated_by()) == Some("deadbolt-responder")
                    && r.workflow().and_then(|w| w.status()) == Some(&WorkflowStatus::Notified)
            })
            .then_output(|| BatchUpdateFindingsOutput::builder().build());
        let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule]);
        SecurityHubWriteBack::new(client).update(&u).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_unprocessed_finding_is_an_error_naming_security_hubs_code() {
        let rule = mock!(aws_sdk_securityhub::Client::batch_update_findings).then_output(|| {
            BatchUpdateFindingsOutput::builder()
                .unprocessed_findings(
                    BatchUpdateFindingsUnprocessedFinding::builder()
                        .error_code("FindingNotFound")
                        .error_message("Finding not found")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule]);
        let e = SecurityHubWriteBack::new(client)
            .update(&update())
            .await
            .unwrap_err();
        assert_eq!(e.code, "FindingNotFound");
        assert!(e.message.contains("Finding not found"), "{e}");
    }
}
