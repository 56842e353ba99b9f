"""The emulator's lifecycle: an HTTPS server on Werkzeug's threaded server plus the controllers.

TLS is negotiated in each connection's own thread (not in the accept loop), so a client
that connects and never completes a handshake — a port probe, say — cannot stall the
server. Open connections are tracked and closed on stop, and every thread is a daemon,
so stopping leaves nothing that keeps the interpreter alive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import socket
import ssl
import threading
import time
from typing import Any

from werkzeug.serving import ThreadedWSGIServer

from flexmigrate.sandbox.keepalive import KeepAliveHandler, shut_down
from flexmigrate.sandbox.kube import addons, metrics_api
from flexmigrate.sandbox.kube.app import Api
from flexmigrate.sandbox.kube.auth import eks_token_user
from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.config import EmulatorConfig
from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.controllers import Controllers
from flexmigrate.sandbox.kube.events import EventRecorder
from flexmigrate.sandbox.kube.openapi import OpenApi
from flexmigrate.sandbox.kube.resources import Registry
from flexmigrate.sandbox.kube.schema import SchemaBook
from flexmigrate.sandbox.kube.seed import seed
from flexmigrate.sandbox.tls import ensure_certificates

_LOG = logging.getLogger("flexmigrate.sandbox.kube")
_HANDSHAKE_TIMEOUT = 10.0
_PATCH = 5
_WATCH_DRAIN = 2.0


class _Handler(KeepAliveHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        _LOG.debug("%s %s", self.address_string(), message % args if args else message)


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server with TLS done per connection, in the worker thread."""

    def __init__(self, host: str, port: int, app: Api, context: ssl.SSLContext) -> None:
        try:
            super().__init__(host, port, app, _Handler)
        except SystemExit as exc:  # Werkzeug exits on a busy port; the caller wants an error
            raise OSError(f"cannot listen on {host}:{port}") from exc
        self.ssl_context = context
        self._tls = context
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Condition()
        self._busy = 0
        # Connection threads are daemons, which socketserver does not keep: kept here so a
        # stop can join them, not only see their requests end.
        self._workers: set[threading.Thread] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._open_lock:
            self._workers = {t for t in self._workers if t.is_alive()}
            self._workers.add(worker)
        worker.start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._busy += 1
        try:
            self._serve_tls(request, client_address)
        finally:
            with self._open_lock:
                self._busy -= 1
                self._open_lock.notify_all()

    def _serve_tls(self, request: Any, client_address: Any) -> None:
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            tls = self._tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        tls.settimeout(None)
        with self._open_lock:
            self._open.add(tls)
        try:
            # typeshed types the handler's server argument as Self, which mypy cannot bind.
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            with self._open_lock:
                self._open.discard(tls)
            _close(tls)

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the connection threads to finish (they are daemons, but should end): their
        requests first, then the threads themselves, which still close their sockets after."""
        deadline = time.monotonic() + timeout
        with self._open_lock:
            if not self._open_lock.wait_for(lambda: self._busy == 0, timeout):
                return False
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in workers)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        shut_down(sockets)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _LOG.debug("kube emulator: connection from %s failed", client_address, exc_info=True)

    def log(self, type: str, message: str, *args: Any) -> None:
        _LOG.debug(message, *args)


def _close(sock: ssl.SSLSocket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class KubeEmulator:
    """One emulated EKS cluster API, served over HTTPS until :meth:`stop`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.registry = Registry()
        self.schemas = SchemaBook()
        self.cluster = Cluster(self.registry, self.schemas)
        self.url = ""
        self.ca_pem = b""
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._controllers: Controllers | None = None
        self._api: Api | None = None

    def start(self) -> None:
        """Listen, seed the cluster and start the controllers; returns once it answers."""
        config = self.config
        hosts = tuple(dict.fromkeys((config.host, "127.0.0.1", "localhost")))
        paths = ensure_certificates(config.cert_dir, hosts)
        self.ca_pem = paths.ca_pem.read_bytes()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(paths.cert_pem, paths.key_pem)
        context.set_alpn_protocols(["http/1.1"])
        major, _, minor = config.kubernetes_version.partition(".")
        openapi = OpenApi(self.registry, self.schemas, _git_version(major, minor))
        api = Api(
            self.cluster,
            openapi,
            config.authenticate or eks_token_user,
            _version_info(major, minor),
            self._stopping,
            metrics=self._serve_metrics,
        )
        api.faults = config.faults
        self._api = api
        server = _Server(config.host, config.port, api, context)
        self._server = server
        address = f"{config.host}:{server.port}"
        api.server_address = address
        self.url = f"https://{address}"
        warm = threading.Thread(target=self.schemas.warm, name="kube-schemas", daemon=True)
        warm.start()
        seed(self.cluster, address)
        serve = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-api",
            daemon=True,
        )
        serve.start()
        self._threads = [warm, serve]
        self._controllers = Controllers(self.cluster, config, self.ca_pem)
        self._controllers.start()

    def install_addon(self, addon: str, version: str) -> None:
        """What EKS applies for ``addon`` (see ``addons``); nothing for unmodelled add-ons."""
        addons.install(self.cluster, addon, version)

    def remove_addon(self, addon: str) -> None:
        addons.remove(self.cluster, addon)

    def _serve_metrics(self, parts: list[str]) -> dict[str, Any]:
        recorder = EventRecorder(self.cluster)
        return metrics_api.serve(Context(self.cluster, self.config, recorder, b""), parts)

    def stop(self) -> None:
        """Stop serving: end open watches, close connections, join the threads."""
        self._stopping.set()
        self.cluster.store.close()
        if self._controllers is not None:
            self._controllers.stop()
        if self._api is not None:
            # Open watches notice the closed store at once and finish their responses, so
            # clients see a clean end of stream rather than a reset connection.
            self._api.watches.wait_closed(_WATCH_DRAIN)
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server.wait_idle(_WATCH_DRAIN)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> KubeEmulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _git_version(major: str, minor: str) -> str:
    """EKS builds are named like ``v1.33.5-eks-3025e55``; the suffix here is stable per version."""
    suffix = hashlib.sha1(f"{major}.{minor}".encode(), usedforsecurity=False).hexdigest()[:7]
    return f"v{major}.{minor}.{_PATCH}-eks-{suffix}"


def _version_info(major: str, minor: str) -> dict[str, str]:
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(max(0, int(minor or "0") - 1)),
        "gitVersion": _git_version(major, minor),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": dt.datetime(2025, 9, 1, tzinfo=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
