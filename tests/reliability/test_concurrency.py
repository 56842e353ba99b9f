"""The whole migration, proven by what the world ends up as: eight runs started together on one
runbook (one proceeds, seven are refused naming it), no secret value anywhere the operator's
files or terminal go, owner-only files, and the CI slice of the crash matrix — SIGKILL before a
step's first mutating call, right after it, and in the middle of its wait, in every phase,
each followed by a resume that is itself killed — ending in the same inventory as the
uninterrupted rehearsal. Every command runs at the highest verbosity.

The whole matrix (every step of every phase, each crash point) runs from
``python -m tests.reliability.matrix``; see the README's "Reliability"."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SANDBOX_RUNBOOK, Sandbox, child_env, start_sandbox, stop_sandbox
from tests.reliability.canaries import canaries, leaks
from tests.reliability.inventory import assert_same_world, inventory

# The CI slice: for each phase, a run killed before one step's first mutating call, a resume
# killed right after another step's mutating call returned, a resume killed in the middle of
# a third step's wait, then a resume that finishes. (The command, the failpoint.)
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


@dataclass
class Rehearsal:
    """One sandbox, its canaries, and everything its commands printed."""

    sandbox: Sandbox
    secrets: list[str]
    outputs: list[str] = field(default_factory=list)
    extra_files: list[Path] = field(default_factory=list)

    @property
    def tmp(self) -> Path:
        return self.sandbox.root.parent / "tmp"

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "flexmigrate",
            "--runbook",
            str(SANDBOX_RUNBOOK),
            "--state-dir",
            str(self.sandbox.state_dir),
            "-vv",
            *args,
        ]

    def env(self, failpoint: str = "") -> dict[str, str]:
        extra = {**self.sandbox.env, "TMPDIR": str(self.tmp)}
        if failpoint:
            extra["FLEXMIGRATE_FAILPOINT"] = failpoint
        return child_env(extra)

    def cli(self, *args: str, failpoint: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env(failpoint),
            cwd=self.sandbox.root,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        return done


def _rehearsal(root: Path) -> Rehearsal:
    sandbox = start_sandbox(root / "sandbox")
    (root / "tmp").mkdir(mode=0o700)
    return Rehearsal(sandbox, canaries(sandbox.env))


@dataclass
class Concurrent:
    rehearsal: Rehearsal
    results: list[tuple[int, int, str, str]]  # (pid, exit code, stdout, stderr)
    seconds: float
    world: dict[str, Any]


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Concurrent]:
    """Eight `run all` processes started together on one runbook against one sandbox."""
    rehearsal = _rehearsal(tmp_path_factory.mktemp("concurrent"))
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
    yield Concurrent(rehearsal, results, seconds, inventory(rehearsal.sandbox.env))
    stop_sandbox(rehearsal.sandbox)


def test_eight_runs_together_one_proceeds_seven_are_refused_naming_it(
    concurrent: Concurrent,
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
    events = [
        json.loads(line)
        for line in (concurrent.rehearsal.sandbox.state_dir / "flexdesk-sandbox" / "journal.jsonl")
        .read_text()
        .splitlines()
        if line.strip()
    ]
    started = [e["phase"] for e in events if e["event"] == "phase_started"]
    assert started == [f"phase-{n}" for n in range(1, 6)]
    assert [r.name for r in concurrent.rehearsal.extra_files] == [
        f"run-{n}.json" for n in range(8) if concurrent.results[n][1] == 0
    ]


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
    files = [p for p in state_dir.rglob("*") if p.is_file()]
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


def test_crash_slice_every_phase_every_kind_of_point_resumes_to_the_same_world(
    concurrent: Concurrent, tmp_path: Path
) -> None:
    rehearsal = _rehearsal(tmp_path)
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
        assert_same_world(inventory(rehearsal.sandbox.env), concurrent.world, "after the crashes")
        events = [
            json.loads(line)
            for line in (rehearsal.sandbox.state_dir / "flexdesk-sandbox" / "journal.jsonl")
            .read_text()
            .splitlines()
            if line.strip()
        ]
        # the journal shows each crash (a dead holder's lock taken over) and each recovery
        takeovers = [e for e in events if e["event"] == "lock_taken_over"]
        resumed = [e for e in events if e["event"] == "phase_resumed"]
        assert len(takeovers) == crashes, [e["event"] for e in events][-50:]
        assert len(resumed) == crashes
        found = leaks(
            rehearsal.secrets,
            [p for p in rehearsal.sandbox.state_dir.rglob("*") if p.is_file()],
            rehearsal.outputs,
        )
        assert found == []
    finally:
        stop_sandbox(rehearsal.sandbox)
    os.environ.pop("FLEXMIGRATE_FAILPOINT", None)
