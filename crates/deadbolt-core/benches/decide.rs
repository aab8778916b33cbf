//! In-process cost of the responder's own work: parse + validate + decide for one finding, and
//! the whole `Responder::handle` path in dry-run with in-memory ports (no network).

use criterion::{criterion_group, criterion_main, Criterion};
use deadbolt_core::config::Mode;
use deadbolt_core::memory::{Configured, FixedIdentity, MemoryPolicies};
use deadbolt_core::settings::Settings;
use deadbolt_core::{decide, parse_event, AccountContext, ContainmentTarget, TargetKind};
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
    c.bench_function(
        "Responder::handle enforce, in-memory IAM (parse+decide+contain+record)",
        |b| {
            b.iter(|| {
                let policies = MemoryPolicies::new().with_entity(&mallory);
                let responder = Configured::new(
                    Settings {
                        mode: Mode::Enforce,
                        ..Settings::default()
                    },
                    policies,
                    FixedIdentity::new(ACCOUNT, OWN),
                );
                black_box(rt.block_on(responder.handle(black_box(FINDING))).to_json())
            })
        },
    );
}

criterion_group!(benches, parse_and_decide, handle_enforce_in_memory);
criterion_main!(benches);
