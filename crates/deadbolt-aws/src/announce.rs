//! Containment notices on the alarm topic: the message people read when deadbolt contained
//! someone ([`deadbolt_core::notice`]), published with `MessageStructure=json` so email and
//! other subscribers get the plain text and AWS Chatbot (an HTTPS subscription) its custom
//! notification.

use deadbolt_core::notice::Notice;
use deadbolt_core::ports::AwsError;

use crate::classify;

#[derive(Debug, Clone)]
pub struct AlarmAnnouncer {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl AlarmAnnouncer {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        AlarmAnnouncer {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// The alarm topic, `DEADBOLT_ALARM_TOPIC_ARN`; `None` without one (nothing announced).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var("DEADBOLT_ALARM_TOPIC_ARN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(|topic| Self::new(aws_sdk_sns::Client::new(config), topic))
    }

    /// One `sns:Publish` of `notice`.
    pub async fn announce(&self, notice: &Notice) -> Result<(), AwsError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&notice.subject)
            .message_structure("json")
            .message(notice.sns_message())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}
