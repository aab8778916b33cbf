//! The capabilities deadbolt needs from AWS, as small traits the domain owns. `deadbolt-aws`
//! implements them with the AWS SDK; tests implement them in memory.

use std::future::Future;

// Beside the port traits: the settings store and its refresh, and the IAM port's decorators.
pub mod decorate;
pub mod prefetch;
pub mod runtime;
pub mod timing;

// The error every port returns is vocabulary (records and settings name it); re-exported
// here, where the ports are.
pub use crate::error::{AwsError, AwsErrorKind};
use crate::principal::{ContainmentTarget, TargetKind};

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
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A call on an entity's managed-policy attachments or tags: the write path deadbolt falls
/// back to when the inline `DenyAll` cannot be written (a policy it did not write holds the
/// name, or the inline-policy quota is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedOp {
    ListAttached,
    Attach,
    Detach,
    ListTags,
    Tag,
    Untag,
    /// Read the user's or role's permissions boundary (`iam:GetUser` / `iam:GetRole`).
    GetBoundary,
    /// Set the permissions boundary: the path no quota can block.
    PutBoundary,
    DeleteBoundary,
}

/// The IAM API name for a managed-policy or tag operation on a kind of entity; `None` for tag
/// operations on groups (IAM groups cannot be tagged).
pub fn managed_api(op: ManagedOp, kind: TargetKind) -> Option<&'static str> {
    Some(match (op, kind) {
        (ManagedOp::ListAttached, TargetKind::User) => "iam:ListAttachedUserPolicies",
        (ManagedOp::ListAttached, TargetKind::Role) => "iam:ListAttachedRolePolicies",
        (ManagedOp::ListAttached, TargetKind::Group) => "iam:ListAttachedGroupPolicies",
        (ManagedOp::Attach, TargetKind::User) => "iam:AttachUserPolicy",
        (ManagedOp::Attach, TargetKind::Role) => "iam:AttachRolePolicy",
        (ManagedOp::Attach, TargetKind::Group) => "iam:AttachGroupPolicy",
        (ManagedOp::Detach, TargetKind::User) => "iam:DetachUserPolicy",
        (ManagedOp::Detach, TargetKind::Role) => "iam:DetachRolePolicy",
        (ManagedOp::Detach, TargetKind::Group) => "iam:DetachGroupPolicy",
        (ManagedOp::ListTags, TargetKind::User) => "iam:ListUserTags",
        (ManagedOp::ListTags, TargetKind::Role) => "iam:ListRoleTags",
        (ManagedOp::Tag, TargetKind::User) => "iam:TagUser",
        (ManagedOp::Tag, TargetKind::Role) => "iam:TagRole",
        (ManagedOp::Untag, TargetKind::User) => "iam:UntagUser",
        (ManagedOp::Untag, TargetKind::Role) => "iam:UntagRole",
        (ManagedOp::GetBoundary, TargetKind::User) => "iam:GetUser",
        (ManagedOp::GetBoundary, TargetKind::Role) => "iam:GetRole",
        (ManagedOp::PutBoundary, TargetKind::User) => "iam:PutUserPermissionsBoundary",
        (ManagedOp::PutBoundary, TargetKind::Role) => "iam:PutRolePermissionsBoundary",
        (ManagedOp::DeleteBoundary, TargetKind::User) => "iam:DeleteUserPermissionsBoundary",
        (ManagedOp::DeleteBoundary, TargetKind::Role) => "iam:DeleteRolePermissionsBoundary",
        // IAM groups can be neither tagged nor given a permissions boundary.
        (
            ManagedOp::ListTags
            | ManagedOp::Tag
            | ManagedOp::Untag
            | ManagedOp::GetBoundary
            | ManagedOp::PutBoundary
            | ManagedOp::DeleteBoundary,
            TargetKind::Group,
        ) => return None,
    })
}

