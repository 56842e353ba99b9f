"""How each phase's section compresses to rehearsal speed (``Phase.extras["rehearsal"]``).

Only time changes; steps, names, gates, thresholds and the schedule stay the runbook's. The
reference is the gates' metric period, which becomes the sandbox's finest (1 s): the time
factor is its production value over 1 s (60 for the usual 60 s). Everything that observes
traffic over time (bake, interval, inconclusive limit, lookback) divides by the same factor,
so a bake still spans as many metric periods as in production, with floors for what a
shared machine can do; alarm periods divide too, but only down to what CloudWatch accepts.
Waits and polls are capped, not divided: they end when what they wait for is ready, and the
cap only bounds how long a failure takes to show. See ``flexmigrate.runbook.rehearsal``.
"""

from __future__ import annotations

from flexmigrate.runbook.rehearsal import TimeRule

CLUSTER = (
    TimeRule("cluster.waits.cluster", "cap", 120.0),
    TimeRule("cluster.waits.node_groups", "cap", 120.0),
    TimeRule("cluster.waits.addons", "cap", 120.0),
    TimeRule("cluster.waits.poll", "cap", 0.25),
)
LB_CONTROLLER = (
    TimeRule("lb_controller.timeout", "cap", 60.0),
    TimeRule("lb_controller.manifests", "path"),
    TimeRule("lb_controller.chart.path", "path"),
    TimeRule("lb_controller.policy_file", "path"),
)
APP = (
    TimeRule("app.manifests", "path"),
    TimeRule("app.rollout_timeout", "cap", 60.0),
    TimeRule("app.target_group.health_check_interval", "scale", 5.0),  # ALB minimum: 5 s
    TimeRule("app.target_group.deregistration_delay", "scale", 5.0),
    TimeRule("app.target_group.wait", "cap", 60.0),
    TimeRule("app.alarms.period", "alarm-period"),
)
TRAFFIC = (
    TimeRule("traffic.gates.metric_period", "period", 1.0),
    TimeRule("traffic.bake", "scale", 4.0),
    TimeRule("traffic.interval", "scale", 1.0),
    TimeRule("traffic.readback_timeout", "cap", 30.0),
    TimeRule("traffic.gates.inconclusive_limit", "scale", 15.0),
    TimeRule("traffic.gates.lookback", "scale", 1.0),
)
DECOMMISSION = (
    TimeRule("decommission.bake", "cap", 5.0),
    TimeRule("decommission.retention", "cap", 10.0),
)
