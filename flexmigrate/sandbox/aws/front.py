"""The AWS front: a threaded HTTP server between AWS clients and moto.

Each request is identified (service, operation), counted, possibly dropped (``drops``) or
throttled, then either
answered by one of the extensions (EKS, target health, CloudWatch percentiles and composite
alarms, EC2 client tokens and image reboots) or passed to moto as it came (writes to one S3
object key one at a time, so conditional writes are atomic as in S3). Nothing here is global:
several fronts can run in one process, each on its own port with its own state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from flexmigrate.sandbox.aws.alarms import CompositeAlarms
from flexmigrate.sandbox.aws.config import FrontConfig
from flexmigrate.sandbox.aws.drops import ConnectionDropped, Drop, Dropper, close_connection
from flexmigrate.sandbox.aws.eks import EksFront
from flexmigrate.sandbox.aws.health import TargetHealth
from flexmigrate.sandbox.aws.iam_propagation import IamPropagation
from flexmigrate.sandbox.aws.instances import InstanceCalls
from flexmigrate.sandbox.aws.ledger import Ledger
from flexmigrate.sandbox.aws.metrics import Percentiles
from flexmigrate.sandbox.aws.protocols import error_reply
from flexmigrate.sandbox.aws.routing import Call, Router
from flexmigrate.sandbox.aws.s3_writes import ObjectWrites
from flexmigrate.sandbox.aws.throttle import Throttler
from flexmigrate.sandbox.aws.upstream import MotoUpstream
from flexmigrate.sandbox.aws.wire import Inbound, Reply
from flexmigrate.sandbox.keepalive import KeepAliveHandler, KeepAliveServer

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_POLL = 0.05
# Operations that only read. Every other call may change the world (``world_version``).
_READS = ("Describe", "List", "Get", "Head")


class _QuietHandler(KeepAliveHandler):
    """Keeps connections as AWS endpoints do; logs to the module logger instead of stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        log.log(logging.ERROR if type == "error" else logging.DEBUG, message, *args)


