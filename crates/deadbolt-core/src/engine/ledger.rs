//! The containment ledger: one entry per containment or release, by any path (the responder,
//! the enricher's follow-ups, an operator's CLI), saying what was there before, who acted and
//! why. It is written before the first IAM write and completed after, so a function killed
//! mid-flight leaves an open entry, not nothing; and it is what `deadbolt unblock` restores
//! from: a key that was inactive before containment stays inactive.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerRefusal, WriteGate};
use crate::containment::Applied;
use crate::decision::ContainmentPlan;
use crate::decorate::{Decorated, IamAnswer, IamCall, IamHook};
use crate::ports::{AccessKeys, AwsError, IdentityCenter, InlinePolicies, ManagedPolicies};
use crate::principal::ContainmentTarget;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerAction {
    Contain,
    Release,
    /// `deadbolt reject ID`: a pending approval refused, who refused it and why. Nothing was
    /// written to IAM, so it never counts as a containment or a release.
    Reject,
}

/// Open: the first write was about to happen; completed: the outcome is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerState {
    Open,
    Completed,
}

/// One access key's status before deadbolt changed anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorKeyStatus {
    pub access_key_id: String,
    /// `None`: the user had no such key.
    pub active: Option<bool>,
}

/// The permissions boundary a user or role had before deadbolt set `AWSDenyAll` as its
/// boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorBoundary {
    /// The boundary's policy ARN; `None`: it had none (unblock deletes the boundary).
    pub prior: Option<String>,
}

/// One containment or release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `contain#ACCOUNT#kind/name#FINDING` (one per finding and principal, so a redelivery
    /// finds its own entry) or `release#ACCOUNT#kind/name#MILLIS`.
    pub id: String,
    pub action: LedgerAction,
    pub state: LedgerState,
    pub account_id: String,
    /// `user/mallory`, `role/app`, `group/devs`.
    pub target: String,
    /// The finding, or `Manual` for an operator's block.
    pub finding_id: String,
    /// The finding's ARN (its Security Hub copy's `Id`), when a finding was acted on: a
    /// re-containment by the tamper watch is written back to the same Security Hub finding.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finding_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub strategy: Option<String>,
    /// The role session a `deny-session` containment denies (`aws:userid`), so the tamper
    /// watch can deny that session again and nothing more.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
    /// The document under deadbolt's policy name before this containment wrote it (`None`:
    /// there was none). Present only when one was read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prior_policy: Option<String>,
    /// Whether the policy name was read at all (distinguishes "none" from "not read").
    #[serde(default)]
    pub prior_policy_read: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prior_keys: Vec<PriorKeyStatus>,
    /// Managed policies deadbolt attached (the `AWSDenyAll` fallback).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attached: Vec<String>,
    /// Present when deadbolt set `AWSDenyAll` as the permissions boundary (the path no quota
    /// blocks): the boundary before, which `unblock` puts back exactly.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub boundary: Option<PriorBoundary>,
    /// Who acted: `function:NAME` and the finding, or the CLI caller's ARN.
    pub actor: String,
    /// The operator's `--reason` (CLI), or the finding type (functions).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub started_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completed_at_ms: Option<i64>,
    /// The record's outcome (`contained`, `released`, `failed`, …) once completed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<String>,
}

impl LedgerEntry {
    /// A containment of `target` in `account_id` for `finding_id`, about to start.
    pub fn containment(
        account_id: &str,
        target: &ContainmentTarget,
        finding_id: &str,
        actor: &str,
        now_ms: i64,
    ) -> Self {
        LedgerEntry {
            id: format!("contain#{account_id}#{target}#{finding_id}"),
            action: LedgerAction::Contain,
            state: LedgerState::Open,
            account_id: account_id.to_string(),
            target: target.to_string(),
            finding_id: finding_id.to_string(),
            finding_arn: None,
            strategy: None,
            session: None,
            prior_policy: None,
            prior_policy_read: false,
            prior_keys: Vec::new(),
            attached: Vec::new(),
            boundary: None,
            actor: actor.to_string(),
            reason: None,
            started_at_ms: now_ms,
            completed_at_ms: None,
            outcome: None,
        }
    }

