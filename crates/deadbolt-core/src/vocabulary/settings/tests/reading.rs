//! Documents read, and refused with the position, key and accepted values.

use super::*;

#[test]
fn parses_the_documented_example() {
    let s = Settings::parse(EXAMPLE).unwrap();
    assert_eq!(s.mode, Mode::DryRun);
    assert_eq!(s.min_severity, 4.0);
    assert_eq!(
        s.finding_types,
        vec!["Stealth:IAMUser/", "UnauthorizedAccess:IAMUser/"]
    );
    assert_eq!(s.protected_principals, vec!["break-glass-*"]);
    assert_eq!(s.mode_by_finding_type["PenTest:IAMUser/"], Mode::Off);
    assert_eq!(s.mode_by_account["123456789012"], Mode::Enforce);
    assert_eq!(s.strategy, StrategySettings::default());
    assert_eq!(
        s.circuit_breaker,
        Some(CircuitBreakerSettings {
            max_enforced_per_hour: 10
        })
    );
}

#[test]
fn the_repository_example_file_parses() {
    let text = include_str!("../../../../../../docs/config.example.json");
    let s = Settings::parse(text).unwrap();
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
}

#[test]
fn every_key_is_optional_and_absent_means_the_env_defaults() {
    assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
    assert_eq!(
        Settings::parse(r#"{"mode": null, "strategy": {}}"#).unwrap(),
        Settings::default()
    );
    assert_eq!(
        Settings::from_lookup(|_| None).unwrap(),
        Settings::default()
    );
}

#[test]
fn round_trips_through_to_json_pretty() {
    let mut s = Settings::parse(EXAMPLE).unwrap();
    s.strategy.role = RoleStrategy::RevokeSessions;
    s.strategy.user_deactivate_access_key = true;
    let text = s.to_json_pretty();
    assert!(text.contains("\"version\": 1"), "{text}");
    assert!(text.contains("\"role\": \"revoke-sessions\""), "{text}");
    assert_eq!(Settings::parse(&text).unwrap(), s);
    // The default breaker, and "no limit" (written as 0 so it survives the round trip:
    // an absent key is the default breaker).
    let default = Settings::default();
    assert_eq!(
        default.max_enforced_per_hour(),
        Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
    );
    assert_eq!(Settings::parse(&default.to_json_pretty()).unwrap(), default);
    let unlimited = Settings {
        circuit_breaker: None,
        ..Settings::default()
    };
    let text = unlimited.to_json_pretty();
    assert!(text.contains("\"max_enforced_per_hour\": 0"), "{text}");
    assert_eq!(Settings::parse(&text).unwrap(), unlimited);
    assert_eq!(
        Settings::parse(r#"{"circuit_breaker": null}"#).unwrap(),
        unlimited
    );
    assert!(unlimited.warnings()[0].contains("NO limit on enforced containments"));
    assert!(default.warnings().is_empty());
}

#[test]
fn mode_precedence_account_then_longest_prefix_then_global() {
    let s = Settings::parse(
        r#"{
              "mode": "dry-run",
              "mode_by_finding_type": {
                "UnauthorizedAccess:IAMUser/": "enforce",
                "UnauthorizedAccess:IAMUser/TorIPCaller": "off"
              },
              "mode_by_account": {"111111111111": "enforce", "222222222222": "off"}
            }"#,
    )
    .unwrap();
    let other = "333333333333";
    assert_eq!(
        s.effective_mode("Stealth:IAMUser/CloudTrailLoggingDisabled", other),
        Mode::DryRun
    );
    assert_eq!(
        s.effective_mode("UnauthorizedAccess:IAMUser/MaliciousIPCaller", other),
        Mode::Enforce
    );
    assert_eq!(
        s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", other),
        Mode::Off
    );
    assert_eq!(
        s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "111111111111"),
        Mode::Enforce
    );
    assert_eq!(
        s.effective_mode(
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
            "222222222222"
        ),
        Mode::Off
    );
    let c = &s;
    assert_eq!(
        c.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "111111111111"),
        Mode::Enforce
    );
    assert_eq!(
        c.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", other),
        Mode::Off
    );
}

#[test]
fn invalid_mode_names_line_column_key_and_accepted_values() {
    let e = err("{\n  \"version\": 1,\n  \"mode\": \"enforcing\"\n}");
    assert_eq!(
            e.to_string(),
            "line 3, column 21: mode \"enforcing\" is not accepted; accepted values: off, dry-run, approve, enforce"
        );
}

