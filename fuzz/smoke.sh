#!/usr/bin/env bash
# A short fuzz run of every target (default 60 s each), for CI and before a release.
#   bash fuzz/smoke.sh [SECONDS_PER_TARGET]     (FUZZ_TARGETS="a b" to run only some)
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable toolchain the
# sanitizer flags need RUSTC_BOOTSTRAP=1, set here. Fails on any crash, hang (10 s) or
# out-of-memory; the input that caused it is left in fuzz/artifacts/TARGET/.
set -euo pipefail
secs="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export RUSTC_BOOTSTRAP=1
bash "$here/seed.sh" >/dev/null
mkdir -p logs
# -max_len: a whole mbox for the splitter, one message for the fingerprint.
declare -A max_len=([mbox_split]=1048576 [fingerprint]=262144 [maildir_name]=512 [manifest_line]=16384)
cargo fuzz build -O
status=0
for t in ${FUZZ_TARGETS:-mbox_split fingerprint maildir_name manifest_line}; do
  log="logs/$t.log"
  if cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=4096 -max_len="${max_len[$t]}" -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  # The last status line: executions, coverage (cov) and features (ft).
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  echo "$t: $result, ${execs:-?} executions; $last"
  [ "$result" = ok ] || tail -40 "$log"
done
exit $status
