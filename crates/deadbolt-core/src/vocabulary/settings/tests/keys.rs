//! What the keys mean: precedence, `config set`, diffs, durations, member accounts.

use super::*;

#[test]
fn diff_names_each_changed_key_in_document_order() {
    let old = Settings::parse(
        r#"{"mode": "dry-run", "protected_principals": ["break-glass-*", "admin"],
                "mode_by_account": {"123456789012": "off"}}"#,
    )
    .unwrap();
    let new = Settings::parse(
        r#"{"mode": "enforce", "protected_principals": ["admin", "ops-*"],
                "mode_by_account": {"210987654321": "dry-run"},
                "strategy": {"role": "revoke-sessions"},
                "circuit_breaker": {"max_enforced_per_hour": 20}}"#,
    )
    .unwrap();
    let lines: Vec<String> = old.diff(&new).iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        [
            "mode: dry-run -> enforce",
            "protected_principals: removed \"break-glass-*\"",
            "protected_principals: added \"ops-*\"",
            "mode_by_account.123456789012: removed \"off\"",
            "mode_by_account.210987654321: added \"dry-run\"",
            "strategy.role: deny-all -> revoke-sessions",
            "circuit_breaker.max_enforced_per_hour: 10 -> 20",
        ]
    );
    assert!(old.diff(&old).is_empty());
    // An explicit default is no change; the order of a list is none either.
    let explicit = Settings::parse(r#"{"mode": "dry-run", "follow_up": "off", "protected_principals": ["admin", "break-glass-*"], "mode_by_account": {"123456789012": "off"}}"#).unwrap();
    assert!(old.diff(&explicit).is_empty(), "{:?}", old.diff(&explicit));
    assert_eq!(
        serde_json::to_value(&old.diff(&new)[0]).unwrap(),
        serde_json::json!({"change": "changed", "key": "mode", "from": "dry-run", "to": "enforce"})
    );
}

#[test]
fn global_off_is_a_kill_switch_no_override_wins_over_it() {
    let s = Settings::parse(
            r#"{"mode": "off",
                "mode_by_account": {"123456789012": "enforce"},
                "mode_by_finding_type": {"UnauthorizedAccess:IAMUser/": "enforce", "PenTest:IAMUser/": "dry-run"}}"#,
        )
        .unwrap();
    for (finding_type, account) in [
        ("Stealth:IAMUser/X", "123456789012"),
        ("UnauthorizedAccess:IAMUser/TorIPCaller", "999999999999"),
        ("UnauthorizedAccess:IAMUser/TorIPCaller", "123456789012"),
        ("PenTest:IAMUser/KaliLinux", "999999999999"),
    ] {
        assert_eq!(
            s.effective_mode(finding_type, account),
            Mode::Off,
            "{finding_type} in {account}"
        );
    }
    // Overrides still apply under dry-run and enforce, in either direction.
    let mut s = s;
    s.mode = Mode::DryRun;
    assert_eq!(
        s.effective_mode("Stealth:IAMUser/X", "123456789012"),
        Mode::Enforce
    );
    assert_eq!(
        s.effective_mode("PenTest:IAMUser/KaliLinux", "999999999999"),
        Mode::DryRun
    );
    s.mode = Mode::Enforce;
    s.mode_by_account.insert("123456789012".into(), Mode::Off);
    assert_eq!(
        s.effective_mode("UnauthorizedAccess:IAMUser/TorIPCaller", "123456789012"),
        Mode::Off
    );
}

