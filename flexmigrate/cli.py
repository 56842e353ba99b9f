"""The command line: thin click commands that build frozen options and call the engine.

Only click is imported at start-up, so ``--help`` stays as fast as click itself; each command
imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from flexmigrate import __version__
from flexmigrate.cli_init import init
from flexmigrate.cli_options import report_option
from flexmigrate.cli_sandbox import rehearse, sandbox

if TYPE_CHECKING:
    from flexmigrate.engine.protocol import Registry
    from flexmigrate.options import Options

PHASES_HELP = (
    "PHASE is phase-1 … phase-5 or its slug: cluster-foundation, lb-controller, app-deploy, "
    "traffic-shift, decommission."
)
EXIT_CODES = """\b
Exit codes:
  0  done                        4  a health gate was breached; traffic rolled back
  1  a step failed (resumable)   5  another run holds the lock
  2  invalid input; no change   70  internal error (bug): see the crash log
  3  preflight failed; no change 130 interrupted (Ctrl-C); state saved"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES,
)
@click.option(
    "--runbook",
    metavar="PATH",
    help="Runbook file (default: $FLEXMIGRATE_RUNBOOK, else ./flexmigrate.yaml). A bare name "
    "(no path, no .yaml) picks a runbook shipped with flexmigrate, such as its example.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("FLEXMIGRATE_STATE_DIR", ".flexmigrate/state"),
    show_default="$FLEXMIGRATE_STATE_DIR or .flexmigrate/state",
    help="Where state, journal, lock and reports live (one subdirectory per runbook).",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on stdout, never a prompt or animation.",
)
@click.option("--yes", "-y", is_flag=True, help="Confirm destructive steps without asking.")
@click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
@click.option("--no-color", is_flag=True, help="No colour (NO_COLOR is honoured too).")
@click.version_option(__version__, prog_name="flexmigrate")
@click.pass_context
def cli(
    ctx: click.Context,
    runbook: str | None,
    state_dir: Path,
    output: str,
    yes: bool,
    verbose: int,
    no_color: bool,
) -> None:
    """Move a backend from one EC2 instance behind an ALB onto Amazon EKS, in five resumable phases.

    \b
    Phases (each: preflight checks, checkpointed steps, a dry-run plan, a rollback):
      phase-1 cluster-foundation  IAM roles, EKS cluster, access, OIDC, node groups, add-ons
      phase-2 lb-controller       AWS Load Balancer Controller (IRSA, Helm or manifests)
      phase-3 app-deploy          manifests, Secret from AWS, rollout, EKS target group
      phase-4 traffic-shift       weighted ALB cutover 10 → 25 → 50 → 100 % with health gates
      phase-5 decommission        deregister and stop the EC2 instance, then an AMI backup

    \b
    Start with a rehearsal on this machine, then plan before you run:
      flexmigrate --runbook my-runbook.yaml rehearse
      flexmigrate --runbook my-runbook.yaml plan all --report plan.html
      flexmigrate run cluster-foundation
      flexmigrate resume            # after a failure or Ctrl-C
      flexmigrate rollback          # undo the latest phase, newest step first
    """
    from flexmigrate.options import Options

    loader = ctx.meta.get("flexmigrate.registry")
    ctx.obj = Options(
        runbook=runbook,
        state_dir=state_dir,
        json=output == "json",
        yes=yes,
        verbose=verbose,
        color=not no_color,
        registry_loader=loader or _default_registry,
        argv=tuple(ctx.meta.get("flexmigrate.argv", ())),
    )


def _default_registry() -> Registry:
    from flexmigrate.options import default_registry

    registry: Registry = default_registry()
    return registry


@cli.command()
@click.argument("phase", required=False, metavar="[PHASE|all]")
@report_option
@click.pass_obj
def plan(opts: Options, phase: str | None, report: Path | None) -> int:
    """Dry-run: preflight checks and every planned change. Nothing is mutated.

    The clients refuse any mutating call in this mode, so a plan cannot change anything.
    With no PHASE, plans every phase not yet complete.
    """
    from flexmigrate.commands import run

    return run.plan(opts, phase, report)


