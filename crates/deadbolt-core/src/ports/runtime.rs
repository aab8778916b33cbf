//! Runtime configuration: the settings document operators keep in SSM Parameter Store, read at
//! cold start and re-read when its TTL expires, so a toggle takes effect within a minute
//! without a redeploy. A document that does not validate is never used for enforcement: the
//! newest valid version in the parameter's history is in force (the same one on every instance,
//! warm or cold), or, if no version in it is valid, the environment configuration in dry-run. A store that cannot be read at all before any successful read means no
//! configuration the operators wrote is known: nothing is decided (`settings_unavailable`).

use std::future::Future;

use crate::config::Mode;
use crate::ports::AwsError;
use crate::settings::Settings;
pub use crate::settings::StoredVersion;

/// Versions of the document [`RuntimeConfig`] and `deadbolt config history` look at: SSM keeps
/// 100, and a last good document more than 50 edits old is not one anybody remembers.
pub const MAX_HISTORY_VERSIONS: usize = 50;

/// Where the settings document lives (SSM Parameter Store in production).
pub trait SettingsStore: Send + Sync {
    /// The document's text, or `None` when no document has been stored.
    fn load(&self) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Replace the document (the CLI's `config set`).
    fn store(&self, document: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The newest `limit` versions, **newest first**; empty when no document has been stored.
    /// Only read when the current document is invalid, and by `deadbolt config history`.
    fn history(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredVersion>, AwsError>> + Send;
}

/// Where the configuration in force came from, for logs and `config show`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigOrigin {
    /// The stored document.
    Document,
    /// No document is stored: the `DEADBOLT_*` environment variables.
    Environment,
    /// The stored document is invalid; the newest valid version in its history is in force
    /// (`version`). `None`: the history could not be read, and what this instance last read
    /// successfully stays in force.
    LastGood { error: String, version: Option<i64> },
    /// The stored document is invalid and no version in its history is valid (or the history
    /// could not be read and this instance never read a good one): environment, forced dry-run.
    DryRunFallback { error: String },
    /// The store could not be read; what the last successful read gave stays in force.
    Unreachable { error: String },
    /// The store has never been read successfully: no configuration is in force.
    Unavailable { error: String },
}

/// No configuration the operators wrote is known (the store was never readable): the caller
/// records `failed`, `settings_unavailable`, retryable, and decides nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the settings document could not be read ({error}); no decision is taken without it")]
pub struct SettingsUnavailable {
    pub error: String,
}

/// The configuration in force and when to look again.
pub struct RuntimeConfig {
    environment: Settings,
    ttl_ms: i64,
    current: Settings,
    origin: ConfigOrigin,
    /// What this instance last read that was valid: only used when the history is unreadable.
    last_good: Option<Settings>,
    /// Why the history could not be read, the last time it was needed.
    history_error: Option<String>,
    next_check_ms: i64,
    /// The store held a document at some read (valid or not): its disappearing afterwards is
    /// a deletion, never a reason to fall back to the environment.
    had_document: bool,
    /// The stack wrote the document (`DEADBOLT_SETTINGS_REQUIRED`): without one, nothing is
    /// decided, even on a cold start.
    require_document: bool,
    /// The document whose protected patterns were last dated, and their dates.
    dated: Option<(String, std::collections::BTreeMap<String, i64>)>,
}

impl RuntimeConfig {
    /// `environment` is the fallback (from `DEADBOLT_*`); `ttl_ms` how long a read is trusted.
    /// Nothing is in force until the first [`RuntimeConfig::refresh`] has read the store.
    pub fn new(environment: Settings, ttl_ms: i64) -> Self {
        RuntimeConfig {
            current: environment.clone(),
            environment,
            ttl_ms,
            origin: ConfigOrigin::Unavailable {
                error: "not read yet".into(),
            },
            last_good: None,
            history_error: None,
            next_check_ms: i64::MIN,
            had_document: false,
            require_document: false,
            dated: None,
        }
    }

    /// The document must exist (the stack created it): a missing one is
    /// `settings_unavailable`, never the environment.
    pub fn requiring_document(mut self, required: bool) -> Self {
        self.require_document = required;
        self
    }

    /// The configuration in force, or why there is none.
    pub fn current(&self) -> Result<&Settings, SettingsUnavailable> {
        match &self.origin {
            ConfigOrigin::Unavailable { error } => Err(SettingsUnavailable {
                error: error.clone(),
            }),
            _ => Ok(&self.current),
        }
    }

    pub fn origin(&self) -> &ConfigOrigin {
        &self.origin
    }

    /// Why the document's history could not be read when an invalid document needed it (the
    /// caller logs it: every instance may then not agree on what is in force).
    pub fn history_error(&self) -> Option<&str> {
        self.history_error.as_deref()
    }

    /// Re-read the store if the TTL has expired. Returns true when the configuration in force
    /// (or where it comes from) changed: the caller logs it.
    pub async fn refresh<S: SettingsStore>(&mut self, store: &S, now_ms: i64) -> bool {
        if now_ms < self.next_check_ms {
            return false;
        }
        let before = (self.current.clone(), self.origin.clone());
        match store.load().await {
            Ok(None) if self.had_document => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                // Deleted after a good read (or by someone who wants deadbolt back on its
                // environment): what was in force stays in force, said at every read.
                self.origin = ConfigOrigin::Unreachable {
                    error: "the settings document no longer exists (deleted after it was read); the last one read stays in force until it is restored (deadbolt config set)".into(),
                };
            }
            Ok(None) if self.require_document => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                self.origin = ConfigOrigin::Unavailable {
                    error: "the settings document does not exist, and the stack created it (DEADBOLT_SETTINGS_REQUIRED): restore it with deadbolt config set; nothing is decided without it".into(),
                };
            }
            Ok(None) => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                self.current = self.environment.clone();
                self.origin = ConfigOrigin::Environment;
                self.last_good = None;
            }
            Ok(Some(text)) => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                self.had_document = true;
                self.apply(store, &text).await;
            }
            Err(e) => {
                // Not cached: the next event reads again, so a store that comes back is used
                // at once. Until the first successful read nothing is in force.
                let error = e.to_string();
                self.origin = match self.origin {
                    ConfigOrigin::Unavailable { .. } => ConfigOrigin::Unavailable { error },
                    _ => ConfigOrigin::Unreachable { error },
                };
            }
        }
        before != (self.current.clone(), self.origin.clone())
    }

    async fn apply<S: SettingsStore>(&mut self, store: &S, text: &str) {
        let error = match Settings::parse(text) {
            Ok(mut settings) => {
                self.history_error = None;
                // When each protected pattern was written: from the history, read again only
                // when the document changed (and never when nothing is protected).
                if !settings.protected_principals.is_empty() {
                    match &self.dated {
                        Some((dated, since)) if dated == text => {
                            settings.protected_since = since.clone();
                        }
                        _ => match store.history(MAX_HISTORY_VERSIONS).await {
                            Ok(versions) => {
                                settings.date_protections(&versions);
                                self.dated =
                                    Some((text.to_string(), settings.protected_since.clone()));
                            }
                            // Undated, the patterns protect by name alone until the history
                            // is readable (logged by the caller).
                            Err(e) => self.history_error = Some(e.to_string()),
                        },
                    }
                }
                self.current = settings.clone();
                self.origin = ConfigOrigin::Document;
                self.last_good = Some(settings);
                return;
            }
            Err(e) => e.to_string(),
        };
        // Read again at every TTL while the document stays invalid (one more call per TTL):
        // a valid version put and overwritten within one TTL is still found.
        match store.history(MAX_HISTORY_VERSIONS).await {
            Ok(versions) => {
                self.history_error = None;
                match newest_valid(&versions) {
                    Some((version, mut settings)) => {
                        let from = versions
                            .iter()
                            .position(|v| v.version == version)
                            .unwrap_or(0);
                        settings.date_protections(&versions[from..]);
                        self.current = settings;
                        self.origin = ConfigOrigin::LastGood {
                            error,
                            version: Some(version),
                        };
                    }
                    None => self.dry_run(error),
                }
            }
            Err(e) => {
                // This instance's own last good read is the best left; the instances may
                // disagree until the history is readable again (logged by the caller).
                self.history_error = Some(e.to_string());
                match &self.last_good {
                    Some(good) => {
                        self.current = good.clone();
                        self.origin = ConfigOrigin::LastGood {
                            error,
                            version: None,
                        };
                    }
                    None => self.dry_run(error),
                }
            }
        }
    }

    fn dry_run(&mut self, error: String) {
        self.current = Settings {
            mode: Mode::DryRun,
            mode_by_account: Default::default(),
            mode_by_finding_type: Default::default(),
            ..self.environment.clone()
        };
        self.origin = ConfigOrigin::DryRunFallback { error };
    }
}

