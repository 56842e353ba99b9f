"""Placeholders: what a generated runbook (``flexmigrate init``) could not learn from AWS.

A placeholder is a plain string, ``<fill in: WHAT>``, so a runbook holding one still validates
(every field it can stand in is a string) and ``runbook validate`` passes at once; every
phase's preflight refuses it with the same WHAT the file's comment shows, so it cannot be run
by mistake. No real value has this form: no image reference, secret name, ARN or tag does.
"""

from __future__ import annotations

import re
from typing import Any

_PATTERN = re.compile(r"<fill in: ([^<>]+)>")


def placeholder(what: str) -> str:
    """The placeholder for ``what`` (one line, no angle brackets)."""
    return f"<fill in: {what}>"


def find_placeholders(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, what to fill in) of every placeholder in ``value`` (plain data)."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found += [(path or "(value)", m.group(1)) for m in _PATTERN.finditer(value)]
    elif isinstance(value, dict):
        for key, item in value.items():
            found += find_placeholders(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += find_placeholders(item, f"{path}[{index}]")
    return found


def describe(found: list[tuple[str, str]]) -> str:
    """``field: fill in: what`` for each placeholder, one per line part."""
    return "; ".join(f"{path}: fill in: {what}" for path, what in found)
