//! The responder Lambda: wiring only. Parsing, deciding and containing live in deadbolt-core.

use std::time::{SystemTime, UNIX_EPOCH};

use deadbolt_aws::{
    load_config, AwsOptions, IamInlinePolicies, SsmSettingsStore, StsIdentity,
    DEFAULT_CONFIG_PARAMETER,
};
use deadbolt_core::runtime::{ConfigOrigin, RuntimeConfig};
use deadbolt_core::{Config, DecisionRecord, Responder};
use lambda_runtime::tracing::{self, error, info, warn};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use tokio::sync::Mutex;

struct Deps {
    responder: Responder<IamInlinePolicies, StsIdentity>,
    settings: SsmSettingsStore,
    runtime: Mutex<RuntimeConfig>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // A configuration deadbolt does not understand stops it here, before any event: it never
    // guesses its way into enforce mode.
    let config = Config::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let ttl_seconds = ttl_seconds().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let parameter = std::env::var("DEADBOLT_CONFIG_PARAMETER")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_CONFIG_PARAMETER.to_string());
    info!(mode = %config.mode, parameter = %parameter, ttl_seconds, "deadbolt responder starting");
    let sdk = load_config(&AwsOptions::default()).await;
    let deps = Deps {
        runtime: Mutex::new(RuntimeConfig::new(config.clone(), ttl_seconds * 1000)),
        settings: SsmSettingsStore::from_conf(&sdk, parameter),
        responder: Responder::new(
            config,
            IamInlinePolicies::from_conf(&sdk),
            StsIdentity::from_conf(&sdk),
        ),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        handle(event, &deps)
    }))
    .await
}

/// `DEADBOLT_CONFIG_TTL_SECONDS`: how long a read of the settings document is trusted.
fn ttl_seconds() -> Result<i64, String> {
    match std::env::var("DEADBOLT_CONFIG_TTL_SECONDS") {
        Err(_) => Ok(60),
        Ok(v) if v.trim().is_empty() => Ok(60),
        Ok(v) => v.trim().parse::<i64>().ok().filter(|s| (0..=3600).contains(s)).ok_or_else(|| {
            format!("DEADBOLT_CONFIG_TTL_SECONDS={v:?} is not accepted; accepted values: whole seconds from 0 to 3600")
        }),
    }
}

/// One event in, one decision record out (and one log line). Transient failures are returned
/// as errors so the asynchronous invocation is retried; containment is idempotent.
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    deps: &Deps,
) -> Result<DecisionRecord, Diagnostic> {
    let config = {
        let mut runtime = deps.runtime.lock().await;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        if runtime.refresh(&deps.settings, now_ms).await {
            match runtime.origin() {
                ConfigOrigin::Document => {
                    info!(mode = %runtime.current().mode, "settings document applied")
                }
                ConfigOrigin::Environment => {
                    info!(mode = %runtime.current().mode, "no settings document: using DEADBOLT_* environment")
                }
                ConfigOrigin::LastGood { error } => {
                    error!(%error, "settings document INVALID: the last good document stays in force")
                }
                ConfigOrigin::DryRunFallback { error } => {
                    error!(%error, "settings document INVALID and no good one before it: running in dry-run")
                }
                ConfigOrigin::Unreachable { error } => {
                    warn!(%error, "settings document unreadable: the configuration in force is kept")
                }
            }
        }
        runtime.current().clone()
    };
    let record = deps
        .responder
        .handle_with(event.payload.get(), &config)
        .await;
    info!(
        request_id = %event.context.request_id,
        finding_id = record.finding_id.as_deref().unwrap_or(""),
        outcome = record.outcome.as_str(),
        reason = record.reason.as_str(),
        mode = %record.mode,
        decision_record = %record.to_json(),
        "decision"
    );
    if record.retryable {
        return Err(Diagnostic {
            error_type: format!("deadbolt.{}", record.reason.as_str()),
            error_message: record.message,
        });
    }
    Ok(record)
}
