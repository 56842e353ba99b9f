"""Fixtures for the phases' tests: sandboxes with chosen timings, runbook variants written next
to a test, the sandbox's own log of the AWS requests it answered, and the state a run left.

Helpers are handed out as fixtures (test modules here are not a package, so they do not
import this file)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import SANDBOX_RUNBOOK, Sandbox, start_sandbox, stop_sandbox

VENV_BIN = Path(sys.executable).parent
_READS = ("Describe", "List", "Get", "Head", "Simulate")
# Runbook fields that hold paths relative to the runbook file.
_PATH_FIELDS = (
    ("lb_controller", "manifests"),
    ("lb_controller", "policy_file"),
    ("lb_controller", "chart", "path"),
    ("app", "manifests"),
)

SandboxFactory = Callable[..., contextlib.AbstractContextManager[Sandbox]]


@pytest.fixture(scope="session")
def sandbox_factory(tmp_path_factory: pytest.TempPathFactory) -> SandboxFactory:
    """``with sandbox_factory("--nodegroup-seconds", "3") as sandbox:`` — a sandbox with the
    daemon flags a test needs, stopped when the block ends."""

    @contextlib.contextmanager
    def started(*daemon_args: str) -> Iterator[Sandbox]:
        sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"), *daemon_args)
        try:
            yield sandbox
        finally:
            stop_sandbox(sandbox)

    return started


@pytest.fixture(scope="session")
def runbook_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``runbook_variant({"cluster": {"version": "1.28"}}, name="old")`` — the sandbox runbook
    with those changes merged in (mappings merge, anything else replaces), written to a fresh
    directory with its relative paths made absolute."""

    def write(changes: Mapping[str, Any], name: str = "") -> Path:
        yaml = YAML()
        document = yaml.load(SANDBOX_RUNBOOK.read_text())
        _merge(document, changes)
        if name:
            document["name"] = name
        for path in _PATH_FIELDS:
            _absolute(document, path)
        target = tmp_path_factory.mktemp("runbook") / f"{document['name']}.yaml"
        with target.open("w") as handle:
            yaml.dump(document, handle)
        return target

    return write


def _merge(into: Any, changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), Mapping):
            _merge(into[key], value)
        else:
            into[key] = value


def _absolute(document: Any, path: tuple[str, ...]) -> None:
    node = document
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return
    value = node.get(path[-1])
    if isinstance(value, str) and not Path(value).is_absolute():
        node[path[-1]] = str((SANDBOX_RUNBOOK.parent / value).resolve())


@pytest.fixture(scope="session")
def tools_env() -> dict[str, str]:
    """Environment for the command line with this virtualenv's bin (helm, kubectl) on PATH,
    as a user's shell with the tools installed would have it."""
    return {"PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}


class AwsLedger:
    """The sandbox's own record of the AWS requests it answered (not the code under test's)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.path = sandbox.root / "logs" / "aws-requests.jsonl"

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def mark(self) -> int:
        return len(self.entries())

    def mutations_since(self, mark: int) -> list[str]:
        """Requests after ``mark`` that change something, as ``service:Operation``."""
        return [
            f"{e['service']}:{e['operation']}"
            for e in self.entries()[mark:]
            if not str(e.get("operation", "")).startswith(_READS)
        ]


@pytest.fixture(scope="session")
def aws_ledger() -> Callable[[Sandbox], AwsLedger]:
    return AwsLedger


@pytest.fixture(scope="session")
def read_state() -> Callable[..., dict[str, Any]]:
    """``read_state(sandbox, runbook_name)`` — the state.json a run left."""

    def read(sandbox: Sandbox, runbook_name: str = "flexdesk-sandbox") -> dict[str, Any]:
        path = sandbox.state_dir / runbook_name / "state.json"
        state: dict[str, Any] = json.loads(path.read_text())
        return state

    return read


# -- traffic shift (phase 4) ---------------------------------------------------------------------

TRAFFIC_STANDINS = Path(__file__).resolve().parent / "traffic_shift" / "standins.py"


class TrafficRig:
    """A fresh sandbox for phase 4: the command line with stand-ins for phases 1–3 (see
    ``traffic_shift/standins.py``), and what AWS and the state say afterwards."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.state_root = sandbox.state_dir / "flexdesk-sandbox"

    def cli(
        self,
        *args: str,
        runbook: Path = SANDBOX_RUNBOOK,
        env: Mapping[str, str] | None = None,
        timeout: float = 240,
    ) -> Any:
        from tests.conftest import run_cli

        return run_cli(
            ["--runbook", str(runbook), "--state-dir", str(self.sandbox.state_dir), *args],
            registry=TRAFFIC_STANDINS,
            env={**self.sandbox.env, **(env or {})},
            timeout=timeout,
            cwd=self.sandbox.root,
        )

    def prepare(self, runbook: Path = SANDBOX_RUNBOOK) -> None:
        """Phases 1–3 (the stand-ins) complete: the EKS target group is healthy, attached at 0."""
        for phase in ("cluster-foundation", "lb-controller", "app-deploy"):
            done = self.cli("run", phase, runbook=runbook)
            assert done.returncode == 0, done.stdout + done.stderr

    def elbv2(self) -> Any:
        return self.sandbox.client("elbv2")

    def actions(self) -> list[dict[str, Any]]:
        listener = self.elbv2().describe_listeners(
            ListenerArns=[str(self.world["https_listener_arn"])]
        )["Listeners"][0]
        return list(listener["DefaultActions"])

    def eks_arn(self) -> str:
        groups = self.elbv2().describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"]
        return str(groups[0]["TargetGroupArn"])

    def weights(self) -> tuple[int, int]:
        """(EC2 %, EKS %) of the HTTPS listener's forward, as AWS reports it."""
        forward = next(a for a in self.actions() if a["Type"] == "forward")
        groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}
        ]
        weights = {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
        total = sum(weights.values())
        ec2 = weights.get(str(self.world["ec2_target_group_arn"]), 0)
        eks = sum(w for arn, w in weights.items() if ":targetgroup/flexdesk-eks/" in arn)
        return round(100 * ec2 / total), round(100 * eks / total)

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.state_root / "state.json").read_text())
        return loaded

    def phase4(self) -> dict[str, Any]:
        return next(p for p in self.state()["phases"] if p["id"] == "phase-4")

    def steps(self) -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in self.phase4()["steps"]}

    def journal(self, event: str | None = None) -> list[dict[str, Any]]:
        path = self.state_root / "journal.jsonl"
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [e for e in events if event is None or e.get("event") == event]

    def listener_writes(self) -> list[dict[str, Any]]:
        """Phase 4's ModifyListener calls, from the journal (an intent is written before each)."""
        return [
            e
            for e in self.journal("call_intent")
            if e.get("operation") == "ModifyListener" and e.get("phase") == "phase-4"
        ]


