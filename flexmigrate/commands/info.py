"""status, history, unlock, runbook validate|schema, state restore|rebuild: no cloud calls."""

from __future__ import annotations

import json
import sys

from flexmigrate.commands.base import make_ui, runbook_store
from flexmigrate.errors import LockHeld, RunbookError
from flexmigrate.options import Options
from flexmigrate.runbook.locate import display_path, locate_runbook


def status(opts: Options, *, live: bool = False) -> int:
    """Offline unless ``live``: the plain path reads only the state (no AWS client loads)."""
    from flexmigrate.commands.show import status_document, status_text

    name, store = runbook_store(opts)
    state = store.load()
    registry = opts.registry_loader()
    try:
        holder = store.lock_holder()
    except LockHeld:
        holder = None
    views = registry.status_views(state)
    if live:
        from flexmigrate.commands.live import live_views

        views += live_views(opts, registry, state)
    doc = status_document(state, [(p.id, p.slug) for p in registry], name, holder, views)
    if opts.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        import os

        color = opts.color and not os.environ.get("NO_COLOR")
        status_text(doc, store.location, views, color=color)
    return 0


def history(opts: Options) -> int:
    from flexmigrate.commands.show import history_text

    ui = make_ui(opts)
    _, store = runbook_store(opts)
    # a checkpoint event is the state's own change, journaled for `state rebuild`, not news
    events = [e for e in store.read_journal() if e.get("event") != "checkpoint"]
    if opts.json:
        ui.emit_json(events)
    elif not events:
        ui.info("no events yet")
    else:
        history_text(ui, events)
    return 0


def unlock(opts: Options, force: bool, lock_id: str | None = None) -> int:
    ui = make_ui(opts)
    _, store = runbook_store(opts)
    holder = store.lock_holder()
    if holder is None:
        ui.info("the lock is free")
        if opts.json:
            ui.emit_json({"released": False, "holder": None})
        return 0
    if not force:
        takeover = store.lock("flexmigrate unlock")  # takes over only a dead holder here
        store.unlock()
        store.journal("lock_released", previous=holder.describe(), reason="holder gone")
        ui.info(f"released the lock of {holder.describe()}: that process is gone")
        if opts.json:
            ui.emit_json({"released": True, "holder": holder.describe(), "forced": False})
        del takeover
        return 0
    released = store.force_unlock(lock_id)
    if released is None:
        ui.info("the lock is free")
        if opts.json:
            ui.emit_json({"released": False, "holder": None})
        return 0
    store.journal("lock_forced", previous=released.describe(), lock_id=released.nonce)
    ui.warn(f"forced the lock {released.nonce} of {released.describe()} open")
    if opts.json:
        ui.emit_json(
            {
                "released": True,
                "lock_id": released.nonce,
                "holder": released.describe(),
                "forced": True,
            }
        )
    return 0


def validate(opts: Options, path: str | None) -> int:
    from flexmigrate.runbook.loader import load_runbook

    ui = make_ui(opts)
    located = locate_runbook(path or opts.runbook)
    model = opts.registry_loader().runbook_model()
    try:
        runbook = load_runbook(located, model)
    except RunbookError as exc:
        if opts.json:
            ui.emit_json({"valid": False, "file": display_path(located), "problems": exc.problems})
            exc.reported = True  # type: ignore[attr-defined]
        raise
    from flexmigrate.runbook.placeholders import find_placeholders

    # Valid, but not runnable yet: every phase's preflight refuses a placeholder.
    left = find_placeholders(runbook.model_dump())
    if opts.json:
        ui.emit_json(
            {
                "valid": True,
                "file": display_path(located),
                "name": runbook.name,
                "derived": list(runbook.notes),
                "placeholders": [{"field": f, "fill_in": what} for f, what in left],
            }
        )
    else:
        sections = [key for key in model.model_fields if key not in ("name", "description")]
        ui.success(
            f"{display_path(located)}: valid runbook {runbook.name!r} for account "
            f"{runbook.aws.account_id} in {runbook.aws.region} ({', '.join(sections)})"
        )
        for note in runbook.notes:
            ui.info(f"  {note}")
        if left:
            ui.warn(f"{len(left)} placeholder(s) to fill in before any phase runs:")
            for field, what in left:
                ui.warn(f"  {field}: fill in: {what}")
    return 0


def schema(opts: Options) -> int:
    document = opts.registry_loader().runbook_model().model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "flexmigrate runbook"
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 0


def state_restore(opts: Options, version: str | None = None) -> int:
    ui = make_ui(opts)
    _, store = runbook_store(opts)
    store.lock(opts.command_line())
    try:
        restored = store.restore(version)
        store.journal("state_restored", serial=restored.serial, version=version)
    finally:
        store.unlock()
    where = store.location.rstrip("/") + "/state.json"
    if opts.json:
        ui.emit_json({"restored": where, "serial": restored.serial, "version": version})
    else:
        source = f"version {version}" if version else "its previous version"
        ui.success(f"restored {where} from {source} (serial {restored.serial})")
    return 0


def state_rebuild(opts: Options) -> int:
    """Write state.json again from the checkpoints the journal holds, when the state file and
    its backup are both lost or unreadable."""
    from flexmigrate.errors import StateError
    from flexmigrate.state import replay

    ui = make_ui(opts)
    _, store = runbook_store(opts)
    store.lock(opts.command_line())
    try:
        state = replay.rebuild(store.read_journal())
        if state is None:
            raise StateError(
                f"the journal at {store.location} holds no checkpoint to rebuild the state from "
                "(flexmigrate journals them from this version on)"
            )
        try:
            existing = store.load()
        except StateError:
            existing = None
            damaged = True
        else:
            damaged = existing is not None and existing.lineage != state.lineage
        if existing is not None and not damaged:
            raise StateError(
                f"{store.location.rstrip('/')}/state.json reads fine (serial {existing.serial}); "
                "there is nothing to rebuild — `flexmigrate state restore` puts the checkpoint "
                "before it back"
            )
        if damaged:
            set_aside = getattr(store, "set_aside_damaged", None)
            if set_aside is None:
                raise StateError(
                    f"{store.location.rstrip('/')}/state.json is damaged; remove it, then "
                    "`flexmigrate state rebuild` writes it from the journal"
                )
            set_aside()
        store.import_state(state, [])
        store.journal("state_rebuilt", serial=state.serial, lineage=state.lineage)
    finally:
        store.unlock()
    where = store.location.rstrip("/") + "/state.json"
    if opts.json:
        ui.emit_json({"rebuilt": where, "serial": state.serial, "lineage": state.lineage})
    else:
        ui.success(
            f"rebuilt {where} from the journal (serial {state.serial}); "
            "`flexmigrate status` shows it, `flexmigrate resume` goes on from it"
        )
    return 0