@cli.command(epilog=PHASES_HELP)
@click.argument("phase", metavar="PHASE|all")
@click.option("--dry-run", is_flag=True, help="Only plan (same as `plan PHASE`).")
@report_option
@click.pass_obj
def run(opts: Options, phase: str, dry_run: bool, report: Path | None) -> int:
    """Run a phase (or all pending phases in order).

    Preflight runs every check first and stops before any change if one fails (exit 3).
    Each step is checkpointed; a failure leaves state that `flexmigrate resume` continues.
    Running a completed phase applies what the runbook changed since, in place (drift and
    disruptive changes are confirmed first; changes that cannot be made in place exit 2);
    with nothing changed it re-verifies and exits 0.
    """
    from flexmigrate.commands import run as commands

    return commands.run(opts, phase, dry_run, report)


@cli.command()
@report_option
@click.pass_obj
def resume(opts: Options, report: Path | None) -> int:
    """Continue the interrupted or failed phase from its last checkpoint.

    The step that was in progress is ensured again: it re-reads what exists and adopts it,
    so nothing is created twice. An interrupted rollback is continued the same way.
    """
    from flexmigrate.commands import run as commands

    return commands.resume(opts, report)


@cli.command(epilog=PHASES_HELP)
@click.argument("phase", required=False, metavar="[PHASE|all]")
@click.option(
    "--change",
    is_flag=True,
    help="Undo only the latest update of PHASE (a new image, say), keeping the phase.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be undone; change nothing.")
@report_option
@click.pass_obj
def rollback(
    opts: Options, phase: str | None, change: bool, dry_run: bool, report: Path | None
) -> int:
    """Undo a phase's steps, newest first (default: the latest phase that ran).

    Only resources carrying flexmigrate's ownership tags are deleted; adopted ones stay.
    A phase cannot be rolled back while a later one is not (except with `all`).
    With --change, only the latest in-place update of PHASE is undone (the previous image
    back, rolled out and verified), also while a later phase is in progress.
    Asks for confirmation on a terminal; without one, needs --yes.
    """
    from flexmigrate.commands import run as commands

    if change:
        if phase in (None, "all"):
            raise click.UsageError("rollback --change needs one PHASE")
        return commands.rollback_change(opts, phase, dry_run, report)
    return commands.rollback(opts, phase, dry_run, report)


