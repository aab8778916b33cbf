//! deadbolt's domain: what a GuardDuty finding says, who it names, what deadbolt decides to do
//! about it, and the policy documents it writes. Pure Rust: no AWS SDK types, no I/O. The AWS
//! side lives behind the traits in [`ports`], implemented by the `deadbolt-aws` crate.

pub mod approval;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod containment;
pub mod decision;
pub mod decorate;
pub mod error;
pub mod finding;
pub mod followup;
pub mod glob;
pub mod ledger;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod metrics;
pub mod notice;
pub mod policy;
pub mod ports;
pub mod prefetch;
pub mod principal;
pub mod record;
pub mod report_object;
pub mod responder;
pub mod runtime;
pub mod securityhub;
pub mod sequence;
pub mod settings;
pub mod simulate;
pub mod strategy;
pub mod tamper;
pub mod text;
pub mod timing;

pub use config::{ConfigError, Mode};
pub use decision::{decide, AccountContext, ContainmentPlan, Decision};
pub use finding::{parse_event, Finding, InputError};
pub use principal::{ContainmentTarget, Principal, PrincipalKind, TargetKind};
pub use record::Timings;
pub use record::{ActionRecord, ActionStatus, DecisionRecord, Outcome, Reason};
pub use responder::{Ports, Responder};
pub use settings::{Settings, SettingsError};