#[test]
fn set_changes_one_key_validated_like_the_document() {
    let mut s = Settings::default();
    s.set("mode", "enforce").unwrap();
    s.set("min_severity", "7").unwrap();
    s.set("finding_types", "Stealth:IAMUser/, PenTest:IAMUser/")
        .unwrap();
    s.set(
        "protected_principals",
        "break-glass-*,arn:aws:iam::*:role/Admin",
    )
    .unwrap();
    s.set("strategy.role", "deny-session").unwrap();
    s.set("strategy.user_deactivate_access_key", "true")
        .unwrap();
    s.set("circuit_breaker.max_enforced_per_hour", "5").unwrap();
    s.set("strategy.identity_center", "permission-set-deny")
        .unwrap();
    s.set("follow_up", "dry-run").unwrap();
    s.set("mode_by_account.123456789012", "off").unwrap();
    s.set("mode_by_finding_type.PenTest:IAMUser/", "dry-run")
        .unwrap();
    assert_eq!(s.mode, Mode::Enforce);
    assert_eq!(s.min_severity, 7.0);
    assert_eq!(
        s.finding_types,
        vec!["Stealth:IAMUser/", "PenTest:IAMUser/"]
    );
    assert_eq!(s.protected_principals.len(), 2);
    assert_eq!(s.strategy.role, RoleStrategy::DenySession);
    assert!(s.strategy.user_deactivate_access_key);
    assert_eq!(
        s.strategy.identity_center,
        IdentityCenterStrategy::PermissionSetDeny
    );
    assert_eq!(s.follow_up, Mode::DryRun);
    assert_eq!(s.circuit_breaker.map(|c| c.max_enforced_per_hour), Some(5));
    assert_eq!(
        s.effective_mode("Stealth:IAMUser/X", "123456789012"),
        Mode::Off
    );
    assert_eq!(
        s.effective_mode("PenTest:IAMUser/KaliLinux", "999999999999"),
        Mode::DryRun
    );
    // What `set` produces, the document reads back identically.
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);

    s.set("mode_by_account.123456789012", "unset").unwrap();
    s.set("circuit_breaker.max_enforced_per_hour", "unset")
        .unwrap();
    s.set("protected_principals", "").unwrap();
    assert!(s.mode_by_account.is_empty());
    // unset: back to the default breaker; 0: no limit.
    assert_eq!(
        s.max_enforced_per_hour(),
        Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
    );
    s.set("circuit_breaker.max_enforced_per_hour", "0").unwrap();
    assert_eq!(s.circuit_breaker, None);
    assert!(s.protected_principals.is_empty());
}

#[test]
fn set_refuses_unknown_keys_and_values_with_the_accepted_ones_and_changes_nothing() {
    let mut s = Settings::default();
    let before = s.clone();
    let cases: &[(&str, &str, &str)] = &[
        ("moed", "enforce", SETTABLE_KEYS),
        ("version", "2", SETTABLE_KEYS),
        (
            "mode",
            "enforcing",
            "accepted values: off, dry-run, approve, enforce",
        ),
        (
            "mode",
            "Enforce",
            "accepted values: off, dry-run, approve, enforce",
        ),
        ("min_severity", "high", "a number from 0 to 10"),
        ("min_severity", "10.5", "a number from 0 to 10"),
        ("finding_types", "", "finding-type prefixes"),
        (
            "finding_types",
            "Stealth:IAMUser/,TorIPCaller",
            "finding-type prefixes",
        ),
        ("protected_principals", "bob\"}", "wildcards"),
        (
            "strategy.identity_center",
            "auto",
            "accepted values: manual, permission-set-deny",
        ),
        ("follow_up", "on", "accepted values: off, dry-run, enforce"),
        (
            "strategy.role",
            "revoke",
            "deny-all, revoke-sessions, deny-session",
        ),
        ("strategy.user_deactivate_access_key", "yes", "true, false"),
        (
            "circuit_breaker.max_enforced_per_hour",
            "10001",
            "from 0 (no limit) to 10000",
        ),
        ("circuit_breaker.max_enforced_per_hour", "-3", "or unset"),
        ("mode_by_account.1234", "off", "12-digit"),
        (
            "mode_by_account.123456789012",
            "on",
            "or unset to remove the override",
        ),
        ("mode_by_finding_type.*", "off", "finding-type prefixes"),
    ];
    for (key, value, accepted) in cases {
        let e = s.set(key, value).unwrap_err().to_string();
        assert!(e.contains(accepted), "{key}={value}: {e}");
        assert!(!e.contains("line "), "{key}={value}: {e}");
    }
    assert_eq!(s, before);
    assert_eq!(
        s.set("mode", "enforcing").unwrap_err().to_string(),
        "mode \"enforcing\" is not accepted; accepted values: off, dry-run, approve, enforce"
    );
}

