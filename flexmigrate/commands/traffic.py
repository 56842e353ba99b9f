"""shift-traffic: one manual step of the traffic shift, through the phase's face.

A manual shift is a step of the traffic-shift phase outside its schedule (``manual-N``), run by
the executor like a step of the schedule, after the same preflight, so it is checkpointed,
journaled, resumable and undone by ``rollback traffic-shift``; the phase is left ``running``
and ``run traffic-shift`` continues the schedule from the first step above the new weight. A
shift to 0 % is the manual way back: its preflight leaves out the EKS side's health, which
must never keep traffic there.

The command knows the phase only by its slug and by what its face offers under
``extras["manual-shift"]`` (``ManualShift`` below states the shape), so under a test registry
it drives that registry's phase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from flexmigrate.commands.common import new_report, open_session, reporting
from flexmigrate.engine.executor import Executor
from flexmigrate.engine.protocol import Check, Phase, Registry, Step
from flexmigrate.errors import InvalidInput
from flexmigrate.options import Options

SLUG = "traffic-shift"
EXTRA = "manual-shift"


class ManualShift(Protocol):
    """What a traffic-shift phase offers ``shift-traffic``."""

    needs: tuple[str, ...]  # steps of the schedule a manual step needs done first

    def step(self, percent: int, bake: float | None = None) -> Step: ...
    def way_back_checks(self, runbook: Any) -> Sequence[Check]: ...


def traffic_phase(registry: Registry) -> tuple[Phase, ManualShift]:
    phase = registry.find(SLUG)
    if phase is None:
        raise InvalidInput(f"no {SLUG} phase is registered (known: {registry.names()})")
    manual: ManualShift | None = phase.extras.get(EXTRA)
    if manual is None:
        raise InvalidInput(f"{phase.id} ({SLUG}) offers no manual shift")
    return phase, manual


def shift_traffic(
    opts: Options, percent: int, bake: float | None, dry_run: bool, report_path: Path | None
) -> int:
    if report_path is not None:
        from flexmigrate.render import report_format

        report_format(report_path)
    with open_session(opts, command=opts.command_line(), dry_run=dry_run) as session:
        phase, manual = traffic_phase(session.registry)
        if percent == 0:
            # The way back has its own preflight; the registry carries it so every lookup of
            # the phase (previous, later) finds the same object.
            phase = dataclasses.replace(phase, checks=manual.way_back_checks)
            session.registry = Registry(
                [phase if p.id == phase.id else p for p in session.registry]
            )
        step = manual.step(percent, bake)
        report = new_report("shift-traffic", session)
        executor = Executor(session, report)
        with reporting(opts, session, report, report_path):
            if dry_run:
                try:
                    executor.plan_outside_schedule(phase, step, needs=manual.needs)
                finally:
                    if not session.ui.json_mode:
                        from flexmigrate.commands.show import plan_tables

                        plan_tables(session.ui, report)
                session.ui.success("plan complete: nothing was changed")
            else:
                executor.run_outside_schedule(
                    phase, step, needs=manual.needs, event="manual_shift_started", percent=percent
                )
                session.ui.success(
                    f"EKS has {percent} % now; {phase.id} stays running — `flexmigrate run "
                    f"{phase.slug}` continues the schedule from the first step above {percent} %"
                )
    return 0
