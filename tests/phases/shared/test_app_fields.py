"""No team's names by default: what only the runbook can say (the app's port, its health-check
path, the load balancer, the secret's name) is required, and what the manifests determine (the
Deployment, its container, the Service, the namespace) comes from the rendered overlay — when
it has exactly one candidate. Otherwise the runbook is refused with the field and its line,
exit 2, before anything is read or written."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, MotoServer, run_cli

PRODUCTION = REPO / "runbooks" / "flexdesk-production.yaml"
NAMES = ("namespace", "deployment", "container", "service")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def _cli(
    runbook: Path, state_dir: Path, aws_env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        ["--runbook", str(runbook), "--state-dir", str(state_dir), *args],
        env=aws_env,
        cwd=runbook.parent,
    )


def _production(tmp_path: Path, manifests: Path | None = None) -> str:
    """The shipped runbook, its manifests path made absolute (or ``manifests``)."""
    text = PRODUCTION.read_text()
    target = manifests or REPO / "runbooks" / "flexdesk" / "k8s"
    return text.replace("manifests: flexdesk/k8s", f"manifests: {target}")


def _without(text: str, *prefixes: str) -> str:
    kept = [line for line in text.splitlines() if not line.startswith(prefixes)]
    assert len(kept) == len(text.splitlines()) - len(prefixes), prefixes
    return "\n".join(kept) + "\n"


# field → (its line to remove, the line an error points at: its section's)
REQUIRED = {
    "app.port": ("  port: 8000", "app:"),
    "app.target_group.health_check_path": ("    health_check_path:", "  target_group:"),
    "traffic.load_balancer": ("  load_balancer:", "traffic:"),
    "app.secret.name": ("    name: flexdesk-secrets", "  secret:"),
}


@pytest.mark.parametrize("field", sorted(REQUIRED))
def test_a_field_only_the_runbook_can_say_is_required(
    field: str, tmp_path: Path, aws_env: dict[str, str], moto: MotoServer
) -> None:
    line, parent = REQUIRED[field]
    text = _without(_production(tmp_path), line)
    runbook = tmp_path / "other-team.yaml"
    runbook.write_text(text)
    state_dir = tmp_path / "state"
    for args in (("runbook", "validate"), ("plan", "all"), ("run", "all")):
        done = _cli(runbook, state_dir, aws_env, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        where = f"{runbook.name}:{_line_of(text, parent)} {field}: required field is missing"
        assert where in done.stderr, done.stderr
    assert not state_dir.exists()
    assert moto.requests() == []


def test_all_four_missing_are_reported_at_once(tmp_path: Path, aws_env: dict[str, str]) -> None:
    lines = [line for line, _ in REQUIRED.values()]
    runbook = tmp_path / "other-team.yaml"
    runbook.write_text(_without(_production(tmp_path), *lines))
    done = _cli(runbook, tmp_path / "state", aws_env, "--output", "json", "runbook", "validate")
    assert done.returncode == 2
    problems = json.loads(done.stdout)["problems"]
    assert [re.sub(r"^\S+ ", "", p).split(":")[0] for p in problems] == [
        "app.port",
        "app.secret.name",
        "app.target_group.health_check_path",
        "traffic.load_balancer",
    ]
    # what to write is said, not only that something is missing
    assert "e.g. /health" in problems[2]


def _tree(root: Path, *, deployments: int = 1, containers: int = 1, services: int = 1) -> Path:
    """A kustomize root of another app, "ledger", with the counts asked for."""
    base = root / "base"
    base.mkdir(parents=True)
    resources = []
    for d in range(deployments):
        name = "ledger-api" if d == 0 else f"ledger-worker-{d}"
        spec_containers = [
            {"name": "api" if c == 0 else f"sidecar-{c}", "image": "example/ledger:1"}
            for c in range(containers)
        ]
        labels = {"app": name}
        document = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": spec_containers},
                },
            },
        }
        (base / f"{name}.yaml").write_text(json.dumps(document))
        resources.append(f"{name}.yaml")
    for s in range(services):
        name = "ledger-http" if s == 0 else f"ledger-metrics-{s}"
        document = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": {"app": "ledger-api"},
                "ports": [{"port": 80, "targetPort": 9090}],
            },
        }
        (base / f"{name}.yaml").write_text(json.dumps(document))
        resources.append(f"{name}.yaml")
    (base / "kustomization.yaml").write_text(json.dumps({"resources": resources}))
    overlay = root / "overlays" / "production"
    overlay.mkdir(parents=True)
    kustomization = {"namespace": "ledger", "resources": ["../../base"]}
    (overlay / "kustomization.yaml").write_text(json.dumps(kustomization))
    return root


def _ledger(tmp_path: Path, manifests: Path, *, keep: tuple[str, ...] = ()) -> Path:
    """The production runbook for the ledger app, leaving out the names not in ``keep``."""
    text = _production(tmp_path, manifests).replace("  port: 8000", "  port: 9090")
    dropped = [f"  {name}:" for name in NAMES if name not in keep]
    runbook = tmp_path / "ledger.yaml"
    runbook.write_text(_without(text, *dropped))
    return runbook


def test_names_the_runbook_leaves_out_come_from_the_overlay(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    runbook = _ledger(tmp_path, _tree(tmp_path / "k8s"))
    done = _cli(runbook, tmp_path / "state", aws_env, "runbook", "validate")
    assert done.returncode == 0, done.stderr
    assert "app.deployment: ledger-api (derived: the only Deployment in the overlay" in done.stdout
    assert "app.container: api (derived: the only container of Deployment ledger-api" in done.stdout
    assert "app.service: ledger-http (derived: the only Service selecting the pods" in done.stdout
    assert "app.namespace: ledger (derived: the only namespace in the overlay" in done.stdout
    assert "flexdesk-backend" not in done.stdout
    shown = _cli(runbook, tmp_path / "state", aws_env, "--output", "json", "runbook", "validate")
    derived = json.loads(shown.stdout)["derived"]
    assert [note.split(":")[0] for note in derived] == [f"app.{n}" for n in NAMES[1:] + NAMES[:1]]


AMBIGUOUS = {
    "deployment": ({"deployments": 2}, "2 Deployments (ledger-api, ledger-worker-1)"),
    "container": ({"containers": 2}, "2 containers in Deployment ledger-api (api, sidecar-1)"),
    "service": (
        {"services": 2},
        "2 Services selecting the pods of Deployment ledger-api (ledger-http, ledger-metrics-1)",
    ),
}


@pytest.mark.parametrize("field", sorted(AMBIGUOUS))
def test_an_ambiguous_overlay_makes_the_field_required(
    field: str, tmp_path: Path, aws_env: dict[str, str], moto: MotoServer
) -> None:
    counts, candidates = AMBIGUOUS[field]
    manifests = _tree(tmp_path / "k8s", **counts)
    runbook = _ledger(tmp_path, manifests)
    text = runbook.read_text()
    state_dir = tmp_path / "state"
    for args in (("runbook", "validate"), ("run", "all")):
        done = _cli(runbook, state_dir, aws_env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"{runbook.name}:{_line_of(text, 'app:')} app.{field}: not given, and" in (
            done.stderr
        )
        assert candidates in done.stderr, done.stderr
        assert f"name the app's in the runbook, e.g. {field}: " in done.stderr
    assert not state_dir.exists()
    assert moto.requests() == []
    # naming it is enough: the rest is still derived
    named = {"deployment": "ledger-api", "container": "api", "service": "ledger-http"}[field]
    text = text.replace("  port: 9090", f"  port: 9090\n  {field}: {named}")
    runbook.write_text(text)
    done = _cli(runbook, state_dir, aws_env, "runbook", "validate")
    assert done.returncode == 0, done.stderr
    assert f"app.{field}:" not in done.stdout


def test_an_overlay_that_sets_no_namespace_needs_it_named(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    manifests = _tree(tmp_path / "k8s")
    (manifests / "overlays" / "production" / "kustomization.yaml").write_text(
        json.dumps({"resources": ["../../base"]})
    )
    runbook = _ledger(tmp_path, manifests)
    done = _cli(runbook, tmp_path / "state", aws_env, "runbook", "validate")
    assert done.returncode == 2
    assert "app.namespace: not given, and the overlay" in done.stderr
    assert "sets no namespace: name it in the runbook" in done.stderr


def test_an_overlay_that_cannot_render_is_reported_once(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    runbook = _ledger(tmp_path, tmp_path / "no-such-k8s")
    done = _cli(runbook, tmp_path / "state", aws_env, "runbook", "validate")
    assert done.returncode == 2
    assert "app.deployment: not given, and it cannot be derived (nor app.container" in done.stderr
    assert "is not a directory" in done.stderr
    assert done.stderr.count("cannot be derived") == 1


def test_a_runbook_that_names_everything_renders_nothing_to_load(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """Phase 1 needs no kubectl: a runbook naming its app's objects loads without rendering."""
    text = _production(tmp_path, tmp_path / "not-rendered")
    runbook = tmp_path / "explicit.yaml"
    runbook.write_text(text)
    done = _cli(runbook, tmp_path / "state", aws_env, "runbook", "validate")
    assert done.returncode == 0, done.stderr
    assert "derived" not in done.stdout


