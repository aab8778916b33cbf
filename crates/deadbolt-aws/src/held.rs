//! Held findings in DynamoDB, on the circuit breaker's table: one item per finding,
//! `pk = held#<finding id>`, written by the responder when the breaker refuses a containment
//! and deleted by `deadbolt release-held` once the principal is contained. With an alarm topic,
//! a newly held finding is announced there once.
//!
//! Pending approvals (`approve` mode) live in the same table, `pk = approval#<finding id>`,
//! the whole approval as JSON in `approval`; their `expires_at` (the table's TTL attribute)
//! is a week after the approval's own expiry, so DynamoDB removes what nobody answered long
//! after deadbolt stopped acting on it. The three item kinds are told apart by the key's
//! prefix: `breaker#<hour>`, `held#<finding id>`, `approval#<finding id>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use deadbolt_core::ports::{AwsError, AwsErrorKind, HeldFinding, HeldFindings};

use crate::{classify, done};

const PREFIX: &str = "held#";
const APPROVAL_PREFIX: &str = "approval#";
/// DynamoDB's TTL removes an unanswered approval this long after it expired.
const APPROVAL_TTL_GRACE_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone)]
pub struct DynamoHeldFindings {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The alarm topic newly held findings are announced on, if any.
    announce: Option<(aws_sdk_sns::Client, String)>,
    /// One EventBridge Scheduler one-time schedule per pending approval, if configured.
    schedules: Option<ExpirySchedules>,
}

/// Where a pending approval's expiry is scheduled: one one-time schedule per approval in
/// `group`, sending the responder ([`deadbolt_core::approval::expiry_event_for`]) through
/// `role`; Scheduler retries a failed invocation and then hands the event to `dead_letter`.
#[derive(Debug, Clone)]
pub struct ExpirySchedules {
    pub client: aws_sdk_scheduler::Client,
    pub group: String,
    /// The responder's own ARN (`DEADBOLT_APPROVAL_TARGET_ARN`, else learnt from its first
    /// invocation's context: a function cannot name its own ARN in its environment without a
    /// circular reference), and the role Scheduler invokes it with. Creation only; the CLI,
    /// which only deletes, has neither.
    pub target_arn: std::sync::Arc<std::sync::OnceLock<String>>,
    pub role_arn: String,
    pub dead_letter: Option<String>,
}

/// The schedule of approval `id` (Scheduler names: up to 64 of letters, digits, `-_.`).
fn schedule_name(id: &str) -> String {
    format!(
        "deadbolt-approval-{}",
        id.chars().take(45).collect::<String>()
    )
}

/// `at(...)` in UTC, to the second.
fn at_expression(ms: i64) -> String {
    let text = deadbolt_core::strategy::format_rfc3339_utc(ms.div_euclid(1000));
    format!("at({})", text.trim_end_matches('Z'))
}

