"""The Kubernetes Secret the app reads, built from AWS Secrets Manager (or SSM parameters).

Values go from AWS straight into the Secret's ``data``: each is registered with the redactor
the moment it is read (raw and base64, since a Kubernetes error body echoes the request), and
nothing that is written down — state, journal, plan, report, error messages — carries more
than the source's ARN, its version and the key names. The Secret is annotated with the
source's version, so a rotation shows up as drift and rolls the pods on the next deploy.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.redact import REDACT
from phases.app_deploy.kube import apply_object, delete_owned
from phases.app_deploy.render import Rendered, render
from phases.app_deploy.validate import secret_keys_read
from phases.shared.sections import StepContext

SOURCE_ANNOTATION = "flexmigrate.io/secret-source"
VERSION_ANNOTATION = "flexmigrate.io/secret-version"


@dataclass(frozen=True)
class SecretSource:
    """What may be written down about the source: where it is and which keys it holds."""

    reference: str  # the secret's ARN, or the SSM parameter names
    version: str
    keys: tuple[str, ...]

    def display(self) -> str:
        """For people: a Secrets Manager ARN as name, account and region. (Console text
        masks whatever follows ``secret:``, which would hide the ARN's name.)"""
        return display_reference(self.reference)


def display_reference(reference: str) -> str:
    parts = reference.split(":", 6)
    if len(parts) == 7 and parts[2] == "secretsmanager":
        name = parts[6].rsplit("-", 1)[0] if "-" in parts[6] else parts[6]
        return f"Secrets Manager {name} (account {parts[4]}, {parts[3]})"
    return reference


def describe_source(ctx: StepContext) -> str:
    source = ctx.runbook.app.secret.source
    if source.secrets_manager:
        return f"Secrets Manager {source.secrets_manager}"
    return "SSM parameters " + ", ".join(sorted((source.ssm or {}).values()))


def read_source(ctx: StepContext) -> tuple[SecretSource, dict[str, str]]:
    """(reference, values). Values are registered with the redactor before this returns."""
    source = ctx.runbook.app.secret.source
    if source.secrets_manager:
        return _from_secrets_manager(ctx, source.secrets_manager)
    return _from_ssm(ctx, dict(source.ssm or {}))


def _register(values: dict[str, str]) -> None:
    encoded = [base64.b64encode(v.encode()).decode() for v in values.values()]
    REDACT.register([*values.values(), *encoded])


def _from_secrets_manager(ctx: StepContext, secret_id: str) -> tuple[SecretSource, dict[str, str]]:
    try:
        found = ctx.aws("secretsmanager").get_secret_value(SecretId=secret_id)
    except CloudError as exc:
        if is_not_found(exc):
            raise StepFailed(
                f"Secrets Manager secret {secret_id} does not exist (app.secret.source)",
                hint="create it, or fix app.secret.source in the runbook",
            ) from None
        raise
    text = found.get("SecretString")
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        data = None  # the decoder's message could quote the value: say nothing of it
    if isinstance(text, str):
        REDACT.register([text])
    if not isinstance(data, dict):
        raise StepFailed(
            f"Secrets Manager secret {found.get('ARN', secret_id)} does not hold a JSON object "
            "of keys (the app's Secret is built key by key)",
            hint='store the values as a JSON object: {"KEY": "value", …}',
        )
    values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    _register(values)
    reference = SecretSource(str(found["ARN"]), str(found.get("VersionId", "")), tuple(values))
    return reference, values


def _from_ssm(ctx: StepContext, parameters: dict[str, str]) -> tuple[SecretSource, dict[str, str]]:
    values: dict[str, str] = {}
    versions = []
    ssm = ctx.aws("ssm")
    for key, name in sorted(parameters.items()):
        try:
            found = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except CloudError as exc:
            if is_not_found(exc):
                raise StepFailed(
                    f"SSM parameter {name} (key {key}) does not exist",
                    hint="create it, or fix app.secret.source.ssm in the runbook",
                ) from None
            raise
        values[key] = str(found["Value"])
        _register({key: values[key]})
        versions.append(f"{name}:{found.get('Version', '')}")
    reference = ", ".join(sorted(parameters.values()))
    return SecretSource(reference, ",".join(versions), tuple(values)), values


def wanted_keys(rendered: Rendered, ctx: StepContext, available: Sequence[str]) -> list[str]:
    """The runbook's keys and every key the Deployment reads (all of them when it reads the
    whole Secret)."""
    app = ctx.runbook.app
    read, whole = secret_keys_read(rendered, app)
    keys = set(app.secret.keys) | read
    if whole or not keys:
        keys |= set(available)
    return sorted(keys)


class SecretStep(Step):
    id = "app-secrets"
    title = "Kubernetes Secret from AWS (values never written down)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        app = ctx.runbook.app
        resource = f"Secret {app.namespace}/{app.secret.name}"
        rendered = render(ctx)
        read, whole = secret_keys_read(rendered, app)
        keys = sorted(set(app.secret.keys) | read) or ["every key of the source"]
        current = "absent"
        if _cluster_reachable(ctx):
            existing = ctx.kube.get("v1", "Secret", app.secret.name, app.namespace)
            if existing is not None:
                version = (existing["metadata"].get("annotations") or {}).get(VERSION_ANNOTATION)
                current = f"present (source version {version or 'unknown'})"
        return [
            Change(
                Action.UPDATE if current != "absent" else Action.CREATE,
                resource,
                current,
                f"keys {', '.join(keys)} from {describe_source(ctx)}"
                + (" (the Deployment reads the whole Secret)" if whole else ""),
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        app = ctx.runbook.app
        rendered = render(ctx)
        source, values = read_source(ctx)
        keys = wanted_keys(rendered, ctx, source.keys)
        missing = [k for k in keys if k not in values]
        if missing:
            raise StepFailed(
                f"{describe_source(ctx)} has no key {', '.join(missing)}, which the app needs",
                hint="add the key to the secret, then `flexmigrate resume`",
            )
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": app.secret.name,
                "namespace": app.namespace,
                "labels": {"app": app.deployment},
                "annotations": {
                    SOURCE_ANNOTATION: source.reference,
                    VERSION_ANNOTATION: source.version,
                },
            },
            "type": "Opaque",
            "data": {k: base64.b64encode(values[k].encode()).decode() for k in keys},
        }
        adopted = apply_object(ctx, body)
        ctx.record(
            secret=f"{app.namespace}/{app.secret.name}",
            secret_source=source.reference,
            secret_version=source.version,
            secret_keys=keys,
            secret_adopted=adopted,
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        app = ctx.runbook.app
        existing = ctx.kube.get("v1", "Secret", app.secret.name, app.namespace)
        if existing is None:
            return [f"Secret {app.namespace}/{app.secret.name} is missing"]
        keys = set(ctx.outputs.get("secret_keys") or app.secret.keys)
        held = set((existing.get("data") or {}).keys())
        problems = []
        if keys - held:
            problems.append(f"Secret {app.secret.name} lacks {', '.join(sorted(keys - held))}")
        recorded = ctx.outputs.get("secret_version")
        annotations = existing["metadata"].get("annotations") or {}
        if recorded and annotations.get(VERSION_ANNOTATION) != recorded:
            problems.append(f"Secret {app.secret.name} was changed outside flexmigrate")
        return problems

    def rollback(self, ctx: StepContext) -> None:
        app = ctx.runbook.app
        if _redeploy(ctx) or not _cluster_reachable(ctx):
            return
        delete_owned(ctx, "v1", "Secret", app.secret.name, app.namespace)


def _cluster_reachable(ctx: StepContext) -> bool:
    from phases.shared.lookups import cluster_active

    return cluster_active(ctx)


def _redeploy(ctx: StepContext) -> bool:
    from phases.app_deploy.release import is_redeploy

    return is_redeploy(ctx)
