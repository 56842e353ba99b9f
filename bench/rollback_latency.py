"""Rollback latency of phase 4: from the gate evaluation that sees a breach to AWS reporting the
restored weights, on the sandbox with a 1 s gate interval. Budget: median ≤ 1 s.

python bench/rollback_latency.py [--runs 5]

A fresh sandbox answers 5xx for half of EKS's requests; phase 4 shifts 10 % and breaches,
then ``resume`` shifts and breaches again, ``--runs`` times in all. Each breach's figure is
the one the phase itself journals (``traffic_restored.seconds``: ``ctx.now()`` when the
breaching evaluation finished → the read-back of the restored weights). Phases 1–3 are the
registered ones when ``phases.REGISTRY`` holds them, else the tests' stand-ins.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STANDINS = REPO / "tests" / "phases" / "traffic_shift" / "standins.py"
REGISTRY_CLI = REPO / "tests" / "registry_cli.py"
BUDGET = 1.0


def _command() -> list[str]:
    sys.path.insert(0, str(REPO))
    from phases import REGISTRY

    if any(p.slug == "traffic-shift" for p in REGISTRY):
        return [sys.executable, "-m", "flexmigrate"]
    return [sys.executable, str(REGISTRY_CLI), str(STANDINS)]


def _runbook(directory: Path) -> Path:
    from ruamel.yaml import YAML

    source = REPO / "tests" / "runbooks" / "sandbox.yaml"
    yaml = YAML()
    document: Any = yaml.load(source.read_text())
    traffic = document["traffic"]
    traffic["steps"] = [10, 100]
    # Only the metric gates: an alarm still in ALARM from the previous breach would stop the
    # next `resume` in preflight, and the figure is about the restore, not the alarm.
    traffic["gates"]["alarms"] = False
    for section, key in (("lb_controller", "manifests"), ("app", "manifests")):
        value = document[section].get(key)
        if value and not Path(value).is_absolute():
            document[section][key] = str((source.parent / value).resolve())
    target = directory / "bench.yaml"
    with target.open("w") as handle:
        yaml.dump(document, handle)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from flexmigrate.sandbox import manage

    command = _command()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runbook = _runbook(root)
        manage.up(root / "sandbox", injects=("eks-5xx=0.5",), runbook=str(runbook))
        try:
            env = {
                **os.environ,
                **manage.environment(root / "sandbox"),
                "PYTHONPATH": str(REPO),
                "NO_COLOR": "1",
            }
            base = [*command, "--runbook", str(runbook), "--state-dir", str(root / "state")]
            for run in range(args.runs):
                verb = ["run", "all"] if run == 0 else ["resume"]
                done = subprocess.run(
                    [*base, *verb], capture_output=True, text=True, env=env, check=False
                )
                if done.returncode != 4:
                    print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
                    print(f"run {run + 1}: expected a breach (exit 4), got {done.returncode}")
                    return 1
            journal = root / "state" / "flexdesk-sandbox" / "journal.jsonl"
            events = [json.loads(line) for line in journal.read_text().splitlines() if line]
        finally:
            manage.down(root / "sandbox")
    figures = [
        float(e["seconds"])
        for e in events
        if e.get("event") == "traffic_restored" and e.get("seconds") is not None
    ]
    median = statistics.median(figures)
    verdict = "ok" if median <= BUDGET else "OVER"
    shown = ", ".join(f"{f * 1000:.0f}" for f in figures)
    print(
        f"rollback latency (breach seen → restored weights read back), interval 1 s: "
        f"median {median * 1000:.0f} ms ({shown} ms; {len(figures)} breaches), "
        f"budget {BUDGET:.0f} s  {verdict}"
    )
    return 0 if median <= BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
