"""The random soak, from one command:

    python -m tests.reliability.soak [--kills N] [--seed S]

Two sandboxes. In one, `run all` uninterrupted gives the reference inventory. In the other,
`run all` is SIGKILLed at N moments drawn from the seed (each a random delay after the
command started), resumed each time — `resume` continues the phase it stopped in, `run all`
the phases after — until the migration completes; its inventory must equal the reference.
The seed is printed first, so a failure replays with ``--seed``. Exits 1 on a different world.
``tests/reliability/test_soak.py`` runs the same ``soak`` in CI."""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from tests.conftest import stop_sandbox
from tests.reliability.canaries import leaks
from tests.reliability.inventory import differences, inventory
from tests.reliability.rehearsal import (
    RUNBOOK_NAME,
    Rehearsal,
    comparable,
    new_rehearsal,
    reference_run,
)


@dataclass
class SoakResult:
    seed: int
    killed: int = 0
    failure: str = ""  # a command that ended other than killed or done
    differences: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    minutes: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failure or self.differences or self.leaks)

    def summary(self) -> str:
        return (
            f"random kills survived: {self.killed} (seed {self.seed}); world equal to the "
            f"reference: {not self.differences}; secrets found: {len(self.leaks)}; "
            f"{self.minutes:.1f} min"
        )


def _pending(rehearsal: Rehearsal) -> str:
    """What to run next: `resume` while a phase is part-way, `run all` otherwise, "" when done."""
    path = rehearsal.sandbox.state_dir / RUNBOOK_NAME / "state.json"
    if not path.exists():
        return "run all"
    phases = {p["id"]: p["status"] for p in json.loads(path.read_text())["phases"]}
    if any(status in ("running", "failed") for status in phases.values()):
        return "resume"
    if all(phases.get(f"phase-{n}") == "completed" for n in range(1, 6)):
        return ""
    return "run all"


def soak(
    rehearsal: Rehearsal, kills: int, seed: int, expected: Callable[[], dict[str, Any]]
) -> SoakResult:
    """Kill `run all` (or the `resume` it needs) ``kills`` times at moments drawn from
    ``seed``, finish the migration, and compare the world with ``expected()`` (asked for only
    then, so a reference made elsewhere has the soak's time to be ready)."""
    chance = random.Random(seed)  # reproducible kill moments
    result = SoakResult(seed)
    print(f"soak seed {seed}: {kills} kills (replay: --seed {seed} --kills {kills})", flush=True)
    started = time.monotonic()
    command = _pending(rehearsal)
    while result.killed < kills:
        command = _pending(rehearsal)
        if not command:
            print(f"the migration completed after {result.killed} kills, before {kills}")
            break
        # A command needs about a second to start before it changes anything; 2 s at most
        # leaves the migration unfinished after 25 kills with a margin (34 on a quiet machine
        # for seed 1818), and the slower the machine, the more kills fit.
        delay = chance.uniform(0.5, 2.0)
        process = subprocess.Popen(
            rehearsal.argv("--yes", *command.split()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=rehearsal.env(),
            cwd=rehearsal.sandbox.root,
        )
        try:
            out, err = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            out, err = process.communicate()
            result.killed += 1
            print(f"  kill {result.killed}: `{command}` after {delay:.2f}s", flush=True)
        else:
            if process.returncode != 0:
                result.failure = f"`{command}` exited {process.returncode}:\n{err[-3000:]}"
        rehearsal.outputs += [out, err]
        if result.failure:
            break
    while not result.failure and (command := _pending(rehearsal)):
        done = rehearsal.cli("--yes", *command.split())
        if done.returncode != 0:
            result.failure = f"`{command}` exited {done.returncode}:\n{done.stderr[-3000:]}"
    if not result.failure:
        world = comparable(inventory(rehearsal.sandbox.env))
        result.differences = differences(world, expected())
    result.leaks = leaks(rehearsal.secrets, rehearsal.state_files(), rehearsal.outputs)
    result.minutes = (time.monotonic() - started) / 60
    print(result.summary(), flush=True)
    if result.failure:
        print(result.failure)
    for line in result.differences[:20]:
        print("  " + line)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dir", type=Path, help="where the sandboxes go (default: a temp dir)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    root = args.dir or Path(mkdtemp(prefix="flexmigrate-soak-"))
    started = time.monotonic()
    expected = reference_run(root / "reference")["world"]
    rehearsal = new_rehearsal(root / "soak")
    try:
        result = soak(rehearsal, args.kills, seed, lambda: expected)
    finally:
        stop_sandbox(rehearsal.sandbox)
    print(f"with the reference run: {(time.monotonic() - started) / 60:.1f} min")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
