"""Redaction of secrets before anything is logged, raised, printed or written to disk.

Two layers: values registered at run time (whatever is read from Secrets Manager or SSM is
registered the moment it is read), and patterns for secrets that arrive unannounced, such as a
Kubernetes error body echoing a Secret's ``data``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "***"
_MAX_MESSAGE = 2000

_PATTERNS = [
    # Kubernetes Secret payloads echoed in error bodies or objects: "data": {...}
    re.compile(r'("(?:data|stringData)"\s*:\s*)\{[^{}]*\}'),
    re.compile(r"((?:data|stringData):\s*)\{[^{}]*\}"),
    # key=value / key: value forms of common secret names
    re.compile(
        # (not after ':' or '/': `…:secret:NAME` in an ARN names a secret, it is not one)
        r"((?<![:/])(?:password|passwd|secret|token|jwt_secret|redis_password|db_connection_string"
        r"|secretstring|secret_string|authorization)[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)",
        re.IGNORECASE,
    ),
    # credentials inside URLs: scheme://user:pass@host (a scheme starts where a word does:
    # without that, a long run of letters takes quadratic time to rule out)
    re.compile(r"((?<!\w)\w+://[^:/\s@]+:)([^@\s/]+)(@)"),
    # EKS bearer tokens
    re.compile(r"(k8s-aws-v1\.)[A-Za-z0-9_\-]+"),
]


class Redactor:
    """Replaces registered secret values and known secret shapes with ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                # very short values would mask ordinary words; secrets are never that short
                if value and len(value) >= 4:
                    self._values.add(value)

    def __call__(
        self, text: str, *, limit: int | None = _MAX_MESSAGE, patterns: bool = True
    ) -> str:
        """``text`` with secrets masked. ``patterns=False`` masks only registered values: used
        for the state and journal, whose keys (``client_token`` …) are not secrets."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        if patterns:
            for pattern in _PATTERNS:
                text = pattern.sub(_mask_groups, text)
        if limit is not None and len(text) > limit:
            text = text[:limit] + f"… ({len(text) - limit} more characters)"
        return text


def _mask_groups(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 1:
        whole = match.group(0)
        prefix = groups[0]
        if whole.startswith(prefix) and (whole.endswith("}")):
            return prefix + "{" + MASK + "}"
        return prefix + MASK
    if len(groups) == 3:
        return groups[0] + MASK + groups[2]
    return groups[0] + MASK


# One per process: every writer of text (console, journal, state, crash log) goes through it.
REDACT = Redactor()
