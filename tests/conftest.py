"""Shared fixtures: a moto server over HTTP with its request recorder, AWS settings for child
processes, and a runner for the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# moto's recorder reads its file location when moto is imported: set it before any import,
# and per process (parallel test workers each run their own moto server and recording).
_RECORDING = Path(tempfile.mkdtemp(prefix="flexmigrate-moto-")) / "recording.jsonl"
os.environ["MOTO_RECORDER_FILEPATH"] = str(_RECORDING)

# Each test file's seconds in a measured run (bench/suite_durations.py writes it). Workers take
# whole files (--dist loadfile) in collection order, so the longest go first: a long rehearsal
# left for last would keep one worker busy while the others sit idle.
_DURATIONS = REPO / "tests" / "durations.json"
_UNMEASURED = 10.0  # seconds assumed for a file the last measurement did not see


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    measured: dict[str, float] = json.loads(_DURATIONS.read_text()) if _DURATIONS.exists() else {}

    def seconds(item: pytest.Item) -> float:
        return measured.get(item.nodeid.split("::", 1)[0], _UNMEASURED)

    items.sort(key=seconds, reverse=True)  # stable: a file's tests keep their order


FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "af-south-1",
    "AWS_REGION": "af-south-1",
}

_READ_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Lookup",
    "Search",
    "BatchGet",
    "Query",
    "Scan",
)


@dataclass
class MotoServer:
    url: str

    def post(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    def reset(self) -> None:
        self.post("/moto-api/reset")
        self.post("/moto-api/recorder/reset-recording")

    def requests(self) -> list[dict[str, object]]:
        """Every request the server received since the last reset (from its own recorder)."""
        request = urllib.request.Request(self.url + "/moto-api/recorder/download-recording")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def mutating_requests(self) -> list[str]:
        """Operations that change something, named from the wire (target header, Action, verb)."""
        found = []
        for entry in self.requests():
            operation = _operation(entry)
            if (
                operation
                and not operation.startswith(_READ_PREFIXES)
                and operation
                not in (
                    "GetCallerIdentity",
                    "DescribeRegions",
                )
            ):
                found.append(operation)
        return found


def _operation(entry: dict[str, object]) -> str:
    headers = {str(k).lower(): str(v) for k, v in dict(entry["headers"]).items()}  # type: ignore[call-overload]
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = str(entry.get("body") or "")
    if entry.get("body_encoded"):
        import base64

        body = base64.b64decode(body).decode(errors="replace")
    for part in (str(entry["url"]).split("?", 1)[-1] + "&" + body).split("&"):
        if part.startswith("Action="):
            return part.split("=", 1)[1]
    method = str(entry["method"]).upper()
    return {"GET": "Get", "HEAD": "Head"}.get(method, method.title())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = MotoServer(f"http://{host}:{port}")
    moto.post("/moto-api/recorder/start-recording")
    yield moto
    server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    return moto_server


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL": moto.url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return env


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEXMIGRATE_", "PYTEST_"))}
    env["PYTHONPATH"] = str(REPO)
    env["NO_COLOR"] = "1"
    env.pop("FLEXMIGRATE_RUNBOOK", None)
    if extra:
        env.update(extra)
    return env


REGISTRY_CLI = REPO / "tests" / "registry_cli.py"


def cli_argv(registry: Path | None = None) -> list[str]:
    """How to start the real command line: with the shipped phases, or with the
    ``registry()`` of the test module at ``registry``."""
    if registry is None:
        return [sys.executable, "-m", "flexmigrate"]
    return [sys.executable, str(REGISTRY_CLI), str(registry)]


def run_cli(
    args: list[str],
    *,
    registry: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process (``registry`` swaps in test phases)."""
    argv = cli_argv(registry)
    return subprocess.run(
        argv + args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(env),
        cwd=cwd,
        check=False,
    )


# -- the sandbox (the same environment a user rehearses in) -----------------------------------

# A test fixture: the production runbook with rehearsal-speed times written out by hand.
SANDBOX_RUNBOOK = REPO / "tests" / "runbooks" / "sandbox.yaml"


@dataclass
class Sandbox:
    """A running sandbox daemon and ways to reach it as a user would."""

    root: Path
    env: dict[str, str]
    world: dict[str, object]
    state_dir: Path

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        runbook: Path | None = SANDBOX_RUNBOOK,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """The real command line against this sandbox (its own state directory)."""
        prefix = ["--state-dir", str(self.state_dir)]
        if runbook is not None:
            prefix = ["--runbook", str(runbook), *prefix]
        return run_cli(
            [*prefix, *args], env={**self.env, **(env or {})}, timeout=timeout, cwd=self.root
        )

    def client(self, service: str) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"mode": "standard", "max_attempts": 10}),
        )

    def kube(self) -> object:
        """An official-client ApiClient from the sandbox's kubeconfig (exec token plugin)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.env["KUBECONFIG"])

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kubectl = Path(sys.executable).parent / "kubectl"
        return subprocess.run(
            [str(kubectl), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(self.env),
            check=False,
        )

    def inject(self, *specs: str, clear: bool = False) -> None:
        from flexmigrate.sandbox import manage

        manage.inject(self.root, specs, clear)

    def status(self) -> dict[str, object]:
        from flexmigrate.sandbox import manage

        return manage.status(self.root) or {}


# A new target turns healthy after 2 s in the suite's own sandboxes, not after the 10 s (AWS's
# least: two checks 5 s apart) a rehearsal keeps: phase 3, and every rollout held by readiness
# gates, still wait for it, in a fifth of the time. A test's own flag comes later and wins.
_TARGET_HEALTHY = ("--target-healthy-seconds", "2")


def start_sandbox(root: Path, *extra: str) -> Sandbox:
    from flexmigrate.sandbox import manage

    manage.up(root, runbook=str(SANDBOX_RUNBOOK), extra_args=(*_TARGET_HEALTHY, *extra))
    env = manage.environment(root)
    world = json.loads((root / "world.json").read_text())
    return Sandbox(root=root, env=env, world=world, state_dir=root / "state")


def stop_sandbox(sandbox: Sandbox) -> None:
    from flexmigrate.sandbox import manage

    manage.down(sandbox.root)


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox for a test module whose tests build on each other's end state."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield sandbox
    stop_sandbox(sandbox)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox for one test."""
    fresh = start_sandbox(tmp_path / "sandbox")
    yield fresh
    stop_sandbox(fresh)
