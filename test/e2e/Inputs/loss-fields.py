"""Prints "step loss norm" for each step record of a trainer's --log JSONL, the numbers exactly as
written (text, not parsed), from step --from on; exits 1 when there is none."""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("--from", dest="first", type=int, default=1)
a = ap.parse_args()
field = lambda name, line: re.search(r'"%s":([^,}]+)' % name, line).group(1)
n = 0
with open(a.log) as f:
    for line in f:
        if int(field("step", line)) >= a.first:
            print(field("step", line), field("loss", line), field("norm", line))
            n += 1
sys.exit(0 if n else "loss-fields.py: no step >= %d in %s" % (a.first, a.log))
