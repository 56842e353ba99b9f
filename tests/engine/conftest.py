"""Fixtures for the engine's tests: the real command line with the test phases."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import MotoServer, child_env, cli_argv, run_cli

HERE = Path(__file__).resolve().parent
PHASES = HERE / "phases_for_tests.py"
RUNBOOK = HERE / "runbook.yaml"

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def cli(aws_env: dict[str, str], state_dir: Path, moto: MotoServer) -> Cli:
    """``cli("run", "storage", env={...})`` → the finished child process."""

    def invoke(
        *args: str, env: dict[str, str] | None = None, runbook: Path = RUNBOOK, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(
            ["--runbook", str(runbook), "--state-dir", str(state_dir), *args],
            registry=PHASES,
            env={**aws_env, **(env or {})},
            timeout=timeout,
        )

    return invoke


def start_holding(state_dir: Path, env: dict[str, str], hold: Path) -> subprocess.Popen[str]:
    """`run extras` in a child that holds the lock, waiting in its hold step until ``hold``
    exists; returns once the child is inside that step."""
    proc = subprocess.Popen(
        [
            *cli_argv(PHASES),
            "--runbook",
            str(RUNBOOK),
            "--state-dir",
            str(state_dir),
            "run",
            "extras",
        ],
        env=child_env({**env, "TEST_HOLD_FILE": str(hold)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = Path(str(hold) + ".started")
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc
