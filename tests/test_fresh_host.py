"""`flexmigrate rehearse` on a host that has just booted.

``time.monotonic()`` counts from boot, so a CI runner or a VM up for a few minutes has small
values: code that compares it with a fixed starting value (a token "issued" at 0 and refreshed
after ten minutes) behaves differently there than on a workstation up for days. The whole
rehearsal — the command, the sandbox daemon it starts, helm and kubectl — runs in a Linux time
namespace whose monotonic clock starts near zero (``unshare --time``), as on a fresh host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import child_env

# The token refresh period the bug hid behind: the rehearsal must end before the namespace's
# clock passes it, or the test proves nothing.
_FRESH = 600.0


def _fresh_host_prefix() -> list[str]:
    """An argv prefix that runs a command with a monotonic clock near zero."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail(
            "unshare (util-linux) is not on PATH: this test runs the rehearsal in a time "
            "namespace to reproduce a freshly booted host; install util-linux"
        )
    uptime = Path("/proc/uptime").read_text().split()[0]
    offset = f"--monotonic=-{int(float(uptime))}"
    # As root a time namespace needs nothing else; otherwise an unprivileged user namespace
    # (where the kernel allows them) grants the capability it takes.
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    prefix = [unshare, *user, "--time", offset]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import time; print(time.monotonic())"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0 or float(probe.stdout.strip() or "inf") >= 60:
        pytest.fail(
            "cannot run a command with a monotonic clock near zero here "
            f"({' '.join(prefix)}: exit {probe.returncode}, {probe.stderr.strip()!r}, "
            f"monotonic {probe.stdout.strip()!r}); this test needs a Linux time namespace: "
            "run it as root, or where unprivileged user namespaces are allowed"
        )
    return prefix


def test_rehearse_passes_on_a_host_up_for_a_minute(tmp_path: Path) -> None:
    prefix = _fresh_host_prefix()
    report = tmp_path / "rehearsal.json"
    script = (
        "import sys, time\n"
        "sys.stderr.write(f'monotonic at start: {time.monotonic():.1f}\\n')\n"
        "from flexmigrate.cli import main\n"
        "code = main()\n"
        "sys.stderr.write(f'monotonic at end: {time.monotonic():.1f}\\n')\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            script,
            "rehearse",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=child_env({"TMPDIR": str(tmp_path)}),
        cwd=tmp_path,
        check=False,
    )
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    phases = {p["id"]: p["status"] for p in json.loads(report.read_text())["phases"]}
    assert phases == {f"phase-{n}": "completed" for n in range(1, 6)}
    # every call to the cluster was made while the clock was younger than the refresh period
    ended = float(done.stderr.split("monotonic at end: ", 1)[1].split()[0])
    assert ended < _FRESH, output
