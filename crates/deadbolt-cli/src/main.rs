//! `deadbolt`: the operator's command line. Every command runs the same library code as the
//! Lambdas; the CLI only parses arguments, builds clients and prints.
//!
//! Exit codes: 0 the command did what it reports (for `replay`: a decision was made, whatever it
//! was); 1 an operational or AWS error (unreadable file, a block/unblock that failed); 2 rejected
//! input, invalid configuration or bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod investigation;
mod settings_cmd;
mod simulate_cmd;
use deadbolt_aws::{
    load_config, AwsGuardDuty, AwsIam, AwsIdentityCenter, AwsOptions, DynamoHeldFindings,
    StsIdentity,
};
use deadbolt_core::breaker::Ungated;
use deadbolt_core::containment::{self, BlockState, OperatorCommand, OperatorRecord};
use deadbolt_core::decision::is_long_term_key;
use deadbolt_core::ledger::{self, unreleased, Ledger, LedgerEntry};
use deadbolt_core::policy::DENY_ALL_POLICY_NAME;
use deadbolt_core::ports::{
    GuardDutyFindings, HeldFindings, IamDirectory, IdentityProvider, InlinePolicies,
    NoHeldFindings, NoIdentityCenter,
};
use deadbolt_core::runtime::{ConfigOrigin, RuntimeConfig};
use deadbolt_core::{
    AccountContext, ContainmentTarget, Mode, Outcome, Ports, Responder, Settings, TargetKind,
};
use investigation::EvidenceArgs;

