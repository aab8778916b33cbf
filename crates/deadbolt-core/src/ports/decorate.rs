//! One decorator over the IAM port, for everything the engine needs to see of its IAM calls:
//! how long reads and writes took ([`crate::timing::Stopwatch`]), the read made early while
//! GuardDuty answers ([`crate::prefetch::EarlyRead`]), and the state before containment that
//! the ledger keeps (`ledger::Watch`). [`Decorated`] forwards every method of
//! [`InlinePolicies`], [`ManagedPolicies`] and [`AccessKeys`] once, here; an [`IamHook`] only
//! says what it does around a call, so a new method of a port is forwarded in one place.

use std::future::Future;

use crate::ports::{AccessKeys, AwsError, EntityInfo, InlinePolicies, ManagedPolicies};
use crate::principal::ContainmentTarget;

/// One IAM call, as the hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamCall<'c> {
    GetPolicy(&'c ContainmentTarget, &'c str),
    PutPolicy(&'c ContainmentTarget, &'c str),
    DeletePolicy(&'c ContainmentTarget, &'c str),
    AccessKeyActive(&'c str, &'c str),
    SetAccessKeyStatus(&'c str, &'c str, bool),
    AttachedPolicies(&'c ContainmentTarget),
    AttachPolicy(&'c ContainmentTarget, &'c str),
    DetachPolicy(&'c ContainmentTarget, &'c str),
    Tags(&'c ContainmentTarget),
    Tag(&'c ContainmentTarget, &'c str),
    Untag(&'c ContainmentTarget, &'c str),
    PermissionsBoundary(&'c ContainmentTarget),
    PutPermissionsBoundary(&'c ContainmentTarget, &'c str),
    DeletePermissionsBoundary(&'c ContainmentTarget),
    EntityInfo(&'c ContainmentTarget),
}

impl IamCall<'_> {
    /// Whether the call changes IAM (else it reads).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            IamCall::PutPolicy(..)
                | IamCall::DeletePolicy(..)
                | IamCall::SetAccessKeyStatus(..)
                | IamCall::AttachPolicy(..)
                | IamCall::DetachPolicy(..)
                | IamCall::Tag(..)
                | IamCall::Untag(..)
                | IamCall::PutPermissionsBoundary(..)
                | IamCall::DeletePermissionsBoundary(..)
        )
    }
}

/// A call's answer, as the hook sees it (the caller gets it unchanged).
#[derive(Debug, Clone, Copy)]
pub enum IamAnswer<'r> {
    /// A policy document, or a boundary's ARN (`None`: none).
    Text(&'r Result<Option<String>, AwsError>),
    KeyActive(&'r Result<Option<bool>, AwsError>),
    Arns(&'r Result<Vec<String>, AwsError>),
    Tags(&'r Result<Vec<(String, String)>, AwsError>),
    Entity(&'r Result<Option<EntityInfo>, AwsError>),
    Done(&'r Result<(), AwsError>),
}

/// What a decorator does around the IAM calls made through it.
pub trait IamHook: Send + Sync {
    /// An answer to `get_policy(target, name)` that is already there (the early read); `None`:
    /// make the call.
    fn early_policy(
        &self,
        _target: &ContainmentTarget,
        _name: &str,
    ) -> Option<Result<Option<String>, AwsError>> {
        None
    }

    /// After each call made: what it was, what it answered, how long it took (µs).
    fn after(&self, _call: IamCall<'_>, _answer: IamAnswer<'_>, _elapsed_us: u64) {}
}

/// The IAM port `inner`, with `hook` around every call.
pub struct Decorated<'a, P, H> {
    inner: &'a P,
    pub hook: H,
}

impl<'a, P, H> Decorated<'a, P, H> {
    pub fn new(inner: &'a P, hook: H) -> Self {
        Decorated { inner, hook }
    }

    pub fn inner(&self) -> &'a P {
        self.inner
    }
}

/// The answers of the port's methods, each as the hook sees it.
trait Answer {
    fn view(&self) -> IamAnswer<'_>;
}

macro_rules! answer {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl Answer for $t {
            fn view(&self) -> IamAnswer<'_> {
                IamAnswer::$variant(self)
            }
        })*
    };
}

answer! {
    Result<Option<String>, AwsError> => Text,
    Result<Option<bool>, AwsError> => KeyActive,
    Result<Vec<String>, AwsError> => Arns,
    Result<Vec<(String, String)>, AwsError> => Tags,
    Result<Option<EntityInfo>, AwsError> => Entity,
    Result<(), AwsError> => Done,
}

impl<P, H: IamHook> Decorated<'_, P, H> {
    async fn call<T: Answer>(&self, call: IamCall<'_>, run: impl Future<Output = T>) -> T {
        // On the heap: decorators nest (prefetch over timing, the ledger's watch over both)
        // and each would otherwise carry the whole inner call's state in its own future, deep
        // enough to overflow a test thread's stack in debug builds. One allocation per IAM
        // call, against a network round trip.
        let (out, us) = crate::timing::timed(Box::pin(run)).await;
        self.hook.after(call, out.view(), us);
        out
    }
}

