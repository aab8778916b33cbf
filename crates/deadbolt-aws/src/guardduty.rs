//! GuardDuty's own copy of a finding (`GetFindings` on deadbolt's own detector), converted to
//! the domain's [`Finding`] so the decision reads it exactly as it reads the event.
//!
//! Endpoints. The client is built from the process's `SdkConfig`, so the SDK's endpoint
//! configuration applies as for every other client (checked by `endpoint_tests` below and by
//! the `guardduty` end-to-end test):
//! - `load_config`'s explicit override (`AwsOptions::endpoint_url`, the CLI's `--endpoint-url`)
//!   is client configuration and wins over everything, `AWS_ENDPOINT_URL_GUARDDUTY` included;
//! - otherwise the service-specific `AWS_ENDPOINT_URL_GUARDDUTY` (or a profile's `services`
//!   section) wins over the global `AWS_ENDPOINT_URL`;
//! - `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` turns both environment variables off.
//!
//! The generated `Config::from(&SdkConfig)` implements this precedence (it asks the SdkConfig's
//! origin of `endpoint_url` first, then the env/profile service config with service id
//! `GuardDuty`); aws-config's `ConfigLoader::load` records it.

use aws_config::SdkConfig;
use aws_sdk_guardduty::types as gd;
use deadbolt_core::finding::{
    AccessKeyDetails, Action, AwsApiCallAction, Finding, Organization, RemoteIpDetails, Resource,
    Service,
};
use deadbolt_core::ports::{AwsError, AwsErrorKind, GuardDutyFindings};
use deadbolt_core::sequence::{
    AccessKeyData, Account as SequenceAccount, Actor, Detection, ResourceData, ResourceV2,
    Sequence, Session, User,
};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::classify;

/// GuardDuty's findings through deadbolt's own detector in its account and region.
#[derive(Debug)]
pub struct AwsGuardDuty {
    client: aws_sdk_guardduty::Client,
    /// The detector id, from `ListDetectors` once per process (only a success is cached: a
    /// failed lookup is asked again on the next finding).
    detector: OnceCell<String>,
}

impl AwsGuardDuty {
    pub fn new(client: aws_sdk_guardduty::Client) -> Self {
        AwsGuardDuty {
            client,
            detector: OnceCell::new(),
        }
    }

    pub fn from_conf(config: &SdkConfig) -> Self {
        Self::new(aws_sdk_guardduty::Client::new(config))
    }

    pub fn client(&self) -> &aws_sdk_guardduty::Client {
        &self.client
    }

    /// deadbolt's detector: GuardDuty allows one per account and region.
    pub async fn detector_id(&self) -> Result<&str, AwsError> {
        self.detector
            .get_or_try_init(|| async {
                let ids: Vec<String> = self
                    .client
                    .list_detectors()
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| classify(&e))?;
                match ids.as_slice() {
                    [one] => Ok(one.clone()),
                    [] => Err(lookup_error(
                        "GuardDuty is not enabled in this account and region: no detector"
                            .to_string(),
                    )),
                    many => Err(lookup_error(format!(
                        "ListDetectors returned {} detectors ({}); GuardDuty allows one per \
                         account and region, deadbolt will not guess which one to read",
                        many.len(),
                        many.join(", ")
                    ))),
                }
            })
            .await
            .map(String::as_str)
    }
}

/// GuardDuty's largest page for `ListFindings` and batch for `GetFindings`.
pub const GUARDDUTY_BATCH: usize = 50;

/// A finding GuardDuty returned that the domain cannot read: its id and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableFinding {
    pub id: String,
    pub error: String,
}

