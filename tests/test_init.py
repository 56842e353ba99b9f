"""`flexmigrate init` against sandbox worlds, as a team would run it on its own account: the
runbook it writes validates, refuses to run until its placeholders are filled in, rehearses to
the end once they are, and its manifests pass the API server's dry run and the Kubernetes
schemas. Init itself only reads: the AWS front's request log shows no mutating call."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from flexmigrate.sandbox import manage
from tests.conftest import Sandbox, run_cli
from tests.engine.test_startup import HEAVY, _loaded, _modules

_READS = ("Describe", "List", "Get", "Head")
_ID = re.compile(r"^(vpc|subnet|sg|i|igw|nat|rtb|ami)-[0-9a-f]{8,}$")
# Values the Compose file holds inline and in its env_file: none may be written anywhere.
_SECRET_VALUES = (
    "Pa55-in-compose-9d2",
    "jwt-value-in-compose-7f3a",
    "redis-value-in-compose-1c8",
    "redis-value-in-envfile-5b1",
)
_COMPOSE = """\
# The backend host's stack, as /opt/flexdesk/docker-compose.yml has it.
services:
  backend:
    image: volttechafrica/flexdeskbackend:2026.11.1
    restart: unless-stopped
    command: ["node", "dist/server.js"]
    ports:
      - "8000:8000"
    environment:
      NODE_ENV: production
      DB_CONNECTION_STRING: postgresql://flexdesk:Pa55-in-compose-9d2@db.internal:5432/flexdesk
      JWT_SECRET: jwt-value-in-compose-7f3a
    env_file: .env
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/api/v2/health"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 40s
    deploy:
      resources:
        limits: {cpus: "1.0", memory: 1g}
        reservations: {cpus: "0.25", memory: 512m}
  worker:
    image: volttechafrica/flexdeskbackend:2026.11.1
    command: node dist/worker.js
    environment:
      - REDIS_URL=redis://:redis-value-in-compose-1c8@redis.internal:6379
  node-exporter:
    image: prom/node-exporter:v1.8.2
    ports:
      - "9100:9100"
"""


def _env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's AWS settings, without its runbook and state (init writes its own)."""
    return {k: v for k, v in sandbox.env.items() if not k.startswith("FLEXMIGRATE_")}


def _requests(root: Path) -> list[dict[str, Any]]:
    log = root / "logs" / "aws-requests.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _init(sandbox: Sandbox, cwd: Path, *args: str) -> Any:
    cwd.mkdir(parents=True, exist_ok=True)
    return run_cli(["init", *args], env=_env(sandbox), cwd=cwd, timeout=120)


def _load(path: Path) -> Any:
    return YAML(typ="rt").load(path.read_text())


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _fill(path: Path, image: str | None, secret: str) -> None:
    """Fill the placeholders as an operator would, keeping the file's comments."""
    yaml = YAML(typ="rt")
    data = yaml.load(path.read_text())
    if image is not None:
        data["app"]["image"] = image
    data["app"]["secret"]["source"]["secrets_manager"] = secret
    with path.open("w") as handle:
        yaml.dump(data, handle)


def _rehearse(cwd: Path, *args: str) -> Any:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])  # helm
    return run_cli(
        [*args, "rehearse"],
        env={"TMPDIR": str(cwd), "HOME": str(cwd / "home"), "PATH": path},
        cwd=cwd,
        timeout=600,
    )


def test_init_help_loads_no_cloud_client(tmp_path: Path) -> None:
    code, modules = _modules("init", "--help", cwd=tmp_path)
    assert code == 0
    assert _loaded(modules, HEAVY) == []


