"""Helpers for the world and traffic tests (a conftest is not importable by name)."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

REGION = "af-south-1"


class Accounts:
    """Gives each world its own moto account through moto's ``x-moto-account-id`` header.

    moto keeps state per process, not per server, and other suites may share the process;
    a fresh account isolates a test without resetting anybody else's state. Registered on
    the boto3 session, it applies to every client made from it, the code's included.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(210_000_000_000 + os.getpid() % 1000 * 1_000_000)
        self.current = "123456789012"

    def fresh(self) -> str:
        self.current = str(next(self._numbers))
        return self.current

    def __call__(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.current


def dimension(arn: str, marker: str) -> str:
    """The CloudWatch dimension value of an ELB ARN, spelled out independently of the code."""
    _, _, rest = arn.partition(f":{marker}/")
    return rest if marker == "loadbalancer" else f"{marker}/{rest}"


class FakeClock:
    """Simulated time starting at a whole hour not far from now (moto keeps real timestamps)."""

    def __init__(self) -> None:
        self.start = float(int(time.time()) // 3600 * 3600)
        self.now = self.start

    def __call__(self) -> float:
        return self.now
