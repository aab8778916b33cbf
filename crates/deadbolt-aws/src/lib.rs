//! AWS adapters for deadbolt's ports: IAM inline policies and access keys, STS caller
//! identity, the SSM settings document, IAM Identity Center permission sets, GuardDuty's copy
//! of a finding, on the AWS SDK for Rust. Adapters hold clients (and lookup caches); decisions are all in deadbolt-core.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::types::StatusType;
use deadbolt_core::ports::{
    AccessKeys, AwsError, AwsErrorKind, CallerIdentity, IamDirectory, IdentityProvider,
    InlinePolicies, ManagedPolicies,
};

use deadbolt_core::runtime::StoredVersion;
use deadbolt_core::{ContainmentTarget, TargetKind};

mod announce;
mod breaker;
mod error;
mod guardduty;
mod held;
mod identity_center;
mod lazy;
mod ledger;
pub mod live;
mod members;
mod securityhub;
pub mod tls;
pub use announce::AlarmAnnouncer;
pub use breaker::{hour_bucket, DynamoBreaker};
pub(crate) use error::{classify, done};
pub use guardduty::{AwsGuardDuty, UnreadableFinding, GUARDDUTY_BATCH};
pub use held::{DynamoHeldFindings, ExpirySchedules};
pub use identity_center::AwsIdentityCenter;
pub use ledger::DynamoLedger;
pub use live::LiveSettings;
pub use members::MemberSessions;
pub use securityhub::SecurityHubWriteBack;

/// Where the SDK should connect and as whom. Unset fields follow the standard AWS
/// configuration chain (environment, profile, container/instance credentials).
#[derive(Debug, Default, Clone)]
pub struct AwsOptions {
    /// An endpoint override (also honoured from `AWS_ENDPOINT_URL` by the SDK itself).
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Credentials to use instead of the chain's: a member account's, after the CLI assumed
    /// the member role there (`--account`).
    pub credentials: Option<aws_credential_types::Credentials>,
    /// Which certificate authorities the calls trust ([`tls`]): Amazon Trust Services' roots
    /// unless `DEADBOLT_TLS_ROOTS=system` ([`tls::TrustRoots::from_env`]).
    pub trust_roots: tls::TrustRoots,
}

/// Load the SDK configuration once per process. Timeouts are explicit: a hung connection must
/// not eat the Lambda's whole budget before containment is even attempted.
pub async fn load_config(options: &AwsOptions) -> SdkConfig {
    with_default_region(config_loader(options).load().await)
}

/// `load_config`'s loader, before it reads the environment (tests give it their own).
fn config_loader(options: &AwsOptions) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(20))
            .build(),
    );
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(credentials) = &options.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    // Set on the loader, not on the loaded config: the credential providers it builds (SSO,
    // web identity, STS) call AWS through the same client and trust the same roots.
    if let Some(client) = tls::https_client(options.trust_roots) {
        loader = loader.http_client(client);
    }
    loader
}

fn with_default_region(config: SdkConfig) -> SdkConfig {
    if config.region().is_none() {
        // IAM and STS are global; any region signs correctly. Fall back rather than fail.
        return config
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build();
    }
    config
}

/// Inline policies through `aws-sdk-iam`.
#[derive(Clone, Debug)]
pub struct AwsIam {
    client: aws_sdk_iam::Client,
}

impl AwsIam {
    pub fn new(client: aws_sdk_iam::Client) -> Self {
        AwsIam { client }
    }

    pub fn from_conf(config: &SdkConfig) -> Self {
        Self::new(aws_sdk_iam::Client::new(config))
    }

    pub fn client(&self) -> &aws_sdk_iam::Client {
        &self.client
    }
}

