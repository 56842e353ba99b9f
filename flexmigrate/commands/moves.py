"""state push / state pull: move a runbook's state between a local directory and S3, keeping
its serial, lineage and journal. Both stores are locked while it moves."""

from __future__ import annotations

from typing import Any

from flexmigrate.commands.base import make_ui, store_for
from flexmigrate.errors import InvalidInput, StateError
from flexmigrate.options import Options


def _stores(opts: Options) -> tuple[Any, Any]:
    from flexmigrate.commands.common import load
    from flexmigrate.runbook.locate import display_path
    from flexmigrate.state.store import LocalStateStore

    runbook = load(opts)
    if runbook.state.backend != "s3":
        shown = display_path(runbook.path) if runbook.path else "the runbook"
        raise InvalidInput(
            f"{shown}: state.backend is local; `state push` and `state pull` need the S3 "
            "location in the runbook: state: {backend: s3, bucket: …, prefix: …, region: …}"
        )
    stale = runbook.execution.lock_stale_after
    local = LocalStateStore(opts.state_dir / runbook.name, lock_stale_after=stale)
    remote = store_for(opts, runbook.name, stale, runbook.state, runbook.aws.profile)
    return local, remote


def push(opts: Options) -> int:
    local, remote = _stores(opts)
    return _move(opts, local, remote, "push")


def pull(opts: Options) -> int:
    local, remote = _stores(opts)
    return _move(opts, remote, local, "pull")


def _move(opts: Options, source: Any, target: Any, verb: str) -> int:
    ui = make_ui(opts)
    command = opts.command_line()
    source.lock(command)
    try:
        target.lock(command)
        try:
            moved = _copy(source, target, verb)
        finally:
            target.unlock()
    finally:
        source.unlock()
        source.close()
        target.close()
    state, events = moved
    if opts.json:
        ui.emit_json(
            {
                "from": source.location,
                "to": target.location,
                "serial": state.serial,
                "lineage": state.lineage,
                "events": events,
            }
        )
    else:
        ui.success(
            f"copied serial {state.serial} of lineage {state.lineage} and {events} journal "
            f"event(s) from {source.location} to {target.location}; the source was left as it is"
        )
    return 0


def _copy(source: Any, target: Any, verb: str) -> tuple[Any, int]:
    state = source.load()
    if state is None:
        raise StateError(f"there is no state at {source.location} to {verb}")
    events = source.read_journal()
    existing = target.load()
    if existing is not None:
        if existing.lineage != state.lineage:
            raise StateError(
                f"{target.location} already holds another state (lineage {existing.lineage}, "
                f"serial {existing.serial}), not lineage {state.lineage}; nothing was copied. "
                "Point the runbook's state at another prefix, or remove that state first."
            )
        if existing.serial > state.serial:
            raise StateError(
                f"{target.location} is ahead (serial {existing.serial} > {state.serial} of the "
                f"same lineage); nothing was copied — `state "
                f"{'pull' if verb == 'push' else 'push'}` goes the other way"
            )
        events = events[len(target.read_journal()) :]
        if existing.serial == state.serial and not events:
            return state, 0
    target.import_state(state, events)
    return state, len(events)
