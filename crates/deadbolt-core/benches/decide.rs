//! In-process cost of the responder's own work: parse + validate + decide for one finding, and
//! the whole `Responder::handle` path in enforce with in-memory ports (no network).

use criterion::{criterion_group, criterion_main, Criterion};
use deadbolt_core::config::Mode;
use deadbolt_core::memory::{FixedIdentity, MemoryGuardDuty, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{
    decide, parse_event, AccountContext, ContainmentTarget, Ports, Responder, TargetKind,
};
use std::hint::black_box;

const FINDING: &str =
    include_str!("../../../tests/fixtures/guardduty/cloudtrail-logging-disabled.json");
const ANOMALY: &str = include_str!("../../../tests/fixtures/guardduty/anomalous-exfiltration.json");
const ACCOUNT: &str = "123456789012";
const OWN: &str = "arn:aws:sts::123456789012:assumed-role/deadbolt-responder/responder";

fn parse_and_decide(c: &mut Criterion) {
    let config = Settings::default();
    let account = AccountContext::from_caller(ACCOUNT, OWN);
    c.bench_function("parse+decide (CloudTrailLoggingDisabled, 2.6 KB)", |b| {
        b.iter(|| {
            let event = parse_event(black_box(FINDING)).expect("fixture parses");
            black_box(decide(&event, &config, &account))
        })
    });
    c.bench_function(
        "parse+decide (Exfiltration:IAMUser/AnomalousBehavior, 8.3 KB)",
        |b| {
            b.iter(|| {
                let event = parse_event(black_box(ANOMALY)).expect("fixture parses");
                black_box(decide(&event, &config, &account))
            })
        },
    );
}

fn handle_enforce_in_memory(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mallory = ContainmentTarget::new(TargetKind::User, "mallory").expect("valid name");
    // GuardDuty's copy, current: the engine verifies with it like the Lambda does.
    let mut copy = parse_event(FINDING).expect("fixture").detail;
    copy.updated_at = Some(deadbolt_core::strategy::format_rfc3339_utc(
        deadbolt_core::clock::now_ms() / 1000,
    ));
    let settings = Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    };
    c.bench_function(
        "Responder::handle enforce, in-memory IAM and GuardDuty (parse+verify+decide+contain+record)",
        |b| {
            b.iter(|| {
                let gd = MemoryGuardDuty::new();
                gd.insert(copy.clone());
                let responder = Responder::new(Ports {
                    guardduty: Some(gd),
                    iam: MemoryPolicies::new().with_entity(&mallory),
                    identity: FixedIdentity::new(ACCOUNT, OWN),
                    identity_center: None::<deadbolt_core::ports::NoIdentityCenter>,
                    shared_breaker: None::<deadbolt_core::ports::NoSharedBreaker>,
                    held: None::<deadbolt_core::ports::NoHeldFindings>,
                });
                black_box(
                    rt.block_on(responder.handle(black_box(FINDING), &settings))
                        .to_json(),
                )
            })
        },
    );
}

criterion_group!(benches, parse_and_decide, handle_enforce_in_memory);
criterion_main!(benches);
