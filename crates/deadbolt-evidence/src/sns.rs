//! Investigation summaries to an SNS topic, behind `deadbolt-trail`'s [`Notifier`] port.

use deadbolt_trail::{Notifier, NotifyError};

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), NotifyError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let detail = crate::call_error(&e);
                NotifyError(format!("sns:Publish to {}: {detail}", self.topic_arn))
            })
    }
}