impl<P: InlinePolicies, H: IamHook> InlinePolicies for Decorated<'_, P, H> {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        if let Some(early) = self.hook.early_policy(target, policy_name) {
            return early;
        }
        let call = IamCall::GetPolicy(target, policy_name);
        self.call(call, self.inner.get_policy(target, policy_name))
            .await
    }
    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        let call = IamCall::PutPolicy(target, policy_name);
        let run = self.inner.put_policy(target, policy_name, document);
        self.call(call, run).await
    }
    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        let call = IamCall::DeletePolicy(target, policy_name);
        let run = self.inner.delete_policy(target, policy_name);
        self.call(call, run).await
    }
}

impl<P: AccessKeys, H: IamHook> AccessKeys for Decorated<'_, P, H> {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        let call = IamCall::AccessKeyActive(user_name, access_key_id);
        let run = self.inner.access_key_active(user_name, access_key_id);
        self.call(call, run).await
    }
    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        let call = IamCall::SetAccessKeyStatus(user_name, access_key_id, active);
        let run = self
            .inner
            .set_access_key_status(user_name, access_key_id, active);
        self.call(call, run).await
    }
}

impl<P: ManagedPolicies, H: IamHook> ManagedPolicies for Decorated<'_, P, H> {
    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        let call = IamCall::AttachedPolicies(target);
        self.call(call, self.inner.attached_policies(target)).await
    }
    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        let call = IamCall::AttachPolicy(target, arn);
        self.call(call, self.inner.attach_policy(target, arn)).await
    }
    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        let call = IamCall::DetachPolicy(target, arn);
        self.call(call, self.inner.detach_policy(target, arn)).await
    }
    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        self.call(IamCall::Tags(target), self.inner.tags(target))
            .await
    }
    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let call = IamCall::Tag(target, key);
        self.call(call, self.inner.tag(target, key, value)).await
    }
    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        let call = IamCall::Untag(target, key);
        self.call(call, self.inner.untag(target, key)).await
    }
    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        let call = IamCall::PermissionsBoundary(target);
        let run = self.inner.permissions_boundary(target);
        self.call(call, run).await
    }
    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        let call = IamCall::PutPermissionsBoundary(target, arn);
        let run = self.inner.put_permissions_boundary(target, arn);
        self.call(call, run).await
    }
    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        let call = IamCall::DeletePermissionsBoundary(target);
        let run = self.inner.delete_permissions_boundary(target);
        self.call(call, run).await
    }
    async fn entity_info(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<EntityInfo>, AwsError> {
        let call = IamCall::EntityInfo(target);
        self.call(call, self.inner.entity_info(target)).await
    }
}
