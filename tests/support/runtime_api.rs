//! The built Lambda binary, driven through the Lambda Runtime API that `cargo lambda watch
//! --only-lambda-apis` serves on loopback, with events sent by `cargo lambda invoke`: the same
//! protocol AWS Lambda speaks to the function in production.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::repo_root;
use crate::tools::Tool;

/// A binary the workspace's one `cargo build` produced.
/// The one target directory: `CARGO_TARGET_DIR` when set (a worktree sharing the main one's).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

pub fn built_binary(name: &str) -> PathBuf {
    let target = target_dir();
    let profile = std::env::var("DEADBOLT_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target.join(profile).join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

pub struct LambdaHarness {
    emulator: Child,
    function: Child,
    port: u16,
    pub log_path: PathBuf,
}

impl Drop for LambdaHarness {
    fn drop(&mut self) {
        let _ = self.function.kill();
        let _ = self.function.wait();
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

fn wait_for(port: u16) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listened on {addr} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl LambdaHarness {
    /// Start the runtime API emulator and the function binary with these environment variables.
    pub fn start(binary: &Path, env: &[(&str, String)], log_path: PathBuf) -> LambdaHarness {
        // Tests check first with `require_tools!(CargoLambda)`.
        let cargo_lambda = Tool::CargoLambda.path();
        assert!(
            cargo_lambda.exists(),
            "{} not found: scripts/test.sh creates the virtualenv with the pinned cargo-lambda",
            cargo_lambda.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let emulator = Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch starts");
        wait_for(port);
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let function = cmd.spawn().expect("function binary starts");
        LambdaHarness {
            emulator,
            function,
            port,
            log_path,
        }
    }

    /// Invoke the function with one event. `Ok(response)` or `Err(error text)`.
    pub fn invoke(&self, payload: &str) -> Result<serde_json::Value, String> {
        let file = std::env::temp_dir().join(format!(
            "deadbolt-event-{}-{}.json",
            std::process::id(),
            self.port
        ));
        std::fs::write(&file, payload).expect("event file");
        let out = Command::new(Tool::CargoLambda.path())
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-o",
                "json",
                "--data-file",
            ])
            .arg(&file)
            .current_dir(repo_root())
            .output()
            .expect("cargo lambda invoke runs");
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("response is not JSON: {e}"))
    }

    /// Peak resident set size of the function process so far (Linux `VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.function.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The function's log lines so far, parsed (JSON logs).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
