"""Where runbooks come from: ``--runbook``, ``$FLEXMIGRATE_RUNBOOK``, ``./flexmigrate.yaml``,
or a runbook shipped with flexmigrate (the example, ``flexdesk-production``)."""

from __future__ import annotations

import os
from pathlib import Path

from flexmigrate.errors import InvalidInput

DEFAULT_FILE = "flexmigrate.yaml"


def shipped_runbooks_dir() -> Path:
    """The ``runbooks/`` tree: beside the package in a checkout, inside it once installed."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_shipped" / "runbooks"
    if installed.is_dir():
        return installed
    return package.parent / "runbooks"


def locate_runbook(given: str | None) -> Path:
    """The runbook file to use. A bare name such as ``flexdesk-production`` picks a shipped
    runbook."""
    value = given or os.environ.get("FLEXMIGRATE_RUNBOOK")
    if not value:
        default = Path(DEFAULT_FILE)
        if default.exists():
            return default
        raise InvalidInput(
            f"no runbook: pass --runbook PATH, set FLEXMIGRATE_RUNBOOK, or create ./{DEFAULT_FILE}",
            hint="`flexmigrate runbook schema` prints the JSON Schema of a runbook.",
        )
    path = Path(value).expanduser()
    if path.exists():
        return path
    shipped = shipped_runbooks_dir()
    for candidate in (shipped / value, shipped / f"{value}.yaml", shipped / path.name):
        if candidate.is_file():
            return candidate
    return path


def display_path(path: Path) -> str:
    """A path as the operator would recognise it: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