class AwsFront:
    def __init__(self, config: FrontConfig) -> None:
        self.config = config
        self._upstream = MotoUpstream(config.moto_url, in_process=config.moto_in_process)
        self._router = Router()
        self._ledger = Ledger(config.request_log)
        self._throttler = Throttler(config.throttle_seed, config.throttle_unavailable_share)
        self._dropper = Dropper(config.drop_seed, config.drop_after_share)
        self._eks = EksFront(self._upstream, config.timing, config.kube_endpoint)
        self._eks.world.addon_hook = config.addon_hook
        self._health = TargetHealth(
            self._eks.world, config.faults, config.target_initial, config.target_draining
        )
        self._percentiles = Percentiles(self._upstream)
        self._composites = CompositeAlarms(self._upstream)
        self._instances = InstanceCalls(self._upstream)
        self._iam = IamPropagation(config.faults)
        self._object_writes = ObjectWrites()
        self._writes = 0
        self._writes_lock = threading.Lock()
        self._server: KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self._inside: KeepAliveServer | None = None
        self._inside_thread: threading.Thread | None = None
        self.url = ""
        # The same answers for the sandbox's own parts (the traffic simulator reading what
        # the ALB reads, target health): never throttled, not counted as requests seen.
        self.inside_url = ""

    # lifecycle

    def start(self) -> None:
        """Start serving; the socket listens before this returns, so callers may connect."""
        self._ledger.open()
        self._server = KeepAliveServer(self.config.host, self.config.port, self._app, _QuietHandler)
        self.url = f"http://{self.config.host}:{self._server.server_port}"
        self._eks.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL},
            name="aws-front", daemon=True,
        )  # fmt: skip
        self._thread.start()
        self._inside = KeepAliveServer(self.config.host, 0, self._inside_app, _QuietHandler)
        self.inside_url = f"http://{self.config.host}:{self._inside.server_port}"
        self._inside_thread = threading.Thread(
            target=self._inside.serve_forever, kwargs={"poll_interval": _POLL},
            name="aws-front-inside", daemon=True,
        )  # fmt: skip
        self._inside_thread.start()

    def stop(self) -> None:
        for server in (self._server, self._inside):
            if server is not None:
                server.shutdown()
                server.close_connections()
                server.server_close()
        for thread in (self._thread, self._inside_thread):
            if thread is not None:
                thread.join(timeout=5.0)
        self._eks.stop()
        self._upstream.close()
        self._ledger.close()
        self._server = self._inside = None
        self._thread = self._inside_thread = None

    def __enter__(self) -> AwsFront:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what it saw

    def stats(self) -> dict[str, Any]:
        return self._ledger.stats()

    def requests(self) -> list[dict[str, Any]]:
        return self._ledger.entries()

    def world_version(self) -> int:
        """A number that changes whenever what moto holds may have changed: after every call
        that is not a read (counted once it is answered, whatever the answer) and whenever
        EKS finishes deleting something. Target health moving from ``initial`` or ``draining``
        with time is not counted: a reader sees those states and reads again."""
        with self._writes_lock:
            return self._writes + self._eks.world.reaped

    def reboots(self) -> list[dict[str, Any]]:
        """Instances CreateImage rebooted (see ``instances``)."""
        return self._instances.reboots()

    # serving

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        inbound = _inbound(environ)
        call = self._router.identify(inbound)
        dropped = self._drop(call, inbound)
        if dropped == "before":  # the service never sees it
            self._ledger.record(call.service, call.operation, 0, throttled=False, dropped=dropped)
            close_connection(environ)
            raise ConnectionDropped
        throttled = False
        try:
            reply = None if dropped else self._throttle(call)
            throttled = reply is not None
            if reply is None:
                reply = self._answer(call, inbound)
        except Exception:  # a front bug must look like an AWS 500, not a hang
            log.exception("front failed on %s.%s", call.service, call.operation)
            reply = error_reply(call, 500, "InternalFailure", "The front failed on this call.")
        self._ledger.record(
            call.service, call.operation, reply.status, throttled=throttled, dropped=dropped
        )
        if not throttled and not call.operation.startswith(_READS):
            with self._writes_lock:
                self._writes += 1
        if dropped == "after":  # done, and the answer is lost on the way back
            reply.data()  # read to its end: moto's connection goes back to the pool
            close = getattr(reply.body, "close", None)
            if close is not None:
                close()
            close_connection(environ)
            raise ConnectionDropped
        start_response(_status_line(reply.status), reply.headers)
        if isinstance(reply.body, bytes):
            return [reply.body]
        return reply.body

    def _inside_app(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        inbound = _inbound(environ)
        call = self._router.identify(inbound)
        try:
            reply = self._extend(call, inbound)
        except Exception:
            log.exception("front failed on %s.%s (inside)", call.service, call.operation)
            reply = error_reply(call, 500, "InternalFailure", "The front failed on this call.")
        start_response(_status_line(reply.status), reply.headers)
        if isinstance(reply.body, bytes):
            return [reply.body]
        return reply.body

    def _drop(self, call: Call, inbound: Inbound) -> Drop | None:
        board = self.config.faults
        if board is None:
            return None
        faults = board.get()
        if (
            faults.aws_lose_answer
            and _first_attempt(inbound)
            and board.take_lost_answer(call.service, call.operation)
        ):
            return "after"
        if faults.aws_drop <= 0.0:
            return None
        return self._dropper.draw(faults.aws_drop)

    def _throttle(self, call: Call) -> Reply | None:
        faults = self.config.faults.get() if self.config.faults is not None else None
        if faults is None or faults.aws_throttle <= 0.0:
            return None
        return self._throttler.draw(call, faults.aws_throttle)

    def _answer(self, call: Call, inbound: Inbound) -> Reply:
        refused = self._iam.refuse(call, inbound)
        if refused is not None:
            return refused
        reply = self._extend(call, inbound)
        self._iam.observe(call, inbound, reply)
        return reply

    def _extend(self, call: Call, inbound: Inbound) -> Reply:
        if call.service == "eks":
            reply = self._eks.handle(call, inbound)
            if reply is not None:
                return reply
        for extension in (self._health, self._percentiles, self._composites, self._instances):
            reply = extension.handle(call, inbound)
            if reply is not None:
                return reply
        with self._object_writes.serialized(call):
            return self._upstream.forward(inbound)


def _inbound(environ: dict[str, Any]) -> Inbound:
    request = Request(environ)
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    path, _, query = str(raw).partition("?")
    headers = list(request.headers.items())
    return Inbound(request.method, path or "/", query, headers, request.get_data(cache=False))


def _first_attempt(inbound: Inbound) -> bool:
    """False for an SDK's own retry: ``amz-sdk-request: ttl=…; attempt=N; max=M`` with N > 1
    (botocore's ``handlers.add_retry_headers``; the other AWS SDKs send it too). A lost answer
    is armed per call, so the retry of a call whose answer was lost is answered, and the next
    armed loss falls on the next call."""
    for part in (inbound.header("amz-sdk-request") or "").split(";"):
        key, _, number = part.strip().partition("=")
        if key == "attempt" and number.isdigit():
            return int(number) <= 1
    return True


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status"
