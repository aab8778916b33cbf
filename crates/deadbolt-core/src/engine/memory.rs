//! In-memory implementations of the ports: for unit tests, benchmarks and offline replays.
//! They record every call, so tests can assert exactly which AWS calls a decision made.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ports::{
    iam_api, managed_api, AccessKeys, AwsError, AwsErrorKind, CallerIdentity, IdentityCenter,
    IdentityProvider, InlinePolicies, ManagedOp, ManagedPolicies, PermissionSetRef, PolicyOp,
};
use crate::principal::ContainmentTarget;

/// IAM inline policies held in a map, with optional injected failures.
#[derive(Debug, Default)]
pub struct MemoryPolicies {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Entities that exist, as `kind/name`.
    entities: Vec<String>,
    policies: HashMap<(String, String), String>,
    calls: Vec<String>,
    fail: HashMap<&'static str, AwsError>,
    /// Access keys as (user, key id) -> active.
    keys: HashMap<(String, String), bool>,
    /// Managed policy ARNs attached, by `kind/name`.
    attached: HashMap<String, Vec<String>>,
    /// Tags of users and roles, by `kind/name`, in insertion order.
    tags: HashMap<String, Vec<(String, String)>>,
    /// Permissions boundaries of users and roles, by `kind/name`.
    boundaries: HashMap<String, String>,
    /// Creation time and path of users and roles, by `kind/name` (`GetUser`/`GetRole`).
    info: HashMap<String, crate::ports::EntityInfo>,
}

impl MemoryPolicies {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare that an entity exists (writes to unknown entities fail with NoSuchEntity).
    pub fn with_entity(self, target: &ContainmentTarget) -> Self {
        self.lock().entities.push(target.to_string());
        self
    }

    pub fn with_policy(self, target: &ContainmentTarget, name: &str, document: &str) -> Self {
        self.lock()
            .policies
            .insert((target.to_string(), name.to_string()), document.to_string());
        self
    }

    /// Give `user` an active access key.
    pub fn with_access_key(self, user: &str, key_id: &str) -> Self {
        self.lock()
            .keys
            .insert((user.to_string(), key_id.to_string()), true);
        self
    }

    /// Attach a managed policy (as an administrator would).
    pub fn with_attached(self, target: &ContainmentTarget, policy_arn: &str) -> Self {
        self.lock()
            .attached
            .entry(target.to_string())
            .or_default()
            .push(policy_arn.to_string());
        self
    }

    /// Tag a user or role.
    pub fn with_tag(self, target: &ContainmentTarget, key: &str, value: &str) -> Self {
        set_tag(&mut self.lock(), target, key, value);
        self
    }

    /// Set a user's or role's permissions boundary (as an administrator would).
    pub fn with_boundary(self, target: &ContainmentTarget, policy_arn: &str) -> Self {
        self.lock()
            .boundaries
            .insert(target.to_string(), policy_arn.to_string());
        self
    }

    /// When a user or role was created and under which path (what IAM's `GetUser`/`GetRole`
    /// say); without it, `entity_info` answers `None` (unknown).
    pub fn with_created(self, target: &ContainmentTarget, created_at_ms: i64, path: &str) -> Self {
        self.lock().info.insert(
            target.to_string(),
            crate::ports::EntityInfo {
                created_at_ms,
                path: path.to_string(),
            },
        );
        self
    }

    /// The user's or role's permissions boundary, if any.
    pub fn boundary(&self, target: &ContainmentTarget) -> Option<String> {
        self.lock().boundaries.get(&target.to_string()).cloned()
    }

