//! Runtime configuration: the settings document operators keep in SSM Parameter Store, read at
//! cold start and re-read when its TTL expires, so a toggle takes effect within a minute
//! without a redeploy. A document that does not validate is never used for enforcement: the
//! last good one stays in force, or, if there never was one, the environment configuration in
//! dry-run.

use std::future::Future;

use crate::config::{Config, Mode};
use crate::ports::IamError;
use crate::settings::{Settings, SettingsError};

/// Where the settings document lives (SSM Parameter Store in production).
pub trait SettingsStore: Send + Sync {
    /// The document's text, or `None` when no document has been stored.
    fn load(&self) -> impl Future<Output = Result<Option<String>, IamError>> + Send;
    /// Replace the document (the CLI's `config set`).
    fn store(&self, document: &str) -> impl Future<Output = Result<(), IamError>> + Send;
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
    /// The store could not be read; what was in force stays (environment at cold start).
    Unreachable { error: String },
}

/// The configuration in force and when to look again.
pub struct RuntimeConfig {
    environment: Config,
    ttl_ms: i64,
    current: Config,
    origin: ConfigOrigin,
    last_good: Option<Settings>,
    next_check_ms: i64,
}

impl RuntimeConfig {
    /// `environment` is the fallback (from `DEADBOLT_*`); `ttl_ms` how long a read is trusted.
    pub fn new(environment: Config, ttl_ms: i64) -> Self {
        RuntimeConfig {
            current: environment.clone(),
            environment,
            ttl_ms,
            origin: ConfigOrigin::Environment,
            last_good: None,
            next_check_ms: i64::MIN,
        }
    }

    pub fn current(&self) -> &Config {
        &self.current
    }

    pub fn origin(&self) -> &ConfigOrigin {
        &self.origin
    }

    /// Re-read the store if the TTL has expired. Returns true when the configuration in force
    /// changed (the caller logs it).
    pub async fn refresh<S: SettingsStore>(&mut self, store: &S, now_ms: i64) -> bool {
        if now_ms < self.next_check_ms {
            return false;
        }
        self.next_check_ms = now_ms.saturating_add(self.ttl_ms);
        let before = (self.current.clone(), self.origin.clone());
        match store.load().await {
            Ok(None) => {
                self.current = self.environment.clone();
                self.origin = ConfigOrigin::Environment;
                self.last_good = None;
            }
            Ok(Some(text)) => self.apply(&text),
            Err(e) => {
                self.origin = ConfigOrigin::Unreachable {
                    error: e.to_string(),
                };
            }
        }
        before != (self.current.clone(), self.origin.clone())
    }

    fn apply(&mut self, text: &str) {
        match Settings::parse(text) {
            Ok(settings) => {
                self.current = settings.to_config();
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
                self.current = good.to_config();
                self.origin = ConfigOrigin::LastGood { error };
            }
            None => {
                self.current = Config {
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
        async fn load(&self) -> Result<Option<String>, IamError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn store(&self, document: &str) -> Result<(), IamError> {
            *self.0.lock().unwrap() = Some(document.to_string());
            Ok(())
        }
    }

    fn enforce_env() -> Config {
        Config {
            mode: Mode::Enforce,
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn toggles_within_the_ttl_and_never_enforces_an_invalid_document() {
        let store = Memory(Mutex::new(None));
        let mut rc = RuntimeConfig::new(Config::default(), 60_000);
        assert!(
            !rc.refresh(&store, 0).await,
            "no document: the environment stays"
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
        assert_eq!(rc.current().mode, Mode::DryRun);
        assert!(rc.refresh(&store, 60_000).await);
        assert_eq!(
            (rc.current().mode, rc.origin()),
            (Mode::Enforce, &ConfigOrigin::Document)
        );

        store
            .store(r#"{"version":1,"mode":"enforcing"}"#)
            .await
            .unwrap();
        assert!(rc.refresh(&store, 120_000).await);
        assert_eq!(
            rc.current().mode,
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
        assert_eq!(rc.current().mode, Mode::DryRun);
        assert!(
            matches!(rc.origin(), ConfigOrigin::DryRunFallback { error } if error.contains("moed"))
        );
    }
}
