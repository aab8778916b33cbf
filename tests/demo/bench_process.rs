//! Whole-process figures, run by scripts/bench.sh on the release build; prints Markdown tables.
//!
//! 1. The responder binary through the Lambda Runtime API against moto on loopback: cold start
//!    to first decision, a warm invocation, peak RSS, binary size.
//! 2. One enforced containment in one process, as a new user measures it: `deadbolt replay
//!    FINDING --enforce` against the same moto and GuardDuty stand-in as a plain Python/boto3
//!    responder doing the same containment (`scripts/bench/boto3_responder.py`), each run
//!    interleaved, wall time and peak RSS of the child process (`deadbolt-bench-measure`, whose
//!    module comment says why it is not Python).
//!
//! With `DEADBOLT_BENCH_BASELINE=DIR` (a directory holding another build's `responder` and
//! `deadbolt`, which scripts/bench.sh builds from a git ref), every figure is measured for both
//! builds in the same run, side by side with the ratio, and the process exits 1 when this
//! build is slower than the baseline beyond noise (medians: time +25 %, peak RSS +10 %).

use std::path::{Path, PathBuf};
use std::time::Instant;

use deadbolt_e2e::runtime_api::{built_binary, target_dir, LambdaHarness};
use deadbolt_e2e::{finding_for, repo_root, Moto};

/// Fresh processes per figure (`DEADBOLT_BENCH_RUNS` overrides, for a quick look).
const RUNS: usize = 7;
/// Beyond these, a difference from the baseline is a regression, not noise (the machine is
/// shared: run-to-run variation of medians is of the order of 10-20 %).
const TIME_NOISE: f64 = 1.25;
const RSS_NOISE: f64 = 1.10;

/// One build's binaries.
#[derive(Clone)]
struct Build {
    name: &'static str,
    responder: PathBuf,
    cli: PathBuf,
}

