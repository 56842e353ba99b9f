"""The chart repository a runbook's Helm install names, served on this machine.

A runbook that installs the AWS Load Balancer Controller with Helm names a chart repository on
the internet (``lb_controller.chart.repo``, e.g. ``https://aws.github.io/eks-charts``). In a
sandbox, helm reaches it unchanged through a forward proxy on the loopback interface
(``HTTPS_PROXY`` in the sandbox's env): a ``CONNECT`` to the repository's host is answered
here, under a certificate for that host signed by the sandbox's CA (trusted through
``SSL_CERT_FILE``), with an ``index.yaml`` and the stand-in chart (``charts/``) packaged as
``helm package`` would, at the version the runbook pins. Every other host is refused (403):
the proxy opens no connection anywhere, so nothing a rehearsal runs leaves the machine.

References: the repository layout and ``index.yaml`` fields follow Helm's "The Chart
Repository Guide" (helm.sh/docs/topics/chart_repository); the tunnel is HTTP ``CONNECT`` as
RFC 9110 §9.3.6 defines it; helm, a Go program, takes ``HTTPS_PROXY``/``NO_PROXY`` through Go's
``net/http.ProxyFromEnvironment`` and extra roots from ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import socket
import ssl
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("flexmigrate.sandbox.charts")

STAND_IN = Path(__file__).parent / "charts" / "aws-load-balancer-controller"


@dataclass(frozen=True)
class ChartRepo:
    """What the runbook asks for: ``https://HOST[:PORT]/BASE``, chart ``name`` at ``version``
    (None: the stand-in's own)."""

    scheme: str
    host: str
    port: int
    base: str  # the repository's path, without a trailing slash ("" at the root)
    name: str
    version: str | None

    @property
    def url(self) -> str:
        default = 443 if self.scheme == "https" else 80
        netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.base}"


def repo_of_runbook(data: dict[str, Any]) -> ChartRepo | None:
    """The chart repository a runbook's controller install reaches, or None (manifests, a local
    chart, or no repository)."""
    lb = data.get("lb_controller") or {}
    if lb.get("install", "helm") != "helm":
        return None
    chart = lb.get("chart") or {}
    repo = chart.get("repo", "https://aws.github.io/eks-charts")
    if chart.get("path") or not repo:
        return None
    parts = urlsplit(str(repo))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    version = chart.get("version")
    return ChartRepo(
        parts.scheme,
        parts.hostname.lower(),
        port,
        parts.path.rstrip("/"),
        str(chart.get("name") or "aws-load-balancer-controller"),
        str(version) if version else None,
    )


def package_chart(source: Path, name: str, version: str | None) -> tuple[str, bytes]:
    """``source`` as ``helm package`` makes it: a gzipped tar of ``NAME/…`` with Chart.yaml's
    name and version set (the pinned version, which becomes the app version too; unpinned: the
    stand-in's app version); (version, bytes).
    Deterministic: files sorted, fixed times and owners."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    meta: dict[str, Any] = yaml.load((source / "Chart.yaml").read_text())
    meta["name"] = name
    if version is not None:
        meta["version"] = version
        meta["appVersion"] = f"v{version.lstrip('v')}"
    else:  # a release version (helm skips pre-releases such as "-local" unless --devel)
        meta["version"] = str(meta.get("appVersion") or "0.1.0").lstrip("v")
    chart_yaml = io.StringIO()
    yaml.dump(meta, chart_yaml)
    buffer = io.BytesIO()
    # mtime=0 in the gzip header and the entries: the same chart is the same bytes.
    with tarfile.open(
        fileobj=buffer, mode="w:gz", compresslevel=9, format=tarfile.GNU_FORMAT
    ) as tar:
        files = sorted(p for p in source.rglob("*") if p.is_file())
        for path in files:
            relative = path.relative_to(source).as_posix()
            data = chart_yaml.getvalue().encode() if relative == "Chart.yaml" else path.read_bytes()
            info = tarfile.TarInfo(f"{name}/{relative}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return str(meta["version"]), _fix_gzip_mtime(buffer.getvalue())


def _fix_gzip_mtime(data: bytes) -> bytes:
    return data[:4] + b"\0\0\0\0" + data[8:]


def index_yaml(repo: ChartRepo, version: str, chart: bytes, meta: dict[str, Any]) -> bytes:
    """The repository's ``index.yaml`` with one entry, as ``helm repo index`` writes it."""
    from ruamel.yaml import YAML

    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    entry = {
        **{k: v for k, v in meta.items() if k not in ("dependencies",)},
        "name": repo.name,
        "version": version,
        "created": created,
        "digest": hashlib.sha256(chart).hexdigest(),
        "urls": [f"{repo.url}/{repo.name}-{version}.tgz"],
    }
    if repo.version is not None:
        entry["appVersion"] = f"v{version.lstrip('v')}"
    document = {
        "apiVersion": "v1",
        "entries": {repo.name: [entry]},
        "generated": created,
    }
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue().encode()


