//! SDK errors as the domain's [`AwsError`]: what kind of failure it is, and so whether
//! delivering the event again can help. Retryability comes from the SDK's own view of the
//! error: the transport (timeouts, dispatch failures, unreadable responses), the HTTP status
//! (5xx), the operation's modelled retryable errors, and the SDK's lists of throttling and
//! transient error codes. A 4xx deadbolt does not recognise is permanent.

use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};
use deadbolt_core::ports::{AwsError, AwsErrorKind};

/// A call whose answer deadbolt does not need: done, or the domain's error.
pub(crate) fn done<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
{
    result.map(drop).map_err(|e| classify(&e))
}

/// Map any SDK error to the domain's error.
pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
{
    if no_credentials(err as &(dyn std::error::Error + 'static)) {
        return AwsError::new(AwsErrorKind::NoCredentials, "NoCredentials", NO_CREDENTIALS);
    }
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            // A body the protocol's parser could not read leaves no code: the status says
            // what it was (403: an authorization failure, whatever shape its body has).
            let code = ProvideErrorMetadata::code(e)
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP{status}"));
            AwsError::new(
                kind_of(&code, status, e.retryable_error_kind()),
                code,
                ProvideErrorMetadata::message(e).unwrap_or_default(),
            )
        }
        SdkError::TimeoutError(_) => {
            AwsError::new(AwsErrorKind::Unavailable, "Timeout", short(err))
        }
        SdkError::DispatchFailure(_) => AwsError::new(
            AwsErrorKind::Unavailable,
            "DispatchFailure",
            untrusted_hint(short(err)),
        ),
        SdkError::ResponseError(_) => {
            AwsError::new(AwsErrorKind::Unavailable, "ResponseError", short(err))
        }
        // A request that could not be built (missing credentials, an invalid parameter) will
        // not build on the next delivery either.
        SdkError::ConstructionFailure(_) => {
            AwsError::new(AwsErrorKind::Other, "ConstructionFailure", short(err))
        }
        _ => AwsError::new(AwsErrorKind::Other, "SdkError", short(err)),
    }
}

/// A certificate no trusted root vouches for (rustls's `UnknownIssuer`): with deadbolt's
/// default trust roots the one thing a user can change is which roots, so the message says how.
fn untrusted_hint(message: String) -> String {
    if message.contains("UnknownIssuer") {
        format!(
            "{message} (deadbolt trusts Amazon Trust Services' roots only unless \
             {}=system: behind a TLS-inspecting proxy, set it and install the proxy's root)",
            crate::tls::TLS_ROOTS_VAR
        )
    } else {
        message
    }
}

/// What a user reads when the SDK found no credentials anywhere: the SDK's own error is a
/// multi-line account of every provider it tried (IMDS requests, headers and bodies).
pub(crate) const NO_CREDENTIALS: &str =
    "no AWS credentials found (environment, profile, SSO, container or instance metadata)";

/// The request never left because the credential chain found nothing usable. The SDK reports
/// this as a `CredentialsError` somewhere in the error's source chain (whichever `SdkError`
/// variant wraps it), so it is looked up by type, not by its text: `CredentialsNotLoaded`
/// (nothing configured anywhere), or a failure of the last place the default chain looks, EC2
/// instance metadata, which on a laptop without credentials is what answers.
fn no_credentials(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut credentials = None;
    let mut instance_metadata = false;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            credentials = credentials.or(Some(c));
        }
        instance_metadata |= e
            .downcast_ref::<aws_config::imds::client::error::ImdsError>()
            .is_some();
        next = e.source();
    }
    match credentials {
        Some(CredentialsError::CredentialsNotLoaded(_)) => true,
        Some(_) => instance_metadata,
        None => false,
    }
}

/// The SDK's error chain on one line, at most 300 characters: it ends up in decision records,
/// log fields and one-line CLI messages, where a multi-line dump of requests is noise.
fn short<E: std::error::Error + 'static>(err: &SdkError<E, HttpResponse>) -> String {
    let full = DisplayErrorContext(err).to_string();
    let one_line = full.split_whitespace().collect::<Vec<_>>().join(" ");
    deadbolt_core::text::bounded(&one_line, 300)
}