def test_init_reads_only_and_writes_a_runbook_that_validates_but_will_not_run(
    module_sandbox: Sandbox, tmp_path: Path
) -> None:
    before = len(_requests(module_sandbox.root))
    done = _init(module_sandbox, tmp_path, "--alb", "flexdesk-alb")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = _requests(module_sandbox.root)[before:]
    assert calls, "init read nothing"
    # GetCallerIdentity is a read too (it starts with Get); nothing else may appear.
    assert [c["operation"] for c in calls if not c["operation"].startswith(_READS)] == []
    assert {c["operation"] for c in calls} >= {
        "DescribeLoadBalancers",
        "DescribeListeners",
        "DescribeRules",
        "DescribeTargetGroups",
        "DescribeTargetHealth",
        "DescribeInstances",
        "DescribeSubnets",
        "DescribeSecurityGroups",
        "DescribeAlarms",
        "GetCallerIdentity",
    }

    runbook = tmp_path / "flexmigrate.yaml"
    assert "wrote flexmigrate.yaml" in done.stdout + done.stderr
    for step in ("flexmigrate runbook validate", "flexmigrate rehearse", "flexmigrate plan all"):
        assert step in done.stdout
    data = _load(runbook)
    assert [s for s in _strings(data) if _ID.match(s) or s.startswith("arn:aws:ec2")] == []
    assert data["aws"]["account_id"] == "123456789012"
    assert data["cluster"]["vpc"] == {"tag": {"Name": "flexdesk-vpc"}}
    assert data["cluster"]["subnets"] == [
        {"tag": {"Name": "flexdesk-private-a"}},
        {"tag": {"Name": "flexdesk-private-b"}},
    ]
    assert data["app"]["database_security_groups"] == [
        {"tag": {"Name": "flexdesk-db"}},
        {"tag": {"Name": "flexdesk-redis"}},
    ]
    assert data["traffic"]["load_balancer"] == {"name": "flexdesk-alb"}
    assert data["traffic"]["ec2_target_group"] == {"name": "flexdesk-ec2"}
    assert data["decommission"]["instance"] == {"tag": {"Name": "flexdesk-backend"}}
    app = data["app"]
    # Written out even where a default exists (another team's app has other defaults).
    assert (app["port"], app["target_group"]["port"]) == (8000, 8000)
    assert app["target_group"]["health_check_path"] == "/api/v2/health"
    assert app["secret"]["name"] and app["namespace"] and app["deployment"]
    text = runbook.read_text()
    assert "# fill in: the container image" in text
    # Hints, not choices: the secret that carries the estate's name, where Compose runs from.
    assert "# Secrets Manager holds, by name: flexdesk/production" in text
    assert "/opt/flexdesk/docker-compose.yml on the instance" in " ".join(done.stderr.split())
    assert (tmp_path / "k8s" / "base" / "kustomization.yaml").is_file()
    assert (tmp_path / "k8s" / "overlays" / "production" / "kustomization.yaml").is_file()

    checked = run_cli(["runbook", "validate"], env=_env(module_sandbox), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "2 placeholder(s) to fill in" in checked.stdout + checked.stderr

    state = tmp_path / "state"
    refused = run_cli(
        ["--state-dir", str(state), "--output", "json", "plan", "cluster-foundation"],
        env=_env(module_sandbox),
        cwd=tmp_path,
    )
    assert refused.returncode == 3, refused.stdout + refused.stderr
    checks = {c["id"]: c for c in json.loads(refused.stdout)["phases"][0]["preflight"]}
    assert checks["placeholders"]["status"] == "fail"
    # The same words as the comment above the field in the file.
    assert (
        "app.image: fill in: the container image the app runs" in checks["placeholders"]["detail"]
    )
    assert checks["aws-identity"]["status"] == "pass"

    again = _init(module_sandbox, tmp_path, "--alb", "flexdesk-alb")
    assert again.returncode == 2
    assert "already exist" in again.stderr and "--force" in again.stderr
    assert runbook.read_text() == text

    forced = _init(module_sandbox, tmp_path, "--alb", "flexdesk-alb", "--force")
    assert forced.returncode == 0, forced.stderr
    as_json = run_cli(
        ["--output", "json", "init", "--alb", "flexdesk-alb", "--force"],
        env=_env(module_sandbox),
        cwd=tmp_path,
    )
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["runbook"] == "flexmigrate.yaml"
    assert {p["field"] for p in document["placeholders"]} == {
        "app.image",
        "app.secret.source.secrets_manager",
    }
    assert "flexmigrate rehearse" in document["next"]


def test_init_by_arn_writes_what_init_by_name_writes(
    module_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Names come from what exists, never from how it was asked for or when: two runs of
    init on one estate write the same files."""
    by_name = _init(module_sandbox, tmp_path / "name", "--alb", "flexdesk-alb")
    arn = str(module_sandbox.world["alb_arn"])
    by_arn = _init(module_sandbox, tmp_path / "arn", "--alb", arn)
    assert by_name.returncode == by_arn.returncode == 0, by_name.stderr + by_arn.stderr
    files = sorted(p.relative_to(tmp_path / "name") for p in (tmp_path / "name").rglob("*.y*ml"))
    assert len(files) == 9
    for relative in files:
        assert (tmp_path / "arn" / relative).read_text() == (
            tmp_path / "name" / relative
        ).read_text()
    assert arn not in (tmp_path / "arn" / "flexmigrate.yaml").read_text()


def test_init_refuses_what_it_cannot_use_and_writes_nothing(
    module_sandbox: Sandbox, tmp_path: Path
) -> None:
    missing = _init(module_sandbox, tmp_path, "--alb", "no-such-alb")
    assert missing.returncode == 2
    assert "no load balancer no-such-alb" in missing.stderr
    neither = _init(module_sandbox, tmp_path)
    assert neither.returncode == 2 and "--alb" in neither.stderr
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  api:\n    image: a:1\n    ports: ['9000:9000']\n")
    other_port = _init(module_sandbox, tmp_path, "--alb", "flexdesk-alb", "--compose", str(compose))
    assert other_port.returncode == 2
    assert "publish port 8000" in other_port.stderr and "api (9000:9000)" in other_port.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docker-compose.yml"]


def test_init_by_instance_with_compose_writes_manifests_the_api_server_accepts(
    module_sandbox: Sandbox, tmp_path: Path
) -> None:
    import kubernetes_validate

    compose = tmp_path / "host" / "docker-compose.yml"
    compose.parent.mkdir()
    compose.write_text(_COMPOSE)
    (compose.parent / ".env").write_text(
        "REDIS_PASSWORD=redis-value-in-envfile-5b1\n# a comment\nexport LOG_LEVEL=info\n"
    )
    before = len(_requests(module_sandbox.root))
    out = tmp_path / "migration" / "flexmigrate.yaml"
    done = _init(
        module_sandbox,
        tmp_path,
        "--instance",
        "flexdesk-backend",
        "--compose",
        str(compose),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = _requests(module_sandbox.root)[before:]
    assert calls and [c for c in calls if not c["operation"].startswith(_READS)] == []
    assert f"--runbook {out.relative_to(tmp_path)}" in done.stdout

    texts = [p.read_text() for p in out.parent.rglob("*") if p.is_file()]
    assert len(texts) == 9  # the runbook and eight manifests
    for text in [*texts, done.stdout, done.stderr]:
        assert [v for v in _SECRET_VALUES if v in text] == []
    data = _load(out)
    assert list(data["app"]["secret"]["keys"]) == [
        "NODE_ENV",
        "DB_CONNECTION_STRING",
        "JWT_SECRET",
        "REDIS_PASSWORD",
        "LOG_LEVEL",
    ]
    assert data["app"]["image"] == "volttechafrica/flexdeskbackend:2026.11.1"
    overlay = out.parent / "k8s" / "overlays" / "production"
    deployment = (out.parent / "k8s" / "base" / "deployment.yaml").read_text()
    assert "secretKeyRef" in deployment and "# Probes from the Compose healthcheck" in deployment
    namespace = (out.parent / "k8s" / "base" / "namespace.yaml").read_text()
    assert "elbv2.k8s.aws/pod-readiness-gate-inject: enabled" in namespace

    # The namespace must exist for a dry run of what goes in it, as on a real API server.
    made = module_sandbox.kubectl(
        "create", "--save-config", "-f", str(out.parent / "k8s" / "base" / "namespace.yaml")
    )
    assert made.returncode == 0, made.stderr
    try:
        dry = module_sandbox.kubectl("apply", "--dry-run=server", "-k", str(overlay))
        assert dry.returncode == 0, dry.stdout + dry.stderr
        for kind in ("deployment.apps", "service", "horizontalpodautoscaler.autoscaling"):
            assert f"{kind}/flexdesk-backend" in dry.stdout
        assert "poddisruptionbudget.policy/flexdesk-backend-pdb" in dry.stdout
        nothing = module_sandbox.kubectl("get", "deployments", "-n", "flexdesk", "-o", "name")
        assert nothing.stdout.strip() == ""  # a dry run creates nothing
    finally:
        module_sandbox.kubectl("delete", "namespace", "flexdesk", "--wait=false")

    rendered = module_sandbox.kubectl("kustomize", str(overlay))
    assert rendered.returncode == 0, rendered.stderr
    documents = list(YAML(typ="safe", pure=True).load_all(rendered.stdout))
    assert {d["kind"] for d in documents} == {
        "Namespace",
        "ServiceAccount",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    version = str(data["cluster"]["version"])
    for document in documents:
        kubernetes_validate.validate(document, f"{version}.0", strict=True)


@pytest.mark.timeout(900)
def test_an_init_runbook_with_compose_rehearses_to_the_end_once_filled_in(
    module_sandbox: Sandbox, tmp_path: Path
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(_COMPOSE)
    (tmp_path / ".env").write_text("REDIS_PASSWORD=redis-value-in-envfile-5b1\n")
    done = _init(module_sandbox, tmp_path, "--alb", "flexdesk-alb", "--compose", str(compose))
    assert done.returncode == 0, done.stdout + done.stderr
    refused = _rehearse(tmp_path)
    assert refused.returncode == 2
    assert "app.secret.source.secrets_manager: fill in" in " ".join(refused.stderr.split())

    _fill(tmp_path / "flexmigrate.yaml", None, "flexdesk/production")
    rehearsed = _rehearse(tmp_path)
    assert rehearsed.returncode == 0, rehearsed.stdout[-4000:] + rehearsed.stderr[-4000:]
    assert "phase-5 decommission completed" in rehearsed.stdout + rehearsed.stderr
    assert "flexdesk-production" in rehearsed.stdout + rehearsed.stderr


@pytest.fixture
def ledger_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Another team's world: the ledger runbook's account, region, names, port and path."""
    from tests.test_rehearse_any_runbook import _runbook

    source = tmp_path / "theirs"
    source.mkdir()
    runbook = _runbook(source)
    root = tmp_path / "sandbox"
    manage.up(root, runbook=str(runbook))
    world = json.loads((root / "world.json").read_text())
    sandbox = Sandbox(root=root, env=manage.environment(root), world=world, state_dir=root / "st")
    yield sandbox
    manage.down(root)


@pytest.mark.timeout(900)
def test_init_on_another_teams_world_validates_and_rehearses_once_filled_in(
    ledger_sandbox: Sandbox, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    done = _init(ledger_sandbox, work, "--alb", "ledger-public-alb")
    assert done.returncode == 0, done.stdout + done.stderr
    data = _load(work / "flexmigrate.yaml")
    assert (data["aws"]["account_id"], data["aws"]["region"]) == ("210987654321", "eu-west-2")
    assert data["app"]["port"] == 9090
    assert data["app"]["target_group"]["health_check_path"] == "/healthz"
    assert [s["tag"]["Name"] for s in data["cluster"]["subnets"]] == [
        "ledger-app-a",
        "ledger-app-b",
        "ledger-app-c",
    ]
    assert data["app"]["database_security_groups"] == [{"tag": {"Name": "ledger-postgres"}}]
    assert data["traffic"]["ec2_target_group"] == {"name": "ledger-ec2-tg"}
    assert data["decommission"]["instance"] == {"tag": {"Name": "ledger-api"}}
    checked = run_cli(["runbook", "validate"], env=_env(ledger_sandbox), cwd=work)
    assert checked.returncode == 0, checked.stderr

    _fill(work / "flexmigrate.yaml", "example/ledger-api:4.2.0", "ledger/production")
    rehearsed = _rehearse(work)
    assert rehearsed.returncode == 0, rehearsed.stdout[-4000:] + rehearsed.stderr[-4000:]
    assert "phase-5 decommission completed" in rehearsed.stdout + rehearsed.stderr
    shutil.rmtree(work / "home", ignore_errors=True)