/// Managed-policy attachments and tags on IAM users, roles and groups. Tag calls are for users
/// and roles only: deadbolt never makes them for a group.
pub trait ManagedPolicies: Send + Sync {
    /// The ARNs of the managed policies attached to the entity (every page).
    fn attached_policies(
        &self,
        target: &ContainmentTarget,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    fn attach_policy(
        &self,
        target: &ContainmentTarget,
        policy_arn: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn detach_policy(
        &self,
        target: &ContainmentTarget,
        policy_arn: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The user's or role's tags, as `(key, value)`.
    fn tags(
        &self,
        target: &ContainmentTarget,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;

    /// Set one tag on a user or role (replacing the value if the key exists).
    fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn untag(
        &self,
        target: &ContainmentTarget,
        key: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The ARN of the user's or role's permissions boundary (`None`: it has none).
    fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    /// Set the user's or role's permissions boundary to `policy_arn` (replacing any).
    fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        policy_arn: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// When the user or role was created and under which IAM path (`GetUser`/`GetRole`):
    /// what a protected pattern and a reserved name are checked against, so that neither can
    /// be adopted by creating an entity with a chosen name. `None`: unknown (groups, or a
    /// port that cannot tell), and the name alone decides, as before.
    fn entity_info(
        &self,
        _target: &ContainmentTarget,
    ) -> impl Future<Output = Result<Option<EntityInfo>, AwsError>> + Send {
        async { Ok(None) }
    }
}

/// What IAM says about a user or role, beyond its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityInfo {
    /// `CreateDate`, milliseconds since the epoch.
    pub created_at_ms: i64,
    /// The IAM path (`/`, `/aws-reserved/sso.amazonaws.com/`, `/aws-service-role/…/`).
    pub path: String,
}

impl<T: ManagedPolicies> ManagedPolicies for &T {
    async fn entity_info(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<EntityInfo>, AwsError> {
        (**self).entity_info(target).await
    }
    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        (**self).attached_policies(target).await
    }
    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        (**self).attach_policy(target, arn).await
    }
    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        (**self).detach_policy(target, arn).await
    }
    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        (**self).tags(target).await
    }
    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        (**self).tag(target, key, value).await
    }
    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        (**self).untag(target, key).await
    }
    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        (**self).permissions_boundary(target).await
    }
    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        (**self).put_permissions_boundary(target, arn).await
    }
    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        (**self).delete_permissions_boundary(target).await
    }
}

/// Who deadbolt's own credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account_id: String,
    pub arn: String,
}

pub trait IdentityProvider: Send + Sync {
    fn caller_identity(&self) -> impl Future<Output = Result<CallerIdentity, AwsError>> + Send;
}

// A borrowed adapter is an adapter: lets one store serve several responders (tests, CLI).
impl<T: IdentityProvider> IdentityProvider for &T {
    async fn caller_identity(&self) -> Result<CallerIdentity, AwsError> {
        (**self).caller_identity().await
    }
}

impl<T: InlinePolicies> InlinePolicies for &T {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        (**self).get_policy(target, policy_name).await
    }
    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        (**self).put_policy(target, policy_name, document).await
    }
    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        (**self).delete_policy(target, policy_name).await
    }
}

/// Listing IAM entities (the playbook's step 2.3), for the operator CLI.
pub trait IamDirectory: Send + Sync {
    /// Every user, role or group name in the account, in IAM's order.
    fn list_names(
        &self,
        kind: TargetKind,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
}

/// IAM user access keys: containment sets the finding's key inactive, release sets it active.
pub trait AccessKeys: Send + Sync {
    /// Whether the user's key is active; `None` when the user has no key with that id.
    fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<bool>, AwsError>> + Send;

    fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl<T: AccessKeys> AccessKeys for &T {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        (**self).access_key_active(user_name, access_key_id).await
    }
    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        (**self)
            .set_access_key_status(user_name, access_key_id, active)
            .await
    }
}

/// A permission set and the Identity Center instance it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSetRef {
    pub instance_arn: String,
    pub identity_store_id: String,
    pub permission_set_arn: String,
}

