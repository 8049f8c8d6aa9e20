#!/usr/bin/env bash
# `--each` over a generated server: wall time and peak memory (`/usr/bin/time -v`,
# maximum resident set size) of `scan --each` and `scan --each --json`, for each fleet
# size, and, for comparison, one `scan` over a single mailbox. The server is written by
# `examples/gen_fleet.rs` (Dovecot's layout, DIR/example.com/userNNNN/Maildir, ~65
# messages a mailbox, every 10th sharing a burst: one fleet incident).
#
#   benches/fleet.sh [--sizes "500 5000"] [--jobs N] [--workdir DIR]
#
# Options:
#   --sizes "N..."  fleet sizes (mailboxes)                        ["500"]
#   --jobs N        mailboxes at a time (--jobs)                   [2]
#   --workdir DIR   where the servers go (default: mktemp -d; kept for reuse)
# Environment: MAILDEDUP=path/to/binary and GEN_FLEET=path/to/gen_fleet skip
# `cargo build --release`. Runs with --no-cache and a warm page cache.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES="500"
JOBS=2
WORKDIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: time)" >&2; exit 2; }
if [ -z "${MAILDEDUP:-}" ] || [ -z "${GEN_FLEET:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet --bin maildedup --example gen_fleet)
fi
MAILDEDUP=${MAILDEDUP:-$REPO/target/release/maildedup}
GEN_FLEET=${GEN_FLEET:-$REPO/target/release/examples/gen_fleet}
WORKDIR=${WORKDIR:-$(mktemp -d)}
mkdir -p "$WORKDIR"

# Runs "$@" under /usr/bin/time -v; prints "seconds peak_MiB exit".
measure() {
    local log
    log=$(mktemp)
    set +e
    /usr/bin/time -v "$@" >/dev/null 2>"$log"
    local code=$?
    set -e
    local wall rss
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
        awk -F: '{ if (NF == 3) printf "%.2f\n", $1*3600 + $2*60 + $3; else printf "%.2f\n", $1*60 + $2 }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    rm -f "$log"
    printf '%s %s %s\n' "$wall" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$code"
}

echo "maildedup $("$MAILDEDUP" --version | awk '{print $2}'), $(nproc) cores, --jobs $JOBS, commit $(git -C "$REPO" rev-parse --short HEAD)"
printf '%-10s %-28s %10s %10s %5s\n' mailboxes run seconds peak_MiB exit
for n in $SIZES; do
    dir=$WORKDIR/fleet$n
    [ -d "$dir" ] || "$GEN_FLEET" "$dir" "$n" 10 >/dev/null
    mapfile -t boxes < <(printf '%s\n' "$dir"/example.com/*/Maildir)
    messages=$(find "$dir" -path '*/cur/*' -type f | wc -l)
    read -r s m c < <(measure "$MAILDEDUP" scan --no-cache --no-progress "${boxes[0]}")
    printf '%-10s %-28s %10s %10s %5s\n' 1 "scan (one mailbox)" "$s" "$m" "$c"
    read -r s m c < <(measure "$MAILDEDUP" scan --each --jobs "$JOBS" --no-cache --no-progress "${boxes[@]}")
    printf '%-10s %-28s %10s %10s %5s\n' "$n" "scan --each" "$s" "$m" "$c"
    read -r s m c < <(measure "$MAILDEDUP" scan --each --json --jobs "$JOBS" --no-cache --no-progress "${boxes[@]}")
    printf '%-10s %-28s %10s %10s %5s\n' "$n" "scan --each --json" "$s" "$m" "$c"
    echo "  ($messages messages in $n mailboxes under $dir)"
done
