"""A rehearsal of the sandbox runbook as the reliability suite drives it — its sandbox, its
canaries, the real command line at the highest verbosity, everything that command printed —
and the reference: the inventory after one uninterrupted ``run all`` in a sandbox of its own,
which every reliability test and command compares its world with."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import (
    SANDBOX_RUNBOOK,
    Sandbox,
    child_env,
    cli_argv,
    start_sandbox,
    stop_sandbox,
)
from tests.reliability.canaries import canaries
from tests.reliability.inventory import inventory

RUNBOOK_NAME = "flexdesk-sandbox"


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
            *cli_argv(),
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

    def journal(self) -> list[dict[str, Any]]:
        path = self.sandbox.state_dir / RUNBOOK_NAME / "journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def state_files(self) -> list[Path]:
        return [p for p in self.sandbox.state_dir.rglob("*") if p.is_file()]

    def aws_error_answers(self) -> int:
        """Error answers the sandbox's AWS front gave (4xx/5xx) plus connections it dropped:
        each is a retry, or a lookup of something that does not exist yet."""
        log = self.sandbox.root / "logs" / "aws-requests.jsonl"
        entries = [json.loads(line) for line in log.read_text().splitlines() if line]
        return sum(1 for e in entries if e["status"] >= 400 or e.get("dropped"))


def new_rehearsal(root: Path, *sandbox_args: str) -> Rehearsal:
    """A fresh sandbox under ``root/sandbox`` (its crash logs under ``root/tmp``)."""
    sandbox = start_sandbox(root / "sandbox", *sandbox_args)
    (root / "tmp").mkdir(mode=0o700, exist_ok=True)
    return Rehearsal(sandbox, canaries(sandbox.env))


def comparable(world: dict[str, Any]) -> dict[str, Any]:
    """An inventory as it reads back from JSON, so a stored reference compares equal."""
    value: dict[str, Any] = json.loads(json.dumps(world, sort_keys=True, default=str))
    return value


def reference_run(root: Path) -> dict[str, Any]:
    """One uninterrupted ``run all`` in a sandbox of its own: ``{"world", "seconds",
    "error_answers"}``. Raises RuntimeError when the run fails."""
    rehearsal = new_rehearsal(root)
    try:
        started = time.monotonic()
        done = rehearsal.cli("--yes", "run", "all")
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"the reference `run all` exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        return {
            "world": comparable(inventory(rehearsal.sandbox.env)),
            "seconds": seconds,
            "error_answers": rehearsal.aws_error_answers(),
        }
    finally:
        stop_sandbox(rehearsal.sandbox)