impl AwsGuardDuty {
    /// The ids of every finding of deadbolt's detector updated at or after `since_ms` (epoch
    /// milliseconds; `ListFindings` with an `updatedAt` `greaterThanOrEqual` criterion),
    /// optionally of one account only, `maxResults` 50 a page, following `nextToken`.
    /// `progress` is told the running count after each page.
    pub async fn list_finding_ids(
        &self,
        since_ms: i64,
        account_id: Option<&str>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<String>, AwsError> {
        let detector = self.detector_id().await?;
        let mut criteria = gd::FindingCriteria::builder().criterion(
            "updatedAt",
            gd::Condition::builder()
                .greater_than_or_equal(since_ms)
                .build(),
        );
        if let Some(account) = account_id {
            criteria = criteria.criterion(
                "accountId",
                gd::Condition::builder().equals(account).build(),
            );
        }
        let criteria = criteria.build();
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_findings()
                .detector_id(detector)
                .finding_criteria(criteria.clone())
                .max_results(GUARDDUTY_BATCH as i32)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            ids.extend(out.finding_ids().iter().cloned());
            progress(ids.len());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(ids)
    }

    /// GuardDuty's copies of `ids`, `GetFindings` in batches of 50, in the order asked (ids
    /// GuardDuty no longer has are left out). A finding the domain cannot read is returned
    /// apart, with why, not as an error. `progress` is told the running count after each batch.
    pub async fn get_findings_batched(
        &self,
        ids: &[String],
        mut progress: impl FnMut(usize),
    ) -> Result<(Vec<Finding>, Vec<UnreadableFinding>), AwsError> {
        let detector = self.detector_id().await?;
        let (mut found, mut unreadable) = (Vec::new(), Vec::new());
        let mut done = 0;
        for batch in ids.chunks(GUARDDUTY_BATCH) {
            let out = self
                .client
                .get_findings()
                .detector_id(detector)
                .set_finding_ids(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| classify(&e))?;
            for id in batch {
                let Some(f) = out.findings().iter().find(|f| f.id() == Some(id.as_str())) else {
                    continue;
                };
                match to_domain(f) {
                    Ok(finding) => found.push(finding),
                    Err(error) => unreadable.push(UnreadableFinding {
                        id: id.clone(),
                        error,
                    }),
                }
            }
            done += batch.len();
            progress(done);
        }
        Ok((found, unreadable))
    }
}

/// A permanent condition (no detector, several): delivering the event again would fail the
/// same way, so it is not retryable.
fn lookup_error(message: String) -> AwsError {
    AwsError::new(AwsErrorKind::Other, "GuardDutyDetectorLookup", message)
}

/// GuardDuty answered, but not with a finding deadbolt can read. Permanent: GuardDuty will
/// answer the same next time.
fn invalid_finding(message: String) -> AwsError {
    AwsError::new(AwsErrorKind::Other, "InvalidGuardDutyFinding", message)
}

impl GuardDutyFindings for AwsGuardDuty {
    async fn get_finding(&self, finding_id: &str) -> Result<Option<Finding>, AwsError> {
        let detector = self.detector_id().await?;
        let out = self
            .client
            .get_findings()
            .detector_id(detector)
            .finding_ids(finding_id)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let findings = out.findings();
        match findings.iter().find(|f| f.id() == Some(finding_id)) {
            Some(found) => to_domain(found).map(Some).map_err(invalid_finding),
            None if findings.is_empty() => Ok(None),
            None => Err(invalid_finding(format!(
                "GetFindings for {finding_id} returned {} other finding(s) and not this one",
                findings.len()
            ))),
        }
    }

