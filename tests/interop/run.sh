#!/usr/bin/env bash
# Interop with real mail software: after `maildedup quarantine` and after `maildedup
# restore`, Python's `mailbox`, Dovecot (doveadm) and mutt must open every store and the
# quarantine folder (QDIR) and count exactly the messages maildedup says are there.
#
#   bash tests/interop/run.sh [--keep] [--break WHAT] [MAILDEDUP_BINARY]
#
# Without a binary (or $MAILDEDUP) it runs `cargo build` and uses target/debug/maildedup.
# Needs python3, doveadm (Debian: dovecot-core), mutt, script (util-linux) and, as root,
# runuser: a missing tool is a failure, never a skip. It installs nothing (.ci/run
# does); as root it creates the unprivileged user $INTEROP_USER (default mdinterop) if
# missing, because doveadm must not run as root.
#
# The test tree (in a fresh temp dir, removed at exit unless --keep): demo/ (every
# duplicate class: same-time, different-time, mixed, conflict, no Message-ID, flag
# merges into Maildir and mbox copies, >From quoting, Google Takeout) plus the Maildir++
# trees of tests/fixtures (CRLF, folding, list copies, DOS/Mac line ends, folder names
# with spaces) and the mbox fixtures that all four readers split alike (see
# MBOX_FIXTURES). Every Maildir gets cur/, new/ and tmp/ (git keeps no empty folder;
# Python's mailbox needs them, and every real Maildir has them).
#
# Expected counts come from maildedup's own scan before quarantine: each store holds
# what `maildedup scan` counts in it; after quarantine, that minus the extra copies the
# report marks in it, and QDIR holds `extra_copies`; after restore, the first counts
# again and QDIR none. The phase "before" checks that the readers agree with maildedup
# on the untouched tree, so a later mismatch is maildedup's doing. After restore the tree
# must also equal the untouched tree byte for byte (diff -r).
#
# Dovecot writes indexes, uidlists and X-UID headers, and moves new/ to cur/: it works on
# a copy of the tree and QDIR (owned by the unprivileged user), with its index files in a
# separate folder. Python and mutt (-R, read-only) read the real files.
#
# --break WHAT   show that the checks can fail (the run must then exit 1):
#                expect: expect one message more in QDIR than maildedup moved;
#                mbox:   after quarantine, overwrite the first From_ line of a rewritten
#                        mbox with "Xrom " (readers then disagree and restore refuses it).
#
# Exit status: 0 every check passed; 1 a check failed or a tool is missing; 2 usage.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELPER=$REPO/tests/interop/interop.py
KEEP=0
BREAK=""
BIN=${MAILDEDUP:-}
INTEROP_USER=${INTEROP_USER:-mdinterop}
# Fixture mbox files all of Python, Dovecot, mutt and maildedup split alike. Left out,
# as counted untouched (maildedup / Python / Dovecot / mutt):
#   cases/mbox/export.mbox          5 / 5 / 3 / 3: Dovecot and mutt take "From -" and a
#                                   From_ line without a date for body text;
#   cases/mbox/content-length.mbox  1 / 2 / 1 / 1: Python ignores Content-Length;
#   cases/mbox/export-link.mbox     a symlink: not a store;
#   real/mbox/mimekit-*.mbox        3-4 / 3-4 / "isn't a valid mbox file" / 0 or "is not a
#                                   mailbox": a bare "From -" first line, a BOM;
#   real/mbox/sisimai-size-*.mbox   empty or not mail: no store to maildedup.
MBOX_FIXTURES=(cases/mbox/takeout.mbox real/mbox/sisimai-mbox-0.mbox
    real/mbox/sisimai-mbox-1.mbox real/mbox/spamassassin-nice.mbox)
MAILDIR_FIXTURES=(cases/Maildir real/Maildir real/maildirpp)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --keep) KEEP=1; shift ;;
        --break) BREAK=${2:-}; shift 2 || usage
            [[ $BREAK == expect || $BREAK == mbox ]] || usage ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) BIN=$1; shift ;;
    esac
done

FAILED=0
CHECKS=0
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
die() { echo "FAIL: $*"; echo "interop: stopped: $*" >&2; exit 1; }

# ------------------------------------------------------------------ tools
IS_ROOT=0; [[ $(id -u) -eq 0 ]] && IS_ROOT=1
missing=()
for t in python3 doveadm mutt script timeout diff; do
    command -v "$t" >/dev/null || missing+=("$t")
