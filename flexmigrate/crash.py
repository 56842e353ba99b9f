"""Crash logs for bugs (exit 70): the traceback, redacted, with the versions that matter."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path

from flexmigrate import __version__
from flexmigrate.redact import REDACT

_PACKAGES = (
    "boto3",
    "botocore",
    "kubernetes",
    "click",
    "rich",
    "pydantic",
    "tenacity",
    "ruamel.yaml",
)


def _versions() -> list[str]:
    lines = [f"flexmigrate {__version__}", f"python {sys.version.split()[0]}", platform.platform()]
    for name in _PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} (not installed)")
    return lines


def write_crash_log(exc: BaseException, argv: list[str], directory: Path | None) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = directory if directory is not None else Path(tempfile.gettempdir())
    try:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        target = Path(tempfile.gettempdir())
    path = target / f"crash-{stamp}-{os.getpid()}.log"
    body = "\n".join(
        [
            "flexmigrate crashed: this is a bug. Please attach this file to a bug report.",
            "",
            *_versions(),
            "",
            "command: flexmigrate " + " ".join(argv),
            "",
            "".join(traceback.format_exception(exc)),
        ]
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(REDACT(body, limit=None))
    return path
