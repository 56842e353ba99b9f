"""The sandbox's chart repository proxy, reached as helm reaches it: a CONNECT to the runbook's
repository host is answered here under a certificate the sandbox's CA signed (trusted through
the trust bundle alone), with an index whose entry is the version the runbook pins and the
chart it points at; a CONNECT (or a plain request) to any other host is refused, so nothing
leaves the machine."""

from __future__ import annotations

import hashlib
import http.client
import io
import socket
import ssl
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flexmigrate.sandbox.chartrepo import ChartRepoProxy, repo_of_runbook
from flexmigrate.sandbox.tls import trust_bundle

RUNBOOK = {
    "lb_controller": {
        "install": "helm",
        "chart": {
            "repo": "https://charts.example.org/stable/",
            "name": "aws-load-balancer-controller",
            "version": "1.9.0",
        },
    }
}


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ChartRepoProxy]:
    repo = repo_of_runbook(RUNBOOK)
    assert repo is not None
    running = ChartRepoProxy(repo, tmp_path / "certs")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _connect(proxy: ChartRepoProxy, target: str) -> tuple[socket.socket, bytes]:
    host, port = proxy.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return sock, head


def _get(tunnel: ssl.SSLSocket, path: str) -> tuple[int, bytes]:
    tunnel.sendall(f"GET {path} HTTP/1.1\r\nHost: charts.example.org\r\n\r\n".encode())
    response = http.client.HTTPResponse(tunnel)  # type: ignore[arg-type]
    response.begin()
    return response.status, response.read()


def test_the_runbooks_repository_is_served_at_the_pinned_version(
    proxy: ChartRepoProxy, tmp_path: Path
) -> None:
    trust = ssl.create_default_context(cafile=str(trust_bundle(tmp_path / "certs")))
    sock, head = _connect(proxy, "charts.example.org:443")
    assert head.startswith(b"HTTP/1.1 200")
    with trust.wrap_socket(sock, server_hostname="charts.example.org") as tunnel:
        status, body = _get(tunnel, "/stable/index.yaml")
        assert status == 200
        index = yaml.safe_load(body)
        (entry,) = index["entries"]["aws-load-balancer-controller"]
        assert entry["version"] == "1.9.0"
        assert entry["urls"] == [
            "https://charts.example.org/stable/aws-load-balancer-controller-1.9.0.tgz"
        ]
        status, chart = _get(tunnel, "/stable/aws-load-balancer-controller-1.9.0.tgz")
    assert status == 200
    assert hashlib.sha256(chart).hexdigest() == entry["digest"]
    with tarfile.open(fileobj=io.BytesIO(chart)) as tar:
        names = tar.getnames()
        chart_yaml = tar.extractfile("aws-load-balancer-controller/Chart.yaml")
        assert chart_yaml is not None
        meta = yaml.safe_load(chart_yaml.read())
    assert meta["name"] == "aws-load-balancer-controller" and meta["version"] == "1.9.0"
    assert "aws-load-balancer-controller/templates/deployment.yaml" in names
    assert "aws-load-balancer-controller/crds/crds.yaml" in names


def test_every_other_host_is_refused(proxy: ChartRepoProxy) -> None:
    for target in ("github.com:443", "charts.example.org:8443", "127.0.0.1:22"):
        sock, head = _connect(proxy, target)
        sock.close()
        assert head.startswith(b"HTTP/1.1 403"), (target, head)
    host, port = proxy.url.removeprefix("http://").split(":")
    plain = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        plain.request("GET", "http://example.com/")
        assert plain.getresponse().status == 403
    finally:
        plain.close()
    assert any(line.startswith("github.com CONNECT 403") for line in proxy.requests)


def test_only_a_helm_install_from_a_repository_needs_one() -> None:
    assert repo_of_runbook({"lb_controller": {"install": "manifests", "manifests": "x"}}) is None
    assert repo_of_runbook({"lb_controller": {"chart": {"path": "./chart"}}}) is None
    default = repo_of_runbook({})
    assert default is not None and default.url == "https://aws.github.io/eks-charts"
