//! The settings document as the Lambdas see it: read from SSM at cold start, re-read once the
//! TTL has passed, every transition logged. Shared by the responder and the enricher so both
//! apply a toggle the same way and within the same minute.

use deadbolt_core::clock::now_ms;
use deadbolt_core::runtime::{ConfigOrigin, RuntimeConfig, SettingsUnavailable};
use deadbolt_core::Settings;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::SsmSettingsStore;

/// `DEADBOLT_CONFIG_TTL_SECONDS` when unset.
pub const DEFAULT_TTL_SECONDS: i64 = 60;

pub struct LiveSettings {
    store: SsmSettingsStore,
    runtime: Mutex<RuntimeConfig>,
}

impl LiveSettings {
    /// `environment` applies while no document exists (the `DEADBOLT_*` variables).
    /// `DEADBOLT_SETTINGS_REQUIRED=true` (the stack created the parameter): a missing
    /// document is `settings_unavailable`, never the environment.
    pub fn new(store: SsmSettingsStore, environment: Settings, ttl_seconds: i64) -> Self {
        let required = std::env::var("DEADBOLT_SETTINGS_REQUIRED")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        LiveSettings {
            store,
            runtime: Mutex::new(
                RuntimeConfig::new(environment, ttl_seconds * 1000).requiring_document(required),
            ),
        }
    }

    /// The configuration in force now, refreshed first if the TTL has passed; an error when
    /// the document has never been readable (the caller decides nothing and asks for a retry).
    pub async fn current(&self) -> Result<Settings, SettingsUnavailable> {
        let mut runtime = self.runtime.lock().await;
        if runtime.refresh(&self.store, now_ms()).await {
            let parameter = self.store.name();
            match (runtime.origin(), runtime.current()) {
                (ConfigOrigin::Document, Ok(s)) => {
                    info!(mode = %s.mode, follow_up = %s.follow_up, parameter, "settings document applied")
                }
                (ConfigOrigin::Environment, Ok(s)) => {
                    info!(mode = %s.mode, parameter, "no settings document: using DEADBOLT_* environment")
                }
                (
                    ConfigOrigin::LastGood {
                        error,
                        version: Some(version),
                    },
                    _,
                ) => {
                    error!(%error, parameter, version, "settings document INVALID: the newest valid version in its history is in force")
                }
                (
                    ConfigOrigin::LastGood {
                        error,
                        version: None,
                    },
                    _,
                ) => {
                    error!(%error, parameter, history_error = runtime.history_error().unwrap_or_default(), "settings document INVALID and its history unreadable: the last good document this instance read stays in force")
                }
                (ConfigOrigin::DryRunFallback { error }, _) => match runtime.history_error() {
                    Some(history_error) => {
                        error!(%error, parameter, history_error, "settings document INVALID and its history unreadable: running in dry-run")
                    }
                    None => {
                        error!(%error, parameter, "settings document INVALID and no valid version in its history: running in dry-run")
                    }
                },
                (ConfigOrigin::Unreachable { error }, _) => {
                    warn!(%error, parameter, "settings document unreadable: the last one read stays in force")
                }
                (ConfigOrigin::Unavailable { error }, _) => {
                    error!(%error, parameter, "settings document unreadable and never read: no decision is taken until it is")
                }
                _ => {}
            }
        }
        runtime.current().cloned()
    }
}

/// The Lambdas' SDK configuration: the environment's (the function's role, region and
/// endpoints) with the trust roots `DEADBOLT_TLS_ROOTS` names. A value deadbolt does not know
/// is an error, logged here, which stops the function before its first event like any other
/// invalid configuration.
pub async fn load_lambda_config() -> Result<aws_config::SdkConfig, crate::tls::TrustRootsError> {
    let trust_roots = crate::tls::TrustRoots::from_env()
        .inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    Ok(crate::load_config(&crate::AwsOptions {
        trust_roots,
        ..crate::AwsOptions::default()
    })
    .await)
}

/// The Lambdas' logging, as Lambda's advanced logging controls configure it (what
/// `lambda_runtime`'s default subscriber did, without its regex-based filter):
/// `AWS_LAMBDA_LOG_FORMAT=JSON` (the template's `LogFormat: JSON`) gives one JSON object a
/// line, anything else plain text; the level is `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// INFO. A level must be one word (`debug`, `WARN`, ...): anything else, such as a per-module
/// `RUST_LOG` directive, is INFO, said in the first line.
pub fn init_lambda_logging() {
    let requested = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let (level, ignored) = log_level(requested.as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level);
    // Only fails when a subscriber is already set (a second call): that one stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Some(value) = ignored {
        warn!(
            value,
            "log level not understood (one of trace, debug, info, warn, error, off): INFO"
        );
    }
}

/// The level of `requested`, and the value itself when it was not one.
fn log_level(requested: Option<&str>) -> (tracing::level_filters::LevelFilter, Option<&str>) {
    use tracing::level_filters::LevelFilter;
    match requested.map(str::trim) {
        None | Some("") => (LevelFilter::INFO, None),
        Some(word) => match word.parse::<LevelFilter>() {
            Ok(level) => (level, None),
            Err(_) => (LevelFilter::INFO, requested),
        },
    }
}

