"""Canaries: the sandbox's secret values (fresh random strings on every seeding), read back so
a test can prove none of them reached a file or an output. Short fragments count too: a value
cut in half by a truncated message is still a leak."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import boto3

_FRAGMENT = 12  # characters of a value that, found anywhere, count as a leak


def canaries(env: Mapping[str, str]) -> list[str]:
    """Every value of every secret in the sandbox's Secrets Manager."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    values: list[str] = []
    for entry in client.list_secrets()["SecretList"]:
        text = client.get_secret_value(SecretId=entry["ARN"]).get("SecretString", "")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        values += [str(v) for v in parsed.values()] if isinstance(parsed, dict) else [str(parsed)]
    # the value whole (and base64, a Secret's data form), and each random part of it (the
    # password inside a database URL), since the text around a part is no secret
    found: list[str] = []
    for value in values:
        found += [value, base64.b64encode(value.encode()).decode()]
        found += [part for part in re.split(r"[^A-Za-z0-9_-]", value) if len(part) >= 16]
    return found


def _forms(value: str) -> list[str]:
    """The canary and its first and last fragments."""
    return [value, value[:_FRAGMENT], value[-_FRAGMENT:]] if len(value) <= 48 else [value]


def leaks(secrets: Iterable[str], files: Iterable[Path], outputs: Iterable[str]) -> list[str]:
    """Where any form of any canary appears: ``path`` or ``output #N``."""
    forms = [form for value in secrets for form in _forms(value)]
    found = []
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        found += [f"{path}" for form in forms if form in text][:1]
    for n, text in enumerate(outputs):
        found += [f"output #{n}" for form in forms if form in text][:1]
    return found
