//! The whole investigation, through `investigate()` and `FileSource`, over the walkthrough's
//! fixture folder: the scenario window (delivered twice, .json and .json.gz), damaged files,
//! and a 30-day baseline (`baseline/`, see its generate.py) with sara's routine history and
//! other people's activity that must never show up in her report.

use std::path::PathBuf;

use deadbolt_core::finding::Finding;
use deadbolt_trail::{
    investigate, run_query, AsnStatus, Budget, Evidence, FileSource, InvestigationOptions,
    InvestigationReport, NewApiCall, Origin, PlaybookQuery, Subject, SubjectError, Window,
    REPORT_VERSION,
};
use serde_json::{json, Value};

const SSO_KEY: &str = "ASIARSSOSARAEXAMPLE1";
const DEMO_SARA_KEY: &str = "ASIARDEMO1SARAEXAMP2";
const SSO_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5";
const DEMO_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/DemoRole1";
const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const SARA_CLI_ASSUME_ROLE: &str = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#sts.assume-role";
/// Everything that identifies someone other than sara in the fixtures.
const OTHERS: [&str; 8] = [
    "bob",
    "203.0.113.77",
    "AKIARBOBEXAMPLEKEY01",
    "ASIARDEMO1BOB",
    "carol",
    "AKIARCAROL",
    "192.0.2.55",
    "svc-reporting",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cloudtrail")
}

/// The CloudTrailLoggingDisabled finding on sara's Identity Center session, consistent with
/// the CloudTrail files (GuardDuty's `detail` object).
fn finding_json() -> Value {
    json!({
        "schemaVersion": "2.0",
        "accountId": "111122223333",
        "region": "us-east-1",
        "partition": "aws",
        "id": "5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3",
        "arn": "arn:aws:guardduty:us-east-1:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0/finding/5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3",
        "type": "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "severity": 2,
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": SSO_KEY,
                "principalId": "AROARSSOADMINEXAMPLE:sara",
                "userType": "AssumedRole",
                "userName": "AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"
            }
        },
        "service": {
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {
                    "api": "StopLogging",
                    "serviceName": "cloudtrail.amazonaws.com",
                    "callerType": "Remote IP",
                    "remoteIpDetails": {
                        "ipAddressV4": "198.51.100.24",
                        "organization": {"asn": "64496", "asnOrg": "EXAMPLE-ISP", "isp": "Example ISP", "org": "Example ISP"}
                    }
                }
            },
            "additionalInfo": {"value": "{}", "type": "default"},
            "eventFirstSeen": "2026-11-20T14:02:11.000Z",
            "eventLastSeen": "2026-11-20T14:02:11.000Z",
            "archived": false,
            "count": 1
        }
    })
}

fn subject() -> Subject {
    let finding: Finding = serde_json::from_value(finding_json()).unwrap();
    Subject::from_finding(&finding).unwrap()
}

fn generous() -> Budget {
    Budget::new(1000, 100_000, None)
}

async fn scenario_report() -> InvestigationReport {
    investigate(
        &FileSource::new(fixtures()),
        &subject(),
        &InvestigationOptions::default(),
        generous(),
    )
    .await
}

#[test]
fn the_subject_comes_from_the_finding() {
    let subject = subject();
    assert_eq!(subject.access_key_id, SSO_KEY);
    assert_eq!(
        subject.finding_type,
        "Stealth:IAMUser/CloudTrailLoggingDisabled"
    );
    assert_eq!(subject.account_id, "111122223333");
    assert_eq!(subject.first_seen, "2026-11-20T14:02:11.000Z");
    assert_eq!(subject.remote_ip.as_deref(), Some("198.51.100.24"));
    assert_eq!(subject.asn.as_deref(), Some("64496"));
    assert_eq!(subject.asn_org.as_deref(), Some("EXAMPLE-ISP"));

    let mut no_key = finding_json();
    no_key["resource"]["accessKeyDetails"]
        .as_object_mut()
        .unwrap()
        .remove("accessKeyId");
    let finding: Finding = serde_json::from_value(no_key).unwrap();
    let error = Subject::from_finding(&finding).unwrap_err();
    assert!(matches!(error, SubjectError::NoAccessKey { .. }));
    assert!(error.to_string().contains("accessKeyDetails.accessKeyId"));

    let mut no_time = finding_json();
    no_time["service"]
        .as_object_mut()
        .unwrap()
        .remove("eventLastSeen");
    let finding: Finding = serde_json::from_value(no_time).unwrap();
    let error = Subject::from_finding(&finding).unwrap_err();
    assert!(
        error.to_string().contains("service.eventLastSeen"),
        "{error}"
    );

    let mut bad_time = finding_json();
    bad_time["service"]["eventFirstSeen"] = json!("yesterday");
    let finding: Finding = serde_json::from_value(bad_time).unwrap();
    assert!(matches!(
        Subject::from_finding(&finding),
        Err(SubjectError::BadTimestamp { .. })
    ));
}

