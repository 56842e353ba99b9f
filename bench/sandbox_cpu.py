"""What a sandbox costs in CPU: its process's CPU time to start, at rest, and during a
migration (`run all` of the suite's runbook), read from /proc (Linux).

Budget: at rest, under 2 % of one core (the suite keeps sandboxes of finished phases alive
while other tests run beside them).

python bench/sandbox_cpu.py [--rest 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flexmigrate.sandbox import manage

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = REPO / "tests" / "runbooks" / "sandbox.yaml"
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rest", type=float, default=20.0, help="seconds at rest to measure")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "flexmigrate"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sandbox"
        manage.up(root, runbook=str(RUNBOOK))
        try:
            pid = int(json.loads((root / "sandbox.json").read_text())["pid"])
            started = _cpu_seconds(pid)
            time.sleep(2.0)  # the first ticks after start
            before = _cpu_seconds(pid)
            time.sleep(args.rest)
            rest = (_cpu_seconds(pid) - before) / args.rest
            before = _cpu_seconds(pid)
            began = time.monotonic()
            subprocess.run(
                [*cli, "--yes", "--runbook", str(RUNBOOK), "run", "all"],
                check=True,
                capture_output=True,
                env={**os.environ, **manage.environment(root)},
                cwd=tmp,
            )
            wall = time.monotonic() - began
            migration = _cpu_seconds(pid) - before
        finally:
            manage.down(root)
    verdict = "ok" if rest < 0.02 else "OVER"
    print(f"sandbox start: {started:.2f} s of CPU")
    print(f"at rest: {100 * rest:.1f} % of a core over {args.rest:.0f} s, budget 2 %  {verdict}")
    print(f"run all: {migration:.2f} s of the sandbox's CPU in {wall:.1f} s")
    return 0 if rest < 0.02 else 1


if __name__ == "__main__":
    raise SystemExit(main())
