"""The random soak in CI: `run all` SIGKILLed at 25 moments drawn from a fixed seed (printed,
so a failure replays with ``python -m tests.reliability.soak --seed S --kills 25``), resumed each
time until the migration completes, ending in the same world as the uninterrupted run (the
shared reference), with no secret value in the state or the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import stop_sandbox
from tests.reliability.conftest import Reference
from tests.reliability.rehearsal import new_rehearsal
from tests.reliability.soak import soak

pytestmark = pytest.mark.timeout(900)

KILLS = 25
SEED = 1818


def test_killed_25_times_at_random_the_migration_ends_in_the_same_world(
    reference: Reference, tmp_path: Path
) -> None:
    rehearsal = new_rehearsal(tmp_path)
    try:
        result = soak(rehearsal, KILLS, SEED, reference.world)
    finally:
        stop_sandbox(rehearsal.sandbox)
    assert result.failure == "", result.failure
    assert result.killed == KILLS, result.summary()
    assert result.differences == [], "\n".join(result.differences[:40])
    assert result.leaks == []
