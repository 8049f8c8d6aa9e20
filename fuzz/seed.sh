#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/TARGET/, not committed) from the test fixtures and,
# when it is there, the shared mail corpus (../shared/corpus: real mail under several
# licences, so none of it is copied into the repository).
#   bash fuzz/seed.sh [SHARED_CORPUS_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
shared="${1:-$repo/../shared/corpus}"
[ -d "$shared" ] || shared="/work/shared/corpus"
corpus="$here/corpus"
mkdir -p "$corpus"/{mbox_split,fingerprint,maildir_name,manifest_line}

roots=("$repo/tests/fixtures")
[ -d "$shared" ] && roots+=("$shared")

seed() { # seed TARGET FILE: content-addressed, so re-running adds nothing twice
  local sum
  sum=$(sha1sum "$2" | cut -c1-40)
  cp -f "$2" "$1/$sum"
}
seed_text() { # seed_text TARGET TEXT
  local sum
  sum=$(printf '%s' "$2" | sha1sum | cut -c1-40)
  printf '%s' "$2" > "$1/$sum"
}

for root in "${roots[@]}"; do
  # Maildir message files: the fingerprint target; their names: the name target.
  while IFS= read -r -d '' f; do
    [ "$(stat -c %s "$f")" -le 1048576 ] || continue
    seed "$corpus/fingerprint" "$f"
    seed_text "$corpus/maildir_name" "$(basename "$f")"
  done < <(find "$root" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -print0)
  # Single messages (.eml and friends): the fingerprint target.
  while IFS= read -r -d '' f; do
    [ "$(stat -c %s "$f")" -le 1048576 ] || continue
    seed "$corpus/fingerprint" "$f"
  done < <(find "$root" -type f \( -path '*/eml/*' -o -name '*.eml' \) -print0)
  # Anything that starts with a From_ line: the splitter.
  while IFS= read -r -d '' f; do
    [ "$(stat -c %s "$f")" -le 1048576 ] || continue
    if head -c 5 "$f" | grep -q '^From '; then
      seed "$corpus/mbox_split" "$f"
    fi
  done < <(find "$root" -type f -print0)
done

# Manifest lines: a real quarantine of a copy of the fixtures, one line per seed.
bin="$repo/target/debug/maildedup"
[ -x "$bin" ] || (cd "$repo" && cargo build -q)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$repo/tests/fixtures/cases" "$tmp/store"
"$bin" quarantine "$tmp/store" --to "$tmp/q" >/dev/null 2>&1 || true
if [ -f "$tmp/q/manifest.jsonl" ]; then
  "$bin" restore "$tmp/q" >/dev/null 2>&1 || true
  while IFS= read -r line; do
    seed_text "$corpus/manifest_line" "$line"
  done < "$tmp/q/manifest.jsonl"
fi

for t in mbox_split fingerprint maildir_name manifest_line; do
  echo "$t: $(find "$corpus/$t" -type f | wc -l) seeds"
done
