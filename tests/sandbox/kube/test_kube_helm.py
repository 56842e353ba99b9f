"""helm 4 (the real binary) installs, upgrades and uninstalls a chart against the emulator."""

from __future__ import annotations

from pathlib import Path

from kube_helpers import CHARTS, make_cli, make_token

from flexmigrate.sandbox.kube import KubeEmulator


def test_helm_release_lifecycle(shared_emulator: KubeEmulator, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, shared_emulator, {"token": make_token()})
    chart = str(CHARTS / "demo")

    installed = cli.helm(
        "upgrade",
        "--install",
        "demo",
        chart,
        "--namespace",
        "demo",
        "--create-namespace",
        "--wait",
        "--timeout",
        "60s",
    )
    assert installed.returncode == 0, installed.stderr
    assert 'Release "demo" does not exist. Installing it now.' in installed.stdout
    assert "STATUS: deployed" in installed.stdout
    assert "REVISION: 1" in installed.stdout

    status = cli.helm("status", "demo", "--namespace", "demo")
    assert status.returncode == 0, status.stderr
    assert "STATUS: deployed" in status.stdout

    listed = cli.helm("list", "--all-namespaces")
    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("demo"))
    assert row[1:3] == ["demo", "1"]
    assert "deployed" in row and "demo-0.1.0" in row

    pods = cli.kubectl(
        "get", "pods", "-n", "demo", "-l", "app.kubernetes.io/instance=demo", "--no-headers"
    )
    assert pods.returncode == 0, pods.stderr
    assert len(pods.stdout.splitlines()) == 2
    assert all(line.split()[1:3] == ["1/1", "Running"] for line in pods.stdout.splitlines())
    crd = cli.kubectl("get", "crd", "widgets.demo.example.com", "-o", "name")
    assert (
        crd.stdout.strip()
        == "customresourcedefinition.apiextensions.k8s.io/widgets.demo.example.com"
    )
    assert cli.kubectl("get", "wdg", "demo-widget", "-n", "demo").returncode == 0
    releases = cli.kubectl(
        "get", "secrets", "-n", "demo", "-l", "owner=helm", "-o", "jsonpath={.items[*].type}"
    )
    assert releases.stdout.split() == ["helm.sh/release.v1"]

    upgraded = cli.helm(
        "upgrade",
        "--install",
        "demo",
        chart,
        "--namespace",
        "demo",
        "--set",
        "message=hi",
        "--set",
        "replicaCount=3",
        "--wait=legacy",
        "--timeout",
        "60s",
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "REVISION: 2" in upgraded.stdout
    message = cli.kubectl("get", "cm", "demo-demo", "-n", "demo", "-o", "jsonpath={.data.message}")
    assert message.stdout == "hi"
    ready = cli.kubectl(
        "get", "deploy", "demo-demo", "-n", "demo", "-o", "jsonpath={.status.readyReplicas}"
    )
    assert ready.stdout == "3"

    history = cli.helm("history", "demo", "--namespace", "demo")
    assert history.returncode == 0, history.stderr
    assert [line.split()[0] for line in history.stdout.splitlines()[1:]] == ["1", "2"]

    removed = cli.helm("uninstall", "demo", "--namespace", "demo", "--wait")
    assert removed.returncode == 0, removed.stderr
    assert 'release "demo" uninstalled' in removed.stdout
    leftover = cli.kubectl(
        "get",
        "deploy,svc,cm,sa,secret",
        "-n",
        "demo",
        "-l",
        "app.kubernetes.io/instance=demo",
        "-o",
        "name",
    )
    assert leftover.returncode == 0, leftover.stderr
    assert leftover.stdout.strip() == ""
    assert cli.helm("list", "--all-namespaces", "-q").stdout.strip() == ""
