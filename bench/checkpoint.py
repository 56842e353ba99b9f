"""Checkpoint budget: one state save plus one journal event, both fsynced, for a five-phase
state — median ≤ 5 ms.

    python bench/checkpoint.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from flexmigrate.state.model import PhaseStatus, State, StepStatus
from flexmigrate.state.store import LocalStateStore

SLUGS = ["cluster-foundation", "lb-controller", "app-deploy", "traffic-shift", "decommission"]


def _five_phase_state() -> State:
    state = State(runbook="bench")
    for number, slug in enumerate(SLUGS, start=1):
        phase = state.phase(f"phase-{number}", slug)
        phase.status = PhaseStatus.COMPLETED
        for index in range(8):
            step = phase.step(f"step-{index}")
            step.status = StepStatus.COMPLETED
            step.attempts = 1
            step.outputs = {
                "arn": f"arn:aws:eks:af-south-1:123456789012:cluster/bench-{number}-{index}",
                "token:create": "0f8fad5b-d9cb-469f-a165-70867728950e",
            }
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as root:
        store = LocalStateStore(Path(root) / "bench")
        state = _five_phase_state()
        store.save(state)
        times = []
        for index in range(args.runs):
            start = time.perf_counter()
            state.phases[2].steps[index % 8].attempts += 1
            store.save(state)
            store.journal("step_completed", phase="phase-3", step=f"step-{index % 8}")
            times.append(time.perf_counter() - start)
        store.close()
        size = (Path(root) / "bench" / "state.json").stat().st_size
    median = statistics.median(times) * 1000
    p95 = sorted(times)[int(len(times) * 0.95)] * 1000
    ok = median <= 5.0
    verdict = "ok" if ok else "OVER"
    print(
        f"checkpoint (state {size} B + journal, fsynced): median {median:.2f} ms, "
        f"p95 {p95:.2f} ms, budget 5 ms  {verdict}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
