"""Eight `run all` processes started together on one runbook: one proceeds, seven are refused
naming it, and the world ends as one uninterrupted run's (the shared reference). Then no secret
value anywhere the operator's files or terminal go — state, reports, crash logs, output, failures
and validation errors included — and owner-only files. Every command runs at the highest
verbosity.

The other reliability runs have files of their own, so test workers take them side by side:
``test_crash_slice.py``, ``test_soak.py``, ``test_faults.py``; the whole crash matrix runs from
``python -m tests.reliability.matrix``; see the README's "Reliability"."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import stop_sandbox
from tests.reliability.canaries import leaks
from tests.reliability.conftest import Reference
from tests.reliability.inventory import assert_same_world, inventory
from tests.reliability.rehearsal import Rehearsal, comparable, new_rehearsal

pytestmark = pytest.mark.timeout(600)


@dataclass
class Concurrent:
    rehearsal: Rehearsal
    results: list[tuple[int, int, str, str]]  # (pid, exit code, stdout, stderr)
    seconds: float
    world: dict[str, Any]


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Concurrent]:
    """Eight `run all` processes started together on one runbook against one sandbox."""
    rehearsal = new_rehearsal(tmp_path_factory.mktemp("concurrent"))
    reports = rehearsal.sandbox.root / "reports"
    reports.mkdir()
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            rehearsal.argv("--yes", "run", "all", "--report", str(reports / f"run-{n}.json")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=rehearsal.env(),
            cwd=rehearsal.sandbox.root,
        )
        for n in range(8)
    ]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=600)
            results.append((process.pid, process.returncode, out, err))
            rehearsal.outputs += [out, err]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    seconds = time.monotonic() - started
    rehearsal.extra_files += sorted(reports.iterdir())
    world = comparable(inventory(rehearsal.sandbox.env))
    yield Concurrent(rehearsal, results, seconds, world)
    stop_sandbox(rehearsal.sandbox)


def test_eight_runs_together_one_proceeds_seven_are_refused_naming_it(
    concurrent: Concurrent, reference: Reference
) -> None:
    codes = sorted(code for _, code, _, _ in concurrent.results)
    winners = [r for r in concurrent.results if r[1] == 0]
    detail = "\n".join(f"pid {p} exit {c}: {e[-600:]}" for p, c, _, e in concurrent.results)
    assert codes == [0] + [5] * 7, detail
    winner = winners[0][0]
    for _, code, _, err in concurrent.results:
        if code == 5:
            assert f"pid {winner} " in err, err
            assert "Traceback" not in err
    # one run's work in the journal: each phase started and completed once
    events = concurrent.rehearsal.journal()
    started = [e["phase"] for e in events if e["event"] == "phase_started"]
    assert started == [f"phase-{n}" for n in range(1, 6)]
    assert [r.name for r in concurrent.rehearsal.extra_files] == [
        f"run-{n}.json" for n in range(8) if concurrent.results[n][1] == 0
    ]
    # and one run's world: the uninterrupted run's, in a sandbox of its own
    assert_same_world(concurrent.world, reference.world(), "after eight runs together")


def test_no_secret_reaches_state_reports_logs_or_output_and_files_are_owner_only(
    concurrent: Concurrent,
) -> None:
    rehearsal = concurrent.rehearsal
    # more of what an operator runs, failures and validation errors included
    for args in (
        ["status", "--live"],
        ["history"],
        ["plan", "all"],
        ["report", str(rehearsal.sandbox.root / "reports" / "after.html")],
        ["run", "phase-9"],
        ["shift-traffic", "--percent", "150"],
        ["--output", "json", "status"],
    ):
        rehearsal.cli(*args)
    rehearsal.extra_files += sorted((rehearsal.sandbox.root / "reports").iterdir())
    state_dir = rehearsal.sandbox.state_dir
    files = rehearsal.state_files()
    crash_logs = sorted(rehearsal.tmp.rglob("crash-*.log")) + sorted(state_dir.rglob("crash-*"))
    assert len(rehearsal.secrets) >= 3
    found = leaks(rehearsal.secrets, files + crash_logs + rehearsal.extra_files, rehearsal.outputs)
    assert found == [], found
    # owner-only: the state directory, what is under it, crash logs, the sandbox's env file
    for path in [state_dir, *state_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    for path in [*crash_logs, rehearsal.sandbox.root / "env"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
