"""Damaged state: state.json truncated, bit-flipped, empty, of a newer schema or of another
migration; a journal with a torn or garbage line; a full disk or an I/O error while a
checkpoint is written; a state directory that is a symlink or writable by its group. Each
time the previous good state survives, the message says how to recover, and the recovery is
carried out: `state restore`, and — when state.json and its backup are both lost —
`state rebuild` from the journal's checkpoints. Runs with the engine's test phases against
the moto server, at the highest verbosity."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engine.conftest import Cli
from tests.engine.test_run_and_resume import BUCKETS, QUEUES, TABLES, world

# both test phases done: phase-2 adds its audit table
COMPLETE = {"tables": sorted([*TABLES, "enginetest-audit"]), "buckets": BUCKETS, "queues": QUEUES}


def _root(state_dir: Path) -> Path:
    return state_dir / "enginetest"


def _status(cli: Cli) -> list[tuple[str, str, list[str]]]:
    shown = cli("-vv", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    return [
        (p["id"], p["status"], [s["status"] for s in p["steps"]])
        for p in json.loads(shown.stdout)["phases"]
    ]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bit_flipped(data: bytes) -> bytes:
    # a brace in the middle turned into another byte: no longer JSON
    index = data.index(b"{", len(data) // 2)
    return data[:index] + bytes([data[index] ^ 0x04]) + data[index + 1 :]


def _empty(_: bytes) -> bytes:
    return b""


def _newer_schema(data: bytes) -> bytes:
    document = json.loads(data)
    document["schema_version"] = 99
    return json.dumps(document).encode()


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (_truncated, "state restore"),
    "bit-flipped": (_bit_flipped, "state restore"),
    "empty": (_empty, "state restore"),
    "newer schema": (_newer_schema, "upgrade flexmigrate"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_state_is_refused_kept_and_restored(
    cli: Cli, state_dir: Path, damage: str
) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    path = _root(state_dir) / "state.json"
    change, advice = DAMAGE[damage]
    damaged = change(path.read_bytes())
    path.write_bytes(damaged)
    backup = (_root(state_dir) / "state.json.bak").read_bytes()
    for args in (("run", "extras"), ("resume",), ("--yes", "rollback")):
        refused = cli("-vv", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert advice in refused.stderr and "Traceback" not in refused.stderr
        assert path.read_bytes() == damaged
        assert (_root(state_dir) / "state.json.bak").read_bytes() == backup
    restored = cli("-vv", "state", "restore")
    assert restored.returncode == 0, restored.stderr
    assert cli("-vv", "resume").returncode == 0
    assert cli("-vv", "run", "extras").returncode == 0
    assert world() == COMPLETE


def test_both_state_files_lost_the_journal_rebuilds_the_state(cli: Cli, state_dir: Path) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    killed = cli(
        "-vv", "run", "extras", env={"FLEXMIGRATE_FAILPOINT": "applied:phase-2/create-audit"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = _status(cli)
    expected = json.loads((_root(state_dir) / "state.json").read_text())
    for name in ("state.json", "state.json.bak"):
        (_root(state_dir) / name).unlink()
    refused = cli("-vv", "resume")
    assert refused.returncode == 2 and "state rebuild" in refused.stderr, refused.stderr
    rebuilt = cli("-vv", "state", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt" in rebuilt.stdout
    assert _status(cli) == before
    document = json.loads((_root(state_dir) / "state.json").read_text())
    for key in ("lineage", "serial", "runbook"):
        assert document[key] == expected[key]
    assert [p["steps"] for p in document["phases"]] == [p["steps"] for p in expected["phases"]]
    assert (_root(state_dir) / "state.json").stat().st_mode & 0o777 == 0o600
    # a state that reads fine is not rebuilt over
    again = cli("-vv", "state", "rebuild")
    assert again.returncode == 2 and "reads fine" in again.stderr
    assert cli("-vv", "resume").returncode == 0
    assert cli("-vv", "run", "extras").returncode == 0
    assert world() == COMPLETE


def test_a_state_of_another_migration_is_refused_and_rebuilt(cli: Cli, state_dir: Path) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    # the same runbook's state from another migration (another lineage) put in its place
    ours = _root(state_dir) / "state.json"
    expected = json.loads(ours.read_text())
    foreign = dict(expected, lineage="00000000-0000-4000-8000-000000000000")
    ours.write_text(json.dumps(foreign))
    refused = cli("-vv", "run", "extras")
    assert refused.returncode == 2
    assert "another migration" in refused.stderr and "state rebuild" in refused.stderr
    assert json.loads(ours.read_text())["lineage"] == foreign["lineage"]
    assert cli("-vv", "state", "rebuild").returncode == 0
    assert json.loads(ours.read_text())["lineage"] == expected["lineage"]
    assert list(_root(state_dir).glob("state.json.damaged-*"))
    assert cli("-vv", "run", "extras").returncode == 0
    assert world() == COMPLETE


@pytest.mark.parametrize("garbage", ["torn", "binary", "not an object"])
def test_a_journal_with_a_torn_or_garbage_line_is_read_past(
    cli: Cli, state_dir: Path, garbage: str
) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    journal = _root(state_dir) / "journal.jsonl"
    line = {
        "torn": b'{"ts": "2026-11-27T1',
        "binary": b"\x00\xff\xfe garbage \x07\n",
        "not an object": b"[1, 2, 3]\n",
    }[garbage]
    with journal.open("ab") as handle:
        handle.write(line)
    assert cli("-vv", "run", "extras").returncode == 0
    history = cli("-vv", "history", "--json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)[-1]["event"] == "phase_completed"
    assert cli("-vv", "history").returncode == 0
    assert world() == COMPLETE


@pytest.mark.parametrize("error", ["enospc", "eio"])
def test_a_full_disk_or_io_error_during_a_checkpoint_keeps_the_previous_one(
    cli: Cli, state_dir: Path, error: str
) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    path = _root(state_dir) / "state.json"
    good = path.read_bytes()
    failed = cli(
        "-vv", "run", "extras", env={"FLEXMIGRATE_FAILPOINT": f"write:state.json@3={error}"}
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "still there" in failed.stderr and "flexmigrate resume" in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    assert json.loads(path.read_bytes())["serial"] == json.loads(good)["serial"] + 2
    assert not list(_root(state_dir).glob(".*.tmp"))
    resumed = cli("-vv", "resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert world() == COMPLETE


def test_a_symlinked_or_group_writable_state_directory_is_refused(
    cli: Cli, state_dir: Path, tmp_path: Path
) -> None:
    assert cli("-vv", "run", "storage").returncode == 0
    root = _root(state_dir)
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    root.chmod(0o770)
    refused = cli("-vv", "run", "extras")
    assert refused.returncode == 2 and "chmod 700" in refused.stderr, refused.stderr
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before
    root.chmod(0o700)
    elsewhere = tmp_path / "elsewhere"
    root.rename(elsewhere)
    root.symlink_to(elsewhere)
    refused = cli("-vv", "run", "extras")
    assert refused.returncode == 2 and "symbolic link" in refused.stderr, refused.stderr
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before
    root.unlink()
    elsewhere.rename(root)
    assert cli("-vv", "run", "extras").returncode == 0
    assert world() == COMPLETE
