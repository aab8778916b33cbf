//! Held findings in DynamoDB, on the circuit breaker's table: one item per finding,
//! `pk = held#<finding id>`, written by the responder when the breaker refuses a containment
//! and deleted by `deadbolt release-held` once the principal is contained. With an alarm topic,
//! a newly held finding is announced there once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use deadbolt_core::ports::{AwsError, AwsErrorKind, HeldFinding, HeldFindings};

use crate::classify;

const PREFIX: &str = "held#";

#[derive(Debug, Clone)]
pub struct DynamoHeldFindings {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The alarm topic newly held findings are announced on, if any.
    announce: Option<(aws_sdk_sns::Client, String)>,
}

impl DynamoHeldFindings {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoHeldFindings {
            client,
            table: table.into(),
            announce: None,
        }
    }

    /// Announce each newly held finding on `topic_arn` (one short message; a redelivery of a
    /// finding already held is not announced again).
    pub fn announcing(mut self, sns: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        self.announce = Some((sns, topic_arn.into()));
        self
    }

    pub fn from_conf(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(config), table)
    }

    /// The breaker's table, `DEADBOLT_BREAKER_TABLE`; `None` without one (an open breaker
    /// then records `would_contain` and keeps nothing).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var("DEADBOLT_BREAKER_TABLE")
            .ok()
            .filter(|t| !t.is_empty())
            .map(|table| Self::from_conf(config, table))
            .map(|held| match std::env::var("DEADBOLT_ALARM_TOPIC_ARN") {
                Ok(topic) if !topic.is_empty() => {
                    held.announcing(aws_sdk_sns::Client::new(config), topic)
                }
                _ => held,
            })
    }

    /// Best effort: the finding is already kept, so a failed announcement is logged, never
    /// an error (an error would make the event be delivered again, and the item then exists).
    async fn announce(&self, held: &HeldFinding) {
        let Some((sns, topic)) = &self.announce else {
            return;
        };
        let message = format!(
            "deadbolt held finding {id} ({finding_type}) for {target} in account {account} ({region}): the circuit breaker is open, nothing was written. Act on it: deadbolt release-held {id}",
            id = held.finding_id,
            finding_type = held.finding_type,
            target = held.target,
            account = held.account_id,
            region = held.region,
        );
        let sent = sns
            .publish()
            .topic_arn(topic)
            .subject("deadbolt: finding held (circuit breaker open)")
            .message(message)
            .send()
            .await;
        if let Err(e) = sent {
            let e = classify(&e);
            tracing::warn!(finding_id = %held.finding_id, topic = %topic, error = %e, "held finding not announced");
        }
    }
}

fn key(finding_id: &str) -> AttributeValue {
    AttributeValue::S(format!("{PREFIX}{finding_id}"))
}

/// An item read back as a held finding; an item missing an attribute is an error naming it
/// (never skipped: a held finding must not disappear from the list).
fn from_item(item: &HashMap<String, AttributeValue>) -> Result<HeldFinding, AwsError> {
    let pk = item
        .get("pk")
        .and_then(|v| v.as_s().ok())
        .map_or("?", String::as_str);
    let malformed = |attribute: &str| {
        AwsError::new(
            AwsErrorKind::Other,
            "MalformedHeldFinding",
            format!("the held-finding item {pk} has no readable attribute {attribute}"),
        )
    };
    let s = |attribute: &str| {
        item.get(attribute)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| malformed(attribute))
    };
    let held_at_ms = item
        .get("held_at_ms")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| malformed("held_at_ms"))?;
    Ok(HeldFinding {
        finding_id: s("finding_id")?,
        account_id: s("account_id")?,
        region: s("region")?,
        finding_type: s("finding_type")?,
        target: s("target")?,
        held_at_ms,
        event: s("event")?,
    })
}

impl HeldFindings for DynamoHeldFindings {
    async fn hold(&self, held: &HeldFinding) -> Result<(), AwsError> {
        let s = |v: &str| AttributeValue::S(v.to_string());
        // An unconditional put: a redelivery of the same finding overwrites its item. The old
        // item, if any, says whether this finding was already held (and announced).
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", key(&held.finding_id))
            .item("finding_id", s(&held.finding_id))
            .item("account_id", s(&held.account_id))
            .item("region", s(&held.region))
            .item("finding_type", s(&held.finding_type))
            .item("target", s(&held.target))
            .item("held_at_ms", AttributeValue::N(held.held_at_ms.to_string()))
            .item("event", s(&held.event))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        if put.attributes().is_none_or(|old| old.is_empty()) {
            self.announce(held).await;
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<HeldFinding>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(PREFIX.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            for item in page.items() {
                out.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|h| h.held_at_ms);
        Ok(out)
    }

    async fn remove(&self, finding_id: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", key(finding_id))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_back_and_a_missing_attribute_is_named() {
        let mut item: HashMap<String, AttributeValue> = [
            ("pk", "held#abc"),
            ("finding_id", "abc"),
            ("account_id", "123456789012"),
            ("region", "us-east-1"),
            ("finding_type", "Stealth:IAMUser/CloudTrailLoggingDisabled"),
            ("target", "user/mallory"),
            ("event", "{}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
        .collect();
        item.insert("held_at_ms".into(), AttributeValue::N("42".into()));
        let held = from_item(&item).unwrap();
        assert_eq!(
            (held.target.as_str(), held.held_at_ms),
            ("user/mallory", 42)
        );
        item.remove("event");
        let e = from_item(&item).unwrap_err();
        assert!(
            e.message.contains("held#abc") && e.message.contains("event"),
            "{e}"
        );
    }
}
