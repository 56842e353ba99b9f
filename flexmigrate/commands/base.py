"""Light helpers shared by every command; ``status`` imports only these, so no rich, pydantic
or engine modules load on its path."""

from __future__ import annotations

from typing import Any

from flexmigrate.options import Options


def make_ui(opts: Options) -> Any:
    from flexmigrate.ui import Ui

    return Ui(json_mode=opts.json, color=opts.color, verbose=opts.verbose)


def store_for(opts: Options, runbook_name: str, stale_after: float = 600.0) -> Any:
    from flexmigrate.state.store import LocalStateStore

    return LocalStateStore(opts.state_dir / runbook_name, lock_stale_after=stale_after)
