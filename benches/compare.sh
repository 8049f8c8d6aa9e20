#!/usr/bin/env bash
# Whole-process comparison of `maildedup scan` against its peers on a generated
# store (examples/gen_corpus.rs), timed with hyperfine, warm page cache.
#
#   benches/compare.sh [--messages N] [options]
#
# Peers: the b3sum floor (hash every file, two processes), mdedup (PyPI
# mail-deduplicate, dry run, in a venv) and `doveadm deduplicate -m` (Debian's
# dovecot-core, on a throw-away copy, as a non-root user). A peer that cannot
# be installed or run is reported as "not available: <reason>", never dropped.
# Meant to run as root on a fresh Debian machine (it installs what it misses);
# as another user it installs nothing and uses what it finds.
#
# Options:
#   --messages N        store size (messages, duplicates included)   [20000]
#   --seed S            generator seed                                [1]
#   --layout L          mixed|maildir|mbox                            [mixed]
#   --attachment-rate R share of messages with a 0.1-1.5 MB attachment [0.05]
#   --dup-rate R        share of stored messages that are extra copies [0.10]
#   --runs R            hyperfine runs for fast commands              [5]
#   --slow-runs R       hyperfine runs for mdedup                     [2]
#   --warmup W          hyperfine warmup runs                         [1]
#   --rss-sizes "A B"   store sizes for the max-RSS slope     ["N/4 N"]
#   --mbox-bytes B      size of the single-mbox throughput test, 0=skip [1G]
#   --scaling "A B C"   also time maildedup alone at these sizes      [off]
#                       (e.g. "10000 100000 1000000"; 1M mixed is ~20 GB, or
#                       ~6 GB with --attachment-rate 0; generating it ~80 s)
#   --no-mdedup         skip mdedup (~15 s per 20k messages, per run)
#   --workdir DIR       where stores go (default: a fresh mktemp -d, removed
#                       at exit unless --keep)
#   --keep              keep the work directory
#   --no-install        never install anything
#   --scan-args "ARGS"  arguments of maildedup before the paths  ["scan --json --no-cache"]
#   --store DIR         measure this store instead of a generated one (any Maildir,
#                       Maildir++ tree, mbox folder; read only). Its Maildir/ and mbox/
#                       subfolders, if any, are the parts; no big-mbox or RSS runs.
#   --cold              also time maildedup and the b3sum floor on a cold page cache
#                       (drops the page cache before every run: root only) and count
#                       the bytes each reads off the disk (/usr/bin/time %I)
#   --cold-runs R       hyperfine runs for the cold columns                [3]
# Environment: MAILDEDUP=path/to/binary skips `cargo build`.
# Results: a table on stdout, hyperfine JSON and the table in target/bench/.
# Notes: the binary timed is a copy taken at the start (a concurrent cargo build
# cannot swap it). The doveadm times include `runuser` (a few ms). Anything else
# running on the machine (a build, a test suite) skews the numbers: the load
# average before timing is printed with them.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESSAGES=20000
SEED=1
LAYOUT=mixed
ATT_RATE=0.05
DUP_RATE=0.10
RUNS=5
SLOW_RUNS=2
WARMUP=1
RSS_SIZES=""
MBOX_BYTES=1G
SCALING=""
RUN_MDEDUP=1
WORKDIR=""
KEEP=0
INSTALL=1
# --no-cache: this compares full scans (benches/cache.sh measures the cache).
SCAN_ARGS="scan --json --no-cache"
BENCH_USER=mdbench
GIVEN_STORE=""
COLD=0
COLD_RUNS=3

die() { echo "compare.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --messages) MESSAGES=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --layout) LAYOUT=$2; shift 2 ;;
        --attachment-rate) ATT_RATE=$2; shift 2 ;;
        --dup-rate) DUP_RATE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --slow-runs) SLOW_RUNS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --rss-sizes) RSS_SIZES=$2; shift 2 ;;
        --mbox-bytes) MBOX_BYTES=$2; shift 2 ;;
        --scaling) SCALING=$2; shift 2 ;;
        --no-mdedup) RUN_MDEDUP=0; shift ;;
        --workdir) WORKDIR=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-install) INSTALL=0; shift ;;
        --scan-args) SCAN_ARGS=$2; shift 2 ;;
        --store) GIVEN_STORE=$(cd "$2" && pwd) || die "--store $2: no such folder"; MBOX_BYTES=0; RSS_SIZES=none; shift 2 ;;
        --cold) COLD=1; shift ;;
        --cold-runs) COLD_RUNS=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ -n "$RSS_SIZES" ]] || RSS_SIZES="$((MESSAGES / 4)) $MESSAGES"