/// One IAM call on a user, a role or a group. IAM has one operation (and the SDK one builder
/// type) per kind of entity (`GetUserPolicy`, `GetRolePolicy`, `GetGroupPolicy`), so the three
/// cannot share a function: this writes their `match` once. `|req| BODY` is what is done with
/// the builder once it names the entity; `group => EXPR` stands in for an operation IAM does
/// not have for groups (no tags, no permissions boundary).
macro_rules! per_entity {
    ($c:expr, $target:expr, $user:ident, $role:ident, group => $group:expr, |$req:ident| $body:expr) => {{
        let name = $target.name.as_str();
        match $target.kind {
            TargetKind::User => {
                let $req = $c.$user().user_name(name);
                $body
            }
            TargetKind::Role => {
                let $req = $c.$role().role_name(name);
                $body
            }
            TargetKind::Group => $group,
        }
    }};
    ($c:expr, $target:expr, $user:ident, $role:ident, $group:ident, |$req:ident| $body:expr) => {
        per_entity!($c, $target, $user, $role, group => {
            let $req = $c.$group().group_name($target.name.as_str());
            $body
        }, |$req| $body)
    };
}

impl InlinePolicies for AwsIam {
    async fn get_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<Option<String>, AwsError> {
        let document = per_entity!(
            self.client,
            target,
            get_user_policy,
            get_role_policy,
            get_group_policy,
            |req| req
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document)
                .map_err(|e| classify(&e))
        );
        match document {
            Ok(doc) => Ok(Some(url_decode(&doc))),
            Err(e) if e.kind == AwsErrorKind::NoSuchEntity => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            put_user_policy,
            put_role_policy,
            put_group_policy,
            |req| done(
                req.policy_name(policy_name)
                    .policy_document(document)
                    .send()
                    .await
            )
        )
    }

    async fn delete_policy(
        &self,
        target: &ContainmentTarget,
        policy_name: &str,
    ) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            delete_user_policy,
            delete_role_policy,
            delete_group_policy,
            |req| done(req.policy_name(policy_name).send().await)
        )
    }
}

/// IAM groups have no tags and no permissions boundary; containment never asks, so this only
/// guards the adapter.
fn group_tags_unsupported(target: &ContainmentTarget) -> AwsError {
    AwsError::new(
        AwsErrorKind::Other,
        "ValidationError",
        format!("{target}: IAM groups have no tags and no permissions boundary"),
    )
}

