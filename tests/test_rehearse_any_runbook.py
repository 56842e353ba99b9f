"""`flexmigrate --runbook PATH rehearse` for a backend that is not Flexdesk: another account,
region, names, ports, health path, secret keys (in SSM), node groups, schedule, production
timings and a Helm install from its own chart repository (served by the sandbox), naming none
of its Kubernetes objects (the overlay decides them). The sandbox must build that runbook's
world, compress only its time, and leave the world migrated as a user would read it back with
boto3, kubectl and helm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from ruamel.yaml import YAML

from flexmigrate.sandbox import manage
from tests.conftest import REPO, run_cli

ACCOUNT = "210987654321"
REGION = "eu-west-2"
# The example app's secret keys, as the other app names them.
_KEYS = {
    "DB_CONNECTION_STRING": "DATABASE_URL",
    "JWT_SECRET": "STRIPE_API_KEY",
    "REDIS_PASSWORD": "CACHE_TOKEN",
}


def _manifests(target: Path) -> Path:
    """The example app's kustomize tree, renamed to "ledger", serving on 9090 at /healthz."""
    shutil.copytree(REPO / "runbooks" / "flexdesk" / "k8s", target)
    for path in target.rglob("*.yaml"):
        text = path.read_text().replace("flexdesk", "ledger").replace("8000", "9090")
        for old, new in _KEYS.items():
            text = text.replace(old, new)
        path.write_text(text.replace("/api/v2/health", "/healthz"))
    return target


def _runbook(directory: Path) -> Path:
    manifests = _manifests(directory / "k8s")
    runbook = {
        "name": "ledger-production",
        "description": "Ledger API, eu-west-2: EC2 + Compose → EKS",
        "aws": {"account_id": ACCOUNT, "region": REGION},
        "cluster": {
            "name": "ledger-eks",
            "version": "1.35",
            "vpc": {"tag": {"Name": "ledger-vpc", "Team": "payments"}},
            "subnets": [{"tag": {"Name": f"ledger-app-{az}"}} for az in "abc"],
            "admins": [
                f"arn:aws:iam::{ACCOUNT}:role/ledger-admins",
                f"arn:aws:iam::{ACCOUNT}:user/ledger-deployer",
            ],
            "node_groups": [
                {
                    "name": "general",
                    "instance_type": "m6i.large",
                    "min_size": 2,
                    "desired_size": 2,
                    "max_size": 6,
                },
                {
                    "name": "batch",
                    "instance_type": "c6i.xlarge",
                    "min_size": 0,
                    "desired_size": 1,
                    "max_size": 3,
                    "labels": {"workload": "batch"},
                },
            ],
            "waits": {"cluster": "40m", "node_groups": "40m", "addons": "20m", "poll": "30s"},
        },
        "lb_controller": {
            # Helm from the team's own chart mirror, pinned: the sandbox serves that address
            "install": "helm",
            "chart": {"repo": "https://charts.ledger.example/eks/", "version": "1.13.4"},
            "timeout": "15m",
        },
        "app": {
            # no namespace, deployment, container or service: the overlay has one of each
            "manifests": "k8s",
            "overlay": "production",
            "image": "example/ledger-api:4.2.0",
            "port": 9090,
            "rollout_timeout": "15m",
            "secret": {
                "name": "ledger-secrets",
                "source": {
                    "ssm": {
                        "DATABASE_URL": "/ledger/prod/database-url",
                        "STRIPE_API_KEY": "/ledger/prod/stripe-api-key",
                        "CACHE_TOKEN": "/ledger/prod/cache-token",
                    }
                },
                "keys": ["DATABASE_URL", "STRIPE_API_KEY", "CACHE_TOKEN"],
            },
            "target_group": {
                "name": "ledger-eks-tg",  # its port: app.port
                "health_check_path": "/healthz",
                "min_healthy": 2,
                "wait": "20m",
            },
            "alarms": {"period": "2m", "http_5xx_threshold": 25, "p99_latency": "800ms"},
            "database_security_groups": [{"tag": {"Name": "ledger-postgres"}}],
        },
        "traffic": {
            "load_balancer": {"name": "ledger-public-alb"},
            "listener": {"port": 443},
            "ec2_target_group": {"name": "ledger-ec2-tg"},
            "eks_target_group": "ledger-eks-tg",
            "steps": [5, 20, 50, 100],
            "bake": "10m",
            "interval": "1m",
            "gates": {
                "min_healthy_targets": 2,
                "min_requests": 40,
                "metric_period": "60s",
                "inconclusive_limit": "10m",
                "max_p99_latency": "800ms",
            },
        },
        "decommission": {
            "instance": {"tag": {"Name": "ledger-api", "Role": "api"}},
            "bake": "48h",
            "retention": "14d",
        },
    }
    path = directory / "ledger-production.yaml"
    with path.open("w") as handle:
        YAML(typ="safe", pure=True).dump(runbook, handle)
    assert manifests.is_dir()
    return path


