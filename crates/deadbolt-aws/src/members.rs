//! Member accounts through the member role: `sts:AssumeRole` into
//! `arn:aws:iam::MEMBER:role/<member_role>`, one set of credentials per account, cached until
//! shortly before it expires. A GuardDuty administrator's deadbolt contains, investigates and
//! lists in its members through these sessions; the writes are the same adapters as in its own
//! account ([`AwsIam`]), only with the member's credentials.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use deadbolt_core::decision::{member_session_name, MemberRole};
use deadbolt_core::ports::{AwsError, AwsErrorKind, MemberAccounts};

use crate::{classify, AwsIam};

/// Credentials are used until this long before they expire, then the role is assumed again:
/// a containment that starts must not run into an expiry halfway through its writes.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// What deadbolt asks for: STS's minimum. A containment takes seconds; a shorter session is
/// less worth stealing.
const SESSION_SECONDS: i32 = 900;

/// Sessions in member accounts, one per role ARN.
#[derive(Debug)]
pub struct MemberSessions {
    // Built on the first member account's finding: a single-account deployment never needs it.
    sts: crate::lazy::LazyClient<aws_sdk_sts::Client>,
    /// The configuration every member client starts from (region, endpoint, timeouts); only
    /// the credentials differ.
    base: SdkConfig,
    cache: tokio::sync::Mutex<HashMap<String, (SdkConfig, SystemTime)>>,
}

impl MemberSessions {
    pub fn from_conf(base: &SdkConfig) -> Self {
        MemberSessions {
            sts: crate::lazy::LazyClient::new(base, aws_sdk_sts::Client::new),
            base: base.clone(),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The SDK configuration of `role` in its account: from the cache while the credentials
    /// have more than five minutes left, otherwise a new `AssumeRole` in a session named after
    /// `finding_id` (the member's CloudTrail shows which finding deadbolt acted on).
    pub async fn config_for(
        &self,
        role: &MemberRole,
        finding_id: &str,
    ) -> Result<SdkConfig, AwsError> {
        let arn = role.arn();
        let mut cache = self.cache.lock().await;
        let now = SystemTime::now();
        if let Some((config, expires)) = cache.get(&arn) {
            if now + REFRESH_BEFORE_EXPIRY < *expires {
                return Ok(config.clone());
            }
        }
        let (credentials, expires) = self.assume(role, finding_id).await?;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        cache.insert(arn, (config.clone(), expires));
        Ok(config)
    }

    /// One `sts:AssumeRole` of `role`, uncached: the credentials and when they expire.
    pub async fn assume(
        &self,
        role: &MemberRole,
        session: &str,
    ) -> Result<(Credentials, SystemTime), AwsError> {
        let arn = role.arn();
        let now = SystemTime::now();
        let out = self
            .sts
            .get()
            .assume_role()
            .role_arn(&arn)
            .role_session_name(member_session_name(session))
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let Some(c) = out.credentials else {
            return Err(AwsError::new(
                AwsErrorKind::Unavailable,
                "IncompleteResponse",
                format!("AssumeRole {arn} returned no credentials"),
            ));
        };
        let expires = SystemTime::try_from(c.expiration).unwrap_or(now);
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expires),
            "deadbolt-member-role",
        );
        Ok((credentials, expires))
    }
}

impl MemberAccounts<AwsIam> for MemberSessions {
    async fn iam_in(&self, role: &MemberRole, finding_id: &str) -> Result<AwsIam, AwsError> {
        Ok(AwsIam::from_conf(&self.config_for(role, finding_id).await?))
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn role() -> MemberRole {
        MemberRole {
            account_id: "111111111111".into(),
            role_name: "deadbolt-member".into(),
            partition: "aws".into(),
        }
    }

    fn sessions(sts: aws_sdk_sts::Client) -> MemberSessions {
        MemberSessions {
            sts: crate::lazy::LazyClient::ready(sts),
            base: SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .build(),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn credentials(expires_in: Duration) -> aws_sdk_sts::types::Credentials {
        let expiration = SystemTime::now() + expires_in;
        aws_sdk_sts::types::Credentials::builder()
            .access_key_id("ASIAMEMBER1EXAMPLE11")
            .secret_access_key("secret")
            .session_token("token")
            .expiration(aws_smithy_types::DateTime::from(expiration))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn assumes_the_member_role_once_per_account_in_a_session_named_after_the_finding() {
        let assume = mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(|r| {
                r.role_arn() == Some("arn:aws:iam::111111111111:role/deadbolt-member")
                    && r.role_session_name() == Some("deadbolt-5ac7a4e1c3f04e0b8f1d2c3b4a596870")
                    && r.duration_seconds() == Some(900)
            })
            .then_output(|| {
                aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                    .credentials(credentials(Duration::from_secs(900)))
                    .build()
            });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
        let sessions = sessions(sts);
        let first = sessions
            .config_for(&role(), "5ac7a4e1c3f04e0b8f1d2c3b4a596870")
            .await
            .unwrap();
        assert!(first.credentials_provider().is_some());
        sessions.config_for(&role(), "other-finding").await.unwrap();
        assert_eq!(assume.num_calls(), 1, "cached until shortly before expiry");
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_renewed() {
        let assume = mock!(aws_sdk_sts::Client::assume_role).then_output(|| {
            aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                .credentials(credentials(Duration::from_secs(120)))
                .build()
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume]);
        let sessions = sessions(sts);
        sessions.config_for(&role(), "a").await.unwrap();
        sessions.config_for(&role(), "b").await.unwrap();
        assert_eq!(assume.num_calls(), 2);
    }

    #[tokio::test]
    async fn access_denied_is_access_denied_and_not_retryable() {
        let denied = mock!(aws_sdk_sts::Client::assume_role).then_error(|| {
            aws_sdk_sts::operation::assume_role::AssumeRoleError::generic(
                aws_sdk_sts::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("User: arn:aws:sts::123456789012:assumed-role/deadbolt-responder/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/deadbolt-member")
                    .build(),
            )
        });
        let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&denied]);
        let e = sessions(sts).config_for(&role(), "f").await.unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::AccessDenied);
        assert!(!e.retryable());
    }
}