#[test]
fn unknown_keys_name_the_key_path_line_and_accepted_keys() {
    let e = err("{\n  \"moed\": \"enforce\"\n}");
    assert_eq!(
        e.to_string(),
        format!("unknown key \"moed\" at line 2, column 8; accepted keys: {KEYS}")
    );
    let e = err("{\"strategy\": {\"rol\": \"deny-all\"}}");
    assert!(
        e.to_string()
            .starts_with("unknown key \"strategy.rol\" at line 1"),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with(&format!("accepted keys: {STRATEGY_KEYS}")),
        "{e}"
    );
    let e = err("{\"circuit_breaker\": {\"max_per_hour\": 3}}");
    assert!(
        e.to_string().contains("\"circuit_breaker.max_per_hour\""),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("accepted keys: max_enforced_per_hour"),
        "{e}"
    );
}

#[test]
fn the_removed_user_and_group_strategy_keys_are_unknown() {
    // Users and groups are always contained with deny-all; a document or `config set`
    // still naming the keys is refused rather than silently accepted.
    for key in ["user", "group"] {
        let e = err(&format!(r#"{{"strategy": {{"{key}": "deny-all"}}}}"#));
        assert!(
            matches!(&e, SettingsError::UnknownKey { key: k, accepted, .. }
                    if *k == format!("strategy.{key}") && accepted == STRATEGY_KEYS),
            "{e}"
        );
        let mut s = Settings::default();
        let e = s.set(&format!("strategy.{key}"), "deny-all").unwrap_err();
        assert!(
            matches!(&e, SettingsError::UnknownKey { accepted, .. } if accepted == SETTABLE_KEYS),
            "{e}"
        );
    }
}

#[test]
fn every_invalid_value_names_its_key_and_accepted_values() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"version": 2}"#,
            "version 2 is not a version",
            "accepted values: 1",
        ),
        (
            r#"{"version": "1"}"#,
            "version has the wrong type",
            "accepted values: 1",
        ),
        (
            r#"{"min_severity": 11}"#,
            "min_severity 11 is out of range",
            "a number from 0 to 10",
        ),
        (
            r#"{"min_severity": -1}"#,
            "min_severity -1 is out of range",
            "a number from 0 to 10",
        ),
        (
            r#"{"min_severity": "high"}"#,
            "min_severity has the wrong type: string \"high\"",
            "a number from 0 to 10",
        ),
        (
            r#"{"finding_types": ["Stealth:IAMUser/", "TorIPCaller"]}"#,
            "finding_types \"TorIPCaller\" is not a finding-type prefix",
            "containing ':'",
        ),
        (
            r#"{"finding_types": []}"#,
            "finding_types is empty",
            "finding-type prefixes",
        ),
        (
            r#"{"finding_types": "Stealth:IAMUser/"}"#,
            "finding_types has the wrong type",
            "a non-empty list",
        ),
        (
            r#"{"protected_principals": ["ok", "bob\"}"]}"#,
            "protected_principals[1] \"bob\\\"}\" is not a principal pattern",
            "* and ? wildcards",
        ),
        (
            r#"{"protected_principals": [""]}"#,
            "protected_principals[0] \"\" is not a principal pattern",
            "wildcards",
        ),
        (
            r#"{"mode_by_account": {"12345": "off"}}"#,
            "mode_by_account key \"12345\" is not a 12-digit account id",
            "12-digit",
        ),
        (
            r#"{"mode_by_account": {"123456789012": "enforcing"}}"#,
            "mode_by_account.123456789012 \"enforcing\" is not accepted",
            "accepted values: off, dry-run, approve, enforce",
        ),
        (
            r#"{"mode_by_finding_type": {"*": "off"}}"#,
            "mode_by_finding_type key \"*\" cannot be overridden per finding type",
            "set \"mode\"",
        ),
        (
            r#"{"mode_by_finding_type": {"PenTest": "off"}}"#,
            "\"PenTest\" is not a finding-type prefix",
            "containing ':'",
        ),
        (
            r#"{"strategy": {"role": "revoke"}}"#,
            "strategy.role \"revoke\" is not accepted",
            "accepted values: deny-all, revoke-sessions, deny-session",
        ),
        (
            r#"{"strategy": {"user_deactivate_access_key": "yes"}}"#,
            "strategy.user_deactivate_access_key has the wrong type",
            "accepted values: true, false",
        ),
        (
            r#"{"circuit_breaker": {"max_enforced_per_hour": 10001}}"#,
            "circuit_breaker.max_enforced_per_hour 10001 is out of range",
            "from 0 (no limit) to 10000",
        ),
        (
            r#"{"circuit_breaker": {"max_enforced_per_hour": 2.5}}"#,
            "circuit_breaker.max_enforced_per_hour has the wrong type",
            "from 0 (no limit) to 10000",
        ),
        (
            r#"{"circuit_breaker": {}}"#,
            "circuit_breaker.max_enforced_per_hour is missing",
            "from 0 (no limit) to 10000",
        ),
        (
            "[]",
            "the document has the wrong type: sequence",
            "a JSON object",
        ),
        (
            "null",
            "the document has the wrong type: null",
            "a JSON object",
        ),
        (
            "1",
            "the document has the wrong type: integer",
            "a JSON object",
        ),
        (
            r#"[null, "enforce"]"#,
            "the document has the wrong type: sequence",
            "a JSON object",
        ),
        (
            r#"{"strategy": [null, "revoke-sessions"]}"#,
            "strategy has the wrong type: sequence",
            "an object with the keys role",
        ),
        (
            r#"{"circuit_breaker": [5]}"#,
            "circuit_breaker has the wrong type: sequence",
            "max_enforced_per_hour",
        ),
    ];
    for (text, problem, accepted) in cases {
        let e = err(text).to_string();
        assert!(e.starts_with("line 1, column "), "{text}: {e}");
        assert!(e.contains(problem), "{text}: {e}");
        assert!(e.contains(accepted), "{text}: {e}");
    }
}

