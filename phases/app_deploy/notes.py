"""What both sides share while traffic is split, for the plan: the operator checks it before
phase 4 sends the first request to EKS. The image each side runs, the secret source both
must read, and the database connections when the EKS side is at its HPA maximum on top of
what the EC2 side holds."""

from __future__ import annotations

from collections.abc import Sequence

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError, FlexmigrateError
from phases.app_deploy.render import hpa_for, render
from phases.app_deploy.secret import display_reference
from phases.shared.sections import StepContext


def _secret_reference(ctx: StepContext) -> str:
    source = ctx.runbook.app.secret.source
    if not source.secrets_manager:
        return "SSM parameters " + ", ".join(sorted((source.ssm or {}).values()))
    try:
        found = ctx.aws("secretsmanager").describe_secret(SecretId=source.secrets_manager)
    except CloudError as exc:
        if is_not_found(exc):
            return f"Secrets Manager {source.secrets_manager} (NOT FOUND)"
        raise
    return display_reference(str(found["ARN"]))


def shared_notes(ctx: StepContext) -> Sequence[str]:
    app = ctx.runbook.app
    notes = []
    ec2_image = app.ec2_image or "not stated (set app.ec2_image to compare)"
    line = f"Shared while split — image: EKS runs {app.image}; EC2 runs {ec2_image}"
    if app.ec2_image and app.ec2_image != app.image:
        line += " — DIFFERENT builds will answer the same clients during the cutover"
    notes.append(line)
    try:
        reference = _secret_reference(ctx)
    except FlexmigrateError as exc:
        reference = f"{app.secret.source} (could not be read: {exc})"
    notes.append(
        f"Shared while split — secrets: the EKS Secret {app.namespace}/{app.secret.name} is "
        f"built from {reference}; the EC2 side must run with the same values, and a rotation "
        "must reach both sides"
    )
    try:
        hpa = hpa_for(render(ctx), app.deployment)
    except FlexmigrateError:
        hpa = None
    pods = int((hpa or {}).get("maxReplicas", 1))
    db = app.database
    eks = pods * db.connections_per_pod
    total = eks + db.ec2_connections
    line = (
        f"Shared while split — database connections at the HPA maximum: EKS {pods} pods × "
        f"{db.connections_per_pod} = {eks}, plus EC2 {db.ec2_connections} = {total}"
    )
    if db.max_connections is None:
        line += " (compare with the database's max_connections: app.database.max_connections)"
    elif total > db.max_connections:
        line += (
            f" — MORE than the database's max_connections {db.max_connections}: lower the "
            "HPA maximum or the pool size, or raise the limit, before phase 4"
        )
    else:
        line += f", within max_connections {db.max_connections}"
    notes.append(line)
    return notes
