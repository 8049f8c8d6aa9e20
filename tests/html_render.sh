#!/usr/bin/env bash
# Renders `scan --html` reports in headless Chromium (Debian's `chromium`) and fails on any
# console message, JavaScript error or missing screenshot. Used by .ci/run.
#
#   tests/html_render.sh [OUTDIR] [STORE...]     (default: OUTDIR=target/html-render, STORE=demo)
#
# Writes OUTDIR/<n>.html and OUTDIR/<n>.png for each store.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/html-render}
shift || true
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=(demo)
command -v chromium >/dev/null || { echo "html_render: chromium is not installed" >&2; exit 1; }
bin=target/debug/maildedup
[ -x "$bin" ] || cargo build --quiet
mkdir -p "$out"

# Renders $1 (a file) into $2 (a PNG), logging to $3.
render() {
    local profile
    profile=$(mktemp -d)
    # --enable-logging=stderr --v=0 prints every console message as a "CONSOLE" line;
    # a page error (an uncaught exception, a CSP violation) shows up there too.
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 \
        --screenshot="$2" --window-size=1280,2400 "file://$(realpath "$1")" >"$3" 2>&1
    local rc=$?
    rm -rf "$profile"
    return $rc
}

# First prove that this chromium reports console errors the way we look for them.
probe="$out/probe.html"
echo '<!DOCTYPE html><p>probe</p><script>console.error("probe-error")</script>' >"$probe"
render "$probe" "$out/probe.png" "$out/probe.log" || true
if ! grep -q 'CONSOLE.*probe-error' "$out/probe.log"; then
    echo "html_render: cannot see console messages from chromium (see $out/probe.log)" >&2
    exit 1
fi

fail=0
n=0
for store in "${stores[@]}"; do
    n=$((n + 1))
    html="$out/$n.html"
    png="$out/$n.png"
    rm -f "$png"
    "$bin" scan --no-progress -q --html "$html" "$store"
    log="$out/$n.chromium.log"
    render "$html" "$png" "$log" || {
        echo "html_render: chromium failed on $store (see $log)" >&2
        fail=1
    }
    if grep -E "CONSOLE|Uncaught|console\.|Refused to|ERR_FILE_NOT_FOUND|net::ERR" "$log"; then
        echo "html_render: console errors or blocked loads for $store (above; $log)" >&2
        fail=1
    fi
    if [ ! -s "$png" ]; then
        echo "html_render: no screenshot for $store" >&2
        fail=1
    else
        echo "html_render: $store -> $html, $png ($(stat -c %s "$png") bytes)"
    fi
done
exit $fail