#[tokio::test]
async fn names_sara_and_the_chain_she_used() {
    let report = scenario_report().await;
    assert_eq!(report.report_version, REPORT_VERSION);
    let window = report.window.as_ref().unwrap();
    assert_eq!(
        (window.start.as_str(), window.end.as_str()),
        ("2026-11-20T13:47:11Z", "2026-11-20T15:02:11Z")
    );

    assert_eq!(
        report.origin,
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
    assert!(report
        .origin_summary
        .starts_with("Identity Center user sara"));
    assert!(report.chain_complete);
    assert!(report.gaps.is_empty(), "{:?}", report.gaps);

    let [sso] = report.chain.as_slice() else {
        panic!("one hop up from the finding key: {:#?}", report.chain);
    };
    assert_eq!(sso.event_name, "AssumeRoleWithSAML");
    assert_eq!(sso.role_arn.as_deref(), Some(SSO_ROLE_ARN));
    assert_eq!(sso.session_name.as_deref(), Some("sara"));
    assert_eq!(sso.issued_access_key_id, SSO_KEY);
    assert_eq!(sso.event_id, "5f3c0d2a-8b1e-4f6a-a1b2-0c0ffee00002");
    assert_eq!(sso.source_ip_address.as_deref(), Some("198.51.100.24"));
    // Only the window was searched for the key's calls: StopLogging and AssumeRole (the
    // 15:30 DescribeTrails is after it), each delivered twice but counted once.
    assert_eq!(
        sso.evidence,
        vec![Evidence::IssuedKey, Evidence::KeyUsedUnderRole { calls: 2 }]
    );

    let [demo] = report.derived_sessions.as_slice() else {
        panic!(
            "sara chained into DemoRole1: {:#?}",
            report.derived_sessions
        );
    };
    assert_eq!(demo.event_name, "AssumeRole");
    assert_eq!(demo.role_arn.as_deref(), Some(DEMO_ROLE_ARN));
    assert_eq!(demo.session_name.as_deref(), Some("sara"));
    assert_eq!(demo.issued_access_key_id, DEMO_SARA_KEY);
    assert_eq!(demo.caller_access_key_id.as_deref(), Some(SSO_KEY));
    assert_eq!(demo.event_id, "d4e5f6a7-2222-4b3c-8d4e-0c0ffee00005");
    assert!(!demo.cross_account);
    assert!(demo.evidence.contains(&Evidence::CallerKeyFromPreviousHop));
}

fn counts(report: &InvestigationReport, key: &str) -> Vec<(String, String, u64, u64)> {
    report
        .activity
        .iter()
        .find(|session| session.access_key_id == key)
        .unwrap_or_else(|| panic!("no activity for {key}"))
        .actions
        .iter()
        .map(|a| {
            (
                a.event_source.clone(),
                a.event_name.clone(),
                a.successes,
                a.failures,
            )
        })
        .collect()
}

fn row(source: &str, name: &str, ok: u64, failed: u64) -> (String, String, u64, u64) {
    (source.into(), name.into(), ok, failed)
}

#[tokio::test]
async fn says_what_each_session_did_what_is_new_and_what_was_left_behind() {
    let report = scenario_report().await;
    let keys: Vec<&str> = report
        .activity
        .iter()
        .map(|s| s.access_key_id.as_str())
        .collect();
    assert_eq!(keys, [SSO_KEY, DEMO_SARA_KEY]);
    assert_eq!(
        counts(&report, SSO_KEY),
        [
            row("cloudtrail.amazonaws.com", "StopLogging", 1, 0),
            row("sts.amazonaws.com", "AssumeRole", 1, 0),
        ]
    );
    assert_eq!(
        counts(&report, DEMO_SARA_KEY),
        [
            row("ec2.amazonaws.com", "DescribeInstances", 1, 0),
            row("ec2.amazonaws.com", "RunInstances", 1, 0),
            row("iam.amazonaws.com", "AttachRolePolicy", 1, 1),
        ]
    );

    let new = report
        .new_behaviour
        .as_ref()
        .expect("a baseline was searched");
    assert_eq!(report.baseline_identity.as_deref(), Some("sara"));
    assert_eq!(
        report.baseline_window.as_ref().unwrap().start,
        "2026-10-21T13:47:11Z"
    );
    // 5 sign-ins with 3 routine calls each, one extra call in us-west-2; the 40-day-old
    // StopLogging and everyone else's calls are not hers or not in the period.
    assert_eq!(new.baseline_calls, 21);
    assert!(new.baseline_complete);
    let api = |source: &str, name: &str, calls, failures| NewApiCall {
        event_source: source.into(),
        event_name: name.into(),
        calls,
        failures,
    };
    assert_eq!(
        new.new_api_calls,
        vec![
            api("cloudtrail.amazonaws.com", "StopLogging", 1, 0),
            api("ec2.amazonaws.com", "RunInstances", 1, 0),
            api("iam.amazonaws.com", "AttachRolePolicy", 2, 1),
            api("sts.amazonaws.com", "AssumeRole", 1, 0),
        ]
    );
    assert!(new.new_source_ips.is_empty(), "{:?}", new.new_source_ips);
    assert_eq!(new.new_user_agents, [SARA_CLI_ASSUME_ROLE]);
    assert!(new.new_regions.is_empty(), "{:?}", new.new_regions);
    let asn = new.autonomous_system.as_ref().unwrap();
    assert_eq!(asn.status, AsnStatus::SeenInBaseline);
    assert_eq!(asn.asn.as_deref(), Some("64496"));
    // 7 calls (the sign-in, 2 + 4 session calls) in 1.25 h against 21 in 720 h.
    assert_eq!(new.call_volume.window_calls, 7);
    let ratio = new.call_volume.ratio.unwrap();
    assert!((ratio - 192.0).abs() < 0.01, "{ratio}");

    type Candidate<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        bool,
        &'a [String],
    );
    let summary: Vec<Candidate> = report
        .persistence
        .iter()
        .map(|c| {
            (
                c.event_name.as_str(),
                c.entity.role_name.as_deref(),
                c.entity.policy_arn.as_deref(),
                c.succeeded,
                c.event_ids.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "AttachRolePolicy",
                Some("DemoRole1"),
                Some(ADMIN_POLICY),
                false,
                &["b9c0d1e2-6666-4f7a-8b8c-0c0ffee00009".to_string()][..]
            ),
            (
                "AttachRolePolicy",
                Some("DemoEc2InstanceRole"),
                Some(ADMIN_POLICY),
                true,
                &["c0d1e2f3-7777-4a8b-9c9d-0c0ffee00010".to_string()][..]
            ),
        ]
    );
    assert_eq!(report.persistence[0].error_codes, ["AccessDenied"]);
    assert!(report
        .persistence
        .iter()
        .all(|c| c.session_access_key_id == DEMO_SARA_KEY));
    assert_eq!(
        report.persistence[1].follow_up,
        format!("detach {ADMIN_POLICY} from role DemoEc2InstanceRole")
    );

    // The fixture folder has two unreadable files; they are counted, not fatal.
    let source = &report.sources[0];
    assert_eq!(source.name, "files");
    assert!(source.skipped > 0);
    assert!(source
        .questions
        .iter()
        .all(|q| q.asked && q.error.is_none()));
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert!(!report.truncated.actions && !report.truncated.persistence);
}

