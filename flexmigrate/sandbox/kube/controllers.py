"""The control loop that runs the simulated controllers, and the target registrar's worker.

One thread reconciles everything whenever the store changes or a timed transition is due
(a pod's readiness delay, a progress deadline, a namespace's finalize delay). A pass holds
the store lock, so it sees and writes one consistent state; the registrar's calls, which
go over the network to the AWS side, are made by a second thread, outside that lock, and
retried with a short backoff until they succeed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.config import EmulatorConfig, TargetRegistrar
from flexmigrate.sandbox.kube.context import Context
from flexmigrate.sandbox.kube.deployments import reconcile_deployments
from flexmigrate.sandbox.kube.events import EventRecorder
from flexmigrate.sandbox.kube.hpa import reconcile_hpas
from flexmigrate.sandbox.kube.kubelet import PodNetwork, reconcile_pods
from flexmigrate.sandbox.kube.lifecycle import collect_garbage, expire_events, reconcile_namespaces
from flexmigrate.sandbox.kube.metrics_api import reconcile_apiservices
from flexmigrate.sandbox.kube.networking import (
    Target,
    binding_targets,
    reconcile_endpoints,
    reconcile_pdbs,
)
from flexmigrate.sandbox.kube.readiness_gates import (
    Health,
    HealthSource,
    TargetHealthProbe,
    sync_gate_conditions,
)
from flexmigrate.sandbox.kube.replicasets import reconcile_replicasets

Obj = dict[str, Any]

_LOG = logging.getLogger("flexmigrate.sandbox.kube")
_IDLE = 1.0
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 2.0


class Controllers:
    def __init__(
        self,
        cluster: Cluster,
        config: EmulatorConfig,
        ca_pem: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cluster = cluster
        self._ctx = Context(cluster, config, EventRecorder(cluster), ca_pem, clock=clock)
        self._clock = clock
        self._network = PodNetwork(config.pod_cidrs)
        self._born: dict[str, float] = {}
        self._probed: dict[str, float] = {}
        self._progress: dict[str, float] = {}
        self._recommendations: dict[str, list[tuple[float, int]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-controllers", daemon=True)
        self._targets = (
            _TargetSync(config.target_registrar, self._stop) if config.target_registrar else None
        )
        source = config.target_registrar
        self._health = (
            TargetHealthProbe(source, self._stop, cluster.store.changed.set)
            if isinstance(source, HealthSource)
            else None
        )

    def start(self) -> None:
        self._thread.start()
        if self._targets is not None:
            self._targets.start()
        if self._health is not None:
            self._health.start()

    def stop(self) -> None:
        self._stop.set()
        self._cluster.store.changed.set()
        if self._targets is not None:
            self._targets.stop()
        if self._health is not None:
            self._health.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        changed = self._cluster.store.changed
        wait = 0.0
        while not self._stop.is_set():
            changed.wait(wait)
            changed.clear()
            if self._stop.is_set():
                return
            try:
                wait = self.reconcile()
            except Exception:  # noqa: BLE001 - one bad pass must not stop the cluster
                _LOG.exception("kube controllers: reconcile pass failed")
                wait = _IDLE

    def reconcile(self) -> float:
        """Run every controller once; return how long the loop may sleep."""
        ctx = self._ctx
        with self._cluster.store.lock:
            ctx.now = self._clock()
            ctx.wake = []
            reconcile_namespaces(ctx)
            collect_garbage(ctx)
            expire_events(ctx)
            reconcile_apiservices(ctx)
            reconcile_hpas(ctx, self._recommendations)
            reconcile_deployments(ctx, self._progress)
            reconcile_replicasets(ctx)
            reconcile_pods(ctx, self._network, self._born, self._probed)
            reconcile_endpoints(ctx)
            reconcile_pdbs(ctx)
            gated: dict[str, list[tuple[Obj, str, int]]] = {}
            targets = binding_targets(ctx, gated)
            health: Health = self._health.health() if self._health is not None else {}
            sync_gate_conditions(ctx, gated, health)
        if self._targets is not None:
            self._targets.want(targets)
        if self._health is not None:
            self._health.want({arn for members in gated.values() for _, arn, _ in members})
        due = [t - self._clock() for t in ctx.wake]
        return max(0.0, min([_IDLE, *due]))


class _TargetSync:
    """Pushes desired target sets to the registrar, latest state wins, retrying failures."""

    def __init__(self, registrar: TargetRegistrar, stop: threading.Event) -> None:
        self._registrar = registrar
        self._stop = stop
        self._lock = threading.Condition()
        self._desired: dict[Target, list[str]] = {}
        self._synced: dict[Target, list[str]] = {}
        self._thread = threading.Thread(target=self._run, name="kube-target-registrar", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def want(self, targets: dict[Target, list[str]]) -> None:
        with self._lock:
            desired = dict(targets)
            for target in set(self._desired) | set(self._synced):
                if target not in desired and self._synced.get(target):
                    desired[target] = []
            if desired != self._desired:
                self._desired = desired
                self._lock.notify_all()

    def _pending(self) -> dict[Target, list[str]]:
        with self._lock:
            return {t: ips for t, ips in self._desired.items() if self._synced.get(t, []) != ips}

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            pending = self._pending()
            if not pending:
                with self._lock:
                    if not any(self._synced.get(t, []) != ips for t, ips in self._desired.items()):
                        self._lock.wait(0.5)
                continue
            failed = False
            for (arn, port), ips in pending.items():
                if self._stop.is_set():
                    return
                try:
                    self._registrar.sync(arn, port, list(ips))
                except Exception:  # noqa: BLE001 - whatever the registrar raises is retried
                    _LOG.exception("target registrar failed for %s port %s; retrying", arn, port)
                    failed = True
                    continue
                with self._lock:
                    self._synced[(arn, port)] = list(ips)
                    if not ips and self._desired.get((arn, port)) == []:
                        self._desired.pop((arn, port), None)
                        self._synced.pop((arn, port), None)
            if failed:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
            else:
                backoff = _BACKOFF_FIRST
