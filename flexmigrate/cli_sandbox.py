"""The command line's rehearsal commands: ``sandbox up|down|status|inject`` and ``rehearse``.

They run against the sandbox, the optional extra (``pip install 'flexmigrate[sandbox]'``);
``flexmigrate.cli`` adds them to its group. Only click is imported at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from flexmigrate.cli_options import report_option

if TYPE_CHECKING:
    from flexmigrate.options import Options

_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".flexmigrate/sandbox"),
    show_default=True,
    help="The sandbox's directory (env, kubeconfig, logs, certificates).",
)
_INJECT_HELP = """\b
Fault SPECs:
  eks-5xx=RATE[@PERCENT]  EKS answers RATE of requests 5xx (once it gets PERCENT % or more)
  eks-latency=MS          EKS p99 response time
  rollout-stuck           Deployments never become available (ProgressDeadlineExceeded)
  targets-unhealthy       IP targets stay unhealthy
  metrics-missing         no EKS metrics are published
  metrics-lag=SECONDS     metric periods are published late
  metric-period=SECONDS   period of published metrics (real ALBs: 60)
  aws-throttle=RATE       RATE of AWS calls answered with throttling errors or 503
  aws-drop=RATE           RATE of AWS connections closed unanswered (before or after the call)
  aws-lose-answer=OP      the next call of OP is carried out and its answer lost, once
  kube-api-faults=RATE    RATE of Kubernetes API requests answered 429, 500, 409 or dropped"""


@click.group(epilog=_INJECT_HELP)
def sandbox() -> None:
    """A local rehearsal environment: AWS (moto behind a front) and a Kubernetes API.

    It holds the infrastructure the runbook (--runbook, else ./flexmigrate.yaml, else the
    shipped example runbook, flexdesk-production) starts from — VPC, EC2 instance, ALB,
    alarms, secret — in the runbook's account and region, serves the EKS cluster the
    migration creates, and simulates traffic and metrics. flexmigrate reaches it exactly as it
    reaches AWS; `source DIR/env` points flexmigrate at the runbook's rehearsal-speed copy and
    a state directory inside DIR.
    """


@sandbox.command("up", epilog=_INJECT_HELP)
@_DIR_OPTION
@click.option("--inject", multiple=True, metavar="SPEC", help="Start with a fault (repeatable).")
@click.pass_obj
def sandbox_up(opts: Options, directory: Path, inject: tuple[str, ...]) -> int:
    """Start a sandbox in the background (returns once it answers)."""
    from flexmigrate.commands import sandbox as commands

    return commands.up(opts, directory, inject)


@sandbox.command("down")
@_DIR_OPTION
@click.pass_obj
def sandbox_down(opts: Options, directory: Path) -> int:
    """Stop the sandbox's processes (its files stay)."""
    from flexmigrate.commands import sandbox as commands

    return commands.down(opts, directory)


@sandbox.command("status")
@_DIR_OPTION
@click.pass_obj
def sandbox_status(opts: Options, directory: Path) -> int:
    """Ports, pid, uptime, active faults."""
    from flexmigrate.commands import sandbox as commands

    return commands.status(opts, directory)


@sandbox.command("inject", epilog=_INJECT_HELP)
@_DIR_OPTION
@click.argument("spec", nargs=-1)
@click.option("--clear", is_flag=True, help="Clear every fault first.")
@click.pass_obj
def sandbox_inject(opts: Options, directory: Path, spec: tuple[str, ...], clear: bool) -> int:
    """Change faults on a running sandbox, for instance in the middle of a bake."""
    from flexmigrate.commands import sandbox as commands

    return commands.inject(opts, directory, spec, clear)


@click.command(epilog=_INJECT_HELP)
@click.option("--inject", multiple=True, metavar="SPEC", help="A fault to rehearse (repeatable).")
@click.option("--keep", is_flag=True, help="Keep the sandbox running afterwards, in --dir.")
@_DIR_OPTION
@report_option
@click.pass_obj
def rehearse(
    opts: Options, inject: tuple[str, ...], keep: bool, directory: Path, report: Path | None
) -> int:
    """Run the whole migration against a fresh sandbox built from the runbook.

    The runbook (--runbook, else ./flexmigrate.yaml, else the shipped example runbook,
    flexdesk-production) runs as it is, every phase in order, with only its time compressed:
    the table of what changed is shown first. Same exit codes as `run`: rehearse a breach with
    `--inject eks-5xx=0.2@25` and expect exit 4 with traffic back on EC2.
    """
    from flexmigrate.commands import rehearse as commands

    return commands.rehearse(opts, inject, keep, report, directory)
