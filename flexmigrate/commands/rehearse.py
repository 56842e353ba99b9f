"""rehearse: every registered phase, in order, against a fresh sandbox in a temporary
directory, with a summary and a report; the sandbox is torn down unless --keep."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from flexmigrate.commands.base import make_ui
from flexmigrate.commands.common import finish, new_report, open_session
from flexmigrate.engine.executor import Executor
from flexmigrate.errors import FlexmigrateError
from flexmigrate.options import Options


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def rehearse(opts: Options, injects: tuple[str, ...], keep: bool, report_path: Path | None) -> int:
    from flexmigrate.commands.sandbox import require_extra
    from flexmigrate.render import report_format
    from flexmigrate.runbook.locate import shipped_runbooks_dir

    require_extra()
    from flexmigrate.sandbox import manage

    if report_path is not None:
        report_format(report_path)
    ui = make_ui(opts)
    root = Path(tempfile.mkdtemp(prefix="flexmigrate-rehearsal-"))
    sandbox_dir = root / "sandbox"
    from flexmigrate.runbook.locate import locate_runbook

    # absolute: the sandbox reads it too (its state bucket), from a directory of its own
    runbook = (
        str(locate_runbook(opts.runbook).resolve())
        if opts.runbook
        else str(shipped_runbooks_dir() / "sandbox.yaml")
    )
    started = time.monotonic()
    ui.info(f"starting a fresh sandbox in {sandbox_dir} …")
    manage.up(sandbox_dir, injects=injects, runbook=runbook)
    ui.info(f"sandbox up in {time.monotonic() - started:.1f}s; rehearsing with {runbook}")
    run_opts = replace(opts, runbook=runbook, state_dir=root / "state", yes=True)
    error: FlexmigrateError | None = None
    try:
        with (
            _environment(manage.environment(sandbox_dir)),
            open_session(run_opts, command="flexmigrate rehearse") as session,
        ):
            report = new_report("rehearsal", session)
            executor = Executor(session, report)
            try:
                for phase in session.registry:
                    executor.run_phase(phase)
            except FlexmigrateError as exc:
                error = exc
            finally:
                sandbox = _sandbox_detail(sandbox_dir)
                report.summary.update(
                    {
                        "phases": len(session.registry),
                        "wall time": f"{time.monotonic() - started:.1f}s",
                        "AWS requests seen by the sandbox": sandbox.get("total", "?"),
                        "sandbox": str(sandbox_dir) if keep else "torn down",
                    }
                )
                _summary(session.ui, report, session.clients.call_counts())
                finish(run_opts, session, report, report_path, error)
    finally:
        if keep:
            ui.info(
                f"sandbox kept: `source {sandbox_dir / 'env'}`; stop it with "
                f"`flexmigrate sandbox down --dir {sandbox_dir}`"
            )
        else:
            manage.down(sandbox_dir)
    if error is not None:
        raise error
    return 0


def _sandbox_detail(directory: Path) -> dict[str, object]:
    from flexmigrate.sandbox import manage

    try:
        detail = manage.status(directory) or {}
    except FlexmigrateError:
        return {}
    requests = detail.get("aws_requests") or {}
    return requests if isinstance(requests, dict) else {}


def _summary(ui: object, report: object, calls: dict[str, int]) -> None:
    from rich.table import Table

    from flexmigrate.durations import format_duration
    from flexmigrate.engine.report import Report
    from flexmigrate.ui import Ui

    assert isinstance(ui, Ui) and isinstance(report, Report)
    table = Table(title="Rehearsal", title_justify="left")
    table.add_column("phase")
    table.add_column("status")
    table.add_column("steps")
    table.add_column("time")
    for phase in report.phases:
        done = sum(1 for s in phase.steps if s.status == "completed")
        took = format_duration(phase.duration) if phase.duration is not None else ""
        table.add_row(f"{phase.id} {phase.slug}", phase.status, f"{done}/{len(phase.steps)}", took)
    ui.console().print(table)
    ui.info(
        f"calls made: AWS {calls.get('aws', 0)}, Kubernetes {calls.get('kubernetes', 0)}, "
        f"tools {calls.get('tools', 0)}"
    )
    report.summary["calls"] = calls
