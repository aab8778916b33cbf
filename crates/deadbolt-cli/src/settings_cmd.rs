//! `deadbolt config show | validate FILE | set KEY VALUE | history`: the runtime settings
//! document in SSM.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use deadbolt_aws::{load_config, AwsOptions, SsmSettingsStore};
use deadbolt_core::runtime::{newest_valid, SettingsStore, StoredVersion, MAX_HISTORY_VERSIONS};
use deadbolt_core::settings::{Change, Settings};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the settings in force: the stored document, or the DEADBOLT_* environment fallback.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Check a settings document file; exact line, key and accepted values on error.
    Validate {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Change one key of the stored document (validated before it is written), e.g.
    /// `deadbolt config set mode enforce`.
    Set {
        key: String,
        value: String,
        /// Print the document as written.
        #[arg(long)]
        json: bool,
        /// Only when the parameter does not exist: create it from this shell's DEADBOLT_*
        /// environment (printed) plus this change. Without it a missing document is refused.
        #[arg(long)]
        from_env: bool,
    },
    /// Each stored version, newest first: when, who (the IAM identity), valid or why not, and
    /// what changed against the version before it; marks the one the functions use.
    History {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(
    options: &AwsOptions,
    parameter: &str,
    command: ConfigCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Validate { file, json } => Ok(validate(&file, json)),
        ConfigCommand::Show { json } => {
            let store = SsmSettingsStore::from_conf(&load_config(options).await, parameter);
            let (settings, origin) = match store.load().await? {
                Some(text) => match Settings::parse(&text) {
                    Ok(s) => (s, format!("SSM parameter {parameter}")),
                    Err(e) => {
                        eprintln!("deadbolt: the document in {parameter} is INVALID and is not used for enforcement: {e}");
                        let fallback = match store.history(MAX_HISTORY_VERSIONS).await {
                            Ok(versions) => match newest_valid(&versions) {
                                Some((v, _)) => format!("its newest valid version, {v}, is in force"),
                                None => "no version is valid: the functions run in dry-run on their DEADBOLT_* environment".into(),
                            },
                            Err(e) => format!("its history could not be read ({e})"),
                        };
                        eprintln!("deadbolt: {fallback}; see `deadbolt config history`");
                        return Ok(ExitCode::from(1));
                    }
                },
                None => match Settings::from_env() {
                    Ok(c) => (
                        c,
                        format!("DEADBOLT_* environment ({parameter} is not set)"),
                    ),
                    Err(e) => {
                        eprintln!("deadbolt: invalid configuration: {e}");
                        return Ok(ExitCode::from(2));
                    }
                },
            };
            for warning in settings.warnings() {
                eprintln!("deadbolt: WARNING: {warning}");
            }
            if json {
                println!("{}", settings.to_json_pretty());
            } else {
                println!("# source: {origin}");
                for warning in settings.warnings() {
                    println!("# WARNING: {warning}");
                }
                println!("{}", settings.to_json_pretty());
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::History { json } => {
            let store = SsmSettingsStore::from_conf(&load_config(options).await, parameter);
            let versions = store.history(MAX_HISTORY_VERSIONS).await?;
            print_history(parameter, &versions, json);
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set {
            key,
            value,
            json,
            from_env,
        } => {
            let store = SsmSettingsStore::from_conf(&load_config(options).await, parameter);
            let mut settings = match (store.load().await?, from_env) {
                (Some(_), true) => {
                    eprintln!("deadbolt: {parameter} exists; --from-env only creates a missing document (drop the flag to change this key in the stored one)");
                    return Ok(ExitCode::from(2));
                }
                (Some(text), false) => match Settings::parse(&text) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("deadbolt: the document in {parameter} is invalid ({e}); fix it with `deadbolt config validate` and put it whole");
                        return Ok(ExitCode::from(1));
                    }
                },
                // Never from empty defaults: they would drop the protections the functions
                // have from their environment (e.g. protected_principals: break-glass-*).
                (None, false) => {
                    eprintln!("deadbolt: the settings parameter {parameter} does not exist; the stack creates it from its parameters, so check --config-parameter and the region. To create it deliberately from this shell's DEADBOLT_* environment plus this change: deadbolt config set --from-env {key} {value}");
                    return Ok(ExitCode::from(2));
                }
                (None, true) => match Settings::from_env() {
                    Ok(s) => {
                        eprintln!("deadbolt: {parameter} does not exist; starting from this shell's DEADBOLT_* environment:");
                        eprintln!("{}", s.to_json_pretty());
                        s
                    }
                    Err(e) => {
                        eprintln!("deadbolt: invalid configuration: {e}");
                        return Ok(ExitCode::from(2));
                    }
                },
            };
            if let Err(e) = settings.set(&key, &value) {
                eprintln!("deadbolt: {e}");
                return Ok(ExitCode::from(2));
            }
            let document = settings.to_json_pretty();
            // Belt and braces: never write a document the function would refuse.
            if let Err(e) = Settings::parse(&document) {
                eprintln!("deadbolt: refusing to write an invalid document: {e}");
                return Ok(ExitCode::from(1));
            }
            store.store(&document).await?;
            if json {
                println!("{document}");
            } else {
                println!("{key} = {value} written to {parameter}; the functions pick it up within their TTL (default 60 s)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(file: &Path, json: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("deadbolt: cannot read {}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    let result = Settings::parse(&text);
    if json {
        let error = result.as_ref().err().map(|e| e.to_string());
        println!(
            "{}",
            serde_json::json!({"file": file.display().to_string(), "valid": error.is_none(), "error": error})
        );
    }
    match result {
        Ok(_) => {
            if !json {
                println!("{}: valid", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("deadbolt: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

/// `config history`: newest first. Each valid version is compared with the next older valid
/// one (what changed in force); an invalid one shows its error and is never in force.
fn print_history(parameter: &str, versions: &[StoredVersion], json: bool) {
    let parsed: Vec<Result<Settings, String>> = versions
        .iter()
        .map(|v| Settings::parse(&v.value).map_err(|e| e.to_string()))
        .collect();
    let in_force = newest_valid(versions).map(|(v, _)| v);
    // Fewer than the limit: the oldest shown is the parameter's first version.
    let complete = versions.len() < MAX_HISTORY_VERSIONS;
    // (compared_with, changes) for each valid version that has a valid one before it.
    let diffs: Vec<Option<(i64, Vec<Change>)>> = (0..versions.len())
        .map(|i| {
            let settings = parsed[i].as_ref().ok()?;
            let (older, before) = versions[i + 1..]
                .iter()
                .zip(&parsed[i + 1..])
                .find_map(|(o, p)| p.as_ref().ok().map(|p| (o.version, p)))?;
            Some((older, before.diff(settings)))
        })
        .collect();
    let time = |v: &StoredVersion| {
        v.modified_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    if json {
        // Structs, not `json!` maps: the key order must not depend on which serde_json
        // features a build unifies (the golden file pins it).
        #[derive(serde::Serialize)]
        struct Row<'a> {
            changes: Option<&'a Vec<Change>>,
            compared_with: Option<&'a i64>,
            error: Option<&'a String>,
            in_force: bool,
            modified_at: Option<String>,
            modified_by: &'a Option<String>,
            valid: bool,
            version: i64,
        }
        #[derive(serde::Serialize)]
        struct Out<'a> {
            complete: bool,
            in_force: Option<i64>,
            parameter: &'a str,
            versions: Vec<Row<'a>>,
        }
        let rows: Vec<Row> = versions
            .iter()
            .zip(&parsed)
            .zip(&diffs)
            .map(|((v, settings), diff)| Row {
                changes: diff.as_ref().map(|(_, c)| c),
                compared_with: diff.as_ref().map(|(n, _)| n),
                error: settings.as_ref().err(),
                in_force: in_force == Some(v.version),
                modified_at: time(v),
                modified_by: &v.modified_by,
                valid: settings.is_ok(),
                version: v.version,
            })
            .collect();
        let out = Out {
            complete,
            in_force,
            parameter,
            versions: rows,
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    if versions.is_empty() {
        println!("{parameter} does not exist: the functions use their DEADBOLT_* environment");
        return;
    }
    if in_force.is_none() {
        println!("no valid version: the functions run in dry-run on their DEADBOLT_* environment");
    }
    for ((v, settings), diff) in versions.iter().zip(&parsed).zip(&diffs) {
        let when = time(v).unwrap_or_else(|| "(time unknown)".into());
        let who = v.modified_by.as_deref().unwrap_or("(identity unknown)");
        let state = match settings {
            Ok(_) if in_force == Some(v.version) => "valid, IN FORCE",
            Ok(_) => "valid",
            Err(_) => "INVALID, never in force",
        };
        println!("version {}  {when}  {who}  {state}", v.version);
        match (settings, diff) {
            (Err(e), _) => println!("  {e}"),
            (Ok(_), Some((older, changes))) if changes.is_empty() => {
                println!("  no change against version {older}")
            }
            (Ok(_), Some((older, changes))) => {
                println!("  against version {older}:");
                for change in changes {
                    println!("    {change}");
                }
            }
            (Ok(_), None) if complete => println!("  first valid version"),
            (Ok(_), None) => println!("  older versions not shown"),
        }
    }
}
