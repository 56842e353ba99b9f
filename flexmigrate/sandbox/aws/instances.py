"""EC2 instance calls where moto differs from EC2 in ways a migration notices.

- ``RunInstances`` honours ``ClientToken`` (moto ignores it). EC2's idempotency rules: a
  request repeated with the same client token and the same parameters launches nothing and
  answers as the first one did (the same reservation and instances), even after those
  instances were terminated; the same token with different parameters is refused with
  ``IdempotentParameterMismatch``. botocore fills in a token itself (the model marks the
  member ``idempotencyToken``), so its own retry after a lost answer is safe — and a caller that
  saves its token can retry across processes. A request that failed may be retried with its
  token.
- ``CreateImage`` without ``NoReboot`` on a running instance reboots it ("By default, Amazon
  EC2 attempts to shut down and reboot the instance before creating the image"), which
  interrupts whatever runs there. moto takes the image without touching the instance, so the
  front records the reboot: ``reboots()``, shown in the sandbox's status. As during any
  reboot, EC2 keeps reporting the instance ``running``. With ``NoReboot`` or on a stopped
  instance, nothing is rebooted.
"""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.aws.protocols import error_reply
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.upstream import MotoUpstream
from flexmigrate.sandbox.aws.wire import Inbound, Reply

# Not part of what a retry must repeat: the call itself and the token.
_NOT_PARAMETERS = {"Action", "Version", "ClientToken"}


@dataclass
class _Launch:
    parameters: tuple[tuple[str, tuple[str, ...]], ...]
    reply: Reply | None = None  # the first successful answer, replayed to repeats


class InstanceCalls:
    def __init__(self, upstream: MotoUpstream) -> None:
        self._upstream = upstream
        self._lock = threading.Lock()
        self._launches: dict[tuple[str, str, str], _Launch] = {}
        self._launching: dict[tuple[str, str, str], threading.Lock] = {}
        self._reboots: list[dict[str, Any]] = []

    def handle(self, call: Call, inbound: Inbound) -> Reply | None:
        if call.service != "ec2":
            return None
        if call.operation == "RunInstances":
            return self._run_instances(call, inbound)
        if call.operation == "CreateImage":
            return self._create_image(call, inbound)
        return None

    def reboots(self) -> list[dict[str, Any]]:
        """Instances rebooted by CreateImage: ``{"instance_id", "image_id", "at"}``, oldest
        first."""
        with self._lock:
            return [dict(r) for r in self._reboots]

    # -- RunInstances ----------------------------------------------------------------------

    def _run_instances(self, call: Call, inbound: Inbound) -> Reply | None:
        token = inbound.form_value("ClientToken")
        if not token:
            return None
        key = (call.access_key, call.region, token)
        parameters = _parameters(inbound)
        with self._lock:
            gate = self._launching.setdefault(key, threading.Lock())
        with gate:  # a concurrent retry waits for the first call's answer
            with self._lock:
                launch = self._launches.get(key)
            if launch is not None and launch.reply is not None:
                if launch.parameters != parameters:
                    return error_reply(
                        call,
                        400,
                        "IdempotentParameterMismatch",
                        f"The client token {token} was used with different parameters by an "
                        "earlier request. Do not reuse a client token with different requests, "
                        "unless the requests are identical.",
                    )
                return launch.reply
            reply = _whole(self._upstream.exchange(inbound))
            if reply.status == 200:
                with self._lock:
                    self._launches[key] = _Launch(parameters, reply)
            return reply

    # -- CreateImage -------------------------------------------------------------------------

    def _create_image(self, call: Call, inbound: Inbound) -> Reply | None:
        instance_id = inbound.form_value("InstanceId") or ""
        no_reboot = (inbound.form_value("NoReboot") or "false").lower() == "true"
        if no_reboot or not instance_id or self._state(call, instance_id) != "running":
            return None
        reply = _whole(self._upstream.exchange(inbound))
        if reply.status == 200:
            with self._lock:
                self._reboots.append(
                    {
                        "instance_id": instance_id,
                        "image_id": _image_id(reply.data()),
                        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    }
                )
        return reply

    def _state(self, call: Call, instance_id: str) -> str:
        ec2 = self._upstream.client("ec2", call.region, call.access_key)
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except Exception:  # noqa: BLE001 - an unknown instance: moto answers the call itself
            return "absent"
        found = [i for r in reservations for i in r["Instances"]]
        return str(found[0]["State"]["Name"]) if found else "absent"


def _whole(reply: Reply) -> Reply:
    """A read answer with the length of its body (kept to be sent again)."""
    body = reply.data()
    headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
    return Reply(reply.status, [*headers, ("Content-Length", str(len(body)))], body)


def _parameters(inbound: Inbound) -> tuple[tuple[str, tuple[str, ...]], ...]:
    form = inbound.form()
    return tuple(
        sorted((key, tuple(values)) for key, values in form.items() if key not in _NOT_PARAMETERS)
    )


def _image_id(body: bytes) -> str:
    try:
        root = ET.fromstring(body)  # noqa: S314 - moto's own answer, not untrusted input
    except ET.ParseError:
        return ""
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "imageId":
            return element.text or ""
    return ""
