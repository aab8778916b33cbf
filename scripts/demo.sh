#!/usr/bin/env bash
# The demo: moto on 127.0.0.1, an attacker, a GuardDuty finding through the real responder
# Lambda binary in enforce mode, and the attacker's next call denied.
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
scripts/setup-venv.sh
echo "==> building the responder Lambda, the deadbolt CLI and the demo (first build takes a few minutes)" >&2
cargo build --workspace --bins --locked --quiet
target/debug/deadbolt-demo
# The demo's investigation page, opened in a real headless Chromium (Debian's chromium and a
# pinned playwright-core, installed on first use): it must render with no console error, no
# blocked resource and no fetch, and its screenshot is saved beside it.
if scripts/browser-check.sh target/deadbolt-demo-report.html target/deadbolt-demo-report.png >&2; then
    echo "   Screenshot of that page: target/deadbolt-demo-report.png"
else
    echo "   (the browser check of target/deadbolt-demo-report.html failed: see above)" >&2
    exit 1
fi
