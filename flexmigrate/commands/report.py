"""report: the migration so far, from the state and journal, offline (no AWS call). Also what
``run --report``, ``resume --report`` and ``rehearse --report`` write after their command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flexmigrate.commands.base import make_ui, store_for
from flexmigrate.engine.migration import Migration, PhaseInfo, build
from flexmigrate.engine.protocol import Registry
from flexmigrate.engine.report import Report
from flexmigrate.options import Options
from flexmigrate.state.model import State

# The commands whose --report is the migration report (with the command's outcome on top).
MIGRATION_KINDS = ("run", "resume", "rehearsal")


def phase_infos(registry: Registry, runbook: Any) -> list[PhaseInfo]:
    infos = []
    for phase in registry:
        try:
            steps = {s.id: (s.title, bool(s.reversible)) for s in phase.steps(runbook)}
        except Exception:  # noqa: BLE001 - a report never fails on one phase's step list
            steps = {}
        infos.append(PhaseInfo(phase.id, phase.slug, phase.title, steps))
    return infos


def migration_of(
    state: State, events: list[dict[str, Any]], registry: Registry, runbook: Any
) -> Migration:
    from flexmigrate.costs import estimate

    migration = build(
        state,
        events,
        phase_infos(registry, runbook),
        account=runbook.aws.account_id,
        region=runbook.aws.region,
    )
    migration.cost = estimate(runbook, registry)
    return migration


def write_after_command(session: Any, command: Report, path: Path) -> Path:
    """The migration report a command's ``--report`` writes once the command is done."""
    from flexmigrate.render_migration import write_migration

    events = session.store.read_journal()
    migration = migration_of(session.state, events, session.registry, session.runbook)
    return write_migration(migration, path, command)


def report(opts: Options, path: Path | None) -> int:
    from flexmigrate.commands.common import load
    from flexmigrate.render import report_format
    from flexmigrate.render_migration import write_migration

    if path is not None:
        report_format(path)
    ui = make_ui(opts)
    registry = opts.registry_loader()
    runbook = load(opts, registry)
    store = store_for(opts, runbook.name)
    try:
        state = store.load() or State(runbook=runbook.name)
        events = store.read_journal()
    finally:
        store.close()
    migration = migration_of(state, events, registry, runbook)
    if path is None and opts.json:
        ui.emit_json({"kind": "migration", "runbook": runbook.name, **migration.to_dict()})
        return 0
    target = path or opts.state_dir / runbook.name / "reports" / "migration.html"
    written = write_migration(migration, target)
    ui.info(
        f"report written to {written}: {sum(p.status == 'completed' for p in migration.phases)} "
        f"of {len(migration.phases)} phases completed, {len(migration.traffic)} traffic "
        f"step(s), {migration.evaluations()} gate evaluation(s)"
    )
    if opts.json:
        ui.emit_json({"report": str(written)})
    return 0