/// The newest version that validates, from a history given newest first.
pub fn newest_valid(versions: &[StoredVersion]) -> Option<(i64, Settings)> {
    versions
        .iter()
        .find_map(|v| Settings::parse(&v.value).ok().map(|s| (v.version, s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::AwsErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Every version ever stored, oldest first, as SSM keeps them.
    #[derive(Default)]
    struct Memory {
        versions: Mutex<Vec<String>>,
        history_reads: AtomicUsize,
        history_down: bool,
    }

    impl Memory {
        fn with(versions: &[&str]) -> Self {
            Memory {
                versions: Mutex::new(versions.iter().map(|v| v.to_string()).collect()),
                ..Memory::default()
            }
        }
    }

    impl SettingsStore for Memory {
        async fn load(&self) -> Result<Option<String>, AwsError> {
            Ok(self.versions.lock().unwrap().last().cloned())
        }
        async fn store(&self, document: &str) -> Result<(), AwsError> {
            self.versions.lock().unwrap().push(document.to_string());
            Ok(())
        }
        async fn history(&self, limit: usize) -> Result<Vec<StoredVersion>, AwsError> {
            self.history_reads.fetch_add(1, Ordering::SeqCst);
            if self.history_down {
                return Err(AwsError::new(
                    AwsErrorKind::AccessDenied,
                    "AccessDeniedException",
                    "not authorized to perform: ssm:GetParameterHistory",
                ));
            }
            let versions = self.versions.lock().unwrap();
            Ok(versions
                .iter()
                .enumerate()
                .rev()
                .take(limit)
                .map(|(i, value)| StoredVersion {
                    version: i as i64 + 1,
                    value: value.clone(),
                    modified_at: None,
                    modified_by: None,
                })
                .collect())
        }
    }

    fn enforce_env() -> Settings {
        Settings {
            mode: Mode::Enforce,
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn toggles_within_the_ttl_and_never_enforces_an_invalid_document() {
        let store = Memory::default();
        let mut rc = RuntimeConfig::new(Settings::default(), 60_000);
        assert!(
            rc.current().is_err(),
            "nothing is in force before the first read"
        );
        assert!(
            rc.refresh(&store, 0).await,
            "no document: the environment is in force"
        );
        assert_eq!(rc.origin(), &ConfigOrigin::Environment);

        store
            .store(r#"{"version":1,"mode":"enforce"}"#)
            .await
            .unwrap();
        assert!(
            !rc.refresh(&store, 59_999).await,
            "within the TTL nothing is re-read"
        );
        assert_eq!(rc.current().unwrap().mode, Mode::DryRun);
        assert!(rc.refresh(&store, 60_000).await);
        assert_eq!(
            (rc.current().unwrap().mode, rc.origin()),
            (Mode::Enforce, &ConfigOrigin::Document)
        );
        assert_eq!(
            store.history_reads.load(Ordering::SeqCst),
            0,
            "a valid document never reads the history"
        );

        store
            .store(r#"{"version":1,"mode":"enforcing"}"#)
            .await
            .unwrap();
        assert!(rc.refresh(&store, 120_000).await);
        assert_eq!(
            rc.current().unwrap().mode,
            Mode::Enforce,
            "the last good document stays in force"
        );
        assert!(
            matches!(rc.origin(), ConfigOrigin::LastGood { error, version: Some(1) } if error.contains("accepted values: off, dry-run, approve, enforce"))
        );
    }

    /// The parameter deleted after a good read: the last document stays in force (never the
    /// environment); a cold instance of a stack that created the parameter decides nothing.
    #[tokio::test]
    async fn a_deleted_document_never_falls_back_to_the_environment() {
        let enforce = r#"{"version":1,"mode":"enforce"}"#;
        let store = Memory::with(&[enforce]);
        let mut warm = RuntimeConfig::new(Settings::default(), 1000);
        warm.refresh(&store, 0).await;
        assert_eq!(warm.current().unwrap().mode, Mode::Enforce);
        store.versions.lock().unwrap().clear();
        assert!(
            warm.refresh(&store, 2000).await,
            "the deletion is a change to log"
        );
        assert_eq!(warm.current().unwrap().mode, Mode::Enforce);
        assert!(
            matches!(warm.origin(), ConfigOrigin::Unreachable { error } if error.contains("no longer exists")),
            "{:?}",
            warm.origin()
        );

        let mut cold = RuntimeConfig::new(Settings::default(), 1000).requiring_document(true);
        cold.refresh(&store, 0).await;
        let unavailable = cold.current().unwrap_err();
        assert!(
            unavailable.error.contains("DEADBOLT_SETTINGS_REQUIRED"),
            "{unavailable}"
        );
        // Without the stack's promise, no document means the environment, as before.
        let mut plain = RuntimeConfig::new(Settings::default(), 1000);
        plain.refresh(&store, 0).await;
        assert_eq!(plain.origin(), &ConfigOrigin::Environment);
    }

    #[tokio::test]
    async fn a_cold_instance_after_an_invalid_edit_agrees_with_a_warm_one() {
        // v1 valid (dry-run), v2 valid (enforce, break-glass protected), v3 invalid, v4 invalid.
        let store = Memory::with(&[
            r#"{"mode":"dry-run"}"#,
            r#"{"mode":"enforce","protected_principals":["break-glass-*"]}"#,
        ]);
        let mut warm = RuntimeConfig::new(Settings::default(), 60_000);
        warm.refresh(&store, 0).await;
        store.store(r#"{"mode":"enforce","moed":1}"#).await.unwrap();
        store.store("{").await.unwrap();
        warm.refresh(&store, 60_000).await;

        let mut cold = RuntimeConfig::new(Settings::default(), 60_000);
        cold.refresh(&store, 60_000).await;
        for rc in [&warm, &cold] {
            let s = rc.current().unwrap();
            assert_eq!(s.mode, Mode::Enforce);
            assert_eq!(s.protected_principals, vec!["break-glass-*"]);
            assert!(
                matches!(rc.origin(), ConfigOrigin::LastGood { version: Some(2), error } if error.contains("not valid JSON")),
                "{:?}",
                rc.origin()
            );
        }
        assert_eq!(warm.current().unwrap(), cold.current().unwrap());

        // A valid edit is in force at the next TTL everywhere, without the history.
        let reads = store.history_reads.load(Ordering::SeqCst);
        store.store(r#"{"mode":"off"}"#).await.unwrap();
        cold.refresh(&store, 120_000).await;
        assert_eq!(
            (cold.current().unwrap().mode, cold.origin()),
            (Mode::Off, &ConfigOrigin::Document)
        );
        assert_eq!(store.history_reads.load(Ordering::SeqCst), reads);
    }

    #[tokio::test]
    async fn no_valid_version_in_the_history_means_dry_run() {
        let store = Memory::with(&[
            r#"{"version":1,"mode":"enforce","moed":1}"#,
            r#"{"mode":"enforcing"}"#,
        ]);
        let mut rc = RuntimeConfig::new(enforce_env(), 60_000);
        rc.refresh(&store, 0).await;
        assert_eq!(rc.current().unwrap().mode, Mode::DryRun);
        assert!(
            matches!(rc.origin(), ConfigOrigin::DryRunFallback { error } if error.contains("enforcing"))
        );
    }

    #[tokio::test]
    async fn only_the_newest_versions_are_searched() {
        let mut versions = vec![r#"{"mode":"enforce"}"#];
        versions.extend(std::iter::repeat_n("{", MAX_HISTORY_VERSIONS));
        let store = Memory::with(&versions);
        let mut rc = RuntimeConfig::new(Settings::default(), 60_000);
        rc.refresh(&store, 0).await;
        assert!(
            matches!(rc.origin(), ConfigOrigin::DryRunFallback { .. }),
            "{:?}",
            rc.origin()
        );
    }

    #[tokio::test]
    async fn an_unreadable_history_keeps_this_instances_last_good_or_dry_run() {
        let store = Memory {
            history_down: true,
            ..Memory::with(&[r#"{"mode":"enforce"}"#])
        };
        let mut warm = RuntimeConfig::new(Settings::default(), 60_000);
        warm.refresh(&store, 0).await;
        store.store("{").await.unwrap();
        warm.refresh(&store, 60_000).await;
        assert_eq!(warm.current().unwrap().mode, Mode::Enforce);
        assert!(matches!(
            warm.origin(),
            ConfigOrigin::LastGood { version: None, .. }
        ));
        assert!(warm
            .history_error()
            .is_some_and(|e| e.contains("GetParameterHistory")));

        let mut cold = RuntimeConfig::new(enforce_env(), 60_000);
        cold.refresh(&store, 60_000).await;
        assert_eq!(cold.current().unwrap().mode, Mode::DryRun);
        assert!(matches!(cold.origin(), ConfigOrigin::DryRunFallback { .. }));
    }

    struct Down;

    impl SettingsStore for Down {
        async fn load(&self) -> Result<Option<String>, AwsError> {
            Err(AwsError::new(
                AwsErrorKind::Unavailable,
                "DispatchFailure",
                "connection refused",
            ))
        }
        async fn store(&self, _: &str) -> Result<(), AwsError> {
            unreachable!()
        }
        async fn history(&self, _: usize) -> Result<Vec<StoredVersion>, AwsError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn an_unreadable_store_before_any_read_means_no_configuration_at_all() {
        let mut rc = RuntimeConfig::new(enforce_env(), 60_000);
        rc.refresh(&Down, 0).await;
        let e = rc.current().unwrap_err();
        assert!(e.to_string().contains("connection refused"), "{e}");
        // Not cached: the next event reads again, and a store that comes back is used.
        let store = Memory::with(&[r#"{"version":1,"mode":"off"}"#]);
        assert!(rc.refresh(&store, 1).await);
        assert_eq!(rc.current().unwrap().mode, Mode::Off);
        // Once something was read, an outage keeps it (it is what the operators wrote).
        rc.refresh(&Down, 120_000).await;
        assert_eq!(rc.current().unwrap().mode, Mode::Off);
        assert!(matches!(rc.origin(), ConfigOrigin::Unreachable { .. }));
    }
}
