"""Settings of one emulated cluster, and the hook through which it registers pod targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flexmigrate.sandbox.faults import FaultBoard


class TargetRegistrar(Protocol):
    """Where TargetGroupBindings land: the sandbox's ELBv2 target groups.

    ``sync`` receives the whole desired set of pod IPs for one target group and port (an
    empty list when the binding is deleted); it may make network calls and may raise, in
    which case the emulator retries with a short backoff.
    """

    def sync(self, target_group_arn: str, port: int, ips: Sequence[str]) -> None: ...


@dataclass
class EmulatorConfig:
    cert_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    kubernetes_version: str = "1.33"
    pod_cidrs: tuple[str, ...] = ("10.0.16.0/20", "10.0.32.0/20")
    rollout_delay: float = 1.0
    progress_deadline_cap: float | None = None
    namespace_finalize_delay: float = 0.5
    faults: FaultBoard | None = None
    authenticate: Callable[[str], str | None] | None = None
    target_registrar: TargetRegistrar | None = None
    # Requests per second the traffic simulator sends to a target group (by ARN), from
    # which the Metrics API derives the pods' CPU.
    load: Callable[[str], float] | None = None
