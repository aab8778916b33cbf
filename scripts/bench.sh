#!/usr/bin/env bash
# Performance figures quoted in the README:
#  - whole process: release responder binary, cold start to first decision, warm invocation,
#    peak RSS, stripped size (through the Lambda runtime API, against moto on loopback);
#  - investigation: CloudTrail log files read and analysed, records/s and peak RSS;
#  - storm: the circuit breaker and held findings under 1,200 events against moto;
#  - in process: criterion benchmarks of parse + decide and the whole handler.
#
# scripts/bench.sh [--against REF|none] [criterion args]
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# The whole-process figures are compared, in the same run, with another build: the previous
# commit's by default, `--against REF` for any other ref, `--against none` for none. A
# regression beyond noise makes the script fail (this script is not part of CI).
against=HEAD~1
if [[ "${1:-}" == "--against" ]]; then
    against="${2:?--against needs a git ref, or none}"
    shift 2
fi

scripts/setup-venv.sh
# One target directory, wherever CARGO_TARGET_DIR puts it (a worktree may share the main one).
target=${CARGO_TARGET_DIR:-$PWD/target}
baseline=""
if [[ "$against" != "none" ]]; then
    # The ref's tree in a worktree, built into the same target directory (its crates have
    # another path, so only the uplifted binaries collide: they are copied out, then removed
    # so that this build's are linked again below).
    rev=$(git rev-parse --verify "$against^{commit}")
    tree=$target/bench-baseline/src
    baseline=$target/bench-baseline/bin-${rev:0:12}
    if [[ ! -x "$baseline/responder" || ! -x "$baseline/deadbolt" ]]; then
        rm -rf "$tree"; git worktree prune
        git worktree add --detach --force "$tree" "$rev" > /dev/null
        (cd "$tree" && CARGO_TARGET_DIR="$target" cargo build --release --locked -p responder -p deadbolt-cli)
        mkdir -p "$baseline"
        cp "$target/release/responder" "$target/release/deadbolt" "$baseline/"
        rm -f "$target/release/responder" "$target/release/deadbolt"
        git worktree remove --force "$tree"
    fi
    echo "==> baseline: $against ($rev), binaries in $baseline" >&2
fi
cargo build --release --workspace --bins --locked
DEADBOLT_PROFILE=release DEADBOLT_BENCH_BASELINE="$baseline" "$target"/release/deadbolt-bench-process
# Files evidence source + analysis, one core, at two sizes: memory must not grow with input.
"$target"/release/deadbolt-bench-trail 100000
"$target"/release/deadbolt-bench-trail 1000000
# A storm: 1,000 findings for 200 principals + 200 redeliveries, breaker at 50/h (exits non-zero
# if more than 50 are contained, a finding is lost, or a redelivery consumes the breaker).
"$target"/release/deadbolt-bench-storm
cargo bench -p deadbolt-core --locked --bench decide -- --noplot "$@"
