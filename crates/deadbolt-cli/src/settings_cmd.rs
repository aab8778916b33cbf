//! `deadbolt config show | validate FILE | set KEY VALUE`: the runtime settings document in SSM.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use deadbolt_aws::{load_config, AwsOptions, SsmSettingsStore};
use deadbolt_core::runtime::SettingsStore;
use deadbolt_core::settings::Settings;

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
            if json {
                println!("{}", settings.to_json_pretty());
            } else {
                println!("# source: {origin}");
                println!("{}", settings.to_json_pretty());
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set { key, value, json } => {
            let store = SsmSettingsStore::from_conf(&load_config(options).await, parameter);
            let mut settings = match store.load().await? {
                Some(text) => match Settings::parse(&text) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("deadbolt: the document in {parameter} is invalid ({e}); fix it with `deadbolt config validate` and put it whole");
                        return Ok(ExitCode::from(1));
                    }
                },
                // The first `set` starts from the defaults, not from this shell's environment.
                None => Settings::default(),
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
