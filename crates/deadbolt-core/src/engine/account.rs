//! deadbolt's own account, as the process knows it: asked once per instance, not per finding.

use crate::decision::AccountContext;
use crate::ports::{AwsError, CallerIdentity, IdentityProvider};

/// The account context of a long-lived process, fetched once: one `sts:GetCallerIdentity`
/// per cold start, not per finding.
#[derive(Debug, Default)]
pub struct AccountCache(std::sync::Mutex<Option<AccountContext>>);

impl AccountCache {
    /// The context of a caller identity the process has already asked for (the CLI asks
    /// while the settings are read): the first decision then makes no STS call of its own.
    pub fn learn(&self, caller: &CallerIdentity) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(AccountContext::from_caller(&caller.account_id, &caller.arn));
        }
    }

    /// From the cache, or from `identity` (cached on success only, so a failure is retried).
    pub async fn get<I: IdentityProvider>(&self, identity: &I) -> Result<AccountContext, AwsError> {
        if let Some(ctx) = self.0.lock().ok().and_then(|slot| slot.clone()) {
            return Ok(ctx);
        }
        let caller = identity.caller_identity().await?;
        let ctx = AccountContext::from_caller(&caller.account_id, &caller.arn);
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(ctx.clone());
        }
        Ok(ctx)
    }
}