    /// The detector id, asked before the event needs it; a failure is not cached, and the
    /// finding's `get_finding` asks again and reports it in the decision record.
    async fn prepare(&self) {
        if let Err(e) = self.detector_id().await {
            tracing::debug!(error = %e, "ListDetectors failed ahead of the finding; asked again with it");
        }
    }
}

/// The SDK's finding as the domain's. `Err` names the field the domain requires and GuardDuty
/// left out.
///
/// What differs from the EventBridge copy of the same finding: the SDK models
/// `service.additionalInfo` as `{value, type}` only (GuardDuty's API returns the extra keys
/// JSON-encoded in `value`), so the event's flattened keys (`sample`, `userAgent`…) are not
/// here; `Finding::is_sample` reads the `value` string as well, so samples are still samples.
pub fn to_domain(f: &gd::Finding) -> Result<Finding, String> {
    let id = f.id().ok_or("GuardDuty returned a finding without `id`")?;
    let req = |v: Option<&str>, path: &str| {
        v.map(str::to_string)
            .ok_or_else(|| format!("GuardDuty's finding {id} has no `{path}`"))
    };
    let resource = f
        .resource()
        .ok_or_else(|| format!("GuardDuty's finding {id} has no `resource`"))?;
    let service = f
        .service()
        .ok_or_else(|| format!("GuardDuty's finding {id} has no `service`"))?;
    Ok(Finding {
        schema_version: f.schema_version().map(str::to_string),
        id: id.to_string(),
        arn: req(f.arn(), "arn")?,
        finding_type: req(f.r#type(), "type")?,
        severity: f
            .severity()
            .ok_or_else(|| format!("GuardDuty's finding {id} has no `severity`"))?,
        account_id: req(f.account_id(), "accountId")?,
        region: req(f.region(), "region")?,
        partition: req(f.partition(), "partition")?,
        resource: Resource {
            resource_type: req(resource.resource_type(), "resource.resourceType")?,
            access_key_details: resource.access_key_details().map(access_key_details),
        },
        service: Service {
            action: service.action().map(action),
            event_first_seen: service.event_first_seen().map(str::to_string),
            event_last_seen: service.event_last_seen().map(str::to_string),
            // GuardDuty's count is an int32; a negative one is no count at all.
            count: service.count().and_then(|c| u64::try_from(c).ok()),
            archived: service.archived().unwrap_or(false),
            additional_info: service.additional_info().map(additional_info),
            detection: service.detection().map(detection),
        },
        title: f.title().map(str::to_string),
        created_at: f.created_at().map(str::to_string),
        updated_at: f.updated_at().map(str::to_string),
    })
}

/// The attack sequence's principal fields (what the decision reads); signals, indicators and
/// endpoints are context and stay with GuardDuty.
fn detection(d: &gd::Detection) -> Detection {
    Detection {
        sequence: d.sequence().map(|s| Sequence {
            uid: s.uid().map(str::to_string),
            description: s.description().map(|t| Value::String(t.to_string())),
            actors: Some(s.actors().iter().map(actor).collect()),
            resources: Some(s.resources().iter().map(resource_v2).collect()),
            signals: None,
            sequence_indicators: None,
            endpoints: None,
        }),
        anomaly: None,
    }
}

fn actor(a: &gd::Actor) -> Actor {
    let text = |v: Option<&str>| v.map(str::to_string);
    Actor {
        id: text(a.id()),
        user: a.user().map(|u| User {
            name: text(u.name()),
            user_type: text(u.r#type()),
            uid: text(u.uid()),
            credential_uid: text(u.credential_uid()),
            account: u.account().map(|acc| SequenceAccount {
                uid: text(acc.uid()),
                account: acc.name().map(|n| Value::String(n.to_string())),
            }),
        }),
        session: a.session().map(|s| Session {
            uid: s.uid().map(|t| Value::String(t.to_string())),
            mfa_status: s
                .mfa_status()
                .map(|m| Value::String(m.as_str().to_string())),
            created_time: None,
            issuer: text(s.issuer()),
        }),
    }
}

fn resource_v2(r: &gd::ResourceV2) -> ResourceV2 {
    ResourceV2 {
        uid: r.uid().map(str::to_string),
        name: r.name().map(|t| Value::String(t.to_string())),
        account_id: r.account_id().map(str::to_string),
        resource_type: r.resource_type().map(|t| t.as_str().to_string()),
        region: r.region().map(|t| Value::String(t.to_string())),
        service: r.service().map(|t| Value::String(t.to_string())),
        data: r.data().map(|d| ResourceData {
            access_key: d.access_key().map(|k| AccessKeyData {
                principal_id: k.principal_id().map(str::to_string),
                user_name: k.user_name().map(str::to_string),
                user_type: k.user_type().map(str::to_string),
            }),
        }),
    }
}

fn access_key_details(d: &gd::AccessKeyDetails) -> AccessKeyDetails {
    AccessKeyDetails {
        access_key_id: d.access_key_id().map(str::to_string),
        principal_id: d.principal_id().map(str::to_string),
        user_type: d.user_type().map(str::to_string),
        user_name: d.user_name().map(str::to_string),
    }
}

fn action(a: &gd::Action) -> Action {
    Action {
        action_type: a.action_type().map(str::to_string),
        aws_api_call_action: a.aws_api_call_action().map(|c| AwsApiCallAction {
            api: c.api().map(str::to_string),
            service_name: c.service_name().map(str::to_string),
            caller_type: c.caller_type().map(str::to_string),
            remote_ip_details: c.remote_ip_details().map(remote_ip_details),
        }),
    }
}

fn remote_ip_details(r: &gd::RemoteIpDetails) -> RemoteIpDetails {
    RemoteIpDetails {
        ip_address_v4: r.ip_address_v4().map(str::to_string),
        organization: r.organization().map(|o| Organization {
            asn: o.asn().map(str::to_string),
            asn_org: o.asn_org().map(str::to_string),
            isp: o.isp().map(str::to_string),
            org: o.org().map(str::to_string),
        }),
        // The domain keeps these as the event's JSON objects, camelCase keys.
        country: r.country().map(|c| {
            object([
                ("countryCode", c.country_code()),
                ("countryName", c.country_name()),
            ])
        }),
        city: r.city().map(|c| object([("cityName", c.city_name())])),
        geo_location: r.geo_location().map(|g| {
            let mut point = serde_json::Map::new();
            for (key, value) in [("lat", g.lat()), ("lon", g.lon())] {
                // As the event writes it: a whole number of degrees is an integer (`0`).
                let number = value.and_then(|v| {
                    if v.fract() == 0.0 && v.abs() <= 180.0 {
                        Some(serde_json::Number::from(v as i64))
                    } else {
                        serde_json::Number::from_f64(v)
                    }
                });
                if let Some(number) = number {
                    point.insert(key.to_string(), Value::Number(number));
                }
            }
            Value::Object(point)
        }),
    }
}

fn additional_info(i: &gd::ServiceAdditionalInfo) -> Value {
    object([("value", i.value()), ("type", i.r#type())])
}

/// A JSON object of the fields that are present.
fn object<const N: usize>(fields: [(&str, Option<&str>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), Value::String(v?.to_string()))))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod wire_tests {
    //! Recorded GuardDuty response bodies through the SDK's own deserialisers
    //! (`aws-smithy-mocks` answers at the HTTP boundary).
    use super::*;
    use aws_sdk_guardduty::config::retry::RetryConfig;
    use aws_sdk_guardduty::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use deadbolt_core::finding::parse_event;

    const DETECTOR: &str = "12abc34d567e8fa901bc2d34e56789f0";

    macro_rules! api {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/guardduty-api/", $name)).to_string()
        };
    }

    macro_rules! fixtures {
        ($($name:literal),* $(,)?) => {
            [$(($name, include_str!(concat!("../../../tests/fixtures/guardduty/", $name, ".json")))),*]
        };
    }

    /// Every EventBridge fixture: its `detail` is GuardDuty's finding object.
    const FIXTURES: [(&str, &str); 32] = fixtures!(
        "anomalous-credential-access",
        "anomalous-defense-evasion",
        "anomalous-discovery",
        "anomalous-exfiltration",
        "anomalous-impact",
        "anomalous-initial-access",
        "anomalous-persistence",
        "anomalous-privilege-escalation",
        "archived-finding",
        "cloudtrail-logging-disabled-sso",
        "cloudtrail-logging-disabled",
        "ec2-finding",
        "federated-user",
        "foreign-account",
        "instance-credential-exfiltration-inside-aws",
        "instance-credential-exfiltration-outside-aws",
        "malicious-ip-caller",
        "password-policy-change",
        "pentest-kali-linux",
        "protected-break-glass",
        "root-credential-usage",
        "sample-finding",
        "service-linked-role",
        "tor-ip-caller",
        "attack-sequence-compromised-credentials",
        "bedrock-logging-disabled",
        "kubernetes-role-caller",
        "resource-credential-exfiltration-inside-aws",
        "resource-credential-exfiltration-outside-aws",
        "s3-malicious-ip-caller",
        "s3-policy-public-access-disabled",
        "short-term-root-credential-usage",
    );

    fn detail(event: &str) -> Value {
        let event: Value = serde_json::from_str(event).unwrap();
        event["detail"].clone()
    }

    /// GetFindings' response body holding these finding objects.
    fn get_findings_body(findings: &[Value]) -> String {
        serde_json::json!({ "findings": findings }).to_string()
    }

    fn list_detectors(body: String) -> Rule {
        mock!(Client::list_detectors)
            .sequence()
            .http_status(200, Some(body))
            .build()
    }

    fn adapter(rules: &[&Rule]) -> AwsGuardDuty {
        AwsGuardDuty::new(mock_client!(
            aws_sdk_guardduty,
            RuleMode::MatchAny,
            rules,
            |c| c.retry_config(RetryConfig::disabled())
        ))
    }

    #[tokio::test]
    async fn every_fixture_reads_back_as_the_event_s_finding() {
        for (name, event) in FIXTURES {
            let expected = parse_event(event).unwrap().detail;
            let id = expected.id.clone();
            let detectors = list_detectors(api!("list-detectors.json"));
            let body = get_findings_body(&[detail(event)]);
            let asked = id.clone();
            let get = mock!(Client::get_findings)
                .match_requests(move |r| {
                    r.detector_id() == Some(DETECTOR) && r.finding_ids() == [asked.clone()]
                })
                .sequence()
                .http_status(200, Some(body))
                .build();
            let gd = adapter(&[&detectors, &get]);

            let got = gd.get_finding(&id).await.unwrap().unwrap();

            // The fields the decision reads, named so a failure says which one drifted.
            assert_eq!(got.id, expected.id, "{name}");
            assert_eq!(got.finding_type, expected.finding_type, "{name}");
            assert_eq!(got.account_id, expected.account_id, "{name}");
            assert_eq!(got.partition, expected.partition, "{name}");
            assert_eq!(got.severity, expected.severity, "{name}");
            assert_eq!(got.service.archived, expected.service.archived, "{name}");
            assert_eq!(got.is_sample(), expected.is_sample(), "{name}");
            assert_eq!(got.resource, expected.resource, "{name}");
            // Every principal the finding names, attack-sequence actors included.
            assert_eq!(
                deadbolt_core::sequence::principals(&got),
                deadbolt_core::sequence::principals(&expected),
                "{name}"
            );
            assert_eq!(got.api_call(), expected.api_call(), "{name}");
            // The one difference: the SDK keeps only `value` and `type` of additionalInfo.
            let api_shape = expected.service.additional_info.as_ref().map(|info| {
                Value::Object(
                    ["value", "type"]
                        .iter()
                        .filter_map(|k| Some((k.to_string(), info.get(*k)?.clone())))
                        .collect(),
                )
            });
            assert_eq!(got.service.additional_info, api_shape, "{name}");
            // The other one: an attack sequence's context (signals, indicators, endpoints,
            // session times) stays with GuardDuty; its principal fields are all read.
            let mut expected = expected.clone();
            if let Some(seq) = expected
                .service
                .detection
                .as_mut()
                .and_then(|d| d.sequence.as_mut())
            {
                (seq.signals, seq.sequence_indicators, seq.endpoints) = (None, None, None);
                for actor in seq.actors.iter_mut().flatten() {
                    if let Some(session) = actor.session.as_mut() {
                        session.created_time = None;
                    }
                }
            }
            // Everything else is equal as a whole.
            let mut same = got.clone();
            same.service.additional_info = expected.service.additional_info.clone();
            assert_eq!(same, expected, "{name}");
            assert_eq!((detectors.num_calls(), get.num_calls()), (1, 1), "{name}");
        }
    }

    #[tokio::test]
    async fn the_archived_flag_and_a_sample_in_value_survive() {
        let archived = detail(FIXTURES[8].1);
        assert_eq!(archived["service"]["archived"], Value::Bool(true));
        // A real finding that GuardDuty's API marks as a sample only inside `value`, as the
        // API does: no flattened `sample` key, no `GeneratedFinding…` placeholder.
        let mut sample = detail(FIXTURES[16].1);
        sample["service"]["additionalInfo"] =
            serde_json::json!({ "value": "{\"sample\":true}", "type": "default" });
        let (archived_id, sample_id) = (
            archived["id"].as_str().unwrap().to_string(),
            sample["id"].as_str().unwrap().to_string(),
        );
        let detectors = list_detectors(api!("list-detectors.json"));
        let get = mock!(Client::get_findings)
            .sequence()
            .http_status(200, Some(get_findings_body(&[archived])))
            .http_status(200, Some(get_findings_body(&[sample])))
            .build();
        let gd = adapter(&[&detectors, &get]);

        let a = gd.get_finding(&archived_id).await.unwrap().unwrap();
        assert!(a.service.archived);
        assert!(!a.is_sample());
        let s = gd.get_finding(&sample_id).await.unwrap().unwrap();
        assert!(!s.service.archived);
        assert!(s.is_sample());
        assert!(!parse_event(FIXTURES[16].1).unwrap().detail.is_sample());
    }

    #[tokio::test]
    async fn an_unknown_id_is_none_and_the_detector_is_asked_once() {
        let detectors = list_detectors(api!("list-detectors.json"));
        let get = mock!(Client::get_findings)
            .match_requests(|r| r.detector_id() == Some(DETECTOR))
            .sequence()
            .http_status(200, Some(api!("get-findings-empty.json")))
            .times(2)
            .build();
        let gd = adapter(&[&detectors, &get]);

        assert_eq!(
            gd.get_finding("0000000000000000000000000000dead").await,
            Ok(None)
        );
        assert_eq!(
            gd.get_finding("0000000000000000000000000000beef").await,
            Ok(None)
        );
        assert_eq!((detectors.num_calls(), get.num_calls()), (1, 2));
    }

    #[tokio::test]
    async fn another_finding_in_the_answer_is_an_error_not_a_match() {
        let detectors = list_detectors(api!("list-detectors.json"));
        let get = mock!(Client::get_findings)
            .sequence()
            .http_status(200, Some(get_findings_body(&[detail(FIXTURES[0].1)])))
            .build();
        let err = adapter(&[&detectors, &get])
            .get_finding("0000000000000000000000000000dead")
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::Other, "InvalidGuardDutyFinding")
        );
    }

    #[tokio::test]
    async fn a_finding_without_a_required_field_is_a_permanent_error() {
        let mut finding = detail(FIXTURES[0].1);
        let id = finding["id"].as_str().unwrap().to_string();
        finding["resource"]
            .as_object_mut()
            .unwrap()
            .remove("resourceType");
        let detectors = list_detectors(api!("list-detectors.json"));
        let get = mock!(Client::get_findings)
            .sequence()
            .http_status(200, Some(get_findings_body(&[finding])))
            .build();
        let err = adapter(&[&detectors, &get])
            .get_finding(&id)
            .await
            .unwrap_err();
        assert_eq!(err.kind, AwsErrorKind::Other);
        assert!(err.message.contains("resource.resourceType"), "{err}");
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn no_detector_is_a_permanent_error_and_is_asked_again_next_time() {
        let detectors = mock!(Client::list_detectors)
            .sequence()
            .http_status(200, Some(api!("list-detectors-none.json")))
            .times(2)
            .build();
        let get = mock!(Client::get_findings).then_output(|| unreachable!());
        let gd = adapter(&[&detectors, &get]);
        for _ in 0..2 {
            let err = gd
                .get_finding("0000000000000000000000000000dead")
                .await
                .unwrap_err();
            assert_eq!(err.kind, AwsErrorKind::Other);
            assert_eq!(
                err.message,
                "GuardDuty is not enabled in this account and region: no detector"
            );
            assert!(!err.retryable());
        }
        assert_eq!((detectors.num_calls(), get.num_calls()), (2, 0));
    }

    #[tokio::test]
    async fn two_detectors_are_a_permanent_error() {
        let detectors = list_detectors(api!("list-detectors-two.json"));
        let err = adapter(&[&detectors])
            .get_finding("0000000000000000000000000000dead")
            .await
            .unwrap_err();
        assert_eq!(err.kind, AwsErrorKind::Other);
        assert!(err.message.contains("2 detectors"), "{err}");
        assert!(!err.retryable());
    }

    #[tokio::test]
    async fn errors_map_to_domain_kinds_and_only_transient_ones_are_retryable() {
        for (status, body, kind, code) in [
            (
                429,
                api!("error-too-many-requests.json"),
                AwsErrorKind::Throttled,
                "TooManyRequestsException",
            ),
            (
                500,
                api!("error-internal-server.json"),
                AwsErrorKind::Unavailable,
                "InternalServerErrorException",
            ),
            (
                403,
                api!("error-access-denied.json"),
                AwsErrorKind::AccessDenied,
                "AccessDeniedException",
            ),
            (
                400,
                api!("error-bad-request-detector.json"),
                AwsErrorKind::Other,
                "BadRequestException",
            ),
        ] {
            let detectors = list_detectors(api!("list-detectors.json"));
            let get = mock!(Client::get_findings)
                .sequence()
                .http_status(status, Some(body))
                .build();
            let err = adapter(&[&detectors, &get])
                .get_finding("0000000000000000000000000000dead")
                .await
                .unwrap_err();
            assert_eq!((err.kind, err.code.as_str()), (kind, code), "{status}");
            assert_eq!(
                err.retryable(),
                matches!(kind, AwsErrorKind::Throttled | AwsErrorKind::Unavailable),
                "{status}"
            );
        }
    }

    #[tokio::test]
    async fn a_throttled_list_detectors_is_retryable_and_not_cached() {
        let detectors = mock!(Client::list_detectors)
            .sequence()
            .http_status(429, Some(api!("error-too-many-requests.json")))
            .http_status(200, Some(api!("list-detectors.json")))
            .build();
        let get = mock!(Client::get_findings)
            .sequence()
            .http_status(200, Some(api!("get-findings-empty.json")))
            .build();
        let gd = adapter(&[&detectors, &get]);
        let err = gd
            .get_finding("0000000000000000000000000000dead")
            .await
            .unwrap_err();
        assert!(err.retryable(), "{err}");
        assert_eq!(
            gd.get_finding("0000000000000000000000000000dead").await,
            Ok(None)
        );
        assert_eq!((detectors.num_calls(), get.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_retry_policy() {
        let detectors = list_detectors(api!("list-detectors.json"));
        let get = mock!(Client::get_findings)
            .sequence()
            .http_status(429, Some(api!("error-too-many-requests.json")))
            .times(2)
            .http_status(200, Some(api!("get-findings-empty.json")))
            .build();
        let client = mock_client!(
            aws_sdk_guardduty,
            RuleMode::MatchAny,
            [&detectors, &get],
            |c| c.retry_config(RetryConfig::standard().with_max_attempts(3))
        );
        let gd = AwsGuardDuty::new(client);
        assert_eq!(
            gd.get_finding("0000000000000000000000000000dead").await,
            Ok(None)
        );
        assert_eq!(get.num_calls(), 3);
    }
}

#[cfg(test)]
mod endpoint_tests {
    //! Where the GuardDuty client built from `load_config`'s SdkConfig sends its requests, for
    //! each way of naming an endpoint. The loader reads a given environment (not the test
    //! process's) and no files; the HTTP client only captures the request.
    use aws_config::Region;
    use aws_sdk_guardduty::config::Credentials;
    use aws_smithy_http_client::test_util::capture_request;
    use aws_types::os_shim_internal::{Env, Fs};

    use crate::{config_loader, with_default_region, AwsOptions};

    /// The URI of the first request (`ListDetectors`) a GuardDuty client built from this
    /// process configuration sends; `builder_endpoint` is the client-level override.
    async fn guardduty_uri(
        env: &[(&str, &str)],
        options: AwsOptions,
        builder_endpoint: Option<&str>,
    ) -> String {
        let sdk = with_default_region(
            config_loader(&options)
                .env(Env::from_slice(env))
                .fs(Fs::from_slice(&[]))
                .region(Region::from_static("us-east-1"))
                .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
                .load()
                .await,
        );
        let (http, request) = capture_request(None);
        let mut conf = aws_sdk_guardduty::config::Builder::from(&sdk).http_client(http);
        if let Some(url) = builder_endpoint {
            conf = conf.endpoint_url(url);
        }
        let client = aws_sdk_guardduty::Client::from_conf(conf.build());
        // The captured answer is an empty 200; only the request matters here.
        let _ = client.list_detectors().send().await;
        request.expect_request().uri().to_string()
    }

    const GD: &str = "http://127.0.0.1:9/guardduty-only";
    const GLOBAL: &str = "http://127.0.0.1:9/every-service";

    #[tokio::test]
    async fn aws_endpoint_url_guardduty_reaches_the_client_and_beats_the_global_one() {
        let env = [
            ("AWS_ENDPOINT_URL_GUARDDUTY", GD),
            ("AWS_ENDPOINT_URL", GLOBAL),
        ];
        let uri = guardduty_uri(&env, AwsOptions::default(), None).await;
        assert_eq!(uri, format!("{GD}/detector"));
        // The global one still applies where no service-specific one is set.
        let uri = guardduty_uri(&env[1..], AwsOptions::default(), None).await;
        assert_eq!(uri, format!("{GLOBAL}/detector"));
    }

    #[tokio::test]
    async fn the_endpoint_url_option_applies_to_guardduty_and_beats_the_environment() {
        let options = AwsOptions {
            endpoint_url: Some("http://127.0.0.1:9/option".into()),
            ..AwsOptions::default()
        };
        let env = [("AWS_ENDPOINT_URL_GUARDDUTY", GD)];
        let uri = guardduty_uri(&env, options, None).await;
        assert_eq!(uri, "http://127.0.0.1:9/option/detector");
    }

    #[tokio::test]
    async fn a_client_builder_endpoint_beats_everything() {
        let env = [("AWS_ENDPOINT_URL_GUARDDUTY", GD)];
        let uri = guardduty_uri(&env, AwsOptions::default(), Some("http://127.0.0.1:9/b")).await;
        assert_eq!(uri, "http://127.0.0.1:9/b/detector");
    }

    #[tokio::test]
    async fn without_overrides_or_when_ignored_it_is_guardduty_s_regional_endpoint() {
        let real = "https://guardduty.us-east-1.amazonaws.com/detector";
        assert_eq!(guardduty_uri(&[], AwsOptions::default(), None).await, real);
        let env = [
            ("AWS_ENDPOINT_URL_GUARDDUTY", GD),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ];
        assert_eq!(guardduty_uri(&env, AwsOptions::default(), None).await, real);
    }
}