#[derive(Default)]
struct Figures {
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    lambda_rss_kib: Vec<f64>,
    replay_ms: Vec<f64>,
    replay_rss_kib: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let current = Build {
        name: "this build",
        responder: built_binary("responder"),
        cli: built_binary("deadbolt"),
    };
    let baseline = std::env::var_os("DEADBOLT_BENCH_BASELINE")
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            let dir = PathBuf::from(dir);
            Build {
                name: "baseline",
                responder: dir.join("responder"),
                cli: dir.join("deadbolt"),
            }
        });
    let builds: Vec<Build> = std::iter::once(current).chain(baseline).collect();
    let mut figures: Vec<Figures> = builds.iter().map(|_| Figures::default()).collect();
    let mut python_ms = Vec::new();
    let mut python_rss = Vec::new();
    let runs = std::env::var("DEADBOLT_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(RUNS);

    for run in 0..runs {
        let moto = Moto::start().await;
        warm_moto(&moto).await;
        // Which build goes first alternates: the first process after a fresh moto is slower
        // whichever build it is (measured: the same binary, 162.7 ms first against 138.4 ms
        // second), which made "this build" look ~20 % slower to start in every run until
        // session 13.
        let mut order: Vec<usize> = (0..builds.len()).collect();
        order.rotate_left(run % builds.len());
        for i in order {
            let build = &builds[i];
            let (cold, warm, rss) = lambda_run(&moto, build, run, i).await;
            figures[i].cold_ms.push(cold);
            figures[i].warm_ms.push(warm);
            figures[i].lambda_rss_kib.push(rss);
            let (ms, rss) = replay_run(&moto, build, &format!("replay{run}x{i}")).await;
            figures[i].replay_ms.push(ms);
            figures[i].replay_rss_kib.push(rss);
        }
        let (ms, rss) = python_run(&moto, &format!("boto{run}")).await;
        python_ms.push(ms);
        python_rss.push(rss);
    }

    let med = |v: &[f64]| median(v.to_vec());
    println!("**The responder under the Lambda Runtime API** (median of {runs} fresh processes)\n");
    print!("| figure |");
    for b in &builds {
        print!(" {} |", b.name);
    }
    if builds.len() > 1 {
        print!(" ratio |");
    }
    println!();
    println!(
        "|---|{}",
        "---|".repeat(builds.len() + usize::from(builds.len() > 1))
    );
    let mut regressions = Vec::new();
    let mut row = |label: &str, values: Vec<f64>, unit: &str, noise: f64| {
        print!("| {label} |");
        for v in &values {
            print!(" {v:.1} {unit} |");
        }
        if let [now, before] = values[..] {
            let ratio = now / before;
            print!(" {ratio:.2}× |");
            if ratio > noise {
                regressions.push(format!(
                    "{label}: {now:.1} {unit} against {before:.1} {unit} ({ratio:.2}×)"
                ));
            }
        }
        println!();
    };
    row(
        "start-up to first decision (process spawn → contained record, emulator hop included)",
        figures.iter().map(|f| med(&f.cold_ms)).collect(),
        "ms",
        TIME_NOISE,
    );
    row(
        "warm invocation (event → contained record, `cargo lambda invoke` included)",
        figures.iter().map(|f| med(&f.warm_ms)).collect(),
        "ms",
        TIME_NOISE,
    );
    row(
        "peak RSS of the function process (VmHWM)",
        figures
            .iter()
            .map(|f| med(&f.lambda_rss_kib) / 1024.0)
            .collect(),
        "MiB",
        RSS_NOISE,
    );
    row(
        "one containment in one process: `deadbolt replay FINDING --enforce`, wall time",
        figures.iter().map(|f| med(&f.replay_ms)).collect(),
        "ms",
        TIME_NOISE,
    );
    row(
        "one containment in one process: peak RSS",
        figures
            .iter()
            .map(|f| med(&f.replay_rss_kib) / 1024.0)
            .collect(),
        "MiB",
        RSS_NOISE,
    );
    for b in &builds {
        let size = std::fs::metadata(&b.responder)
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "\n{}: `responder` {:.2} MB, `deadbolt` {:.2} MB (stripped)",
            b.name,
            size as f64 / 1e6,
            std::fs::metadata(&b.cli).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
        );
    }

    let (py_ms, py_rss) = (med(&python_ms), med(&python_rss) / 1024.0);
    let (rs_ms, rs_rss) = (
        med(&figures[0].replay_ms),
        med(&figures[0].replay_rss_kib) / 1024.0,
    );
    println!(
        "\n**One enforced containment in one process, against a plain Python/boto3 responder** (same moto, same GuardDuty stand-in, same finding shape; median of {runs}, interleaved)\n"
    );
    println!("| | wall time | peak RSS |");
    println!("|---|---|---|");
    println!("| `deadbolt replay FINDING --enforce` | {rs_ms:.1} ms | {rs_rss:.1} MiB |");
    println!("| `scripts/bench/boto3_responder.py FINDING` | {py_ms:.1} ms | {py_rss:.1} MiB |");
    println!(
        "| ratio | {:.1}× faster | {:.1}× less memory |",
        py_ms / rs_ms,
        py_rss / rs_rss
    );

    heap_profile(&builds).await;

    if !regressions.is_empty() {
        eprintln!("\nREGRESSION against the baseline (beyond noise):");
        for r in &regressions {
            eprintln!("  {r}");
        }
        std::process::exit(1);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// moto imports each service's Python module on its first request (hundreds of ms for SSM):
/// touch every service once so the figures are deadbolt's, not moto's first import.
async fn warm_moto(moto: &Moto) {
    use deadbolt_core::runtime::SettingsStore;
    let store = deadbolt_aws::SsmSettingsStore::from_conf(
        &moto.sdk_config(&moto.admin),
        "/deadbolt/config",
    );
    let _ = store.load().await;
    let _ = moto
        .sts(&moto.admin, None)
        .get_caller_identity()
        .send()
        .await;
}

async fn lambda_run(moto: &Moto, build: &Build, run: usize, i: usize) -> (f64, f64, f64) {
    let attacker = moto
        .create_attacker_user(&format!("mallory{run}x{i}"))
        .await;
    let second = moto.create_attacker_user(&format!("trudy{run}x{i}")).await;
    let mut env = moto.binary_env();
    env.push(("DEADBOLT_MODE", "enforce".to_string()));
    let first = finding_for("cloudtrail-logging-disabled.json", &attacker.principal);
    let next = finding_for("malicious-ip-caller.json", &second.principal);
    moto.confirm(&first);
    moto.confirm(&next);
    let log = std::env::temp_dir().join(format!("deadbolt-bench-{run}-{i}.log"));
    let binary = build.responder.clone();
    let (c, w, r) = tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let lambda = LambdaHarness::start(&binary, &env, log);
        let record = lambda.invoke(&first).expect("first invocation");
        let cold = t0.elapsed();
        assert_eq!(record["outcome"], "contained", "{record}");
        let t1 = Instant::now();
        let record = lambda.invoke(&next).expect("warm invocation");
        let warm = t1.elapsed();
        assert_eq!(record["outcome"], "contained", "{record}");
        (cold, warm, lambda.peak_rss_kib())
    })
    .await
    .expect("bench thread");
    (c.as_secs_f64() * 1e3, w.as_secs_f64() * 1e3, r as f64)
}

/// A finding about a fresh user in a file, confirmed by the GuardDuty stand-in.
async fn finding_file(moto: &Moto, user: &str) -> PathBuf {
    let attacker = moto.create_attacker_user(user).await;
    let event = finding_for("cloudtrail-logging-disabled.json", &attacker.principal);
    moto.confirm(&event);
    let path = std::env::temp_dir().join(format!("deadbolt-bench-{user}.json"));
    std::fs::write(&path, event).expect("finding file");
    path
}

