"""Kills training runs with SIGKILL and resumes them, checking that nothing is lost or changed.

An uninterrupted reference run first (--steps, --ckpt-every 2, --log); then --trials runs, each
killed once and resumed with `--resume latest` (or started afresh when no checkpoint is on disk
yet) until it completes:
  * one per checkpoint crash point (INGOT_CRASH_POINT=mid-tensor|before-fsync|before-rename, the
    writer's test hook): the run is first killed once step 6's checkpoint exists, then resumed
    with the hook set, so it dies while writing the next checkpoint with older ones on disk;
  * the rest at seeded random moments within the reference run's duration.
Checks, for every trial:
  * a killed run exits by SIGKILL; a crash point leaves its partial step_*.tmp-* directory;
  * each resume starts from the newest complete step_* directory on disk, which loads;
  * every step record logged by every attempt (the killed ones too) has the reference's loss
    and gradient norm, compared as text, so bit for bit; together they cover every step;
  * the final checkpoint's tensors.bin and manifest.bin equal the reference's byte for byte.
--tamper changes one reference loss digit: the checks must then fail (the test's self-check).
Prints the seed; --seed repeats a run's random kill moments."""
import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

CRASH_POINTS = ["mid-tensor", "before-fsync", "before-rename"]

ap = argparse.ArgumentParser()
ap.add_argument("--train", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--steps", type=int, default=16)
ap.add_argument("--trials", type=int, default=20)
ap.add_argument("--seed", type=int, default=None)
ap.add_argument("--tamper", action="store_true")
a = ap.parse_args()

seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
print("kill-resume.py: seed %d (repeat with --seed %d)" % (seed, seed), flush=True)
rng = random.Random(seed)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def command(ckpt, log, resume):
    cmd = [a.train, "--data", a.data, "--steps", str(a.steps), "--ckpt-every", "2",
           "--ckpt-dir", ckpt, "--log", log, "--threads", "2"]
    return cmd + (["--resume", "latest"] if resume else [])


def records(path):
    """step -> (loss, norm) as written, from every complete JSON line (a kill may cut the last)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                json.loads(line)
            except ValueError:
                continue
            field = lambda name: re.search(r'"%s":([^,}]+)' % name, line).group(1)
            out.setdefault(int(field("step")), []).append((field("loss"), field("norm")))
    return out


def complete_checkpoints(ckpt):
    return sorted(d for d in glob.glob(os.path.join(ckpt, "step_*"))
                  if re.fullmatch(r"step_\d{8}", os.path.basename(d)) and os.path.isdir(d))


# The reference.
ref_dir = os.path.join(a.out, "reference")
shutil.rmtree(ref_dir, ignore_errors=True)
os.makedirs(ref_dir)
t0 = time.monotonic()
subprocess.run(command(os.path.join(ref_dir, "ckpt"), os.path.join(ref_dir, "log.jsonl"), False),
               check=True, stdout=subprocess.DEVNULL)
duration = time.monotonic() - t0
reference = {s: r[0] for s, r in records(os.path.join(ref_dir, "log.jsonl")).items()}
if sorted(reference) != list(range(1, a.steps + 1)):
    sys.exit("kill-resume.py: the reference run logged steps %s" % sorted(reference))
if a.tamper:
    loss, norm = reference[a.steps // 2 + 1]
    reference[a.steps // 2 + 1] = (loss[:-1] + ("1" if loss[-1] != "1" else "2"), norm)
ref_final = os.path.join(ref_dir, "ckpt", "step_%08d" % a.steps)
tensors_bytes = os.path.getsize(os.path.join(ref_final, "tensors.bin"))
print("reference: %d steps in %.2f s" % (a.steps, duration), flush=True)


plan = CRASH_POINTS + ["random"] * (a.trials - len(CRASH_POINTS))
landed = 0
for trial, kind in enumerate(plan):
    tdir = os.path.join(a.out, "trial_%02d" % trial)
    shutil.rmtree(tdir, ignore_errors=True)
    os.makedirs(tdir)
    ckpt = os.path.join(tdir, "ckpt")
    logs = []

    def attempt(env=None, kill_delay=None, kill_when=None):
        log = os.path.join(tdir, "log%d.jsonl" % len(logs))
        logs.append(log)
        newest = complete_checkpoints(ckpt)
        newest = newest[-1] if newest else None
        proc = subprocess.Popen(command(ckpt, log, newest is not None), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, **(env or {})))
        if kill_delay is not None:
            threading.Timer(kill_delay, proc.send_signal, [signal.SIGKILL]).start()
        if kill_when is not None:
            while proc.poll() is None and not os.path.isdir(kill_when):
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0]
        if newest is not None and ("resumed from %s at step" % newest) not in out:
            fail("trial %d: the resume did not start from the newest complete checkpoint %s:\n%s"
                 % (trial, newest, out))
        return proc.returncode, out

    if kind == "random":
        delay = rng.uniform(0, duration)
        rc, out = attempt(kill_delay=delay)
        what = "killed after %.3f s" % delay
        if rc == -signal.SIGKILL:
            landed += 1
        elif rc != 0:
            fail("trial %d: exit %d before the kill:\n%s" % (trial, rc, out))
    else:
        rc, out = attempt(kill_when=os.path.join(ckpt, "step_00000006"))
        before = set(glob.glob(os.path.join(ckpt, "step_*.tmp-*")))
        rc, out = attempt(env={"INGOT_CRASH_POINT": kind})
        what = "crashed at %s" % kind
        if rc != -signal.SIGKILL:
            fail("trial %d: INGOT_CRASH_POINT=%s: exit %d, not SIGKILL:\n%s" % (trial, kind, rc, out))
        landed += 1
        partial = sorted(set(glob.glob(os.path.join(ckpt, "step_*.tmp-*"))) - before)
        if len(partial) != 1:
            fail("trial %d: %s left %d partial directories" % (trial, kind, len(partial)))
        else:
            files = sorted(os.listdir(partial[0]))
            size = os.path.getsize(os.path.join(partial[0], "tensors.bin"))
            expect = {"mid-tensor": (["tensors.bin"], lambda n: 0 < n < tensors_bytes),
                      "before-fsync": (["manifest.bin", "tensors.bin"], lambda n: n == tensors_bytes),
                      "before-rename": (["manifest.bin", "tensors.bin"], lambda n: n == tensors_bytes)}
            if files != expect[kind][0] or not expect[kind][1](size):
                fail("trial %d: %s left %s with tensors.bin of %d bytes" % (trial, kind, files, size))
    after = complete_checkpoints(ckpt)
    what += ", newest checkpoint then %s, %d step(s) logged" % (
        os.path.basename(after[-1]) if after else "none", len(records(logs[-1])))
    # Resume until the run completes.
    resumes = 0
    while True:
        rc, out = attempt()
        resumes += 1
        if rc == 0:
            break
        fail("trial %d: a resume exited %d:\n%s" % (trial, rc, out))
        if resumes >= 3:
            break

    seen = set()
    for log in logs:
        for step, recs in records(log).items():
            for rec in recs:
                seen.add(step)
                if rec != reference.get(step):
                    fail("trial %d: %s step %d logged loss %s norm %s, the reference %s"
                         % (trial, os.path.basename(log), step, rec[0], rec[1],
                            reference.get(step)))
    if seen != set(range(1, a.steps + 1)):
        fail("trial %d: steps %s were never logged" % (trial, sorted(set(range(1, a.steps + 1)) - seen)))
    final = os.path.join(ckpt, "step_%08d" % a.steps)
    for name in ["tensors.bin", "manifest.bin"]:
        with open(os.path.join(ref_final, name), "rb") as f1, open(os.path.join(final, name), "rb") as f2:
            if f1.read() != f2.read():
                fail("trial %d: %s differs from the reference's" % (trial, name))
    print("trial %d: %s; %d attempt(s) in all" % (trial, what, len(logs)), flush=True)
    shutil.rmtree(tdir)

print("kill-resume.py: %d trials (%d crash points, %d random kills, %d of which landed before the "
      "end), seed %d" % (len(plan), len(CRASH_POINTS), len(plan) - len(CRASH_POINTS),
                         landed - len(CRASH_POINTS), seed))
if failures:
    sys.exit("kill-resume.py: %d failure(s)" % len(failures))
print("kill-resume.py: OK")