#[test]
fn duplicate_keys_are_refused_not_silently_last_wins() {
    let e = err(r#"{"mode": "off", "mode": "enforce"}"#);
    assert!(
        matches!(&e, SettingsError::DuplicateKey { key, .. } if key == "mode"),
        "{e}"
    );
    let e = err(r#"{"mode_by_account": {"123456789012": "off", "123456789012": "enforce"}}"#);
    assert!(e.to_string().contains("duplicate key"), "{e}");
    assert!(e.to_string().contains("123456789012"), "{e}");
}

#[test]
fn errors_point_at_the_key_or_entry_at_fault() {
    // A repeated key: the second occurrence, not the end of its value.
    let e = err(r#"{"mode": "off", "mode": "enforce"}"#);
    assert_eq!(
        e.to_string(),
        "duplicate key \"mode\" at line 1, column 22; each key may appear only once"
    );
    // A bad list entry: its own line, not the end of the list.
    let e = err("{\"protected_principals\": [\n  \"ok\",\n  \"b b\",\n  \"c\"\n]}");
    assert!(
        e.to_string()
            .starts_with("line 3, column 7: protected_principals[1]"),
        "{e}"
    );
    // A map value of the wrong kind is a wrong type, not a JSON syntax error.
    let e = err(r#"{"mode_by_account": {"123456789012": null}}"#);
    assert!(
        matches!(&e, SettingsError::InvalidValue { key, problem, .. }
                if key == "mode_by_account.123456789012" && problem == "has the wrong type: null"),
        "{e:?}"
    );
    // Modes are strings: serde's other spelling of an enum (`{"enforce": null}`) is refused.
    let e = err(r#"{"mode": {"enforce": null}}"#);
    assert!(
        matches!(&e, SettingsError::InvalidValue { key, problem, .. }
                if key == "mode" && problem == "has the wrong type: map"),
        "{e:?}"
    );
}

#[test]
fn broken_json_empty_and_oversized_documents() {
    assert_eq!(err("  "), SettingsError::Empty);
    let e = err("{\n  \"mode\": \"off\",\n}");
    assert!(matches!(e, SettingsError::Syntax { line: 3, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("line 3, column 1: the configuration document is not valid JSON"),
        "{e}"
    );
    let e = err("{\"mode\": \"off\"} {}");
    assert!(matches!(e, SettingsError::Syntax { line: 1, .. }), "{e:?}");
    let e = err("{\"mode\": ");
    assert!(matches!(e, SettingsError::Syntax { .. }), "{e:?}");
    let big = format!(
        "{{\"protected_principals\": [\"{}\"]}}",
        "a".repeat(MAX_DOCUMENT_BYTES)
    );
    assert!(matches!(err(&big), SettingsError::TooLarge { .. }));
}
