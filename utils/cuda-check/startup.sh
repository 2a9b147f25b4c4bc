#!/bin/bash
# Runs on the GPU machine, in the folder prepare-startup.sh filled: the cuda trainer's startup
# checks against the machine. Every trainer that must not run has to stop with exit status 1
# and "startup check: ..." naming what its map expects and what was found, before any step;
# the trainer built without a map (and, on an H100, the one built for h100x1.json) must train.
# Prints one line per case and exits non-zero if any case went otherwise.
set -u
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
echo "GPU 0: $gpu ($gpus visible), driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
args=(--data 'data/train_*.bin' --steps 2)
status=0

# trains NAME [env...] -- CMD...: must exit 0 having logged step 2.
trains() {
  local name=$1
  shift
  timeout 120 env "$@" > "$name.out" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] && grep -q "step 2/2" "$name.out"; then
    echo "ok      $name: trained 2 steps"
  else
    echo "FAILED  $name: expected to train, exit $rc:"; tail -3 "$name.out"; status=1
  fi
}
# refuses NAME PATTERN [env...] CMD...: must exit 1 with "startup check:" and PATTERN, no step.
# (EXIT=4 refuses ...: the Comm bootstrap's refusal of a multi-rank trainer started alone.)
refuses() {
  local name=$1 pattern=$2 want=${EXIT:-1}
  shift 2
  timeout 120 env "$@" > "$name.out" 2>&1
  local rc=$?
  if [ $rc -eq "$want" ] && { [ "$want" != 1 ] || grep -q "startup check:" "$name.out"; } \
     && grep -qF -- "$pattern" "$name.out" && ! grep -q "^step 1/" "$name.out"; then
    echo "ok      $name: $(grep -m1 'error:' "$name.out")"
  else
    echo "FAILED  $name: expected exit $want and '$pattern', got exit $rc:"; tail -3 "$name.out"
    status=1
  fi
}

trains any ./tiny-any "${args[@]}"
case "$gpu" in
  *H100*) trains h100-map ./tiny-h100 "${args[@]}" ;;
  *) refuses h100-map "names the GPU model 'H100-SXM5-80GB', but GPU 0 is '$gpu'" ./tiny-h100 "${args[@]}" ;;
esac
refuses other-model "the cluster map 'a100x1' names the GPU model 'A100-SXM4-80GB', but GPU 0 is '$gpu'" \
  ./tiny-a100 "${args[@]}"
refuses no-gpu-visible "needs 1 GPU(s) per node, but 0 are visible to this process" \
  CUDA_VISIBLE_DEVICES= ./tiny-any "${args[@]}"
refuses launcher-of-2 "compiled for 1 rank (no cluster map), but the launcher started 2 (WORLD_SIZE=2)" \
  WORLD_SIZE=2 ./tiny-any "${args[@]}"
refuses arena-too-large "the trainer's arena needs" ./big-huge "${args[@]}"
missing=$( [ -x tiny-gpu2 ] && ldd ./tiny-gpu2 | awk '/not found/ {print $1}' | tr '\n' ' ')
if [ -x tiny-gpu2 ] && [ -n "$missing" ]; then
  echo "skipped two-gpus: this machine lacks $missing(the 2-GPU trainer's NCCL or MPI)"
elif [ -x tiny-gpu2 ]; then
  refuses two-gpus-mpirun-np-1 "compiled for 2 ranks (cluster map 'gpu2': 1 node(s) x 2 device(s)), but the launcher started 1 (OMPI_COMM_WORLD_SIZE=1)" \
    OMPI_COMM_WORLD_SIZE=1 ./tiny-gpu2 "${args[@]}"
  EXIT=4 refuses two-gpus-alone "this trainer was compiled for 2 ranks" \
    -u RANK -u WORLD_SIZE -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK -u SLURM_PROCID \
    ./tiny-gpu2 "${args[@]}"
  if [ "$gpus" -lt 2 ]; then
    refuses two-gpus-one-visible "the cluster map 'gpu2' names 2 GPU(s) per node, but 1 is visible" \
      WORLD_SIZE=2 LOCAL_RANK=0 ./tiny-gpu2 "${args[@]}"
  fi
else
  echo "skipped two-gpus: ingotc could not build a 2-GPU cuda trainer: $(grep -m1 error tiny-gpu2.build.txt)"
fi
exit $status
