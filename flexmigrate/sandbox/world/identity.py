"""The application secret and the IAM principals the runbook names as cluster admins.

The secret's values are fresh random strings on every seeding and never leave this module:
phase 3 must read them from Secrets Manager itself (as it does in production), and a test
can prove two sandboxes never share a password. Only the ARN and the key names are returned.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.world.spec import WorldSpec
from flexmigrate.sandbox.world.tags import Tags


@dataclass(frozen=True)
class IdentityIds:
    """References only: ARNs and key names, never values."""

    secret_arn: str
    secret_name: str
    secret_keys: tuple[str, ...]
    admin_role_arns: dict[str, str]


def seed_identity(
    *, iam: Any, secretsmanager: Any, ssm: Any, spec: WorldSpec, account_id: str
) -> IdentityIds:
    """The secret (or SSM parameters) with fresh values for exactly the runbook's keys, and
    the admin roles and users trusting the account."""
    tags = Tags(spec.project)
    values = _secret_values(spec)
    secret_arn = ""
    secret_name = spec.secret.secrets_manager or ""
    if spec.secret.secrets_manager:
        secret_arn = secretsmanager.create_secret(
            Name=secret_name,
            Description=f"{spec.project} backend runtime secrets (Docker Compose env today)",
            SecretString=json.dumps(values),
            Tags=tags.of(secret_name),
        )["ARN"]
    for key, parameter in spec.secret.ssm.items():
        ssm.put_parameter(
            Name=parameter,
            Description=f"{spec.project} backend runtime secret {key}",
            Value=values[key],
            Type="SecureString",
            Tags=tags.of(parameter),
        )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    principal_arns: dict[str, str] = {}
    for kind, name in spec.admins:
        if kind == "user":
            principal_arns[name] = iam.create_user(UserName=name, Tags=tags.of(name))["User"]["Arn"]
        else:
            principal_arns[name] = iam.create_role(
                RoleName=name,
                Description=f"{spec.project} cluster admin (named in the runbook)",
                AssumeRolePolicyDocument=trust,
                Tags=tags.of(name),
            )["Role"]["Arn"]
    return IdentityIds(
        secret_arn=secret_arn,
        secret_name=secret_name,
        secret_keys=spec.secret.keys,
        admin_role_arns=principal_arns,
    )


def _secret_values(spec: WorldSpec) -> dict[str, str]:
    """Fresh random values; a key that holds a database URL gets one, with a fresh password."""
    values = {}
    for key in spec.secret.keys:
        if "CONNECTION_STRING" in key.upper() or key.upper().endswith(("DATABASE_URL", "DB_URL")):
            password = secrets.token_urlsafe(24)
            values[key] = (
                f"postgresql://{spec.project}:{password}@{spec.project}-postgres.internal:5432/"
                f"{spec.project}?sslmode=require"
            )
        else:
            values[key] = secrets.token_urlsafe(32)
    return values
