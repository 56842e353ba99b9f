"""A registry whose traffic-shift phase is a stand-in: its manual step writes the share of
traffic "on EKS" to an SSM parameter, its status view shows what it recorded, and its live view
reads the parameter back. ``shift-traffic`` and ``status --live`` must drive this stand-in
through its face, never the shipped phase 4."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import (
    Action,
    Change,
    Check,
    Phase,
    Registry,
    StatusView,
    Step,
)
from flexmigrate.errors import CloudError
from flexmigrate.state.model import State
from tests.engine.phases_for_tests import STORAGE


def parameter(runbook: Any) -> str:
    return f"/{runbook.name}/eks-percent"


def _read(ctx: StepContext[Any]) -> int | None:
    try:
        found = ctx.aws("ssm").get_parameter(Name=parameter(ctx.runbook))["Parameter"]
    except CloudError:
        return None
    return int(found["Value"])


class StandInShift(Step):
    reversible = True

    def __init__(self, percent: int) -> None:
        self.percent = percent
        self.id = f"manual-{percent}"
        self.title = f"stand-in shift to {percent} %"

    def plan(self, ctx: StepContext[Any]) -> Sequence[Change]:
        return [Change(Action.UPDATE, parameter(ctx.runbook), str(_read(ctx)), str(self.percent))]

    def apply(self, ctx: StepContext[Any]) -> None:
        ctx.aws("ssm").put_parameter(
            Name=parameter(ctx.runbook), Value=str(self.percent), Type="String", Overwrite=True
        )
        ctx.record_phase(traffic={"ec2_percent": 100 - self.percent, "eks_percent": self.percent})

    def verify(self, ctx: StepContext[Any]) -> Sequence[str]:
        return [] if _read(ctx) == self.percent else ["the parameter differs"]

    def rollback(self, ctx: StepContext[Any]) -> None:
        ctx.aws("ssm").put_parameter(
            Name=parameter(ctx.runbook), Value="0", Type="String", Overwrite=True
        )


class StandInManual:
    needs: tuple[str, ...] = ()

    def step(self, percent: int, bake: float | None = None) -> Step:
        return StandInShift(percent)

    def way_back_checks(self, runbook: Any) -> Sequence[Check]:
        return []


def _status(state: State) -> StatusView:
    found = state.find_phase("phase-2")
    traffic = found.recorded.get("traffic") if found else None
    return StatusView({"traffic": traffic, "stand_in": True}, ["stand-in traffic view"])


def _live(ctx: StepContext[Any]) -> StatusView:
    return StatusView({"live": {"stand_in": True, "eks_percent": _read(ctx)}}, ["stand-in live"])


TRAFFIC = Phase(
    id="phase-2",
    slug="traffic-shift",
    title="a stand-in traffic shift",
    checks=lambda runbook: [],
    steps=lambda runbook: [],
    status=_status,
    live=_live,
    extras={"manual-shift": StandInManual()},
)


def registry() -> Registry:
    return Registry([STORAGE, TRAFFIC])
