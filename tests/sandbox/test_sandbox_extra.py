"""Without the `sandbox` extra, the sandbox commands say what to install in one line (exit 2)
and every other command, `--help` included, works as before.

The real command line runs in a child process whose imports of the extra's modules fail as
they do when the extra is not installed (a `sitecustomize` on PYTHONPATH hides them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, child_env

HIDDEN = ("moto", "werkzeug", "cryptography")
HIDE = f"""
import sys

HIDDEN = {HIDDEN!r}


class HideSandboxExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, HideSandboxExtra())
"""


@pytest.fixture
def without_extra(tmp_path: Path) -> dict[str, str]:
    """The environment of a child process in which the extra's modules cannot be imported."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HIDE)
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["TMPDIR"] = str(tmp_path)  # where a rehearsal would make its directory
    return env


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flexmigrate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_the_extra_is_really_hidden(without_extra: dict[str, str], tmp_path: Path) -> None:
    for module in HIDDEN:
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            capture_output=True,
            text=True,
            env=without_extra,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert f"No module named '{module}'" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("sandbox", "up"),
        ("sandbox", "down"),
        ("sandbox", "status"),
        ("sandbox", "inject", "eks-5xx=0.2"),
        ("rehearse",),
        ("rehearse", "--inject", "eks-5xx=0.2@25", "--keep"),
    ],
    ids=" ".join,
)
def test_sandbox_commands_name_the_extra_in_one_line(
    without_extra: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _cli(without_extra, tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "pip install 'flexmigrate[sandbox]'" in lines[0]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # nothing was created


def test_json_output_carries_the_same_message(
    without_extra: dict[str, str], tmp_path: Path
) -> None:
    done = _cli(without_extra, tmp_path, "--output", "json", "rehearse")
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["exit_code"] == 2
    assert "flexmigrate[sandbox]" in error["message"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("sandbox", "--help"),
        ("sandbox", "up", "--help"),
        ("sandbox", "inject", "--help"),
        ("rehearse", "--help"),
    ],
    ids=" ".join,
)
def test_help_works_without_the_extra(
    without_extra: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _cli(without_extra, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "Usage: flexmigrate" in done.stdout
    assert done.stderr == ""


def test_the_operators_commands_work_without_the_extra(
    without_extra: dict[str, str], tmp_path: Path
) -> None:
    done = _cli(without_extra, tmp_path, "--runbook", "flexdesk-production", "runbook", "validate")
    assert done.returncode == 0, done.stderr
    assert "valid runbook 'flexdesk-production'" in done.stdout