def test_the_command_line_speaks_of_the_backend_not_of_one_team() -> None:
    """Flexdesk is the shipped example runbook, named as such; no help text is about it."""
    import click
    from click.testing import CliRunner

    from flexmigrate.cli import cli

    def commands(group: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        found = [path]
        if isinstance(group, click.Group):
            for name, command in group.commands.items():
                found += commands(command, (*path, name))
        return found

    runner = CliRunner()
    top = runner.invoke(cli, ["--help"], terminal_width=200)
    assert top.exit_code == 0 and "backend" in top.output
    assert "flexdesk" not in top.output.lower()
    for path in commands(cli):
        shown = runner.invoke(cli, [*path, "--help"], terminal_width=200)
        assert shown.exit_code == 0, path
        text = shown.output.replace("flexdesk-production", "")
        assert "flexdesk" not in text.lower(), (path, shown.output)


def test_the_schema_gives_editors_no_team_defaults() -> None:
    from click.testing import CliRunner

    from flexmigrate.cli import cli

    shown = CliRunner().invoke(cli, ["runbook", "schema"])
    assert shown.exit_code == 0
    schema = json.loads(shown.output)
    definitions = schema["$defs"]
    app = definitions["AppSection"]
    assert {"port", "manifests", "image", "secret"} <= set(app["required"])
    for name in NAMES:
        assert name not in app["required"] and "default" not in app["properties"][name]
        assert "derived from the rendered overlay" in app["properties"][name]["description"]
    assert "name" in definitions["AppSecret"]["required"]
    assert "health_check_path" in definitions["TargetGroupSpec"]["required"]
    assert "load_balancer" in definitions["TrafficSection"]["required"]
    assert "flexdesk" not in shown.output.lower()
