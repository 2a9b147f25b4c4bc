#!/bin/bash
# Two cuda trainers of one model that must compute the same numbers (say, built before and after
# a change that moves work between kernels, like AdamW writing the bf16 working copies): on the
# same data, flags and seed, every loss (%.17g), gradient norm and validation loss alike, and
# the checkpoints (weights and moments) byte for byte, over
#   - a fresh run (the working copies are made from the initial weights before the first pass),
#   - a run resumed from its checkpoint halfway (made again after the load), which must also
#     repeat the fresh run's steps after the checkpoint,
#   - a run with a skipped non-finite step (INGOT_INJECT_NAN, --on-nonfinite=skip).
# Run on the GPU machine in the folder prepare.sh filled (data/, lib/), with the trainer of the
# earlier commit built beside it (e.g. by an ingotc built from `git worktree add` of that commit):
#   cp utils/cuda-check/same-losses.sh .devrun/
#   bash .devrun/same-losses.sh ./tiny-cuda-before ./tiny-cuda [steps]
set -u
cd "$(dirname "$0")"
before=$1 after=$2 steps=${3:-40}
half=$((steps / 2))
export LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
rm -rf same && mkdir same
status=0
# The step, loss, norm and val fields of a JSONL log's steps after FIRST (default 0), one line.
fields() {
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print([(r["step"], r["loss"], r["norm"], r.get("val")) for r in rows
       if "step" in r and r["step"] > int(sys.argv[2])])' "$1" "${2:-0}"
}
check() { # NAME, then the two sides' outputs
  if [ "$2" = "$3" ] && [ "$2" != "[]" ]; then echo "$1: the same"; else echo "$1: DIFFERENT"; status=1; fi
}
for side in before after; do
  bin=${!side}
  run() { "$bin" --data 'data/train_*.bin' --val 'data/val_*.bin' --eval-every 5 "$@"; }
  run --steps "$steps" --log "same/$side-fresh.jsonl" > "same/$side-fresh.out" 2>&1 &&
  run --steps "$half" --ckpt-dir "same/$side-ckpt" --ckpt-every "$half" > /dev/null 2>&1 &&
  run --steps "$steps" --ckpt-dir "same/$side-ckpt" --resume latest --ckpt-every 0 \
    --log "same/$side-resumed.jsonl" > "same/$side-resumed.out" 2>&1 &&
  INGOT_INJECT_NAN=3:lnf_g run --steps 8 --on-nonfinite=skip --log "same/$side-skip.jsonl" \
    > "same/$side-skip.out" 2>&1 || { echo "$side: a run failed"; tail -3 same/$side-*.out; exit 1; }
done
check "fresh run" "$(fields same/before-fresh.jsonl)" "$(fields same/after-fresh.jsonl)"
ckpt=$(printf 'step_%08d/tensors.bin' "$half")
cmp -s "same/before-ckpt/$ckpt" "same/after-ckpt/$ckpt" &&
  echo "checkpoint at step $half: the same bytes" || { echo "checkpoint at step $half: DIFFERENT"; status=1; }
check "resumed run" "$(fields same/before-resumed.jsonl)" "$(fields same/after-resumed.jsonl)"
check "resumed = fresh after step $half" "$(fields same/after-fresh.jsonl "$half")" \
  "$(fields same/after-resumed.jsonl "$half")"
check "skipped non-finite step" "$(fields same/before-skip.jsonl)" "$(fields same/after-skip.jsonl)"
grep -q "skipping the update" same/after-skip.out || { echo "no step was skipped"; status=1; }
exit $status
