//! `deadbolt`: the operator's command line. Every command runs the same library code as the
//! Lambdas; the CLI only parses arguments, builds clients and prints.
//!
//! Exit codes: 0 a decision was made (whatever it was); 1 an operational error (unreadable
//! file, AWS unreachable before a decision); 2 rejected input or bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deadbolt_aws::{load_config, AwsOptions, IamInlinePolicies, StsIdentity};
use deadbolt_core::{Config, Mode, Outcome, Responder};

#[derive(Parser)]
#[command(
    name = "deadbolt",
    version,
    about = "GuardDuty IAM auto-responder: replay findings, contain principals"
)]
struct Cli {
    /// Send AWS requests here instead of the default endpoints (also AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// AWS region (also AWS_REGION); IAM is global, so this only matters for signing.
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named profile from the shared AWS config (also AWS_PROFILE).
    #[arg(long, global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the responder's decision on a finding file, exactly as the Lambda would.
    /// Dry-run unless --enforce; other settings come from the DEADBOLT_* environment variables.
    Replay {
        /// An EventBridge event with a GuardDuty finding (`-` for standard input).
        finding: PathBuf,
        /// Write the DenyAll policy if the decision is to contain.
        #[arg(long)]
        enforce: bool,
        /// Print the decision record as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("deadbolt: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let options = AwsOptions {
        endpoint_url: cli.endpoint_url,
        region: cli.region,
        profile: cli.profile,
    };
    match cli.command {
        Command::Replay {
            finding,
            enforce,
            json,
        } => {
            let raw = if finding.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&finding)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", finding.display()))?
            };
            let mut config = match Config::from_env() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("deadbolt: invalid configuration: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            // The CLI's mode is the flag, never the environment: a replay only enforces when
            // the operator typed --enforce.
            config.mode = if enforce { Mode::Enforce } else { Mode::DryRun };
            let sdk = load_config(&options).await;
            let responder = Responder::new(
                config,
                IamInlinePolicies::from_conf(&sdk),
                StsIdentity::from_conf(&sdk),
            );
            let record = responder.handle(&raw).await;
            if record.outcome == Outcome::Rejected {
                eprintln!("deadbolt: {}", record.message);
                if json {
                    println!("{}", record.to_json());
                }
                return Ok(ExitCode::from(2));
            }
            if json {
                println!("{}", record.to_json());
            } else {
                print!("{}", record.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
