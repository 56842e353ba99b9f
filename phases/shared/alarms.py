"""CloudWatch alarms looked up by name, metric and composite alike.

DescribeAlarms returns metric alarms only unless ``AlarmTypes`` asks for more ("If you omit
this parameter, only metric alarms are returned, even if composite alarms or log alarms exist
in the account"), so an alarm a runbook names — which may well be a composite alarm — is
looked up with both types and read from both lists of the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

ALARM_TYPES = ["CompositeAlarm", "MetricAlarm"]
_NAMES_PER_CALL = 100  # AlarmNames holds at most 100 names


def alarms_by_name(ctx: StepContext, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The metric and composite alarms among ``names`` that exist, by name."""
    wanted = list(dict.fromkeys(names))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _NAMES_PER_CALL):
        pages = ctx.aws("cloudwatch").paginate(
            "describe_alarms",
            AlarmNames=wanted[start : start + _NAMES_PER_CALL],
            AlarmTypes=ALARM_TYPES,
        )
        for page in pages:
            for alarm in [*(page.get("MetricAlarms") or []), *(page.get("CompositeAlarms") or [])]:
                found[str(alarm["AlarmName"])] = dict(alarm)
    return found
