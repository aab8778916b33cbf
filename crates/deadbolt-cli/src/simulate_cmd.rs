//! `deadbolt simulate`: what deadbolt would have done with the account's real GuardDuty
//! history. Reads GuardDuty (`ListFindings`, `GetFindings`), the settings (a candidate file, or
//! the document in force) and, without `--account`, the caller identity; writes nothing: every
//! decision is the responder's pure one, simulated by `deadbolt_core::simulate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use deadbolt_aws::{load_config, AwsGuardDuty, AwsOptions, StsIdentity};
use deadbolt_core::ports::IdentityProvider;
use deadbolt_core::runtime::{ConfigOrigin, RuntimeConfig};
use deadbolt_core::simulate::simulate;
use deadbolt_core::{AccountContext, Settings};

pub struct SimulateArgs {
    pub since: String,
    pub settings: Option<PathBuf>,
    pub account: Option<String>,
    pub json: bool,
}

/// Why the arguments cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("--since {0:?} is neither a duration (30d, 12h, 90m) nor an RFC 3339 time (2026-11-01T00:00:00Z)")]
    Since(String),
    #[error("--account {0:?} is not a 12-digit AWS account id")]
    Account(String),
    #[error("{path}: {error}")]
    Settings { path: String, error: String },
}

/// `--since`: a duration back from `now_ms`, or an absolute RFC 3339 time; epoch milliseconds.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, UsageError> {
    let t = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(at.timestamp_millis());
    }
    let unit: i64 = match t.chars().last() {
        Some('d') => 86_400_000,
        Some('h') => 3_600_000,
        Some('m') => 60_000,
        _ => return Err(UsageError::Since(text.to_string())),
    };
    let n: i64 = t[..t.len() - 1]
        .parse()
        .ok()
        .filter(|n| (1..=3650 * 24 * 60).contains(n))
        .ok_or_else(|| UsageError::Since(text.to_string()))?;
    Ok(now_ms - n * unit)
}

pub async fn run(
    options: &AwsOptions,
    parameter: &str,
    args: SimulateArgs,
) -> anyhow::Result<ExitCode> {
    let now = deadbolt_core::clock::now_ms();
    let since_ms = match parse_since(&args.since, now) {
        Ok(ms) => ms,
        Err(e) => return Ok(usage(e)),
    };
    if let Some(a) = &args.account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(usage(UsageError::Account(a.clone())));
        }
    }
    let sdk = load_config(options).await;
    let (settings, source) = match &args.settings {
        Some(path) => match candidate(path) {
            Ok(s) => (s, path.display().to_string()),
            Err(e) => return Ok(usage(e)),
        },
        None => in_force(&sdk, parameter).await,
    };
    let account = match &args.account {
        Some(id) => AccountContext {
            account_id: id.clone(),
            own_identity: None,
            unreserved_roles: Vec::new(),
        },
        None => {
            let me = StsIdentity::from_conf(&sdk)
                .caller_identity()
                .await
                .map_err(|e| anyhow::anyhow!("could not establish the account (sts:GetCallerIdentity: {e}); name it with --account"))?;
            AccountContext::from_caller(&me.account_id, &me.arn)
        }
    };
    let since = deadbolt_core::strategy::format_rfc3339_utc(since_ms.div_euclid(1000));
    eprintln!(
        "deadbolt: simulating account {} since {since} with settings from {source}; nothing is written",
        account.account_id
    );
    let gd = AwsGuardDuty::from_conf(&sdk);
    let ids = gd
        .list_finding_ids(since_ms, args.account.as_deref(), |n| {
            eprintln!("deadbolt: listed {n} finding id(s)");
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("could not list GuardDuty findings (guardduty:ListFindings: {e})")
        })?;
    let total = ids.len();
    let (findings, unreadable) = gd
        .get_findings_batched(&ids, |n| eprintln!("deadbolt: read {n}/{total} finding(s)"))
        .await
        .map_err(|e| {
            anyhow::anyhow!("could not read GuardDuty findings (guardduty:GetFindings: {e})")
        })?;
    for u in &unreadable {
        eprintln!("deadbolt: left out finding {}: {}", u.id, u.error);
    }
    let mut report = simulate(&findings, &settings, &account, &since, &source);
    report.summary.unreadable = unreadable.len();
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

fn usage(e: UsageError) -> ExitCode {
    eprintln!("deadbolt: {e}");
    ExitCode::from(2)
}

/// A candidate settings document, validated exactly as `config validate` does.
fn candidate(path: &Path) -> Result<Settings, UsageError> {
    let err = |error: String| UsageError::Settings {
        path: path.display().to_string(),
        error,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Settings::parse(&text).map_err(|e| err(e.to_string()))
}

/// The settings the functions have in force, as `replay` reads them: the stored document (or
/// its newest valid version), else the `DEADBOLT_*` environment.
async fn in_force(sdk: &aws_config::SdkConfig, parameter: &str) -> (Settings, String) {
    let environment = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("deadbolt: the DEADBOLT_* environment is invalid ({e}); using the defaults");
            Settings::default()
        }
    };
    let store = deadbolt_aws::SsmSettingsStore::from_conf(sdk, parameter);
    let mut runtime = RuntimeConfig::new(environment.clone(), 0);
    runtime
        .refresh(&store, deadbolt_core::clock::now_ms())
        .await;
    match (runtime.current(), runtime.origin()) {
        (Ok(s), ConfigOrigin::Document) => {
            (s.clone(), format!("the settings document {parameter}"))
        }
        (Ok(s), ConfigOrigin::LastGood { error, version }) => {
            eprintln!("deadbolt: the settings document {parameter} is invalid ({error}); the functions use its newest valid version, and so does this simulation");
            let v = version.map_or("last good".to_string(), |v| format!("version {v}"));
            (
                s.clone(),
                format!("the settings document {parameter} ({v})"),
            )
        }
        (Ok(s), ConfigOrigin::DryRunFallback { error }) => {
            eprintln!("deadbolt: the settings document {parameter} is invalid ({error}) and no version is valid: the functions run dry-run on the environment");
            (
                s.clone(),
                "the DEADBOLT_* environment (dry-run fallback)".to_string(),
            )
        }
        (Ok(s), _) => (s.clone(), "the DEADBOLT_* environment".to_string()),
        (Err(e), _) => {
            eprintln!(
                "deadbolt: could not read the settings document {parameter} ({}); simulating with the DEADBOLT_* environment",
                e.error.lines().next().unwrap_or("")
            );
            (environment, "the DEADBOLT_* environment".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_back_or_a_time() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_since("30d", now).unwrap(), now - 30 * 86_400_000);
        assert_eq!(parse_since("12h", now).unwrap(), now - 12 * 3_600_000);
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now).unwrap(),
            1_793_491_200_000
        );
        for bad in ["30", "d", "-1d", "0d", "soon", "1.5d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
