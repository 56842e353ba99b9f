"""Starting, stopping and steering a sandbox daemon from the command line.

``up`` starts the daemon fully detached (new session, no inherited stdout/stderr: its output
goes to ``DIR/logs``) and returns as soon as it answers. ``down`` stops exactly the process it
started, found by the pid in ``sandbox.json`` and checked against its command line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from flexmigrate.errors import FlexmigrateError, InvalidInput
from flexmigrate.host import process_alive
from flexmigrate.sandbox.layout import SandboxFiles

_START_TIMEOUT = 60.0
# Daemons this process started: kept so they are reaped on `down` (and not reported as
# "still running" when the handle would otherwise be garbage-collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(FlexmigrateError):
    kind = "sandbox"


def _is_our_daemon(pid: int, root: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return process_alive(pid)  # no /proc: trust the pid file
    text = [part.decode(errors="replace") for part in cmdline]
    return "flexmigrate.sandbox.daemon" in text and str(root) in text


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", str(exc))
        raise InvalidInput(str(detail)) from None


def running(files: SandboxFiles) -> dict[str, Any] | None:
    """The runtime record of a live daemon in this directory, or None (a stale one is removed)."""
    runtime = files.read_runtime()
    if runtime is None:
        return None
    pid = int(runtime.get("pid", 0))
    if pid and process_alive(pid) and _is_our_daemon(pid, files.root):
        return runtime
    files.runtime.unlink(missing_ok=True)
    return None


def up(
    directory: Path,
    *,
    injects: tuple[str, ...] = (),
    runbook: str = "",
    state_dir: str = "",
    extra_args: tuple[str, ...] = (),
) -> tuple[dict[str, Any], bool]:
    """Start a sandbox in ``directory``; (runtime, started). A running one is left as is."""
    from flexmigrate.sandbox.faults import FaultSpecError, parse_specs

    try:
        parse_specs(list(injects))
    except FaultSpecError as exc:
        raise InvalidInput(f"--inject {exc}") from None
    files = SandboxFiles(directory.resolve())
    existing = running(files)
    if existing is not None:
        return existing, False
    files.logs.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "flexmigrate.sandbox.daemon", "--dir", str(files.root)]
    argv += ["--runbook", runbook]
    if state_dir:
        argv += ["--state-dir", state_dir]
    for spec in injects:
        argv += ["--inject", spec]
    argv += list(extra_args)
    log = (files.logs / "daemon.out").open("ab")
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(files.root),
        )
    finally:
        log.close()
    _CHILDREN[proc.pid] = proc
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        runtime = files.read_runtime()
        if runtime is not None and int(runtime.get("pid", 0)) == proc.pid:
            return runtime, True
        if proc.poll() is not None:
            tail = _tail(files.logs / "sandbox.log") or _tail(files.logs / "daemon.out")
            raise SandboxError(f"the sandbox failed to start (exit {proc.returncode}): {tail}")
        time.sleep(0.05)
    proc.terminate()
    raise SandboxError(
        f"the sandbox did not answer within {int(_START_TIMEOUT)}s; see {files.logs}"
    )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def down(directory: Path, timeout: float = 15.0) -> int | None:
    """Stop the daemon of ``directory``; its pid, or None if none was running."""
    files = SandboxFiles(directory.resolve())
    runtime = running(files)
    if runtime is None:
        return None
    pid = int(runtime["pid"])
    os.kill(pid, signal.SIGTERM)
    if not _gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        _gone(pid, 5.0)  # SIGKILL cannot be ignored: its exit is collected once it has ended
    files.runtime.unlink(missing_ok=True)
    return pid


def _gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``pid`` to end, collecting its exit status; whether it did."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        _reap(pid)
        if time.monotonic() >= deadline:
            return not process_alive(pid)
        time.sleep(0.02)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the daemon is our child (rehearse starts it in-process)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status(directory: Path) -> dict[str, Any] | None:
    files = SandboxFiles(directory.resolve())
    runtime = running(files)
    if runtime is None:
        return None
    detail: dict[str, Any] = _call(runtime["control"] + "/status")
    return {**runtime, **detail}


def inject(directory: Path, specs: tuple[str, ...], clear: bool) -> dict[str, Any]:
    files = SandboxFiles(directory.resolve())
    runtime = running(files)
    if runtime is None:
        raise InvalidInput(
            f"no sandbox is running in {directory}; start one with `flexmigrate sandbox up`"
        )
    result: dict[str, Any] = _call(
        runtime["control"] + "/faults", "POST", {"specs": list(specs), "clear": clear}
    )
    return result


def environment(directory: Path) -> dict[str, str]:
    """The variables of ``DIR/env`` as a dict (to run flexmigrate against the sandbox)."""
    import shlex

    files = SandboxFiles(directory.resolve())
    env: dict[str, str] = {}
    for line in files.env.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env
