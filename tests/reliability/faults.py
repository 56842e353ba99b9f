"""The whole rehearsal under faults, from one command:

    python -m tests.reliability.faults [--inject aws-throttle=0.2] [--inject SPEC ...]

Two sandboxes: `run all` uninterrupted in one (the reference inventory and wall time), and in
the other with the faults switched on from the start (several ``--inject`` act together). The
faulted world must equal the reference. Prints the retries the faults cost — the error answers
and dropped connections of the sandbox's AWS front beyond the reference run's own (its lookups
of what does not exist yet) — the faults injected per kind, and the extra wall time. Exits 1 on
a different world or a failed run. ``tests/reliability/test_faults.py`` runs ``faulted_run``
with three faults together in CI."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from tests.conftest import stop_sandbox
from tests.reliability.canaries import leaks
from tests.reliability.inventory import differences, inventory
from tests.reliability.rehearsal import Rehearsal, comparable, new_rehearsal, reference_run


@dataclass
class FaultRun:
    specs: list[str]
    returncode: int
    stderr: str
    seconds: float
    error_answers: int
    aws_drops: dict[str, int] = field(default_factory=dict)
    kube_faults: dict[str, int] = field(default_factory=dict)
    world: dict[str, Any] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    unspent: list[str] = field(default_factory=list)  # aws-lose-answer calls never made

    def summary(self, base_seconds: float, base_errors: int, diff: list[str]) -> str:
        lost = [s for s in self.specs if s.startswith("aws-lose-answer=")]
        named = [s for s in self.specs if s not in lost]
        if lost:
            named.append(f"aws-lose-answer × {len(lost)} operations")
        return (
            f"{', '.join(named)}: world equal to the reference: {not diff}; retries: "
            f"{self.error_answers - base_errors} ({self.error_answers} error answers and dropped "
            f"connections, {base_errors} without the faults); wall time {self.seconds:.0f}s vs "
            f"{base_seconds:.0f}s (+{self.seconds - base_seconds:.0f}s); AWS connections "
            f"dropped: {self.aws_drops or 0}; Kubernetes requests hit: {self.kube_faults or 0}; "
            f"secrets found: {len(self.leaks)}"
        )


def faulted_run(rehearsal: Rehearsal, specs: list[str]) -> FaultRun:
    """`run all` in ``rehearsal``'s fresh sandbox with ``specs`` switched on from the start."""
    box = rehearsal.sandbox
    box.inject(*specs)
    started = time.monotonic()
    done = rehearsal.cli("--yes", "run", "all")
    seconds = time.monotonic() - started
    status = box.status()
    box.inject(clear=True)
    run = FaultRun(
        specs,
        done.returncode,
        done.stderr,
        seconds,
        rehearsal.aws_error_answers(),
        dict(status.get("aws_drops_injected") or {}),  # type: ignore[call-overload]
        dict(status.get("kube_api_faults_injected") or {}),  # type: ignore[call-overload]
    )
    faults = status.get("faults") or {}
    run.unspent = list(faults.get("aws_lose_answer") or [])  # type: ignore[attr-defined]
    if done.returncode == 0:
        run.world = comparable(inventory(box.env))
    run.leaks = leaks(rehearsal.secrets, rehearsal.state_files(), rehearsal.outputs)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inject", action="append", default=None, metavar="SPEC")
    parser.add_argument("--dir", type=Path, help="where the sandboxes go (default: a temp dir)")
    args = parser.parse_args()
    specs = args.inject or ["aws-throttle=0.2"]
    root = args.dir or Path(mkdtemp(prefix="flexmigrate-faults-"))
    reference = reference_run(root / "reference")
    rehearsal = new_rehearsal(root / "faulted")
    try:
        run = faulted_run(rehearsal, specs)
    finally:
        stop_sandbox(rehearsal.sandbox)
    if run.returncode != 0:
        print(f"{', '.join(specs)}: run all exited {run.returncode}:\n{run.stderr[-3000:]}")
        return 1
    diff = differences(run.world, reference["world"])
    print(run.summary(reference["seconds"], reference["error_answers"], diff))
    for line in diff[:20]:
        print("  " + line)
    return 1 if diff or run.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