def _bake_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from flexmigrate.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command("shift-traffic")
@click.option(
    "--percent",
    required=True,
    type=click.IntRange(0, 100),
    help="Exactly this share of the traffic on EKS (0–100); 0 is the manual way back.",
)
@click.option(
    "--bake",
    metavar="DURATION",
    callback=_bake_duration,
    help="Bake under the gates this long (default: the runbook's traffic.bake).",
)
@click.option("--dry-run", is_flag=True, help="Preflight and the planned change; change nothing.")
@report_option
@click.pass_obj
def shift_traffic(
    opts: Options, percent: int, bake: float | None, dry_run: bool, report: Path | None
) -> int:
    """Move the listener's weights to exactly --percent on EKS, as one step of traffic-shift.

    The same preflight, read-back, bake and health gates as the schedule; a breach puts
    traffic back on EC2 (exit 4). The phase stays running: `flexmigrate run traffic-shift`
    continues the schedule from the first step above the new weight.
    """
    from flexmigrate.commands import traffic

    return traffic.shift_traffic(opts, percent, bake, dry_run, report)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@click.option(
    "--live",
    is_flag=True,
    help="Also read the listener's weights and target health from AWS and flag differences.",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every runbook under the state location (the runbook's state section, "
    "--state-bucket, or --state-dir): phase, step, EKS share, lock, last event.",
)
@click.option("--state-bucket", metavar="BUCKET", help="With --all: an S3 state location.")
@click.option(
    "--state-prefix", metavar="PREFIX", default="flexmigrate", show_default=True,
    help="With --state-bucket: the key prefix.",
)  # fmt: skip
@click.option(
    "--state-region",
    metavar="REGION",
    help="With --state-bucket: its region (default: AWS_REGION).",
)
@click.pass_obj
def status(
    opts: Options,
    as_json: bool,
    live: bool,
    every: bool,
    state_bucket: str | None,
    state_prefix: str,
    state_region: str | None,
) -> int:
    """Phases, steps, recorded traffic weights and the lock holder (reads only the state).

    With --live it also asks AWS what the listener sends where now, and flags any
    difference from what flexmigrate recorded (a change made behind its back).
    """
    from dataclasses import replace

    opts = replace(opts, json=opts.json or as_json)
    if every or state_bucket:
        from flexmigrate.commands import overview

        return overview.status_all(opts, state_bucket, state_prefix, state_region)
    from flexmigrate.commands import info

    return info.status(opts, live=live)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@click.pass_obj
def history(opts: Options, as_json: bool) -> int:
    """The journal: every event, intent and result, oldest first."""
    from dataclasses import replace

    from flexmigrate.commands import info

    return info.history(replace(opts, json=opts.json or as_json))


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def report(opts: Options, file: Path | None) -> int:
    """The migration so far, from the state and journal, offline: FILE.html, .md or .json.

    Per phase what was created and when, each step's time and changes; each traffic step's
    gate readings, drawn; the AMI backup; what can still be undone and how; the monthly cost
    before and after. Without FILE: <state-dir>/<runbook>/reports/migration.html.
    """
    from flexmigrate.commands import report as reporting

    return reporting.report(opts, file)


@cli.command()
@click.option(
    "--force", is_flag=True, help="Release a lock held by a live process or another host."
)
@click.option(
    "--lock-id",
    metavar="ID",
    help="With --force: release only this lock (the ID `status` and a refused run show).",
)
@click.pass_obj
def unlock(opts: Options, force: bool, lock_id: str | None) -> int:
    """Release the run lock.

    Without --force, only a lock whose process is gone (on this host) is released. Use
    --force only when you are sure the holder is not running: two runs at once can
    corrupt a migration. With --lock-id, a lock taken since you looked is never released.
    """
    from flexmigrate.commands import info

    if lock_id and not force:
        raise click.UsageError("--lock-id goes with --force")
    return info.unlock(opts, force, lock_id)


@cli.group()
def runbook() -> None:
    """Check a runbook, or print its JSON Schema for editors."""


@runbook.command("validate")
@click.argument("path", required=False)
@click.pass_obj
def runbook_validate(opts: Options, path: str | None) -> int:
    """Validate a runbook: every problem with file, line and field. Exit 2 if invalid."""
    from flexmigrate.commands import info

    return info.validate(opts, path)


@runbook.command("schema")
@click.pass_obj
def runbook_schema(opts: Options) -> int:
    """Print the runbook's JSON Schema (point your editor's YAML support at it)."""
    from flexmigrate.commands import info

    return info.schema(opts)


@cli.group()
def state() -> None:
    """Recover a damaged state; move a state between this machine and S3."""


@state.command("restore")
@click.option(
    "--version",
    "version",
    metavar="VERSION_ID",
    help="S3 state: this object version of state.json (default: the one before the current).",
)
@click.pass_obj
def state_restore(opts: Options, version: str | None) -> int:
    """Put the previous checkpoint back (state.json.bak locally; an earlier object version in
    S3)."""
    from flexmigrate.commands import info

    return info.state_restore(opts, version)


@state.command("rebuild")
@click.pass_obj
def state_rebuild(opts: Options) -> int:
    """Write state.json again from the journal's checkpoints, when it and its backup are lost
    or unreadable (a damaged one is kept beside it)."""
    from flexmigrate.commands import info

    return info.state_rebuild(opts)


@state.command("push")
@click.pass_obj
def state_push(opts: Options) -> int:
    """Copy the local state (--state-dir) to the runbook's S3 state: serial, lineage, journal.

    Refused when S3 already holds another lineage, or a newer serial of this one.
    """
    from flexmigrate.commands import moves

    return moves.push(opts)


@state.command("pull")
@click.pass_obj
def state_pull(opts: Options) -> int:
    """Copy the runbook's S3 state into --state-dir: serial, lineage, journal.

    Refused when the local state is another lineage, or a newer serial of this one.
    """
    from flexmigrate.commands import moves

    return moves.pull(opts)


cli.add_command(sandbox)
cli.add_command(rehearse)
cli.add_command(init)


def _fail(
    exit_code: int, message: str, json_mode: bool, kind: str, hint: str | None = None
) -> NoReturn:
    if json_mode:
        import json

        sys.stdout.write(
            json.dumps(
                {"error": {"exit_code": exit_code, "kind": kind, "message": message, "hint": hint}}
            )
            + "\n"
        )
    else:
        click.echo(f"error: {message}", err=True)
        if hint:
            click.echo(f"hint: {hint}", err=True)
    raise SystemExit(exit_code)


def main(argv: Sequence[str] | None = None, registry: Callable[[], Registry] | None = None) -> int:
    """Run the command line; returns the exit code. ``registry`` replaces the phases (tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = _json_requested(args)
    meta: dict[str, Any] = {"flexmigrate.argv": args}
    if registry is not None:
        meta["flexmigrate.registry"] = registry
    try:
        with cli.make_context("flexmigrate", list(args), obj=None) as ctx:
            ctx.meta.update(meta)
            result = cli.invoke(ctx)
        return int(result or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        if json_mode:
            _fail(2, exc.format_message(), True, "usage")
        exc.show()
        return 2
    except click.Abort:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        # the reader went away (`flexmigrate history | head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted; the state is saved — `flexmigrate resume` continues", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        return _handle(exc, args, json_mode)


def _handle(exc: Exception, args: list[str], json_mode: bool) -> int:
    from flexmigrate.errors import FlexmigrateError
    from flexmigrate.exitcodes import ExitCode
    from flexmigrate.redact import REDACT

    if isinstance(exc, FlexmigrateError) and exc.exit_code != ExitCode.INTERNAL_ERROR:
        if getattr(exc, "reported", False):
            if not json_mode:
                click.echo(f"error: {REDACT(str(exc), limit=None)}", err=True)
            return int(exc.exit_code)
        try:
            _fail(int(exc.exit_code), REDACT(str(exc), limit=None), json_mode, exc.kind, exc.hint)
        except SystemExit as done:
            return int(done.code or 0)
    from flexmigrate.crash import write_crash_log

    state_dir = Path(os.environ.get("FLEXMIGRATE_STATE_DIR", ".flexmigrate/state"))
    for index, arg in enumerate(args):
        if arg == "--state-dir" and index + 1 < len(args):
            state_dir = Path(args[index + 1])
        elif arg.startswith("--state-dir="):
            state_dir = Path(arg.split("=", 1)[1])
    path = write_crash_log(exc, args, state_dir / "crash")
    summary = (
        REDACT(f"{type(exc).__name__}: {exc}").splitlines()[0] if str(exc) else type(exc).__name__
    )
    try:
        _fail(70, f"internal error ({summary}); crash log: {path}", json_mode, "internal_error")
    except SystemExit as done:
        return int(done.code or 0)


def _json_requested(args: list[str]) -> bool:
    for index, arg in enumerate(args):
        if arg == "--output=json" or (
            arg == "--output" and args[index + 1 : index + 2] == ["json"]
        ):
            return True
        if arg == "--json":
            return True
    return False
