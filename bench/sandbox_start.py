"""Sandbox start budget: `flexmigrate sandbox up` returns (the sandbox answers) in under 5 s.

python bench/sandbox_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "sandbox"
            cli = [sys.executable, "-m", "flexmigrate", "sandbox"]
            start = time.perf_counter()
            subprocess.run([*cli, "up", "--dir", str(root)], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
            subprocess.run([*cli, "down", "--dir", str(root)], check=True, capture_output=True)
    median = statistics.median(times)
    verdict = "ok" if median < 5.0 else "OVER"
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"sandbox up: median {median:.2f} s ({runs}), budget 5 s  {verdict}")
    return 0 if median < 5.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
