//! The demo: moto on 127.0.0.1, an attacker, a GuardDuty finding through the real responder
//! Lambda binary (via the Lambda Runtime API), and the attacker's next call denied.

use deadbolt_e2e::runtime_api::{built_binary, LambdaHarness};
use deadbolt_e2e::{finding_for, fixture_path, Moto};

const FIXTURE: &str = "cloudtrail-logging-disabled.json";

use std::io::IsTerminal;

/// ANSI styling only when a person is watching a terminal.
fn paint(code: &str, text: &str) -> String {
    if std::io::stdout().is_terminal() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn step(n: u32, text: &str) {
    println!("\n{}", paint("1", &format!("{n}. {text}")));
}

#[tokio::main]
async fn main() {
    println!(
        "deadbolt demo: a GuardDuty finding locks an attacker out, on a local AWS-protocol server."
    );
    println!("Nothing here talks to AWS: moto (IAM + STS, with IAM policy evaluation) runs on 127.0.0.1.");

    step(1, "Start moto server with IAM authentication on");
    let moto = Moto::start().await;
    println!(
        "   moto listening at {}; deadbolt acts as IAM user deadbolt-operator",
        moto.endpoint
    );

    step(
        2,
        "An attacker: IAM user \"mallory\" with a stolen access key",
    );
    let mallory = moto.create_attacker_user("mallory").await;
    println!(
        "   access key {} (allowed: iam:ListUsers, iam:GetUser)",
        mallory.principal.access_key_id
    );
    print!("   mallory calls iam:ListUsers ... ");
    match moto.probe(&mallory).await {
        Ok(()) => println!("{}", paint("31", "ALLOWED")),
        Err(code) => println!("unexpectedly refused: {code}"),
    }

    step(
        3,
        "GuardDuty reports Stealth:IAMUser/CloudTrailLoggingDisabled for mallory",
    );
    println!(
        "   event: {} (re-addressed to mallory's key)",
        fixture_path(FIXTURE).display()
    );
    let event = finding_for(FIXTURE, &mallory.principal);
    let binary = built_binary("responder");
    println!(
        "   sending it to the responder Lambda ({}) through the Lambda Runtime API",
        binary.display()
    );
    println!("   configuration: DEADBOLT_MODE=enforce (the default is dry-run)");
    let log = std::env::temp_dir().join(format!("deadbolt-demo-{}.log", std::process::id()));
    // GuardDuty (a stand-in on loopback: moto has no GetFindings) confirms the finding: the
    // responder decides on GuardDuty's copy, never on the event alone.
    moto.confirm(&event);
    println!(
        "   GuardDuty's copy of the finding: served by the stand-in at {}",
        moto.guardduty.endpoint()
    );
    let mut env = moto.binary_env();
    env.push(("DEADBOLT_MODE", "enforce".to_string()));
    env.push(("DEADBOLT_PROTECTED_PRINCIPALS", "break-glass-*".to_string()));
    let lambda = LambdaHarness::start(&binary, &env, log);
    let (lambda, result) = tokio::task::spawn_blocking(move || {
        let r = lambda.invoke(&event);
        (lambda, r)
    })
    .await
    .expect("invoke thread");
    let record = match result {
        Ok(record) => record,
        Err(e) => {
            eprintln!("the responder failed: {e}");
            std::process::exit(1);
        }
    };

    step(
        4,
        "The decision record (returned by the Lambda and logged as one JSON line)",
    );
    let pretty = serde_json::to_string_pretty(&record).unwrap_or_default();
    for line in pretty.lines() {
        println!("   {line}");
    }
    let logged = lambda
        .log_lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "decision")
        .count();
    println!("   ({logged} decision line(s) in the function's JSON log)");

    step(5, "mallory tries again");
    print!("   mallory calls iam:ListUsers ... ");
    match moto.probe(&mallory).await {
        Err(code) => println!("{} ({code})", paint("32", "DENIED")),
        Ok(()) => {
            println!("still allowed: containment did not take effect");
            std::process::exit(1);
        }
    }
    if let Some(doc) = moto.user_policy("mallory", "DenyAll").await {
        println!("   inline policy DenyAll on user/mallory: {doc}");
    }

    step(
        6,
        "Investigate: who was really behind a finding, and what else they did",
    );
    println!("   The walkthrough's CloudTrailLoggingDisabled finding on an Identity Center role session,");
    println!("   investigated offline from its CloudTrail log files (tests/fixtures/cloudtrail):");
    println!("   the same code the enricher Lambda runs on LookupEvents.\n");
    let finding = deadbolt_e2e::repo_root().join("tests/fixtures/scenario/finding.json");
    let raw = std::fs::read_to_string(&finding).unwrap_or_default();
    let enricher = deadbolt_trail::Enricher::new(
        deadbolt_trail::FileSource::new(
            deadbolt_e2e::repo_root().join("tests/fixtures/cloudtrail"),
        ),
        None::<NoNotifier>,
        deadbolt_core::followup::NoFollowUp,
        deadbolt_trail::InvestigationOptions::default(),
        deadbolt_trail::Limits::default(),
    );
    let record = enricher
        .handle(&raw, None, Ok(&deadbolt_core::Settings::default()))
        .await;
    match &record.report {
        Some(report) => {
            for line in report.to_text().lines() {
                println!("   {line}");
            }
        }
        None => println!("   not investigated: {}", record.message),
    }

    step(
        7,
        "And the responder's decision for that finding: an Identity Center session",
    );
    println!("   IAM refuses changes to AWSReservedSSO_* roles, so by default (strategy.identity_center:");
    println!("   manual) deadbolt writes nothing and puts the exact steps in the record. The same");
    println!("   responder code, in its account, enforce mode, with nothing to call:\n");
    let responder = deadbolt_core::Responder::new(deadbolt_core::Ports::iam(
        deadbolt_core::memory::MemoryPolicies::new(),
        deadbolt_core::memory::FixedIdentity::new(
            "111122223333",
            "arn:aws:sts::111122223333:assumed-role/deadbolt-responder/responder",
        ),
    ));
    let enforce = deadbolt_core::Settings {
        mode: deadbolt_core::Mode::Enforce,
        ..deadbolt_core::Settings::default()
    };
    let decision = responder.handle(&raw, &enforce).await;
    for line in decision.to_text().lines() {
        println!("   {line}");
    }

    // The same investigation as a page to look at: one self-contained HTML file.
    if let Some(report) = &record.report {
        let panel = serde_json::from_str(&decision.to_json())
            .ok()
            .and_then(|v| deadbolt_trail::html::DecisionPanel::from_record_json(&v));
        let page = deadbolt_trail::html::render(report, panel.as_ref());
        let path = deadbolt_e2e::repo_root().join("target/deadbolt-demo-report.html");
        match std::fs::write(&path, page) {
            Ok(()) => println!(
                "\n   The investigation as a page (inline CSS and SVG, no script, fetches nothing):\n   {}",
                path.display()
            ),
            Err(e) => println!("\n   could not write {}: {e}", path.display()),
        }
    }

    println!("\nUndo the block: deadbolt unblock --user mallory --reason \"demo over\"   (or playbook 2.5: aws iam delete-user-policy --user-name mallory --policy-name DenyAll)");
    println!("Replay any finding yourself, dry-run by default: deadbolt replay FINDING.json");
    println!(
        "Investigate one: deadbolt report FINDING.json [--cloudtrail DIR] [--markdown|--json] [--html FILE]"
    );
}

/// The demo prints the summary instead of publishing it.
struct NoNotifier;

impl deadbolt_trail::Notifier for NoNotifier {
    async fn publish(
        &self,
        _subject: &str,
        _message: &str,
    ) -> Result<(), deadbolt_trail::NotifyError> {
        Ok(())
    }
}
