//! The simulation's decisions and breaker math, without GuardDuty: the same decision as the
//! responder, the breaker counted as if enforced, nothing written.

mod common;
use common::*;

use deadbolt_core::settings::CircuitBreakerSettings;
use deadbolt_core::simulate::simulate;
use deadbolt_core::{parse_event, AccountContext, Finding, Mode, Outcome, Reason, Settings};

fn finding(file: &str, edits: &[(&str, serde_json::Value)]) -> Finding {
    parse_event(&fixture_with(file, edits)).unwrap().detail
}

fn at(t: &str) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("/detail/createdAt", serde_json::json!(t)),
        ("/detail/updatedAt", serde_json::json!(t)),
    ]
}

#[test]
fn dry_run_shows_when_the_breaker_would_have_tripped_and_repeats_consume_nothing() {
    let settings = Settings {
        circuit_breaker: Some(CircuitBreakerSettings {
            max_enforced_per_hour: 1,
        }),
        ..Settings::default()
    };
    assert_eq!(settings.mode, Mode::DryRun);
    let mut other = at("2026-11-20T10:20:00.000Z");
    other.push((
        "/detail/resource/accessKeyDetails/userName",
        serde_json::json!("other-role"),
    ));
    let findings = vec![
        // Out of order on purpose: the simulation orders by createdAt.
        finding("tor-ip-caller.json", &other),
        finding("tor-ip-caller.json", &at("2026-11-20T10:05:00.000Z")),
        finding(
            "anomalous-defense-evasion.json",
            &at("2026-11-20T10:10:00.000Z"),
        ),
    ];
    let account = AccountContext::from_caller(ACCOUNT, OWN_ARN);
    let sim = simulate(
        &findings,
        &settings,
        &account,
        "2026-11-01T00:00:00Z",
        "test",
    );
    let got: Vec<(String, Outcome, Reason)> = sim
        .findings
        .iter()
        .map(|f| {
            let d = &f.decisions[0];
            (d.target.clone().unwrap(), d.outcome, d.reason)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "role/app-deployer".into(),
                Outcome::WouldContain,
                Reason::DryRun
            ),
            // The same role again: already contained, no breaker slot.
            (
                "role/app-deployer".into(),
                Outcome::AlreadyContained,
                Reason::DeadboltDenyAllPresent
            ),
            // Another role in the same hour: past the limit of 1, still only dry-run.
            (
                "role/other-role".into(),
                Outcome::WouldContain,
                Reason::DryRun
            ),
        ]
    );
    assert!(sim.findings[2].decisions[0]
        .message
        .contains("if enforced, the circuit breaker would have held it"));
    let breaker = &sim.summary.circuit_breaker;
    assert_eq!(breaker.writes, 2);
    assert_eq!(breaker.tripped.len(), 1);
    assert_eq!(
        (breaker.tripped[0].hour.as_str(), breaker.tripped[0].refused),
        ("2026-11-20T10:00Z", 1)
    );
    // In enforce, the refused one is held and its principal is not counted as contained.
    let enforce = Settings {
        mode: Mode::Enforce,
        ..settings
    };
    let sim = simulate(
        &findings,
        &enforce,
        &account,
        "2026-11-01T00:00:00Z",
        "test",
    );
    assert_eq!(sim.findings[2].decisions[0].outcome, Outcome::Held);
    assert_eq!(sim.summary.held_principals, ["role/other-role"]);
    assert_eq!(
        sim.summary
            .contained_principals
            .iter()
            .map(|p| p.target.as_str())
            .collect::<Vec<_>>(),
        ["role/app-deployer"]
    );
}

#[test]
fn a_sequence_is_one_line_per_principal_and_protected_ones_are_listed() {
    let settings = Settings {
        protected_principals: vec!["break-glass-*".into()],
        ..Settings::default()
    };
    let findings = vec![finding("attack-sequence-compromised-credentials.json", &[])];
    let account = AccountContext::from_caller(ACCOUNT, OWN_ARN);
    let sim = simulate(&findings, &settings, &account, "x", "test");
    assert_eq!(sim.findings[0].decisions.len(), 3);
    assert_eq!(sim.summary.decisions, 3);
    assert_eq!(
        sim.summary.protected_principals[0].target,
        "user/break-glass-admin"
    );
    assert_eq!(sim.summary.protected_principals[0].pattern, "break-glass-*");
    let text = sim.to_text();
    assert!(text.contains("user/break-glass-admin"), "{text}");
    assert!(
        // A breaker is in force by default.
        text.contains("circuit breaker (10 per hour): would not have tripped; 2 write(s)"),
        "{text}"
    );
}
