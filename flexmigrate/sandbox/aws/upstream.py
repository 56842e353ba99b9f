"""The way to moto: a pass-through, and botocore clients for the front's own reads.

The pass-through keeps method, path, query, headers and body as the client sent them (the
``Host`` too, so URLs moto writes into answers point at the front); only hop-by-hop headers
are dropped, since they describe a connection the front, not moto, holds. The front's own
clients talk to moto directly and are never counted or throttled.

Both reach moto one of two ways, chosen by whoever starts the front
(``FrontConfig.moto_in_process``):

- in-process, when moto runs in this process (the sandbox daemon, the front's tests): moto's
  WSGI application is called directly (``moto_wsgi``), the botocore clients' requests too.
  moto's backends are process-global, so this is the state ``moto_url`` serves, without a
  loopback HTTP hop per call (a large share of a busy front's time);
- over HTTP to ``moto_url``, a pooled connection, for a moto in another process.

It is an explicit choice rather than a guess from the URL: a process cannot tell from a URL
whether the server behind it is its own.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import urllib3

from flexmigrate.sandbox.aws import moto_wsgi
from flexmigrate.sandbox.aws.moto_wsgi import HOP_BY_HOP as _HOP_BY_HOP
from flexmigrate.sandbox.aws.wire import Inbound, Reply

_CHUNK = 64 * 1024
# The secret is never checked by moto; the access key decides the account.
_INTERNAL_SECRET = "sandbox-front"  # noqa: S105 - not a credential, moto ignores it


class MotoUpstream:
    def __init__(self, moto_url: str, *, in_process: bool = False) -> None:
        parts = urlsplit(moto_url)
        self.url = moto_url.rstrip("/")
        self._app = moto_wsgi.moto_application() if in_process else None
        self._server = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._pool = urllib3.HTTPConnectionPool(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            maxsize=32,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=5.0, read=120.0),
        )
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._session: Any = None

    def close(self) -> None:
        self._pool.close()
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def forward(self, inbound: Inbound) -> Reply:
        """Pass ``inbound`` to moto and hand its answer back untouched (streamed over HTTP)."""
        if self._app is not None:
            answer = self._call(inbound.method, inbound.target, inbound.headers, inbound.body)
            return Reply(answer.status, _kept(answer.headers, "content-length"), answer.body)
        response = self._send(inbound.method, inbound.target, inbound.headers, inbound.body)
        headers = _kept(list(response.headers.items()), "content-length")
        return Reply(response.status, headers, _Stream(response))

    def exchange(
        self, inbound: Inbound, *, body: bytes | None = None, target: str | None = None
    ) -> Reply:
        """Send ``inbound`` (optionally with another body or target) and read the whole answer.

        The body is decoded; the headers keep only what still describes it.
        """
        payload = inbound.body if body is None else body
        headers = inbound.headers
        if body is not None:
            headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        if self._app is not None:
            answer = self._call(inbound.method, target or inbound.target, headers, payload)
            encoding = next((v for k, v in answer.headers if k.lower() == "content-encoding"), None)
            data = _decoded(answer.body, encoding)
            return Reply(answer.status, _kept(answer.headers, drop="content-encoding"), data)
        response = self._send(inbound.method, target or inbound.target, headers, payload)
        try:
            data = response.read(decode_content=True)
        finally:
            response.release_conn()
        kept = _kept(list(response.headers.items()), drop="content-encoding")
        return Reply(response.status, kept, data)

    def _call(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> moto_wsgi.Answer:
        assert self._app is not None
        outgoing = _outgoing(method, headers, body)
        return moto_wsgi.call(self._app, method, target, outgoing.items(), body, self._server)

    def _send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> urllib3.BaseHTTPResponse:
        return self._pool.urlopen(
            method,
            target,
            body=body or None,
            headers=_outgoing(method, headers, body),
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
        )

    def client(self, service: str, region: str, access_key: str) -> Any:
        """A botocore client straight to moto, in the caller's account and region."""
        key = (service, region, access_key or "sandbox")
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._make_client(*key)
                self._clients[key] = client
            return client

    def _make_client(self, service: str, region: str, access_key: str) -> Any:
        import botocore.session
        from botocore.config import Config

        if self._session is None:
            self._session = botocore.session.Session()
        client = self._session.create_client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=_INTERNAL_SECRET,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        if self._app is not None:
            moto_wsgi.serve_in_process(client, self._app)
        return client


def _outgoing(method: str, headers: list[tuple[str, str]], body: bytes) -> dict[str, str]:
    """The headers moto gets: the client's, without hop-by-hop ones, with the body's length."""
    outgoing = {k: v for k, v in headers if k.lower() not in _HOP_BY_HOP}
    if body or method in ("POST", "PUT", "PATCH"):
        outgoing["Content-Length"] = str(len(body))
    return outgoing


def _kept(
    headers: list[tuple[str, str]], keep: str = "", *, drop: str = ""
) -> list[tuple[str, str]]:
    """moto's answer headers without hop-by-hop ones (but ``keep``) and without ``drop``."""
    return [
        (key, value)
        for key, value in headers
        if (key.lower() not in _HOP_BY_HOP or key.lower() == keep) and key.lower() != drop
    ]


def _decoded(data: bytes, encoding: str | None) -> bytes:
    """``data`` without the gzip or deflate coding urllib3 would have taken off."""
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(data)
        except zlib.error:  # raw deflate, as some servers send it
            return zlib.decompress(data, -zlib.MAX_WBITS)
    return data


class _Stream:
    """A response body as a WSGI iterable that hands the connection back when done."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.stream(_CHUNK, decode_content=False)

    def close(self) -> None:
        self._response.release_conn()