/// IAM Identity Center (sso-admin and identitystore), for the `permission-set-deny` strategy.
pub trait IdentityCenter: Send + Sync {
    /// The permission set with this name, `None` if there is none.
    fn find_permission_set(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<PermissionSetRef>, AwsError>> + Send;
    /// The identity store's id for the user with this user name, `None` if there is none.
    fn find_user_id(
        &self,
        identity_store_id: &str,
        user_name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// The permission set's inline policy, `None` (or empty) when it has none.
    fn get_inline_policy(
        &self,
        permission_set: &PermissionSetRef,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    fn put_inline_policy(
        &self,
        permission_set: &PermissionSetRef,
        document: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn delete_inline_policy(
        &self,
        permission_set: &PermissionSetRef,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Push the permission set to every account it is provisioned to.
    fn provision(
        &self,
        permission_set: &PermissionSetRef,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// No Identity Center access: what the responder uses unless wired with one. Every call
/// fails with a message saying so, and nothing is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIdentityCenter;

impl NoIdentityCenter {
    fn unavailable() -> AwsError {
        AwsError::new(
            AwsErrorKind::AccessDenied,
            "IdentityCenterNotConfigured",
            "this deadbolt has no Identity Center client; set strategy.identity_center to manual, or deploy with Identity Center access",
        )
    }
}

impl IdentityCenter for NoIdentityCenter {
    async fn find_permission_set(&self, _: &str) -> Result<Option<PermissionSetRef>, AwsError> {
        Err(Self::unavailable())
    }
    async fn find_user_id(&self, _: &str, _: &str) -> Result<Option<String>, AwsError> {
        Err(Self::unavailable())
    }
    async fn get_inline_policy(&self, _: &PermissionSetRef) -> Result<Option<String>, AwsError> {
        Err(Self::unavailable())
    }
    async fn put_inline_policy(&self, _: &PermissionSetRef, _: &str) -> Result<(), AwsError> {
        Err(Self::unavailable())
    }
    async fn delete_inline_policy(&self, _: &PermissionSetRef) -> Result<(), AwsError> {
        Err(Self::unavailable())
    }
    async fn provision(&self, _: &PermissionSetRef) -> Result<(), AwsError> {
        Err(Self::unavailable())
    }
}

impl<T: IdentityCenter> IdentityCenter for &T {
    async fn find_permission_set(&self, name: &str) -> Result<Option<PermissionSetRef>, AwsError> {
        (**self).find_permission_set(name).await
    }
    async fn find_user_id(&self, store: &str, user: &str) -> Result<Option<String>, AwsError> {
        (**self).find_user_id(store, user).await
    }
    async fn get_inline_policy(&self, ps: &PermissionSetRef) -> Result<Option<String>, AwsError> {
        (**self).get_inline_policy(ps).await
    }
    async fn put_inline_policy(&self, ps: &PermissionSetRef, doc: &str) -> Result<(), AwsError> {
        (**self).put_inline_policy(ps, doc).await
    }
    async fn delete_inline_policy(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        (**self).delete_inline_policy(ps).await
    }
    async fn provision(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        (**self).provision(ps).await
    }
}

/// GuardDuty's own copy of a finding: what deadbolt decides on, never the event alone (an event
/// can be forged by anyone who can invoke the function or put events on the bus).
pub trait GuardDutyFindings: Send + Sync {
    /// GuardDuty's copy of the finding `finding_id`, from deadbolt's own detector (in a
    /// GuardDuty administrator account that detector also returns member accounts' findings);
    /// `None` when GuardDuty does not know it.
    fn get_finding(
        &self,
        finding_id: &str,
    ) -> impl Future<Output = Result<Option<crate::finding::Finding>, AwsError>> + Send;

    /// What every later `get_finding` needs and no event changes (the adapter's detector id),
    /// asked now: the responder runs this in the same round trip as the settings read and the
    /// caller identity on a cold start, so verification costs no serial round trip of its
    /// own. Best effort: a failure is not cached and `get_finding` asks again (and reports it).
    fn prepare(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl<T: GuardDutyFindings> GuardDutyFindings for &T {
    async fn get_finding(
        &self,
        finding_id: &str,
    ) -> Result<Option<crate::finding::Finding>, AwsError> {
        (**self).get_finding(finding_id).await
    }

    async fn prepare(&self) {
        (**self).prepare().await
    }
}

impl<T: GuardDutyFindings> GuardDutyFindings for std::sync::Arc<T> {
    async fn get_finding(
        &self,
        finding_id: &str,
    ) -> Result<Option<crate::finding::Finding>, AwsError> {
        (**self).get_finding(finding_id).await
    }

    async fn prepare(&self) {
        (**self).prepare().await
    }
}

/// No GuardDuty client: the type of an absent `Ports::guardduty`. Never called.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGuardDuty;

impl GuardDutyFindings for NoGuardDuty {
    async fn get_finding(&self, _: &str) -> Result<Option<crate::finding::Finding>, AwsError> {
        Err(AwsError::new(
            AwsErrorKind::Other,
            "GuardDutyNotConfigured",
            "this deadbolt has no GuardDuty client",
        ))
    }
}

/// The circuit breaker's count shared by every function instance in the account and region
/// (the in-memory breaker only sees its own instance).
pub trait SharedBreaker: Send + Sync {
    /// Count one enforcement in the UTC clock hour containing `now_ms` if fewer than `limit`
    /// were counted there: `Ok(true)` admitted, `Ok(false)` the limit is reached.
    fn try_admit(
        &self,
        limit: u32,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Give back one enforcement counted by `try_admit` at `now_ms` whose write failed (never
    /// below zero). Best effort: a refund that fails leaves the count one too high, the safe
    /// side.
    fn refund(&self, now_ms: i64) -> impl Future<Output = Result<(), AwsError>> + Send {
        let _ = now_ms;
        async { Ok(()) }
    }
}

/// No shared count: only the in-memory breaker applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSharedBreaker;

impl SharedBreaker for NoSharedBreaker {
    async fn try_admit(&self, _: u32, _: i64) -> Result<bool, AwsError> {
        Ok(true)
    }
}

impl<T: SharedBreaker> SharedBreaker for &T {
    async fn try_admit(&self, limit: u32, now_ms: i64) -> Result<bool, AwsError> {
        (**self).try_admit(limit, now_ms).await
    }
    async fn refund(&self, now_ms: i64) -> Result<(), AwsError> {
        (**self).refund(now_ms).await
    }
}

/// An optional shared count (the Lambda wires one only when a table is configured).
impl<T: SharedBreaker> SharedBreaker for Option<T> {
    async fn try_admit(&self, limit: u32, now_ms: i64) -> Result<bool, AwsError> {
        match self {
            Some(shared) => shared.try_admit(limit, now_ms).await,
            None => Ok(true),
        }
    }
    async fn refund(&self, now_ms: i64) -> Result<(), AwsError> {
        match self {
            Some(shared) => shared.refund(now_ms).await,
            None => Ok(()),
        }
    }
}

/// A finding the circuit breaker refused to contain, kept until an operator acts on it
/// (`deadbolt release-held`), so a storm that opens the breaker loses no finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldFinding {
    pub finding_id: String,
    pub account_id: String,
    pub region: String,
    pub finding_type: String,
    /// What would have been contained, e.g. `user/mallory`.
    pub target: String,
    /// When it was held (epoch milliseconds).
    pub held_at_ms: i64,
    /// The raw EventBridge event, so it can be replayed exactly.
    pub event: String,
}

/// Where held findings are kept (DynamoDB in the Lambdas, the breaker's table).
pub trait HeldFindings: Send + Sync {
    /// Keep `held`; idempotent per finding id (a redelivery overwrites the same item).
    fn hold(&self, held: &HeldFinding) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Every held finding (every page).
    fn list(&self) -> impl Future<Output = Result<Vec<HeldFinding>, AwsError>> + Send;
    /// Forget the held finding `finding_id` (no error if there is none).
    fn remove(&self, finding_id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Keep a pending approval (`approve` mode), in the same table, told apart by its key
    /// (`approval#<finding id>` beside `held#<finding id>`). `Ok(false)`: one for this finding
    /// exists (a redelivery: the first one, with its expiry, stands). A store that keeps none
    /// says so, and approve mode then writes nothing and records `failed`.
    fn propose(
        &self,
        approval: &crate::approval::PendingApproval,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send {
        let _ = approval;
        async { Err(crate::approval::no_store()) }
    }
    /// Every pending approval, oldest first.
    fn pending(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::approval::PendingApproval>, AwsError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Forget the pending approval `id` (no error if there is none).
    fn forget(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send {
        let _ = id;
        async { Ok(()) }
    }
}

impl<T: HeldFindings> HeldFindings for &T {
    async fn hold(&self, held: &HeldFinding) -> Result<(), AwsError> {
        (**self).hold(held).await
    }
    async fn propose(&self, approval: &crate::approval::PendingApproval) -> Result<bool, AwsError> {
        (**self).propose(approval).await
    }
    async fn pending(&self) -> Result<Vec<crate::approval::PendingApproval>, AwsError> {
        (**self).pending().await
    }
    async fn forget(&self, id: &str) -> Result<(), AwsError> {
        (**self).forget(id).await
    }
    async fn list(&self) -> Result<Vec<HeldFinding>, AwsError> {
        (**self).list().await
    }
    async fn remove(&self, finding_id: &str) -> Result<(), AwsError> {
        (**self).remove(finding_id).await
    }
}

impl<T: HeldFindings> HeldFindings for std::sync::Arc<T> {
    async fn hold(&self, held: &HeldFinding) -> Result<(), AwsError> {
        (**self).hold(held).await
    }
    async fn propose(&self, approval: &crate::approval::PendingApproval) -> Result<bool, AwsError> {
        (**self).propose(approval).await
    }
    async fn pending(&self) -> Result<Vec<crate::approval::PendingApproval>, AwsError> {
        (**self).pending().await
    }
    async fn forget(&self, id: &str) -> Result<(), AwsError> {
        (**self).forget(id).await
    }
    async fn list(&self) -> Result<Vec<HeldFinding>, AwsError> {
        (**self).list().await
    }
    async fn remove(&self, finding_id: &str) -> Result<(), AwsError> {
        (**self).remove(finding_id).await
    }
}

/// IAM in a member account, reached through the member role (`sts:AssumeRole`). `P` is the
/// same IAM port deadbolt uses in its own account, so every path contains in the same way.
pub trait MemberAccounts<P>: Send + Sync {
    /// IAM in `role.account_id` as `role`, in a session named after `finding_id` (so the
    /// member's CloudTrail shows which finding it was). Implementations cache the credentials
    /// per account until shortly before they expire.
    fn iam_in(
        &self,
        role: &crate::decision::MemberRole,
        finding_id: &str,
    ) -> impl Future<Output = Result<P, AwsError>> + Send;
}

impl<P, T: MemberAccounts<P>> MemberAccounts<P> for &T {
    fn iam_in(
        &self,
        role: &crate::decision::MemberRole,
        finding_id: &str,
    ) -> impl Future<Output = Result<P, AwsError>> + Send {
        (**self).iam_in(role, finding_id)
    }
}

/// No member-account access: the type of a responder without one. A member's finding then
/// fails with a clear record instead of being contained in the wrong account.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemberAccounts;

impl<P: Send> MemberAccounts<P> for NoMemberAccounts {
    async fn iam_in(&self, role: &crate::decision::MemberRole, _: &str) -> Result<P, AwsError> {
        Err(AwsError::new(
            AwsErrorKind::Other,
            "MemberAccountsNotConfigured",
            format!(
                "this deadbolt has no way to assume {} (no STS client for member accounts)",
                role.arn()
            ),
        ))
    }
}

/// No store for held findings: the type of an absent `Ports::held`. Never called.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeldFindings;

impl NoHeldFindings {
    fn unavailable() -> AwsError {
        AwsError::new(
            AwsErrorKind::Other,
            "HeldFindingsNotConfigured",
            "this deadbolt has no store for held findings (DEADBOLT_BREAKER_TABLE)",
        )
    }
}

impl HeldFindings for NoHeldFindings {
    async fn hold(&self, _: &HeldFinding) -> Result<(), AwsError> {
        Err(Self::unavailable())
    }
    async fn list(&self) -> Result<Vec<HeldFinding>, AwsError> {
        Err(Self::unavailable())
    }
    async fn remove(&self, _: &str) -> Result<(), AwsError> {
        Err(Self::unavailable())
    }
}