    /// A rejection of the pending approval for `finding_id` by `actor`, complete as written.
    pub fn rejection(
        account_id: &str,
        target: &ContainmentTarget,
        finding_id: &str,
        actor: &str,
        reason: &str,
        now_ms: i64,
    ) -> Self {
        LedgerEntry {
            id: format!("reject#{account_id}#{target}#{finding_id}"),
            action: LedgerAction::Reject,
            state: LedgerState::Completed,
            reason: Some(reason.to_string()),
            completed_at_ms: Some(now_ms),
            outcome: Some("approval_rejected".to_string()),
            ..LedgerEntry::containment(account_id, target, finding_id, actor, now_ms)
        }
    }

    /// A release of `target` by `actor`, about to start.
    pub fn release(account_id: &str, target: &ContainmentTarget, actor: &str, now_ms: i64) -> Self {
        LedgerEntry {
            id: format!("release#{account_id}#{target}#{now_ms}"),
            action: LedgerAction::Release,
            finding_id: String::new(),
            ..LedgerEntry::containment(account_id, target, "", actor, now_ms)
        }
    }

    /// The key's status before the containment this entry records, if it was read.
    pub fn prior_key_active(&self, access_key_id: &str) -> Option<Option<bool>> {
        self.prior_keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)
            .map(|k| k.active)
    }

    /// Fill in what `observed` saw before and during the writes.
    fn observe<P>(&mut self, observed: &Observed<'_, P>) {
        if let Ok(o) = observed.hook.seen.lock() {
            if let Some(doc) = o.policies.values().next() {
                self.prior_policy_read = true;
                self.prior_policy = doc.clone();
            }
            for (key, active) in &o.keys {
                if !self.prior_keys.iter().any(|k| &k.access_key_id == key) {
                    self.prior_keys.push(PriorKeyStatus {
                        access_key_id: key.clone(),
                        active: *active,
                    });
                }
            }
            for arn in &o.attached {
                if !self.attached.contains(arn) {
                    self.attached.push(arn.clone());
                }
            }
            // Read before a boundary write: kept while the entry is open; completed, only if
            // deadbolt did set the boundary.
            if let Some(prior) = &o.boundary {
                let written_or_pending = o.boundary_set || self.state == LedgerState::Open;
                self.boundary = written_or_pending.then(|| PriorBoundary {
                    prior: prior.clone(),
                });
            }
        }
    }
}

/// Apply `plan` through `policies`, recorded in `ledger`: `entry` is opened right before the
/// first write (after `gate` admitted it) with what was read so far, and completed after with
/// everything observed and the outcome. The one recorded path: the responder, its follow-ups
/// and the CLI's `block` all contain through it.
pub async fn apply_recorded<P, C, G, L>(
    policies: &P,
    idc: &C,
    plan: &ContainmentPlan,
    now_ms: i64,
    gate: G,
    ledger: &L,
    mut entry: LedgerEntry,
) -> Applied
where
    P: InlinePolicies + ManagedPolicies + AccessKeys,
    C: IdentityCenter,
    G: WriteGate,
    L: Ledger,
{
    let observed = Observed::new(policies, Watch::default());
    let mut gate = Recorded {
        inner: gate,
        ledger,
        observed: &observed,
        entry: &mut entry,
        opened: false,
        error: None,
    };
    let mut applied = crate::containment::apply(&observed, idc, plan, now_ms, &mut gate).await;
    let (opened, open_error) = (gate.opened, gate.error.take());
    if opened {
        entry.state = LedgerState::Completed;
        entry.observe(&observed);
        complete(ledger, &mut entry, &mut applied, open_error).await;
    }
    applied
}

/// Complete `entry` with `applied`'s outcome. A ledger that cannot be written is said in the
/// record, never a reason to undo what was done: locking the attacker out comes first.
pub async fn complete<L: Ledger>(
    ledger: &L,
    entry: &mut LedgerEntry,
    applied: &mut Applied,
    open_error: Option<AwsError>,
) {
    entry.state = LedgerState::Completed;
    entry.completed_at_ms = Some(crate::clock::now_ms());
    entry.outcome = Some(applied.outcome.as_str().to_string());
    let completed = ledger.complete(entry).await.err();
    if let Some(e) = open_error.or(completed) {
        let consequence = match entry.action {
            LedgerAction::Contain => ": unblock cannot restore key states exactly",
            LedgerAction::Release | LedgerAction::Reject => "",
        };
        applied.message = format!(
            "{}; the containment ledger could not record it ({e}){consequence}",
            applied.message
        );
    }
}

