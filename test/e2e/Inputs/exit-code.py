"""exit-code.py CODE COMMAND...: runs COMMAND (its output passes through) and exits 0 only when
COMMAND exited with status CODE; otherwise says what it exited with and exits 1."""
import subprocess
import sys

want = int(sys.argv[1])
sys.stdout.flush()
got = subprocess.run(sys.argv[2:]).returncode
if got != want:
    print("exit-code.py: expected exit status %d, got %d: %s" % (want, got, " ".join(sys.argv[2:])),
          file=sys.stderr)
    sys.exit(1)
