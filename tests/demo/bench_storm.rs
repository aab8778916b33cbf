//! The storm benchmark: 1,000 distinct findings for 200 principals, then 200 redeliveries,
//! through the responder engine with its production adapters (IAM, STS and DynamoDB on moto;
//! GuardDuty through the loopback stand-in), the circuit breaker at 50 enforcements an hour,
//! held findings kept in the breaker table. It checks what a storm must never do (contain more
//! than the limit, lose a finding, let a redelivery consume the breaker) and prints the counts,
//! the wall time and this process's peak RSS. Run by scripts/bench.sh on the release build.
//!
//! One event at a time, as one Lambda instance handles them. The breaker's shared count is per
//! UTC hour: a run that crosses an hour boundary may contain more than 50 (it says so).

use std::collections::HashMap;
use std::time::Instant;

use deadbolt_aws::{AwsGuardDuty, AwsIam, DynamoBreaker, DynamoHeldFindings, StsIdentity};
use deadbolt_core::ports::{HeldFindings, NoIdentityCenter};
use deadbolt_core::settings::{CircuitBreakerSettings, Settings};
use deadbolt_core::{Mode, Ports, Responder};
use deadbolt_e2e::{finding_for, Moto, Principal};

const PRINCIPALS: usize = 200;
const FINDINGS: usize = 1_000;
const REDELIVERIES: usize = 200;
const LIMIT: u32 = 50;
const TABLE: &str = "deadbolt-breaker";

#[tokio::main]
async fn main() {
    // Authentication off: this measures deadbolt, not moto's policy evaluation.
    let moto = Moto::start_with_auth(false).await;
    let sdk = moto.sdk_config(&moto.admin);
    moto.create_breaker_table(TABLE).await;
    let iam = moto.iam(&moto.admin, None);
    let mut principals = Vec::with_capacity(PRINCIPALS);
    for i in 0..PRINCIPALS {
        let name = format!("storm-user-{i:03}");
        iam.create_user()
            .user_name(&name)
            .send()
            .await
            .expect("create user");
        principals.push(Principal {
            name,
            user_type: "IAMUser",
            access_key_id: format!("AKIA2MLRYQ7Z{i:08}"),
            principal_id: format!("AIDA2MLRYQ7Z{i:08}"),
        });
    }
    // Round robin over the principals: finding i names principal i % 200.
    let events: Vec<String> = (0..FINDINGS)
        .map(|i| {
            let raw = finding_for(
                "cloudtrail-logging-disabled.json",
                &principals[i % PRINCIPALS],
            );
            let mut v: serde_json::Value = serde_json::from_str(&raw).expect("fixture");
            let id = format!("5107e{i:027}");
            let arn = v["detail"]["arn"].as_str().unwrap_or_default().to_string();
            let base = arn
                .rsplit_once("/finding/")
                .map(|(b, _)| b)
                .unwrap_or_default();
            v["detail"]["arn"] = format!("{base}/finding/{id}").into();
            v["detail"]["id"] = id.into();
            let event = v.to_string();
            moto.confirm(&event);
            event
        })
        .collect();
    let guardduty = aws_sdk_guardduty::Client::from_conf(
        aws_sdk_guardduty::config::Builder::from(&sdk)
            .endpoint_url(moto.guardduty.endpoint())
            .build(),
    );
    let responder = Responder::new(Ports {
        iam: AwsIam::new(iam.clone()),
        identity: StsIdentity::new(moto.sts(&moto.admin, None)),
        identity_center: None::<NoIdentityCenter>,
        shared_breaker: Some(DynamoBreaker::from_conf(&sdk, TABLE)),
        guardduty: Some(AwsGuardDuty::new(guardduty)),
        held: Some(DynamoHeldFindings::from_conf(&sdk, TABLE)),
    });
    let settings = Settings {
        mode: Mode::Enforce,
        circuit_breaker: Some(CircuitBreakerSettings {
            max_enforced_per_hour: LIMIT,
        }),
        ..Settings::default()
    };

    let hour = chrono_hour();
    let t0 = Instant::now();
    let mut first: HashMap<&'static str, usize> = HashMap::new();
    for event in &events {
        let r = responder.handle(event, &settings).await;
        *first.entry(r.outcome.as_str()).or_default() += 1;
    }
    let mut again: HashMap<&'static str, usize> = HashMap::new();
    for event in events.iter().take(REDELIVERIES) {
        let r = responder.handle(event, &settings).await;
        *again.entry(r.outcome.as_str()).or_default() += 1;
    }
    let wall = t0.elapsed();
    let crossed_an_hour = chrono_hour() != hour;

    let held = DynamoHeldFindings::from_conf(&sdk, TABLE)
        .list()
        .await
        .expect("list held findings");
    let contained_users = count_contained(&iam, &principals).await;
    let get = |m: &HashMap<&str, usize>, k: &str| m.get(k).copied().unwrap_or(0);
    let (contained, already, held_first) = (
        get(&first, "contained"),
        get(&first, "already_contained"),
        get(&first, "held"),
    );
    let lost = FINDINGS - contained - already - held_first;

    println!("| storm: {FINDINGS} findings for {PRINCIPALS} principals + {REDELIVERIES} redeliveries, breaker at {LIMIT}/h | figure |");
    println!("| --- | --- |");
    println!("| contained (first delivery) | {contained} |");
    println!(
        "| already contained (a later finding for a contained principal: no write) | {already} |"
    );
    println!(
        "| held (breaker open: kept with the event, listed by `deadbolt held`) | {held_first} |"
    );
    println!("| held items in the table | {} |", held.len());
    println!("| lost (no containment and not held) | {lost} |");
    println!("| principals carrying deadbolt's DenyAll afterwards | {contained_users} |");
    println!(
        "| redeliveries: {:?} | contained again: {} |",
        sorted(&again),
        get(&again, "contained")
    );
    println!(
        "| wall time, {} events, one at a time | {:.1} s ({:.1} ms/event) |",
        FINDINGS + REDELIVERIES,
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1e3 / (FINDINGS + REDELIVERIES) as f64
    );
    println!(
        "| peak RSS of this process (engine, SDK clients, 1,000 events in memory) | {:.1} MiB |",
        peak_rss_kib() as f64 / 1024.0
    );
    if crossed_an_hour {
        println!("(the run crossed a UTC hour: the shared breaker count restarted, so more than {LIMIT} may be contained)");
    }
    let ok = lost == 0
        && held.len() == held_first
        && get(&again, "contained") == 0
        && (crossed_an_hour || (contained == LIMIT as usize && contained_users == LIMIT as usize));
    if !ok {
        eprintln!("storm invariants violated: {first:?} / {again:?}");
        std::process::exit(1);
    }
}

fn sorted(m: &HashMap<&'static str, usize>) -> Vec<(&'static str, usize)> {
    let mut v: Vec<_> = m.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort();
    v
}

fn chrono_hour() -> i64 {
    deadbolt_core::clock::now_ms() / 3_600_000
}

async fn count_contained(iam: &aws_sdk_iam::Client, principals: &[Principal]) -> usize {
    let mut n = 0;
    for p in principals {
        if iam
            .get_user_policy()
            .user_name(&p.name)
            .policy_name("DenyAll")
            .send()
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    n
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