/// Where ledger entries are kept (DynamoDB in the Lambdas and the CLI).
pub trait Ledger: Send + Sync {
    /// Record `entry` as open, only if no entry has its id: `Ok(false)` when one does (a
    /// redelivery that writes again, or one after an attempt that timed out mid-flight). That
    /// entry is never replaced: what it says was there before is the truth `unblock` needs.
    fn open(&self, entry: &LedgerEntry) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Record `entry` as completed (replacing the open one).
    fn complete(&self, entry: &LedgerEntry) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Every entry, oldest first.
    fn entries(&self) -> impl Future<Output = Result<Vec<LedgerEntry>, AwsError>> + Send;
    /// Whether anything is recorded at all (`false`: [`NoLedger`], or `None`): a ledger
    /// that says nothing is not evidence that deadbolt contained nobody.
    fn configured(&self) -> bool {
        true
    }
}

impl<T: Ledger> Ledger for &T {
    fn open(&self, entry: &LedgerEntry) -> impl Future<Output = Result<bool, AwsError>> + Send {
        (**self).open(entry)
    }
    fn complete(&self, entry: &LedgerEntry) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).complete(entry)
    }
    fn entries(&self) -> impl Future<Output = Result<Vec<LedgerEntry>, AwsError>> + Send {
        (**self).entries()
    }
    fn configured(&self) -> bool {
        (**self).configured()
    }
}

/// A ledger when one is configured, nothing recorded otherwise.
impl<T: Ledger> Ledger for Option<T> {
    async fn open(&self, entry: &LedgerEntry) -> Result<bool, AwsError> {
        match self {
            Some(l) => l.open(entry).await,
            None => Ok(true),
        }
    }
    async fn complete(&self, entry: &LedgerEntry) -> Result<(), AwsError> {
        match self {
            Some(l) => l.complete(entry).await,
            None => Ok(()),
        }
    }
    async fn entries(&self) -> Result<Vec<LedgerEntry>, AwsError> {
        match self {
            Some(l) => l.entries().await,
            None => Ok(Vec::new()),
        }
    }
    fn configured(&self) -> bool {
        self.as_ref().is_some_and(|l| l.configured())
    }
}

/// No ledger: nothing is recorded (a deployment without the table).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLedger;

impl Ledger for NoLedger {
    async fn open(&self, _: &LedgerEntry) -> Result<bool, AwsError> {
        Ok(true)
    }
    async fn complete(&self, _: &LedgerEntry) -> Result<(), AwsError> {
        Ok(())
    }
    async fn entries(&self) -> Result<Vec<LedgerEntry>, AwsError> {
        Ok(Vec::new())
    }
    fn configured(&self) -> bool {
        false
    }
}

/// The newest completed-or-open containment of `target` in `account_id`.
pub fn last_containment<'a>(
    entries: &'a [LedgerEntry],
    account_id: &str,
    target: &ContainmentTarget,
) -> Option<&'a LedgerEntry> {
    let target = target.to_string();
    entries
        .iter()
        .filter(|e| {
            e.action == LedgerAction::Contain && e.account_id == account_id && e.target == target
        })
        .max_by_key(|e| e.started_at_ms)
}

/// The containments of `target` in `account_id` that no successful release has undone, oldest
/// first: what `unblock` restores from. The earliest one saw the principal as it was before
/// deadbolt touched it (a later containment of an already-contained principal sees deadbolt's
/// own writes as "before").
pub fn unreleased<'a>(
    entries: &'a [LedgerEntry],
    account_id: &str,
    target: &ContainmentTarget,
) -> Unreleased<'a> {
    Unreleased {
        entries: since_release(entries, account_id, target, |e| {
            e.outcome.as_deref() == Some("released")
        }),
    }
}

/// The ledger's containments of `target` in `account_id` still in force, oldest first: what
/// the tamper watch re-applies. Written (contained, partly, re-contained, or in flight when
/// the function stopped) and not followed by any release, even one still in progress (an
/// operator's `unblock` records its release before removing anything, so the removal it
/// makes is never taken for tampering), unless that release failed.
pub fn in_force<'a>(
    entries: &'a [LedgerEntry],
    account_id: &str,
    target: &ContainmentTarget,
) -> Vec<&'a LedgerEntry> {
    // A release that failed removed nothing the operator meant to keep removed.
    let mut live = since_release(entries, account_id, target, |e| {
        e.outcome.as_deref() != Some("failed")
    });
    live.retain(|e| {
        e.state == LedgerState::Open
            || matches!(
                e.outcome.as_deref(),
                Some("contained" | "partially_contained" | "recontained")
            )
    });
    live
}