impl DynamoHeldFindings {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoHeldFindings {
            client,
            table: table.into(),
            announce: None,
            schedules: None,
        }
    }

    /// Schedule (and unschedule) each pending approval's expiry with EventBridge Scheduler.
    pub fn scheduling(mut self, schedules: ExpirySchedules) -> Self {
        self.schedules = Some(schedules);
        self
    }

    /// The schedules from the environment the stack sets: `DEADBOLT_APPROVAL_SCHEDULE_GROUP`,
    /// and for creating them `DEADBOLT_APPROVAL_TARGET_ARN`, `DEADBOLT_APPROVAL_SCHEDULER_ROLE_ARN`
    /// and `DEADBOLT_APPROVAL_DLQ_ARN` (optional).
    pub fn scheduling_from_env(self, config: &aws_config::SdkConfig) -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        match var("DEADBOLT_APPROVAL_SCHEDULE_GROUP") {
            Some(group) => self.scheduling(ExpirySchedules {
                client: aws_sdk_scheduler::Client::new(config),
                group,
                target_arn: std::sync::Arc::new(
                    var("DEADBOLT_APPROVAL_TARGET_ARN")
                        .map(std::sync::OnceLock::from)
                        .unwrap_or_default(),
                ),
                role_arn: var("DEADBOLT_APPROVAL_SCHEDULER_ROLE_ARN").unwrap_or_default(),
                dead_letter: var("DEADBOLT_APPROVAL_DLQ_ARN"),
            }),
            None => self,
        }
    }

    /// The responder's own ARN, from an invocation's context, for the schedules it creates
    /// (kept from the first; a clone of this store shares it).
    pub fn learn_target(&self, invoked_function_arn: &str) {
        if let Some(s) = &self.schedules {
            if !invoked_function_arn.is_empty() {
                let _ = s.target_arn.set(invoked_function_arn.to_string());
            }
        }
    }

    /// Every item whose key starts with `prefix` (every page).
    async fn scan_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn schedule(
        &self,
        approval: &deadbolt_core::approval::PendingApproval,
    ) -> Result<(), AwsError> {
        use aws_sdk_scheduler::types::{
            ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
            RetryPolicy, Target,
        };
        let Some(s) = &self.schedules else {
            return Ok(());
        };
        let invalid = |e: aws_sdk_scheduler::error::BuildError| {
            AwsError::new(AwsErrorKind::Other, "InvalidSchedule", e.to_string())
        };
        let Some(target_arn) = s.target_arn.get() else {
            return Err(AwsError::new(
                AwsErrorKind::Other,
                "NoScheduleTarget",
                "the responder's own ARN is not known (DEADBOLT_APPROVAL_TARGET_ARN), so the approval's expiry cannot be scheduled",
            ));
        };
        let target = Target::builder()
            .arn(target_arn)
            .role_arn(&s.role_arn)
            .input(deadbolt_core::approval::expiry_event_for(&approval.id))
            // Scheduler retries a failed invocation for up to an hour, then the DLQ has it.
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(3600)
                    .build(),
            )
            .set_dead_letter_config(
                s.dead_letter
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(invalid)?;
        done(
            s.client
                .create_schedule()
                .name(schedule_name(&approval.id))
                .group_name(&s.group)
                .schedule_expression(at_expression(approval.expires_at_ms))
                .schedule_expression_timezone("UTC")
                .flexible_time_window(
                    FlexibleTimeWindow::builder()
                        .mode(FlexibleTimeWindowMode::Off)
                        .build()
                        .map_err(invalid)?,
                )
                .target(target)
                .action_after_completion(ActionAfterCompletion::Delete)
                .description(format!(
                    "deadbolt: approval {} for {} expires ({})",
                    approval.id,
                    approval.target,
                    approval.on_expiry.as_str()
                ))
                .send()
                .await,
        )
    }

    async fn unschedule(&self, id: &str) -> Result<(), AwsError> {
        let Some(s) = &self.schedules else {
            return Ok(());
        };
        match s
            .client
            .delete_schedule()
            .name(schedule_name(id))
            .group_name(&s.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = classify(&e);
                // Fired and deleted itself already, or never created: nothing to remove.
                if e.code == "ResourceNotFoundException" {
                    Ok(())
                } else {
                    Err(e)
                }
            }
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

fn approval_key(id: &str) -> AttributeValue {
    AttributeValue::S(format!("{APPROVAL_PREFIX}{id}"))
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
        let mut out = self
            .scan_prefix(PREFIX)
            .await?
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
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

    async fn propose(
        &self,
        approval: &deadbolt_core::approval::PendingApproval,
    ) -> Result<bool, AwsError> {
        let json = serde_json::to_string(approval)
            .map_err(|e| AwsError::new(AwsErrorKind::Other, "Serialization", e.to_string()))?;
        let ttl = approval.expires_at_ms / 1000 + APPROVAL_TTL_GRACE_SECS;
        // Conditional: a redelivery must not move the expiry of the approval already pending.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", approval_key(&approval.id))
            .item("approval", AttributeValue::S(json))
            .item("expires_at", AttributeValue::N(ttl.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {
                // Without its schedule an approval would never expire (and an on_expiry
                // contain never contain): the approval is taken back and the error returned,
                // so the event is delivered again.
                if let Err(e) = self.schedule(approval).await {
                    let _ = self
                        .client
                        .delete_item()
                        .table_name(&self.table)
                        .key("pk", approval_key(&approval.id))
                        .send()
                        .await;
                    return Err(e);
                }
                Ok(true)
            }
            Err(e) => {
                let e = classify(&e);
                if e.code == "ConditionalCheckFailedException" {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn pending(&self) -> Result<Vec<deadbolt_core::approval::PendingApproval>, AwsError> {
        let mut out = Vec::new();
        for item in self.scan_prefix(APPROVAL_PREFIX).await? {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str);
            let approval = item
                .get("approval")
                .and_then(|v| v.as_s().ok())
                .and_then(|j| serde_json::from_str(j).ok())
                .ok_or_else(|| {
                    AwsError::new(
                        AwsErrorKind::Other,
                        "MalformedPendingApproval",
                        format!(
                            "the pending-approval item {pk} has no readable attribute approval"
                        ),
                    )
                })?;
            out.push(approval);
        }
        out.sort_by_key(|a: &deadbolt_core::approval::PendingApproval| a.created_at_ms);
        Ok(out)
    }

    async fn forget(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", approval_key(id))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        // Best effort, after the item: a schedule left behind fires into "no pending
        // approval", which does nothing (and deletes itself after it fires).
        if let Err(e) = self.unschedule(id).await {
            tracing::warn!(approval = %id, error = %e, "the approval's expiry schedule was not deleted; when it fires it finds nothing to do");
        }
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
