"""The random soak, from one command:

    python -m tests.reliability.soak [--kills N] [--seed S]

Two sandboxes. In one, `run all` uninterrupted gives the reference inventory. In the other,
`run all` is SIGKILLed at N moments drawn from the seed (each a random delay after the
command started), resumed each time — `resume` continues the phase it stopped in, `run all`
the phases after — until the migration completes; its inventory must equal the reference.
The seed is printed first, so a failure replays with ``--seed``. Exits 1 on a different world."""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

from tests.conftest import start_sandbox, stop_sandbox
from tests.reliability.canaries import canaries, leaks
from tests.reliability.inventory import differences, inventory
from tests.reliability.test_migration_reliability import Rehearsal


def _pending(rehearsal: Rehearsal) -> str:
    """What to run next: `resume` while a phase is part-way, `run all` otherwise, "" when done."""
    path = rehearsal.sandbox.state_dir / "flexdesk-sandbox" / "state.json"
    if not path.exists():
        return "run all"
    phases = {p["id"]: p["status"] for p in json.loads(path.read_text())["phases"]}
    if any(status in ("running", "failed") for status in phases.values()):
        return "resume"
    if all(phases.get(f"phase-{n}") == "completed" for n in range(1, 6)):
        return ""
    return "run all"


def soak(kills: int, seed: int, root: Path) -> int:
    chance = random.Random(seed)
    print(f"soak seed {seed}: {kills} kills (replay: --seed {seed} --kills {kills})", flush=True)
    reference_box = start_sandbox(root / "reference")
    try:
        reference = Rehearsal(reference_box, [])
        (reference_box.root.parent / "tmp").mkdir(mode=0o700, exist_ok=True)
        done = reference.cli("--yes", "run", "all")
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        expected = inventory(reference_box.env)
    finally:
        stop_sandbox(reference_box)
    box = start_sandbox(root / "soak" / "sandbox")
    (root / "soak" / "tmp").mkdir(mode=0o700, exist_ok=True)
    rehearsal = Rehearsal(box, canaries(box.env))
    started = time.monotonic()
    killed = 0
    try:
        while killed < kills:
            command = _pending(rehearsal)
            if not command:
                print(f"the migration completed after {killed} kills, before {kills}", flush=True)
                break
            delay = chance.uniform(0.5, 4.0)
            process = subprocess.Popen(
                rehearsal.argv("--yes", *command.split()),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=rehearsal.env(),
                cwd=box.root,
            )
            try:
                out, err = process.communicate(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                out, err = process.communicate()
                killed += 1
                print(f"  kill {killed}: `{command}` after {delay:.2f}s", flush=True)
            else:
                if process.returncode != 0:
                    print(f"`{command}` exited {process.returncode}:\n{out[-2000:]}{err[-2000:]}")
                    return 1
            rehearsal.outputs += [out, err]
        while command := _pending(rehearsal):
            done = rehearsal.cli("--yes", *command.split())
            if done.returncode != 0:
                print(f"`{command}` exited {done.returncode}:\n{done.stderr[-3000:]}")
                return 1
        diff = differences(inventory(box.env), expected)
        files = [p for p in box.state_dir.rglob("*") if p.is_file()]
        found = leaks(rehearsal.secrets, files, rehearsal.outputs)
    finally:
        stop_sandbox(box)
    minutes = (time.monotonic() - started) / 60
    print(
        f"random kills survived: {killed} (seed {seed}); world equal to the reference: "
        f"{not diff}; secrets found: {len(found)}; {minutes:.1f} min"
    )
    for line in diff[:20]:
        print("  " + line)
    return 1 if diff or found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dir", type=Path, help="where the sandboxes go (default: a temp dir)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    root = args.dir or Path(mkdtemp(prefix="flexmigrate-soak-"))
    return soak(args.kills, seed, root)


if __name__ == "__main__":
    sys.exit(main())
