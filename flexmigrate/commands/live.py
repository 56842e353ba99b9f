"""``status --live``: what each phase reads back from AWS and Kubernetes now, through clients
that refuse every mutating call."""

from __future__ import annotations

from typing import Any

from flexmigrate.engine.protocol import Registry, StatusView
from flexmigrate.options import Options


def live_views(opts: Options, registry: Registry, state: Any) -> list[StatusView]:
    from flexmigrate.clients.bundle import Clients
    from flexmigrate.commands.base import make_ui
    from flexmigrate.commands.common import load
    from flexmigrate.engine.context import Session, StepContext
    from flexmigrate.state.model import State

    runbook = load(opts, registry)
    session = Session(
        runbook=runbook,
        registry=registry,
        store=None,  # type: ignore[arg-type]  # read-only: nothing is saved
        state=state if state is not None else State(runbook=runbook.name),
        clients=Clients(runbook, cluster=registry.eks_cluster(runbook), read_only=True),
        ui=make_ui(opts),
        dry_run=True,
        command="flexmigrate status --live",
    )
    try:
        return [
            phase.live(StepContext[Any](session, phase))
            for phase in registry
            if phase.live is not None
        ]
    finally:
        session.clients.close()
