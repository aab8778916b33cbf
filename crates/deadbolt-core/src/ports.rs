//! The capabilities deadbolt needs from AWS, as small traits the domain owns. `deadbolt-aws`
//! implements them with the AWS SDK; tests implement them in memory.

use std::future::Future;

use crate::principal::{ContainmentTarget, TargetKind};
use crate::record::Reason;

/// The IAM failures deadbolt distinguishes, each with its own decision-record reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamErrorKind {
    NoSuchEntity,
    UnmodifiableEntity,
    AccessDenied,
    Throttled,
    LimitExceeded,
    MalformedPolicy,
    /// Network, timeout, or a service error deadbolt has no specific handling for.
    Other,
}

/// An AWS call that failed, with the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct IamError {
    pub kind: IamErrorKind,
    pub code: String,
    pub message: String,
}

impl IamError {
    pub fn reason(&self) -> Reason {
        match self.kind {
            IamErrorKind::NoSuchEntity => Reason::NoSuchEntity,
            IamErrorKind::UnmodifiableEntity => Reason::UnmodifiableEntity,
            IamErrorKind::AccessDenied => Reason::AccessDenied,
            IamErrorKind::Throttled => Reason::Throttled,
            IamErrorKind::LimitExceeded => Reason::LimitExceeded,
            IamErrorKind::MalformedPolicy | IamErrorKind::Other => Reason::AwsError,
        }
    }

    /// Worth delivering the event again: the SDK already retried throttling with backoff, so
    /// a throttle that got through is a sustained one EventBridge's slower retries may outlast.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, IamErrorKind::Throttled | IamErrorKind::Other)
    }
}

/// The IAM API name for an inline-policy operation on a kind of entity.
pub fn iam_api(op: PolicyOp, kind: TargetKind) -> &'static str {
    match (op, kind) {
        (PolicyOp::Get, TargetKind::User) => "iam:GetUserPolicy",
        (PolicyOp::Get, TargetKind::Role) => "iam:GetRolePolicy",
        (PolicyOp::Get, TargetKind::Group) => "iam:GetGroupPolicy",
        (PolicyOp::Put, TargetKind::User) => "iam:PutUserPolicy",
        (PolicyOp::Put, TargetKind::Role) => "iam:PutRolePolicy",
        (PolicyOp::Put, TargetKind::Group) => "iam:PutGroupPolicy",
        (PolicyOp::Delete, TargetKind::User) => "iam:DeleteUserPolicy",
        (PolicyOp::Delete, TargetKind::Role) => "iam:DeleteRolePolicy",
        (PolicyOp::Delete, TargetKind::Group) => "iam:DeleteGroupPolicy",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOp {
    Get,
    Put,
    Delete,
}

/// Inline policies on IAM users, roles and groups.
pub trait InlinePolicies: Send + Sync {
    /// The policy's document, URL-decoded, or `None` if there is no such policy. IAM answers
    /// `NoSuchEntity` both for a missing policy and a missing entity; both are `None` here, and
    /// a missing entity surfaces on the write that follows.
    fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> impl Future<Output = Result<Option<String>, IamError>> + Send;

    fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> impl Future<Output = Result<(), IamError>> + Send;
}

/// Who deadbolt's own credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account_id: String,
    pub arn: String,
}

pub trait IdentityProvider: Send + Sync {
    fn caller_identity(&self) -> impl Future<Output = Result<CallerIdentity, IamError>> + Send;
}

// A borrowed adapter is an adapter: lets one store serve several responders (tests, CLI).
impl<T: IdentityProvider> IdentityProvider for &T {
    async fn caller_identity(&self) -> Result<CallerIdentity, IamError> {
        (**self).caller_identity().await
    }
}

impl<T: InlinePolicies> InlinePolicies for &T {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, IamError> {
        (**self).get_policy(target, policy_name).await
    }
    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        (**self).put_policy(target, policy_name, document).await
    }
    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), IamError> {
        (**self).delete_policy(target, policy_name).await
    }
}

/// Listing IAM entities (the playbook's step 2.3), for the operator CLI.
pub trait IamDirectory: Send + Sync {
    /// Every user, role or group name in the account, in IAM's order.
    fn list_names(
        &self,
        kind: TargetKind,
    ) -> impl Future<Output = Result<Vec<String>, IamError>> + Send;
}