    /// The managed policy ARNs attached to the entity.
    pub fn attached(&self, target: &ContainmentTarget) -> Vec<String> {
        self.lock()
            .attached
            .get(&target.to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// The entity's tags.
    pub fn tags_of(&self, target: &ContainmentTarget) -> Vec<(String, String)> {
        self.lock()
            .tags
            .get(&target.to_string())
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the key is active; `None` if the user has no such key.
    pub fn access_key_active(&self, user: &str, key_id: &str) -> Option<bool> {
        self.lock()
            .keys
            .get(&(user.to_string(), key_id.to_string()))
            .copied()
    }

    /// Make every call to `api` (e.g. `iam:PutUserPolicy`) fail with this error.
    pub fn failing(self, api: &'static str, kind: AwsErrorKind, code: &str) -> Self {
        self.lock().fail.insert(
            api,
            AwsError {
                kind,
                code: code.to_string(),
                message: format!("injected {code}"),
            },
        );
        self
    }

    /// Stop failing calls to `api` (the outage is over), e.g. before a redelivery.
    pub fn stop_failing(&self, api: &str) {
        self.lock().fail.remove(api);
    }

    /// The calls made so far, as `iam:Operation target`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn policy(&self, target: &ContainmentTarget, name: &str) -> Option<String> {
        self.lock()
            .policies
            .get(&(target.to_string(), name.to_string()))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin(&self, op: PolicyOp, target: &ContainmentTarget) -> Result<(), AwsError> {
        let api = iam_api(op, target.kind);
        let mut s = self.lock();
        s.calls.push(format!("{api} {target}"));
        match s.fail.get(api) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn set_tag(s: &mut State, target: &ContainmentTarget, key: &str, value: &str) {
    let tags = s.tags.entry(target.to_string()).or_default();
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(tag) => tag.1 = value.to_string(),
        None => tags.push((key.to_string(), value.to_string())),
    }
}

impl MemoryPolicies {
    /// Record a managed-policy or tag call and return the injected failure, if any, with the
    /// state locked for the call itself.
    fn begin_managed(
        &self,
        op: ManagedOp,
        target: &ContainmentTarget,
    ) -> Result<std::sync::MutexGuard<'_, State>, AwsError> {
        let Some(api) = managed_api(op, target.kind) else {
            return Err(AwsError::new(
                AwsErrorKind::Other,
                "ValidationError",
                format!("{target}: IAM groups have no tags and no permissions boundary"),
            ));
        };
        let mut s = self.lock();
        s.calls.push(format!("{api} {target}"));
        if let Some(e) = s.fail.get(api) {
            return Err(e.clone());
        }
        if !s.entities.contains(&target.to_string()) {
            return Err(no_such_entity(format!("The {target}")));
        }
        Ok(s)
    }
}

impl ManagedPolicies for MemoryPolicies {
    async fn entity_info(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<crate::ports::EntityInfo>, AwsError> {
        let api = match target.kind {
            crate::principal::TargetKind::User => "iam:GetUser",
            crate::principal::TargetKind::Role => "iam:GetRole",
            crate::principal::TargetKind::Group => return Ok(None),
        };
        let mut s = self.lock();
        s.calls.push(format!("{api} {target}"));
        if let Some(e) = s.fail.get(api) {
            return Err(e.clone());
        }
        Ok(s.info.get(&target.to_string()).cloned())
    }

    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        let s = self.begin_managed(ManagedOp::ListAttached, target)?;
        Ok(s.attached
            .get(&target.to_string())
            .cloned()
            .unwrap_or_default())
    }

    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::Attach, target)?;
        let attached = s.attached.entry(target.to_string()).or_default();
        // IAM: attaching a policy that is already attached succeeds and changes nothing.
        if !attached.iter().any(|a| a == arn) {
            attached.push(arn.to_string());
        }
        Ok(())
    }

    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::Detach, target)?;
        let attached = s.attached.entry(target.to_string()).or_default();
        match attached.iter().position(|a| a == arn) {
            Some(i) => {
                attached.remove(i);
                Ok(())
            }
            None => Err(no_such_entity(format!("Policy {arn} attached to {target}"))),
        }
    }

    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        let s = self.begin_managed(ManagedOp::ListTags, target)?;
        Ok(s.tags.get(&target.to_string()).cloned().unwrap_or_default())
    }

    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::Tag, target)?;
        set_tag(&mut s, target, key, value);
        Ok(())
    }

    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::Untag, target)?;
        if let Some(tags) = s.tags.get_mut(&target.to_string()) {
            tags.retain(|(k, _)| k != key);
        }
        Ok(())
    }

    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        let s = self.begin_managed(ManagedOp::GetBoundary, target)?;
        Ok(s.boundaries.get(&target.to_string()).cloned())
    }

    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::PutBoundary, target)?;
        s.boundaries.insert(target.to_string(), arn.to_string());
        Ok(())
    }

    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        let mut s = self.begin_managed(ManagedOp::DeleteBoundary, target)?;
        // IAM: deleting a boundary that is not there succeeds.
        s.boundaries.remove(&target.to_string());
        Ok(())
    }
}

