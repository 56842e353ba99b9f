"""Are phase 1's node groups created concurrently? The node-groups step's wall time, from the
timestamps of state.json, against one node group's simulated creation time.

Run: .venv/bin/python bench/nodegroup_concurrency.py [--nodegroup-seconds 4]
A fresh sandbox whose node groups take NODEGROUP_SECONDS to become ACTIVE runs phase 1 with
the sandbox runbook (three node groups). Created one after another the step would take about
3× that; created together, about 1×. The budget is < 1.5×; exit 1 when it is exceeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = REPO / "tests" / "runbooks" / "sandbox.yaml"
BUDGET = 1.5


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodegroup-seconds", type=float, default=4.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from flexmigrate.sandbox import manage

    root = Path(tempfile.mkdtemp(prefix="flexmigrate-bench-"))
    sandbox = root / "sandbox"
    manage.up(
        sandbox,
        runbook=str(RUNBOOK),
        extra_args=("--nodegroup-seconds", str(args.nodegroup_seconds)),
    )
    try:
        env = {**os.environ, **manage.environment(sandbox), "NO_COLOR": "1"}
        env["PYTHONPATH"] = str(REPO)
        state_dir = root / "state"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "flexmigrate",
                "--runbook",
                str(RUNBOOK),
                "--state-dir",
                str(state_dir),
                "run",
                "cluster-foundation",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if run.returncode != 0:
            print(run.stdout + run.stderr)
            return 1
        state = json.loads((state_dir / "flexdesk-sandbox" / "state.json").read_text())
    finally:
        manage.down(sandbox)
    steps = {s["id"]: s for s in state["phases"][0]["steps"]}
    step = steps["node-groups"]
    wall = (_when(step["finished_at"]) - _when(step["started_at"])).total_seconds()
    groups = len(step["outputs"]["nodegroups"])
    ratio = wall / args.nodegroup_seconds
    print(f"node groups                   {groups}")
    print(f"one node group's creation     {args.nodegroup_seconds:6.2f} s")
    print(f"node-groups step, wall time   {wall:6.2f} s")
    print(f"ratio                         {ratio:6.2f} ×  (budget < {BUDGET} ×)")
    print(f"one after another would be    ≈ {groups} ×")
    return 0 if ratio < BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