def _client(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_another_apps_production_runbook_rehearses_to_the_end(tmp_path: Path) -> None:
    runbook = _runbook(tmp_path)
    sandbox = tmp_path / "sb"
    report = tmp_path / "rehearsal.json"
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])  # helm
    done = run_cli(
        [
            "--runbook",
            str(runbook),
            "rehearse",
            "--keep",
            "--dir",
            str(sandbox),
            "--report",
            str(report),
        ],
        env={
            "TMPDIR": str(tmp_path),
            "HOME": str(tmp_path / "home"),  # helm's and kubectl's caches
            "PATH": path,
        },
        cwd=tmp_path,
        timeout=600,
    )
    try:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        shown = done.stdout + done.stderr
        # the compression table, first thing; only time changed
        for line in (
            "traffic.bake 10m → 10s",
            "traffic.gates.metric_period 1m → 1s",
            "app.alarms.period 2m → 10s",
            "decommission.bake 2d → 5s",
            "cluster.waits.poll 30s → 250ms",
        ):
            assert line in shown
        document = json.loads(report.read_text())
        assert document["summary"]["rehearsal speed"]["traffic.bake"] == "10m → 10s"
        phases = {p["id"]: p for p in document["phases"]}
        assert [phases[f"phase-{n}"]["status"] for n in range(1, 6)] == ["completed"] * 5
        assert [s["id"] for s in phases["phase-4"]["steps"]] == [
            "forward",
            "shift-5",
            "shift-20",
            "shift-50",
            "shift-100",
        ]

        env = manage.environment(sandbox)
        listed = subprocess.run(
            ["helm", "list", "-n", "kube-system", "-o", "json"],
            env={**os.environ, **env, "HOME": str(tmp_path / "home"), "PATH": path},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert [(r["chart"], r["status"]) for r in json.loads(listed.stdout)] == [
            ("aws-load-balancer-controller-1.13.4", "deployed")
        ]
        assert env["FLEXMIGRATE_RUNBOOK"] == str(sandbox.resolve() / "runbook.yaml")
        # the rehearsal-speed copy names what the overlay decided
        app = YAML(typ="safe").load((sandbox / "runbook.yaml").read_text())["app"]
        assert [app[k] for k in ("namespace", "deployment", "container", "service")] == [
            "ledger",
            "ledger-backend",
            "ledger-backend",
            "ledger-backend-service",
        ]
        assert env["FLEXMIGRATE_STATE_DIR"] == str(sandbox.resolve() / "state")
        assert _client(env, "sts").get_caller_identity()["Account"] == ACCOUNT
        assert env["AWS_REGION"] == REGION

        eks = _client(env, "eks")
        assert sorted(eks.list_nodegroups(clusterName="ledger-eks")["nodegroups"]) == [
            "batch",
            "general",
        ]
        elbv2 = _client(env, "elbv2")
        alb = elbv2.describe_load_balancers(Names=["ledger-public-alb"])["LoadBalancers"][0]
        assert alb["AvailabilityZones"][0]["ZoneName"].startswith(REGION)
        ec2_tg = elbv2.describe_target_groups(Names=["ledger-ec2-tg"])["TargetGroups"][0]
        assert (ec2_tg["Port"], ec2_tg["HealthCheckPath"]) == (9090, "/healthz")
        eks_tg = elbv2.describe_target_groups(Names=["ledger-eks-tg"])["TargetGroups"][0]
        assert (eks_tg["Port"], eks_tg["HealthCheckPath"]) == (9090, "/healthz")  # app.port
        https = next(
            listener
            for listener in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])[
                "Listeners"
            ]
            if listener["Port"] == 443
        )
        forward = next(a for a in https["DefaultActions"] if a["Type"] == "forward")
        weights = {
            g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]
        }
        assert weights == {ec2_tg["TargetGroupArn"]: 0, eks_tg["TargetGroupArn"]: 100}

        ec2 = _client(env, "ec2")
        found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["ledger-api"]}])[
            "Reservations"
        ][0]["Instances"][0]
        assert found["State"]["Name"] == "stopped"
        parameters = _client(env, "ssm").describe_parameters()["Parameters"]
        assert sorted(p["Name"] for p in parameters) == [
            "/ledger/prod/cache-token",
            "/ledger/prod/database-url",
            "/ledger/prod/stripe-api-key",
        ]

        kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
        listed = subprocess.run(
            [kubectl, "get", "deployment", "ledger-backend", "-n", "ledger", "-o", "json"],
            env={**env, "PATH": str(Path(sys.executable).parent)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        deployment = json.loads(listed.stdout)
        assert deployment["status"]["availableReplicas"] >= 2
        secret_keys = subprocess.run(
            [kubectl, "get", "secret", "ledger-secrets", "-n", "ledger", "-o", "json"],
            env={**env, "PATH": str(Path(sys.executable).parent)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert sorted(json.loads(secret_keys.stdout)["data"]) == sorted(_KEYS.values())
    finally:
        manage.down(sandbox)
    # the rehearsal's state is in the sandbox directory, never the runbook's own
    assert (sandbox / "state" / "ledger-production" / "state.json").exists()
    assert not (tmp_path / ".flexmigrate" / "state").exists()


def test_a_runbook_that_names_its_vpc_by_id_cannot_be_rehearsed(tmp_path: Path) -> None:
    runbook = _runbook(tmp_path)
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load(runbook.read_text())
    data["cluster"]["vpc"] = "vpc-0abc1234def567890"
    with runbook.open("w") as handle:
        yaml.dump(data, handle)
    done = run_cli(
        ["--runbook", str(runbook), "sandbox", "up", "--dir", str(tmp_path / "sb")],
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "cluster.vpc" in done.stderr and "tag" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "sb" / "sandbox.json").exists()
