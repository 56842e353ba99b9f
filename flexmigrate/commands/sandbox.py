"""sandbox up | down | status | inject.

Each first checks that the sandbox's extra is installed (see ``flexmigrate.sandbox.extra``):
without it, one line says what to install and the exit code is 2."""

from __future__ import annotations

import time
from pathlib import Path

from flexmigrate.commands.base import make_ui
from flexmigrate.options import Options


def require_extra() -> None:
    """Stop (exit 2, one line naming the extra) when the sandbox's modules are not installed."""
    from flexmigrate.errors import InvalidInput
    from flexmigrate.sandbox import extra

    try:
        extra.check()
        from flexmigrate.sandbox import manage  # noqa: F401 - the first sandbox import
    except ModuleNotFoundError as exc:
        if not extra.is_missing_extra(exc):
            raise
        raise InvalidInput(f"the sandbox needs its extra: {extra.INSTALL}") from None


def up(opts: Options, directory: Path, injects: tuple[str, ...]) -> int:
    require_extra()
    from flexmigrate.commands.rehearsal_copy import show_table, write_copy
    from flexmigrate.sandbox import manage
    from flexmigrate.sandbox.layout import SandboxFiles

    ui = make_ui(opts)
    started = time.monotonic()
    running = manage.running(SandboxFiles(directory.resolve()))
    if running is None:
        copy = write_copy(opts, directory.resolve())
        if not opts.json:
            show_table(ui, copy)
        runtime, fresh = manage.up(
            directory,
            injects=injects,
            runbook=str(copy.path),
            state_dir=str(directory.resolve() / "state"),
        )
    else:
        runtime, fresh = running, False
    root = Path(runtime["dir"])
    if opts.json:
        ui.emit_json({**runtime, "started": fresh})
        return 0
    if not fresh:
        ui.info(f"a sandbox is already running in {root} (pid {runtime['pid']}); nothing changed")
    else:
        ui.success(f"sandbox up in {time.monotonic() - started:.1f}s (pid {runtime['pid']})")
    ui.info(f"  AWS (front for moto):  {runtime['aws_endpoint']}")
    ui.info(f"  Kubernetes API:        {runtime['kube_endpoint']}")
    ui.info(f"  logs:                  {root / 'logs'}")
    ui.info("use it from a shell:")
    ui.info(f"  source {root / 'env'}")
    ui.info("  kubectl get ns")
    ui.info("  flexmigrate plan all")
    ui.info("  flexmigrate sandbox inject eks-5xx=0.2@25   # break something mid-bake")
    ui.info(f"stop it with: flexmigrate sandbox down --dir {directory}")
    return 0


def down(opts: Options, directory: Path) -> int:
    require_extra()
    from flexmigrate.sandbox import manage

    ui = make_ui(opts)
    pid = manage.down(directory)
    if opts.json:
        ui.emit_json({"stopped": pid})
    elif pid is None:
        ui.info(f"no sandbox is running in {directory}")
    else:
        ui.success(f"stopped the sandbox (pid {pid}); its files stay in {directory}")
    return 0


def status(opts: Options, directory: Path) -> int:
    require_extra()
    from flexmigrate.sandbox import manage

    ui = make_ui(opts)
    detail = manage.status(directory)
    if opts.json:
        ui.emit_json(detail or {"running": False})
        return 0
    if detail is None:
        ui.info(f"no sandbox is running in {directory}")
        return 0
    ui.info(f"sandbox pid {detail['pid']}, up {detail['uptime_seconds']:.0f}s, in {detail['dir']}")
    ui.info(f"  AWS front {detail['aws_endpoint']}   Kubernetes {detail['kube_endpoint']}")
    active = {
        k: v for k, v in detail.get("faults", {}).items() if v not in (0, 0.0, False, 1, (), [])
    }
    ui.info(f"  faults: {active or 'none'}")
    requests = detail.get("aws_requests") or {}
    if requests:
        ui.info(f"  AWS requests: {requests.get('total', requests)}")
    hits = {
        "AWS connections dropped": detail.get("aws_drops_injected") or {},
        "Kubernetes API faults": detail.get("kube_api_faults_injected") or {},
    }
    for what, counts in hits.items():
        if any(counts.values()):
            ui.info(f"  {what}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 0


def inject(opts: Options, directory: Path, specs: tuple[str, ...], clear: bool) -> int:
    require_extra()
    from flexmigrate.errors import InvalidInput
    from flexmigrate.sandbox import manage

    ui = make_ui(opts)
    if not specs and not clear:
        raise InvalidInput("give a fault SPEC (see `flexmigrate sandbox inject --help`) or --clear")
    result = manage.inject(directory, specs, clear)
    if opts.json:
        ui.emit_json(result)
    else:
        active = {k: v for k, v in result["faults"].items() if v not in (0, 0.0, False, 1, (), [])}
        ui.success(f"faults now: {active or 'none'}")
    return 0
