"""The phases, listed by hand in order. Each ``phases/<slug>.py`` defines one ``Phase`` of checks
and steps against the protocol in ``flexmigrate.engine.protocol``; the engine never imports
this package — the command line passes the registry in."""

from __future__ import annotations

from flexmigrate.engine.protocol import Phase
from phases import app_deploy, cluster_foundation, decommission, lb_controller, traffic_shift

REGISTRY: tuple[Phase, ...] = (
    cluster_foundation.PHASE,
    lb_controller.PHASE,
    app_deploy.PHASE,
    traffic_shift.PHASE,
    decommission.PHASE,
)