fn no_such_entity(what: String) -> AwsError {
    AwsError {
        kind: AwsErrorKind::NoSuchEntity,
        code: "NoSuchEntity".into(),
        message: format!("{what} cannot be found."),
    }
}

impl InlinePolicies for MemoryPolicies {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        self.begin(PolicyOp::Get, target)?;
        Ok(self.policy(target, policy_name))
    }

    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        self.begin(PolicyOp::Put, target)?;
        let mut s = self.lock();
        if !s.entities.contains(&target.to_string()) {
            return Err(no_such_entity(format!("The {target}")));
        }
        s.policies.insert(
            (target.to_string(), policy_name.to_string()),
            document.to_string(),
        );
        Ok(())
    }

    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        self.begin(PolicyOp::Delete, target)?;
        let mut s = self.lock();
        match s
            .policies
            .remove(&(target.to_string(), policy_name.to_string()))
        {
            Some(_) => Ok(()),
            None => Err(no_such_entity(format!(
                "The policy {policy_name} on {target}"
            ))),
        }
    }
}

impl AccessKeys for MemoryPolicies {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        let api = "iam:ListAccessKeys";
        let mut s = self.lock();
        s.calls.push(format!("{api} user/{user_name}"));
        if let Some(e) = s.fail.get(api) {
            return Err(e.clone());
        }
        Ok(s.keys
            .get(&(user_name.to_string(), access_key_id.to_string()))
            .copied())
    }

    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        let api = "iam:UpdateAccessKey";
        let mut s = self.lock();
        s.calls
            .push(format!("{api} user/{user_name} {access_key_id}"));
        if let Some(e) = s.fail.get(api) {
            return Err(e.clone());
        }
        match s
            .keys
            .get_mut(&(user_name.to_string(), access_key_id.to_string()))
        {
            Some(state) => {
                *state = active;
                Ok(())
            }
            None => Err(no_such_entity(format!(
                "The Access Key with id {access_key_id} for user {user_name}"
            ))),
        }
    }
}

/// An Identity Center instance in memory: permission sets by name with their inline policies,
/// users by user name.
#[derive(Debug, Default)]
pub struct MemoryIdentityCenter {
    state: Mutex<IdcState>,
}

#[derive(Debug, Default)]
struct IdcState {
    permission_sets: HashMap<String, (PermissionSetRef, Option<String>)>,
    users: HashMap<String, String>,
    provisioned: Vec<String>,
    calls: Vec<String>,
}

impl MemoryIdentityCenter {
    pub const INSTANCE_ARN: &'static str = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
    pub const IDENTITY_STORE_ID: &'static str = "d-1234567890";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_permission_set(self, name: &str, inline_policy: Option<&str>) -> Self {
        let r = PermissionSetRef {
            instance_arn: Self::INSTANCE_ARN.into(),
            identity_store_id: Self::IDENTITY_STORE_ID.into(),
            permission_set_arn: format!("{}/ps-{}", Self::INSTANCE_ARN, name.to_lowercase()),
        };
        self.lock()
            .permission_sets
            .insert(name.to_string(), (r, inline_policy.map(str::to_string)));
        self
    }

    pub fn with_user(self, user_name: &str, user_id: &str) -> Self {
        self.lock()
            .users
            .insert(user_name.to_string(), user_id.to_string());
        self
    }

    pub fn inline_policy(&self, name: &str) -> Option<String> {
        self.lock()
            .permission_sets
            .get(name)
            .and_then(|(_, p)| p.clone())
    }

    /// Permission set ARNs provisioned, in order.
    pub fn provisioned(&self) -> Vec<String> {
        self.lock().provisioned.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'s>(
        s: &'s mut IdcState,
        ps: &PermissionSetRef,
    ) -> Result<&'s mut Option<String>, AwsError> {
        s.permission_sets
            .values_mut()
            .find(|(r, _)| r == ps)
            .map(|(_, p)| p)
            .ok_or_else(|| no_such_entity(format!("The permission set {}", ps.permission_set_arn)))
    }
}

