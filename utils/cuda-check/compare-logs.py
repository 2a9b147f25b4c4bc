#!/usr/bin/env python3
"""Compares two trainers' JSONL logs step by step: loss and gradient norm, relative differences."""
import json, sys

def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            if "step" in r:
                rows[r["step"]] = r
    return rows

a, b = load(sys.argv[1]), load(sys.argv[2])
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-2
worst = 0.0
print("| step | host loss | cuda loss | rel diff | host norm | cuda norm | norm rel diff |")
print("|---|---|---|---|---|---|---|")
steps = sorted(set(a) & set(b))
for s in steps:
    la, lb = a[s]["loss"], b[s]["loss"]
    na, nb = a[s]["norm"], b[s]["norm"]
    rel = abs(la - lb) / max(abs(la), 1e-12)
    nrel = abs(na - nb) / max(abs(na), 1e-12)
    worst = max(worst, rel)
    if s <= 5 or s % 5 == 0 or rel > limit:
        print(f"| {s} | {la:.6f} | {lb:.6f} | {rel:.2e} | {na:.5f} | {nb:.5f} | {nrel:.2e} |")
last = steps[-1] if steps else None
if last and "val" in a[last] and "val" in b[last]:
    va, vb = a[last]["val"], b[last]["val"]
    print(f"val loss at step {last}: host {va:.6f} cuda {vb:.6f} rel {abs(va - vb) / abs(va):.2e}")
print(f"steps compared: {len(steps)}; max relative loss difference {worst:.3e} (limit {limit:g})")
sys.exit(0 if len(steps) >= 50 and worst <= limit else 1)
