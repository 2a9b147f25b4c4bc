#!/usr/bin/env bash
# Times ingotc turning examples/gpt2/gpt2.ingot into a cuda trainer binary on this machine (the
# issue's bar: under 60 s on the 2-core machine, cold, nvcc and link included), twice per size:
# the first run with no output present, then again (ingotc keeps no cache: nvcc and the link run
# both times; the second run shows what the file system cache adds). Prints a table.
#   bash utils/bench/compile-time.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
ingotc=$build/bin/ingotc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| model | first run (s) | second run (s) | generated .cu lines |"
echo "|---|---|---|---|"
for cfg in "124M:" "350M:--set layers=24 --set dim=1024 --set heads=16" \
           "1.5B:--set layers=48 --set dim=1600 --set heads=25 --set batch=8"; do
  name=${cfg%%:*}; sets=${cfg#*:}
  times=()
  for run in 1 2; do
    rm -f "$work/trainer"
    start=$(date +%s%N)
    "$ingotc" "$root/examples/gpt2/gpt2.ingot" --target=cuda $sets -o "$work/trainer" 2>/dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    times+=("$((ms / 1000)).$(printf %03d $((ms % 1000)))")
  done
  lines=$("$ingotc" "$root/examples/gpt2/gpt2.ingot" --target=cuda --emit=cuda $sets 2>/dev/null | wc -l)
  echo "| $name | ${times[0]} | ${times[1]} | $lines |"
done
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
