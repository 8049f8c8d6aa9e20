#!/usr/bin/env bash
# Quarantine and restore throughput: (a) extra copies out of one large mbox, (b) Maildir
# moves on one filesystem, (c) the restore of both. Stores come from
# examples/gen_corpus.rs; every run starts from a fresh copy of the generated store, and
# after each restore the store is compared byte for byte with that copy.
#
#   bash benches/quarantine.sh [--bin PATH] [--gen PATH] [--work DIR]
#       [--mbox-bytes 1G] [--maildir-messages 40000] [--dup-rate 0.45] [--skip-mbox]
#       [--skip-maildir] [--keep]
#
# --bin: the maildedup binary to time (default: target/release/maildedup, built here);
# --gen: the gen_corpus binary (default: target/release/examples/gen_corpus, built here);
# --work: where the stores go (default: target/bench-quarantine; it must be on the
#   filesystem you mean to measure: QDIR is put beside the store, so Maildir moves are
#   renames). The page cache is warm (the store was just copied); nothing needs root.
#
# Prints one line per timed run: what, copies, bytes, seconds, copies/s.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="" GEN="" WORK=target/bench-quarantine
MBOX_BYTES=1G MAILDIR_MESSAGES=40000 DUP_RATE=0.45
DO_MBOX=1 DO_MAILDIR=1 KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --gen) GEN=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --mbox-bytes) MBOX_BYTES=$2; shift 2 ;;
        --maildir-messages) MAILDIR_MESSAGES=$2; shift 2 ;;
        --dup-rate) DUP_RATE=$2; shift 2 ;;
        --skip-mbox) DO_MBOX=0; shift ;;
        --skip-maildir) DO_MAILDIR=0; shift ;;
        --keep) KEEP=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$BIN" ] || [ -z "$GEN" ]; then
    cargo build --release --bin maildedup --example gen_corpus
    BIN=${BIN:-target/release/maildedup}
    GEN=${GEN:-target/release/examples/gen_corpus}
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
export XDG_CACHE_HOME="$WORK/cache"

now() { date +%s.%N; }

# timed LABEL CMD...: runs and times CMD (its --json output goes to $WORK/out.json).
timed() {
    local label=$1; shift
    local t0 t1
    t0=$(now)
    "$@" > "$WORK/out.json"
    t1=$(now)
    python3 - "$label" "$t0" "$t1" "$WORK/out.json" <<'EOF'
import json, sys
label, t0, t1, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
o = json.load(open(path))["outcome"]
n = o.get("moved", o.get("restored", 0))
b = o.get("moved_bytes")
s = t1 - t0
left = len(o.get("left", o.get("problems", [])))
print(f"{label}: {n} copies" + (f", {b/1e6:.1f} MB" if b else "") +
      f", {s:.2f} s, {n/s:,.0f} copies/s (problems/left: {left})")
EOF
}

bench() { # NAME GEN-ARGS...
    local name=$1; shift
    local pristine="$WORK/$name.pristine" store="$WORK/$name" q="$WORK/$name.qdir"
    if [ ! -d "$pristine" ]; then
        "$GEN" "$pristine" --quiet "$@"
    fi
    rm -rf "$store" "$q"
    cp -a "$pristine" "$store"
    du -sh "$store" | sed 's/^/store: /'
    sync
    timed "$name: quarantine (scan included)" "$BIN" quarantine "$store" --to "$q" --json --no-cache
    sync
    timed "$name: restore" "$BIN" restore "$q" --json
    if diff -r -q "$pristine" "$store" >/dev/null; then
        echo "$name: restored store equals the generated one"
    else
        echo "$name: RESTORED STORE DIFFERS" >&2
        exit 1
    fi
    rm -rf "$store" "$q"
}

echo "binary: $BIN ($("$BIN" --version))"
if [ "$DO_MBOX" = 1 ]; then
    bench mbox --layout mbox --mbox-bytes "$MBOX_BYTES" --dup-rate "$DUP_RATE" --attachment-rate 0
fi
if [ "$DO_MAILDIR" = 1 ]; then
    bench maildir --layout maildir --messages "$MAILDIR_MESSAGES" --dup-rate "$DUP_RATE" --attachment-rate 0
fi
if [ "$KEEP" = 0 ]; then
    rm -rf "$WORK"/*.pristine "$WORK/cache"
fi