impl ManagedPolicies for AwsIam {
    async fn attached_policies(&self, target: &ContainmentTarget) -> Result<Vec<String>, AwsError> {
        // Paginators follow IAM's Marker/IsTruncated to the end of the list.
        let attached: Vec<aws_sdk_iam::types::AttachedPolicy> = per_entity!(
            self.client,
            target,
            list_attached_user_policies,
            list_attached_role_policies,
            list_attached_group_policies,
            |req| req
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify(&e))?
        );
        Ok(attached.into_iter().filter_map(|p| p.policy_arn).collect())
    }

    async fn attach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            attach_user_policy,
            attach_role_policy,
            attach_group_policy,
            |req| done(req.policy_arn(arn).send().await)
        )
    }

    async fn detach_policy(&self, target: &ContainmentTarget, arn: &str) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            detach_user_policy,
            detach_role_policy,
            detach_group_policy,
            |req| done(req.policy_arn(arn).send().await)
        )
    }

    async fn tags(&self, target: &ContainmentTarget) -> Result<Vec<(String, String)>, AwsError> {
        let tags: Vec<aws_sdk_iam::types::Tag> = per_entity!(
            self.client,
            target,
            list_user_tags,
            list_role_tags,
            group => return Err(group_tags_unsupported(target)),
            |req| req
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify(&e))?
        );
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    async fn tag(
        &self,
        target: &ContainmentTarget,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| {
                AwsError::new(AwsErrorKind::Other, "ConstructionFailure", e.to_string())
            })?;
        per_entity!(
            self.client,
            target,
            tag_user,
            tag_role,
            group => Err(group_tags_unsupported(target)),
            |req| done(req.tags(tag).send().await)
        )
    }

    async fn untag(&self, target: &ContainmentTarget, key: &str) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            untag_user,
            untag_role,
            group => Err(group_tags_unsupported(target)),
            |req| done(req.tag_keys(key).send().await)
        )
    }

    async fn permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<String>, AwsError> {
        let c = &self.client;
        let name = target.name.as_str();
        // GetUser and GetRole answer different types: only the call is alike.
        let boundary = match target.kind {
            TargetKind::User => c
                .get_user()
                .user_name(name)
                .send()
                .await
                .map_err(|e| classify(&e))?
                .user
                .and_then(|u| u.permissions_boundary),
            TargetKind::Role => c
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| classify(&e))?
                .role
                .and_then(|r| r.permissions_boundary),
            TargetKind::Group => return Err(group_tags_unsupported(target)),
        };
        Ok(boundary.and_then(|b| b.permissions_boundary_arn))
    }

    async fn entity_info(
        &self,
        target: &ContainmentTarget,
    ) -> Result<Option<deadbolt_core::ports::EntityInfo>, AwsError> {
        let c = &self.client;
        let name = target.name.as_str();
        let (created, path) = match target.kind {
            TargetKind::User => {
                let user = match c.get_user().user_name(name).send().await {
                    Ok(out) => out.user,
                    Err(e) => return absent_as_none(classify(&e)),
                };
                match user {
                    Some(u) => (u.create_date.to_millis().ok(), u.path),
                    None => return Ok(None),
                }
            }
            TargetKind::Role => {
                let role = match c.get_role().role_name(name).send().await {
                    Ok(out) => out.role,
                    Err(e) => return absent_as_none(classify(&e)),
                };
                match role {
                    Some(r) => (r.create_date.to_millis().ok(), r.path),
                    None => return Ok(None),
                }
            }
            TargetKind::Group => return Ok(None),
        };
        Ok(
            created.map(|created_at_ms| deadbolt_core::ports::EntityInfo {
                created_at_ms,
                path,
            }),
        )
    }

    async fn put_permissions_boundary(
        &self,
        target: &ContainmentTarget,
        arn: &str,
    ) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            put_user_permissions_boundary,
            put_role_permissions_boundary,
            group => Err(group_tags_unsupported(target)),
            |req| done(req.permissions_boundary(arn).send().await)
        )
    }

    async fn delete_permissions_boundary(
        &self,
        target: &ContainmentTarget,
    ) -> Result<(), AwsError> {
        per_entity!(
            self.client,
            target,
            delete_user_permissions_boundary,
            delete_role_permissions_boundary,
            group => Err(group_tags_unsupported(target)),
            |req| done(req.send().await)
        )
    }
}

impl AccessKeys for AwsIam {
    async fn access_key_active(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<Option<bool>, AwsError> {
        // A user has at most two keys: one page.
        let keys: Vec<_> = self
            .client
            .list_access_keys()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify(&e))?;
        Ok(keys
            .into_iter()
            .find(|k| k.access_key_id() == Some(access_key_id))
            .map(|k| k.status() == Some(&StatusType::Active)))
    }

    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        let status = if active {
            StatusType::Active
        } else {
            StatusType::Inactive
        };
        done(
            self.client
                .update_access_key()
                .user_name(user_name)
                .access_key_id(access_key_id)
                .status(status)
                .send()
                .await,
        )
    }
}

impl IamDirectory for AwsIam {
    async fn list_names(&self, kind: TargetKind) -> Result<Vec<String>, AwsError> {
        let c = &self.client;
        // Paginators follow IAM's Marker/IsTruncated to the end of the list.
        match kind {
            TargetKind::User => c
                .list_users()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map(|v| v.into_iter().map(|u| u.user_name).collect())
                .map_err(|e| classify(&e)),
            TargetKind::Role => c
                .list_roles()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map(|v| v.into_iter().map(|r| r.role_name).collect())
                .map_err(|e| classify(&e)),
            TargetKind::Group => c
                .list_groups()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map(|v| v.into_iter().map(|g| g.group_name).collect())
                .map_err(|e| classify(&e)),
        }
    }
}

