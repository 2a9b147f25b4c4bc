"""compare-losses.py A.jsonl B.jsonl --rtol R: compares the losses and gradient norms of two
trainer logs step by step; prints the step count and the largest relative differences, and exits
1 when the step lists differ or a difference exceeds R."""
import argparse
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("--rtol", type=float, required=True)
args = ap.parse_args()


def steps(path):
    with open(path) as f:
        return {r["step"]: r for r in map(json.loads, f) if "step" in r}


a, b = steps(args.a), steps(args.b)
if sorted(a) != sorted(b) or not a:
    sys.exit("compare-losses.py: the logs have different steps: %s vs %s" % (sorted(a), sorted(b)))
rel = lambda x, y: abs(x - y) / max(abs(x), abs(y), 1e-30)
loss = max(rel(a[s]["loss"], b[s]["loss"]) for s in a)
norm = max(rel(a[s]["norm"], b[s]["norm"]) for s in a)
print("%d steps, max relative difference: loss %.3g, gradient norm %.3g" % (len(a), loss, norm))
sys.exit(0 if max(loss, norm) <= args.rtol else "compare-losses.py: above --rtol %g" % args.rtol)
