//! One policy read made ahead of time: the responder reads the policy the event asks for while
//! GuardDuty answers, so verifying the finding costs no extra round trip before the write. The
//! containment executor then reads through [`Prefetch`], which hands out that one early result
//! once, for exactly the same entity and policy name, and passes everything else through.

use std::sync::Mutex;

use crate::decision::{ContainmentPlan, PlanStrategy};
use crate::ports::{AccessKeys, AwsError, InlinePolicies, ManagedPolicies};
use crate::principal::ContainmentTarget;

type Early = (ContainmentTarget, String, Result<Option<String>, AwsError>);

/// The IAM port with at most one read already made.
pub struct Prefetch<'a, P> {
    inner: &'a P,
    early: Mutex<Option<Early>>,
}

impl<'a, P: InlinePolicies> Prefetch<'a, P> {
    pub fn new(inner: &'a P) -> Self {
        Prefetch {
            inner,
            early: Mutex::new(None),
        }
    }

    /// Read the policy `plan` starts with (plans that read no inline policy: nothing).
    pub async fn warm(&self, plan: &ContainmentPlan) {
        if matches!(
            plan.strategy,
            PlanStrategy::PermissionSetDeny { .. } | PlanStrategy::AccessKeyOnly
        ) {
            return;
        }
        let read = self.inner.get_policy(&plan.target, plan.policy_name).await;
        if let Ok(mut slot) = self.early.lock() {
            *slot = Some((plan.target.clone(), plan.policy_name.to_string(), read));
        }
    }

    /// The early read, if it was of this entity and policy (taken: a second read is real).
    fn take(
        &self,
        target: &ContainmentTarget,
        name: &str,
    ) -> Option<Result<Option<String>, AwsError>> {
        let mut slot = self.early.lock().ok()?;
        match slot.as_ref() {
            Some((t, n, _)) if t == target && n == name => slot.take().map(|(_, _, r)| r),
            _ => None,
        }
    }
}

impl<P: InlinePolicies> InlinePolicies for Prefetch<'_, P> {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        match self.take(target, policy_name) {
            Some(early) => early,
            None => self.inner.get_policy(target, policy_name).await,
        }
    }
    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.inner.put_policy(target, policy_name, document).await
    }
    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        self.inner.delete_policy(target, policy_name).await
    }
}

impl<P: AccessKeys + InlinePolicies> AccessKeys for Prefetch<'_, P> {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        self.inner.access_key_active(user_name, access_key_id).await
    }
    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        self.inner
            .set_access_key_status(user_name, access_key_id, active)
            .await
    }
}

impl<P: ManagedPolicies + InlinePolicies> ManagedPolicies for Prefetch<'_, P> {
    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        self.inner.attached_policies(target).await
    }
    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.inner.attach_policy(target, arn).await
    }
    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        self.inner.detach_policy(target, arn).await
    }
    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        self.inner.tags(target).await
    }
    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.inner.tag(target, key, value).await
    }
    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        self.inner.untag(target, key).await
    }
    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        self.inner.permissions_boundary(target).await
    }
    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        self.inner.put_permissions_boundary(target, arn).await
    }
    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        self.inner.delete_permissions_boundary(target).await
    }
}
