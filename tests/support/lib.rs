//! Test support: a real moto server on loopback, principals in it, findings for them, a
//! GuardDuty stand-in serving findings, and a request counter. Used by the end-to-end tests
//! and by the demo.

pub mod guardduty;
pub mod moto;
pub mod recorder;
pub mod runtime_api;
pub mod tools;

pub use guardduty::{finding_from_event, Fault, GuardDutyStandIn};
pub use moto::{AttackerCredentials, Moto};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

pub fn fixture_path(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/guardduty").join(name)
}

/// A real fixture, re-addressed to a principal that exists in moto. Only the principal's
/// fields change; everything else is the recorded GuardDuty shape.
pub fn finding_for(fixture: &str, principal: &Principal) -> String {
    let path = fixture_path(fixture);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut v: serde_json::Value = serde_json::from_str(&raw).expect("fixture is JSON");
    let details = &mut v["detail"]["resource"]["accessKeyDetails"];
    details["userName"] = principal.name.clone().into();
    details["userType"] = principal.user_type.into();
    details["accessKeyId"] = principal.access_key_id.clone().into();
    details["principalId"] = principal.principal_id.clone().into();
    v.to_string()
}

/// The `accessKeyDetails` a finding about this principal would carry.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub user_type: &'static str,
    pub access_key_id: String,
    pub principal_id: String,
}

/// Counts the AWS requests a client sends, by operation (`iam:PutUserPolicy`), retries
/// included: the proof of how many calls the critical path makes.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    seen: Arc<Mutex<Vec<String>>>,
}

impl RequestCounter {
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // IAM and STS use the query protocol: `Action=Operation&...` in a form body.
        let req = context.request();
        let body = req.body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(body);
        let action = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("?");
        let host = req.uri().to_string();
        let service = if body.contains("Version=2011-06-15") {
            "sts"
        } else {
            "iam"
        };
        let _ = host;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(format!("{service}:{action}"));
        }
        Ok(())
    }
}