#[cfg(test)]
mod log_level_tests {
    use super::log_level;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn a_lambda_log_level_is_one_word_and_anything_else_is_info_and_said() {
        assert_eq!(log_level(None), (LevelFilter::INFO, None));
        assert_eq!(log_level(Some(" ")), (LevelFilter::INFO, None));
        assert_eq!(log_level(Some("DEBUG")), (LevelFilter::DEBUG, None));
        assert_eq!(log_level(Some("warn")), (LevelFilter::WARN, None));
        assert_eq!(log_level(Some("off")), (LevelFilter::OFF, None));
        assert_eq!(
            log_level(Some("deadbolt=debug")),
            (LevelFilter::INFO, Some("deadbolt=debug"))
        );
    }
}

/// `DEADBOLT_CONFIG_TTL_SECONDS`: how long a read of the settings document is trusted.
/// The SDK configuration for what every region shares: the settings parameter, the circuit
/// breaker's table and held findings live in `DEADBOLT_HOME_REGION` (the template's
/// HomeRegion) when it is set, so a storm across regions trips one breaker and one document
/// rules every region. Unset or empty: this region.
pub fn home_region_config(sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    home_region_config_from(sdk, std::env::var("DEADBOLT_HOME_REGION").ok())
}

fn home_region_config_from(
    sdk: &aws_config::SdkConfig,
    home: Option<String>,
) -> aws_config::SdkConfig {
    match home.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()) {
        Some(region) => sdk
            .to_builder()
            .region(aws_config::Region::new(region))
            .build(),
        None => sdk.clone(),
    }
}

/// The report bucket (`DEADBOLT_REPORT_BUCKET`, the template's `ReportBucket`) in this
/// function's region, where its console links point; `Ok(None)` without one.
pub fn report_bucket_from_env(
    sdk: &aws_config::SdkConfig,
) -> Result<
    Option<deadbolt_core::report_object::ReportBucket>,
    deadbolt_core::report_object::ReportObjectError,
> {
    // `load_config` always sets a region (us-east-1 when none is configured).
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    deadbolt_core::report_object::ReportBucket::from_env(region)
}

#[cfg(test)]
mod home_region_tests {
    use super::*;

    #[test]
    fn the_home_region_replaces_only_the_region() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        let home = home_region_config_from(&sdk, Some("us-east-1".into()));
        assert_eq!(home.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(home.endpoint_url(), Some("http://127.0.0.1:5000"));
        for unset in [None, Some(String::new()), Some("  ".into())] {
            let same = home_region_config_from(&sdk, unset);
            assert_eq!(same.region().map(|r| r.as_ref()), Some("eu-west-1"));
        }
    }
}

pub fn ttl_seconds_from_env() -> Result<i64, String> {
    match std::env::var("DEADBOLT_CONFIG_TTL_SECONDS") {
        Err(_) => Ok(DEFAULT_TTL_SECONDS),
        Ok(v) if v.trim().is_empty() => Ok(DEFAULT_TTL_SECONDS),
        Ok(v) => v.trim().parse::<i64>().ok().filter(|s| (0..=3600).contains(s)).ok_or_else(|| {
            format!("DEADBOLT_CONFIG_TTL_SECONDS={v:?} is not accepted; accepted values: whole seconds from 0 to 3600")
        }),
    }
}

/// `DEADBOLT_CONFIG_PARAMETER`, or the default name.
pub fn config_parameter_from_env() -> String {
    std::env::var("DEADBOLT_CONFIG_PARAMETER")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| crate::DEFAULT_CONFIG_PARAMETER.to_string())
}

/// Run `work` unless the invocation's deadline (`deadline_ms`, epoch milliseconds, as the
/// Lambda runtime gives it) comes within `reserve` first: `None` then, so the function answers
/// with a retryable record instead of being killed mid-flight. Dropping `work` cancels the
/// AWS call in flight; the intent line says what was planned.
///
/// A deadline that is not in the future is not a deadline Lambda would send (local emulators
/// send a duration, e.g. `600000`): it is ignored, and the work runs under the SDK's own
/// timeouts, rather than being cut off before it starts.
pub async fn before_deadline<F: std::future::Future>(
    deadline_ms: u64,
    reserve: std::time::Duration,
    work: F,
) -> Option<F::Output> {
    let now_ms = u64::try_from(now_ms()).unwrap_or(0);
    if deadline_ms <= now_ms {
        warn!(
            deadline_ms,
            now_ms, "the invocation's deadline is not in the future; running without it"
        );
        return Some(work.await);
    }
    let left = std::time::Duration::from_millis(deadline_ms - now_ms).saturating_sub(reserve);
    tokio::time::timeout(left, work).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_that_would_outlive_the_invocation_is_stopped_before_the_deadline() {
        let now = u64::try_from(now_ms()).unwrap_or(0);
        let reserve = std::time::Duration::from_millis(50);
        // A deadline already inside the reserve: the work is never awaited to its end.
        let stuck = before_deadline(now + 10, reserve, std::future::pending::<()>()).await;
        assert_eq!(stuck, None);
        let quick = before_deadline(now + 60_000, reserve, async { 7 }).await;
        assert_eq!(quick, Some(7));
        // Not an epoch deadline (an emulator's duration): ignored, the work completes.
        let relative = before_deadline(600_000, reserve, async { 8 }).await;
        assert_eq!(relative, Some(8));
    }
}
