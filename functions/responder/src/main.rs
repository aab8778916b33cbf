//! The responder Lambda: wiring only. Parsing, deciding and containing live in deadbolt-core.

use deadbolt_aws::live::{config_parameter_from_env, ttl_seconds_from_env};
use deadbolt_aws::{
    load_config, AwsIdentityCenter, AwsOptions, DynamoBreaker, IamInlinePolicies, LiveSettings,
    SsmSettingsStore, StsIdentity,
};
use deadbolt_core::{Config, DecisionRecord, Responder};
use lambda_runtime::tracing::{self, error, info};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;

struct Deps {
    responder: Responder<IamInlinePolicies, StsIdentity, AwsIdentityCenter, Option<DynamoBreaker>>,
    settings: LiveSettings,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // A configuration deadbolt does not understand stops it here, before any event: it never
    // guesses its way into enforce mode.
    let config = Config::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let ttl_seconds =
        ttl_seconds_from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let parameter = config_parameter_from_env();
    info!(mode = %config.mode, parameter = %parameter, ttl_seconds, "deadbolt responder starting");
    let sdk = load_config(&AwsOptions::default()).await;
    let deps = Deps {
        settings: LiveSettings::new(
            SsmSettingsStore::from_conf(&sdk, parameter),
            config.clone(),
            ttl_seconds,
        ),
        // Identity Center is only called under strategy.identity_center: permission-set-deny.
        responder: Responder::new(
            config,
            IamInlinePolicies::from_conf(&sdk),
            StsIdentity::from_conf(&sdk),
        )
        .with_identity_center(AwsIdentityCenter::from_conf(&sdk))
        // The circuit breaker's count shared by every instance, when the template made the
        // table; otherwise each instance counts its own.
        .with_shared_breaker(DynamoBreaker::from_env(&sdk)),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        handle(event, &deps)
    }))
    .await
}

/// One event in, one decision record out (and one log line). Transient failures are returned
/// as errors so the asynchronous invocation is retried; containment is idempotent.
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    deps: &Deps,
) -> Result<DecisionRecord, Diagnostic> {
    let config = deps.settings.current().await;
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
