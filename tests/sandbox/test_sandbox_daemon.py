"""The sandbox as a user meets it: `sandbox up` / `down` from the real command line, the env
file and kubeconfig, and the seeded world seen through them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import SANDBOX_RUNBOOK, child_env, run_cli


def _daemons(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"flexmigrate.sandbox.daemon" in cmdline and str(root).encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_up_down_twice_leaves_no_process(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    for _ in range(2):
        up = run_cli(["sandbox", "up", "--dir", str(root)], timeout=90)
        assert up.returncode == 0, up.stderr
        assert "source" in up.stdout and "env" in up.stdout
        pids = _daemons(root.resolve())
        assert len(pids) == 1
        again = run_cli(["sandbox", "up", "--dir", str(root)])
        assert again.returncode == 0 and "already running" in again.stdout
        assert _daemons(root.resolve()) == pids
        shown = run_cli(["--output", "json", "sandbox", "status", "--dir", str(root)])
        assert json.loads(shown.stdout)["pid"] == pids[0]
        down = run_cli(["sandbox", "down", "--dir", str(root)])
        assert down.returncode == 0 and f"pid {pids[0]}" in down.stdout
        deadline = time.monotonic() + 10
        while _daemons(root.resolve()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _daemons(root.resolve()) == []
    assert (root / "env").exists() and (root / "logs").is_dir()  # down removes nothing else
    assert run_cli(["sandbox", "down", "--dir", str(root)]).stdout.startswith("no sandbox")


def test_up_returns_without_holding_the_callers_output(tmp_path: Path) -> None:
    """The daemon inherits no stdout/stderr: a caller reading our pipes sees them close."""
    root = tmp_path / "sb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flexmigrate", "sandbox", "up", "--dir", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        out, _ = proc.communicate(timeout=60)  # would hang if the daemon kept the pipes
        assert proc.returncode == 0 and b"sandbox up" in out
    finally:
        run_cli(["sandbox", "down", "--dir", str(root)])


def test_env_and_kubeconfig_show_the_seeded_world(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    assert run_cli(["sandbox", "up", "--dir", str(root)]).returncode == 0
    try:
        bindir = Path(sys.executable).parent
        script = (
            f"source {root / 'env'} && PATH={bindir}:$PATH && kubectl get ns && "
            'python -c \'import boto3; lbs = boto3.client("elbv2").describe_load_balancers();'
            ' print([lb["LoadBalancerName"] for lb in lbs["LoadBalancers"]])\''
        )
        env = {k: v for k, v in child_env().items() if not k.startswith(("AWS_", "KUBE"))}
        shell = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert shell.returncode == 0, shell.stderr
        assert "kube-system" in shell.stdout and "default" in shell.stdout
        assert "['flexdesk-alb']" in shell.stdout
        env_file = (root / "env").read_text()
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_DEFAULT_REGION",
            "KUBECONFIG",
            "FLEXMIGRATE_RUNBOOK",
        ):
            assert f"export {name}=" in env_file
        runtime = json.loads((root / "sandbox.json").read_text())
        assert runtime["moto"] not in env_file  # the front, never moto directly
        assert (root / "kubeconfig").stat().st_mode & 0o777 == 0o600
    finally:
        run_cli(["sandbox", "down", "--dir", str(root)])


def test_bad_fault_spec_is_invalid_input(tmp_path: Path) -> None:
    bad = run_cli(["sandbox", "up", "--dir", str(tmp_path / "sb"), "--inject", "eks-5xx=lots"])
    assert bad.returncode == 2 and "eks-5xx=lots" in bad.stderr
    assert not (tmp_path / "sb" / "sandbox.json").exists()


def test_a_daemon_killed_after_its_grace_is_reaped(tmp_path: Path) -> None:
    """`down` that runs out of patience kills the daemon and collects its exit status: no
    zombie is left behind, nor a handle that Python reports as a process still running."""
    from flexmigrate.sandbox import manage

    root = tmp_path / "sb"
    runtime, started = manage.up(root, runbook=str(SANDBOX_RUNBOOK))
    assert started
    pid = int(runtime["pid"])
    assert manage.down(root, timeout=0.0) == pid  # no grace: SIGTERM, then SIGKILL at once
    assert pid not in manage._CHILDREN
    assert not Path(f"/proc/{pid}").exists()
