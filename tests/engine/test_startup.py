"""`--help` and `status` stay light: checked in a fresh interpreter's sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import child_env

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "kubernetes", "moto")
BEYOND_CLICK = (*HEAVY, "rich", "pydantic", "ruamel", "tenacity", "urllib3", "yaml")

PROBE = """
import contextlib, io, json, sys
from flexmigrate.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules(*args: str, cwd: Path) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=cwd,
        check=True,
        timeout=60,
    )
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return int(doc["code"]), list(doc["modules"])


def _loaded(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in roots]


def test_help_needs_nothing_beyond_click(tmp_path: Path) -> None:
    code, modules = _modules("--help", cwd=tmp_path)
    assert code == 0
    assert _loaded(modules, BEYOND_CLICK) == []


def test_status_imports_no_cloud_client(tmp_path: Path) -> None:
    runbook = REPO / "runbooks" / "flexdesk-production.yaml"
    code, modules = _modules("--runbook", str(runbook), "status", cwd=tmp_path)
    assert code == 0
    assert _loaded(modules, HEAVY) == []
