#!/usr/bin/env python3
"""results.jsonl (one JSON line per system) + card name -> a markdown table row per system."""
import datetime
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
card = sys.argv[2] if len(sys.argv) > 2 else "?"
date = datetime.date.today().isoformat()
print("| model | B | system | tokens/s | ms/step | MFU | peak memory (GiB) | loss first → last | card | date |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    mem = "%.2f" % r["peak_mem_gib"] if r.get("peak_mem_gib") is not None else "?"
    print("| %s | %d | %s | %.0f | %.1f | %.1f%% | %s | %.3f → %.3f | %s | %s |" % (
        r["model"], r["B"], r["system"], r["tokens_per_s"], r["ms_per_step"], 100 * r["mfu"], mem,
        r["loss_first"], r["loss_last"], card, date))
