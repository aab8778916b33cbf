//! The containment ledger in DynamoDB (`DEADBOLT_LEDGER_TABLE`, the stack's LedgerTable with
//! point-in-time recovery): one item per entry, `pk` = the entry id, the entry itself as JSON
//! in `entry`, its state in `state`. Opening is conditional (an entry is never replaced by a
//! redelivery's, which gets an id of its own); completing replaces the item it opened.

use aws_sdk_dynamodb::types::AttributeValue;
use deadbolt_core::ledger::{Ledger, LedgerEntry, LedgerState};
use deadbolt_core::ports::{AwsError, AwsErrorKind};

use crate::classify;

/// At most this many pages of the table are read for `history` and `unblock` (1 MB each).
const MAX_PAGES: usize = 50;

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    pub fn from_conf(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(config), table)
    }

    /// `DEADBOLT_LEDGER_TABLE`; `None` without one (nothing is recorded).
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var("DEADBOLT_LEDGER_TABLE")
            .ok()
            .filter(|t| !t.is_empty())
            .map(|table| Self::from_conf(config, table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn item(
        &self,
        entry: &LedgerEntry,
    ) -> Result<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder, AwsError>
    {
        let json = serde_json::to_string(entry)
            .map_err(|e| AwsError::new(AwsErrorKind::Other, "Serialization", e.to_string()))?;
        let state = match entry.state {
            LedgerState::Open => "open",
            LedgerState::Completed => "completed",
        };
        Ok(self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(entry.id.clone()))
            .item("state", AttributeValue::S(state.into()))
            .item(
                "started_at",
                AttributeValue::N(entry.started_at_ms.to_string()),
            )
            .item("entry", AttributeValue::S(json)))
    }
}

impl Ledger for DynamoLedger {
    async fn open(&self, entry: &LedgerEntry) -> Result<bool, AwsError> {
        let put = self
            .item(entry)?
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            // This finding's entry exists: the caller opens one of its own.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn complete(&self, entry: &LedgerEntry) -> Result<(), AwsError> {
        self.item(entry)?
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    async fn entries(&self) -> Result<Vec<LedgerEntry>, AwsError> {
        let mut out = Vec::new();
        let mut start = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            for item in page.items.unwrap_or_default() {
                // An item deadbolt cannot read (edited by hand) is skipped, not fatal.
                if let Some(AttributeValue::S(json)) = item.get("entry") {
                    if let Ok(entry) = serde_json::from_str::<LedgerEntry>(json) {
                        out.push(entry);
                    }
                }
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        out.sort_by_key(|e| e.started_at_ms);
        Ok(out)
    }
}
