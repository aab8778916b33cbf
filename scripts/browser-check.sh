#!/usr/bin/env bash
# Open a self-contained HTML file in a real headless Chromium and fail on anything
# a reader's browser would complain about: console errors or warnings (CSP
# violations included), page errors, failed requests, any fetch other than the
# file itself or a data: URL, or a <script> element. Saves a full-page PNG.
#
#   scripts/browser-check.sh HTML_FILE PNG_OUT
#
# Installs what it needs on first use: Debian's chromium (apt, as root) when
# /usr/bin/chromium is missing, and the playwright-core pinned in
# tools/browser/package.json (+ package-lock.json) into tools/browser/node_modules.
# playwright-core downloads no browser; it drives /usr/bin/chromium.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 HTML_FILE PNG_OUT" >&2
    exit 2
fi
if [[ ! -f "$1" ]]; then
    echo "browser-check: no such file: $1" >&2
    exit 2
fi
html=$(realpath -e -- "$1")
png=$(realpath -m -- "$2")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if [[ ! -x /usr/bin/chromium ]]; then
    echo "browser-check: installing Debian's chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    # An empty or stale package list has no chromium candidate: update first then.
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]' \
        || ! as_root apt-get install -y -q --no-install-recommends chromium >&2; then
        as_root apt-get update -q >&2
        as_root apt-get install -y -q --no-install-recommends chromium >&2
    fi
fi

tools="$root/tools/browser"
want=$(node -p "require('$tools/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('$tools/node_modules/playwright-core/package.json').version } catch { '' }")
if [[ "$have" != "$want" ]]; then
    echo "browser-check: installing playwright-core@$want into tools/browser" >&2
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [[ -f "$tools/package-lock.json" ]]; then
        npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >&2
    else
        npm install --prefix "$tools" --no-audit --no-fund --loglevel=error >&2
    fi
fi

mkdir -p "$(dirname "$png")"
exec node "$root/scripts/browser-check.mjs" "$html" "$png"
