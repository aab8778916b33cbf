#!/usr/bin/env bash
# Create or refresh the project-local virtualenv with the pinned tools (moto server,
# cargo-lambda, cfn-lint). Idempotent: reinstalls only when requirements-dev.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DEADBOLT_VENV:-.venv}"
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> creating $venv with pinned moto, cargo-lambda, cfn-lint" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
echo "$want" > "$stamp"