/// The runtime settings document in SSM Parameter Store.
#[derive(Clone, Debug)]
pub struct SsmSettingsStore {
    client: aws_sdk_ssm::Client,
    name: String,
}

/// `DEADBOLT_CONFIG_PARAMETER`'s default.
pub const DEFAULT_CONFIG_PARAMETER: &str = "/deadbolt/config";

impl SsmSettingsStore {
    pub fn new(client: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        SsmSettingsStore {
            client,
            name: name.into(),
        }
    }

    pub fn from_conf(config: &SdkConfig, name: impl Into<String>) -> Self {
        Self::new(aws_sdk_ssm::Client::new(config), name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl deadbolt_core::runtime::SettingsStore for SsmSettingsStore {
    async fn load(&self) -> Result<Option<String>, AwsError> {
        match self.client.get_parameter().name(&self.name).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    /// `ssm:GetParameterHistory`, every page (SSM keeps at most 100 versions, so two pages of
    /// 50; SSM returns them oldest first), then the newest `limit`, newest first.
    async fn history(&self, limit: usize) -> Result<Vec<StoredVersion>, AwsError> {
        // Bounded whatever the endpoint answers: 100 versions take 2 pages of 50.
        const MAX_PAGES: usize = 4;
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = match self
                .client
                .get_parameter_history()
                .name(&self.name)
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_not_found()) =>
                {
                    return Ok(Vec::new())
                }
                Err(e) => return Err(classify(&e)),
            };
            versions.extend(
                page.parameters
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        Some(StoredVersion {
                            version: p.version,
                            // A version without a value is not a document (never seen in practice).
                            value: p.value?,
                            modified_at: p.last_modified_date.and_then(|d| {
                                chrono::DateTime::from_timestamp(d.secs(), d.subsec_nanos())
                            }),
                            modified_by: p.last_modified_user.filter(|u| !u.is_empty()),
                        })
                    }),
            );
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        versions.truncate(limit);
        Ok(versions)
    }

    async fn store(&self, document: &str) -> Result<(), AwsError> {
        done(
            self.client
                .put_parameter()
                .name(&self.name)
                .value(document)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                // Standard parameters hold 4 KB; a larger document moves to the advanced tier.
                .tier(aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
                .overwrite(true)
                .send()
                .await,
        )
    }
}

/// Caller identity through `aws-sdk-sts`.
#[derive(Clone, Debug)]
pub struct StsIdentity {
    client: aws_sdk_sts::Client,
}

impl StsIdentity {
    pub fn new(client: aws_sdk_sts::Client) -> Self {
        StsIdentity { client }
    }

