"""timed.py MAX_SECONDS COMMAND...: runs COMMAND (its output passes through), prints
"timed.py: exit N after S s" on stderr, and exits 0 only when COMMAND failed (status != 0) on its
own within MAX_SECONDS: a hang (killed at MAX_SECONDS, or by an outer `timeout`, status 124) or a
success is a failure of the test."""
import subprocess
import sys
import time

limit = float(sys.argv[1])
start = time.monotonic()
try:
    got = subprocess.run(sys.argv[2:], timeout=limit).returncode
except subprocess.TimeoutExpired:
    print("timed.py: still running after %g s (a hang): %s" % (limit, " ".join(sys.argv[2:])),
          file=sys.stderr)
    sys.exit(1)
elapsed = time.monotonic() - start
print("timed.py: exit %d after %.1f s" % (got, elapsed), file=sys.stderr)
sys.exit(0 if got not in (0, 124) else 1)
