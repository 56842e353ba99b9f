"""The command line's ``init``: a runbook and manifests from what already runs, read-only.
Only click is imported at start-up; the command loads its AWS clients when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flexmigrate.options import Options

_EPILOG = """\b
What it reads (every call a Describe/List/Get; the clients refuse anything else):
  the ALB, its listeners and rules; the EC2 target group, its health check and attributes;
  the instance; its VPC, private subnets and security groups; the security groups that
  admit the instance (database, cache); CloudWatch alarms on the ALB and the target group;
  the account (STS) and the Kubernetes versions EKS offers.

\b
What it writes (never over an existing file without --force):
  flexmigrate.yaml   (or --out FILE) the runbook, every chosen value commented
  k8s/base/          namespace (readiness-gate label), service account, Deployment,
                     Service, HPA, PodDisruptionBudget
  k8s/overlays/production/  image tag, environment label, scaling bounds

\b
What AWS cannot tell is written as `<fill in: …>`: the file validates at once, and every
phase's preflight refuses it with the same words until it is filled in. With --compose the
Deployment takes the image, command, port, healthcheck, resources and the environment's
KEY NAMES from the service that publishes the target group's port; no value is ever
written (each key is read from the Secret the migration builds from AWS).

\b
Examples:
  flexmigrate init --alb shop-alb --region eu-west-1
  flexmigrate init --instance shop-backend --compose docker-compose.yml
  flexmigrate init --alb arn:aws:elasticloadbalancing:… --out migrate/api.yaml --profile prod"""


@click.command(epilog=_EPILOG)
@click.option(
    "--alb", metavar="NAME|ARN", help="The Application Load Balancer in front of the app."
)
@click.option(
    "--instance",
    metavar="ID|NAME",
    help="Or the EC2 instance (ID or Name tag); its ALB is found from its target group.",
)
@click.option(
    "--compose",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The instance's docker-compose.yml: also writes the app's Deployment from it.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Runbook to write (default: --runbook, else ./flexmigrate.yaml); k8s/ goes beside it.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("--profile", metavar="NAME", help="AWS named profile (default: the usual chain).")
@click.option(
    "--region", metavar="REGION", help="AWS region (default: AWS_REGION, or the profile's)."
)
@click.pass_obj
def init(
    opts: Options,
    alb: str | None,
    instance: str | None,
    compose: Path | None,
    out: Path | None,
    force: bool,
    profile: str | None,
    region: str | None,
) -> int:
    """Write a runbook (and kustomize manifests) from what already runs, reading only.

    Point it at the ALB (--alb) or the instance (--instance) that serves the app today. It
    names every resource by Name tag or name, never by ID, so the runbook also rehearses
    (`flexmigrate rehearse`) and works in another account. Then: validate, fill in the
    placeholders it lists, rehearse, plan.
    """
    from flexmigrate.commands.init import InitRequest
    from flexmigrate.commands.init import init as command

    if (alb is None) == (instance is None):
        raise click.UsageError("give exactly one of --alb NAME|ARN and --instance ID|NAME")
    return command(opts, InitRequest(alb, instance, compose, out, force, profile, region))