@pytest.fixture
def traffic_rig(sandbox: Sandbox) -> TrafficRig:
    return TrafficRig(sandbox)


# -- app-deploy (phase 3) ---------------------------------------------------------------------


class AppDeployHarness:
    """The real command line against one sandbox, and what the tests read back from it."""

    registry: Path | None = None  # a test registry's module, or the shipped phases
    # Rollouts that cannot finish give up after this many seconds (the emulator's cap on a
    # Deployment's progressDeadlineSeconds), so the rollout-stuck tests fail fast. A gated pod
    # is Ready only once its target is healthy: 5 s leaves room for that on a busy machine.
    progress_deadline = "5"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def cli(
        self,
        *args: str,
        runbook: Path | None = SANDBOX_RUNBOOK,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 180,
    ) -> Any:
        from tests.conftest import run_cli

        prefix = ["--state-dir", str(state_dir or self.sandbox.state_dir)]
        if runbook is not None:
            prefix = ["--runbook", str(runbook), *prefix]
        return run_cli(
            [*prefix, *args],
            registry=self.registry,
            env={**self.sandbox.env, **(env or {})},
            timeout=timeout,
            cwd=self.sandbox.root,
        )

    def prepare(self, runbook: Path = SANDBOX_RUNBOOK, state_dir: Path | None = None) -> None:
        """Phases 1 and 2 done, as phase 3 expects to find the world."""
        for phase in ("cluster-foundation", "lb-controller"):
            done = self.cli("--yes", "run", phase, runbook=runbook, state_dir=state_dir)
            assert done.returncode == 0, done.stdout + done.stderr

    def secret_forms(self) -> list[str]:
        """The app's secret values as Secrets Manager holds them, in every form a leak could
        take: raw, base64 (a Secret's data), and the password inside the connection string."""
        import base64

        answer = self.sandbox.client("secretsmanager").get_secret_value(  # type: ignore[attr-defined]
            SecretId="flexdesk/production"
        )
        values: dict[str, str] = json.loads(answer["SecretString"])
        forms = list(values.values())
        forms += [base64.b64encode(v.encode()).decode() for v in values.values()]
        connection = values["DB_CONNECTION_STRING"]
        forms.append(connection.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1])
        return forms

    @staticmethod
    def assert_no_secrets(forms: list[str], texts: tuple[str, ...], dirs: tuple[Path, ...]) -> None:
        for text in texts:
            for value in forms:
                assert value not in text, "a secret value reached the output"
        for directory in dirs:
            for path in directory.rglob("*"):
                if path.is_file():
                    content = path.read_bytes().decode(errors="replace")
                    for value in forms:
                        assert value not in content, f"a secret value reached {path}"

    def kube_json(self, *args: str) -> Any:
        """``kubectl get … -o json`` against the sandbox, parsed."""
        done = self.sandbox.kubectl("get", *args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def app_deploy_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppDeployHarness]:
    """A sandbox with phases 1–2 complete (rollouts give up after 5 s, so new targets turn
    healthy in half a second: a gated pod must be Ready within the deadline), shared by a
    module whose tests build on each other's end state."""
    sandbox = start_sandbox(
        tmp_path_factory.mktemp("sandbox"),
        "--progress-deadline",
        AppDeployHarness.progress_deadline,
        "--target-healthy-seconds",
        "0.5",
    )
    try:
        harness = AppDeployHarness(sandbox)
        harness.prepare()
        yield harness
    finally:
        stop_sandbox(sandbox)