/// The containments of `target` in `account_id` started after the newest release that
/// `counts`, oldest first.
fn since_release<'a>(
    entries: &'a [LedgerEntry],
    account_id: &str,
    target: &ContainmentTarget,
    counts: impl Fn(&LedgerEntry) -> bool,
) -> Vec<&'a LedgerEntry> {
    let target = target.to_string();
    let mine = |e: &&LedgerEntry| e.account_id == account_id && e.target == target;
    let released_at = entries
        .iter()
        .filter(mine)
        .filter(|e| e.action == LedgerAction::Release && counts(e))
        .map(|e| e.started_at_ms)
        .max();
    let mut after: Vec<&LedgerEntry> = entries
        .iter()
        .filter(mine)
        .filter(|e| e.action == LedgerAction::Contain)
        .filter(|e| released_at.is_none_or(|r| e.started_at_ms > r))
        .collect();
    after.sort_by_key(|e| e.started_at_ms);
    after
}

/// See [`unreleased`].
#[derive(Debug, Clone, Default)]
pub struct Unreleased<'a> {
    /// Oldest first.
    pub entries: Vec<&'a LedgerEntry>,
}

impl Unreleased<'_> {
    /// The key's status before the earliest unreleased containment that read it (`None`: no
    /// entry read it, so the ledger cannot say).
    pub fn prior_key_active(&self, access_key_id: &str) -> Option<Option<bool>> {
        self.entries
            .iter()
            .find_map(|e| e.prior_key_active(access_key_id))
    }

    /// The boundary before deadbolt first set `AWSDenyAll` as the boundary, if it did.
    pub fn boundary(&self) -> Option<&PriorBoundary> {
        self.entries.iter().find_map(|e| e.boundary.as_ref())
    }

    /// Every managed policy an unreleased containment recorded deadbolt attaching: what
    /// `unblock` may detach, and nothing else.
    pub fn attached(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for arn in self.entries.iter().flat_map(|e| e.attached.iter()) {
            if !all.contains(arn) {
                all.push(arn.clone());
            }
        }
        all
    }

    /// The earliest unreleased entry.
    pub fn earliest(&self) -> Option<&LedgerEntry> {
        self.entries.first().copied()
    }
}

/// Entries for `history`: newest first, optionally one principal (a `kind/name`, or an ARN
/// ending in it) and a start time.
pub fn history<'a>(
    entries: &'a [LedgerEntry],
    principal: Option<&str>,
    since_ms: Option<i64>,
) -> Vec<&'a LedgerEntry> {
    let mut out: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| since_ms.is_none_or(|s| e.started_at_ms >= s))
        .filter(|e| principal.is_none_or(|p| names(p, e)))
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.started_at_ms));
    out
}

/// Does `principal` (`user/NAME`, or an IAM ARN with or without a path) name `e`'s target?
fn names(principal: &str, e: &LedgerEntry) -> bool {
    if principal == e.target {
        return true;
    }
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let [_, _, "iam", _, account, resource] = parts.as_slice() else {
        return false;
    };
    let (Some((kind, _)), Some((_, name))) = (resource.split_once('/'), resource.rsplit_once('/'))
    else {
        return false;
    };
    *account == e.account_id && format!("{kind}/{name}") == e.target
}

#[derive(Debug, Default)]
struct Seen {
    /// `target/name` → the first document read (before any write).
    policies: BTreeMap<String, Option<String>>,
    keys: Vec<(String, Option<bool>)>,
    attached: Vec<String>,
    /// The permissions boundary as first read (`Some(None)`: read, there was none).
    boundary: Option<Option<String>>,
    /// Whether deadbolt set the boundary.
    boundary_set: bool,
}

/// The IAM port, watched: the first read of each policy (the state before containment), each
/// key's status as first read, and the managed policies attached. What the ledger says was
/// there before.
type Observed<'a, P> = Decorated<'a, P, Watch>;

#[derive(Debug, Default)]
struct Watch {
    seen: Mutex<Seen>,
}

impl Watch {
    /// Whether the permissions boundary has been read (the boundary path is under way).
    fn boundary_read(&self) -> bool {
        self.seen.lock().is_ok_and(|s| s.boundary.is_some())
    }
}

