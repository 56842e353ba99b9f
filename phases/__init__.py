"""The phases, listed by hand in order. Each ``phases/<slug>.py`` defines one ``Phase`` of checks
and steps against the protocol in ``flexmigrate.engine.protocol``; the engine never imports
this package — the command line passes the registry in."""

from __future__ import annotations

from flexmigrate.engine.protocol import Phase

REGISTRY: tuple[Phase, ...] = ()
