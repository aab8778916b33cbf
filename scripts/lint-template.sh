#!/usr/bin/env bash
# Lint the SAM template with the project's pinned cfn-lint.
# VENV defaults to .venv at the repository root (override: VENV=/path/to/venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The SAM template and the member role every member account gets (StackSets).
exec "${VENV:-.venv}/bin/cfn-lint" template.yaml infra/member-role.yaml infra/tamper-forwarder.yaml
