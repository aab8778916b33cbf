#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, the SAM template, unit tests,
# adapter wire tests, and end-to-end tests against moto server and the Lambda runtime API.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests talk only to servers this script starts on 127.0.0.1: never to a real AWS account.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

step() { printf '\n==> %s\n' "$*"; }

step "virtualenv (pinned moto[server], cargo-lambda, cfn-lint, aws-sam-cli)"
scripts/setup-venv.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo build (Lambdas, CLI, demo, tests: one build, one target directory)"
cargo build --workspace --all-targets --locked

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cfn-lint template.yaml"
VENV=.venv scripts/lint-template.sh

step "sam validate --lint (the SAM transform and cfn-lint, offline: no credentials needed)"
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --template template.yaml

step "cargo test"
# The venv exists by now: a test that cannot find moto or cargo-lambda must fail here, not
# skip the way it does on a bare `cargo test` without the venv.
export DEADBOLT_REQUIRE_TOOLS=1
# Test threads get 8 MiB of stack (Rust's default is 2 MiB): the engine's futures are several
# times larger in debug builds than in the release build the Lambdas run (whose main thread
# has 8 MiB), and an end-to-end test polls the whole responder on its test thread.
export RUST_MIN_STACK=8388608
cargo test --workspace --locked

step "the HTML investigation report in a real browser (headless Chromium; about 20 s with installs, 1-2 s warm)"
target/debug/deadbolt report tests/fixtures/scenario/finding.json --cloudtrail tests/fixtures/cloudtrail \
    --html target/report-scenario.html > /dev/null
scripts/browser-check.sh target/report-scenario.html target/report-scenario.png
