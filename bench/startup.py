"""Start-up budgets, as ratios measured in one run (this machine is noisy):
`flexmigrate --help` ≤ 1.5× and `flexmigrate status` ≤ 3× `python -c "import click"` (medians).

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _median(argv: list[str], runs: int, cwd: str) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    runbook = str(REPO / "runbooks" / "flexdesk-production.yaml")
    with tempfile.TemporaryDirectory() as cwd:
        python = sys.executable
        # warm the file cache once
        subprocess.run([python, "-m", "flexmigrate", "--help"], check=True, capture_output=True)
        click = _median([python, "-c", "import click"], args.runs, cwd)
        help_ = _median([python, "-m", "flexmigrate", "--help"], args.runs, cwd)
        status = _median(
            [python, "-m", "flexmigrate", "--runbook", runbook, "status"], args.runs, cwd
        )
    ok_help = help_ <= 1.5 * click
    ok_status = status <= 3.0 * click
    print(f"import click        {click * 1000:7.1f} ms (median of {args.runs})")
    for label, value, budget, ok in (
        ("flexmigrate --help", help_, 1.5, ok_help),
        ("flexmigrate status", status, 3.0, ok_status),
    ):
        verdict = "ok" if ok else "OVER"
        print(
            f"{label}  {value * 1000:7.1f} ms  {value / click:4.2f}× click  "
            f"budget {budget}×  {verdict}"
        )
    return 0 if ok_help and ok_status else 1


if __name__ == "__main__":
    raise SystemExit(main())