[[ "$RSS_SIZES" != none ]] || RSS_SIZES=""

log() { printf '\n== %s\n' "$*" >&2; }
IS_ROOT=0
if [[ $(id -u) -eq 0 ]]; then IS_ROOT=1; fi

# ------------------------------------------------------------------ installs
declare -A MISSING=()   # tool -> reason it is not available
APT_UPDATED=0
apt_install() {
    # apt_install PKG... ; returns non-zero if it could not
    if [[ $INSTALL -ne 1 || $IS_ROOT -ne 1 ]]; then return 1; fi
    if ! command -v apt-get >/dev/null; then return 1; fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        apt-get update -qq >/dev/null 2>&1 || true
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}
apt_has() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }

log "checking tools"
command -v python3 >/dev/null || apt_install python3 || die "python3 is required (to read hyperfine's JSON)"
command -v hyperfine >/dev/null || apt_install hyperfine || die "hyperfine is required and could not be installed"
[[ -x /usr/bin/time ]] || apt_install time || MISSING[rss]="/usr/bin/time (Debian package 'time') missing and not installable"
if ! command -v b3sum >/dev/null; then
    if [[ $APT_UPDATED -eq 0 && $INSTALL -eq 1 && $IS_ROOT -eq 1 ]]; then apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; fi
    if apt_has b3sum; then
        apt_install b3sum || true
    fi
    if ! command -v b3sum >/dev/null && [[ $INSTALL -eq 1 ]] && command -v cargo >/dev/null; then
        cargo install --quiet b3sum >/dev/null 2>&1 || true
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v b3sum >/dev/null || MISSING[b3sum]="b3sum neither packaged nor installable with cargo"
fi
if ! command -v doveadm >/dev/null; then
    apt_install dovecot-core || MISSING[doveadm]="dovecot-core could not be installed (not root, --no-install, or apt failed)"
    command -v doveadm >/dev/null || MISSING[doveadm]=${MISSING[doveadm]:-"doveadm not found after installing dovecot-core"}
fi
VENV=${MDEDUP_VENV:-$REPO/target/bench/venv}
MDEDUP=$VENV/bin/mdedup
if [[ $RUN_MDEDUP -eq 0 ]]; then
    MISSING[mdedup]="skipped (--no-mdedup)"
elif [[ ! -x $MDEDUP ]]; then
    if [[ $INSTALL -eq 1 ]]; then
        python3 -m venv "$VENV" >/dev/null 2>&1 || { apt_install python3-venv && python3 -m venv "$VENV" >/dev/null 2>&1; } || true
        if [[ -x $VENV/bin/pip ]]; then
            "$VENV/bin/pip" install -q 'mail-deduplicate==9.4.*' >/dev/null 2>&1 \
                || "$VENV/bin/pip" install -q mail-deduplicate >/dev/null 2>&1 || true
        fi
    fi
    [[ -x $MDEDUP ]] || MISSING[mdedup]="mail-deduplicate could not be installed into $VENV (no venv/pip, or PyPI refused)"
fi
if [[ -z ${MISSING[mdedup]:-} ]]; then
    MDEDUP_VERSION=$("$VENV/bin/pip" show mail-deduplicate 2>/dev/null | sed -n 's/^Version: //p')
fi

# doveadm deletes from the store it runs on and refuses nothing as root, so it
# runs as an unprivileged user on a copy.
RUNAS=()
if [[ -z ${MISSING[doveadm]:-} ]]; then
    if [[ $IS_ROOT -eq 1 ]]; then
        id "$BENCH_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$BENCH_USER" >/dev/null 2>&1 \
            || MISSING[doveadm]="could not create the non-root user $BENCH_USER"
        BENCH_HOME=$(getent passwd "$BENCH_USER" | cut -d: -f6)
        RUNAS=(runuser -u "$BENCH_USER" -- env "HOME=${BENCH_HOME:-/tmp}" "USER=$BENCH_USER")
    fi
fi

