"""The application secret and the IAM roles the runbook names as cluster admins.

The secret's values are fresh random strings on every seeding and never leave this module:
phase 3 must read them from Secrets Manager itself (as it does in production), and a test
can prove two sandboxes never share a password. Only the ARN and the key names are returned.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.world.tags import tag_list

SECRET_NAME = "flexdesk/production"  # noqa: S105 - the secret's name, not a value
SECRET_KEYS = ("DB_CONNECTION_STRING", "JWT_SECRET", "REDIS_PASSWORD")
ADMIN_ROLES = {
    "flexdesk-operators": "Operators who run the flexdesk runbooks (cluster admins)",
    "flexdesk-ci": "CI pipeline that deploys flexdesk (cluster admin)",
}
_DB_HOST = "flexdesk-postgres.internal.sch.ng"


@dataclass(frozen=True)
class IdentityIds:
    """References only: ARNs and key names, never values."""

    secret_arn: str
    secret_name: str
    secret_keys: tuple[str, ...]
    admin_role_arns: dict[str, str]


def seed_identity(*, iam: Any, secretsmanager: Any, account_id: str) -> IdentityIds:
    """Create the secret with fresh values and the admin roles trusting the account."""
    secret_arn: str = secretsmanager.create_secret(
        Name=SECRET_NAME,
        Description="flexdesk backend runtime secrets (Docker Compose env today)",
        SecretString=_secret_string(),
        Tags=tag_list(SECRET_NAME),
    )["ARN"]
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
    role_arns = {
        name: iam.create_role(
            RoleName=name,
            Description=description,
            AssumeRolePolicyDocument=trust,
            Tags=tag_list(name),
        )["Role"]["Arn"]
        for name, description in ADMIN_ROLES.items()
    }
    return IdentityIds(
        secret_arn=secret_arn,
        secret_name=SECRET_NAME,
        secret_keys=SECRET_KEYS,
        admin_role_arns=role_arns,
    )


def _secret_string() -> str:
    password = secrets.token_urlsafe(24)
    values = {
        "DB_CONNECTION_STRING": (
            f"postgresql://flexdesk:{password}@{_DB_HOST}:5432/flexdesk?sslmode=require"
        ),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
    }
    return json.dumps(values)
