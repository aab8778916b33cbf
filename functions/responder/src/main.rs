//! The responder Lambda: wiring only. Parsing, deciding and containing live in deadbolt-core.

use deadbolt_aws::live::{
    before_deadline, config_parameter_from_env, home_region_config, report_bucket_from_env,
    ttl_seconds_from_env,
};
use deadbolt_aws::{
    AlarmAnnouncer, AwsGuardDuty, AwsIam, AwsIdentityCenter, DynamoBreaker, DynamoHeldFindings,
    DynamoLedger, LiveSettings, MemberSessions, SecurityHubWriteBack, SsmSettingsStore,
    StsIdentity,
};
use deadbolt_core::clock::now_ms;
use deadbolt_core::metrics::{decision_emf, namespace_from_env, write_back_failure_emf};
use deadbolt_core::notice::containment_notice_linked;
use deadbolt_core::securityhub::{write_back, FindingsWriteBack};
use deadbolt_core::{DecisionRecord, Ports, Responder, Settings};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use tracing::{error, info, warn};

/// Time kept before the Lambda timeout to log the record and answer: the SDK's own timeouts
/// (5 s an attempt, 20 s an operation) can exceed what is left of a 30 s invocation.
const DEADLINE_RESERVE: std::time::Duration = std::time::Duration::from_millis(1500);

struct Deps {
    /// The Security Hub write-back, where the stack granted it (SecurityHubWriteBack).
    security_hub: Option<SecurityHubWriteBack>,
    held_store: Option<DynamoHeldFindings>,
    responder: Responder<
        AwsIam,
        StsIdentity,
        AwsIdentityCenter,
        DynamoBreaker,
        AwsGuardDuty,
        DynamoHeldFindings,
        MemberSessions,
        Option<DynamoLedger>,
    >,
    settings: LiveSettings,
    /// Containment notices for people (the alarm topic), when the stack made one.
    announcer: Option<AlarmAnnouncer>,
    /// ReportBucket: the notices link the enricher's investigation page there.
    report_bucket: Option<deadbolt_core::report_object::ReportBucket>,
    /// The CloudWatch namespace of the metrics line (`DEADBOLT_METRICS_NAMESPACE`).
    namespace: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    deadbolt_aws::live::init_lambda_logging();
    // A configuration deadbolt does not understand stops it here, before any event: it never
    // guesses its way into enforce mode.
    let config =
        Settings::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let ttl_seconds =
        ttl_seconds_from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let parameter = config_parameter_from_env();
    info!(mode = %config.mode, parameter = %parameter, ttl_seconds, "deadbolt responder starting");
    // The trust roots are configuration too (DEADBOLT_TLS_ROOTS): an unknown value stops here.
    let sdk = deadbolt_aws::live::load_lambda_config().await?;
    // The settings parameter and the breaker table (with held findings) of the home region.
    let home = home_region_config(&sdk);
    // Held findings, and approve mode's pending approvals with their expiry schedules; the
    // handle kept here learns the function's own ARN (the schedules' target) from the first
    // invocation's context.
    let held = DynamoHeldFindings::from_env(&home).map(|h| h.scheduling_from_env(&sdk));
    let deps = Deps {
        security_hub: SecurityHubWriteBack::from_env(&sdk),
        held_store: held.clone(),
        settings: LiveSettings::new(
            SsmSettingsStore::from_conf(&home, parameter),
            config.clone(),
            ttl_seconds,
        ),
        responder: Responder::new(Ports {
            iam: AwsIam::from_conf(&sdk),
            identity: StsIdentity::from_conf(&sdk),
            // Only called under strategy.identity_center: permission-set-deny.
            identity_center: Some(AwsIdentityCenter::from_conf(&sdk)),
            // The circuit breaker's count shared by every instance, when the template made
            // the table; otherwise each instance counts its own.
            shared_breaker: DynamoBreaker::from_env(&home),
            // Every finding is verified with GuardDuty (deadbolt's own detector) before
            // anything is decided; AWS_ENDPOINT_URL_GUARDDUTY reaches this client.
            guardduty: Some(AwsGuardDuty::from_conf(&sdk)),
            // Findings the breaker refuses are kept on the same table (outcome held) until
            // an operator runs deadbolt release-held; without a table, would_contain.
            // Held findings, and approve mode's pending approvals with their expiry schedules.
            held: held.clone(),
        })
        // A member account's finding (settings member_accounts) is contained there through
        // the member role; STS is only called for such findings.
        .with_members(MemberSessions::from_conf(&sdk))
        // Every containment recorded (DEADBOLT_LEDGER_TABLE): what was there before, by
        // which function, for which finding.
        .with_ledger(DynamoLedger::from_env(&home), function_actor()),
        announcer: AlarmAnnouncer::from_env(&sdk),
        // Only a link in a message: a bad bucket setting is logged and the notices go out
        // without it, never in the way of a containment.
        report_bucket: report_bucket_from_env(&sdk)
            .inspect_err(|e| warn!(error = %e, "notices will not link the report page"))
            .ok()
            .flatten(),
        namespace: namespace_from_env(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        handle(event, &deps)
    }))
    .await
}

