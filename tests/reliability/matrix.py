"""The whole crash matrix, from one command:

    python -m tests.reliability.matrix [--phase phase-N ...] [--keep]

For every phase, one sandbox: the phases before it are run, the phase itself is run once
uninterrupted and its inventory kept as the reference, then rolled back. Then, for every step
of the phase and every kind of crash point — SIGKILL before the step's first mutating call
(``call-intent``), right after it returned (``call-result``), in the middle of its wait
(``wait``) — the phase is run with that point armed, resumed (the first point of each phase
also crashes its resume once more), resumed to the end, compared with the reference, and
rolled back for the next point. A point a step never reaches (a step with no mutating call or
no wait) is listed as such, not counted. Prints every point and the totals; exits 1 if any
point did not recover to the reference world.

moto cannot snapshot its state, so a phase's points share its sandbox: crash → resume →
compare → rollback → next."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from tests.conftest import start_sandbox, stop_sandbox
from tests.reliability.canaries import canaries
from tests.reliability.inventory import differences, inventory
from tests.reliability.rehearsal import Rehearsal

KINDS = ("call-intent", "call-result", "wait")
PHASES = [f"phase-{n}" for n in range(1, 6)]


def _steps(rehearsal: Rehearsal, phase: str) -> list[str]:
    state = json.loads(
        (rehearsal.sandbox.state_dir / "flexdesk-sandbox" / "state.json").read_text()
    )
    found = next(p for p in state["phases"] if p["id"] == phase)
    return [s["id"] for s in found["steps"]]


def _must(rehearsal: Rehearsal, *args: str, failpoint: str = "") -> int:
    done = rehearsal.cli("--yes", *args, failpoint=failpoint)
    if done.returncode not in (0, -9):
        raise SystemExit(
            f"`{' '.join(args)}` ({failpoint or 'no failpoint'}) exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.returncode


def run_phase(phase: str, root: Path) -> dict[str, Any]:
    sandbox = start_sandbox(root / "sandbox")
    (root / "tmp").mkdir(mode=0o700, exist_ok=True)
    rehearsal = Rehearsal(sandbox, canaries(sandbox.env))
    results: dict[str, Any] = {"phase": phase, "points": [], "unreached": [], "failed": []}
    try:
        for earlier in PHASES[: PHASES.index(phase)]:
            if _must(rehearsal, "run", earlier) != 0:
                raise SystemExit(f"{earlier} was killed without a failpoint")
        _must(rehearsal, "run", phase)
        reference = inventory(sandbox.env)
        steps = _steps(rehearsal, phase)
        _must(rehearsal, "rollback", phase)
        first = True
        for step in steps:
            for kind in KINDS:
                point = f"{kind}:{phase}/{step}@1"
                started = time.monotonic()
                code = _must(rehearsal, "run", phase, failpoint=point)
                if code == 0:
                    results["unreached"].append(point)
                    print(f"  {point:<60} not reached by this step", flush=True)
                    _must(rehearsal, "rollback", phase)
                    continue
                if first:
                    # a second crash, during the resume: the next step's first mutating call
                    again = (
                        f"call-intent:{phase}/{steps[min(steps.index(step) + 1, len(steps) - 1)]}@1"
                    )
                    _must(rehearsal, "resume", failpoint=again)
                    first = False
                if _must(rehearsal, "resume") != 0:
                    raise SystemExit(f"{point}: the resume was killed without a failpoint")
                diff = differences(inventory(sandbox.env), reference)
                seconds = time.monotonic() - started
                if diff:
                    results["failed"].append({"point": point, "differences": diff[:20]})
                    print(f"  {point:<60} DIFFERENT WORLD: {diff[:3]}", flush=True)
                else:
                    results["points"].append(point)
                    print(f"  {point:<60} recovered ({seconds:.0f}s)", flush=True)
                _must(rehearsal, "rollback", phase)
    finally:
        stop_sandbox(sandbox)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", action="append", choices=PHASES, help="only these phases")
    parser.add_argument("--dir", type=Path, help="where the sandboxes go (default: a temp dir)")
    args = parser.parse_args()
    root = args.dir or Path(mkdtemp(prefix="flexmigrate-matrix-"))
    started = time.monotonic()
    totals = {"covered": 0, "unreached": 0, "failed": 0}
    for phase in args.phase or PHASES:
        print(f"{phase}:", flush=True)
        found = run_phase(phase, root / phase)
        totals["covered"] += len(found["points"])
        totals["unreached"] += len(found["unreached"])
        totals["failed"] += len(found["failed"])
    minutes = (time.monotonic() - started) / 60
    print(
        f"crash points covered and recovered: {totals['covered']}; failed: {totals['failed']}; "
        f"not reached by their step: {totals['unreached']}; {minutes:.1f} min"
    )
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
