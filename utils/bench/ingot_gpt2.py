#!/usr/bin/env python3
"""Times an Ingot GPT-2 trainer binary (built by `ingotc examples/gpt2/gpt2.ingot --target=cuda`)
on random-token shards written here, from the trainer's --log JSONL: the median ms per step
after --warmup steps. Peak memory: the largest nvidia-smi memory.used seen while it ran
(the whole process, CUDA context included; torch/JAX report allocator peaks instead).
Prints one JSON line (see common.result).

    python3 utils/bench/ingot_gpt2.py --bin out/gpt2-124m-cuda --size 124m --batch 16
"""
import argparse
import array
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def write_shard(path, tokens):
    header = array.array("i", [0] * 256)
    header[0], header[1], header[2] = 20240520, 1, len(tokens)
    with open(path, "wb") as f:
        header.tofile(f)
        array.array("H", tokens).tofile(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--size", default="124m", choices=sorted(common.SIZES))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--timeout", type=float, default=300, help="seconds; kill and use what ran")
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--vocab", type=int, default=common.VOCAB_REAL, help="tokens drawn below this")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ingot-bench-")
    rng = random.Random(0)
    # 4 batches' worth of random tokens, cycled by the loader: the loss can fall (memorization)
    n = 4 * a.batch * a.seq + 1
    write_shard(os.path.join(work, "train_000.bin"), [rng.randrange(a.vocab) for _ in range(n)])
    log = os.path.join(work, "log.jsonl")
    total = a.warmup + a.steps
    cmd = [a.bin, "--data", os.path.join(work, "train_*.bin"), "--steps", str(total),
           "--lr", str(a.lr), "--lr-schedule", "constant", "--warmup", "0", "--clip", "1.0",
           "--log", log]
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                peak[0] = max(peak[0], int(out.split()[0]))
            except Exception:
                pass
            time.sleep(0.5)
    try:
        base = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True).stdout.split()
    except OSError:
        base = []
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.time()
    timed_out = False
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        outtxt, _ = p.communicate(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        p.kill()
        outtxt, _ = p.communicate()
    wall = time.time() - t0
    done.set()
    recs = []
    if os.path.exists(log):
        for line in open(log):
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
    if not recs:
        print(json.dumps({"system": "Ingot", "error": "no step logged", "rc": p.returncode,
                          "timed_out": timed_out, "output": outtxt[-3000:]}), flush=True)
        sys.exit(1)
    timed = [r["ms"] for r in recs[a.warmup:]] or [r["ms"] for r in recs]
    losses = [r["loss"] for r in recs]
    used = peak[0] - (int(base[0]) if base else 0)
    common.result("Ingot", a.size, a.batch, a.seq, timed, losses, used * 2**20 if peak[0] else None,
                  {"steps_logged": len(recs), "timed_steps": len(timed), "timed_out": timed_out,
                   "rc": p.returncode, "wall_s": round(wall, 1),
                   "peak_mem_note": "nvidia-smi memory.used delta (process incl. context)",
                   "first_lines": outtxt.splitlines()[:4]})


if __name__ == "__main__":
    main()
