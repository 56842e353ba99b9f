"""The run context: what a check or step may use — clients, its own checkpointed outputs,
tokens written before use, waits with progress, the journal — and the clock and sleep, which
are parameters so tests never wait for real time they do not test."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from flexmigrate import failpoints
from flexmigrate.durations import format_duration
from flexmigrate.errors import Interrupted, StepFailed, TransientError
from flexmigrate.ownership import aws_tags, k8s_labels
from flexmigrate.redact import REDACT
from flexmigrate.state.model import StepState

if TYPE_CHECKING:
    from flexmigrate.clients.aws import AwsClient
    from flexmigrate.clients.bundle import Clients
    from flexmigrate.clients.kube import KubeApi
    from flexmigrate.clients.tools import ToolRunner
    from flexmigrate.engine.protocol import Phase, Registry
    from flexmigrate.notify.deliver import Notifier
    from flexmigrate.runbook.model import Runbook
    from flexmigrate.state.model import State
    from flexmigrate.state.store import StateStore
    from flexmigrate.ui import Ui

_HEARTBEAT_EVERY = 10.0

# How a phase reads the runbook: the engine holds it as its own ``Runbook``; a phase types its
# context with the view of the model its registry composed (``StepContext[ItsView]``).
RunbookView = TypeVar("RunbookView")


@dataclass
class Session:
    """Everything one command shares: runbook, state, store, clients, console, time."""

    runbook: Runbook
    registry: Registry
    store: StateStore
    state: State
    clients: Clients
    ui: Ui
    dry_run: bool = False
    yes: bool = False
    command: str = ""
    clock: Callable[[], float] = time.monotonic
    stop: threading.Event = field(default_factory=threading.Event)
    current: tuple[str, str] = ("", "")  # (phase, step) for the journal
    notifier: Notifier | None = None  # told of every journal event; only in a real run
    _last_beat: float = 0.0
    _journaled: dict[str, Any] | None = None  # the state as the last checkpoint journaled it

    def checkpoint(self) -> None:
        """Persist the state (before the next call), journal what changed (so the state can be
        rebuilt from the journal) and refresh the lock's heartbeat."""
        if self.dry_run:
            return
        from flexmigrate.state import replay

        self.store.save(self.state)
        # a copy: to_dict() shares the steps' live outputs, which later records change
        current = copy.deepcopy(self.state.to_dict())
        self.store.journal(replay.EVENT, **replay.delta(self._journaled, current))
        self._journaled = current
        self._beat()

    def journal(self, event: str, **data: Any) -> None:
        if self.dry_run:
            return
        phase, step = self.current
        extra = {k: v for k, v in (("phase", phase), ("step", step)) if v}
        record = self.store.journal(event, **{**extra, **data})
        if self.notifier is not None:
            from flexmigrate.notify import report_undelivered

            self.notifier.observe(record)
            report_undelivered(self, self.notifier.take_undelivered())

    def _beat(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_beat >= _HEARTBEAT_EVERY:
            self._last_beat = now
            if not self.dry_run:
                self.store.heartbeat()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once on Ctrl-C; keeps the lock's heartbeat fresh."""
        deadline = self.clock() + seconds
        while True:
            self.check_interrupt()
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            self.stop.wait(min(remaining, _HEARTBEAT_EVERY))
            self._beat()

    def check_interrupt(self) -> None:
        if self.stop.is_set():
            raise Interrupted("interrupted; the state is saved — `flexmigrate resume` continues")

    def on_call(self, event: str, service: str, operation: str, details: dict[str, Any]) -> None:
        """Journal of mutating API calls: the intent before, the result (with IDs) after.
        Ctrl-C takes effect here, between calls, never in the middle of one."""
        if event == "intent":
            self.check_interrupt()
            self.ui.detail(f"    → {service}:{operation}")
        self.journal(f"call_{event}", service=service, operation=operation, **details)
        # The client boundary: a crash just before a step's Nth mutating call goes out, or just
        # after its answer came back (``call-intent:phase-1/cluster@2``, ``call-result:…``).
        phase, step = self.current
        failpoints.reach(f"call-{event}:{phase}/{step}")


class StepContext(Generic[RunbookView]):
    """What one check or step sees. For checks and plans ``step`` is a scratch state that is
    never saved."""

    def __init__(self, session: Session, phase: Phase, step: StepState | None = None) -> None:
        self.session = session
        self.phase = phase
        self.step = step if step is not None else StepState("(scratch)")
        self._scratch = step is None
        self.notes: list[str] = []  # lines for the report (gate readings, shared resources)

    # -- what the step reads ------------------------------------------------------------
    @property
    def runbook(self) -> RunbookView:
        return cast("RunbookView", self.session.runbook)

    @property
    def dry_run(self) -> bool:
        return self.session.dry_run

    @property
    def ui(self) -> Ui:
        return self.session.ui

    @property
    def outputs(self) -> dict[str, Any]:
        return self.step.outputs

    def aws(self, service: str) -> AwsClient:
        return self.session.clients.aws.client(service)

    @property
    def kube(self) -> KubeApi:
        return self.session.clients.kube()

    @property
    def tools(self) -> ToolRunner:
        return self.session.clients.tools

    @property
    def clients(self) -> Clients:
        return self.session.clients

    def phase_outputs(self, phase: str | None = None) -> dict[str, Any]:
        """Outputs recorded by a phase's steps (this phase by default)."""
        target = self.session.registry.find(phase) if phase else self.phase
        phase_id = target.id if target else str(phase)
        found = self.session.state.find_phase(phase_id)
        return found.outputs() if found else {}

    def phase_status(self, phase: str) -> str:
        target = self.session.registry.find(phase)
        found = self.session.state.find_phase(target.id if target else phase)
        return found.status.value if found else "pending"

    def tags(self, **extra: str) -> dict[str, str]:
        return aws_tags(self.session.runbook.name, self.phase.id, extra)

    def labels(self) -> dict[str, str]:
        return k8s_labels(self.session.runbook.name, self.phase.id)

    # -- what the step writes -----------------------------------------------------------
    def record(self, **values: Any) -> None:
        """Record outputs (IDs, ARNs — never secrets) and checkpoint them at once."""
        self.step.outputs.update(values)
        if not self._scratch:
            self.session.checkpoint()
            for key in values:
                failpoints.reach(f"record:{self.phase.id}/{self.step.id}:{key}")

    def token(self, name: str) -> str:
        """A client request token, written to state *before* the call that uses it, so a
        retried or resumed call cannot create a twin."""
        key = f"token:{name}"
        existing = self.step.outputs.get(key)
        if isinstance(existing, str):
            return existing
        value = str(uuid.uuid4())
        self.record(**{key: value})
        return value

    def forget(self, *keys: str) -> None:
        for key in keys:
            self.step.outputs.pop(key, None)
        if not self._scratch:
            self.session.checkpoint()

    def journal(self, event: str, **data: Any) -> None:
        self.session.journal(event, **data)

    def warn(self, text: str) -> None:
        self.session.ui.warn(text)
        self.journal("warning", message=REDACT(text))

    def note(self, text: str) -> None:
        """A line for the report of this step."""
        self.notes.append(REDACT(text))

    def failpoint(self, name: str) -> None:
        failpoints.reach(f"{name}:{self.phase.id}/{self.step.id}")

    def record_phase(self, **values: Any) -> None:
        """Record outputs of the phase itself rather than of this step (None removes one),
        checkpointed at once. They outlive a reset of the step that wrote them."""
        recorded = self.session.state.phase(self.phase.id, self.phase.slug).recorded
        for key, value in values.items():
            if value is None:
                recorded.pop(key, None)
            else:
                recorded[key] = value
        if not self._scratch:
            self.session.checkpoint()

    # -- time -----------------------------------------------------------------------------
    def now(self) -> float:
        return self.session.clock()

    def sleep(self, seconds: float) -> None:
        self.session.sleep(seconds)

    def wait(
        self,
        what: str,
        probe: Callable[[], tuple[bool, str]],
        *,
        timeout: float,
        interval: float,
    ) -> str:
        """Poll ``probe`` (→ done?, status text) every ``interval`` until done, with a progress
        line and elapsed time. Transient errors while polling are shown and polled through.
        Times out with the last status; the step stays resumable."""
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception_type,
            retry_if_result,
            stop_after_delay,
            wait_fixed,
            wait_random,
        )

        start = self.now()
        last = ["…"]
        with self.ui.progress(what) as update:

            def attempt() -> bool:
                failpoints.reach(f"wait:{self.phase.id}/{self.step.id}")
                try:
                    done, last[0] = probe()
                except TransientError as exc:
                    last[0] = f"retrying after: {exc}"
                    raise
                finally:
                    update(last[0])
                return done

            retrying = Retrying(
                retry=retry_if_result(lambda done: not done)
                | retry_if_exception_type(TransientError),
                stop=stop_after_delay(timeout),
                wait=wait_fixed(interval) + wait_random(0, interval / 10),
                sleep=self.sleep,
            )
            try:
                retrying(attempt)
            except RetryError:
                elapsed = self.now() - start
                raise StepFailed(
                    f"timed out after {format_duration(elapsed)} waiting for {what}; "
                    f"last status: {last[0]}",
                    hint="`flexmigrate resume` keeps waiting from where it stopped",
                ) from None
            return last[0]
