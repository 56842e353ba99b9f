"""Fixtures the reliability tests share: the engine's (the command line against the moto server
and the state directory it writes), and the reference world — one uninterrupted ``run all`` of
the sandbox runbook, made once per pytest run however many workers ask for it."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import cli as cli
from tests.engine.conftest import state_dir as state_dir
from tests.reliability.rehearsal import reference_run


class Reference:
    """The reference run, made by the first test that needs it and read by the others.

    With xdist, workers share the directory above their own temporary directories (the
    pattern of pytest-xdist's "Making session-scoped fixtures execute only once"); an
    exclusive ``flock`` on a file there makes one worker run it while the others wait, and
    its result (or its failure) is written beside it for them to read. Made on first use, not
    at setup, so a worker spends its first minute on its own test's run: the reference is
    usually ready by the time the long files compare."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._value: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._value is None:
            self._root.mkdir(parents=True, exist_ok=True)
            result = self._root / "reference.json"
            with (self._root / "reference.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not result.exists():
                    try:
                        made: dict[str, Any] = reference_run(self._root / "run")
                    except Exception as exc:  # noqa: BLE001 - every worker fails with the same reason
                        made = {"error": f"{type(exc).__name__}: {exc}"}
                    result.with_suffix(".part").write_text(json.dumps(made))
                    result.with_suffix(".part").rename(result)
                self._value = json.loads(result.read_text())
        if "error" in self._value:
            pytest.fail(f"no reference world: {self._value['error']}")
        return self._value

    def world(self) -> dict[str, Any]:
        world: dict[str, Any] = self._get()["world"]
        return world

    @property
    def seconds(self) -> float:
        return float(self._get()["seconds"])

    @property
    def error_answers(self) -> int:
        return int(self._get()["error_answers"])


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    yield Reference(shared / "reliability-reference")
