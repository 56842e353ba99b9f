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
    # (id, slug) of each phase without importing the phases: all `status` needs.
    index_loader: Callable[[], list[tuple[str, str]]] | None = None

    def phase_index(self) -> list[tuple[str, str]]:
        if self.index_loader is not None:
            return self.index_loader()
        return [(p.id, p.slug) for p in self.registry_loader()]

    def command_line(self) -> str:
        return "flexmigrate " + " ".join(self.argv)


def default_index() -> list[tuple[str, str]]:
    from phases import INDEX

    return [(phase_id, slug) for phase_id, slug, _ in INDEX]


def default_registry() -> Any:
    from flexmigrate.engine.protocol import Registry
    from phases import REGISTRY

    return Registry(REGISTRY)