/// The domain's kind for a service error: deadbolt's own codes first (IAM's `LimitExceeded`
/// is a quota, not a throttle), then the SDK's classification.
pub(crate) fn kind_of(code: &str, status: u16, modelled: Option<ErrorKind>) -> AwsErrorKind {
    match code {
        "NoSuchEntity" | "NoSuchEntityException" | "ResourceNotFoundException" => {
            return AwsErrorKind::NoSuchEntity
        }
        "UnmodifiableEntity" | "UnmodifiableEntityException" => {
            return AwsErrorKind::UnmodifiableEntity
        }
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            return AwsErrorKind::AccessDenied
        }
        "LimitExceeded" => return AwsErrorKind::LimitExceeded,
        "MalformedPolicyDocument" | "MalformedPolicyDocumentException" => {
            return AwsErrorKind::MalformedPolicy
        }
        _ => {}
    }
    if THROTTLING_ERRORS.contains(&code) || modelled == Some(ErrorKind::ThrottlingError) {
        return AwsErrorKind::Throttled;
    }
    if TRANSIENT_ERRORS.contains(&code)
        || matches!(
            modelled,
            Some(ErrorKind::TransientError | ErrorKind::ServerError)
        )
        || status >= 500
    {
        return AwsErrorKind::Unavailable;
    }
    if status == 403 {
        return AwsErrorKind::AccessDenied;
    }
    AwsErrorKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_map_to_domain_kinds() {
        let k = |code, status| kind_of(code, status, None);
        assert_eq!(k("NoSuchEntity", 404), AwsErrorKind::NoSuchEntity);
        assert_eq!(
            k("UnmodifiableEntity", 400),
            AwsErrorKind::UnmodifiableEntity
        );
        assert_eq!(k("AccessDenied", 403), AwsErrorKind::AccessDenied);
        assert_eq!(k("HTTP403", 403), AwsErrorKind::AccessDenied);
        assert_eq!(k("Throttling", 400), AwsErrorKind::Throttled);
        assert_eq!(k("LimitExceeded", 409), AwsErrorKind::LimitExceeded);
        assert_eq!(k("ServiceFailure", 500), AwsErrorKind::Unavailable);
        assert_eq!(k("RequestTimeout", 400), AwsErrorKind::Unavailable);
        assert_eq!(
            kind_of("Whatever", 400, Some(ErrorKind::ThrottlingError)),
            AwsErrorKind::Throttled
        );
    }

    #[test]
    fn an_unknown_4xx_is_permanent_not_retried() {
        for code in ["ValidationException", "ValidationError", "InvalidInput"] {
            let kind = kind_of(code, 400, None);
            assert_eq!(kind, AwsErrorKind::Other, "{code}");
            assert!(!AwsError::new(kind, code, "").retryable(), "{code}");
        }
        assert!(AwsError::new(kind_of("HTTP503", 503, None), "HTTP503", "").retryable());
    }

    #[derive(Debug)]
    struct NoCredentialsAnywhere;

    impl aws_credential_types::provider::ProvideCredentials for NoCredentialsAnywhere {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no providers in chain provided credentials"),
            ))
        }
    }

    /// What `deadbolt replay` meets on a machine without credentials: the chain finds nothing,
    /// and the error says so in a few words instead of the SDK's multi-line provider dump.
    #[tokio::test]
    async fn missing_credentials_are_named_in_a_few_words_and_are_permanent() {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            // A closed port: identity is resolved before anything is sent.
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(NoCredentialsAnywhere)
            .build();
        let err = aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .expect_err("no credentials, no call");
        let e = classify(&err);
        assert_eq!(e.kind, AwsErrorKind::NoCredentials);
        assert_eq!(e.to_string(), format!("NoCredentials: {NO_CREDENTIALS}"));
        assert!(!e.retryable());
    }

    #[tokio::test]
    async fn a_closed_port_with_credentials_is_unavailable_not_missing_credentials() {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        let err = aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .expect_err("nothing listens on port 9");
        assert_eq!(classify(&err).kind, AwsErrorKind::Unavailable);
    }
}