impl IamHook for Watch {
    fn after(&self, call: IamCall<'_>, answer: IamAnswer<'_>, _: u64) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        match (call, answer) {
            (IamCall::GetPolicy(target, name), IamAnswer::Text(Ok(doc))) => {
                seen.policies
                    .entry(format!("{target}/{name}"))
                    .or_insert_with(|| doc.clone());
            }
            (IamCall::AccessKeyActive(_, key), IamAnswer::KeyActive(Ok(active)))
                if !seen.keys.iter().any(|(k, _)| k == key) =>
            {
                seen.keys.push((key.to_string(), *active));
            }
            (IamCall::AttachPolicy(_, arn), IamAnswer::Done(Ok(()))) => {
                seen.attached.push(arn.to_string());
            }
            (IamCall::PermissionsBoundary(_), IamAnswer::Text(Ok(arn))) => {
                seen.boundary.get_or_insert_with(|| arn.clone());
            }
            (IamCall::PutPermissionsBoundary(..), IamAnswer::Done(Ok(()))) => {
                seen.boundary_set = true;
            }
            _ => {}
        }
    }
}

/// A write gate that opens the ledger entry right before the first write (after the inner
/// gate, the circuit breaker, admitted it): what was read so far is the state before.
struct Recorded<'e, 'o, 'p, G, L, P> {
    inner: G,
    ledger: &'e L,
    observed: &'o Observed<'p, P>,
    entry: &'e mut LedgerEntry,
    opened: bool,
    /// Why the entry could not be written, if it could not (containment goes ahead: locking
    /// the attacker out comes first; the record says the ledger missed it).
    error: Option<AwsError>,
}

impl<G: WriteGate, L: Ledger, P: Send + Sync> WriteGate for Recorded<'_, '_, '_, G, L, P> {
    async fn before_write(&mut self) -> Result<(), BreakerRefusal> {
        if !self.opened {
            self.opened = true;
            self.entry.observe(self.observed);
            // The breaker's admission and the entry's opening are both needed before the
            // first write and depend on nothing of each other: one round trip, not two. The
            // entry opens with what was read (the state before), as when it waited for the
            // breaker; a refused containment completes it as not written (its outcome is
            // never in force), which costs one write on that rare path only.
            let (inner, ledger, entry) = (&mut self.inner, self.ledger, &mut *self.entry);
            let open = async move {
                match ledger.open(entry).await {
                    Ok(true) => None,
                    // This finding's entry exists (an earlier delivery wrote, or timed out
                    // after writing): this delivery gets an entry of its own, and the earlier
                    // one keeps what it saw before deadbolt's writes.
                    Ok(false) => {
                        entry.id = format!("{}#{}", entry.id, entry.started_at_ms);
                        ledger.open(entry).await.err()
                    }
                    Err(e) => Some(e),
                }
            };
            let (admitted, open_error) =
                futures_util::future::join(inner.before_write(), open).await;
            self.error = open_error;
            return admitted;
        }
        self.inner.before_write().await?;
        if self.entry.boundary.is_none() && self.observed.hook.boundary_read() {
            // About to set the permissions boundary: the boundary before goes into the open
            // entry first, so a Lambda that times out right after the write leaves it behind
            // for unblock. One more write, on this rare path only.
            self.entry.observe(self.observed);
            if let Err(e) = self.ledger.complete(self.entry).await {
                self.error.get_or_insert(e);
            }
        }
        Ok(())
    }

    async fn nothing_written(&mut self) {
        self.inner.nothing_written().await;
    }
}

/// Ledger entries in memory (tests).
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<Vec<LedgerEntry>>,
}