# ------------------------------------------------------------------ build
cd "$REPO"
log "building (cargo build --release)"
GEN=$REPO/target/release/examples/gen_corpus
# The example links the library, so a library that does not compile right now
# stops it too: fall back to an earlier build of the generator if there is one.
if ! cargo build --release --quiet --example gen_corpus >"$REPO/target/compare-gen-build.log" 2>&1; then
    [[ -x $GEN ]] || die "cannot build examples/gen_corpus (see target/compare-gen-build.log)"
    echo "compare.sh: warning: could not rebuild gen_corpus, using the existing $GEN" >&2
fi
MD_REASON=""
if [[ -n ${MAILDEDUP:-} ]]; then
    [[ -x $MAILDEDUP ]] || MD_REASON="MAILDEDUP=$MAILDEDUP is not executable"
elif cargo build --release --quiet >"$REPO/target/compare-build.log" 2>&1; then
    MAILDEDUP=$REPO/target/release/maildedup
else
    MD_REASON="cargo build --release failed (see target/compare-build.log)"
fi

# ------------------------------------------------------------------ stores
if [[ -z $WORKDIR ]]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/maildedup-bench.XXXXXX")
    [[ $KEEP -eq 1 ]] || trap 'rm -rf "$WORKDIR"' EXIT
fi
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"   # the doveadm user must reach its copies
RESULTS=$REPO/target/bench
mkdir -p "$RESULTS"
# Time a private copy: a cargo build running meanwhile replaces target/release/maildedup.
if [[ -z $MD_REASON ]]; then
    mkdir -p "$WORKDIR/bin"
    cp "$MAILDEDUP" "$WORKDIR/bin/maildedup"
    MAILDEDUP=$WORKDIR/bin/maildedup
    MD_VERSION="$("$MAILDEDUP" --version 2>/dev/null || echo maildedup), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO" status --porcelain 2>/dev/null | grep -q . && echo '+dirty' || true)"
fi
TAG=$SEED-a$ATT_RATE-d$DUP_RATE
STORE=$WORKDIR/store-$LAYOUT-$MESSAGES-$TAG

gen() { # gen DIR ARGS... (reuses DIR if it is complete)
    local dir=$1; shift
    if [[ -f $dir/EXPECTED.json ]]; then return 0; fi
    rm -rf "$dir"
    "$GEN" "$dir" --seed "$SEED" --attachment-rate "$ATT_RATE" --dup-rate "$DUP_RATE" "$@" >&2
}
if [[ -n $GIVEN_STORE ]]; then
    STORE=$GIVEN_STORE
    MESSAGES=given
    LAYOUT=store
else
    log "generating $STORE"
    gen "$STORE" --messages "$MESSAGES" --layout "$LAYOUT"
fi

