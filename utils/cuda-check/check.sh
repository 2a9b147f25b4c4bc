#!/bin/bash
# Runs on the GPU machine, in the folder prepare.sh filled: the cuda trainer of NAME for the
# steps of the host reference log, the loss table against it, a second run that must repeat
# the losses bit for bit, and compute-sanitizer memcheck on 3 steps.
set -u
cd "$(dirname "$0")"
name=$1
steps=$(wc -l < "$name-host.jsonl")
flags=$(cat "$name.flags")
export LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run() { ./"$name-cuda" --data 'data/train_*.bin' --val 'data/val_*.bin' --eval-every 25 $flags "$@"; }
run --steps "$steps" --log "$name-cuda.jsonl" > "$name-cuda.out" 2>&1 || { tail "$name-cuda.out"; exit 1; }
python3 compare-logs.py "$name-host.jsonl" "$name-cuda.jsonl" 1e-2; status=$?
run --steps "$steps" --log "$name-cuda2.jsonl" > /dev/null 2>&1
cmp -s <(grep -o '"loss":[^,]*' "$name-cuda.jsonl") <(grep -o '"loss":[^,]*' "$name-cuda2.jsonl") \
  && echo "a second run repeats every loss bit for bit" || { echo "a second run DIFFERS"; status=1; }
compute-sanitizer --tool memcheck --leak-check no --error-exitcode 9 ./"$name-cuda" \
  --data 'data/train_*.bin' --steps 3 $flags 2>&1 | tail -1 || status=1
exit $status
