"""The phases, listed by hand in order. Each is a package, ``phases/<slug>/``, whose
``__init__`` is its public face (``PHASE``, and whatever the command line needs of it); its
other modules are named for what they hold and are private to it. Code more than one phase
uses lives in ``phases.shared``, never in a phase: no phase package imports another (a test
reads the imports). The engine never imports this package — the command line passes the
registry in.

``INDEX`` names them; ``REGISTRY`` imports their faces on first use. A face imports none of
its phase's modules until it is asked to plan or run, so ``flexmigrate status`` loads the
registry and stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flexmigrate.engine.protocol import Phase

# (id, slug, module)
INDEX: tuple[tuple[str, str, str], ...] = (
    ("phase-1", "cluster-foundation", "cluster_foundation"),
    ("phase-2", "lb-controller", "lb_controller"),
    ("phase-3", "app-deploy", "app_deploy"),
    ("phase-4", "traffic-shift", "traffic_shift"),
    ("phase-5", "decommission", "decommission"),
)


def _load() -> tuple[Phase, ...]:
    loaded = []
    for phase_id, slug, module in INDEX:
        phase: Phase = importlib.import_module(f"phases.{module}").PHASE
        if (phase.id, phase.slug) != (phase_id, slug):
            raise RuntimeError(
                f"phases.{module} defines {phase.id} {phase.slug}, not {phase_id} {slug}"
            )
        loaded.append(phase)
    return tuple(loaded)


def __getattr__(name: str) -> tuple[Phase, ...]:
    if name == "REGISTRY":
        registry = _load()
        globals()["REGISTRY"] = registry
        return registry
    raise AttributeError(f"module 'phases' has no attribute {name!r}")
