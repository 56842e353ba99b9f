"""The global options of one invocation, frozen. Imported by the command line, so it must
stay light (no rich, pydantic, boto3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flexmigrate.engine.protocol import Registry


@dataclass(frozen=True)
class Options:
    runbook: str | None
    state_dir: Path
    json: bool
    yes: bool
    verbose: int
    color: bool
    registry_loader: Callable[[], Registry]
    argv: tuple[str, ...] = ()

    def command_line(self) -> str:
        return "flexmigrate " + " ".join(self.argv)


def default_registry() -> Any:
    from flexmigrate.engine.protocol import Registry
    from phases import REGISTRY

    return Registry(REGISTRY)