#[derive(Parser)]
#[command(
    name = "deadbolt",
    version,
    about = "GuardDuty IAM auto-responder: replay findings, contain principals"
)]
struct Cli {
    /// Send every AWS request here instead of the default endpoints. Without it the SDK's own
    /// variables apply: AWS_ENDPOINT_URL, and per service AWS_ENDPOINT_URL_<SERVICE> (e.g.
    /// AWS_ENDPOINT_URL_GUARDDUTY), which wins over AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// AWS region (also AWS_REGION); IAM is global, so this only matters for signing.
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named profile from the shared AWS config (also AWS_PROFILE).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// The SSM parameter holding the settings document (also DEADBOLT_CONFIG_PARAMETER).
    #[arg(long, global = true, env = "DEADBOLT_CONFIG_PARAMETER", default_value = deadbolt_aws::DEFAULT_CONFIG_PARAMETER)]
    config_parameter: String,
    /// Act in this member account through the member role (block, unblock, list, report,
    /// investigate, replay): deadbolt assumes arn:aws:iam::ACCOUNT:role/<member role> first.
    #[arg(long, global = true, value_parser = account_id)]
    account: Option<String>,
    /// The role assumed in a member account (also DEADBOLT_MEMBER_ROLE).
    #[arg(long, global = true, env = "DEADBOLT_MEMBER_ROLE", default_value = deadbolt_core::settings::DEFAULT_MEMBER_ROLE)]
    member_role: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the responder's decision on a finding file, exactly as the Lambda would.
    /// Dry-run unless --enforce; other settings come from the settings document in SSM (or,
    /// without one, the DEADBOLT_* environment variables).
    Replay {
        /// An EventBridge event with a GuardDuty finding (`-` for standard input).
        finding: PathBuf,
        /// Write the DenyAll policy if the decision is to contain.
        #[arg(long, conflicts_with = "no_verify")]
        enforce: bool,
        /// Decide on the file alone, without asking GuardDuty for its copy of the finding
        /// (offline files, a finding from another detector). Never together with --enforce.
        #[arg(long)]
        no_verify: bool,
        /// Print the decision record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Findings the circuit breaker held (outcome `held`): finding id, type, target, held since.
    Held {
        #[command(flatten)]
        table: HeldTable,
        #[arg(long)]
        json: bool,
    },
    /// Run a held finding's stored event through the responder exactly like
    /// `deadbolt replay FILE --enforce` (verified with GuardDuty), and forget it once the
    /// record is contained or already_contained.
    ReleaseHeld {
        /// The finding id (see `deadbolt held`).
        finding_id: String,
        #[command(flatten)]
        table: HeldTable,
        /// Decide without writing (replay dry-run); the finding stays held.
        #[arg(long)]
        dry_run: bool,
        /// Print the decision record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pending approvals (approve mode): id, finding type, target, age and expiry.
    Pending {
        #[command(flatten)]
        table: HeldTable,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending approval: re-verified with GuardDuty (archived since: refused), then
    /// contained exactly like `deadbolt replay FILE --enforce`; the ledger names you and your
    /// reason. An expired approval is refused and dropped.
    Approve {
        /// The pending approval's id (the finding id; see `deadbolt pending`).
        id: String,
        /// Why, for the ledger.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        table: HeldTable,
        /// The containment ledger (the stack's LedgerTable) the approval is recorded in.
        #[arg(long = "ledger-table", env = "DEADBOLT_LEDGER_TABLE")]
        ledger_table: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending approval: recorded in the ledger with who and why, the plan
    /// forgotten; nothing is written to IAM.
    Reject {
        /// The pending approval's id (see `deadbolt pending`).
        id: String,
        /// Why, for the ledger.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        table: HeldTable,
        /// The containment ledger (the stack's LedgerTable) the rejection is recorded in.
        #[arg(long = "ledger-table", env = "DEADBOLT_LEDGER_TABLE")]
        ledger_table: Option<String>,
    },
    /// Attach deadbolt's DenyAll to a user, role or group (playbook 2.4).
    Block(OperatorArgs),
    /// Remove deadbolt's DenyAll (playbook 2.5). A DenyAll deadbolt did not write is left alone.
    Unblock(OperatorArgs),
    /// Investigate one finding from CloudTrail: who did it (the role chain), what they did,
    /// what is new for them, what they left behind. LookupEvents unless --cloudtrail.
    Report {
        /// An EventBridge event with a GuardDuty finding (`-` for standard input).
        finding: PathBuf,
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// Print the JSON report.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print the summary as Markdown (for a ticket).
        #[arg(long)]
        markdown: bool,
        /// Also write the investigation as one self-contained HTML page (inline CSS and SVG,
        /// no script, nothing fetched) to FILE.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// A decision record (deadbolt replay --json, or the responder's decision_record) for
        /// the HTML page's decision panel.
        #[arg(long, value_name = "RECORD.json", requires = "html")]
        decision: Option<PathBuf>,
    },
    /// Run one of the playbook's CloudTrail queries (2.1) over a time range.
    Investigate {
        /// The playbook query.
        query: investigation::QueryArg,
        /// The query's argument: an access key id or an IP address.
        argument: Option<String>,
        /// Start of the range, RFC 3339 (default: 24 hours before --until).
        #[arg(long)]
        since: Option<String>,
        /// End of the range, RFC 3339 (default: now).
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// Only calls made with this access key (any query; the argument of `access-key`).
        #[arg(long, conflicts_with = "insights")]
        access_key: Option<String>,
        /// Only calls from this source IP address (any query; the argument of `source-ip`).
        #[arg(long, conflicts_with = "insights")]
        ip: Option<String>,
        /// With --log-group: run the playbook's Logs Insights query instead of FilterLogEvents.
        #[arg(long, requires = "log_group")]
        insights: bool,
        #[arg(long)]
        json: bool,
    },
    /// The runtime settings document (mode, scope, strategies) in SSM Parameter Store.
    Config {
        #[command(subcommand)]
        command: settings_cmd::ConfigCommand,
    },
    /// The containment ledger: every containment and release, by the functions or an
    /// operator, with what was there before, who acted and why. Newest first.
    History {
        /// Only this principal: `user/NAME`, `role/NAME`, `group/NAME`, or its ARN.
        #[arg(long)]
        principal: Option<String>,
        /// Only entries from this long ago: a number and s, m, h or d (default 7d).
        #[arg(long, default_value = "7d")]
        since: String,
        #[command(flatten)]
        ledger: LedgerTable,
        #[arg(long)]
        json: bool,
    },
    /// What deadbolt would have done with this account's real GuardDuty history, under the
    /// settings in force or a candidate document: one line per finding and principal, then a
    /// summary (outcomes, principals that would have been contained, circuit-breaker hours).
    /// Reads GuardDuty (ListFindings, GetFindings); writes nothing.
    Simulate {
        /// Findings updated since: a duration back from now (30d, 12h, 90m) or an RFC 3339 time.
        #[arg(long, default_value = "30d")]
        since: String,
        /// A candidate settings document (JSON, as `config validate` reads it) instead of the
        /// settings in force.
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Print the simulation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users, roles or groups and whether they carry DenyAll (playbook 2.3).
    List {
        what: Listing,
        /// Only the ones that are blocked.
        #[arg(long)]
        blocked: bool,
        /// deadbolt's own account and every account in the settings' member_accounts,
        /// concurrently, through the member role; an account that fails is reported, not fatal.
        #[arg(long, conflicts_with = "account")]
        all_accounts: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Where held findings are kept: the circuit breaker's table.
#[derive(Args)]
struct HeldTable {
    /// The breaker's DynamoDB table (the stack's BreakerTable; also DEADBOLT_BREAKER_TABLE).
    #[arg(long = "table", env = "DEADBOLT_BREAKER_TABLE")]
    name: String,
}

/// What `block` and `unblock` act on, and how.
#[derive(Args)]
struct OperatorArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// With --user: also set this one access key inactive (block) or active again (unblock);
    /// the user's other keys are untouched.
    #[arg(long, requires = "user")]
    access_key: Option<String>,
    /// The permission set for --sso-user.
    #[arg(long, requires = "sso_user")]
    permission_set: Option<String>,
    /// Show what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Why: recorded in the containment ledger with who ran the command. Required unless
    /// --dry-run.
    #[arg(long)]
    reason: Option<String>,
    /// unblock --role: also remove the revoke-sessions statement, so tokens issued before
    /// containment work again (by default they stay denied: they may be the stolen ones).
    #[arg(long)]
    restore_sessions: bool,
    #[command(flatten)]
    ledger: LedgerTable,
    #[arg(long)]
    json: bool,
}

/// Where containments are recorded: the stack's LedgerTable.
#[derive(Args)]
struct LedgerTable {
    /// The ledger's DynamoDB table (the stack's LedgerTable; also DEADBOLT_LEDGER_TABLE).
    /// Without one nothing is recorded and unblock cannot know a key's earlier status.
    #[arg(long = "ledger-table", env = "DEADBOLT_LEDGER_TABLE")]
    name: Option<String>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct TargetArgs {
    /// An IAM user name.
    #[arg(long)]
    user: Option<String>,
    /// An IAM role name.
    #[arg(long)]
    role: Option<String>,
    /// An IAM group name.
    #[arg(long)]
    group: Option<String>,
    /// An IAM Identity Center user name (with --permission-set): deny that user in the
    /// permission set's inline policy and re-provision it (run where Identity Center is
    /// administered).
    #[arg(long, requires = "permission_set")]
    sso_user: Option<String>,
}

impl TargetArgs {
    fn target(&self) -> Result<ContainmentTarget, String> {
        let (kind, name) = match (&self.user, &self.role, &self.group) {
            (Some(n), _, _) => (TargetKind::User, n),
            (_, Some(n), _) => (TargetKind::Role, n),
            (_, _, Some(n)) => (TargetKind::Group, n),
            _ => return Err("name one of --user, --role, --group, --sso-user".into()),
        };
        ContainmentTarget::new(kind, name).map_err(|e| e.to_string())
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Listing {
    Users,
    Roles,
    Groups,
}

// One thread: every command is a handful of AWS calls joined on one task (no blocking work
// to hand off), and a multi-threaded runtime costs a thread, a malloc arena and start-up time
// per core for nothing.
#[tokio::main(flavor = "current_thread")]
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
    // Which certificate authorities the AWS calls trust (deadbolt_aws::tls): a value deadbolt
    // does not know stops it here, before any call.
    let trust_roots = match deadbolt_aws::tls::TrustRoots::from_env_for(cli.region.as_deref()) {
        Ok(roots) => roots,
        Err(e) => {
            eprintln!("deadbolt: invalid configuration: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut options = AwsOptions {
        endpoint_url: cli.endpoint_url,
        region: cli.region,
        profile: cli.profile,
        credentials: None,
        trust_roots,
    };
    // deadbolt's own account, where the ledger and settings are, whatever --account says.
    let own_options = options.clone();
    let member = cli
        .account
        .as_deref()
        .map(|account| (account, cli.member_role.as_str()));
    let acts_in_member = matches!(
        cli.command,
        Command::Block(_)
            | Command::Unblock(_)
            | Command::List { .. }
            | Command::Report { .. }
            | Command::Investigate { .. }
    );
    match member {
        // The settings, held findings and GuardDuty live in deadbolt's own account; replay
        // contains through the member role itself (the account joins member_accounts).
        // simulate reads that account's findings from the administrator's GuardDuty.
        Some(_)
            if !acts_in_member
                && !matches!(
                    cli.command,
                    Command::Replay { .. } | Command::Simulate { .. }
                ) =>
        {
            eprintln!("deadbolt: --account applies to block, unblock, list, report, investigate, replay and simulate; settings and held findings live in deadbolt's own account");
            return Ok(ExitCode::from(2));
        }
        Some((account, role)) if acts_in_member => {
            match member_credentials(&options, account, role).await {
                Ok(Some(credentials)) => options.credentials = Some(credentials),
                Ok(None) => {}
                Err(message) => {
                    eprintln!("deadbolt: {message}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        _ => {}
    }
    match cli.command {
        Command::Replay {
            finding,
            enforce,
            no_verify,
            json,
        } => {
            let raw = investigation::read_input(&finding)?;
            let record = match replay_decision(
                &options,
                &cli.config_parameter,
                &raw,
                ReplayFlags {
                    enforce,
                    no_verify,
                    member,
                    held_at_ms: None,
                    approval_reason: None,
                    ledger_table: None,
                    breaker_table: None,
                },
            )
            .await
            {
                Ok(record) => record,
                Err(code) => return Ok(code),
            };
            if record.reason == deadbolt_core::Reason::GuarddutyUnavailable {
                // Say what it did instead, and the way to decide offline.
                eprintln!("deadbolt: GuardDuty could not be asked for its copy of the finding, so nothing was decided or written; to decide on the file alone (dry-run): deadbolt replay FILE --no-verify");
            }
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
        Command::Held { table, json } => held(&options, &table, json).await,
        Command::Pending { table, json } => pending(&options, &table, json).await,
        Command::Approve {
            id,
            reason,
            table,
            ledger_table,
            json,
        } => {
            let answer = Answer {
                table: &table,
                id: &id,
                reason: &reason,
                ledger_table: ledger_table.as_deref(),
            };
            approve(&options, &cli.config_parameter, answer, json).await
        }
        Command::Reject {
            id,
            reason,
            table,
            ledger_table,
        } => {
            let answer = Answer {
                table: &table,
                id: &id,
                reason: &reason,
                ledger_table: ledger_table.as_deref(),
            };
            reject(&options, answer).await
        }
        Command::ReleaseHeld {
            finding_id,
            table,
            dry_run,
            json,
        } => {
            release_held(
                &options,
                &cli.config_parameter,
                &table,
                &finding_id,
                dry_run,
                json,
            )
            .await
        }
        Command::Block(args) => {
            operator(&options, &own_options, OperatorCommand::Block, args).await
        }
        Command::Unblock(args) => {
            operator(&options, &own_options, OperatorCommand::Unblock, args).await
        }
        Command::History {
            principal,
            since,
            ledger,
            json,
        } => history(&options, principal.as_deref(), &since, &ledger, json).await,
        Command::List {
            what,
            blocked,
            all_accounts: false,
            json,
        } => list(&options, what, blocked, json).await,
        Command::List {
            what,
            blocked,
            all_accounts: true,
            json,
        } => {
            list_all_accounts(
                &options,
                &cli.config_parameter,
                &cli.member_role,
                what,
                blocked,
                json,
            )
            .await
        }
        Command::Simulate {
            since,
            settings,
            json,
        } => {
            simulate_cmd::run(
                &options,
                &cli.config_parameter,
                simulate_cmd::SimulateArgs {
                    since,
                    settings,
                    account: cli.account.clone(),
                    json,
                },
            )
            .await
        }
        Command::Config { command } => {
            settings_cmd::run(&options, &cli.config_parameter, command).await
        }
        Command::Report {
            finding,
            evidence,
            json,
            markdown,
            html,
            decision,
        } => {
            let output = investigation::ReportOutput {
                json,
                markdown,
                html: html.as_deref(),
                decision: decision.as_deref(),
            };
            investigation::report(&options, &finding, &evidence, output).await
        }
        Command::Investigate {
            query,
            argument,
            since,
            until,
            evidence,
            access_key,
            ip,
            insights,
            json,
        } => {
            let narrowing = deadbolt_trail::Narrowing {
                access_key,
                source_ip: ip,
            };
            let request = investigation::QueryRequest {
                name: query.0,
                argument: argument.as_deref(),
                narrowing,
                since: since.as_deref(),
                until: until.as_deref(),
                insights,
                json,
            };
            investigation::query(&options, request, &evidence).await
        }
    }
}

async fn operator(
    options: &AwsOptions,
    own_options: &AwsOptions,
    command: OperatorCommand,
    OperatorArgs {
        target: args,
        access_key,
        permission_set,
        dry_run,
        reason,
        restore_sessions,
        ledger: ledger_table,
        json,
    }: OperatorArgs,
) -> anyhow::Result<ExitCode> {
    if !dry_run && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        eprintln!(
            "deadbolt: {} needs --reason \"...\" (it goes into the containment ledger with who ran it); --dry-run only shows what would be done",
            command.as_str()
        );
        return Ok(ExitCode::from(2));
    }
    if let (Some(user), Some(set)) = (&args.sso_user, &permission_set) {
        if access_key.is_some() {
            eprintln!("deadbolt: --access-key applies to --user only");
            return Ok(ExitCode::from(2));
        }
        return identity_center(options, command, user, set, dry_run, json).await;
    }
    let target = match args.target() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("deadbolt: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if access_key.is_some() && target.kind != TargetKind::User {
        eprintln!("deadbolt: --access-key applies to --user only; {target} has no access keys");
        return Ok(ExitCode::from(2));
    }
    if let Some(key) = access_key.as_deref().filter(|k| !is_long_term_key(k)) {
        eprintln!(
            "deadbolt: --access-key {key:?} is not an IAM user access key id; accepted values: AKIA followed by 16 upper-case letters or digits"
        );
        return Ok(ExitCode::from(2));
    }
    let sdk = load_config(options).await;
    let iam = AwsIam::from_conf(&sdk);
    // Who runs this (their own identity, not a member role's), and where the ledger is.
    let own_sdk = load_config(own_options).await;
    let ledger = ledger_table
        .name
        .filter(|t| !t.is_empty())
        .map(|t| deadbolt_aws::DynamoLedger::from_conf(&own_sdk, t));
    let operator_arn = match &ledger {
        Some(_) => {
            StsIdentity::from_conf(&own_sdk)
                .caller_identity()
                .await?
                .arn
        }
        None => String::new(),
    };
    let acting_account = StsIdentity::from_conf(&sdk)
        .caller_identity()
        .await?
        .account_id;
    let now = deadbolt_core::clock::now_ms();
    // The partition of the account the CLI acts in (for the ARN of AWSDenyAll).
    let mut partition = String::from("aws");
    if command == OperatorCommand::Block {
        // Blocking the identity the CLI runs as would lock the operator out mid-incident.
        let me = StsIdentity::from_conf(&sdk).caller_identity().await?;
        if let Some(p) = containment::partition_of(&me.arn) {
            partition = p.to_string();
        }
        let own = AccountContext::from_caller(&me.account_id, &me.arn).own_identity;
        if own
            .as_ref()
            .is_some_and(|o| o.kind == target.kind && o.name.eq_ignore_ascii_case(&target.name))
        {
            eprintln!(
                "deadbolt: refusing to block {target}: it is the identity this CLI runs as ({})",
                me.arn
            );
            return Ok(ExitCode::from(2));
        }
    }
    let applied = match command {
        OperatorCommand::Block => {
            let mut plan = containment::manual_plan(target.clone());
            plan.deactivate_access_key = access_key;
            plan.partition = partition;
            if dry_run {
                let key = plan
                    .deactivate_access_key
                    .as_deref()
                    .map(|k| format!(" and set access key {k} inactive"))
                    .unwrap_or_default();
                containment::Applied {
                    outcome: Outcome::WouldContain,
                    reason: deadbolt_core::Reason::DryRun,
                    message: format!(
                        "dry-run: would attach deadbolt's {DENY_ALL_POLICY_NAME} to {target}{key}"
                    ),
                    actions: containment::planned(&plan),
                    retryable: false,
                }
            } else {
                // An operator's own block is not rate-limited by the circuit breaker; it is
                // recorded like the functions' (opened before the first write).
                let mut entry = LedgerEntry::containment(
                    &acting_account,
                    &target,
                    "Manual",
                    &operator_arn,
                    now,
                );
                entry.id = format!("contain#{acting_account}#{target}#manual-{now}");
                entry.strategy = Some(plan.strategy.as_str().to_string());
                entry.reason = reason.clone();
                let idc = &NoIdentityCenter;
                let applied =
                    ledger::apply_recorded(&iam, idc, &plan, now, Ungated, &ledger, entry).await;
                applied
            }
        }
        OperatorCommand::Unblock => {
            // What the ledger says was there before the newest containment of this target.
            let entries = match &ledger {
                Some(l) => l.entries().await.map_err(|e| {
                    anyhow::anyhow!(
                        "could not read the containment ledger {} ({e}); nothing was removed",
                        l.table()
                    )
                })?,
                None => Vec::new(),
            };
            // The earliest containment no release undid saw the principal before deadbolt.
            let before = unreleased(&entries, &acting_account, &target);
            let keep_sessions = target.kind == TargetKind::Role && !restore_sessions;
            // The release is recorded before anything is removed: the tamper watch, seeing
            // the removals in CloudTrail minutes later, finds it and does not re-apply them.
            let mut release = LedgerEntry::release(&acting_account, &target, &operator_arn, now);
            release.reason = reason.clone();
            release.finding_id = before
                .earliest()
                .map(|e| e.finding_id.clone())
                .unwrap_or_default();
            if let (false, Some(l)) = (dry_run, &ledger) {
                l.open(&release).await.map_err(|e| {
                    anyhow::anyhow!(
                        "could not record the release in the containment ledger {} ({e}); nothing was removed (unrecorded, the tamper watch would re-apply it)",
                        l.table()
                    )
                })?;
            }
            // With a ledger, what deadbolt attached is the ledger's to say, not a tag's.
            let attached = before.attached();
            let mut applied = containment::release_vouched(
                &iam,
                &target,
                dry_run,
                keep_sessions,
                ledger.as_ref().map(|_| attached.as_slice()),
            )
            .await;
            // A boundary deadbolt set goes back to exactly what the ledger says was there.
            if let Some(boundary) = before.boundary() {
                if applied.outcome != Outcome::Failed {
                    containment::restore_boundary(
                        &iam,
                        &target,
                        boundary.prior.as_deref(),
                        dry_run,
                        &mut applied,
                    )
                    .await;
                }
            }
            if let Some(key) = &access_key {
                let prior = before.prior_key_active(key);
                let entry_id = before.earliest().map(|e| e.id.clone()).unwrap_or_default();
                if prior == Some(Some(false)) {
                    applied.message.push_str(&format!(
                        "; access key {key} was already inactive before deadbolt contained {target} (ledger entry {entry_id}), so it stays inactive"
                    ));
                } else if prior != Some(Some(true)) {
                    // Never re-activate what the ledger cannot vouch deadbolt deactivated: the
                    // key may have been inactive for a reason nobody here knows. Without a
                    // ledger there is no prior status at all, so the answer is the same.
                    let why = if ledger.is_some() {
                        format!("the ledger has no active status for it from before a containment of {target}")
                    } else {
                        "no containment ledger was given (--ledger-table or DEADBOLT_LEDGER_TABLE, the stack's LedgerTable output), so there is no status for it from before".to_string()
                    };
                    applied.message.push_str(&format!(
                        "; access key {key} left as it is: {why}, and deadbolt cannot tell whether it set it inactive. If it should work again: aws iam update-access-key --user-name {} --access-key-id {key} --status Active",
                        target.name
                    ));
                } else {
                    let action = containment::reactivate_key(&iam, &target, key, dry_run).await;
                    let verb = if dry_run { "would set" } else { "set" };
                    match action.status {
                        deadbolt_core::ActionStatus::Failed => {
                            applied.message.push_str(&format!(
                                "; could not set access key {key} active ({})",
                                action.error_code.as_deref().unwrap_or("error")
                            ));
                            applied.outcome = Outcome::Failed;
                        }
                        _ => applied
                            .message
                            .push_str(&format!("; {verb} access key {key} active again")),
                    }
                    applied.actions.push(action);
                }
            }
            if !dry_run && ledger.is_some() {
                ledger::complete(&ledger, &mut release, &mut applied, None).await;
            }
            applied
        }
    };
    let record = OperatorRecord::new(command, target, dry_run, applied);
    print_operator_record(&record, json)?;
    Ok(if record.outcome == Outcome::Failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `deadbolt history`: the ledger, newest first.
async fn history(
    options: &AwsOptions,
    principal: Option<&str>,
    since: &str,
    ledger: &LedgerTable,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let Some(table) = ledger.name.as_deref().filter(|t| !t.is_empty()) else {
        eprintln!("deadbolt: history needs the ledger table: --ledger-table NAME or DEADBOLT_LEDGER_TABLE (the stack's LedgerTable output)");
        return Ok(ExitCode::from(2));
    };
    let Some(since_secs) = deadbolt_core::settings::parse_duration(since) else {
        eprintln!("deadbolt: --since {since:?} is not a duration; accepted values: a number and s, m, h or d, such as 7d or 12h");
        return Ok(ExitCode::from(2));
    };
    let sdk = load_config(options).await;
    let entries = deadbolt_aws::DynamoLedger::from_conf(&sdk, table)
        .entries()
        .await
        .map_err(|e| anyhow::anyhow!("could not read the containment ledger {table} ({e})"))?;
    let since_ms = deadbolt_core::clock::now_ms() - since_secs as i64 * 1000;
    let shown = deadbolt_core::ledger::history(&entries, principal, Some(since_ms));
    if json {
        println!("{}", serde_json::to_string(&shown)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in shown {
        let when = chrono::DateTime::from_timestamp_millis(e.started_at_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let action = match e.action {
            deadbolt_core::ledger::LedgerAction::Contain => "contain",
            deadbolt_core::ledger::LedgerAction::Release => "release",
            deadbolt_core::ledger::LedgerAction::Reject => "reject",
        };
        let state = e.outcome.as_deref().unwrap_or("open (no outcome recorded)");
        println!(
            "{when}  {action:<7}  {} {}  {state}  by {}{}{}",
            e.account_id,
            e.target,
            e.actor,
            if e.finding_id.is_empty() {
                String::new()
            } else {
                format!("  finding {}", e.finding_id)
            },
            e.reason
                .as_deref()
                .map(|r| format!("  reason: {r}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `block` / `unblock` `--sso-user NAME --permission-set NAME`.
async fn identity_center(
    options: &AwsOptions,
    command: OperatorCommand,
    user: &str,
    permission_set: &str,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let valid = |s: &str, max: usize| {
        (1..=max).contains(&s.len()) && s.chars().all(deadbolt_core::finding::is_iam_name_char)
    };
    if !valid(user, 128) || !valid(permission_set, 32) {
        eprintln!("deadbolt: --sso-user (1-128) and --permission-set (1-32) take letters, digits and _+=,.@- only");
        return Ok(ExitCode::from(2));
    }
    let sdk = load_config(options).await;
    let idc = AwsIdentityCenter::from_conf(&sdk);
    let applied = match (command, dry_run) {
        (OperatorCommand::Block, true) => containment::Applied {
            outcome: Outcome::WouldContain,
            reason: deadbolt_core::Reason::DryRun,
            message: format!("dry-run: would deny Identity Center user {user} in permission set {permission_set} and re-provision it"),
            actions: Vec::new(),
            retryable: false,
        },
        (OperatorCommand::Block, false) => {
            containment::apply_identity_center(&idc, "Manual", permission_set, user, &mut Ungated)
                .await
        }
        (OperatorCommand::Unblock, _) => {
            containment::release_identity_center(&idc, permission_set, user, dry_run).await
        }
    };
    let record = OperatorRecord::identity_center(
        command,
        containment::IdentityCenterTarget {
            user_name: user.to_string(),
            permission_set: permission_set.to_string(),
        },
        dry_run,
        applied,
    );
    print_operator_record(&record, json)?;
    Ok(if record.outcome == Outcome::Failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_operator_record(record: &OperatorRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(record)?);
        return Ok(());
    }
    let who = match (&record.target, &record.identity_center) {
        (Some(t), _) => t.to_string(),
        (None, Some(i)) => format!(
            "sso-user/{} in permission-set/{}",
            i.user_name, i.permission_set
        ),
        (None, None) => String::new(),
    };
    println!(
        "{} {who}: {} ({})",
        record.command.as_str(),
        record.outcome.as_str(),
        record.reason.as_str()
    );
    println!("  {}", record.message);
    for a in &record.actions {
        let detail = a.access_key_id.as_deref().unwrap_or(&a.policy_name);
        println!("  {} {} {detail}: {:?}", a.api, a.target, a.status);
    }
    Ok(())
}

/// A 12-digit AWS account id (`--account`).
fn account_id(value: &str) -> Result<String, String> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a 12-digit AWS account id"))
    }
}

/// The member role in `account`, in the partition of the CLI's own identity.
fn member_role(
    account: &str,
    role_name: &str,
    caller_arn: &str,
) -> deadbolt_core::decision::MemberRole {
    deadbolt_core::decision::MemberRole {
        account_id: account.to_string(),
        role_name: role_name.to_string(),
        partition: containment::partition_of(caller_arn)
            .unwrap_or("aws")
            .to_string(),
    }
}

/// The session name of the CLI's `AssumeRole`: `deadbolt-cli-<unix seconds>` in the member's
/// CloudTrail.
fn cli_session() -> String {
    format!("cli-{}", deadbolt_core::clock::now_ms() / 1000)
}

/// The member role's credentials in `account`, or `None` when `account` is the CLI's own
/// (nothing to assume). The error is one line naming the role and the account.
async fn member_credentials(
    options: &AwsOptions,
    account: &str,
    role_name: &str,
) -> Result<Option<aws_credential_types::Credentials>, String> {
    let sdk = load_config(options).await;
    let me = StsIdentity::from_conf(&sdk)
        .caller_identity()
        .await
        .map_err(|e| format!("could not establish which account this CLI runs in ({e})"))?;
    if me.account_id == account {
        return Ok(None);
    }
    let role = member_role(account, role_name, &me.arn);
    let session = cli_session();
    deadbolt_aws::MemberSessions::from_conf(&sdk)
        .assume(&role, &session)
        .await
        .map(|(credentials, _)| Some(credentials))
        .map_err(|e| {
            format!(
                "could not assume {} in account {account} ({e}); is infra/member-role.yaml deployed there, trusting this identity ({})?",
                role.arn(),
                me.arn
            )
        })
}

fn listing_kind(what: Listing) -> TargetKind {
    match what {
        Listing::Users => TargetKind::User,
        Listing::Roles => TargetKind::Role,
        Listing::Groups => TargetKind::Group,
    }
}

/// Every entity of `kind` in the account `iam` reaches, with its DenyAll state.
async fn list_in(
    iam: &AwsIam,
    kind: TargetKind,
    blocked_only: bool,
) -> Result<Vec<(String, BlockState)>, deadbolt_core::ports::AwsError> {
    let mut rows = Vec::new();
    for name in iam.list_names(kind).await? {
        let target = match ContainmentTarget::new(kind, &name) {
            Ok(t) => t,
            Err(_) => continue,
        };
        let document = iam.get_policy(&target, DENY_ALL_POLICY_NAME).await?;
        let state = BlockState::of(document.as_deref());
        if blocked_only && !state.is_blocked() {
            continue;
        }
        rows.push((name, state));
    }
    Ok(rows)
}

fn block_label(state: &BlockState) -> &'static str {
    match state {
        BlockState::NotBlocked => "-",
        BlockState::BlockedByDeadbolt => "blocked (deadbolt)",
        BlockState::SessionsBlockedByDeadbolt => "sessions denied (deadbolt)",
        BlockState::BlockedManually => "blocked (manual deny-all)",
        BlockState::ConflictingPolicy => "other policy named DenyAll",
    }
}

/// One account's entities with their DenyAll state, or why the account could not be listed.
type AccountListing = Result<Vec<(String, BlockState)>, String>;

/// `list --all-accounts`: deadbolt's own account and each of `member_accounts` (from the
/// settings document, or the DEADBOLT_* environment), at most eight at a time. An account
/// whose role cannot be assumed or listed is reported and the others still listed; the exit
/// code is 1 if any account failed.
async fn list_all_accounts(
    options: &AwsOptions,
    parameter: &str,
    role_name: &str,
    what: Listing,
    blocked_only: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use futures_util::StreamExt;
    use std::io::IsTerminal;

    let kind = listing_kind(what);
    let sdk = load_config(options).await;
    let environment = Settings::from_env()?;
    let store = deadbolt_aws::SsmSettingsStore::from_conf(&sdk, parameter);
    let mut runtime = RuntimeConfig::new(environment.clone(), 0);
    // The caller's own account and the member accounts of the settings: one round trip.
    let (_, me) = futures_util::future::join(
        runtime.refresh(&store, deadbolt_core::clock::now_ms()),
        StsIdentity::from_conf(&sdk).caller_identity(),
    )
    .await;
    let me = me?;
    let settings = runtime.current().cloned().unwrap_or(environment);
    if settings.member_accounts.iter().any(|a| a == "*") {
        eprintln!("deadbolt: member_accounts is \"*\" (any account GuardDuty hands over), which names no accounts to list; list them in member_accounts, or use --account ID");
        return Ok(ExitCode::from(2));
    }
    let mut accounts = vec![me.account_id.clone()];
    accounts.extend(
        settings
            .member_accounts
            .iter()
            .filter(|a| **a != me.account_id)
            .cloned(),
    );
    let total = accounts.len();
    let progress = std::io::stderr().is_terminal();
    let sessions = deadbolt_aws::MemberSessions::from_conf(&sdk);
    let session = cli_session();
    let listed: Vec<(String, AccountListing)> =
        futures_util::stream::iter(accounts.into_iter().map(|account| {
            let (sdk, sessions, me, session) = (&sdk, &sessions, &me, &session);
            async move {
                let iam = if account == me.account_id {
                    AwsIam::from_conf(sdk)
                } else {
                    let role = member_role(&account, role_name, &me.arn);
                    match sessions.config_for(&role, session).await {
                        Ok(config) => AwsIam::from_conf(&config),
                        Err(e) => {
                            let why = format!("could not assume {} ({e})", role.arn());
                            return (account, Err(why));
                        }
                    }
                };
                let rows = list_in(&iam, kind, blocked_only)
                    .await
                    .map_err(|e| format!("could not list: {e}"));
                (account, rows)
            }
        }))
        .buffer_unordered(8)
        .enumerate()
        .map(|(done, item)| {
            if progress {
                let filled = (done + 1) * 20 / total;
                eprint!(
                    "\r[{}{}] {}/{total} accounts",
                    "#".repeat(filled),
                    "-".repeat(20 - filled),
                    done + 1
                );
            }
            item
        })
        .collect()
        .await;
    if progress {
        eprintln!();
    }
    let mut listed = listed;
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let failed = listed.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            account: &'a str,
            kind: TargetKind,
            name: &'a str,
            deny_all: BlockState,
        }
        #[derive(serde::Serialize)]
        struct Failure<'a> {
            account: &'a str,
            error: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Out<'a> {
            items: Vec<Row<'a>>,
            errors: Vec<Failure<'a>>,
        }
        let mut out = Out {
            items: Vec::new(),
            errors: Vec::new(),
        };
        for (account, result) in &listed {
            match result {
                Ok(rows) => out.items.extend(rows.iter().map(|(name, state)| Row {
                    account,
                    kind,
                    name,
                    deny_all: *state,
                })),
                Err(error) => out.errors.push(Failure { account, error }),
            }
        }
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let width = listed
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flatten()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!("{:<12}  {:<width$}  DENYALL", "ACCOUNT", "NAME");
        for (account, result) in &listed {
            match result {
                Ok(rows) => {
                    for (name, state) in rows {
                        println!("{account:<12}  {name:<width$}  {}", block_label(state));
                    }
                }
                Err(error) => eprintln!("deadbolt: account {account}: {error}"),
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn list(
    options: &AwsOptions,
    what: Listing,
    blocked_only: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let kind = listing_kind(what);
    let sdk = load_config(options).await;
    let iam = AwsIam::from_conf(&sdk);
    let rows = list_in(&iam, kind, blocked_only).await?;
    if json {
        // A struct, not `json!`: field order stays the same whatever serde_json features
        // the build unifies.
        #[derive(serde::Serialize)]
        struct Row<'a> {
            kind: TargetKind,
            name: &'a str,
            deny_all: BlockState,
        }
        let items: Vec<Row> = rows
            .iter()
            .map(|(name, state)| Row {
                kind,
                name,
                deny_all: *state,
            })
            .collect();
        println!("{}", serde_json::to_string(&items)?);
    } else {
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
        println!("{:<width$}  DENYALL", "NAME");
        for (name, state) in &rows {
            println!("{name:<width$}  {}", block_label(state));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first line of an error, at most 200 characters: SDK errors can run to many lines.
fn first_line(error: &str) -> String {
    error
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// `deadbolt held`: every held finding, oldest first.
async fn held(options: &AwsOptions, table: &HeldTable, json: bool) -> anyhow::Result<ExitCode> {
    let sdk = load_config(options).await;
    let store = DynamoHeldFindings::from_conf(&sdk, &table.name);
    let list = store
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("could not list held findings in {}: {e}", table.name))?;
    if json {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|h| {
                serde_json::json!({
                    "finding_id": h.finding_id,
                    "finding_type": h.finding_type,
                    "account_id": h.account_id,
                    "region": h.region,
                    "target": h.target,
                    "held_at": deadbolt_core::strategy::format_rfc3339_utc(h.held_at_ms / 1000),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else if list.is_empty() {
        println!("no held findings");
    } else {
        for h in &list {
            println!(
                "{}  {}  {}  held since {}",
                h.finding_id,
                h.finding_type,
                h.target,
                deadbolt_core::strategy::format_rfc3339_utc(h.held_at_ms / 1000)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `deadbolt release-held ID`: the stored event through `replay --enforce` (or dry-run); the
/// item is deleted only once the principal is contained.
async fn release_held(
    options: &AwsOptions,
    parameter: &str,
    table: &HeldTable,
    finding_id: &str,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let sdk = load_config(options).await;
    let store = DynamoHeldFindings::from_conf(&sdk, &table.name);
    let list = store
        .list()
        .await
        .map_err(|e| anyhow::anyhow!("could not list held findings in {}: {e}", table.name))?;
    let Some(held) = list.into_iter().find(|h| h.finding_id == finding_id) else {
        eprintln!(
            "deadbolt: no held finding {finding_id} in {} (see deadbolt held)",
            table.name
        );
        return Ok(ExitCode::from(2));
    };
    let flags = ReplayFlags {
        enforce: !dry_run,
        no_verify: false,
        member: None,
        held_at_ms: Some(held.held_at_ms),
        approval_reason: None,
        ledger_table: None,
        breaker_table: None,
    };
    let record = match replay_decision(options, parameter, &held.event, flags).await {
        Ok(record) => record,
        Err(code) => return Ok(code),
    };
    if json {
        println!("{}", record.to_json());
    } else {
        print!("{}", record.to_text());
    }
    let done = matches!(
        record.outcome,
        Outcome::Contained | Outcome::AlreadyContained
    );
    if dry_run {
        eprintln!("deadbolt: --dry-run: {finding_id} stays held");
        return Ok(ExitCode::SUCCESS);
    }
    if !done {
        eprintln!(
            "deadbolt: {finding_id} is {}, not contained; it stays held",
            record.outcome.as_str()
        );
        return Ok(ExitCode::from(1));
    }
    store.remove(finding_id).await.map_err(|e| {
        anyhow::anyhow!("{finding_id} is contained, but could not be removed from {}: {e}; run release-held again", table.name)
    })?;
    eprintln!("deadbolt: {finding_id} released from hold");
    Ok(ExitCode::SUCCESS)
}

/// `deadbolt pending`: the pending approvals, with age and expiry.
async fn pending(options: &AwsOptions, table: &HeldTable, json: bool) -> anyhow::Result<ExitCode> {
    let sdk = load_config(options).await;
    let store = DynamoHeldFindings::from_conf(&sdk, &table.name);
    let list = store
        .pending()
        .await
        .map_err(|e| anyhow::anyhow!("could not list pending approvals in {}: {e}", table.name))?;
    let now = deadbolt_core::clock::now_ms();
    let at = |ms: i64| deadbolt_core::strategy::format_rfc3339_utc(ms / 1000);
    if json {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "finding_type": a.finding_type,
                    "account_id": a.account_id,
                    "region": a.region,
                    "target": a.target,
                    "strategy": a.strategy,
                    "writes": a.writes,
                    "created_at": at(a.created_at_ms),
                    "age_seconds": (now - a.created_at_ms).max(0) / 1000,
                    "expires_at": at(a.expires_at_ms),
                    "expired": a.expired(now),
                    "on_expiry": a.on_expiry.as_str(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else if list.is_empty() {
        println!("no pending approvals");
    } else {
        for a in &list {
            let age_min = (now - a.created_at_ms).max(0) / 60_000;
            let expiry = if a.expired(now) {
                format!("EXPIRED at {}", at(a.expires_at_ms))
            } else {
                format!(
                    "expires {} then {}",
                    at(a.expires_at_ms),
                    a.on_expiry.as_str()
                )
            };
            println!(
                "{}  {}  {}  {}  {age_min} min old, {expiry}",
                a.id, a.finding_type, a.target, a.strategy
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pending approval `id`, or the exit code of a refusal already explained.
async fn find_pending(
    store: &DynamoHeldFindings,
    table: &HeldTable,
    id: &str,
) -> Result<deadbolt_core::approval::PendingApproval, ExitCode> {
    let list = match store.pending().await {
        Ok(list) => list,
        Err(e) => {
            eprintln!(
                "deadbolt: could not list pending approvals in {}: {e}",
                table.name
            );
            return Err(ExitCode::from(1));
        }
    };
    let Some(approval) = list.into_iter().find(|a| a.id == id) else {
        eprintln!(
            "deadbolt: no pending approval {id} in {} (see deadbolt pending)",
            table.name
        );
        return Err(ExitCode::from(2));
    };
    let now = deadbolt_core::clock::now_ms();
    if approval.expired(now) {
        let at = deadbolt_core::strategy::format_rfc3339_utc(approval.expires_at_ms / 1000);
        let dropped = store.forget(id).await;
        eprintln!(
            "deadbolt: the pending approval {id} expired at {at}; refused{}",
            if dropped.is_ok() {
                " and dropped"
            } else {
                " (and it could not be dropped)"
            }
        );
        return Err(ExitCode::from(1));
    }
    Ok(approval)
}

/// `deadbolt approve ID --reason TEXT`: the stored event through `replay --enforce`, verified
/// with GuardDuty, the approver and reason in the ledger; the approval is forgotten once the
/// principal is contained, or when GuardDuty's copy shows it may no longer be acted on.
async fn approve(
    options: &AwsOptions,
    parameter: &str,
    Answer {
        table,
        id,
        reason,
        ledger_table,
    }: Answer<'_>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let sdk = load_config(options).await;
    // Answering deletes the approval's expiry schedule too (DEADBOLT_APPROVAL_SCHEDULE_GROUP).
    let store = DynamoHeldFindings::from_conf(&sdk, &table.name).scheduling_from_env(&sdk);
    let approval = match find_pending(&store, table, id).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    // What was approved is what gets contained: the plan is decided again (dry-run, on
    // GuardDuty's copy) and must name the same principal before anything is written.
    let flags = |enforce| ReplayFlags {
        enforce,
        no_verify: false,
        member: None,
        held_at_ms: Some(approval.created_at_ms),
        approval_reason: Some(reason),
        ledger_table,
        breaker_table: Some(&table.name),
    };
    let preview = match replay_decision(options, parameter, &approval.event, flags(false)).await {
        Ok(record) => record,
        Err(code) => return Ok(code),
    };
    if preview.outcome == Outcome::WouldContain
        && preview.actions.first().map(|a| a.target.as_str()) != Some(approval.target.as_str())
    {
        eprintln!(
            "deadbolt: approval of {id} refused: the plan now names {}, but {} was approved; nothing was written (deadbolt reject {id} --reason ..., then act by hand)",
            preview.actions.first().map_or("nothing", |a| a.target.as_str()),
            approval.target
        );
        return Ok(ExitCode::from(1));
    }
    let record = match replay_decision(options, parameter, &approval.event, flags(true)).await {
        Ok(record) => record,
        Err(code) => return Ok(code),
    };
    if json {
        println!("{}", record.to_json());
    } else {
        print!("{}", record.to_text());
    }
    match record.outcome {
        Outcome::Contained | Outcome::AlreadyContained | Outcome::PartiallyContained => {
            store.forget(id).await.map_err(|e| {
                anyhow::anyhow!(
                    "{id} is {}, but its pending approval could not be removed from {}: {e}",
                    record.outcome.as_str(),
                    table.name
                )
            })?;
            eprintln!("deadbolt: approved {id}: {}", record.outcome.as_str());
            Ok(if record.outcome == Outcome::PartiallyContained {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        // GuardDuty says it may not be acted on any more (archived, unknown, stale): refused,
        // and the plan is forgotten, since no later approval could act on it either.
        Outcome::Skipped | Outcome::Rejected | Outcome::NotContainable => {
            let _ = store.forget(id).await;
            eprintln!(
                "deadbolt: approval of {id} refused: {} ({}); the pending approval is dropped, nothing was written",
                record.outcome.as_str(),
                record.reason.as_str()
            );
            Ok(ExitCode::from(1))
        }
        other => {
            eprintln!(
                "deadbolt: {id} is {} ({}), not contained; the approval stays pending",
                other.as_str(),
                record.reason.as_str()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// `deadbolt reject ID --reason TEXT`: recorded (who and why) in the ledger, then forgotten.
async fn reject(
    options: &AwsOptions,
    Answer {
        table,
        id,
        reason,
        ledger_table,
    }: Answer<'_>,
) -> anyhow::Result<ExitCode> {
    let sdk = load_config(options).await;
    // Answering deletes the approval's expiry schedule too (DEADBOLT_APPROVAL_SCHEDULE_GROUP).
    let store = DynamoHeldFindings::from_conf(&sdk, &table.name).scheduling_from_env(&sdk);
    let approval = match find_pending(&store, table, id).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let ledger = match ledger_table {
        Some(t) => Some(deadbolt_aws::DynamoLedger::from_conf(&sdk, t)),
        None => deadbolt_aws::DynamoLedger::from_env(&sdk),
    };
    if let Some(ledger) = ledger {
        let me = StsIdentity::from_conf(&sdk).caller_identity().await?;
        let target = ContainmentTarget::from_display(&approval.target).ok_or_else(|| {
            anyhow::anyhow!(
                "the pending approval {id} names no principal ({:?})",
                approval.target
            )
        })?;
        let entry = LedgerEntry::rejection(
            &approval.account_id,
            &target,
            id,
            &format!("deadbolt reject by {}", me.arn),
            reason,
            deadbolt_core::clock::now_ms(),
        );
        ledger.open(&entry).await.map_err(|e| {
            anyhow::anyhow!("could not record the rejection in the containment ledger {} ({e}); the approval stays pending", ledger.table())
        })?;
    }
    store.forget(id).await.map_err(|e| {
        anyhow::anyhow!(
            "rejected {id}, but its pending approval could not be removed from {}: {e}",
            table.name
        )
    })?;
    println!(
        "rejected {id} ({} {}): nothing was written",
        approval.finding_type, approval.target
    );
    Ok(ExitCode::SUCCESS)
}

/// The responder's decision on `raw`, exactly as the Lambda would take it: the settings
/// document (or the environment), verified with GuardDuty unless `no_verify`, enforced only
/// when `enforce`. `Err` is the exit code of a refusal already explained on stderr.
/// How a replay runs: `--enforce`, `--no-verify`, and `--account` with the member role.
struct ReplayFlags<'a> {
    enforce: bool,
    no_verify: bool,
    member: Option<(&'a str, &'a str)>,
    /// `release-held`: when the breaker held it (its age counts from then).
    held_at_ms: Option<i64>,
    /// `approve`: the approver's reason, recorded in the ledger with their ARN.
    approval_reason: Option<&'a str>,
    /// The ledger table, when named on the command line (else DEADBOLT_LEDGER_TABLE).
    ledger_table: Option<&'a str>,
    /// `approve`: the breaker table whose hourly count the responders share. An approved
    /// containment takes a slot like the responder's own would (a full hour refuses it and
    /// the approval stays pending); an operator's replay or release is not rate-limited.
    breaker_table: Option<&'a str>,
}

/// A person's answer to a pending approval.
struct Answer<'a> {
    table: &'a HeldTable,
    id: &'a str,
    reason: &'a str,
    ledger_table: Option<&'a str>,
}

async fn replay_decision(
    options: &AwsOptions,
    parameter: &str,
    raw: &str,
    ReplayFlags {
        enforce,
        no_verify,
        member,
        held_at_ms,
        approval_reason,
        ledger_table,
        breaker_table,
    }: ReplayFlags<'_>,
) -> Result<deadbolt_core::DecisionRecord, ExitCode> {
    let environment = match Settings::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("deadbolt: invalid configuration: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let sdk = load_config(options).await;
    // The Lambda's own fallback code: the stored document; without one, the DEADBOLT_*
    // environment; an invalid one never enforces (the last good one, or dry-run).
    let store = deadbolt_aws::SsmSettingsStore::from_conf(&sdk, parameter);
    let mut runtime = RuntimeConfig::new(environment.clone(), 0);
    // Who deadbolt runs as (the decision's account, the ledger's actor) and GuardDuty's
    // detector id (what verification asks with) depend on nothing the document says: asked
    // in the same round trip as the settings, once.
    let identity = StsIdentity::from_conf(&sdk);
    let guardduty = (!no_verify).then(|| AwsGuardDuty::from_conf(&sdk));
    let prepare_verification = async {
        if let Some(guardduty) = &guardduty {
            guardduty.prepare().await;
        }
    };
    let (_, caller, ()) = futures_util::future::join3(
        runtime.refresh(&store, deadbolt_core::clock::now_ms()),
        identity.caller_identity(),
        prepare_verification,
    )
    .await;
    let mut settings = match (runtime.current(), runtime.origin()) {
        // The Lambda would enforce on the newest valid version; an operator's
        // --enforce waits until the document is fixed.
        (Ok(_), ConfigOrigin::DryRunFallback { error } | ConfigOrigin::LastGood { error, .. })
            if enforce =>
        {
            eprintln!("deadbolt: the settings document {parameter} is invalid ({error}); refusing --enforce");
            return Err(ExitCode::from(2));
        }
        (Ok(s), ConfigOrigin::DryRunFallback { error }) => {
            eprintln!("deadbolt: the settings document {parameter} is invalid ({error}); replaying with the DEADBOLT_* environment, dry-run");
            s.clone()
        }
        (Ok(s), ConfigOrigin::LastGood { error, version }) => {
            let version =
                version.map_or("the last good one".to_string(), |v| format!("version {v}"));
            eprintln!("deadbolt: the settings document {parameter} is invalid ({error}); replaying dry-run with {version}, as the functions do");
            s.clone()
        }
        (Ok(s), ConfigOrigin::Document) => {
            eprintln!("deadbolt: using the settings document {parameter}");
            s.clone()
        }
        (Ok(s), _) => s.clone(),
        // The Lambda would decide nothing without its settings; a replay may still
        // show the decision, dry-run, on the environment's settings.
        (Err(e), _) if enforce => {
            eprintln!("deadbolt: could not read the settings document {parameter} ({}); refusing --enforce", first_line(&e.error));
            return Err(ExitCode::from(2));
        }
        (Err(e), _) => {
            eprintln!("deadbolt: could not read the settings document {parameter} ({}); replaying dry-run with the DEADBOLT_* environment", first_line(&e.error));
            environment
        }
    };
    // The CLI's mode is the flag, never the environment or the document: a replay
    // only enforces when the operator typed --enforce.
    settings.mode = if enforce { Mode::Enforce } else { Mode::DryRun };
    settings.mode_by_account.clear();
    settings.mode_by_finding_type.clear();
    if let Some(held_at) = held_at_ms {
        settings.max_finding_age_secs = deadbolt_core::responder::max_age_for_held(
            settings.max_finding_age_secs,
            held_at,
            deadbolt_core::clock::now_ms(),
        );
    }
    let ledger = match ledger_table {
        Some(table) => Some(deadbolt_aws::DynamoLedger::from_conf(&sdk, table)),
        None => deadbolt_aws::DynamoLedger::from_env(&sdk),
    };
    let verb = if approval_reason.is_some() {
        "deadbolt approve"
    } else {
        "deadbolt replay"
    };
    let actor = match (&ledger, &caller) {
        (Some(_), Ok(c)) => format!("{verb} by {}", c.arn),
        _ => verb.into(),
    };
    // --account: this member's findings are contained there through the member role, as the
    // Lambda does for an account in member_accounts.
    if let Some((account, role)) = member {
        settings.member_accounts.push(account.to_string());
        settings.member_role = role.to_string();
    }
    // Wired like the Lambda: the finding is verified with GuardDuty (the decision is
    // taken on GuardDuty's copy) unless --no-verify, which never enforces.
    let responder = Responder::new(Ports {
        iam: AwsIam::from_conf(&sdk),
        identity,
        identity_center: Some(AwsIdentityCenter::from_conf(&sdk)),
        shared_breaker: breaker_table.map(|t| deadbolt_aws::DynamoBreaker::from_conf(&sdk, t)),
        guardduty,
        // An operator's replay is never held: it has no shared count to be refused by.
        held: None::<NoHeldFindings>,
    })
    .with_members(deadbolt_aws::MemberSessions::from_conf(&sdk))
    // An enforced replay is recorded in the ledger (DEADBOLT_LEDGER_TABLE) as the caller.
    .with_ledger(ledger, actor);
    let responder = match approval_reason {
        Some(reason) => responder.with_reason(reason),
        None => responder,
    };
    // A failed identity is not learnt: the decision asks again and records why.
    let responder = match &caller {
        Ok(c) => responder.knowing_caller(c),
        Err(_) => responder,
    };
    if no_verify {
        eprintln!(
            "deadbolt: --no-verify: deciding on the file alone, dry-run (GuardDuty was not asked)"
        );
    }
    Ok(responder.handle(raw, &settings).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exactly_one_target_is_required() {
        assert!(Cli::try_parse_from(["deadbolt", "block"]).is_err());
        assert!(Cli::try_parse_from(["deadbolt", "block", "--user", "a", "--role", "b"]).is_err());
        assert!(Cli::try_parse_from(["deadbolt", "block", "--group", "devs", "--dry-run"]).is_ok());
    }

    #[test]
    fn investigate_accepts_exactly_the_playbook_query_names() {
        use deadbolt_trail::QueryName;
        for &name in QueryName::ALL {
            let parsed = Cli::try_parse_from(["deadbolt", "investigate", name.as_str()]).unwrap();
            assert!(
                matches!(parsed.command, Command::Investigate { query, .. } if query.0 == name),
                "{name}"
            );
        }
        let unknown = Cli::try_parse_from(["deadbolt", "investigate", "whoami"])
            .err()
            .unwrap()
            .to_string();
        for &name in QueryName::ALL {
            assert!(
                unknown.contains(name.as_str()),
                "{name} missing from: {unknown}"
            );
        }
    }
}
