//! A member account's finding is investigated in that account: LookupEvents through the member
//! role (the same session the follow-ups use), unless the enricher reads the organization
//! trail (Athena), which already holds every member's events. Findings of deadbolt's own account, and of
//! accounts not in `member_accounts`, use the enricher's configured source.

use deadbolt_aws::MemberSessions;
use deadbolt_core::account::AccountCache;
use deadbolt_core::decision::MemberRole;
use deadbolt_core::{Finding, Settings};
use deadbolt_evidence::{AnySource, LookupEventsSource};
use deadbolt_trail::SourceRouter;

pub struct MemberLookupEvents {
    /// The enricher's source already covers every account (Athena over the organization
    /// trail): nothing to route.
    pub organization_wide: bool,
    pub sessions: MemberSessions,
    /// deadbolt's own account (the administrator's), from the caller identity once.
    pub own_account: AccountCache,
    pub identity: deadbolt_aws::StsIdentity,
}

impl SourceRouter<AnySource> for MemberLookupEvents {
    async fn source_for(
        &self,
        finding: &Finding,
        settings: Option<&Settings>,
    ) -> Result<Option<AnySource>, String> {
        if self.organization_wide {
            return Ok(None);
        }
        let Some(settings) = settings.filter(|s| s.is_member_account(&finding.account_id)) else {
            return Ok(None);
        };
        let own = self
            .own_account
            .get(&self.identity)
            .await
            .map_err(|e| format!("could not establish deadbolt's own account ({e})"))?;
        if own.account_id == finding.account_id {
            return Ok(None);
        }
        let role = MemberRole {
            account_id: finding.account_id.clone(),
            role_name: settings.member_role.clone(),
            partition: finding.partition.clone(),
        };
        let config = self.sessions.config_for(&role, &finding.id).await.map_err(|e| {
            format!(
                "finding {} is member account {}'s; could not assume {} to read its CloudTrail ({e}); nothing was investigated",
                finding.id,
                finding.account_id,
                role.arn()
            )
        })?;
        Ok(Some(AnySource::LookupEvents(LookupEventsSource::new(
            aws_sdk_cloudtrail::Client::new(&config),
        ))))
    }
}
