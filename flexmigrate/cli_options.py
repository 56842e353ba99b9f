"""Options more than one part of the command line shares. Only click is imported here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def report_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write a report: .md, .json or .html (one self-contained page).",
    )(func)
