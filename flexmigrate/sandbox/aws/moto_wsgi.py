"""moto reached in-process: its WSGI application called directly, without a loopback HTTP hop.

Where moto runs in the caller's own process (the sandbox daemon; the front's tests), the
HTTP hop to its ``ThreadedMotoServer`` is pure cost: the caller encodes and sends, moto's
werkzeug server parses (and closes the connection after every answer, so each call also
opens a new one). moto keeps its state in process-global backends, so an application built
here answers exactly as the server's does.

``moto_application`` is that application, ``DomainDispatcherApplication(create_backend_app)``
as ``ThreadedMotoServer`` builds it. It is not the server's own instance: the server builds
its dispatcher inside its thread and keeps it only on a private attribute, so this module
builds one per process, shared by every caller here. The two hold separate caches of
per-service Flask apps (built once each); everything the apps answer from is shared.

``call`` builds the environ werkzeug's server (moto's ``MotoRequestHandler``) would build
from the same request — raw path in ``RAW_URI``/``REQUEST_URI``, decoded ``PATH_INFO``, the
headers as sent, ``Host`` included, so URLs moto writes into answers point where the client
sent the request — and collects the answer. An error inside moto becomes the 500 werkzeug's
server answers with. ``serve_in_process`` does the same for a botocore client's requests.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Headers about the connection rather than the message: dropped on the way in (the
# message's own length is set again) and on the way out.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)

_app: WsgiApp | None = None
_app_lock = threading.Lock()


def moto_application() -> WsgiApp:
    """This process's moto WSGI application (built on first use, then shared)."""
    global _app
    with _app_lock:
        if _app is None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                create_backend_app,
            )

            _app = DomainDispatcherApplication(create_backend_app)
        return _app


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def call(
    app: WsgiApp,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    server: tuple[str, int],
) -> Answer:
    """Have ``app`` answer ``method target`` as if it came over HTTP to ``server``.

    ``target`` is the path and query as sent (percent-encoded); ``headers`` are sent as they
    are, so the caller drops hop-by-hop ones and sets ``Content-Length``.
    """
    environ = _environ(method, target, headers, body, server)
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, header_list: list[tuple[str, str]], exc: Any = None) -> Any:
        started[:] = [status, list(header_list)]
        return written.append

    try:
        chunks = app(environ, start_response)
        try:
            written.extend(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except Exception:
        # What moto's server does: log, and answer werkzeug's plain 500.
        log.exception("moto failed on %s %s", method, target)
        from werkzeug.exceptions import InternalServerError

        written.clear()
        written.extend(InternalServerError()(environ, start_response))
    status, header_list = started
    return Answer(int(status.split(None, 1)[0]), header_list, b"".join(written))


def serve_in_process(client: Any, app: WsgiApp) -> None:
    """Answer every request of the botocore ``client`` with ``app``, in this thread.

    botocore's ``before-send`` event lets a handler answer a prepared (signed) request in
    place of sending it; the request goes to ``app`` as it would have gone over the wire to
    the client's endpoint.
    """
    from botocore.awsrequest import AWSResponse

    def send(request: Any, **_: Any) -> Any:
        url = urlsplit(request.url)
        body = _body_bytes(request.body)
        headers = [
            (str(k), v.decode("utf-8") if isinstance(v, bytes) else str(v))
            for k, v in request.headers.items()
            if str(k).lower() not in HOP_BY_HOP
        ]
        if not any(k.lower() == "host" for k, _ in headers):
            headers.append(("Host", url.netloc))
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        target = f"{url.path or '/'}?{url.query}" if url.query else url.path or "/"
        port = url.port or (443 if url.scheme == "https" else 80)
        answer = call(app, request.method, target, headers, body, (url.hostname or "", port))
        joined: dict[str, str] = {}
        for key, value in answer.headers:
            if key.lower() in HOP_BY_HOP and key.lower() != "content-length":
                continue
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return AWSResponse(request.url, answer.status, joined, _RawBody(answer.body))

    client.meta.events.register("before-send", send)


class _RawBody(io.BytesIO):
    """A body botocore can read (``read``, streaming bodies) and ``stream`` (the rest)."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()  # a file or botocore's aws-chunked wrapper
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _environ(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    server: tuple[str, int],
) -> dict[str, Any]:
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "flexmigrate-in-process",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _wsgi_str(unquote(path)),
        "QUERY_STRING": _wsgi_str(query),
        "REQUEST_URI": _wsgi_str(target),
        "RAW_URI": _wsgi_str(target),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    sent = [(name, value.replace("\r\n", "")) for name, value in headers]
    for name, value in sent:
        if "_" in name:  # werkzeug's server drops these: X_Foo could pass for X-Foo
            continue
        key = _environ_key(name)
        if key.startswith("HTTP_") and key in environ:
            value = f"{environ[key]},{value}"
        environ[key] = value
    # moto's server keeps S3 metadata headers with underscores, under their own spelling,
    # unless a dashed header claims the same key.
    dashed = {_environ_key(name) for name, _ in sent if "_" not in name}
    names: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    for name, value in sent:
        if "_" not in name or not name.lower().startswith("x-amz-meta-"):
            continue
        key = _environ_key(name)
        if key not in dashed:
            names.setdefault(key, name)
            values.setdefault(key, []).append(value)
    for key, joined in values.items():
        environ[key] = ",".join(joined)
    environ[_PRESERVED_NAMES] = names
    return environ


def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"


# Where moto's server records the original spelling of the headers it preserves.
_PRESERVED_NAMES = "moto.preserved_header_names"


def _wsgi_str(text: str) -> str:
    """A WSGI native string: the UTF-8 bytes read as latin-1, as werkzeug's server makes."""
    return text.encode().decode("latin1")