/// Who the ledger says acted: this function, by name.
fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "deadbolt-responder".into())
}

fn function_actor() -> String {
    format!("function:{}", function_name())
}

/// One event in, one decision record out (and one log line). Transient failures are returned
/// as errors so Lambda's asynchronous retries deliver the event again (then the failure
/// destination); containment is idempotent, and a redelivery consumes no breaker slot.
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    deps: &Deps,
) -> Result<DecisionRecord, Diagnostic> {
    let raw = event.payload.get();
    if let Some(store) = &deps.held_store {
        store.learn_target(&event.context.invoked_function_arn);
    }
    // The settings read (once per TTL), the caller identity and GuardDuty's detector id (once
    // per instance) depend on nothing of each other: on a cold start they are one round trip,
    // not three. A failed identity or detector lookup is not cached, and the decision asks
    // again (and records why).
    let (settings, _) =
        futures_util::future::join(deps.settings.current(), deps.responder.prepare()).await;
    let work = async {
        match &settings {
            Ok(settings) => deps.responder.handle(raw, settings).await,
            Err(unavailable) => deps.responder.settings_unavailable(raw, unavailable),
        }
    };
    let record = match before_deadline(event.context.deadline, DEADLINE_RESERVE, work).await {
        Some(record) => record,
        None => deps
            .responder
            .deadline_exceeded(raw, DEADLINE_RESERVE.as_millis() as u64),
    };
    info!(
        request_id = %event.context.request_id,
        finding_id = record.finding_id.as_deref().unwrap_or(""),
        outcome = record.outcome.as_str(),
        reason = record.reason.as_str(),
        mode = %record.mode,
        decision_record = %record.to_json(),
        "decision"
    );
    // The metrics: one CloudWatch Embedded Metric Format line on stdout, which CloudWatch Logs
    // turns into metrics (no API call).
    println!("{}", decision_emf(&record, &deps.namespace, now_ms()));
    // Who was contained, what was written, why, how to undo it: for people. Best effort: the
    // containment is done and recorded, so a failed publish is logged, never retried.
    let notice = containment_notice_linked(&record, deps.report_bucket.as_ref());
    if let (Some(announcer), Some(notice)) = (&deps.announcer, notice) {
        if let Err(e) = announcer.announce(&notice).await {
            warn!(
                finding_id = record.finding_id.as_deref().unwrap_or(""),
                topic = announcer.topic_arn(),
                error = %e,
                "containment not announced"
            );
        }
    }
    // Where analysts work: a note on the finding's Security Hub copy. Best effort: logged and
    // counted when it fails, never retried, never in the way of the containment.
    if let (Some(hub), Ok(settings)) = (&deps.security_hub, &settings) {
        if let Some(update) = write_back(&record, settings.security_hub, &function_name()) {
            match hub.update(&update).await {
                Ok(()) => info!(
                    finding_id = record.finding_id.as_deref().unwrap_or(""),
                    workflow = update.workflow.as_str(),
                    "security hub updated"
                ),
                Err(e) => {
                    warn!(
                        finding_id = record.finding_id.as_deref().unwrap_or(""),
                        error = %e,
                        "security hub not updated"
                    );
                    println!(
                        "{}",
                        write_back_failure_emf(
                            record.finding_id.as_deref().unwrap_or(""),
                            &deps.namespace,
                            now_ms()
                        )
                    );
                }
            }
        }
    }
    if record.retryable {
        return Err(Diagnostic {
            error_type: format!("deadbolt.{}", record.reason.as_str()),
            error_message: record.decision.message,
        });
    }
    Ok(record)
}
