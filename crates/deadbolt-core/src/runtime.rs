//! Runtime configuration: the settings document operators keep in SSM Parameter Store, read at
//! cold start and re-read when its TTL expires, so a toggle takes effect within a minute
//! without a redeploy. A document that does not validate is never used for enforcement: the
//! last good one stays in force, or, if there never was one, the environment configuration in
//! dry-run. A store that cannot be read at all before any successful read means no
//! configuration the operators wrote is known: nothing is decided (`settings_unavailable`).

use std::future::Future;

use crate::config::Mode;
use crate::ports::AwsError;
use crate::settings::{Settings, SettingsError};

/// Where the settings document lives (SSM Parameter Store in production).
pub trait SettingsStore: Send + Sync {
    /// The document's text, or `None` when no document has been stored.
    fn load(&self) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Replace the document (the CLI's `config set`).
    fn store(&self, document: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Where the configuration in force came from, for logs and `config show`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigOrigin {
    /// The stored document.
    Document,
    /// No document is stored: the `DEADBOLT_*` environment variables.
    Environment,
    /// The stored document is invalid; the last good one stays in force.
    LastGood { error: String },
    /// The stored document is invalid and there was no good one: environment, forced dry-run.
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
    last_good: Option<Settings>,
    next_check_ms: i64,
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
            next_check_ms: i64::MIN,
        }
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

    /// Re-read the store if the TTL has expired. Returns true when the configuration in force
    /// (or where it comes from) changed: the caller logs it.
    pub async fn refresh<S: SettingsStore>(&mut self, store: &S, now_ms: i64) -> bool {
        if now_ms < self.next_check_ms {
            return false;
        }
        let before = (self.current.clone(), self.origin.clone());
        match store.load().await {
            Ok(None) => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                self.current = self.environment.clone();
                self.origin = ConfigOrigin::Environment;
                self.last_good = None;
            }
            Ok(Some(text)) => {
                self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
                self.apply(&text);
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

    fn apply(&mut self, text: &str) {
        match Settings::parse(text) {
            Ok(settings) => {
                self.current = settings.clone();
                self.origin = ConfigOrigin::Document;
                self.last_good = Some(settings);
            }
            Err(e) => self.reject(&e),
        }
    }

    fn reject(&mut self, e: &SettingsError) {
        let error = e.to_string();
        match &self.last_good {
            Some(good) => {
                self.current = good.clone();
                self.origin = ConfigOrigin::LastGood { error };
            }
            None => {
                self.current = Settings {
                    mode: Mode::DryRun,
                    mode_by_account: Default::default(),
                    mode_by_finding_type: Default::default(),
                    ..self.environment.clone()
                };
                self.origin = ConfigOrigin::DryRunFallback { error };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Memory(Mutex<Option<String>>);

    impl SettingsStore for Memory {
        async fn load(&self) -> Result<Option<String>, AwsError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn store(&self, document: &str) -> Result<(), AwsError> {
            *self.0.lock().unwrap() = Some(document.to_string());
            Ok(())
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
        let store = Memory(Mutex::new(None));
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
            matches!(rc.origin(), ConfigOrigin::LastGood { error } if error.contains("accepted values: off, dry-run, enforce"))
        );
    }

    #[tokio::test]
    async fn an_invalid_document_at_cold_start_means_dry_run() {
        let store = Memory(Mutex::new(Some(
            r#"{"version":1,"mode":"enforce","moed":1}"#.into(),
        )));
        let mut rc = RuntimeConfig::new(enforce_env(), 60_000);
        rc.refresh(&store, 0).await;
        assert_eq!(rc.current().unwrap().mode, Mode::DryRun);
        assert!(
            matches!(rc.origin(), ConfigOrigin::DryRunFallback { error } if error.contains("moed"))
        );
    }

    struct Down;

    impl SettingsStore for Down {
        async fn load(&self) -> Result<Option<String>, AwsError> {
            Err(AwsError::new(
                crate::ports::AwsErrorKind::Unavailable,
                "DispatchFailure",
                "connection refused",
            ))
        }
        async fn store(&self, _: &str) -> Result<(), AwsError> {
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
        let store = Memory(Mutex::new(Some(r#"{"version":1,"mode":"off"}"#.into())));
        assert!(rc.refresh(&store, 1).await);
        assert_eq!(rc.current().unwrap().mode, Mode::Off);
        // Once something was read, an outage keeps it (it is what the operators wrote).
        rc.refresh(&Down, 120_000).await;
        assert_eq!(rc.current().unwrap().mode, Mode::Off);
        assert!(matches!(rc.origin(), ConfigOrigin::Unreachable { .. }));
    }
}
