//! The circuit breaker's shared count in DynamoDB: one item per UTC hour, incremented with a
//! conditional update, so every responder instance in the account and region sees the same
//! count and the limit holds however many instances run at once. One call, atomic.

use aws_sdk_dynamodb::types::AttributeValue;
use deadbolt_core::ports::{AwsError, SharedBreaker};

use crate::classify;

#[derive(Debug, Clone)]
pub struct DynamoBreaker {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoBreaker {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoBreaker {
            client,
            table: table.into(),
        }
    }

    pub fn from_conf(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(config), table)
    }

    /// The table the template names in `DEADBOLT_BREAKER_TABLE`; `None` without one (each
    /// instance then counts only its own enforcements).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var("DEADBOLT_BREAKER_TABLE")
            .ok()
            .filter(|t| !t.is_empty())
            .map(|table| Self::from_conf(config, table))
    }
}

/// `breaker#YYYY-MM-DDTHH` for the UTC hour containing `now_ms`, and when the item may expire
/// (two hours after that hour ends: the table's TTL attribute).
pub fn hour_bucket(now_ms: i64) -> (String, i64) {
    let hour_start = now_ms.div_euclid(3_600_000) * 3600;
    let label = deadbolt_core::strategy::format_rfc3339_utc(hour_start);
    (
        format!("breaker#{}", label.get(..13).unwrap_or(&label)),
        hour_start + 3 * 3600,
    )
}

impl SharedBreaker for DynamoBreaker {
    async fn try_admit(&self, limit: u32, now_ms: i64) -> Result<bool, AwsError> {
        let (pk, expires_at) = hour_bucket(now_ms);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one, expires_at = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "enforced")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // The condition failed: this hour's count is at the limit.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn refund(&self, now_ms: i64) -> Result<(), AwsError> {
        let (pk, _) = hour_bucket(now_ms);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .update_expression("SET #n = #n - :one")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "enforced")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing counted in that hour (it rolled over, or expired): nothing to give back.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_utc_hours() {
        // 2026-11-23T12:34:56Z
        let (pk, ttl) = hour_bucket(1_795_437_296_000);
        assert_eq!(pk, "breaker#2026-11-23T12");
        assert_eq!(ttl, 1_795_435_200 + 3 * 3600);
        assert_eq!(hour_bucket(1_795_435_200_000).0, "breaker#2026-11-23T12");
        assert_eq!(hour_bucket(1_795_435_199_999).0, "breaker#2026-11-23T11");
    }
}
