"""status --all: every runbook under one state location (a local state directory, or an S3
bucket and prefix), one row each — as a table or as JSON. Reads only; takes no lock."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from flexmigrate.commands.base import store_for
from flexmigrate.errors import FlexmigrateError, InvalidInput
from flexmigrate.options import Options


def status_all(opts: Options, bucket: str | None, prefix: str, region: str | None) -> int:
    registry = opts.registry_loader()
    location, names, open_store = _location(opts, bucket, prefix, region)
    rows = [_row(name, open_store(name), registry) for name in names]
    if opts.json:
        sys.stdout.write(json.dumps({"location": location, "runbooks": rows}, indent=2) + "\n")
    else:
        _table(location, rows)
    return 0


def _location(opts: Options, bucket: str | None, prefix: str, region: str | None) -> Any:
    if bucket:
        from flexmigrate.state.s3 import S3Location

        chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not chosen:
            raise InvalidInput("--state-bucket needs --state-region (or AWS_REGION)")
        return _s3(S3Location(bucket=bucket, prefix=prefix.strip("/"), region=chosen))
    runbook = _runbook(opts)
    if runbook is not None and runbook.state.backend == "s3":
        from flexmigrate.commands.base import s3_location

        return _s3(s3_location(runbook.state, runbook.aws.profile))
    root = opts.state_dir
    names = sorted(
        p.name
        for p in (root.iterdir() if root.is_dir() else [])
        if p.is_dir() and ((p / "state.json").exists() or (p / "lock").exists())
    )
    return str(root), names, lambda name: store_for(opts, name)


def _s3(location: Any) -> Any:
    from flexmigrate.state.s3 import S3StateStore, list_runbooks, s3_client

    clients = s3_client(location)
    names = list_runbooks(location, clients)
    return location.url(), names, lambda name: S3StateStore(location, name, clients=clients)


def _runbook(opts: Options) -> Any:
    """The runbook when there is one; ``status --all`` also works without."""
    if not (opts.runbook or os.environ.get("FLEXMIGRATE_RUNBOOK")):
        from flexmigrate.runbook.locate import DEFAULT_FILE

        if not Path(DEFAULT_FILE).exists():
            return None
    from flexmigrate.commands.common import load

    return load(opts)


def _row(name: str, store: Any, registry: Any) -> dict[str, Any]:
    from flexmigrate.commands.show import status_document

    row: dict[str, Any] = {"runbook": name, "location": store.location}
    try:
        state = store.load()
        holder = store.lock_holder()
        last = store.last_event()
    except FlexmigrateError as exc:
        row["error"] = str(exc)
        return row
    doc = status_document(
        state, [(p.id, p.slug) for p in registry], name, holder, registry.status_views(state)
    )
    started = [p for p in doc["phases"] if p["status"] != "pending"]
    phase = started[-1] if started else None
    step = None
    if phase is not None and phase["steps"]:
        current = [s for s in phase["steps"] if s["status"] != "completed"]
        step = (current or phase["steps"])[-1 if not current else 0]
    traffic = doc.get("traffic")
    row.update(
        serial=doc["serial"],
        phase=f"{phase['id']} {phase['slug']}" if phase else None,
        phase_status=phase["status"] if phase else "pending",
        step=f"{step['id']} ({step['status']})" if step else None,
        eks_percent=traffic.get("eks_percent") if isinstance(traffic, dict) else None,
        lock=doc["lock"],
        last_event={"ts": last.get("ts"), "event": last.get("event")} if last else None,
    )
    return row


def _table(location: str, rows: list[dict[str, Any]]) -> None:
    import click

    from flexmigrate.redact import REDACT

    click.echo(f"state location {location}: {len(rows)} runbook(s)")
    table = [("RUNBOOK", "PHASE", "STATUS", "STEP", "EKS", "LOCK", "LAST EVENT")]
    for row in rows:
        if "error" in row:
            table.append((row["runbook"], "", "unreadable", "", "", "", row["error"]))
            continue
        lock = row["lock"]
        last = row["last_event"]
        eks = row["eks_percent"]
        table.append(
            (
                row["runbook"],
                row["phase"] or "—",
                row["phase_status"],
                row["step"] or "—",
                "—" if eks is None else f"{eks} %",
                f"{lock['command']} @ {lock['host']}" if lock else "free",
                f"{last['event']} {last['ts']}" if last else "—",
            )
        )
    widths = [max(len(str(r[i])) for r in table) for i in range(len(table[0]))]
    for r in table:
        click.echo(
            REDACT("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        )