#[cfg(any(test, feature = "test-util"))]
impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn all(&self) -> Vec<LedgerEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Ledger for MemoryLedger {
    async fn open(&self, entry: &LedgerEntry) -> Result<bool, AwsError> {
        if let Ok(mut all) = self.entries.lock() {
            if all.iter().any(|e| e.id == entry.id) {
                return Ok(false);
            }
            all.push(entry.clone());
        }
        Ok(true)
    }
    async fn complete(&self, entry: &LedgerEntry) -> Result<(), AwsError> {
        if let Ok(mut all) = self.entries.lock() {
            match all.iter_mut().find(|e| e.id == entry.id) {
                Some(e) => *e = entry.clone(),
                None => all.push(entry.clone()),
            }
        }
        Ok(())
    }
    async fn entries(&self) -> Result<Vec<LedgerEntry>, AwsError> {
        Ok(self.all())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::TargetKind;

    fn entry(target: &str, account: &str, at: i64) -> LedgerEntry {
        let t = ContainmentTarget::new(TargetKind::User, target).unwrap();
        LedgerEntry::containment(account, &t, "f1", "function:deadbolt", at)
    }

    /// A breaker that answers only once the ledger's entry has started opening: the two run
    /// in one round trip (if the gate waited for the breaker first, this would never finish).
    struct WaitsForTheLedger<'a> {
        ledger: &'a OpenSignal,
        refuse: bool,
    }

    impl WriteGate for WaitsForTheLedger<'_> {
        async fn before_write(&mut self) -> Result<(), BreakerRefusal> {
            self.ledger.started.notified().await;
            if self.refuse {
                return Err(BreakerRefusal::Shared { limit: 10 });
            }
            Ok(())
        }
    }

    #[derive(Default)]
    struct OpenSignal {
        started: tokio::sync::Notify,
        inner: MemoryLedger,
    }

    impl Ledger for OpenSignal {
        async fn open(&self, entry: &LedgerEntry) -> Result<bool, AwsError> {
            self.started.notify_one();
            tokio::task::yield_now().await;
            self.inner.open(entry).await
        }
        async fn complete(&self, entry: &LedgerEntry) -> Result<(), AwsError> {
            self.inner.complete(entry).await
        }
        async fn entries(&self) -> Result<Vec<LedgerEntry>, AwsError> {
            self.inner.entries().await
        }
    }

    #[tokio::test]
    async fn the_entry_opens_while_the_breaker_answers_and_a_refusal_is_never_in_force() {
        let t = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
        for refuse in [false, true] {
            let policies = crate::memory::MemoryPolicies::new().with_entity(&t);
            let ledger = OpenSignal::default();
            let gate = WaitsForTheLedger {
                ledger: &ledger,
                refuse,
            };
            let entry = LedgerEntry::containment("123456789012", &t, "f1", "function:deadbolt", 1);
            let applied = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                apply_recorded(
                    &policies,
                    &crate::ports::NoIdentityCenter,
                    &crate::containment::manual_plan(t.clone()),
                    1,
                    gate,
                    &ledger,
                    entry,
                ),
            )
            .await
            .expect("the breaker and the entry's opening run concurrently");
            let all = ledger.inner.all();
            assert_eq!(all.len(), 1, "{all:?}");
            assert_eq!(all[0].state, LedgerState::Completed);
            let live = in_force(&all, "123456789012", &t);
            if refuse {
                assert_ne!(applied.outcome, crate::record::Outcome::Contained);
                assert!(policies.policy(&t, "DenyAll").is_none(), "nothing written");
                assert!(
                    live.is_empty(),
                    "a refused containment is not in force: {all:?}"
                );
            } else {
                assert_eq!(applied.outcome, crate::record::Outcome::Contained);
                assert_eq!(live.len(), 1);
                assert!(all[0].prior_policy_read, "the state before is in the entry");
            }
        }
    }

    #[test]
    fn history_filters_by_principal_name_or_arn_and_time_newest_first() {
        let all = vec![
            entry("mallory", "123456789012", 1),
            entry("bob", "123456789012", 2),
            entry("mallory", "123456789012", 3),
            entry("mallory", "111111111111", 4),
        ];
        let by_name = history(&all, Some("user/mallory"), None);
        assert_eq!(
            by_name.iter().map(|e| e.started_at_ms).collect::<Vec<_>>(),
            [4, 3, 1]
        );
        let by_arn = history(
            &all,
            Some("arn:aws:iam::123456789012:user/mallory"),
            Some(2),
        );
        assert_eq!(
            by_arn.iter().map(|e| e.started_at_ms).collect::<Vec<_>>(),
            [3]
        );
        let with_path = history(
            &all,
            Some("arn:aws:iam::111111111111:user/ops/mallory"),
            None,
        );
        assert_eq!(with_path.len(), 1);
        assert_eq!(history(&all, None, None).len(), 4);
    }

    #[test]
    fn the_last_containment_is_the_newest_for_that_account_and_target() {
        let all = vec![
            entry("mallory", "123456789012", 1),
            entry("mallory", "123456789012", 5),
            entry("mallory", "111111111111", 9),
        ];
        let t = ContainmentTarget::new(TargetKind::User, "mallory").unwrap();
        assert_eq!(
            last_containment(&all, "123456789012", &t).map(|e| e.started_at_ms),
            Some(5)
        );
    }

    #[test]
    fn entries_round_trip_as_json() {
        let mut e = entry("mallory", "123456789012", 7);
        e.prior_keys.push(PriorKeyStatus {
            access_key_id: "AKIAEXAMPLE000000001".into(),
            active: Some(false),
        });
        let back: LedgerEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            back.prior_key_active("AKIAEXAMPLE000000001"),
            Some(Some(false))
        );
        assert_eq!(back.prior_key_active("AKIAOTHER"), None);
    }
}
