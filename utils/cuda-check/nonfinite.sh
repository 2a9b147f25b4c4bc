#!/bin/bash
# The cuda trainer's non-finite checks on the GPU (the host target's test/e2e/nonfinite.test):
# run in the folder utils/cuda-check/prepare.sh filled (needs its tiny-cuda and data/).
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
t="./tiny-cuda --data data/train_*.bin --steps 5"
status=0
rm -rf nf && mkdir nf
INGOT_INJECT_NAN=3:lnf_g $t --ckpt-every 1 --ckpt-dir nf/stop > nf/stop.out 2> nf/stop.err; rc=$?
echo "stop: exit $rc: $(tail -1 nf/stop.err)"; [ $rc = 3 ] && grep -q "step 3: .*'lnf_g'; stopping before the update" nf/stop.err && ! grep -q "step 3/5" nf/stop.out || status=1
INGOT_INJECT_NAN=3:lnf_g $t --on-nonfinite=skip --ckpt-every 1 --ckpt-dir nf/skip --log nf/skip.jsonl > nf/skip.out 2>&1; rc=$?
echo "skip: exit $rc: $(grep -E 'skipping|skipped' nf/skip.out | tr '\n' ' ')"
[ $rc = 0 ] || status=1
cmp nf/skip/step_00000002/tensors.bin nf/skip/step_00000003/tensors.bin && echo "skip: step 3 left weights and moments byte-identical to step 2" || status=1
cmp -s nf/skip/step_00000003/tensors.bin nf/skip/step_00000004/tensors.bin && { echo "skip: step 4 did not update"; status=1; } || echo "skip: step 4 updated again"
$t --ckpt-every 1 --ckpt-dir nf/clean > /dev/null 2>&1
cmp -s nf/clean/step_00000002/tensors.bin nf/clean/step_00000003/tensors.bin && { echo "clean step 3 did not update"; status=1; }
cmp nf/clean/step_00000002/tensors.bin nf/skip/step_00000002/tensors.bin && echo "clean and skip runs equal up to step 2" || status=1
echo "nonfinite status $status"
exit $status
