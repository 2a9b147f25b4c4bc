"""Checks that a trainer's validation loss fell: reads the --log JSONL, prints the first and the
final validation loss, and exits 1 unless the final one is at least --min-drop (a fraction) below
the first, every val loss is finite, and the last val is at the run's last step."""
import argparse
import json
import math
import sys

ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("--min-drop", type=float, required=True)
a = ap.parse_args()

vals, last_step, steps = [], None, None
with open(a.log) as f:
    for line in f:
        rec = json.loads(line)
        last_step, steps = rec["step"], rec["steps"]
        if "val" in rec:
            vals.append((rec["step"], rec["val"]))
if len(vals) < 2:
    sys.exit("val-loss.py: FAIL: %d validation losses in %s (need at least 2)" % (len(vals), a.log))
(s0, v0), (s1, v1) = vals[0], vals[-1]
drop = 1 - v1 / v0
print("val loss: step %d %.6f, step %d %.6f (%d evaluations, %.1f%% lower; need %.0f%%)" %
      (s0, v0, s1, v1, len(vals), 100 * drop, 100 * a.min_drop))
ok = all(math.isfinite(v) for _, v in vals) and s1 == last_step == steps and drop >= a.min_drop
print("val-loss.py: %s" % ("OK" if ok else "FAIL"))
sys.exit(0 if ok else 1)
