//! An Extended Threat Detection attack sequence end to end: `deadbolt replay --enforce` (the
//! responder's engine, verified with the GuardDuty stand-in) against moto with IAM
//! authentication on. Each actor the sequence names is decided on its own: the IAM user and the
//! role session are locked out, the protected break-glass user keeps working, and one record
//! carries every decision.

use deadbolt_e2e::Moto;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_actor_of_an_attack_sequence_is_contained_except_the_protected_one() {
    deadbolt_e2e::require_tools!(MotoServer);
    let moto = Moto::start().await;
    let mallory = moto.create_attacker_user("mallory").await;
    let session = moto
        .create_attacker_session("app-deployer", "ci-runner-42")
        .await;
    let admin = moto.create_attacker_user("break-glass-admin").await;
    for who in [&mallory, &session, &admin] {
        assert_eq!(moto.probe(who).await, Ok(()), "before containment");
    }
    {
        use deadbolt_core::runtime::SettingsStore;
        deadbolt_aws::SsmSettingsStore::from_conf(
            &moto.sdk_config(&moto.admin),
            "/deadbolt/config",
        )
        .store(r#"{"version": 1, "mode": "dry-run", "protected_principals": ["break-glass-*"]}"#)
        .await
        .unwrap();
    }

    // The fixture's sequence, its actors' ids and keys those moto issued.
    let path = deadbolt_e2e::fixture_path("attack-sequence-compromised-credentials.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sequence = &mut event["detail"]["service"]["detection"]["sequence"];
    for (i, who) in [&mallory, &session, &admin].iter().enumerate() {
        let user = &mut sequence["actors"][i]["user"];
        user["uid"] = who.principal.principal_id.clone().into();
        user["credentialUid"] = who.principal.access_key_id.clone().into();
    }
    sequence["resources"][0]["uid"] = mallory.principal.access_key_id.clone().into();
    sequence["resources"][0]["data"]["accessKey"]["principalId"] =
        mallory.principal.principal_id.clone().into();
    let file = std::env::temp_dir().join(format!("deadbolt-sequence-{}.json", std::process::id()));
    std::fs::write(&file, event.to_string()).unwrap();

    let out = moto.deadbolt(&["replay", file.to_str().unwrap(), "--enforce", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["verified_with_guardduty"], true, "{record}");
    let each: Vec<(&str, &str, &str)> = record["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["principal"]["name"].as_str().unwrap(),
                d["outcome"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        each,
        [
            ("mallory", "contained", "deny_all_attached"),
            ("app-deployer", "contained", "deny_all_attached"),
            ("break-glass-admin", "skipped", "protected_principal"),
        ],
        "{record}"
    );
    assert_eq!(record["outcome"], "contained");
    assert_eq!(moto.probe(&mallory).await, Err("AccessDenied".to_string()));
    assert_eq!(moto.probe(&session).await, Err("AccessDenied".to_string()));
    assert_eq!(moto.probe(&admin).await, Ok(()), "protected: untouched");
    assert!(moto
        .user_policy("break-glass-admin", "DenyAll")
        .await
        .is_none());
}
