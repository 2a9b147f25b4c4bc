"""check-segments.py FILE.cu: checks the pipeline tables of a generated cuda trainer against its
one-rank pass (forwardBackwardPass), from the text alone (no GPU):
  - every op of the one-rank pass is in exactly one segment function (parameter views and
    constants excepted: a segment makes those again), and each segment keeps the one-rank order;
  - each segment runs on stage chunk mod P, and the stage programs run every segment once per
    micro-batch, each stage only its own segments;
  - each transfer joins two stages, names an arena offset that the sending segment writes and
    the receiving segment reads, and is as many bytes as its shape in the sender's storage
    (bf16: 2 bytes, float: 4), inside the arena;
  - the activation region is the plan's (after the persistent bytes) and the statistics region
    is the log-sum-exp slots that the one-rank pass uses.
Prints one line of counts when all hold; otherwise each problem, and exits 1."""
import collections
import re
import sys

text = open(sys.argv[1]).read()
problems = []


def functions():
    """name -> list of body lines, for every `void NAME(char *A) {` at the start of a line."""
    out = {}
    for m in re.finditer(r"^void (\w+)\(char \*A\) \{\n(.*?)^\}", text, re.M | re.S):
        out[m.group(1)] = m.group(2).splitlines()
    return out


OP = re.compile(r"^  // ((?:ingot|func)\.\w+)(?:  (\S+))?$")
RE_MADE = ("ingot.param_ref", "ingot.constant")


def ops(body):
    return [(m.group(1), m.group(2)) for m in map(OP.match, body) if m and
            m.group(1) not in RE_MADE]


def table(name):
    m = re.search(r"const ingot::rt::\w+ %s\[\] = \{\n(.*?)^\};" % name, text, re.M | re.S)
    if not m:
        sys.exit("check-segments.py: no table %s in %s" % (name, sys.argv[1]))
    return m.group(1)


fns = functions()
one_rank = ops(fns["forwardBackwardPass"])
stages = int(re.search(r"/\*stages=\*/(\d+)", text).group(1))
micro = int(re.search(r"^    \d+, \d+, \d+, (\d+), ingot::rt::DType", text, re.M).group(1))
arena, grads_offset, grads_bytes = map(int, re.search(
    r"kParams, (\d+)u, (\d+)u, (\d+)u,", text).groups())

segments = [(int(c), int(s), int(p), f) for c, s, p, f in re.findall(
    r"\{(\d+), (\d+), (\d+), (\w+), \"\w+\"\}", table("kSegments"))]
union = collections.Counter()
for chunk, stage, phase, fn in segments:
    if stage != chunk % stages:
        problems.append("%s: stage %d, but chunk %d runs on stage %d" % (fn, stage, chunk,
                                                                         chunk % stages))
    mine = ops(fns[fn])
    union.update(mine)
    # One-rank order: the segment's ops appear in the one-rank pass in the same order.
    it = iter(one_rank)
    if not all(op in it for op in mine):
        problems.append("%s: its ops are not in the one-rank order" % fn)
missing = collections.Counter(one_rank) - union
extra = union - collections.Counter(one_rank)
for op, n in sorted(missing.items()):
    problems.append("%s %s: in the one-rank pass, in no segment (%d)" % (op[0], op[1], n))
for op, n in sorted(extra.items()):
    problems.append("%s %s: in %d more segment(s) than the one-rank pass" % (op[0], op[1], n))

begins = [int(x) for x in re.search(r"kProgramBegin\[\] = \{([^}]*)\}", text).group(1).split(",")]
steps = [tuple(map(int, s)) for s in re.findall(
    r"\{(\d+), (\d+)\}", re.search(r"kSteps\[\] = \{(.*)\};", text).group(1))]
if len(begins) != stages + 1 or begins[-1] != len(steps):
    problems.append("kProgramBegin %s does not split the %d steps into %d stages" %
                    (begins, len(steps), stages))
runs = collections.Counter()
for s in range(stages):
    for seg, m in steps[begins[s]:begins[s + 1]]:
        if segments[seg][1] != s:
            problems.append("stage %d runs %s, a segment of stage %d" % (s, segments[seg][3],
                                                                         segments[seg][1]))
        runs[(seg, m)] += 1
for seg in range(len(segments)):
    for m in range(micro):
        if runs[(seg, m)] != 1:
            problems.append("%s runs %d times on micro-batch %d" % (segments[seg][3],
                                                                    runs[(seg, m)], m))

transfers = re.findall(r"\{(\d+), (\d+), (\d+)u, (\d+)u, ([01]), \"([^\"]*)\"\}",
                       table("kTransfers"))
for frm, to, offset, size, tied, what in transfers:
    frm, to, offset, size = int(frm), int(to), int(offset), int(size)
    sender, receiver = segments[frm][3], segments[to][3]
    if segments[frm][1] == segments[to][1]:
        problems.append("transfer %s stays on stage %d" % (what, segments[frm][1]))
    if offset + size > arena:
        problems.append("transfer %s [%d, %d) is outside the arena of %d bytes" %
                        (what, offset, offset + size, arena))
    pointer = re.compile(r"at<(bf16|float)>\(A, %d\)" % offset)
    sent = [p for line in fns[sender] if not line.lstrip().startswith("convert(")
            for p in pointer.findall(line)]
    got = [p for line in fns[receiver] for p in pointer.findall(line)]
    if not sent or not got:
        problems.append("transfer %s: offset %d is %s" % (
            what, offset, "not in the sender %s" % sender if not sent else
            "not in the receiver %s" % receiver))
        continue
    if tied == "1":
        if not grads_offset <= offset < offset + size <= grads_offset + grads_bytes:
            problems.append("transfer %s is not inside the gradient region" % what)
        continue
    shape = re.search(r"\(([\dx]+)\)$", what).group(1)
    elements = 1
    for d in shape.split("x"):
        elements *= int(d)
    element = 2 if sent[0] == "bf16" else 4
    if size != elements * element:
        problems.append("transfer %s: %d bytes, but %s %s is %d" % (what, size, sent[0], shape,
                                                                     elements * element))

region = re.search(r"kSteps, (\d+)u, (\d+)u,\n    (\d+)u, (\d+)u,", text)
lse = re.search(r"arena \+ (\d+)ull \+ uint64_t\(i\) \* (\d+)ull", text)
persistent = int(re.search(r'\\"persistent_bytes\\": (\d+)', text).group(1))
plan_arena = int(re.search(r'\\"arena_bytes\\": (\d+)', text).group(1))
activation_offset, activation_bytes, stats_offset, stats_bytes = map(int, region.groups())
if (activation_offset, activation_bytes) != (persistent, plan_arena - persistent):
    problems.append("the activation region [%d, +%d) is not the plan's [%d, +%d)" %
                    (activation_offset, activation_bytes, persistent, plan_arena - persistent))
slots = {int(i) for line in fns["forwardBackwardPass"] for i in re.findall(r"lse\(A, (\d+)\)", line)}
want = (int(lse.group(1)), (max(slots) + 1) * int(lse.group(2)) if slots else 0)
if (stats_offset, stats_bytes) != want:
    problems.append("the statistics region [%d, +%d) is not the one-rank pass's [%d, +%d)" %
                    ((stats_offset, stats_bytes) + want))

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("%d stages, %d segments, %d ops, %d transfers, %d steps: consistent" %
      (stages, len(segments), len(one_rank), len(transfers), len(steps)))
