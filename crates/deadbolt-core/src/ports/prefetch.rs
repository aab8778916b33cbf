//! One policy read made ahead of time: the responder reads the policy the event asks for while
//! GuardDuty answers, so verifying the finding costs no extra round trip before the write. The
//! containment executor then reads through [`Prefetch`], which hands out that one early result
//! once, for exactly the same entity and policy name, and passes everything else through.

use std::sync::Mutex;

use crate::decision::{ContainmentPlan, PlanStrategy};
use crate::decorate::{Decorated, IamHook};
use crate::ports::{AwsError, InlinePolicies};
use crate::principal::ContainmentTarget;

type Early = (ContainmentTarget, String, Result<Option<String>, AwsError>);

/// The IAM port with at most one read already made (its hook, [`EarlyRead`]).
pub type Prefetch<'a, P> = Decorated<'a, P, EarlyRead>;

/// `inner`, able to read one policy early.
pub fn prefetching<P>(inner: &P) -> Prefetch<'_, P> {
    Decorated::new(inner, EarlyRead::default())
}

/// The one early read, handed out once.
#[derive(Debug, Default)]
pub struct EarlyRead {
    early: Mutex<Option<Early>>,
}

impl IamHook for EarlyRead {
    /// The early read, if it was of this entity and policy (taken: a second read is real).
    fn early_policy(
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

impl<P: InlinePolicies> Decorated<'_, P, EarlyRead> {
    /// Read the policy `plan` starts with (plans that read no inline policy: nothing).
    pub async fn warm(&self, plan: &ContainmentPlan) {
        if matches!(
            plan.strategy,
            PlanStrategy::PermissionSetDeny { .. } | PlanStrategy::AccessKeyOnly
        ) {
            return;
        }
        let read = self
            .inner()
            .get_policy(&plan.target, plan.policy_name)
            .await;
        if let Ok(mut slot) = self.hook.early.lock() {
            *slot = Some((plan.target.clone(), plan.policy_name.to_string(), read));
        }
    }
}