done
[[ $IS_ROOT -eq 0 ]] || command -v runuser >/dev/null || missing+=(runuser)
[[ ${#missing[@]} -eq 0 ]] || die "missing tool(s): ${missing[*]} (Debian: apt-get install -y python3 dovecot-core mutt bsdutils util-linux)"
python3 -c 'import mailbox' || die "python3 has no mailbox module"

RUNAS=()
if [[ $IS_ROOT -eq 1 ]]; then
    # doveadm as root accesses anything; a mail server never does.
    if ! id "$INTEROP_USER" >/dev/null 2>&1; then
        useradd -m -s /bin/sh "$INTEROP_USER" || die "cannot create the user $INTEROP_USER"
    fi
    DV_HOME=$(getent passwd "$INTEROP_USER" | cut -d: -f6)
    RUNAS=(runuser -u "$INTEROP_USER" -- env "HOME=${DV_HOME:-/tmp}" "USER=$INTEROP_USER")
fi

# ------------------------------------------------------------------ binary
if [[ -z $BIN ]]; then
    (cd "$REPO" && cargo build --quiet) || die "cargo build failed"
    BIN=$REPO/target/debug/maildedup
fi
[[ -x $BIN ]] || die "$BIN is not an executable"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/maildedup-interop.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
if [[ $KEEP -eq 1 ]]; then echo "interop: work directory kept: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
chmod 755 "$WORK"   # the doveadm user must reach its copies

echo "interop: $("$BIN" --version), $(python3 --version), Dovecot $(PATH=$PATH:/usr/sbin dovecot --version 2>/dev/null || echo "?"), $(mutt -v | head -1)"

# ------------------------------------------------------------------ the test tree
TREE=$WORK/tree
QDIR=$WORK/quarantine
mkdir -p "$TREE/fixtures"
cp -a "$REPO/demo" "$TREE/demo"
for f in "${MAILDIR_FIXTURES[@]}" "${MBOX_FIXTURES[@]}"; do
    mkdir -p "$TREE/fixtures/$(dirname "$f")"
    cp -a "$REPO/tests/fixtures/$f" "$TREE/fixtures/$f"
done
# No symlinks: maildedup never follows one (a symlinked message is a `skipped` entry,
# tests/scan_cases.rs checks that), while the other readers count it.
find "$TREE" -type l -print -delete | sed 's/^/interop: left out the symlink /'
# Every Maildir (a folder with cur/ or new/) gets all three subfolders.
while IFS= read -r -d '' d; do
    mkdir -p "$(dirname "$d")"/{cur,new,tmp}
done < <(find "$TREE" \( -name cur -o -name new \) -type d -print0)
cp -a "$TREE" "$WORK/untouched"

"$BIN" scan --json "$TREE" >"$WORK/report.json" || die "maildedup scan --json failed"
python3 "$HELPER" stores "$BIN" "$TREE" "$WORK/report.json" >"$WORK/stores.tsv" \
    || die "the stores found do not add up to maildedup's report (above)"
read -r N_STORES N_MESSAGES N_EXTRA N_GROUPS N_CONFLICTS < <(python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))["summary"]
print(s["stores"], s["messages"], s["extra_copies"], s["groups"], s["conflicts"])' "$WORK/report.json")
echo "interop: test tree: $N_STORES stores, $N_MESSAGES messages, $N_GROUPS duplicate groups with $N_EXTRA extra copies, $N_CONFLICTS conflicts"
[[ $N_EXTRA -gt 0 ]] || die "the test tree has no duplicates"

# ------------------------------------------------------------------ the readers
# Each prints the count it sees on stdout, or fails (non-zero, reason on stdout).

# read_python KIND PATH
read_python() {
    local out
    if out=$(python3 "$HELPER" count "$1" "$2" 2>&1); then echo "$out"; else echo "error: ${out//$'\n'/ }"; return 1; fi
}

# read_dovecot KIND PATH ROOT MAILBOX N  (on the copy made by dovecot_copy)
read_dovecot() {
    local kind=$1 path=$2 root=$3 box=$4 n=$5 loc out err rc
    local idx=$DV/index/$n
    if [[ $kind == mbox ]]; then
        loc="mbox:$DV/mboxroot/$n:INBOX=$path:INDEX=$idx"
    else
        loc="maildir:$root:INDEX=$idx"
    fi
    rc=0
    out=$("${RUNAS[@]}" doveadm -c "$DV_CONF" -f tab -o "mail_location=$loc" \
        mailbox status messages "$box" 2>"$DV/err") || rc=$?
    err=$(cat "$DV/err")
    if [[ $rc -ne 0 || -n $err ]]; then
        echo "error: doveadm exit $rc: ${err//$'\n'/ }"; return 1
    fi
    # "mailbox<TAB>messages" then "NAME<TAB>N"
    out=$(printf '%s\n' "$out" | awk -F'\t' 'NR==2 {print $2}')
    # Fetch every message too (Dovecot parses each one): the count must agree.
    local fetched
    rc=0
    fetched=$("${RUNAS[@]}" doveadm -c "$DV_CONF" -f tab -o "mail_location=$loc" \
        fetch 'uid size.physical' mailbox "$box" all 2>"$DV/err") || rc=$?
    err=$(cat "$DV/err")
    if [[ $rc -ne 0 || -n $err ]]; then
        echo "error: doveadm fetch exit $rc: ${err//$'\n'/ }"; return 1
    fi
    fetched=$(printf '%s\n' "$fetched" | awk -F'\t' 'NR>1 && $2 > 0' | wc -l)
    if [[ $fetched -ne $out ]]; then
        echo "error: mailbox status says $out messages, fetch returned $fetched"; return 1
    fi
    echo "$out"
}

# read_mutt PATH: mutt -R in a pseudo-terminal (script), with the message count
# printed in its status line. Any beep (mutt beeps on each error it shows) or error
# message is a complaint. The index shows message numbers only, so that no subject can
# look like an error.
read_mutt() {
    local path=$1 ts=$WORK/mutt.typescript screen rc=0
    rm -f "$ts"
    HOME=$WORK/mutt-home TERM=vt100 COLUMNS=200 LINES=24 timeout 60 \
        script -qec "mutt -n -F /dev/null -R -f $(printf '%q' "$path") \
            -e 'set status_format=\"INTEROP-COUNT=%m INTEROP-END\"' \
            -e 'set index_format=\"%4C\" beep=yes' \
            -e 'set folder=$WORK/mutt-home/Mail' -e 'push <quit>'" "$ts" \
        </dev/null >/dev/null 2>&1 || rc=$?
    # The screen as text: escape sequences and shift-in/out dropped.
    screen=$(sed -e 's/\x1b\[[0-9;?]*[A-Za-z]/ /g' -e 's/\x1b[()][0-9A-Za-z]//g' \
        -e 's/\x1b[=>]//g' "$ts" | tr -d '\016\017\r' | sed '1d;$d')
    if [[ $rc -ne 0 ]]; then echo "error: mutt exit $rc: $(tail -c 300 <<<"$screen")"; return 1; fi
    if [[ $screen == *$'\a'* ]]; then
        echo "error: mutt beeped: $(tr -d '\a' <<<"$screen" | tr -s ' ' | tail -c 300)"; return 1
    fi
    local complaint
    complaint=$(grep -Eio "[^ ]*[^a-z](corrupt|not a mailbox|error|can.t|cannot|unable|invalid|failed|no mailbox|does not exist)[^.!]*" <<<"$screen" | head -1 || true)
    if [[ -n $complaint ]]; then echo "error: mutt says: $complaint"; return 1; fi
    local n
    n=$(grep -ao 'INTEROP-COUNT=[0-9]* INTEROP-END' <<<"$screen" | tail -1 | sed 's/[^0-9]//g')
    if [[ -z $n ]]; then echo "error: no count on mutt's screen: $(tr -s ' ' <<<"$screen" | tail -c 300)"; return 1; fi
    echo "$n"
}
mkdir -p "$WORK/mutt-home/Mail"

# dovecot_copy PHASE: a copy of the tree and QDIR for Dovecot to write in.
dovecot_copy() {
    DV=$WORK/dovecot-$1
    rm -rf "$DV"; mkdir -p "$DV/index" "$DV/mboxroot"
    cp -a "$TREE" "$DV/tree"
    if [[ -d $QDIR ]]; then cp -a "$QDIR" "$DV/quarantine"; fi
    DV_CONF=$DV/dovecot.conf
    # A minimal configuration: the system's may hold anything (or want root-only keys).
    printf 'ssl = no\nlog_path = /dev/stderr\n' >"$DV_CONF"
    if [[ $IS_ROOT -eq 1 ]]; then chown -R "$INTEROP_USER": "$DV"; fi
}

# check PHASE TOOL LABEL EXPECTED COMMAND...
check() {
    local phase=$1 tool=$2 label=$3 expected=$4 seen status
    shift 4
    CHECKS=$((CHECKS + 1))
    if seen=$("$@"); then
        if [[ $seen == "$expected" ]]; then status=ok; else status=MISMATCH; fi
    else
        status=ERROR
    fi
    printf '%-10s %-7s %-58s expected %3s  seen %s  %s\n' "$phase" "$tool" "$label" "$expected" "$seen" "$status"
    [[ $status == ok ]] || fail "$phase: $tool on $label: expected $expected, $seen"
}

# check_all PHASE QDIR_EXPECTED|-  : every store (and QDIR) with every reader.
check_all() {
    local phase=$1 qexp=$2 kind messages extras path root box expected n=0 label
    dovecot_copy "$phase"
    while IFS=$'\t' read -r kind messages extras path root box; do
        n=$((n + 1))
        case $phase in
            quarantine) expected=$((messages - extras)) ;;
            *) expected=$messages ;;
        esac
        label=${path#"$TREE"/}
        check "$phase" python "$label" "$expected" read_python "$kind" "$path"
        check "$phase" dovecot "$label" "$expected" \
            read_dovecot "$kind" "$DV/tree/${path#"$TREE"/}" "$DV/tree/${root#"$TREE"/}" "$box" "$n"
        check "$phase" mutt "$label" "$expected" read_mutt "$path"
    done <"$WORK/stores.tsv"
    if [[ $qexp != - ]]; then
        check "$phase" python "QDIR" "$qexp" read_python maildir "$QDIR"
        check "$phase" dovecot "QDIR" "$qexp" read_dovecot maildir "$DV/quarantine" "$DV/quarantine" INBOX qdir
        check "$phase" mutt "QDIR" "$qexp" read_mutt "$QDIR"
    fi
}

# ------------------------------------------------------------------ the run
START=$SECONDS
echo "== before: the untouched tree, as maildedup's scan counts it"
check_all before -

echo "== quarantine: $BIN quarantine --json TREE --to QDIR"
rc=0
"$BIN" quarantine --json "$TREE" --to "$QDIR" >"$WORK/quarantine.json" || rc=$?
moved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outcome"]["moved"])' "$WORK/quarantine.json" 2>/dev/null || echo "?")
[[ $rc -eq 0 ]] || fail "quarantine exited $rc"
[[ $moved == "$N_EXTRA" ]] || fail "quarantine moved $moved, the report has $N_EXTRA extra copies"
echo "quarantine exit $rc, moved $moved (report: $N_EXTRA extra copies)"
QEXP=$N_EXTRA
if [[ $BREAK == expect ]]; then QEXP=$((N_EXTRA + 1)); echo "--break expect: expecting $QEXP in QDIR"; fi
if [[ $BREAK == mbox ]]; then
    victim=$(awk -F'\t' '$1 == "mbox" && $3 > 0 && $2 > $3 {print $4; exit}' "$WORK/stores.tsv")
    [[ -n $victim ]] || die "--break mbox: no mbox keeps messages after quarantine"
    printf 'X' | dd of="$victim" bs=1 count=1 conv=notrunc status=none
    echo "--break mbox: the first From_ line of ${victim#"$TREE"/} now starts \"Xrom \""
fi
check_all quarantine "$QEXP"

echo "== restore: $BIN restore --json QDIR"
rc=0
"$BIN" restore --json "$QDIR" >"$WORK/restore.json" || rc=$?
restored=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outcome"]["restored"])' "$WORK/restore.json" 2>/dev/null || echo "?")
[[ $rc -eq 0 ]] || fail "restore exited $rc"
[[ $restored == "$N_EXTRA" ]] || fail "restore put back $restored of $N_EXTRA"
echo "restore exit $rc, restored $restored"
check_all restore 0
CHECKS=$((CHECKS + 1))
if diff -r "$WORK/untouched" "$TREE" >"$WORK/diff.txt" 2>&1; then
    echo "restore    diff -r  the tree after restore = the untouched tree                      ok"
else
    fail "after restore the tree differs from the untouched tree: $(head -c 500 "$WORK/diff.txt")"
fi

echo "interop: $CHECKS checks, $FAILED failed, $((SECONDS - START)) s"
if [[ $FAILED -ne 0 ]]; then exit 1; fi
