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
        },
        title: f.title().map(str::to_string),
        created_at: f.created_at().map(str::to_string),
        updated_at: f.updated_at().map(str::to_string),
    })
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