#[tokio::test]
async fn nothing_about_anyone_else_leaks_into_the_report() {
    let report = scenario_report().await;
    for text in [report.to_json(), report.to_text(), report.to_markdown()] {
        for other in OTHERS {
            assert!(
                !text.to_lowercase().contains(&other.to_lowercase()),
                "{other:?} appears in the report:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn the_json_is_versioned_and_complete() {
    let report = scenario_report().await;
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["report_version"], 1);
    assert_eq!(json["origin"]["kind"], "identity_center_user");
    assert_eq!(json["origin"]["user_name"], "sara");
    assert_eq!(json["chain"][0]["evidence"][0]["kind"], "issued_key");
    assert_eq!(json["derived_sessions"][0]["role_name"], "DemoRole1");
    assert_eq!(
        json["activity"][1]["actions"][2]["event_name"],
        "AttachRolePolicy"
    );
    assert_eq!(
        json["activity"][1]["actions"][2]["error_codes"],
        json!(["AccessDenied"])
    );
    assert_eq!(
        json["new_behaviour"]["autonomous_system"]["status"],
        "seen_in_baseline"
    );
    assert_eq!(
        json["persistence"][1]["entity"]["role_name"],
        "DemoEc2InstanceRole"
    );
    assert_eq!(json["missing"], json!([]));
    for key in [
        "subject",
        "window",
        "origin_summary",
        "chain_complete",
        "gaps",
        "undated_calls",
        "baseline_window",
        "sources",
        "truncated",
    ] {
        assert!(json.get(key).is_some(), "no {key}");
    }
}

#[tokio::test]
async fn the_summary_reads_like_the_walkthrough() {
    let report = scenario_report().await;
    let markdown = report.to_markdown();
    for heading in [
        "## Who",
        "## How",
        "## What they did",
        "## What is new",
        "## What they left behind",
        "## What is missing",
    ] {
        assert!(markdown.contains(heading), "no {heading}:\n{markdown}");
    }
    assert!(
        markdown.contains("**Identity Center user sara"),
        "{markdown}"
    );
    assert!(markdown.contains("AttachRolePolicy: 1 failed (AccessDenied), 1 succeeded"));
    assert!(markdown.contains("StopLogging: 1 succeeded"));
    assert!(markdown.contains("into role `DemoRole1` as session `sara`"));
    // The fixture folder's damaged files are listed, so something is always missing here.
    assert!(!markdown.contains("Nothing: every question was answered in full."));

    let text = report.to_text();
    assert!(text.contains("Who\n---"), "{text}");
    assert!(text.contains("Identity Center user sara"));
    assert!(!text.contains("**"));
}

#[tokio::test]
async fn an_empty_budget_lists_what_is_missing_instead_of_failing() {
    let report = investigate(
        &FileSource::new(fixtures()),
        &subject(),
        &InvestigationOptions::default(),
        Budget::new(0, 100_000, None),
    )
    .await;
    assert_eq!(report.origin, Origin::Unknown);
    assert!(report.chain.is_empty());
    assert!(report.missing.contains(&format!(
        "calls made with key {SSO_KEY} not searched: request budget exhausted"
    )));
    assert!(report.missing.contains(&format!(
        "issuer of key {SSO_KEY} not searched: request budget exhausted"
    )));
    assert!(report.new_behaviour.is_none());
    assert!(report.sources[0].questions.iter().all(|q| !q.asked));
    assert!(report.to_markdown().contains("request budget exhausted"));
}

#[tokio::test]
async fn a_tiny_record_budget_gives_a_partial_report() {
    // The first question matches StopLogging and AssumeRole twice each (.json and .json.gz);
    // three records fit, then nothing more can be asked.
    let report = investigate(
        &FileSource::new(fixtures()),
        &subject(),
        &InvestigationOptions::default(),
        Budget::new(100, 3, None),
    )
    .await;
    assert_eq!(
        report.missing[..2],
        [
            format!("calls made with key {SSO_KEY}: partial answer (record budget exhausted)"),
            format!("issuer of key {SSO_KEY} not searched: record budget exhausted"),
        ]
    );
    assert!(!report.chain_complete);
    // What was collected is still reported: the finding key's calls, and the DemoRole1
    // session its AssumeRole created, whose own calls could not be searched.
    assert_eq!(report.activity.len(), 2);
    assert_eq!(report.activity[0].access_key_id, SSO_KEY);
    assert_eq!(report.activity[0].total_calls(), 2);
    assert_eq!(report.activity[1].access_key_id, DEMO_SARA_KEY);
    assert_eq!(report.activity[1].total_calls(), 0);
    assert!(report.missing.contains(&format!(
        "calls made with key {DEMO_SARA_KEY} (assumed with key {SSO_KEY}) not searched: record \
         budget exhausted"
    )));
}

#[tokio::test]
async fn a_source_that_cannot_answer_is_reported_not_fatal() {
    let report = investigate(
        &FileSource::new(fixtures().join("no-such-folder")),
        &subject(),
        &InvestigationOptions::default(),
        generous(),
    )
    .await;
    assert!(
        report.missing[0].starts_with(&format!(
            "calls made with key {SSO_KEY} not searched: files: cannot read CloudTrail logs at"
        )),
        "{:?}",
        report.missing
    );
    assert!(report.sources[0].questions[0].error.is_some());
}

#[tokio::test]
async fn unusable_timestamps_give_a_report_that_says_so() {
    let mut subject = subject();
    subject.last_seen = "2026-11-19T00:00:00Z".into(); // before first_seen, beyond the margins
    let report = investigate(
        &FileSource::new(fixtures()),
        &subject,
        &InvestigationOptions::default(),
        generous(),
    )
    .await;
    assert!(report.window.is_none());
    assert!(report.missing[0].starts_with("nothing searched: the finding's time range is unusable"));
}

#[tokio::test]
async fn a_finding_on_the_chained_session_walks_up_two_hops() {
    let mut subject = subject();
    subject.access_key_id = DEMO_SARA_KEY.into();
    subject.first_seen = "2026-11-20T14:11:30Z".into();
    subject.last_seen = "2026-11-20T14:11:30Z".into();
    let report = investigate(
        &FileSource::new(fixtures()),
        &subject,
        &InvestigationOptions::default(),
        generous(),
    )
    .await;
    let roles: Vec<Option<&str>> = report
        .chain
        .iter()
        .map(|hop| hop.role_name.as_deref())
        .collect();
    assert_eq!(
        roles,
        [
            Some("AWSReservedSSO_AdministratorAccess_598c5f73f8b2b4e5"),
            Some("DemoRole1")
        ]
    );
    assert!(report.derived_sessions.is_empty());
    assert!(matches!(
        &report.origin,
        Origin::IdentityCenterUser { user_name: Some(name), .. } if name == "sara"
    ));
    assert!(report.chain_complete, "{:?}", report.gaps);
}

fn day_window() -> Window {
    Window::new(
        deadbolt_trail::parse_rfc3339_ms("2026-11-20T00:00:00Z").unwrap(),
        deadbolt_trail::parse_rfc3339_ms("2026-11-20T23:59:59.999Z").unwrap(),
    )
    .unwrap()
}

async fn query(name: &str, argument: Option<&str>, window: Window) -> Vec<(String, String)> {
    let query = PlaybookQuery::parse(name, argument).unwrap();
    let mut budget = generous();
    let result = run_query(&FileSource::new(fixtures()), &query, window, &mut budget).await;
    assert!(result.missing.is_empty(), "{:?}", result.missing);
    assert!(!result.truncated);
    result
        .rows
        .into_iter()
        .map(|row| (row.event_name, row.event_id))
        .collect()
}

fn rows(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(name, id)| (name.to_string(), id.to_string()))
        .collect()
}

#[tokio::test]
async fn the_playbook_queries_return_the_expected_rows() {
    let day = day_window();
    assert_eq!(
        query("access-denied", None, day).await,
        rows(&[("AttachRolePolicy", "b9c0d1e2-6666-4f7a-8b8c-0c0ffee00009")])
    );
    assert_eq!(
        query("access-key", Some(SSO_KEY), day).await,
        rows(&[
            ("StopLogging", "a7d2c1e0-3f4b-4c5d-8e9f-0c0ffee00003"),
            ("AssumeRole", "d4e5f6a7-2222-4b3c-8d4e-0c0ffee00005"),
            ("DescribeTrails", "e2f3a4b5-9999-4cad-9e1f-0c0ffee00012"),
        ])
    );
    assert_eq!(
        query("access-key-created", Some(DEMO_SARA_KEY), day).await,
        rows(&[("AssumeRole", "d4e5f6a7-2222-4b3c-8d4e-0c0ffee00005")])
    );
    assert_eq!(
        query("source-ip", Some("203.0.113.77"), day).await,
        rows(&[
            ("ListBuckets", "0b4f1b3e-5a1e-4c27-9e55-6f0cf7a10001"),
            ("AssumeRole", "c3b2a1f0-1111-4a2b-9c3d-0c0ffee00004"),
            ("DescribeInstances", "f6a7b8c9-4444-4d5e-8f6a-0c0ffee00007"),
            ("ListUsers", "d1e2f3a4-8888-4b9c-8d0e-0c0ffee00011"),
            ("ListBuckets", "f3a4b5c6-aaaa-4dbe-8f2a-0c0ffee00013"),
            ("ListBuckets", "f3a4b5c6-bbbb-4dbe-8f2a-0c0ffee00014"),
        ])
    );
    assert_eq!(
        query("list-buckets", None, day).await,
        rows(&[
            ("ListBuckets", "0b4f1b3e-5a1e-4c27-9e55-6f0cf7a10001"),
            ("ListBuckets", "f3a4b5c6-aaaa-4dbe-8f2a-0c0ffee00013"),
            ("ListBuckets", "f3a4b5c6-bbbb-4dbe-8f2a-0c0ffee00014"),
        ])
    );
    assert!(query("users-roles-created", None, day).await.is_empty());

    // Over the baseline period: carol's CreateUser and her denied CreateRole, with the
    // playbook's fields.
    let month = Window::new(
        deadbolt_trail::parse_rfc3339_ms("2026-10-01T00:00:00Z").unwrap(),
        deadbolt_trail::parse_rfc3339_ms("2026-11-30T00:00:00Z").unwrap(),
    )
    .unwrap();
    let query = PlaybookQuery::parse("users-roles-created", None).unwrap();
    let result = run_query(&FileSource::new(fixtures()), &query, month, &mut generous()).await;
    let created: Vec<_> = result
        .rows
        .iter()
        .map(|row| {
            (
                row.event_name.as_str(),
                row.user_name.as_deref(),
                row.role_name.as_deref(),
                row.created_arn.as_deref(),
                row.error_code.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        created,
        [
            (
                "CreateUser",
                Some("svc-reporting"),
                None,
                Some("arn:aws:iam::111122223333:user/svc-reporting"),
                None
            ),
            (
                "CreateRole",
                None,
                Some("svc-admin"),
                None,
                Some("AccessDenied")
            ),
        ]
    );
}

#[tokio::test]
async fn a_query_with_no_budget_says_so() {
    let query = PlaybookQuery::parse("users-roles-created", None).unwrap();
    let mut budget = Budget::new(0, 10, None);
    let result = run_query(
        &FileSource::new(fixtures()),
        &query,
        day_window(),
        &mut budget,
    )
    .await;
    assert!(result.rows.is_empty());
    assert_eq!(
        result.missing,
        [
            "event_name=CreateUser not searched: request budget exhausted",
            "event_name=CreateRole not searched: request budget exhausted",
        ]
    );
}

/// The summary as printed, both renderings: the six sections in the same order, and the key
/// lines of the text a terminal shows. `DEADBOLT_PRINT_REPORT=1 cargo test -p deadbolt-trail
/// --test investigation printed -- --nocapture` prints it, for reading and for the docs.
#[tokio::test]
async fn the_printed_summary_has_every_section_in_order_and_the_key_lines() {
    let report = scenario_report().await;
    let (markdown, text) = (report.to_markdown(), report.to_text());
    if std::env::var_os("DEADBOLT_PRINT_REPORT").is_some() {
        println!("{markdown}\n{text}");
    }

    let sections = [
        "Who",
        "How",
        "What they did",
        "What is new",
        "What they left behind",
        "What is missing",
    ];
    let in_order = |rendering: &str, heading: &dyn Fn(&str) -> String| {
        let at: Vec<usize> = sections
            .iter()
            .map(|s| {
                rendering
                    .find(&heading(s))
                    .unwrap_or_else(|| panic!("no section {s:?}:\n{rendering}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}:\n{rendering}");
    };
    in_order(&markdown, &|s| format!("\n## {s}\n"));
    in_order(&text, &|s| format!("\n{s}\n{}\n", "-".repeat(s.len())));

    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Investigation of GuardDuty finding 5ab7c7a1f0e3d2c1b0a9f8e7d6c5b4a3"
    );
    assert!(
        lines[2].ends_with("Window: 2026-11-20T13:47:11Z to 2026-11-20T15:02:11Z."),
        "{}",
        lines[2]
    );
    for line in [
        "- cloudtrail.amazonaws.com StopLogging: 1 succeeded",
        "- iam.amazonaws.com AttachRolePolicy: 1 failed (AccessDenied), 1 succeeded",
        "Compared with sara's calls from 2026-10-21T13:47:11Z to 2026-11-20T13:47:10.999Z (21 calls).",
        "- New source IPs: none",
        "Sources: files (4 questions, 0 requests, 35 records).",
    ] {
        assert!(lines.contains(&line), "no line {line:?}:\n{text}");
    }
    assert!(
        text.contains(
            "detach arn:aws:iam::aws:policy/AdministratorAccess from role DemoEc2InstanceRole"
        ),
        "{text}"
    );
}