    pub fn from_conf(config: &SdkConfig) -> Self {
        Self::new(aws_sdk_sts::Client::new(config))
    }
}

impl IdentityProvider for StsIdentity {
    async fn caller_identity(&self) -> Result<CallerIdentity, AwsError> {
        let out = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match (out.account, out.arn) {
            (Some(account_id), Some(arn)) => Ok(CallerIdentity { account_id, arn }),
            _ => Err(AwsError::new(
                AwsErrorKind::Unavailable,
                "IncompleteResponse",
                "GetCallerIdentity returned no Account or Arn",
            )),
        }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986). Decode `%XX`; leave anything else
/// (a `%` not followed by two hex digits stays as is, invalid UTF-8 becomes U+FFFD).
pub fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decode_handles_iam_encoding_and_plain_text() {
        assert_eq!(
            url_decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(url_decode(r#"{"a":"100%"}"#), r#"{"a":"100%"}"#);
        assert_eq!(url_decode("%zz%4"), "%zz%4");
        assert_eq!(url_decode("%FF%C3%A9"), "\u{FFFD}\u{e9}");
    }
}

/// The adapter against IAM's real wire format (recorded XML error bodies), through the SDK's
/// own mock layer: error mapping, NoSuchEntity-as-absent, and the SDK's throttling retries.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use aws_sdk_iam::operation::get_user_policy::GetUserPolicyOutput;
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn iam_error(code: &str, message: &str) -> String {
        format!(
            r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4f1b2c3d-0000-4000-8000-000000000000</RequestId></ErrorResponse>"#
        )
    }

    fn mallory() -> ContainmentTarget {
        ContainmentTarget::new(TargetKind::User, "mallory").unwrap()
    }

    #[tokio::test]
    async fn missing_policy_reads_as_none_and_documents_are_url_decoded() {
        let absent = mock!(Client::get_user_policy)
            .match_requests(|r| r.user_name() == Some("mallory"))
            .sequence()
            .http_status(
                404,
                Some(iam_error(
                    "NoSuchEntity",
                    "The user policy with name DenyAll cannot be found.",
                )),
            )
            .output(|| {
                GetUserPolicyOutput::builder()
                    .user_name("mallory")
                    .policy_name("DenyAll")
                    .policy_document("%7B%22Statement%22%3A%5B%5D%7D")
                    .build()
                    .unwrap()
            })
            .build();
        let iam = AwsIam::new(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&absent]));
        assert_eq!(iam.get_policy(&mallory(), "DenyAll").await, Ok(None));
        assert_eq!(
            iam.get_policy(&mallory(), "DenyAll").await,
            Ok(Some(r#"{"Statement":[]}"#.into()))
        );
        assert_eq!(absent.num_calls(), 2);
    }

    #[tokio::test]
    async fn put_errors_map_to_domain_kinds_without_retrying_client_errors() {
        for (status, code, kind) in [
            (404, "NoSuchEntity", AwsErrorKind::NoSuchEntity),
            (400, "UnmodifiableEntity", AwsErrorKind::UnmodifiableEntity),
            (403, "AccessDenied", AwsErrorKind::AccessDenied),
            (409, "LimitExceeded", AwsErrorKind::LimitExceeded),
            (
                400,
                "MalformedPolicyDocument",
                AwsErrorKind::MalformedPolicy,
            ),
        ] {
            let rule = mock!(Client::put_user_policy)
                .sequence()
                .http_status(status, Some(iam_error(code, "recorded message")))
                .build();
            let iam = AwsIam::new(mock_client!(aws_sdk_iam, [&rule]));
            let err = iam
                .put_policy(&mallory(), "DenyAll", "{}")
                .await
                .unwrap_err();
            assert_eq!(
                (err.kind, err.code.as_str(), err.message.as_str()),
                (kind, code, "recorded message")
            );
            assert_eq!(rule.num_calls(), 1, "{code} must not be retried");
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk_retry_policy() {
        let rule = mock!(Client::put_user_policy)
            .sequence()
            .http_status(400, Some(iam_error("Throttling", "Rate exceeded")))
            .times(2)
            .output(|| {
                aws_sdk_iam::operation::put_user_policy::PutUserPolicyOutput::builder().build()
            })
            .build();
        let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                aws_sdk_iam::config::retry::RetryConfig::standard().with_max_attempts(3)
            ));
        let iam = AwsIam::new(client);
        assert_eq!(iam.put_policy(&mallory(), "DenyAll", "{}").await, Ok(()));
        assert_eq!(rule.num_calls(), 3);
    }
}

/// No such entity is nothing to say about it, not a failure to read it.
fn absent_as_none<T>(e: AwsError) -> Result<Option<T>, AwsError> {
    match e.kind {
        deadbolt_core::ports::AwsErrorKind::NoSuchEntity => Ok(None),
        _ => Err(e),
    }
}
