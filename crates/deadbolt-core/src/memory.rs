//! In-memory implementations of the ports: for unit tests, benchmarks and offline replays.
//! They record every call, so tests can assert exactly which AWS calls a decision made.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ports::{
    iam_api, CallerIdentity, IamError, IamErrorKind, IdentityProvider, InlinePolicies, PolicyOp,
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
    fail: HashMap<&'static str, IamError>,
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

    /// Make every call to `api` (e.g. `iam:PutUserPolicy`) fail with this error.
    pub fn failing(self, api: &'static str, kind: IamErrorKind, code: &str) -> Self {
        self.lock().fail.insert(
            api,
            IamError {
                kind,
                code: code.to_string(),
                message: format!("injected {code}"),
            },
        );
        self
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

    fn begin(&self, op: PolicyOp, target: &ContainmentTarget) -> Result<(), IamError> {
        let api = iam_api(op, target.kind);
        let mut s = self.lock();
        s.calls.push(format!("{api} {target}"));
        match s.fail.get(api) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn no_such_entity(what: String) -> IamError {
    IamError {
        kind: IamErrorKind::NoSuchEntity,
        code: "NoSuchEntity".into(),
        message: format!("{what} cannot be found."),
    }
}

impl InlinePolicies for MemoryPolicies {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, IamError> {
        self.begin(PolicyOp::Get, target)?;
        Ok(self.policy(target, policy_name))
    }

    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
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
    ) -> Result<(), IamError> {
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

/// A fixed caller identity, counting how often it is asked.
#[derive(Debug)]
pub struct FixedIdentity {
    identity: Result<CallerIdentity, IamError>,
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

    pub fn failing(error: IamError) -> Self {
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
    async fn caller_identity(&self) -> Result<CallerIdentity, IamError> {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.identity.clone()
    }
}
