"""Checks a Chrome trace written by ingotc --emit=schedule: valid JSON, the keys Chrome and
Perfetto need on every event, and the expected events per track.
Usage: check_trace.py TRACE STAGES. Prints the track names and event counts (the caller checks
them: F and the backward of every micro-batch on every chunk of the track's stage)."""
import json
import sys

path, stages = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    trace = json.load(f)
events = trace["traceEvents"]
assert isinstance(events, list) and events, "no traceEvents"
for e in events:
    for key in ("name", "ph", "pid"):
        assert key in e, f"event without '{key}': {e}"
complete = [e for e in events if e["ph"] == "X"]
for e in complete:
    for key in ("ts", "dur", "tid", "cat"):
        assert key in e, f"complete event without '{key}': {e}"
    assert e["dur"] >= 0 and e["ts"] >= 0, e
names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
tids = sorted(names)
counts = [sum(1 for e in complete if e["tid"] == t) for t in tids]
# No two events of one track overlap: a stage runs one step at a time.
for t in tids:
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in complete if e["tid"] == t)
    for (s0, e0), (s1, _) in zip(spans, spans[1:]):
        assert s1 >= e0 - 1e-6, f"overlap on track {t}: {e0} > {s1}"
assert trace["otherData"]["stages"] == stages
print("tracks: " + ", ".join(names[t] for t in tids))
print("events per track: " + ", ".join(str(n) for n in counts))
