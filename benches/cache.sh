#!/usr/bin/env bash
# The fingerprint cache on a cold page cache: what a nightly run over an unchanged
# store costs without the cache, the first run with it (which builds it), and the
# next run (which reads it). The page cache is dropped before every timed run
# (`sync; echo 3 > /proc/sys/vm/drop_caches`: needs root).
#
#   benches/cache.sh [--store DIR] [--messages N] [--runs R]
#
# Options:
#   --store DIR    the store to scan (default: /tmp/perf/s100000 if it holds a
#                  100,000-message store from examples/gen_corpus.rs, else one is
#                  generated with --messages in the work directory)
#   --messages N   messages of a generated store                 [100000]
#   --runs R       hyperfine runs per case                        [3]
#   --workdir DIR  where the binary copy, cache and results go (default: mktemp -d)
#   --nightly P    also time a night's work on a copy of the store that gained P% new
#                  mail (benches/nightly_mail.py), starting from the day before's cache
# Environment: MAILDEDUP=path/to/binary skips `cargo build --release`.
# Results: a table on stdout; hyperfine JSON in the work directory.
# Before timing, it checks that the report with the cache equals the report without.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STORE=""
MESSAGES=100000
RUNS=3
WORKDIR=""
NIGHTLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --store) STORE=$2; shift 2 ;;
        --messages) MESSAGES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --nightly) NIGHTLY=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

if ! (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    echo "cannot drop the page cache (needs root and a writable /proc/sys/vm/drop_caches)" >&2
    exit 2
fi
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }

WORKDIR=${WORKDIR:-$(mktemp -d)}
mkdir -p "$WORKDIR"
if [ -z "${MAILDEDUP:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet)
    MAILDEDUP=$REPO/target/release/maildedup
fi
# A copy: a concurrent cargo build cannot swap the binary under the benchmark.
BIN=$WORKDIR/maildedup
cp "$MAILDEDUP" "$BIN"

if [ -z "$STORE" ]; then
    if [ -f /tmp/perf/s100000/EXPECTED.json ] && [ "$MESSAGES" = 100000 ]; then
        STORE=/tmp/perf/s100000
    else
        STORE=$WORKDIR/store
        [ -d "$STORE" ] || (cd "$REPO" && cargo run --release --quiet --example gen_corpus -- \
            "$STORE" --messages "$MESSAGES")
    fi
fi
CACHE=$WORKDIR/cache
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'

echo "store: $STORE ($(du -sh "$STORE" | cut -f1)), binary: $BIN, runs: $RUNS"
"$BIN" scan --json --no-cache "$STORE" > "$WORKDIR/plain.json"
rm -rf "$CACHE"
"$BIN" scan --json --cache "$CACHE" "$STORE" > "$WORKDIR/first.json"
"$BIN" scan --json --cache "$CACHE" "$STORE" > "$WORKDIR/warm.json"
cmp "$WORKDIR/plain.json" "$WORKDIR/first.json"
cmp "$WORKDIR/plain.json" "$WORKDIR/warm.json"
echo "reports identical with and without the cache; cache file: $(du -h "$CACHE/fingerprints.redb" | cut -f1)"
echo "load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"

hyperfine --runs "$RUNS" --output=null --export-json "$WORKDIR/cache.json" \
    -n "no cache" --prepare "$DROP" \
    "$BIN scan --json --no-cache $STORE" \
    -n "first run with the cache (builds it)" --prepare "rm -rf $CACHE; $DROP" \
    "$BIN scan --json --cache $CACHE $STORE" \
    -n "second run with the cache (unchanged store)" --prepare "$DROP" \
    "$BIN scan --json --cache $CACHE $STORE" \
    -n "second run, --paranoid" --prepare "$DROP" \
    "$BIN scan --json --cache $CACHE --paranoid $STORE"

python3 - "$WORKDIR/cache.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["mean"]
print()
print("| run (page cache dropped before each) | mean s | ± s | of the no-cache run |")
print("|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['mean']:.3f} | {x['stddev'] or 0:.3f} | {100 * x['mean'] / base:.1f}% |")
EOF

[ -n "$NIGHTLY" ] || exit 0

# A night's work: yesterday's cache, today's store = yesterday's + P% new mail.
DAY=$WORKDIR/nightly-store
rm -rf "$DAY" "$WORKDIR/cache-yesterday"
cp -a "$STORE" "$DAY"
"$BIN" scan --json --cache "$WORKDIR/cache-yesterday" "$DAY" > /dev/null
python3 "$REPO/benches/nightly_mail.py" "$DAY" "$NIGHTLY"
rm -rf "$CACHE"; cp -a "$WORKDIR/cache-yesterday" "$CACHE"
"$BIN" scan --json --cache "$CACHE" "$DAY" > "$WORKDIR/nightly-cached.json"
"$BIN" scan --json --no-cache "$DAY" > "$WORKDIR/nightly-plain.json"
cmp "$WORKDIR/nightly-plain.json" "$WORKDIR/nightly-cached.json"
echo "night: reports identical with and without the cache"
hyperfine --runs "$RUNS" --output=null --export-json "$WORKDIR/nightly.json" \
    -n "night: no cache" --prepare "$DROP" \
    "$BIN scan --json --no-cache $DAY" \
    -n "night: yesterday's cache" \
    --prepare "rm -rf $CACHE; cp -a $WORKDIR/cache-yesterday $CACHE; $DROP" \
    "$BIN scan --json --cache $CACHE $DAY"
python3 - "$WORKDIR/nightly.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["mean"]
print()
print("| night's run (page cache dropped before each) | mean s | ± s | of the no-cache run |")
print("|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['mean']:.3f} | {x['stddev'] or 0:.3f} | {100 * x['mean'] / base:.1f}% |")
PY