#[test]
fn env_fallback_is_a_settings_document_too() {
    let s = Settings::from_lookup(|k| match k {
        "DEADBOLT_MODE" => Some("enforce".into()),
        "DEADBOLT_MIN_SEVERITY" => Some("5".into()),
        "DEADBOLT_PROTECTED_PRINCIPALS" => Some("Break-Glass-*".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(s.mode, Mode::Enforce);
    assert_eq!(s.min_severity, 5.0);
    assert_eq!(s.protected_principals, vec!["break-glass-*"]);
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
    // A fresh stack with no document: the default breaker is in force.
    assert_eq!(
        s.max_enforced_per_hour(),
        Some(DEFAULT_MAX_ENFORCED_PER_HOUR)
    );
    let with_breaker =
        Settings::parse(r#"{"circuit_breaker":{"max_enforced_per_hour":3}}"#).unwrap();
    assert_eq!(with_breaker.max_enforced_per_hour(), Some(3));
}

#[test]
fn max_finding_age_takes_a_duration_with_a_unit() {
    let s = Settings::parse(r#"{"max_finding_age": "90m"}"#).unwrap();
    assert_eq!(s.max_finding_age_secs, 5400);
    assert_eq!(Settings::default().max_finding_age_secs, 86_400);
    assert!(s.to_json_pretty().contains("\"max_finding_age\": \"90m\""));
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
    for (text, problem) in [
        (r#"{"max_finding_age": "24"}"#, "has no unit"),
        (r#"{"max_finding_age": "0h"}"#, "is out of range"),
        (r#"{"max_finding_age": "31d"}"#, "is out of range"),
        (r#"{"max_finding_age": "1.5h"}"#, "not a whole number"),
        (r#"{"max_finding_age": 3600}"#, "has the wrong type"),
    ] {
        let e = err(text).to_string();
        assert!(e.contains(problem), "{text}: {e}");
        assert!(e.contains("such as \"24h\""), "{text}: {e}");
    }
    let mut s = Settings::default();
    s.set("max_finding_age", "2d").unwrap();
    assert_eq!(s.max_finding_age_secs, 2 * 86_400);
    assert!(s.set("max_finding_age", "soon").is_err());
}

#[test]
fn member_accounts_take_ids_or_star_and_member_role_an_iam_name() {
    let s = Settings::parse(r#"{"member_accounts": ["111111111111", "222222222222"]}"#).unwrap();
    assert!(s.is_member_account("111111111111"));
    assert!(!s.is_member_account("333333333333"));
    assert_eq!(s.member_role, "deadbolt-member");
    let any =
        Settings::parse(r#"{"member_accounts": "*", "member_role": "sec-deadbolt"}"#).unwrap();
    assert!(any.is_member_account("333333333333"));
    assert_eq!(any.member_role, "sec-deadbolt");
    assert_eq!(Settings::parse(&any.to_json_pretty()).unwrap(), any);
    assert!(!Settings::default().is_member_account("111111111111"));
    for (doc, says) in [
        (r#"{"member_accounts": ["1111"]}"#, "member_accounts[0]"),
        (
            r#"{"member_accounts": "111111111111"}"#,
            "has the wrong type",
        ),
        (
            r#"{"member_accounts": [111111111111]}"#,
            "member_accounts[0]",
        ),
        (r#"{"member_role": "a/b"}"#, "is not an IAM role name"),
        (r#"{"member_role": ""}"#, "is not an IAM role name"),
    ] {
        let e = Settings::parse(doc).unwrap_err().to_string();
        assert!(e.contains(says), "{doc}: {e}");
        assert!(e.contains("member_"), "{doc}: {e}");
    }
    let mut s = Settings::default();
    s.set("member_accounts", "111111111111, 222222222222")
        .unwrap();
    assert_eq!(s.member_accounts, ["111111111111", "222222222222"]);
    assert!(s.set("member_accounts", "111111111111,x").is_err());
    assert_eq!(s.member_accounts.len(), 2, "a refused set changes nothing");
    s.set("member_role", "deadbolt-hub").unwrap();
    assert_eq!(s.member_role, "deadbolt-hub");
    s.set("member_accounts", "").unwrap();
    assert!(s.member_accounts.is_empty());
}

#[test]
fn strategy_by_finding_type_overrides_the_role_strategy_per_prefix() {
    let d = Settings::default();
    let exfil = "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS";
    assert_eq!(d.role_strategy_for(exfil), RoleStrategy::RevokeSessions);
    assert_eq!(
        d.role_strategy_for("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"),
        RoleStrategy::RevokeSessions
    );
    assert_eq!(
        d.role_strategy_for("UnauthorizedAccess:IAMUser/TorIPCaller"),
        RoleStrategy::DenyAll
    );
    // The document replaces the map; the longest prefix wins; strategy.role is the rest.
    let s = Settings::parse(
            r#"{"strategy": {"role": "deny-session"}, "strategy_by_finding_type": {"UnauthorizedAccess:IAMUser/": "deny-all", "UnauthorizedAccess:IAMUser/TorIPCaller": "revoke-sessions"}}"#,
        )
        .unwrap();
    assert_eq!(
        s.role_strategy_for("UnauthorizedAccess:IAMUser/TorIPCaller"),
        RoleStrategy::RevokeSessions
    );
    assert_eq!(s.role_strategy_for(exfil), RoleStrategy::DenyAll);
    assert_eq!(
        s.role_strategy_for("Discovery:IAMUser/AnomalousBehavior"),
        RoleStrategy::DenySession
    );
    assert_eq!(Settings::parse(&s.to_json_pretty()).unwrap(), s);
    assert!(d.to_json_pretty().contains(
        "\"UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration\": \"revoke-sessions\""
    ));
    // `null` keeps the defaults; `{}` removes every override.
    let null = Settings::parse(r#"{"strategy_by_finding_type": null}"#).unwrap();
    assert_eq!(null.strategy_by_finding_type, d.strategy_by_finding_type);
    let none = Settings::parse(r#"{"strategy_by_finding_type": {}}"#).unwrap();
    assert_eq!(none.role_strategy_for(exfil), RoleStrategy::DenyAll);
    // Typed problems with line, column and the accepted values.
    for (text, expected) in [
            (
                "{\"strategy_by_finding_type\": {\"Stealth:IAMUser/\": \"revoke\"}}",
                "line 1, column 58: strategy_by_finding_type.Stealth:IAMUser/ \"revoke\" is not accepted; accepted values: deny-all, revoke-sessions, deny-session",
            ),
            (
                "{\n \"strategy_by_finding_type\": {\"TorIPCaller\": \"deny-all\"}}",
                "line 2, column 43: strategy_by_finding_type key \"TorIPCaller\" is not a finding-type prefix; accepted values: finding-type prefixes",
            ),
            (
                "{\"strategy_by_finding_type\": [\"deny-all\"]}",
                "strategy_by_finding_type has the wrong type: sequence",
            ),
        ] {
            let e = err(text).to_string();
            assert!(e.starts_with(expected) || e.contains(expected), "{text}: {e}");
        }
    // config set, validated the same way; unset removes one override.
    let mut s = Settings::default();
    s.set("strategy_by_finding_type.PenTest:IAMUser/", "deny-session")
        .unwrap();
    assert_eq!(
        s.role_strategy_for("PenTest:IAMUser/KaliLinux"),
        RoleStrategy::DenySession
    );
    s.set(
        "strategy_by_finding_type.UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration",
        "unset",
    )
    .unwrap();
    assert_eq!(s.role_strategy_for(exfil), RoleStrategy::DenyAll);
    assert!(s
        .set("strategy_by_finding_type.PenTest:IAMUser/", "revoke")
        .is_err());
    assert!(s.set("strategy_by_finding_type.*", "deny-all").is_err());
    assert_eq!(
            Settings::default()
                .diff(&s)
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            [
                "strategy_by_finding_type.PenTest:IAMUser/: added \"deny-session\"",
                "strategy_by_finding_type.UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration: removed \"revoke-sessions\""
            ]
        );
}

#[test]
fn notify_only_families_need_an_explicit_finding_type() {
    let d = Settings::default();
    let t = "Policy:S3/BucketBlockPublicAccessDisabled";
    assert_eq!(d.notify_only_family(t), Some("Policy:S3/"));
    let star = Settings::parse(r#"{"finding_types": ["*"]}"#).unwrap();
    assert_eq!(star.notify_only_family(t), Some("Policy:S3/"));
    let named = Settings::parse(r#"{"finding_types": ["Policy:S3/"]}"#).unwrap();
    assert_eq!(named.notify_only_family(t), None);
    let broad = Settings::parse(r#"{"finding_types": ["Policy:"]}"#).unwrap();
    assert_eq!(broad.notify_only_family(t), Some("Policy:S3/"));
    assert_eq!(
        d.notify_only_family("Exfiltration:S3/MaliciousIPCaller"),
        None
    );
}
