"""Rehearsal budget: the shipped production runbook rehearses end to end in under 60 s.

python bench/rehearsal.py [--runs 1] [--runbook runbooks/flexdesk-production.yaml]

Runs `flexmigrate --runbook RUNBOOK rehearse` in an empty directory (a fresh sandbox each
time) and prints the wall time with the load average it ran under: on a shared machine the
figure means little without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--runbook", default="runbooks/flexdesk-production.yaml")
    args = parser.parse_args()
    runbook = Path(args.runbook).resolve()
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            before = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "flexmigrate", "--runbook", str(runbook), "rehearse"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            took = time.perf_counter() - start
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
                print(f"rehearse exited {done.returncode}")
                return 1
            times.append(took)
            print(
                f"rehearse: {took:.1f} s (load average {before:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after)"
            )
    median = statistics.median(times)
    verdict = "ok" if median < BUDGET else "OVER"
    print(
        f"rehearse: median {median:.1f} s over {len(times)} run(s), budget {BUDGET:.0f} s  "
        f"{verdict}"
    )
    return 0 if median < BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
