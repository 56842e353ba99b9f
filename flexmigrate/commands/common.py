"""Opening a command: runbook, state store, lock, clients, Ctrl-C handling, and the result."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flexmigrate.commands.base import make_ui, store_for
from flexmigrate.engine.context import Session
from flexmigrate.engine.protocol import Phase, Registry
from flexmigrate.engine.report import Report
from flexmigrate.errors import FlexmigrateError, InvalidInput
from flexmigrate.options import Options
from flexmigrate.ui import Ui


def load(opts: Options, registry: Registry | None = None) -> Any:
    """The runbook, validated against the model of the registry's phases."""
    from flexmigrate.runbook.loader import load_runbook
    from flexmigrate.runbook.locate import locate_runbook

    model = (registry or opts.registry_loader()).runbook_model()
    return load_runbook(locate_runbook(opts.runbook), model)


def select_phases(registry: Registry, name: str | None, *, default_all: bool = True) -> list[Phase]:
    if name in (None, "all"):
        if not default_all and name is None:
            return []
        return list(registry)
    phase = registry.find(name)
    if phase is None:
        raise InvalidInput(f"unknown phase {name!r}; known: {registry.names()}, or all")
    return [phase]


@contextlib.contextmanager
def interrupt_handling(stop: threading.Event, ui: Ui) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): stop between calls, save, exit 130. Second: at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        ui.warn("stopping after the current call; the state will be saved (Ctrl-C again to abort)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def open_session(
    opts: Options, *, command: str, dry_run: bool = False, lock: bool = True
) -> Iterator[Session]:
    """A ready session. Mutating commands take the lock before their first call."""
    from flexmigrate.clients.bundle import Clients

    ui = make_ui(opts)
    registry = opts.registry_loader()
    runbook = load(opts, registry)
    store = store_for(
        opts, runbook.name, runbook.execution.lock_stale_after, runbook.state, runbook.aws.profile
    )
    locked = False
    try:
        if lock and not dry_run:
            takeover = store.lock(command)
            locked = True
            if takeover is not None:
                previous = takeover.previous
                ui.warn(
                    f"took over the lock of {previous.describe()}: that process is gone "
                    "(it was killed or crashed); its state is resumable"
                )
                store.journal(
                    "lock_taken_over",
                    previous={
                        "pid": previous.pid,
                        "host": previous.host,
                        "command": previous.command,
                    },
                )
        state = store.load_or_new(runbook.name)
        session = Session(
            runbook=runbook,
            registry=registry,
            store=store,
            state=state,
            clients=None,  # type: ignore[arg-type]
            ui=ui,
            dry_run=dry_run,
            yes=opts.yes,
            command=command,
        )
        session.clients = Clients(
            runbook,
            cluster=registry.eks_cluster(runbook),
            read_only=dry_run,
            listener=session.on_call,
            sleep=session.sleep,
        )
        if not dry_run:
            from flexmigrate import notify

            session.notifier = notify.start(session)
        with interrupt_handling(session.stop, ui):
            try:
                yield session
            finally:
                if session.notifier is not None:
                    from flexmigrate import notify

                    notify.finish(session)
                session.clients.close()
    finally:
        if locked:
            store.unlock()
        store.close()


def new_report(kind: str, session: Session) -> Report:
    return Report(
        kind=kind,
        runbook=session.runbook.name,
        region=session.runbook.aws.region,
        account=session.runbook.aws.account_id,
    )


@contextlib.contextmanager
def reporting(
    opts: Options, session: Session, report: Report, report_path: Path | None
) -> Iterator[None]:
    """Finish the command's report however the block ends (an error is recorded in it)."""
    error: FlexmigrateError | None = None
    try:
        yield
    except FlexmigrateError as exc:
        error = exc
        raise
    finally:
        finish(opts, session, report, report_path, error)


def finish(
    opts: Options,
    session: Session,
    report: Report,
    report_path: Path | None,
    error: FlexmigrateError | None,
) -> None:
    """Summary, report file, JSON document. Runs on success and on failure alike."""
    from flexmigrate.render import write_report

    if session.notifier is not None:
        # The command is done: flush its notifications first, so the report lists any that
        # could not be delivered.
        from flexmigrate import notify

        notify.finish(session)

    if error is not None:
        report.exit_code = int(error.exit_code)
        report.message = str(error)
    report.summary.setdefault("calls", session.clients.call_counts())
    if report_path is not None:
        from flexmigrate.commands.report import MIGRATION_KINDS, write_after_command

        if report.kind in MIGRATION_KINDS:
            written = write_after_command(session, report, report_path)
        else:
            written = write_report(report, report_path)
        session.ui.info(f"report written to {written}")
    if opts.json:
        document = report.to_dict()
        if error is not None:
            document["error"] = error_document(error)
            error.reported = True  # type: ignore[attr-defined]
        session.ui.emit_json(document)


def error_document(error: FlexmigrateError) -> dict[str, Any]:
    from flexmigrate.redact import REDACT

    return {
        "exit_code": int(error.exit_code),
        "kind": error.kind,
        "message": REDACT(str(error)),
        "hint": error.hint,
    }