json_get() { python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$@" 2>/dev/null || echo "?"; }

# Parts of the store, as (label, paths...).
PARTS=(whole)
MAILDIR_PART=""; MBOX_PART=""
if [[ -d $STORE/Maildir ]]; then MAILDIR_PART=$STORE/Maildir; PARTS+=(maildir); fi
if [[ -d $STORE/mbox ]]; then MBOX_PART=$STORE/mbox; PARTS+=(mbox); fi
if [[ -n $GIVEN_STORE && -z $MAILDIR_PART && -d $STORE/cur ]]; then MAILDIR_PART=$STORE; PARTS+=(maildir); fi
store_paths() { # the Maildir and mbox parts of a generated store; a given store whole
    local p=()
    if [[ -d $1/Maildir ]]; then p+=("$1/Maildir"); fi
    if [[ -d $1/mbox ]]; then p+=("$1/mbox"); fi
    if [[ ${#p[@]} -eq 0 || -n $GIVEN_STORE ]]; then p=("$1"); fi
    echo "${p[@]}"
}
part_paths() {
    case $1 in
        whole) store_paths "$STORE" ;;
        maildir) echo "$MAILDIR_PART" ;;
        mbox) echo "$MBOX_PART" ;;
    esac
}
mbox_files() { find "$MBOX_PART" -maxdepth 1 -type f | sort | tr '\n' ' '; }

# Warm the page cache once (hyperfine's warmup does the rest).
find "$STORE" -type f -print0 | xargs -0 -P2 -n 500 cat >/dev/null

# ------------------------------------------------------------------ sanity runs
# Every command runs once outside hyperfine, so that a failure is reported as
# "not available" instead of aborting the whole comparison.
declare -A NOTE=()
if [[ -z $MD_REASON ]]; then
    log "checking maildedup"
    # shellcheck disable=SC2086,SC2046
    if ! "$MAILDEDUP" $SCAN_ARGS $(part_paths whole) >"$WORKDIR/maildedup.out" 2>"$WORKDIR/maildedup.err"; then
        MD_REASON="'maildedup $SCAN_ARGS' failed: $(head -c 300 "$WORKDIR/maildedup.err" | tr '\n' ' ')"
    else
        NOTE[maildedup]=$(python3 - "$WORKDIR/maildedup.out" "$STORE/EXPECTED.json" <<'PY'
import json, sys
try:
    exp = json.load(open(sys.argv[2]))
    d = exp["duplicates_by_delivery"]
    want = f"expected {exp['duplicates']} ({d['same_time']} same-time, {d['different_time']} different-time)"
except OSError:
    want = "a store not generated here: no expected counts"
try:
    s = json.load(open(sys.argv[1]))["summary"]
    print(f"reported {s['extra_copies']} extra copies ({s['same_time']} same-time, {s['different_time']} different-time), "
          f"{s['conflicts']} conflicts, {s['skipped']} skipped; {want}")
except Exception as e:
    print(f"could not read its --json summary ({e!r}); {want}")
PY
)
        cp "$WORKDIR/maildedup.out" "$RESULTS/maildedup-$MESSAGES.json"
    fi
fi

if [[ -z ${MISSING[mdedup]:-} ]]; then
    log "checking mdedup $MDEDUP_VERSION"
    # Subfolders of a Maildir++ are opened by mdedup itself; mbox files one by one.
    MDEDUP_SRC="$MAILDIR_PART"
    if [[ -n $MBOX_PART ]]; then MDEDUP_SRC="$MDEDUP_SRC $(mbox_files)"; fi
    MDEDUP_CMD="$MDEDUP --dry-run --jobs 2 --strategy select-all-but-one --action delete-selected $MDEDUP_SRC"
    if $MDEDUP_CMD >"$WORKDIR/mdedup.out" 2>&1; then
        NOTE[mdedup]=$(grep -o 'would have Deleted [0-9/]* mails' "$WORKDIR/mdedup.out" | head -1 || true)
    else
        MISSING[mdedup]="mdedup failed: $(tail -3 "$WORKDIR/mdedup.out" | tr '\n' ' ')"
    fi
fi

if [[ -z ${MISSING[doveadm]:-} ]]; then
    log "checking doveadm deduplicate"
    DV=$WORKDIR/doveadm
    rm -rf "$DV"; mkdir -p "$DV"
    # Masters owned by the doveadm user; each run works on a fresh copy of them.
    if [[ -n $MAILDIR_PART ]]; then cp -a "$MAILDIR_PART" "$DV/maildir-master"; fi
    if [[ -n $MBOX_PART ]]; then cp -a "$MBOX_PART" "$DV/mbox-master"; : >"$DV/mbox-master-inbox"; fi
    if [[ $IS_ROOT -eq 1 ]]; then chown -R "$BENCH_USER": "$DV"; fi
    # Maildir: dovecot only unlinks and renames files, so hard links make the copy.
    DV_MAILDIR_PREP="${RUNAS[*]} sh -c 'rm -rf $DV/maildir && cp -al $DV/maildir-master $DV/maildir'"
    DV_MAILDIR_CMD="${RUNAS[*]} doveadm -o mail_location=maildir:$DV/maildir deduplicate -m ALL"
    # mbox: dovecot rewrites the files in place, so a real copy.
    DV_MBOX_PREP="${RUNAS[*]} sh -c 'rm -rf $DV/mbox $DV/inbox && cp -a $DV/mbox-master $DV/mbox && cp $DV/mbox-master-inbox $DV/inbox'"
    DV_MBOX_CMD="${RUNAS[*]} doveadm -o mail_location=mbox:$DV/mbox:INBOX=$DV/inbox deduplicate -m ALL"
    count_maildir() { find "$1" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l; }
    if [[ -n $MAILDIR_PART ]]; then
        if bash -c "$DV_MAILDIR_PREP" && bash -c "$DV_MAILDIR_CMD" >"$WORKDIR/dv.err" 2>&1; then
            before=$(count_maildir "$DV/maildir-master"); after=$(count_maildir "$DV/maildir")
            NOTE[doveadm-maildir]="removed $((before - after)) (it dedups by Message-ID within each folder; duplicates within one Maildir folder: $(json_get "$STORE/EXPECTED.json" duplicates_within_one_maildir_folder))"
        else
            MISSING[doveadm-maildir]="doveadm deduplicate on Maildir failed: $(head -c 300 "$WORKDIR/dv.err" | tr '\n' ' ')"
        fi
    fi
    if [[ -n $MBOX_PART ]]; then
        if bash -c "$DV_MBOX_PREP" && bash -c "$DV_MBOX_CMD" >"$WORKDIR/dv.err" 2>&1; then
            before=$(cat "$DV"/mbox-master/*.mbox | grep -c '^From ' || true); after=$(cat "$DV"/mbox/*.mbox | grep -c '^From ' || true)
            NOTE[doveadm-mbox]="removed $((before - after)) (duplicates within one mbox file: $(json_get "$STORE/EXPECTED.json" duplicates_within_one_mbox_file))"
        else
            MISSING[doveadm-mbox]="doveadm deduplicate on mbox failed: $(head -c 300 "$WORKDIR/dv.err" | tr '\n' ' ')"
        fi
    fi
fi

# ------------------------------------------------------------------ timing
TABLE=$WORKDIR/table.tsv      # tool  part  mean  stddev  runs
: >"$TABLE"
declare -A MEAN=()
# bench NAME PART RUNS PREPARE CMD
bench() {
    local name=$1 part=$2 runs=$3 prep=$4 cmd=$5
    local json=$RESULTS/hf-$MESSAGES-$name-$part.json
    local args=(--style basic --warmup "$WARMUP" --runs "$runs" --export-json "$json" -n "$name")
    if [[ -n $prep ]]; then args+=(--prepare "$prep"); fi
    echo "-- $name on $part: $cmd" >&2
    if hyperfine "${args[@]}" "$cmd" >&2; then
        local m s
        read -r m s < <(python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))["results"][0]; print(r["mean"], r["stddev"] or 0)' "$json")
        MEAN[$name/$part]=$m
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$part" "$m" "$s" "$runs" >>"$TABLE"
    else
        printf '%s\t%s\tfailed\t\t\n' "$name" "$part" >>"$TABLE"
    fi
}
na() { printf '%s\t%s\tn/a\t%s\t\n' "$1" "$2" "$3" >>"$TABLE"; }

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "timing (hyperfine, warmup $WARMUP, $RUNS runs; mdedup $SLOW_RUNS runs)"
for part in "${PARTS[@]}"; do
    paths=$(part_paths "$part")
    if [[ -z $MD_REASON ]]; then
        bench maildedup "$part" "$RUNS" "" "$MAILDEDUP $SCAN_ARGS $paths >/dev/null"
    else
        na maildedup "$part" "$MD_REASON"
    fi
    if [[ -z ${MISSING[b3sum]:-} ]]; then
        bench b3sum-floor "$part" "$RUNS" "" "find $paths -type f -print0 | xargs -0 -P2 -n 500 b3sum >/dev/null"
    else
        na b3sum-floor "$part" "${MISSING[b3sum]}"
    fi
    case $part in
        whole)
            if [[ -z ${MISSING[mdedup]:-} ]]; then
                bench mdedup "$part" "$SLOW_RUNS" "" "$MDEDUP_CMD >/dev/null 2>&1"
            else
                na mdedup "$part" "${MISSING[mdedup]}"
            fi ;;
        maildir|mbox)
            key=doveadm-$part
            if [[ -n ${MISSING[doveadm]:-} ]]; then
                na doveadm "$part" "${MISSING[doveadm]}"
            elif [[ -n ${MISSING[$key]:-} ]]; then
                na doveadm "$part" "${MISSING[$key]}"
            elif [[ $part == maildir ]]; then
                bench doveadm "$part" "$RUNS" "$DV_MAILDIR_PREP" "$DV_MAILDIR_CMD"
            else
                bench doveadm "$part" "$RUNS" "$DV_MBOX_PREP" "$DV_MBOX_CMD"
            fi ;;
    esac
done

# ------------------------------------------------------------------ cold page cache
if [[ $COLD -eq 1 ]]; then
    DROP="sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"
    if [[ $IS_ROOT -ne 1 ]] || ! sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches' 2>/dev/null; then
        na maildedup whole-cold "dropping the page cache needs root"
    else
        paths=$(part_paths whole)
        log "cold page cache ($COLD_RUNS runs each)"
        if [[ -z $MD_REASON ]]; then
            bench maildedup whole-cold "$COLD_RUNS" "$DROP" "$MAILDEDUP $SCAN_ARGS $paths >/dev/null"
        fi
        if [[ -z ${MISSING[b3sum]:-} ]]; then
            bench b3sum-floor whole-cold "$COLD_RUNS" "$DROP" "find $paths -type f -print0 | xargs -0 -P2 -n 500 b3sum >/dev/null"
        fi
        # Bytes read off the disk by one cold run of each (512-byte blocks, /usr/bin/time %I).
        disk_mb() {
            sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'
            /usr/bin/time -f '%I' -o "$WORKDIR/io" bash -c "$1" >/dev/null 2>&1 || true
            python3 -c "print(f'{int(open(\"$WORKDIR/io\").read().split()[-1]) * 512 / 1e6:.0f} MB')" 2>/dev/null || echo "?"
        }
        # shellcheck disable=SC2086
        size=$(du -sb $paths | awk '{s+=$1} END {printf "%.0f MB", s/1e6}')
        md_io=$(disk_mb "$MAILDEDUP $SCAN_ARGS $paths")
        b3_io=$(disk_mb "find $paths -type f -print0 | xargs -0 -P2 -n 500 b3sum")
        NOTE[disk-bytes]="read off the disk by one cold run: maildedup $md_io, b3sum floor $b3_io, of a store of $size"
    fi
fi

# ------------------------------------------------------------------ one big mbox
MBOX_GBPS=""
if [[ $MBOX_BYTES != 0 ]]; then
    BIG=$WORKDIR/store-mbox-$MBOX_BYTES-$TAG
    log "generating a single mbox of ~$MBOX_BYTES"
    gen "$BIG" --layout mbox --mbox-bytes "$MBOX_BYTES"
    BIG_BYTES=$(json_get "$BIG/EXPECTED.json" bytes)
    cat "$BIG/mbox/big.mbox" >/dev/null
    if [[ -z $MD_REASON ]]; then
        bench maildedup big-mbox "$RUNS" "" "$MAILDEDUP $SCAN_ARGS $BIG/mbox/big.mbox >/dev/null"
        if [[ -n ${MEAN[maildedup/big-mbox]:-} ]]; then
            MBOX_GBPS=$(python3 -c "print(f'{$BIG_BYTES / ${MEAN[maildedup/big-mbox]} / 1e9:.2f}')")
        fi
    else
        na maildedup big-mbox "$MD_REASON"
    fi
    if [[ -z ${MISSING[b3sum]:-} ]]; then
        bench b3sum-floor big-mbox "$RUNS" "" "b3sum $BIG/mbox/big.mbox >/dev/null"
    fi
fi

# ------------------------------------------------------------------ memory
# Max RSS counts the pages of mmapped files that were touched, so the slope is
# also given for the Maildir and mbox parts on their own.
RSS_LINES=()
RSS_SLOPE=""
max_rss_kib() { # best (lowest) of 3 runs
    local best="" kb
    for _ in 1 2 3; do
        # shellcheck disable=SC2086
        /usr/bin/time -v "$MAILDEDUP" $SCAN_ARGS "$@" >/dev/null 2>"$WORKDIR/time.err" || true
        kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORKDIR/time.err")
        if [[ -n $kb ]] && { [[ -z $best ]] || [[ $kb -lt $best ]]; }; then best=$kb; fi
    done
    echo "${best:-0}"
}
if [[ -z $MD_REASON && -z ${MISSING[rss]:-} && -n $RSS_SIZES ]]; then
    log "max RSS at sizes $RSS_SIZES"
    declare -A RSS=() RSSN=()
    sizes=()
    for n in $RSS_SIZES; do
        sizes+=("$n")
        dir=$WORKDIR/store-$LAYOUT-$n-$TAG
        gen "$dir" --messages "$n" --layout "$LAYOUT"
        # shellcheck disable=SC2046
        RSS[whole/$n]=$(max_rss_kib $(store_paths "$dir")); RSSN[whole/$n]=$n
        if [[ -d $dir/Maildir && -d $dir/mbox ]]; then
            RSS[maildir/$n]=$(max_rss_kib "$dir/Maildir"); RSSN[maildir/$n]=$(json_get "$dir/EXPECTED.json" maildir.messages)
            RSS[mbox/$n]=$(max_rss_kib "$dir/mbox"); RSSN[mbox/$n]=$(( n - RSSN[maildir/$n] ))
        fi
    done
    a=${sizes[0]}; b=${sizes[-1]}
    for part in whole maildir mbox; do
        [[ -n ${RSS[$part/$a]:-} ]] || continue
        line=$(printf '%-8s' "$part")
        for n in "${sizes[@]}"; do
            line+=$(printf '  %8s msgs: %8s KiB' "${RSSN[$part/$n]}" "${RSS[$part/$n]}")
        done
        if [[ $a != "$b" && ${RSSN[$part/$b]} -ne ${RSSN[$part/$a]} ]]; then
            slope=$(( (RSS[$part/$b] - RSS[$part/$a]) * 1024 / (RSSN[$part/$b] - RSSN[$part/$a]) ))
            line+="   slope $slope bytes/message"
            if [[ $part == whole ]]; then RSS_SLOPE=$slope; fi
        fi
        RSS_LINES+=("$line")
    done
fi

# ------------------------------------------------------------------ scaling
SCALE_LINES=()
if [[ -n $SCALING && -z $MD_REASON ]]; then
    log "scaling: $SCALING"
    first=""
    for n in $SCALING; do
        dir=$WORKDIR/store-$LAYOUT-$n-$TAG
        gen "$dir" --messages "$n" --layout "$LAYOUT"
        paths=$(store_paths "$dir")
        r=$RUNS
        if [[ $n -ge 500000 ]]; then r=2; fi
        bench maildedup "scale-$n" "$r" "" "$MAILDEDUP $SCAN_ARGS $paths >/dev/null"
        m=${MEAN[maildedup/scale-$n]:-}
        if [[ -n $m ]]; then
            per=$(python3 -c "print(f'{$m / $n * 1e6:.2f}')")
            if [[ -z $first ]]; then first=$per; fi
            SCALE_LINES+=("$(printf '%9s messages %8.3f s  %7s us/message  (x%s of the smallest size per message)' "$n" "$m" "$per" "$(python3 -c "print(f'{$per / $first:.2f}')")")")
        fi
    done
fi

# ------------------------------------------------------------------ report
REPORT=$RESULTS/compare-$LAYOUT-$MESSAGES.txt
{
    echo
    if [[ -n $GIVEN_STORE ]]; then
        echo "maildedup comparison: the store $STORE ($(du -sb "$STORE" | cut -f1) bytes, $(find "$STORE" -type f | wc -l) files)"
    else
        echo "maildedup comparison: $LAYOUT store, $MESSAGES messages, seed $SEED, attachment rate $ATT_RATE, dup rate $DUP_RATE, $(json_get "$STORE/EXPECTED.json" bytes) bytes, $(json_get "$STORE/EXPECTED.json" duplicates) duplicates"
    fi
    echo "maildedup: ${MD_VERSION:-not available}"
    echo "machine: $(nproc) cores, $(uname -sr), load average before timing: $LOAD_AT_START (other work on the machine skews the numbers); hyperfine $(hyperfine --version | cut -d' ' -f2); b3sum $(b3sum --version 2>/dev/null | cut -d' ' -f2 || echo -); mdedup ${MDEDUP_VERSION:--}; dovecot $(doveadm -V 2>/dev/null || dpkg-query -W -f '${Version}' dovecot-core 2>/dev/null || echo -)"
    echo
    python3 - "$TABLE" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
md = {r[1]: float(r[2]) for r in rows if r[0] == "maildedup" and r[2] not in ("n/a", "failed")}
print(f"{'tool':<12} {'part':<14} {'mean s':>9} {'± s':>7} {'runs':>4} {'ratio to maildedup':>20}")
print("-" * 70)
for r in rows:
    tool, part, mean = r[0], r[1], r[2]
    if mean == "n/a":
        print(f"{tool:<12} {part:<14} not available: {r[3]}")
        continue
    if mean == "failed":
        print(f"{tool:<12} {part:<14} failed under hyperfine (see its output above)")
        continue
    m = float(mean); sd = float(r[3] or 0)
    ratio = f"{m / md[part]:.2f}x" if part in md and tool != "maildedup" else ("1.00x" if tool == "maildedup" else "n/a")
    print(f"{tool:<12} {part:<14} {m:9.3f} {sd:7.3f} {r[4]:>4} {ratio:>20}")
EOF
    echo
    echo "ratio = tool's mean time / maildedup's mean time on the same part (>1: maildedup is faster)"
    for k in "${!NOTE[@]}"; do echo "note: $k: ${NOTE[$k]}"; done
    for k in "${!MISSING[@]}"; do echo "not available: $k: ${MISSING[$k]}"; done
    echo
    echo "targets:"
    python3 - "$TABLE" "${MBOX_GBPS:-}" "${RSS_SLOPE:-}" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mean = {(r[0], r[1]): float(r[2]) for r in rows if r[2] not in ("n/a", "failed")}
def check(label, have, ok, detail):
    print(f"  {label:<46} {'n/a' if have is None else ('PASS' if ok else 'FAIL'):<5} {detail}")
md, b3 = mean.get(("maildedup", "whole")), mean.get(("b3sum-floor", "whole"))
check("scan <= 0.6x b3sum floor (whole store, warm)", md and b3, md and b3 and md / b3 <= 0.6,
      f"{md / b3:.2f}x of b3sum" if md and b3 else "")
mdc, b3c = mean.get(("maildedup", "whole-cold")), mean.get(("b3sum-floor", "whole-cold"))
check("scan <= 0.7x b3sum floor (whole store, cold)", mdc and b3c, mdc and b3c and mdc / b3c <= 0.7,
      f"{mdc / b3c:.2f}x of b3sum" if mdc and b3c else "")
mdm, dv = mean.get(("maildedup", "maildir")), mean.get(("doveadm", "maildir"))
check(">= 3x faster than doveadm (Maildir part)", mdm and dv, mdm and dv and dv / mdm >= 3,
      f"{dv / mdm:.2f}x faster" if mdm and dv else "")
mde = mean.get(("mdedup", "whole"))
check(">= 50x faster than mdedup (whole store)", md and mde, md and mde and mde / md >= 50,
      f"{mde / md:.1f}x faster" if md and mde else "")
g = sys.argv[2]
check("one ~1 GB mbox at >= 1 GB/s", g or None, g and float(g) >= 1.0, f"{g} GB/s (10^9 bytes/s)" if g else "")
s = sys.argv[3]
check("peak RSS slope <= 250 bytes/message", s or None, s and int(s) <= 250, f"{s} bytes/message" if s else "")
EOF
    if [[ ${#RSS_LINES[@]} -gt 0 ]]; then
        echo
        echo "max RSS of maildedup ($SCAN_ARGS), best of 3, /usr/bin/time -v (includes touched pages of mmapped mbox files):"
        for l in "${RSS_LINES[@]}"; do echo "  $l"; done
    fi
    if [[ ${#SCALE_LINES[@]} -gt 0 ]]; then
        echo
        echo "scaling of maildedup ($LAYOUT layout, same generator options):"
        for l in "${SCALE_LINES[@]}"; do echo "  $l"; done
    fi
    echo
    echo "commands:"
    if [[ -z $MD_REASON ]]; then echo "  maildedup:   $MAILDEDUP $SCAN_ARGS <part paths>"; fi
    echo "  b3sum floor: find <part paths> -type f -print0 | xargs -0 -P2 -n 500 b3sum"
    if [[ -n ${MDEDUP_CMD:-} ]]; then echo "  mdedup:      $MDEDUP_CMD"; fi
    if [[ -n ${DV_MAILDIR_CMD:-} ]]; then echo "  doveadm:     $DV_MAILDIR_CMD   (prepare: $DV_MAILDIR_PREP)"; fi
    if [[ -n ${DV_MBOX_CMD:-} ]]; then echo "  doveadm:     $DV_MBOX_CMD   (prepare: $DV_MBOX_PREP)"; fi
    echo "  hyperfine JSON: $RESULTS/hf-$MESSAGES-*.json"
} | tee "$REPORT"