impl IdentityCenter for MemoryIdentityCenter {
    async fn find_permission_set(&self, name: &str) -> Result<Option<PermissionSetRef>, AwsError> {
        let mut s = self.lock();
        s.calls.push(format!("sso:ListPermissionSets {name}"));
        Ok(s.permission_sets.get(name).map(|(r, _)| r.clone()))
    }
    async fn find_user_id(&self, _: &str, user_name: &str) -> Result<Option<String>, AwsError> {
        let mut s = self.lock();
        s.calls.push(format!("identitystore:GetUserId {user_name}"));
        Ok(s.users.get(user_name).cloned())
    }
    async fn get_inline_policy(&self, ps: &PermissionSetRef) -> Result<Option<String>, AwsError> {
        let mut s = self.lock();
        s.calls.push("sso:GetInlinePolicyForPermissionSet".into());
        Self::entry(&mut s, ps).map(|p| p.clone())
    }
    async fn put_inline_policy(&self, ps: &PermissionSetRef, doc: &str) -> Result<(), AwsError> {
        let mut s = self.lock();
        s.calls.push("sso:PutInlinePolicyToPermissionSet".into());
        *Self::entry(&mut s, ps)? = Some(doc.to_string());
        Ok(())
    }
    async fn delete_inline_policy(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        let mut s = self.lock();
        s.calls
            .push("sso:DeleteInlinePolicyFromPermissionSet".into());
        *Self::entry(&mut s, ps)? = None;
        Ok(())
    }
    async fn provision(&self, ps: &PermissionSetRef) -> Result<(), AwsError> {
        let mut s = self.lock();
        s.calls.push("sso:ProvisionPermissionSet".into());
        s.provisioned.push(ps.permission_set_arn.clone());
        Ok(())
    }
}

/// A fixed caller identity, counting how often it is asked.
#[derive(Debug)]
pub struct FixedIdentity {
    identity: Result<CallerIdentity, AwsError>,
    calls: Mutex<usize>,
}

impl FixedIdentity {
    pub fn new(account_id: &str, arn: &str) -> Self {
        FixedIdentity {
            identity: Ok(CallerIdentity {
                account_id: account_id.into(),
                arn: arn.into(),
            }),
            calls: Mutex::new(0),
        }
    }

