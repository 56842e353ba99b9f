"""The request as it arrived and the reply the front sends, independent of the server.

The raw path and query are kept exactly as the client encoded them: EKS puts IAM ARNs
(with ``/`` and ``:`` percent-encoded) in paths, and S3 keys must reach moto byte for byte.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Inbound:
    method: str
    path: str  # percent-encoded, as sent
    query: str  # raw query string, without "?"
    headers: list[tuple[str, str]]
    body: bytes = b""
    _form: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def decoded_body(self) -> bytes:
        """The body without a transfer compression (botocore gzips large PutMetricData)."""
        if (self.header("Content-Encoding") or "").lower() == "gzip":
            try:
                return gzip.decompress(self.body)
            except (OSError, EOFError):
                return self.body
        return self.body

    def form(self) -> dict[str, list[str]]:
        """Query-protocol parameters: the query string plus an url-encoded body."""
        if self._form is None:
            params = self.query_params()
            content_type = (self.header("Content-Type") or "").lower()
            if "x-www-form-urlencoded" in content_type or (
                self.method == "POST" and not content_type and b"Action=" in self.body
            ):
                text = self.decoded_body().decode("utf-8", "replace")
                for key, values in parse_qs(text, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
            self._form = params
        return self._form

    def form_value(self, name: str) -> str | None:
        values = self.form().get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.decoded_body())


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | Iterable[bytes] = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def data(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"".join(self.body)


def request_id() -> str:
    return str(uuid.uuid4())


def json_reply(status: int, payload: Any, extra: list[tuple[str, str]] | None = None) -> Reply:
    """A rest-json answer as EKS sends it: JSON body, request id header."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id()),
        ("Content-Length", str(len(body))),
    ]
    return Reply(status, headers + (extra or []), body)
