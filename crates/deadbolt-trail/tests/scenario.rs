//! The Detective role-session walkthrough, replayed from CloudTrail log files: Identity Center
//! user sara signs in to AWSReservedSSO_AdministratorAccess, stops trail demo-trail-2, chains
//! into DemoRole1 and tries to escalate, while IAM user bob works in the same account and even
//! uses the same role. deadbolt must name sara, and only sara's sessions.

use std::collections::BTreeSet;
use std::path::PathBuf;

use deadbolt_trail::{
    attribute, read_path, session_activity, AttributionChain, Evidence, Origin, ReadError, Record,
    SessionActivity, Window,
};

const ACCOUNT: &str = "111122223333";
const SSO_ROLE_NAME: &str = "AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5";
const SSO_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5";
const DEMO_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/DemoRole1";
/// Sara's Identity Center session: the key on the CloudTrailLoggingDisabled finding.
const SSO_KEY: &str = "ASIARSSOSARAEXAMPLE1";
/// Sara's DemoRole1 session: the key on a finding about what she did after chaining.
const DEMO_SARA_KEY: &str = "ASIARDEMO1SARAEXAMP2";
const BOB_KEYS: [&str; 2] = ["AKIARBOBEXAMPLEKEY01", "ASIARDEMO1BOBEXAMPL3"];
/// The StopLogging call GuardDuty reported (service.eventFirstSeen / eventLastSeen).
const FINDING_FIRST_SEEN: &str = "2026-11-20T14:02:11Z";
const FINDING_LAST_SEEN: &str = "2026-11-20T14:02:11Z";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cloudtrail")
}

fn read_all(path: PathBuf) -> (Vec<Record>, deadbolt_trail::ReadStats) {
    let mut records = Vec::new();
    let stats = read_path(&path, |record| records.push(record)).unwrap();
    (records, stats)
}

fn scenario() -> Vec<Record> {
    let (records, stats) = read_all(fixtures().join("scenario-window.json"));
    assert_eq!(stats.records, 12);
    assert_eq!(stats.skipped_records, 0);
    assert_eq!(stats.unreadable_files, 0);
    records
}

fn assert_sara_chain(chain: &AttributionChain) {
    assert_eq!(chain.hops.len(), 2, "{chain:#?}");
    let (sso, demo) = (&chain.hops[0], &chain.hops[1]);

    assert_eq!(sso.event_name, "AssumeRoleWithSAML");
    assert_eq!(sso.role_arn.as_deref(), Some(SSO_ROLE_ARN));
    assert_eq!(sso.role_name.as_deref(), Some(SSO_ROLE_NAME));
    assert_eq!(sso.session_name.as_deref(), Some("sara"));
    assert_eq!(sso.issued_access_key_id, SSO_KEY);
    assert_eq!(sso.event_time, "2026-11-20T14:00:05Z");
    assert_eq!(sso.source_ip_address.as_deref(), Some("198.51.100.24"));
    assert_eq!(sso.event_id, "5f3c0d2a-8b1e-4f6a-a1b2-0c0ffee00002");
    assert!(!sso.cross_account);
    assert_eq!(
        sso.evidence,
        vec![
            Evidence::IssuedKey,
            Evidence::KeyUsedUnderRole { calls: 3 }, // StopLogging, AssumeRole, DescribeTrails
        ]
    );

    assert_eq!(demo.event_name, "AssumeRole");
    assert_eq!(demo.role_arn.as_deref(), Some(DEMO_ROLE_ARN));
    assert_eq!(demo.role_name.as_deref(), Some("DemoRole1"));
    assert_eq!(demo.session_name.as_deref(), Some("sara"));
    assert_eq!(
        demo.session_arn.as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/DemoRole1/sara")
    );
    assert_eq!(demo.issued_access_key_id, DEMO_SARA_KEY);
    assert_eq!(demo.caller_access_key_id.as_deref(), Some(SSO_KEY));
    assert_eq!(demo.caller_account_id.as_deref(), Some(ACCOUNT));
    assert!(!demo.cross_account);
    assert_eq!(
        demo.evidence,
        vec![
            Evidence::IssuedKey,
            Evidence::CallerKeyFromPreviousHop,
            Evidence::CallerSessionIssuerIsPreviousRole,
            Evidence::KeyUsedUnderRole { calls: 4 },
        ]
    );
    assert_eq!(
        demo.evidence
            .iter()
            .map(Evidence::field)
            .collect::<Vec<_>>(),
        [
            "responseElements.credentials.accessKeyId",
            "userIdentity.accessKeyId",
            "userIdentity.sessionContext.sessionIssuer.arn",
            "userIdentity.sessionContext.sessionIssuer.arn",
        ]
    );

    assert_eq!(
        chain.origin,
        Origin::IdentityCenterUser {
            user_name: Some("sara".into()),
            user_id: None,
            identity_store_arn: None,
            saml_provider_arn: Some(
                "arn:aws:iam::111122223333:saml-provider/AWSSSO_5d1cb7a1e0f2c3b4_DO_NOT_DELETE"
                    .into()
            ),
        }
    );
    assert!(chain.gaps.is_empty(), "{:?}", chain.gaps);
    assert!(chain.is_complete());
}

fn action_counts(session: &SessionActivity) -> Vec<(&str, &str, u64, u64)> {
    session
        .actions
        .iter()
        .map(|a| {
            (
                a.event_source.as_str(),
                a.event_name.as_str(),
                a.successes,
                a.failures,
            )
        })
        .collect()
}

