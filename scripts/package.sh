#!/usr/bin/env bash
# The deployable artifact, proven: `sam validate --lint`, then `sam build` (BuildMethod
# rust-cargolambda: cargo-lambda cross-compiles each function's `bootstrap` for
# provided.al2023 on arm64 with Zig, no Docker), then each function's bootstrap size.
# Everything comes from the pinned tools in .venv (requirements-dev.txt) and rustup's
# aarch64-unknown-linux-gnu target. Nothing here talks to an AWS account: deploying is
# `sam deploy --guided` afterwards (infra/README.md).
#
# CARGO_TARGET_DIR is honoured (sam build finds the binaries through `cargo metadata`).
set -euo pipefail
cd "$(dirname "$0")/.."

# No account, no credentials: validate and build are local operations.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0

step() { printf '\n==> %s\n' "$*"; }

venv="${DEADBOLT_VENV:-.venv}"
step "virtualenv (pinned aws-sam-cli, cargo-lambda, ziglang)"
scripts/setup-venv.sh
# sam runs `cargo lambda`, which needs cargo-lambda on PATH and finds Zig through
# `python3 -m ziglang`: both come from the venv.
export PATH="$PWD/$venv/bin:$PATH"

step "rustup target aarch64-unknown-linux-gnu"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

step "sam validate --lint"
sam validate --lint --template template.yaml

step "sam build (cargo lambda build --release --arm64, one function after the other)"
start=$SECONDS
sam build --template template.yaml
elapsed=$((SECONDS - start))

step "bootstraps"
status=0
for fn in ResponderFunction EnricherFunction; do
  bootstrap=".aws-sam/build/$fn/bootstrap"
  if [ ! -f "$bootstrap" ]; then
    echo "missing: $bootstrap" >&2
    status=1
    continue
  fi
  bytes=$(stat -c %s "$bootstrap")
  arch=$(file -b "$bootstrap" 2>/dev/null | cut -d, -f2 | sed 's/^ *//' || true)
  awk -v fn="$fn" -v b="$bytes" -v arch="$arch" \
    'BEGIN { printf "%-18s %10d bytes  %6.2f MB  %s\n", fn, b, b / 1e6, arch }'
done
printf 'sam build wall time: %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
exit $status
