"""CloudWatch requests read, and answers written, in the two protocols botocore speaks to it:
JSON 1.0 (``X-Amz-Target``, botocore 1.44) and the query protocol (a form, answered in XML —
older botocore). The shapes follow the CloudWatch service model: lists are ``Name.member.N``
in a form and ``<Name><member>…</member></Name>`` in XML; timestamps are epoch seconds in
JSON and ISO 8601 in XML."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, request_id

NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
_TAG = "{" + NAMESPACE + "}"


class Params:
    """The parameters of one request, whichever protocol carried them."""

    def __init__(self, call: Call, inbound: Inbound) -> None:
        self._json: dict[str, Any] | None = None
        self._form: dict[str, list[str]] | None = None
        if call.protocol == "json":
            body = inbound.json()
            self._json = body if isinstance(body, dict) else {}
        else:
            self._form = inbound.form()

    def names(self) -> list[str]:
        """The top-level parameters present."""
        if self._json is not None:
            return list(self._json)
        keys = {key.split(".", 1)[0] for key in self._form or {}}
        return sorted(keys - {"Action", "Version"})

    def text(self, name: str) -> str | None:
        if self._json is not None:
            value = self._json.get(name)
            return None if value is None else str(value)
        values = (self._form or {}).get(name)
        return values[0] if values else None

    def texts(self, name: str) -> list[str]:
        if self._json is not None:
            return [str(v) for v in self._json.get(name) or []]
        form = self._form or {}
        found: list[str] = []
        while f"{name}.member.{len(found) + 1}" in form:
            found.append(form[f"{name}.member.{len(found) + 1}"][0])
        return found

    def boolean(self, name: str, *, default: bool) -> bool:
        if self._json is not None:
            value = self._json.get(name)
            return default if value is None else bool(value)
        text = self.text(name)
        return default if text is None else text.lower() == "true"

    def integer(self, name: str) -> int | None:
        text = self.text(name)
        return None if text is None else int(text)

    def tags(self, name: str) -> list[dict[str, str]]:
        if self._json is not None:
            return [
                {"Key": str(t.get("Key")), "Value": str(t.get("Value", ""))}
                for t in self._json.get(name) or []
            ]
        form = self._form or {}
        found: list[dict[str, str]] = []
        while f"{name}.member.{len(found) + 1}.Key" in form:
            prefix = f"{name}.member.{len(found) + 1}"
            found.append(
                {"Key": form[prefix + ".Key"][0], "Value": form.get(prefix + ".Value", [""])[0]}
            )
        return found


def empty_reply(call: Call) -> Reply:
    """The answer of an operation without output."""
    if call.protocol == "json":
        return _json_reply({})
    return _xml_reply(call.operation, None)


def result_reply(call: Call, operation: str, result: dict[str, Any]) -> Reply:
    """The answer of ``operation`` with ``result`` (datetimes for timestamps; in the query
    protocol, list items may be moto's own ``<member>`` elements, kept as they are)."""
    if call.protocol == "json":
        return _json_reply(result)
    return _xml_reply(operation, _xml(result))


def _json_reply(payload: dict[str, Any]) -> Reply:
    body = json.dumps(payload, default=_epoch, separators=(",", ":")).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", request_id()),
        ("Content-Length", str(len(body))),
    ]
    return Reply(200, headers, body)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(f"cannot write {type(value).__name__} in a CloudWatch answer")


def _xml_reply(operation: str, result: str | None) -> Reply:
    rid = request_id()
    inner = "" if result is None else f"<{operation}Result>{result}</{operation}Result>"
    body = (
        f'<{operation}Response xmlns="{NAMESPACE}">{inner}'
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()
    headers = [
        ("Content-Type", "text/xml"),
        ("x-amzn-RequestId", rid),
        ("Content-Length", str(len(body))),
    ]
    return Reply(200, headers, body)


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{key}>{_xml(item)}</{key}>" for key, item in value.items())
    if isinstance(value, list):
        return "".join(_member(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return escape(str(value))


def _member(item: Any) -> str:
    if isinstance(item, ET.Element):
        return ET.tostring(item, encoding="unicode", default_namespace=NAMESPACE)
    return f"<member>{_xml(item)}</member>"


def moto_metric_alarms(call: Call, data: bytes) -> list[Any]:
    """The MetricAlarms of moto's DescribeAlarms answer: dicts (JSON) or elements (query)."""
    if call.protocol == "json":
        return list(json.loads(data or b"{}").get("MetricAlarms") or [])
    root = ET.fromstring(data)  # noqa: S314 - moto's own answer, not untrusted input
    container = root.find(f".//{_TAG}MetricAlarms")
    return list(container) if container is not None else []


def metric_facts(call: Call, alarm: Any) -> tuple[str, str, list[str]]:
    """(name, state, actions) of one of moto's metric alarms, in either protocol."""
    if call.protocol == "json":
        actions = [
            *alarm.get("AlarmActions", []),
            *alarm.get("OKActions", []),
            *alarm.get("InsufficientDataActions", []),
        ]
        return str(alarm.get("AlarmName")), str(alarm.get("StateValue")), actions
    actions = [
        e.text or ""
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
        for e in alarm.findall(f"{_TAG}{key}/{_TAG}member")
    ]
    return (
        alarm.findtext(f"{_TAG}AlarmName") or "",
        alarm.findtext(f"{_TAG}StateValue") or "",
        actions,
    )