/// `deadbolt-bench-measure` on `command` with moto's environment: (ms, peak RSS KiB).
fn measured(moto: &Moto, command: &[&Path]) -> (f64, f64) {
    let out = std::process::Command::new(built_binary("deadbolt-bench-measure"))
        .args(command)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(moto.binary_env())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // botocore reads the region from AWS_DEFAULT_REGION only.
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("DEADBOLT_MODE", "enforce")
        .output()
        .expect("deadbolt-bench-measure runs");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "deadbolt-bench-measure: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        figures["rc"],
        0,
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        figures["ms"].as_f64().unwrap_or(f64::NAN),
        figures["rss_kib"].as_f64().unwrap_or(f64::NAN),
    )
}

async fn replay_run(moto: &Moto, build: &Build, user: &str) -> (f64, f64) {
    let file = finding_file(moto, user).await;
    let enforce = PathBuf::from("--enforce");
    let replay = PathBuf::from("replay");
    let figures = measured(moto, &[&build.cli, &replay, &file, &enforce]);
    assert!(
        moto.user_policy(user, "DenyAll").await.is_some(),
        "deadbolt replay contained {user}"
    );
    figures
}

async fn python_run(moto: &Moto, user: &str) -> (f64, f64) {
    let file = finding_file(moto, user).await;
    let python = deadbolt_e2e::moto::venv().join("bin/python");
    let script = repo_root().join("scripts/bench/boto3_responder.py");
    let figures = measured(moto, &[&python, &script, &file]);
    assert!(
        moto.user_policy(user, "DenyAll").await.is_some(),
        "the boto3 responder contained {user}"
    );
    figures
}

/// Where the memory of one containment goes: `deadbolt replay FINDING --enforce` of each build
/// under heaptrack (when installed: `apt-get install heaptrack`), its peak heap beside the
/// process's peak RSS, and the allocation sites live at the peak. The release binaries are
/// stripped, so the sites are named from one more run of the debug build (same code, same
/// allocations; only futures and stack frames are larger in debug).
async fn heap_profile(builds: &[Build]) {
    let found = std::process::Command::new("heaptrack")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!(
            "\n(heap profile skipped: heaptrack is not installed; `apt-get install heaptrack`)"
        );
        return;
    }
    let moto = Moto::start().await;
    warm_moto(&moto).await;
    let dir = target_dir().join("bench-heaptrack");
    let _ = std::fs::create_dir_all(&dir);
    let debug_cli = target_dir().join("debug/deadbolt");
    let mut runs: Vec<(String, PathBuf)> = builds
        .iter()
        .map(|b| (b.name.replace(' ', "-"), b.cli.clone()))
        .collect();
    if debug_cli.exists() {
        runs.push(("debug-build-for-names".into(), debug_cli));
    }
    println!("\n**Heap of one containment** (`heaptrack deadbolt replay FINDING --enforce`)\n");
    for (name, cli) in runs {
        let user = format!("heap{}", name.replace('-', ""));
        let file = finding_file(&moto, &user).await;
        let out = dir.join(&name);
        let _ = std::fs::remove_file(dir.join(format!("{name}.zst")));
        let status = std::process::Command::new("heaptrack")
            .arg("-o")
            .arg(&out)
            .arg(&cli)
            .args([Path::new("replay"), &file, Path::new("--enforce")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(moto.binary_env())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("DEADBOLT_MODE", "enforce")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            println!("- {name}: heaptrack run failed");
            continue;
        }
        let data = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}.")) && !n.ends_with(".txt"))
            });
        let Some(data) = data else {
            println!("- {name}: no heaptrack data");
            continue;
        };
        let report = std::process::Command::new("heaptrack_print")
            .arg("-f")
            .arg(&data)
            .args([
                "--print-peaks",
                "1",
                "--peak-limit",
                "12",
                "--print-allocators",
                "0",
            ])
            .args([
                "--print-temporary",
                "0",
                "--print-leaks",
                "0",
                "--merge-backtraces",
                "0",
            ])
            .output();
        let Ok(report) = report else {
            println!("- {name}: heaptrack_print failed");
            continue;
        };
        let text = String::from_utf8_lossy(&report.stdout).into_owned();
        let txt = dir.join(format!("{name}.txt"));
        let _ = std::fs::write(&txt, &text);
        let summary: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("total runtime")
                    || l.starts_with("calls to allocation functions")
                    || l.starts_with("peak heap memory consumption")
                    || l.starts_with("peak RSS")
                    || l.starts_with("total memory leaked")
            })
            .collect();
        println!(
            "- {name}: {} (sites: {})",
            summary.join("; "),
            txt.display()
        );
    }
}
