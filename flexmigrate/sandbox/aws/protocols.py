"""AWS error responses in each wire protocol, so botocore parses the code it would see in AWS.

The formats follow the protocol specifications botocore implements: EC2's
``<Response><Errors>``, the query protocol's ``<ErrorResponse>``, ``__type`` in JSON and CBOR
bodies, ``x-amzn-ErrorType`` for rest-json, and S3's bare ``<Error>``.
"""

from __future__ import annotations

import json
import struct
from xml.sax.saxutils import escape

from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Reply, request_id

# JSON-protocol services whose errors also carry the query-protocol code in a header.
_QUERY_COMPATIBLE = {"cloudwatch", "sqs"}
_JSON_1_0 = {"cloudwatch", "dynamodb", "sqs", "stepfunctions"}


def error_reply(call: Call, status: int, code: str, message: str) -> Reply:
    """An error of ``call``'s service with ``code``, shaped as that service sends errors."""
    rid = request_id()
    protocol = call.protocol
    headers: list[tuple[str, str]] = [("x-amzn-RequestId", rid)]
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif protocol == "query" or (protocol == "rest-xml" and call.service != "s3"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    elif protocol == "json":
        version = "1.0" if call.service in _JSON_1_0 else "1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
        headers.append(("Content-Type", f"application/x-amz-json-{version}"))
        if call.service in _QUERY_COMPATIBLE:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
    elif protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": code, "message": message})
        headers += [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")]
        if call.service in _QUERY_COMPATIBLE:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
    else:  # rest-json and anything unknown
        body = json.dumps({"message": message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    headers.append(("Content-Length", str(len(body))))
    return Reply(status, headers, body)


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of text strings: all an error body needs (RFC 8949, major types 3 and 5)."""
    out = bytearray(_cbor_head(5, len(items)))
    for key, value in items.items():
        for text in (key, value):
            raw = text.encode()
            out += _cbor_head(3, len(raw)) + raw
    return bytes(out)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", length)
    return bytes([major << 5 | 26]) + struct.pack(">I", length)
