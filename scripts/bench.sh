#!/usr/bin/env bash
# Performance figures quoted in the README:
#  - whole process: release responder binary, cold start to first decision, warm invocation,
#    peak RSS, stripped size (through the Lambda runtime API, against moto on loopback);
#  - investigation: CloudTrail log files read and analysed, records/s and peak RSS;
#  - storm: the circuit breaker and held findings under 1,200 events against moto;
#  - in process: criterion benchmarks of parse + decide and the whole handler.
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
scripts/setup-venv.sh
cargo build --release --workspace --bins --locked
DEADBOLT_PROFILE=release target/release/deadbolt-bench-process
# Files evidence source + analysis, one core, at two sizes: memory must not grow with input.
target/release/deadbolt-bench-trail 100000
target/release/deadbolt-bench-trail 1000000
# A storm: 1,000 findings for 200 principals + 200 redeliveries, breaker at 50/h (exits non-zero
# if more than 50 are contained, a finding is lost, or a redelivery consumes the breaker).
target/release/deadbolt-bench-storm
cargo bench -p deadbolt-core --locked --bench decide -- --noplot "$@"
