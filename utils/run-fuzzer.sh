#!/usr/bin/env bash
# run-fuzzer.sh FUZZER CORPUS_DIR SEED_DIR SECONDS [DICTIONARY]
# Runs a libFuzzer target for a bounded time on a scratch copy of the committed corpus plus the
# seed files (the examples), and fails if it finds a crash, a leak or an input that hangs.
set -euo pipefail
fuzzer=$1 corpus=$2 seeds=$3 seconds=$4 dict=${5:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
find "$seeds" -type f \( -name '*.ingot' -o -name '*.json' \) -exec cp {} "$work/corpus/" \;
# -timeout: one input taking longer than 10 s counts as a hang; -rss_limit_mb bounds memory.
"$fuzzer" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  ${dict:+-dict="$dict"} -max_len=16384 -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
if ls "$work/artifacts"/* >/dev/null 2>&1; then
  echo "fuzzer found failing inputs:"; ls -l "$work/artifacts"; exit 1
fi
exit "$status"
