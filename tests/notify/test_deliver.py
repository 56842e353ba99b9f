"""Delivery against a real loopback HTTP receiver: retried through its failures, never
blocking the caller, and what could not get through within the budget is handed back."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flexmigrate.notify import Notifier, Target


class _Flaky(ThreadingHTTPServer):
    failures: int
    seen: list[dict[str, Any]]


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _Flaky)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if server.failures > 0:
            server.failures -= 1
            self.send_response(503)
        else:
            server.seen.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def flaky() -> Iterator[_Flaky]:
    server = _Flaky(("127.0.0.1", 0), _Hook)
    server.failures, server.seen = 2, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


BREACH = [
    {
        "event": "gate_breached",
        "phase": "phase-4",
        "step": "shift-25",
        "percent": 25,
        "failing": ["eks-5xx"],
        "gates": [{"gate": "eks-5xx", "result": "fail", "detail": "EKS 5xx 20.00 %"}],
    },
    {
        "event": "traffic_restored",
        "phase": "phase-4",
        "step": "shift-25",
        "reason": "gate breach",
        "to": {"ec2_percent": 100, "eks_percent": 0},
    },
    {"event": "step_failed", "phase": "phase-4", "step": "shift-25", "error": "breached"},
]


def test_a_breach_is_one_message_delivered_through_two_failures(flaky: _Flaky) -> None:
    url = f"http://127.0.0.1:{flaky.server_address[1]}/hook"
    notifier = Notifier("rb", [Target("oncall", "json", url, frozenset({"breached", "failed"}))])
    for event in BREACH:
        notifier.observe(event)
    assert notifier.close() == []
    assert len(flaky.seen) == 1
    assert flaky.seen[0]["event"] == "breached"
    assert flaky.seen[0]["details"]["failing"] == ["eks-5xx"]
    assert "EC2 100 % / EKS 0 %" in flaky.seen[0]["text"]


def test_an_unreachable_target_never_blocks_and_is_handed_back_within_the_budget() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = Target("pager", "slack", f"http://127.0.0.1:{port}/x", frozenset({"breached"}))
    notifier = Notifier("rb", [target], attempt_timeout=0.5, budget=1.5)
    began = time.monotonic()
    for event in BREACH:
        notifier.observe(event)
    assert time.monotonic() - began < 0.2  # queued, not posted, on the caller's thread
    failed = notifier.close()
    assert time.monotonic() - began < 1.5 + 0.5 + 1.0
    assert [(f.target, f.kind) for f in failed] == [("pager", "breached")]
    assert failed[0].attempts >= 2 and "/x" not in failed[0].error
