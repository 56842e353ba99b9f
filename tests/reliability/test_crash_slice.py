"""The CI slice of the crash matrix: SIGKILL before a step's first mutating call, right after
it returned, and in the middle of its wait, in every phase, each followed by a resume that is
itself killed, ending in the same world as the uninterrupted run (the shared reference); the
journal shows each crash and each recovery; no secret value in the state or the output.

The whole matrix (every step of every phase, each crash point) runs from
``python -m tests.reliability.matrix``; see the README's "Reliability"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import stop_sandbox
from tests.reliability.canaries import leaks
from tests.reliability.conftest import Reference
from tests.reliability.inventory import assert_same_world, inventory
from tests.reliability.rehearsal import comparable, new_rehearsal

pytestmark = pytest.mark.timeout(900)

# For each phase, a run killed before one step's first mutating call, a resume killed right
# after another step's mutating call returned, a resume killed in the middle of a third step's
# wait, then a resume that finishes. (The command, the failpoint.)
CRASH_SLICE: list[tuple[str, str]] = [
    ("run phase-1", "call-intent:phase-1/cluster@1"),
    ("resume", "call-result:phase-1/node-groups@2"),
    ("resume", "wait:phase-1/addons@1"),
    ("resume", ""),
    ("run phase-2", "call-intent:phase-2/irsa-role@1"),
    ("resume", "call-result:phase-2/controller@3"),
    ("resume", "wait:phase-2/controller-ready@1"),
    ("resume", ""),
    ("run phase-3", "call-intent:phase-3/app-secrets@1"),
    ("resume", "call-result:phase-3/apply@2"),
    ("resume", "wait:phase-3/rollout@1"),
    ("resume", ""),
    ("run phase-4", "call-intent:phase-4/shift-25@1"),
    ("resume", "call-result:phase-4/shift-50@1"),
    ("resume", "wait:phase-4/shift-100@1"),
    ("resume", ""),
    ("run phase-5", "call-intent:phase-5/deregister-ec2@1"),
    ("resume", "call-result:phase-5/stop-instance@1"),
    ("resume", "wait:phase-5/backup-ami@1"),
    ("resume", ""),
]


def test_crash_slice_every_phase_every_kind_of_point_resumes_to_the_same_world(
    reference: Reference, tmp_path: Path
) -> None:
    rehearsal = new_rehearsal(tmp_path)
    try:
        crashes = 0
        for command, failpoint in CRASH_SLICE:
            done = rehearsal.cli("--yes", *command.split(), failpoint=failpoint)
            where = f"{command} with {failpoint or 'no failpoint'}"
            if failpoint:
                assert done.returncode == -9, f"{where}: not killed\n{done.stderr[-2000:]}"
                crashes += 1
            else:
                assert done.returncode == 0, f"{where}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        print(f"crash points covered and recovered: {crashes}")
        world = comparable(inventory(rehearsal.sandbox.env))
        assert_same_world(world, reference.world(), "after the crashes")
        events = rehearsal.journal()
        # the journal shows each crash (a dead holder's lock taken over) and each recovery
        takeovers = [e for e in events if e["event"] == "lock_taken_over"]
        resumed = [e for e in events if e["event"] == "phase_resumed"]
        assert len(takeovers) == crashes, [e["event"] for e in events][-50:]
        assert len(resumed) == crashes
        found = leaks(rehearsal.secrets, rehearsal.state_files(), rehearsal.outputs)
        assert found == []
    finally:
        stop_sandbox(rehearsal.sandbox)
