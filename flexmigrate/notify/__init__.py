"""Notifications: webhook targets from the runbook's ``notify:`` section, told about phases
starting, completing, failing, pausing, gate breaches and a decommission waiting for its bake.

Only a mutating command of a non-dry run starts a notifier (``plan`` and ``--dry-run`` never
post: their session journals nothing, and none is started for them).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flexmigrate.notify.deliver import Notifier, Target, Undelivered
from flexmigrate.redact import REDACT

if TYPE_CHECKING:
    from flexmigrate.engine.context import Session

__all__ = ["Notifier", "Target", "Undelivered", "finish", "report_undelivered", "start"]


def _url(session: Session, target: Any) -> str | None:
    if target.url_env:
        value = os.environ.get(target.url_env, "").strip()
        if not value:
            session.ui.warn(
                f"notify target {target.name}: ${target.url_env} is not set; it will not be told"
            )
        return value or None
    try:
        answer = session.clients.aws.client("ssm").get_parameter(
            Name=target.url_ssm, WithDecryption=True
        )
        value = str(answer["Parameter"]["Value"]).strip()
    except Exception as exc:  # noqa: BLE001 - a missing webhook never stops a migration
        session.ui.warn(
            f"notify target {target.name}: could not read SSM parameter {target.url_ssm} "
            f"({type(exc).__name__}); it will not be told"
        )
        return None
    REDACT.register([value])
    return value or None


def start(session: Session) -> Notifier | None:
    section = session.runbook.notify
    if session.dry_run or not section.targets:
        return None
    targets = []
    for target in section.targets:
        url = _url(session, target)
        if url:
            REDACT.register([url])
            targets.append(Target(target.name, target.format, url, frozenset(target.events)))
    if not targets:
        return None
    return Notifier(
        session.runbook.name,
        targets,
        attempt_timeout=section.attempt_timeout,
        budget=section.budget,
    )


def report_undelivered(session: Session, failed: list[Undelivered]) -> None:
    for item in failed:
        session.store.journal(
            "notification_undelivered",
            target=item.target,
            kind=item.kind,
            error=item.error,
            attempts=item.attempts,
        )
        session.ui.warn(
            f"notification '{item.kind}' to {item.target} was not delivered after "
            f"{item.attempts} attempt(s): {item.error}; it is in the journal"
        )


def finish(session: Session) -> None:
    """Flush what is queued (bounded by the budget), then record what did not get through."""
    notifier = session.notifier
    if notifier is None:
        return
    session.notifier = None
    report_undelivered(session, notifier.close())
