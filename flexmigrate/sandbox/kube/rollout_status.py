"""A Deployment's status and conditions, computed as the deployment controller does.

Available says whether enough replicas are available (``replicas - maxUnavailable``);
Progressing says NewReplicaSetCreated, ReplicaSetUpdated while pods move,
NewReplicaSetAvailable when done, and False/ProgressDeadlineExceeded when nothing moved for
``progressDeadlineSeconds`` (capped by the emulator's setting so tests fail fast).
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.meta import name_of, parse_timestamp, timestamp, uid_of
from flexmigrate.sandbox.kube.rollout import rolling_limits

Obj = dict[str, Any]
_MANAGER = "kube-controller-manager"


def _condition(
    previous: Obj | None,
    kind: str,
    state: str,
    reason: str,
    message: str,
    now: str,
    progressed: bool,
) -> Obj:
    same = previous is not None and previous.get("status") == state
    unchanged = (
        same
        and previous is not None
        and previous.get("reason") == reason
        and previous.get("message") == message
    )
    return {
        "type": kind,
        "status": state,
        "lastUpdateTime": (previous or {}).get("lastUpdateTime", now)
        if unchanged and not progressed
        else now,
        "lastTransitionTime": (previous or {}).get("lastTransitionTime", now) if same else now,
        "reason": reason,
        "message": message,
    }


def deployment_status(
    ctx: Context,
    deploy: Obj,
    new_rs: Obj | None,
    old: list[Obj],
    created: bool,
    progress: dict[str, float],
) -> None:
    spec = deploy["spec"]
    desired = int(spec.get("replicas", 1))
    every = [rs for rs in [new_rs, *old] if rs is not None]

    def total(field: str) -> int:
        return sum(int((rs.get("status") or {}).get(field, 0)) for rs in every)

    previous = deploy.get("status") or {}
    status: Obj = {"observedGeneration": deploy["metadata"].get("generation", 1)}
    counts = {
        "replicas": total("replicas"),
        "updatedReplicas": int((new_rs or {}).get("status", {}).get("replicas", 0))
        if new_rs
        else 0,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": total("availableReplicas"),
        "unavailableReplicas": max(0, desired - total("availableReplicas")),
    }
    status.update({k: v for k, v in counts.items() if v})
    conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    now = timestamp(ctx.now)
    _, unavailable = rolling_limits(deploy)
    minimum = desired - unavailable
    available = counts["availableReplicas"] >= minimum
    status_conditions = [
        _condition(
            conditions.get("Available"),
            "Available",
            "True" if available else "False",
            "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            now,
            False,
        ),
    ]
    rs_name = name_of(new_rs) if new_rs else ""
    uid = uid_of(deploy)
    complete = (
        new_rs is not None
        and counts["updatedReplicas"] == desired
        and counts["replicas"] == desired
        and counts["availableReplicas"] == desired
    )
    moved = any(
        counts[k] > int(previous.get(k, 0))
        for k in ("updatedReplicas", "readyReplicas", "availableReplicas")
    ) or counts["replicas"] < int(previous.get("replicas", 0))
    prior = conditions.get("Progressing")
    if created:
        progressing = _condition(
            prior,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            f'Created new replica set "{rs_name}"',
            now,
            True,
        )
        progress[uid] = ctx.now
    elif complete:
        progressing = _condition(
            prior,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
            now,
            False,
        )
        progress.pop(uid, None)
    elif moved or prior is None or prior.get("reason") == "NewReplicaSetAvailable":
        progressing = _condition(
            prior,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            f'ReplicaSet "{rs_name}" is progressing.',
            now,
            True,
        )
        progress[uid] = ctx.now
    else:
        progressing = prior
        last = progress.get(uid) or parse_timestamp(prior.get("lastUpdateTime")) or ctx.now
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if ctx.config.progress_deadline_cap is not None:
            deadline = min(deadline, ctx.config.progress_deadline_cap)
        if prior.get("reason") != "ProgressDeadlineExceeded":
            if ctx.now >= last + deadline:
                progressing = _condition(
                    prior,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    now,
                    True,
                )
            else:
                ctx.wake_at(last + deadline)
    status_conditions.append(progressing)
    status["conditions"] = status_conditions
    ctx.set_status("deployments", deploy, status, _MANAGER)
