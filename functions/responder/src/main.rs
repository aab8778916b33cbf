//! The responder Lambda: wiring only. Parsing, deciding and containing live in deadbolt-core.

use deadbolt_aws::{load_config, AwsOptions, IamInlinePolicies, StsIdentity};
use deadbolt_core::{Config, DecisionRecord, Responder};
use lambda_runtime::tracing::{self, error, info};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;

type Deps = Responder<IamInlinePolicies, StsIdentity>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // A configuration deadbolt does not understand stops it here, before any event: it never
    // guesses its way into enforce mode.
    let config = Config::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    info!(mode = %config.mode, min_severity = config.min_severity, finding_types = ?config.finding_types, protected = config.protected.len(), "deadbolt responder starting");
    let sdk = load_config(&AwsOptions::default()).await;
    let responder = Responder::new(
        config,
        IamInlinePolicies::from_conf(&sdk),
        StsIdentity::from_conf(&sdk),
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        handle(event, &responder)
    }))
    .await
}

/// One event in, one decision record out (and one log line). Transient failures are returned
/// as errors so the asynchronous invocation is retried; containment is idempotent.
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    responder: &Deps,
) -> Result<DecisionRecord, Diagnostic> {
    let record = responder.handle(event.payload.get()).await;
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
