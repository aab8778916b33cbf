//! The tools end-to-end tests run from the project's virtualenv (moto server, cargo-lambda).
//!
//! A bare `cargo test` on a fresh clone has no `.venv`: a test that needs it says so in one line
//! on stderr and returns instead of panicking. `DEADBOLT_REQUIRE_TOOLS=1` (scripts/test.sh sets
//! it) turns a missing tool into a failure, so CI can never pass by skipping.

use std::io::Write;
use std::path::PathBuf;

use crate::moto::venv;

/// A program the tests start from `<venv>/bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// moto server: IAM, STS, SSM, S3, SNS, DynamoDB, CloudWatch Logs… on loopback.
    MotoServer,
    /// cargo-lambda: the Lambda runtime API the built functions are driven through.
    CargoLambda,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::MotoServer => "moto_server",
            Tool::CargoLambda => "cargo-lambda",
        }
    }

    pub fn path(self) -> PathBuf {
        venv().join("bin").join(self.name())
    }
}

/// Whether a missing tool must fail the test (`DEADBOLT_REQUIRE_TOOLS` set to anything but
/// empty or `0`).
pub fn tools_required() -> bool {
    std::env::var("DEADBOLT_REQUIRE_TOOLS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// True when every tool `test` needs is installed. Otherwise prints
/// `skipped: <test> needs <tool> from <venv>; scripts/test.sh creates it` to stderr and returns
/// false, or, under `DEADBOLT_REQUIRE_TOOLS=1`, panics with that message.
#[track_caller]
pub fn tools_or_skip(test: &str, tools: &[Tool]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|tool| !tool.path().exists())
        .map(|tool| tool.name())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test} needs {} from {}; scripts/test.sh creates it",
        missing.join(" and "),
        venv().display()
    );
    assert!(
        !tools_required(),
        "{message} (DEADBOLT_REQUIRE_TOOLS is set: a missing tool is a failure, not a skip)"
    );
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and a
    // skip nobody sees is what this is meant to prevent.
    let _ = writeln!(std::io::stderr(), "skipped: {message}");
    false
}

/// The path of the function this expands in (`cli::golden_outputs`), for messages.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        fn name_of<T>(_: T) -> &'static str {
            ::std::any::type_name::<T>()
        }
        let name = name_of(here);
        // `#[tokio::test]` bodies are async blocks: `cli::golden_outputs::{{closure}}::here`.
        name.strip_suffix("::here")
            .unwrap_or(name)
            .trim_end_matches("::{{closure}}")
    }};
}

/// First line of a test that starts tools from the virtualenv:
/// `require_tools!(MotoServer, CargoLambda);` returns from the test (after saying so on stderr)
/// when one is missing; see [`tools_or_skip`](crate::tools::tools_or_skip).
#[macro_export]
macro_rules! require_tools {
    ($($tool:ident),+ $(,)?) => {
        if !$crate::tools::tools_or_skip(
            $crate::test_name!(),
            &[$($crate::tools::Tool::$tool),+],
        ) {
            return;
        }
    };
}