    pub fn failing(error: AwsError) -> Self {
        FixedIdentity {
            identity: Err(error),
            calls: Mutex::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl IdentityProvider for FixedIdentity {
    async fn caller_identity(&self) -> Result<CallerIdentity, AwsError> {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.identity.clone()
    }
}

/// GuardDuty's findings in memory: what `GetFindings` would return, by id.
#[derive(Debug, Default)]
pub struct MemoryGuardDuty {
    findings: Mutex<HashMap<String, crate::finding::Finding>>,
    calls: Mutex<usize>,
    fail: Mutex<Option<AwsError>>,
}

impl MemoryGuardDuty {
    pub fn new() -> Self {
        Self::default()
    }

    /// GuardDuty knows (or now knows differently) this finding.
    pub fn insert(&self, finding: crate::finding::Finding) {
        if let Ok(mut m) = self.findings.lock() {
            m.insert(finding.id.clone(), finding);
        }
    }

    pub fn remove(&self, finding_id: &str) {
        if let Ok(mut m) = self.findings.lock() {
            m.remove(finding_id);
        }
    }

    /// Every call fails with `error` from now on (`None`: answer again).
    pub fn fail_with(&self, error: Option<AwsError>) {
        if let Ok(mut f) = self.fail.lock() {
            *f = error;
        }
    }

    /// `GetFindings` calls so far.
    pub fn calls(&self) -> usize {
        self.calls.lock().map(|c| *c).unwrap_or(0)
    }
}

impl crate::ports::GuardDutyFindings for MemoryGuardDuty {
    async fn get_finding(
        &self,
        finding_id: &str,
    ) -> Result<Option<crate::finding::Finding>, AwsError> {
        if let Ok(mut c) = self.calls.lock() {
            *c += 1;
        }
        if let Some(e) = self.fail.lock().ok().and_then(|f| f.clone()) {
            return Err(e);
        }
        Ok(self
            .findings
            .lock()
            .ok()
            .and_then(|m| m.get(finding_id).cloned()))
    }
}

/// Member accounts in memory: each member's IAM, the accounts whose member role refuses
/// deadbolt (`AccessDenied` on `AssumeRole`), and every role assumed with its session name.
#[derive(Debug, Default)]
pub struct MemoryMembers<'a> {
    accounts: HashMap<String, &'a MemoryPolicies>,
    denied: Vec<String>,
    assumed: Mutex<Vec<(String, String)>>,
}

impl<'a> MemoryMembers<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// `account_id`'s IAM is `policies`, reachable through the member role.
    pub fn account(mut self, account_id: &str, policies: &'a MemoryPolicies) -> Self {
        self.accounts.insert(account_id.to_string(), policies);
        self
    }

    /// `AssumeRole` into `account_id` is denied.
    pub fn deny(mut self, account_id: &str) -> Self {
        self.denied.push(account_id.to_string());
        self
    }

    /// `(role ARN, session name)` of every `AssumeRole` so far.
    pub fn assumed(&self) -> Vec<(String, String)> {
        self.assumed.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl<'a> crate::ports::MemberAccounts<&'a MemoryPolicies> for MemoryMembers<'a> {
    async fn iam_in(
        &self,
        role: &crate::decision::MemberRole,
        finding_id: &str,
    ) -> Result<&'a MemoryPolicies, AwsError> {
        if let Ok(mut a) = self.assumed.lock() {
            a.push((role.arn(), crate::decision::member_session_name(finding_id)));
        }
        if self.denied.contains(&role.account_id) {
            return Err(AwsError::new(
                crate::ports::AwsErrorKind::AccessDenied,
                "AccessDenied",
                format!(
                    "not authorized to perform: sts:AssumeRole on resource: {}",
                    role.arn()
                ),
            ));
        }
        self.accounts.get(&role.account_id).copied().ok_or_else(|| {
            AwsError::new(
                crate::ports::AwsErrorKind::AccessDenied,
                "AccessDenied",
                format!("no role {}", role.arn()),
            )
        })
    }
}

/// Held findings in memory, keyed by finding id (a redelivery overwrites).
#[derive(Debug, Default)]
pub struct MemoryHeldFindings {
    items: std::sync::Mutex<std::collections::BTreeMap<String, crate::ports::HeldFinding>>,
    approvals:
        std::sync::Mutex<std::collections::BTreeMap<String, crate::approval::PendingApproval>>,
    fail: std::sync::Mutex<Option<AwsError>>,
}

impl MemoryHeldFindings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every later call fails with `error`.
    pub fn fail_with(&self, error: AwsError) {
        if let Ok(mut f) = self.fail.lock() {
            *f = Some(error);
        }
    }

