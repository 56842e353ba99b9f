"""The whole rehearsal under AWS faults, from one command:

    python -m tests.reliability.faults [--inject aws-throttle=0.2]

Two sandboxes: `run all` uninterrupted in one (the reference inventory and wall time), and in
the other with the fault switched on from the start. The faulted world must equal the
reference. Prints the retries the fault cost — the error answers the sandbox's AWS front gave
beyond the reference run's own (its lookups of what does not exist yet) — and the extra wall
time. Exits 1 on a different world or a failed run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

from tests.conftest import Sandbox, start_sandbox, stop_sandbox
from tests.reliability.inventory import differences, inventory
from tests.reliability.test_migration_reliability import Rehearsal


def _run(box: Sandbox, specs: list[str]) -> tuple[float, int, dict[str, object], object]:
    (box.root.parent / "tmp").mkdir(mode=0o700, exist_ok=True)
    if specs:
        box.inject(*specs)
    rehearsal = Rehearsal(box, [])
    started = time.monotonic()
    done = rehearsal.cli("--yes", "run", "all")
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"run all exited {done.returncode}:\n{done.stderr[-3000:]}")
    hit = box.status().get("kube_api_faults_injected") or {}
    if specs:
        box.inject(clear=True)
    log = box.root / "logs" / "aws-requests.jsonl"
    errors = sum(
        1 for line in log.read_text().splitlines() if line and json.loads(line)["status"] >= 400
    )
    return seconds, errors, inventory(box.env), hit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inject", action="append", default=None, metavar="SPEC")
    parser.add_argument("--dir", type=Path, help="where the sandboxes go (default: a temp dir)")
    args = parser.parse_args()
    specs = args.inject or ["aws-throttle=0.2"]
    root = args.dir or Path(mkdtemp(prefix="flexmigrate-faults-"))
    reference_box = start_sandbox(root / "reference" / "sandbox")
    try:
        base_seconds, base_errors, expected, _ = _run(reference_box, [])
    finally:
        stop_sandbox(reference_box)
    box = start_sandbox(root / "faulted" / "sandbox")
    try:
        seconds, errors, world, hit = _run(box, specs)
    finally:
        stop_sandbox(box)
    diff = differences(world, expected)
    print(
        f"{', '.join(specs)}: world equal to the reference: {not diff}; retries: "
        f"{errors - base_errors} ({errors} error answers, {base_errors} without the fault); "
        f"wall time {seconds:.0f}s vs {base_seconds:.0f}s (+{seconds - base_seconds:.0f}s); "
        f"Kubernetes requests hit: {hit or 0}"
    )
    for line in diff[:20]:
        print("  " + line)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
