"""Durations as operators write them: ``30s``, ``5m``, ``24h``, ``7d`` (and combinations like
``1h30m``), in flags and runbooks alike."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; raises ValueError with the accepted forms."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (use 30s, 5m, 24h, 7d)")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text} is negative")
        return float(text)
    value = text.strip().replace(" ", "")
    if not value or not re.fullmatch(PATTERN, value):
        raise ValueError(f"{text!r} is not a duration (use 30s, 5m, 24h, 7d)")
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """Short human form: 0.4s, 45s, 5m, 1h30m, 7d."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
