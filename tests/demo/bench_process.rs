//! Whole-process figures for the responder binary: cold start to first decision (through the
//! Lambda Runtime API, against moto on loopback), warm invocations, peak RSS, binary size.
//! Run by scripts/bench.sh on the release build; prints a Markdown table.

use std::time::Instant;

use deadbolt_e2e::runtime_api::{built_binary, LambdaHarness};
use deadbolt_e2e::{finding_for, Moto};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let binary = built_binary("responder");
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut rss = Vec::new();
    for run in 0..RUNS {
        let moto = Moto::start().await;
        let user = format!("mallory{run}");
        let attacker = moto.create_attacker_user(&user).await;
        let second = moto.create_attacker_user(&format!("trudy{run}")).await;
        let mut env = moto.binary_env();
        env.push(("DEADBOLT_MODE", "enforce".to_string()));
        // moto imports each service's Python module on its first request (hundreds of ms for
        // SSM); touch SSM once so the figure is the function's cold start, not moto's.
        {
            use deadbolt_core::runtime::SettingsStore;
            let warm = deadbolt_aws::SsmSettingsStore::from_conf(
                &moto.sdk_config(&moto.admin),
                "/deadbolt/config",
            );
            let _ = warm.load().await;
        }
        let first = finding_for("cloudtrail-logging-disabled.json", &attacker.principal);
        let next = finding_for("malicious-ip-caller.json", &second.principal);
        moto.confirm(&first);
        moto.confirm(&next);
        let log = std::env::temp_dir().join(format!("deadbolt-bench-{run}.log"));
        let (c, w, r) = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            let lambda = LambdaHarness::start(&binary_path(), &env, log);
            let record = lambda.invoke(&first).expect("first invocation");
            let cold = t0.elapsed();
            assert_eq!(record["outcome"], "contained");
            let t1 = Instant::now();
            let record = lambda.invoke(&next).expect("warm invocation");
            let warm = t1.elapsed();
            assert_eq!(record["outcome"], "contained");
            (cold, warm, lambda.peak_rss_kib())
        })
        .await
        .expect("bench thread");
        cold.push(c.as_secs_f64() * 1e3);
        warm.push(w.as_secs_f64() * 1e3);
        rss.push(r as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!("| figure | median of {RUNS} |");
    println!("| --- | --- |");
    println!("| start-up to first decision (process spawn → contained record, incl. emulator hop, 4 moto calls: SSM settings, STS, IAM read, IAM write, and 2 GuardDuty stand-in calls: ListDetectors, GetFindings concurrent with the IAM read) | {:.1} ms |", median(&mut cold));
    println!("| warm invocation (event → contained record, incl. 2 moto calls, 1 GetFindings concurrent with the read, and the `cargo lambda invoke` process) | {:.1} ms |", median(&mut warm));
    println!(
        "| peak RSS of the function process (VmHWM) | {:.1} MiB |",
        median(&mut rss) / 1024.0
    );
    println!(
        "| binary size ({}) | {:.2} MB |",
        binary.display(),
        size as f64 / 1e6
    );
}

fn binary_path() -> std::path::PathBuf {
    built_binary("responder")
}
