//! How an AWS call failed, in the terms deadbolt decides on: the error every port returns.

use crate::record::Reason;

/// The failures of an AWS call that deadbolt distinguishes, each with its own decision-record
/// reason. Every adapter (IAM, STS, SSM, DynamoDB, Identity Center, GuardDuty) maps its SDK
/// errors onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    NoSuchEntity,
    UnmodifiableEntity,
    AccessDenied,
    /// The service throttled the call (after the SDK's own retries): transient.
    Throttled,
    LimitExceeded,
    MalformedPolicy,
    /// Transient: a timeout, a dispatch (connection) failure, a 5xx, or a response that could
    /// not be read. Delivering the event again may succeed.
    Unavailable,
    /// No credentials could be found at all (no environment variables, profile, SSO session,
    /// container or instance credentials): permanent until someone configures them.
    NoCredentials,
    /// Anything else: a 4xx deadbolt has no specific handling for, or a permanent condition
    /// (`ValidationException`, "no Identity Center instance"). Retrying would fail the same way.
    Other,
}

/// An AWS call that failed, with the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub kind: AwsErrorKind,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(kind: AwsErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn reason(&self) -> Reason {
        match self.kind {
            AwsErrorKind::NoSuchEntity => Reason::NoSuchEntity,
            AwsErrorKind::UnmodifiableEntity => Reason::UnmodifiableEntity,
            AwsErrorKind::AccessDenied => Reason::AccessDenied,
            AwsErrorKind::Throttled => Reason::Throttled,
            AwsErrorKind::LimitExceeded => Reason::LimitExceeded,
            AwsErrorKind::MalformedPolicy
            | AwsErrorKind::Unavailable
            | AwsErrorKind::NoCredentials
            | AwsErrorKind::Other => Reason::AwsError,
        }
    }

    /// Worth delivering the event again: only transient failures. The SDK already retried
    /// them with backoff; Lambda's asynchronous retries (minutes apart) may outlast a sustained
    /// throttle or outage. A permanent error would only travel to the dead-letter queue slower.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Throttled | AwsErrorKind::Unavailable
        )
    }
}
