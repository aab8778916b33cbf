//! The enricher Lambda: wiring only. The investigation lives in deadbolt-trail.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deadbolt_aws::live::{
    config_parameter_from_env, home_region_config, report_bucket_from_env, ttl_seconds_from_env,
};
use deadbolt_aws::{
    AwsGuardDuty, AwsIam, DynamoBreaker, DynamoLedger, LiveSettings, MemberSessions,
    SsmSettingsStore, StsIdentity,
};
use deadbolt_core::account::AccountCache;
use deadbolt_core::clock::now_ms;
use deadbolt_core::metrics::namespace_from_env;
use deadbolt_core::ports::{NoHeldFindings, NoIdentityCenter};
use deadbolt_core::{Ports, Responder, Settings};
use deadbolt_evidence::athena::AthenaSettings;
use deadbolt_evidence::{
    AnySource, CloudWatchLogsSource, LookupEventsSource, S3ReportStore, SnsNotifier,
};
use deadbolt_trail::metrics::enrichment_emf;
use deadbolt_trail::{Enricher, EnrichmentRecord, EvidenceSource, InvestigationOptions, Limits};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use tracing::{error, info};

/// Follow-ups run on the responder's engine: the same decision, executor and breaker.
type FollowUpEngine = Responder<
    AwsIam,
    StsIdentity,
    NoIdentityCenter,
    DynamoBreaker,
    AwsGuardDuty,
    NoHeldFindings,
    MemberSessions,
    Option<DynamoLedger>,
>;

mod members;
use members::MemberLookupEvents;

struct Deps {
    enricher: Enricher<AnySource, SnsNotifier, FollowUpEngine, MemberLookupEvents, S3ReportStore>,
    settings: LiveSettings,
    /// The CloudWatch namespace of the metrics line (`DEADBOLT_METRICS_NAMESPACE`).
    namespace: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    deadbolt_aws::live::init_lambda_logging();
    // The same settings as the responder: `follow_up` decides whether what the attacker
    // created is contained (off by default). An invalid configuration stops it here.
    let config =
        Settings::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let ttl_seconds =
        ttl_seconds_from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let athena =
        AthenaSettings::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    // The trust roots are configuration too (DEADBOLT_TLS_ROOTS): an unknown value stops here.
    let sdk = deadbolt_aws::live::load_lambda_config().await?;
    // ReportBucket: each investigation's HTML page, in this region's bucket.
    let report_bucket = report_bucket_from_env(&sdk)
        .inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    // The settings parameter and the breaker table of the home region (HomeRegion).
    let home = home_region_config(&sdk);
    // Athena over the organization trail's table when the template created one (each
    // finding's account, any size of history), else the trail's log group when the operators
    // named one (faster, no 2 requests/s quota), otherwise LookupEvents, which works in every
    // account with no setup.
    let log_group = std::env::var("DEADBOLT_TRAIL_LOG_GROUP")
        .ok()
        .filter(|g| !g.is_empty());
    let source = match (athena, log_group) {
        (Some(athena), _) => {
            AnySource::Athena(athena.into_source(aws_sdk_athena::Client::new(&sdk)))
        }
        (None, Some(group)) => AnySource::Logs(CloudWatchLogsSource::new(
            aws_sdk_cloudwatchlogs::Client::new(&sdk),
            group,
        )),
        (None, None) => AnySource::LookupEvents(LookupEventsSource::new(
            aws_sdk_cloudtrail::Client::new(&sdk),
        )),
    };
    // Without a topic the report is still logged: publishing is optional, investigating is not.
    let notifier = std::env::var("DEADBOLT_SUMMARY_TOPIC_ARN")
        .ok()
        .filter(|arn| !arn.is_empty())
        .map(|arn| SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), arn));
    // Custom endpoints (local emulators, S3-compatible stores) rarely resolve bucket
    // subdomains: address the bucket by path there.
    let reports = report_bucket.map(|bucket| {
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        (
            bucket,
            S3ReportStore::new(aws_sdk_s3::Client::from_conf(conf)),
        )
    });
    info!(
        source = source.name(),
        publishes = notifier.is_some(),
        report_bucket = reports.as_ref().map_or("", |(b, _)| b.name.as_str()),
        "deadbolt enricher starting"
    );
    let organization_wide_source = matches!(source, AnySource::Athena(_));
    let deps = Deps {
        enricher: Enricher::new(
            source,
            notifier,
            Responder::new(Ports {
                iam: AwsIam::from_conf(&sdk),
                identity: StsIdentity::from_conf(&sdk),
                identity_center: None,
                // One limit for the responder's containments and these follow-ups.
                shared_breaker: DynamoBreaker::from_env(&home),
                // Follow-ups hang on a finding GuardDuty confirms, like containment.
                guardduty: Some(AwsGuardDuty::from_conf(&sdk)),
                // Follow-ups are not held: an open breaker leaves them would_contain.
                held: None,
            })
            // What the attacker created in a member account is contained there, through
            // the member role, like the finding's principal.
            .with_members(MemberSessions::from_conf(&sdk))
            .with_ledger(
                DynamoLedger::from_env(&home),
                format!(
                    "function:{}",
                    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                        .unwrap_or_else(|_| "deadbolt-enricher".into())
                ),
            ),
            InvestigationOptions::default(),
            Limits::default(),
        )
        // A member account's finding is investigated in that account (LookupEvents through
        // the member role), not in this one, where its principal left no trace.
        .with_router(MemberLookupEvents {
            // The organization trail (Athena) already holds every member's events.
            organization_wide: organization_wide_source,
            sessions: MemberSessions::from_conf(&sdk),
            own_account: AccountCache::default(),
            identity: StsIdentity::from_conf(&sdk),
        })
        .with_reports(reports),
        settings: LiveSettings::new(
            SsmSettingsStore::from_conf(&home, config_parameter_from_env()),
            config,
            ttl_seconds,
        ),
        namespace: namespace_from_env(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        handle(event, &deps)
    }))
    .await
}

