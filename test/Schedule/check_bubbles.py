"""Runs ingot-pipeline-sim over many layouts of uniform stages and compares the simulated bubble
with the formulas of BENCHMARKS.md (F, B, W: one micro-batch's forward, input-gradient and
weight-gradient time on one stage; p stages, m micro-batches, v chunks per stage):

    GPipe, 1F1B     (p - 1)(F + B + W)
    interleaved     (p - 1)(F + B + W) / v
    ZB-H1           (p - 1)(F + B - W)

as a share of the step, m (F + B + W) + bubble (W <= F for ZB-H1, as its formula assumes). Prints the worst difference per schedule in
percentage points and fails if any exceeds the limit (1 pp)."""
import json
import subprocess
import sys

sim = sys.argv[1]
limit_pp = 1.0
# ZB-H1's formula assumes W <= F (the paper's setting): the first stage has only F and W work to
# fill the wait for its first gradient, and a W longer than an F cannot shorten that wait.
times = [(1.0, 1.0, 1.0), (1.0, 1.5, 0.5), (2.0, 1.0, 1.0), (1.0, 2.0, 1.0), (1.1, 1.3, 0.7)]


def formula(schedule, p, v, f, b, w):
    if schedule in ("gpipe", "1f1b"):
        return (p - 1) * (f + b + w)
    if schedule == "interleaved":
        return (p - 1) * (f + b + w) / v
    return (p - 1) * (f + b - w)


failed = False
for schedule in ["gpipe", "1f1b", "interleaved", "zb-h1"]:
    worst, cases = 0.0, 0
    for p in [2, 3, 4, 8, 16]:
        for m in sorted({p, 2 * p, 4 * p, 32}):
            for v in ([2, 3, 4] if schedule == "interleaved" else [1]):
                if schedule == "interleaved" and m % p:
                    continue
                for f, b, w in times:
                    out = subprocess.run(
                        [sim, f"--schedule={schedule}", f"--stages={p}", f"--microbatches={m}",
                         f"--chunks={v}", f"--forward={f}", f"--backward-input={b}",
                         f"--backward-weight={w}"], capture_output=True, text=True)
                    if out.returncode != 0:
                        print(f"FAIL {schedule} p={p} m={m} v={v}: {out.stderr.strip()}")
                        failed = True
                        continue
                    r = json.loads(out.stdout)
                    bubble = formula(schedule, p, v, f, b, w)
                    step = m * (f + b + w) + bubble
                    diff = abs(r["bubble_fraction"] - bubble / step) * 100
                    cases += 1
                    worst = max(worst, diff)
                    if diff > limit_pp:
                        print(f"FAIL {schedule} p={p} m={m} v={v} F={f} B={b} W={w}: simulated "
                              f"{r['bubble_fraction'] * 100:.3f}%, formula "
                              f"{bubble / step * 100:.3f}%")
                        failed = True
    print(f"{schedule}: {cases} layouts, worst |simulated - formula| = {worst:.6f} pp")
sys.exit(1 if failed else 0)
