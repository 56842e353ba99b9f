"""The way to moto: a pooled HTTP pass-through, and botocore clients for the front's own reads.

The pass-through keeps method, path, query, headers and body as the client sent them (the
``Host`` too, so URLs moto writes into answers point at the front); only hop-by-hop headers
are dropped, since they describe a connection the front, not moto, holds. The front's own
clients talk to moto directly and are never counted or throttled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import urllib3

from flexmigrate.sandbox.aws.wire import Inbound, Reply

_HOP_BY_HOP = {
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
_CHUNK = 64 * 1024
# The secret is never checked by moto; the access key decides the account.
_INTERNAL_SECRET = "sandbox-front"  # noqa: S105 - not a credential, moto ignores it


class MotoUpstream:
    def __init__(self, moto_url: str) -> None:
        parts = urlsplit(moto_url)
        self.url = moto_url.rstrip("/")
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
        """Pass ``inbound`` to moto and stream its answer back untouched."""
        response = self._send(inbound.method, inbound.target, inbound.headers, inbound.body)
        headers = [
            (key, value)
            for key, value in response.headers.items()
            if key.lower() not in _HOP_BY_HOP or key.lower() == "content-length"
        ]
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
        response = self._send(inbound.method, target or inbound.target, headers, payload)
        try:
            data = response.read(decode_content=True)
        finally:
            response.release_conn()
        kept = [
            (key, value)
            for key, value in response.headers.items()
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding"
        ]
        return Reply(response.status, kept, data)

    def _send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> urllib3.BaseHTTPResponse:
        outgoing = {k: v for k, v in headers if k.lower() not in _HOP_BY_HOP}
        if body or method in ("POST", "PUT", "PATCH"):
            outgoing["Content-Length"] = str(len(body))
        return self._pool.urlopen(
            method,
            target,
            body=body or None,
            headers=outgoing,
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
        return self._session.create_client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=_INTERNAL_SECRET,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


class _Stream:
    """A response body as a WSGI iterable that hands the connection back when done."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.stream(_CHUNK, decode_content=False)

    def close(self) -> None:
        self._response.release_conn()
