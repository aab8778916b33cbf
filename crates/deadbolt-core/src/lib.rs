//! deadbolt's domain: what a GuardDuty finding says, who it names, what deadbolt decides to do
//! about it, and the policy documents it writes. Pure Rust: no AWS SDK types, no I/O. The AWS
//! side lives behind the traits in [`ports`], implemented by the `deadbolt-aws` crate.
//!
//! The folders are the layers, and a module uses its own layer and the ones below, never one
//! above (`tests/layers.rs` reads every file and fails on an import that points up):
//!
//! | folder | layer | what is in it |
//! | --- | --- | --- |
//! | `vocabulary/` | 0 | what a finding, a principal, a record and the settings are |
//! | `rules/` | 1 | what to decide, which strategy, which document, what to tell people |
//! | `ports/` | 2 | the traits the engine talks to AWS through, and their decorators |
//! | `engine/` | 3 | the responder and what it runs: containment, follow-up, ledger, breaker |
//!
//! Every module is also re-exported at the crate root (`deadbolt_core::finding`), so a path
//! names what a thing is, not where it sits.

pub mod vocabulary {
    pub mod approval;
    pub mod clock;
    pub mod config;
    pub mod created;
    pub mod error;
    pub mod finding;
    pub mod glob;
    pub mod principal;
    pub mod record;
    pub mod report_object;
    pub mod sequence;
    pub mod settings;
    pub mod text;
}

pub mod rules {
    pub mod decision;
    pub mod metrics;
    pub mod notice;
    pub mod policy;
    pub mod securityhub;
    pub mod strategy;
    pub mod tamper;
}

/// The port traits (`ports/mod.rs`) and, beside them, the settings store's refresh and the
/// decorators of the IAM port.
pub mod ports;

pub mod engine {
    pub mod account;
    pub mod breaker;
    pub mod containment;
    pub mod followup;
    pub mod ledger;
    #[cfg(any(test, feature = "test-util"))]
    pub mod memory;
    pub mod responder;
    pub mod simulate;
}

#[cfg(any(test, feature = "test-util"))]
pub use engine::memory;
pub use engine::{account, breaker, containment, followup, ledger, responder, simulate};
pub use ports::{decorate, prefetch, runtime, timing};
pub use rules::{decision, metrics, notice, policy, securityhub, strategy, tamper};
pub use vocabulary::{
    approval, clock, config, created, error, finding, glob, principal, record, report_object,
    sequence, settings, text,
};

pub use config::{ConfigError, Mode};
pub use decision::{decide, AccountContext, ContainmentPlan, Decision};
pub use finding::{parse_event, Finding, InputError};
pub use principal::{ContainmentTarget, Principal, PrincipalKind, TargetKind};
pub use record::Timings;
pub use record::{ActionRecord, ActionStatus, DecisionRecord, Outcome, Reason};
pub use responder::{Ports, Responder};
pub use settings::{Settings, SettingsError};
