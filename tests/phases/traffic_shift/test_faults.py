"""Phase 4 under faults the sandbox injects: a bad EKS side breaches and traffic goes back at
once; unhealthy targets stop it before any change; missing or late metrics never promote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_5xx_at_25_percent_breaches_and_puts_all_traffic_back(traffic_rig: Any) -> None:
    rig = traffic_rig
    rig.prepare()
    rig.sandbox.inject("eks-5xx=0.2@25")

    done = rig.cli("run", "traffic-shift")

    assert done.returncode == 4, done.stdout + done.stderr
    assert rig.weights() == (100, 0)
    assert "health gate breached at EC2 75 % / EKS 25 %" in done.stderr
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [10, 25]
    (breach,) = rig.journal("gate_breached")
    assert breach["step"] == "shift-25" and breach["restore_to"] == 0
    # Two gates see this fault: the 5xx rate, and the EKS 5xx alarm (CloudWatch may put it in
    # ALARM before enough requests for a rate have been published). Either is the breach.
    assert set(breach["failing"]) & {"eks-5xx", "alarms"}
    # A series with no datapoints in the window is left out of the evidence.
    stamps = [t for t, _ in breach["metrics"]["datapoints"].get("eks_requests", [])]
    if "eks-5xx" in breach["failing"]:
        gate = next(g for g in breach["gates"] if g["gate"] == "eks-5xx")
        assert gate["result"] == "fail" and gate["values"]["eks_rate"] > 0.1
        assert stamps
    else:
        gate = next(g for g in breach["gates"] if g["gate"] == "alarms")
        assert gate["result"] == "fail" and "flexdesk-eks-5xx" in json.dumps(gate)
    # The evidence names the datapoints it judged, all from after the weights were read back.
    read_back = rig.journal("weights_shifted")[-1]["ts"]
    assert all(_epoch(t) >= _epoch(read_back) - 1e-3 for t in stamps)
    (restored,) = rig.journal("traffic_restored")
    assert restored["to"] == {"ec2_percent": 100, "eks_percent": 0}
    assert 0 < restored["seconds"] < 1.0
    steps = rig.steps()
    assert steps["shift-25"]["status"] == "failed"
    assert steps["shift-10"]["status"] == "pending"  # `resume` walks up from 10 % again
    traffic = json.loads(rig.cli("status", "--json").stdout)["traffic"]
    assert traffic["state"] == "breached"
    assert (traffic["ec2_percent"], traffic["eks_percent"]) == (100, 0)
    assert traffic["last_breach"]["rollback_seconds"] == restored["seconds"]


def test_on_breach_last_good_returns_to_the_last_passed_step(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant({"traffic": {"on_breach": "last-good"}})
    rig.prepare(runbook)
    rig.sandbox.inject("eks-5xx=0.2@25")

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    assert done.returncode == 4, done.stdout + done.stderr
    assert rig.weights() == (90, 10)
    (restored,) = rig.journal("traffic_restored")
    assert restored["to"] == {"ec2_percent": 90, "eks_percent": 10}
    steps = rig.steps()
    assert steps["shift-10"]["status"] == "completed"
    assert steps["shift-25"]["status"] == "failed"


def test_unhealthy_targets_fail_preflight_and_change_nothing(
    traffic_rig: Any, aws_ledger: Callable[..., Any]
) -> None:
    rig = traffic_rig
    rig.prepare()
    rig.sandbox.inject("targets-unhealthy")
    ledger = aws_ledger(rig.sandbox)
    mark = ledger.mark()

    done = rig.cli("run", "traffic-shift")

    assert done.returncode == 3, done.stdout + done.stderr
    assert "traffic-eks-health" in done.stderr
    assert ledger.mutations_since(mark) == []
    assert rig.weights() == (100, 0)


def test_missing_metrics_pause_and_never_promote(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant(
        {"traffic": {"steps": [10, 100], "gates": {"inconclusive_limit": "3s"}}}
    )
    rig.prepare(runbook)
    rig.sandbox.inject("metrics-missing")

    paused = rig.cli("run", "traffic-shift", runbook=runbook)

    assert paused.returncode == 1, paused.stdout + paused.stderr
    assert "paused at EC2 90 % / EKS 10 %" in paused.stderr
    assert rig.weights() == (90, 10)  # kept, not promoted, not rolled back
    step = rig.steps()["shift-10"]
    assert step["status"] == "failed" and "gates were inconclusive" in step["error"]
    results = {e["result"] for e in rig.journal("gate_evaluation")}
    assert results == {"inconclusive"}
    assert json.loads(rig.cli("status", "--json").stdout)["traffic"]["state"] == "paused"

    rig.sandbox.inject("metrics-missing=off")
    resumed = rig.cli("resume", runbook=runbook)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert rig.weights() == (0, 100)
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [10, 100]


def test_late_60s_metrics_never_promote_on_data_from_before_the_shift(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant(
        {"traffic": {"gates": {"metric_period": "60s", "inconclusive_limit": "4s"}}}
    )
    rig.prepare(runbook)
    rig.sandbox.inject("metric-period=60", "metrics-lag=5")

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    # Sixty-second periods that began after the shift cannot have arrived yet: no verdict.
    assert done.returncode == 1, done.stdout + done.stderr
    assert rig.weights() == (90, 10)
    assert {e["result"] for e in rig.journal("gate_evaluation")} == {"inconclusive"}
    assert rig.steps()["shift-10"]["status"] == "failed"
    assert rig.journal("bake_passed") == []


def test_lagging_metrics_promote_only_on_periods_after_the_shift(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant(
        {
            "traffic": {
                "steps": [50, 100],
                "bake": "2s",
                "gates": {"metric_period": "3s", "inconclusive_limit": "30s"},
            }
        }
    )
    rig.prepare(runbook)
    rig.sandbox.inject("metric-period=3", "metrics-lag=2")

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.weights() == (0, 100)
    passes = rig.journal("bake_passed")
    assert [p["percent"] for p in passes] == [50, 100]
    for promoted in passes:
        stamps = [
            _epoch(t) for series in promoted["metrics"]["datapoints"].values() for t, _ in series
        ]
        assert stamps and min(stamps) >= promoted["read_back_at"]
        # The first whole period after the read-back ends, then arrives 2 s late: the
        # promotion cannot come before that, whatever the 2 s bake says.
        assert _epoch(promoted["ts"]) - promoted["read_back_at"] >= 3 + 2
    evaluations = [e for e in rig.journal("gate_evaluation") if e["percent"] == 50]
    assert evaluations[0]["result"] == "inconclusive"


def test_throttled_aws_still_completes_the_schedule(
    traffic_rig: Any, aws_ledger: Callable[..., Any], runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant({"traffic": {"steps": [10, 50, 100], "bake": "2s"}})
    rig.prepare(runbook)
    ledger = aws_ledger(rig.sandbox)
    mark = ledger.mark()
    rig.sandbox.inject("aws-throttle=0.2")

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    assert done.returncode == 0, done.stdout + done.stderr
    rig.sandbox.inject("aws-throttle=0")
    assert rig.weights() == (0, 100)
    throttled = [e for e in ledger.entries()[mark:] if e.get("status") != 200]
    assert throttled, "the fault was not exercised"
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [10, 50, 100]
