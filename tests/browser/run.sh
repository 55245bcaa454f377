#!/usr/bin/env bash
# The console's browser tests (Playwright for Python, Debian's Chromium)
# against an already built `payouts` binary: no cargo here.
#
# Usage: bash tests/browser/run.sh [PYTEST ARGS...]
#   PAYOUTS_BIN  the binary (default: ${CARGO_TARGET_DIR:-target}/debug/payouts)
#   CHROMIUM     the browser (default: /usr/bin/chromium)
# The venv is made once at <target dir>/browser-venv and reused; screenshots
# of every page go to <target dir>/browser-screenshots/NN-name.png.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export PAYOUTS_BIN="${PAYOUTS_BIN:-$target/debug/payouts}"

if [ ! -x "$CHROMIUM" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "browser tests: no Chromium at $CHROMIUM (apt-get install chromium)" >&2
        exit 1
    fi
    echo "SKIP browser tests: no Chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM)"
    exit 0
fi
if [ ! -x "$PAYOUTS_BIN" ]; then
    echo "browser tests: no payouts binary at $PAYOUTS_BIN: build it first (cargo build -p payouts)" >&2
    exit 1
fi

# Playwright's own browser downloads are never used: Debian's Chromium is.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
venv="$target/browser-venv"
if ! "$venv/bin/python" -c 'import playwright, pytest, importlib.metadata as m; assert m.version("playwright") == "1.65.2"' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "playwright==1.65.2" pytest
fi
"$venv/bin/python" -c 'import importlib.metadata as m; print("playwright", m.version("playwright"), "pytest", m.version("pytest"))'
"$CHROMIUM" --version 2>/dev/null || true

export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest tests/browser -x -v -p no:cacheprovider "$@"