class ChartRepoProxy:
    """The loopback forward proxy that serves ``repo`` and refuses every other host."""

    def __init__(self, repo: ChartRepo, cert_dir: Path, chart_source: Path = STAND_IN) -> None:
        from ruamel.yaml import YAML

        self.repo = repo
        self.version, self.chart = package_chart(chart_source, repo.name, repo.version)
        meta = YAML(typ="safe", pure=True).load((chart_source / "Chart.yaml").read_text())
        self.index = index_yaml(repo, self.version, self.chart, dict(meta))
        self.files = {
            f"{repo.base}/index.yaml": (self.index, "text/yaml"),
            f"{repo.base}/{repo.name}-{self.version}.tgz": (self.chart, "application/x-tar"),
        }
        self.cert_dir = cert_dir
        self.requests: list[str] = []  # "HOST PATH STATUS", for the log and the tests
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> None:
        from flexmigrate.sandbox.tls import host_certificate

        tls: ssl.SSLContext | None = None
        if self.repo.scheme == "https":
            cert, key = host_certificate(self.cert_dir, self.repo.host)
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(cert, key)
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy
            context = tls

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        log.info("chart repository %s served through the proxy %s", self.repo.url, self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(self, host: str, port: int, path: str) -> tuple[int, bytes, str]:
        """(status, body, content type) for ``GET path`` on ``host:port``."""
        if (host.lower(), port) != (self.repo.host, self.repo.port):
            return 403, _refusal(host), "text/plain"
        found = self.files.get(path.split("?", 1)[0])
        if found is None:
            return 404, f"{path} is not in the sandbox's chart repository\n".encode(), "text/plain"
        return 200, found[0], found[1]


def _refusal(host: str) -> bytes:
    return (
        f"the sandbox's proxy serves only the runbook's chart repository; {host} is not "
        "reached (nothing leaves this machine in a rehearsal)\n"
    ).encode()


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: ChartRepoProxy
    context: ssl.SSLContext | None
    protocol_version = "HTTP/1.1"
    rbufsize = 0  # nothing past the CONNECT's headers may be read before the TLS handshake
    server_version = "flexmigrate-sandbox-proxy"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _record(self, host: str, path: str, status: int) -> None:
        self.owner.requests.append(f"{host} {path} {status}")
        log.info("chart repository proxy: %s %s → %d", host, path, status)

    def do_CONNECT(self) -> None:
        host, _, port_text = self.path.rpartition(":")
        host = host.strip("[]").lower()
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        repo = self.owner.repo
        if self.context is None or (host, port) != (repo.host, repo.port):
            self._record(host, "CONNECT", 403)
            self.close_connection = True
            self._send(403, _refusal(host or self.path), "text/plain")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            tunnel = self.context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("chart repository proxy: TLS with the client failed: %s", exc)
            return
        try:
            _RepoHandler(tunnel, self.client_address, self.server, owner=self.owner, host=host)
        except (ssl.SSLError, OSError) as exc:
            log.info("chart repository proxy: %s", exc)
        finally:
            with contextlib.suppress(OSError):
                tunnel.shutdown(socket.SHUT_RDWR)
            tunnel.close()

    def _absolute(self, head: bool) -> None:
        """A plain-HTTP request in absolute form (``GET http://host/path``): served for an
        ``http://`` repository, refused for every other host."""
        parts = urlsplit(self.path)
        host = (parts.hostname or "").lower()
        port = parts.port or 80
        if parts.scheme != "http" or self.owner.repo.scheme != "http":
            status, body, kind = 403, _refusal(host or self.path), "text/plain"
        else:
            status, body, kind = self.owner.answer(host, port, parts.path or "/")
        self._record(host, parts.path, status)
        self._send(status, body, kind, head)

    def do_GET(self) -> None:
        self._absolute(head=False)

    def do_HEAD(self) -> None:
        self._absolute(head=True)


class _RepoHandler(BaseHTTPRequestHandler):
    """Requests inside the TLS tunnel to the repository's host (origin form: ``GET /path``)."""

    protocol_version = "HTTP/1.1"
    server_version = "flexmigrate-sandbox-charts"

    def __init__(self, request: Any, client: Any, server: Any, *, owner: ChartRepoProxy, host: str):
        self.owner = owner
        self.host = host
        super().__init__(request, client, server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _serve(self, head: bool) -> None:
        status, body, kind = self.owner.answer(self.host, self.owner.repo.port, self.path)
        self.owner.requests.append(f"{self.host} {self.path} {status}")
        log.info("chart repository: GET https://%s%s → %d", self.host, self.path, status)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)
