"""Bad runbooks: exit 2 with file, line and field, and nothing touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MotoServer, run_cli
from tests.engine.conftest import RUNBOOK, Cli

GOOD = RUNBOOK.read_text()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


CASES = {
    "wrong type": (
        GOOD.replace("  replicas: 1\n", "  replicas: two\n", 1),
        "replicas: two",
        "storage.replicas: 'two' is not valid",
    ),
    "unknown key": (
        GOOD.replace("  bake: 5m\n", "  bakee: 5m\n", 1),
        "bakee: 5m",
        'extras.bakee: unknown key (did you mean "bake"?)',
    ),
    "bad percentage": (
        GOOD.replace("steps: [10, 25, 50, 100]", "steps: [10, 25, 150, 100]", 1),
        "steps: [10, 25, 150, 100]",
        "extras.steps[2]: 150 is not a percentage (1–100)",
    ),
    "missing section": (
        GOOD.split("\nstorage:\n")[0] + "\nextras:\n" + GOOD.split("\nextras:\n", 1)[1],
        None,
        "storage: required section is missing",
    ),
    "unknown section": (
        GOOD + "\ncluster:\n  name: x\n",
        "cluster:",
        "cluster: unknown key",
    ),
    "bad duration": (
        GOOD.replace("  bake: 5m\n", "  bake: soon\n", 1),
        "bake: soon",
        "extras.bake: 'soon' is not a duration (use 30s, 5m, 24h, 7d)",
    ),
    "not yaml": ("name: [unclosed\n  aws: {\n", None, "not valid YAML"),
    "not a mapping": ("just some words\n", None, "a runbook is a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_runbook_exits_2_with_file_line_field(
    case: str, cli: Cli, tmp_path: Path, state_dir: Path, moto: MotoServer
) -> None:
    text, needle, message = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for args in (("runbook", "validate"), ("run", "all"), ("plan",), ("resume",)):
        done = cli(*args, runbook=path)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, done.stderr
        assert str(path) in done.stderr
        if needle:
            assert f"{path}:{_line_of(text, needle)} " in done.stderr
    assert not state_dir.exists()
    assert moto.mutating_requests() == []


def test_runbook_validate_json(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(CASES["bad percentage"][0])
    done = cli("--output", "json", "runbook", "validate", runbook=path)
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert doc["valid"] is False
    assert any("150 is not a percentage" in p for p in doc["problems"])


def test_shipped_production_runbook_is_valid(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    done = run_cli(["runbook", "validate", str(repo / "runbooks" / "flexdesk-production.yaml")])
    assert done.returncode == 0, done.stderr
    assert "valid runbook 'flexdesk-production'" in done.stdout
    schema = run_cli(["runbook", "schema"])
    assert schema.returncode == 0
    doc = json.loads(schema.stdout)
    assert doc["title"] == "flexmigrate runbook"
    assert "traffic" in doc["properties"]