fn assert_sara_activity(chain: &AttributionChain, records: &[Record]) {
    let window = Window::around_finding(FINDING_FIRST_SEEN, FINDING_LAST_SEEN).unwrap();
    let report = session_activity(chain, records, window);
    assert_eq!(report.undated_calls, 0);
    let [sso, demo] = report.sessions.as_slice() else {
        panic!("expected one activity entry per hop: {report:#?}");
    };

    assert_eq!(sso.access_key_id, SSO_KEY);
    // DescribeTrails at 15:30 is the same session but after the window closed (15:02:11).
    assert_eq!(
        action_counts(sso),
        [
            ("cloudtrail.amazonaws.com", "StopLogging", 1, 0),
            ("sts.amazonaws.com", "AssumeRole", 1, 0),
        ]
    );

    assert_eq!(demo.access_key_id, DEMO_SARA_KEY);
    assert_eq!(demo.session_name.as_deref(), Some("sara"));
    // bob's DescribeInstances through his own DemoRole1 session must not be counted here.
    assert_eq!(
        action_counts(demo),
        [
            ("ec2.amazonaws.com", "DescribeInstances", 1, 0),
            ("ec2.amazonaws.com", "RunInstances", 1, 0),
            ("iam.amazonaws.com", "AttachRolePolicy", 1, 1),
        ]
    );
    let attach = demo
        .action("iam.amazonaws.com", "AttachRolePolicy")
        .unwrap();
    assert_eq!(
        attach.error_codes,
        BTreeSet::from(["AccessDenied".to_string()])
    );
    assert_eq!(demo.total_calls(), 4);
    assert_eq!(
        demo.source_ips,
        BTreeSet::from(["198.51.100.24".to_string()])
    );
    assert_eq!(demo.regions, BTreeSet::from(["us-east-1".to_string()]));
    assert_eq!(demo.user_agents.len(), 1);
    assert!(demo
        .user_agents
        .iter()
        .all(|agent| agent.starts_with("aws-cli/")));

    for session in &report.sessions {
        assert!(
            !session.source_ips.contains("203.0.113.77"),
            "bob's IP leaked in"
        );
        assert!(!BOB_KEYS.contains(&session.access_key_id.as_str()));
    }
}

#[test]
fn attributes_the_chained_role_session_to_identity_center_user_sara() {
    let records = scenario();
    let chain = attribute(DEMO_SARA_KEY, &records);
    assert_sara_chain(&chain);
    assert!(chain.session_keys().all(|key| !BOB_KEYS.contains(&key)));
    assert_sara_activity(&chain, &records);
}

#[test]
fn the_logging_disabled_finding_key_is_one_hop_from_sara() {
    let records = scenario();
    let chain = attribute(SSO_KEY, &records);
    assert_eq!(chain.hops.len(), 1);
    assert_eq!(chain.hops[0].role_name.as_deref(), Some(SSO_ROLE_NAME));
    assert!(matches!(
        &chain.origin,
        Origin::IdentityCenterUser { user_name: Some(name), .. } if name == "sara"
    ));
    assert!(chain.is_complete());
}

#[test]
fn bob_is_attributed_to_bob_and_never_to_sara() {
    let records = scenario();
    let chain = attribute("ASIARDEMO1BOBEXAMPL3", &records);
    assert_eq!(chain.hops.len(), 1);
    assert_eq!(chain.hops[0].session_name.as_deref(), Some("bob"));
    assert!(matches!(
        &chain.origin,
        Origin::IamUser { name: Some(name), .. } if name == "bob"
    ));
}

#[test]
fn gzipped_copy_yields_the_same_records() {
    let (gzipped, stats) = read_all(fixtures().join("scenario-window.json.gz"));
    assert_eq!(stats.files, 1);
    assert_eq!(stats.unreadable_files, 0);
    assert_eq!(gzipped, scenario());
    assert_sara_chain(&attribute(DEMO_SARA_KEY, &gzipped));
}

#[test]
fn damaged_files_are_skipped_and_counted() {
    let (records, stats) = read_all(fixtures().join("damaged"));
    // malformed-records.json: 2 good + 3 malformed; truncated.json: 1 good record before the
    // cut; not-utf8.json: its only record is unreadable.
    assert_eq!(stats.files, 3);
    assert_eq!(stats.records, 3);
    assert_eq!(stats.skipped_records, 3);
    assert_eq!(stats.unreadable_files, 2);
    let unreadable: BTreeSet<String> = stats
        .problems
        .iter()
        .map(|problem| {
            problem
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        unreadable,
        BTreeSet::from(["not-utf8.json".to_string(), "truncated.json".to_string()])
    );
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|record| record.event_name == "ListBuckets"));
}

#[test]
fn a_folder_of_mixed_good_duplicate_and_damaged_files_gives_the_same_answer() {
    // The whole fixture folder: the scenario twice (.json and .json.gz, i.e. every event
    // delivered twice), the damaged files and the 30-day baseline (6 files, 53 records).
    // Duplicates must not double-count or look like two different issuers of the same key.
    let (records, stats) = read_all(fixtures());
    assert_eq!(stats.files, 5 + 6);
    assert_eq!(stats.records, 12 * 2 + 3 + 53);
    assert_eq!(stats.unreadable_files, 2);
    let chain = attribute(DEMO_SARA_KEY, &records);
    assert_sara_chain(&chain);
    assert_sara_activity(&chain, &records);
}

#[test]
fn a_path_that_is_not_a_log_is_an_actionable_error() {
    let missing = read_path(&fixtures().join("no-such-file.json"), |_| {}).unwrap_err();
    assert!(matches!(missing, ReadError::Inaccessible { .. }));
    assert!(missing.to_string().contains("no-such-file.json"));

    let not_a_log = read_path(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(not_a_log, ReadError::NotALogFile { .. }));
}