async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    deps: &Deps,
) -> Result<EnrichmentRecord, Diagnostic> {
    let started = Instant::now();
    let deadline = deadline_instant(event.context.deadline);
    let settings = deps.settings.current().await;
    let record = deps
        .enricher
        .handle(event.payload.get(), deadline, settings.as_ref())
        .await;
    // One line per follow-up decision, like the responder's `decision` lines.
    for follow_up in &record.follow_up {
        info!(
            request_id = %event.context.request_id,
            finding_id = record.finding_id.as_deref().unwrap_or(""),
            outcome = follow_up.outcome.as_str(),
            reason = follow_up.reason.as_str(),
            target = %follow_up.target,
            follow_up_record = %serde_json::to_string(follow_up).unwrap_or_default(),
            "follow_up"
        );
    }
    let report = record
        .report
        .as_ref()
        .map(|r| r.to_json())
        .unwrap_or_default();
    info!(
        request_id = %event.context.request_id,
        finding_id = record.finding_id.as_deref().unwrap_or(""),
        outcome = record.outcome.as_str(),
        reason = record.reason.as_str(),
        published = record.published,
        publish_error = record.publish_error.as_deref().unwrap_or(""),
        report_object = record.report_object.as_deref().unwrap_or(""),
        report_error = record.report_error.as_deref().unwrap_or(""),
        investigation_report = %report,
        "investigation"
    );
    // The metrics: one CloudWatch Embedded Metric Format line on stdout (no API call).
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{}",
        enrichment_emf(&record, duration_ms, &deps.namespace, now_ms())
    );
    // A follow-up that may succeed when delivered again (throttled, an outage, unreadable
    // settings): Lambda's asynchronous retries run the enricher again. Investigating is
    // read-only and follow-ups are idempotent (already contained: nothing written).
    if record.retryable {
        let pending: Vec<String> = record
            .follow_up
            .iter()
            .filter(|f| f.retryable)
            .map(|f| format!("{} {}: {}", f.target, f.reason.as_str(), f.message))
            .collect();
        return Err(Diagnostic {
            error_type: "deadbolt.follow_up_retryable".into(),
            error_message: format!(
                "{} follow-up(s) to retry: {}",
                pending.len(),
                pending.join("; ")
            ),
        });
    }
    Ok(record)
}

/// The invocation's deadline (epoch milliseconds) as an `Instant`.
fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(deadline_ms).checked_sub(now_ms)?;
    Some(Instant::now() + Duration::from_millis(u64::try_from(left).ok()?))
}