    fn failure(&self) -> Result<(), AwsError> {
        match self.fail.lock().ok().and_then(|f| f.clone()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl crate::ports::HeldFindings for MemoryHeldFindings {
    async fn hold(&self, held: &crate::ports::HeldFinding) -> Result<(), AwsError> {
        self.failure()?;
        if let Ok(mut m) = self.items.lock() {
            m.insert(held.finding_id.clone(), held.clone());
        }
        Ok(())
    }
    async fn list(&self) -> Result<Vec<crate::ports::HeldFinding>, AwsError> {
        self.failure()?;
        Ok(self
            .items
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }
    async fn remove(&self, finding_id: &str) -> Result<(), AwsError> {
        self.failure()?;
        if let Ok(mut m) = self.items.lock() {
            m.remove(finding_id);
        }
        Ok(())
    }
    async fn propose(&self, approval: &crate::approval::PendingApproval) -> Result<bool, AwsError> {
        self.failure()?;
        let mut m = self
            .approvals
            .lock()
            .map_err(|_| crate::approval::no_store())?;
        if m.contains_key(&approval.id) {
            return Ok(false);
        }
        m.insert(approval.id.clone(), approval.clone());
        Ok(true)
    }
    async fn pending(&self) -> Result<Vec<crate::approval::PendingApproval>, AwsError> {
        self.failure()?;
        let mut all: Vec<_> = self
            .approvals
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|a: &crate::approval::PendingApproval| a.created_at_ms);
        Ok(all)
    }
    async fn forget(&self, id: &str) -> Result<(), AwsError> {
        self.failure()?;
        if let Ok(mut m) = self.approvals.lock() {
            m.remove(id);
        }
        Ok(())
    }
}

/// A responder together with the settings it runs under, for tests: `handle(raw)` is what the
/// Lambda does with an event while `settings` are in force, with GuardDuty confirming exactly
/// the event's finding (a test of verification itself uses `guardduty` directly).
pub struct Configured<
    P,
    I,
    C = crate::ports::NoIdentityCenter,
    B = crate::ports::NoSharedBreaker,
    H = crate::ports::NoHeldFindings,
    M = crate::ports::NoMemberAccounts,
    L = crate::ledger::NoLedger,
> {
    pub responder:
        crate::responder::Responder<P, I, C, B, std::sync::Arc<MemoryGuardDuty>, H, M, L>,
    pub settings: crate::settings::Settings,
    /// What GuardDuty knows; `handle` adds each event's finding first unless `echo` is off.
    pub guardduty: std::sync::Arc<MemoryGuardDuty>,
    pub echo: bool,
}

impl<P, I> Configured<P, I> {
    /// IAM and identity only (no Identity Center, no shared breaker count).
    pub fn new(settings: crate::settings::Settings, iam: P, identity: I) -> Self {
        Self::with_ports(settings, crate::responder::Ports::iam(iam, identity))
    }
}

impl<P, I, C, B, H> Configured<P, I, C, B, H> {
    pub fn with_ports(
        settings: crate::settings::Settings,
        ports: crate::responder::Ports<P, I, C, B, crate::ports::NoGuardDuty, H>,
    ) -> Self {
        let guardduty = std::sync::Arc::new(MemoryGuardDuty::new());
        Configured {
            responder: crate::responder::Responder::new(crate::responder::Ports {
                iam: ports.iam,
                identity: ports.identity,
                identity_center: ports.identity_center,
                shared_breaker: ports.shared_breaker,
                guardduty: Some(guardduty.clone()),
                held: ports.held,
            }),
            settings,
            guardduty,
            echo: true,
        }
    }
}

impl<P, I, C, B, H, M, L> Configured<P, I, C, B, H, M, L> {
    /// The same responder, containing in member accounts through `members`.
    pub fn with_members<N>(self, members: N) -> Configured<P, I, C, B, H, N, L> {
        Configured {
            responder: self.responder.with_members(members),
            settings: self.settings,
            guardduty: self.guardduty,
            echo: self.echo,
        }
    }

    /// The same responder, recording in `ledger` as `actor`.
    pub fn with_ledger<K>(self, ledger: K, actor: &str) -> Configured<P, I, C, B, H, M, K> {
        Configured {
            responder: self.responder.with_ledger(ledger, actor),
            settings: self.settings,
            guardduty: self.guardduty,
            echo: self.echo,
        }
    }
}

impl<P, I, C, B, H, M, L> Configured<P, I, C, B, H, M, L>
where
    L: crate::ledger::Ledger,
    M: crate::ports::MemberAccounts<P>,
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    I: IdentityProvider,
    C: IdentityCenter,
    B: crate::ports::SharedBreaker,
    H: crate::ports::HeldFindings,
{
    pub async fn handle(&self, raw: &str) -> crate::record::DecisionRecord {
        if self.echo {
            if let Ok(event) = crate::finding::parse_event(raw) {
                // GuardDuty's copy of a finding that is current: updated now, so the fixtures'
                // fixed dates never make it stale (staleness has tests of its own).
                let mut copy = event.detail;
                copy.updated_at = Some(crate::strategy::format_rfc3339_utc(
                    crate::clock::now_ms() / 1000,
                ));
                self.guardduty.insert(copy);
            }
        }
        self.responder.handle(raw, &self.settings).await
    }
}
