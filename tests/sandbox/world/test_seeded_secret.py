"""The application secret: three keys, fresh values per sandbox, never in the World."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from world_helpers import REGION, Accounts

from flexmigrate.sandbox.world import World, seed_world


def secret_values(clients: Callable[[str], Any], world: World) -> dict[str, str]:
    answer = clients("secretsmanager").get_secret_value(SecretId=world.secret_arn)
    values: dict[str, str] = json.loads(answer["SecretString"])
    return values


def test_secret_holds_the_three_keys_with_fresh_values_each_seeding(
    session: boto3.Session, moto_url: str, clients: Callable[[str], Any], accounts: Accounts
) -> None:
    accounts.fresh()
    first_world = seed_world(session, moto_url, REGION)
    first = secret_values(clients, first_world)
    accounts.fresh()
    second_world = seed_world(session, moto_url, REGION)
    second = secret_values(clients, second_world)

    keys = {"DB_CONNECTION_STRING", "JWT_SECRET", "REDIS_PASSWORD"}
    assert set(first) == set(second) == keys
    assert set(first_world.secret_keys) == keys
    assert first_world.secret_name == "flexdesk/production"
    for key in keys:
        assert first[key] != second[key]
        assert len(first[key]) >= 24
    assert first["DB_CONNECTION_STRING"].startswith("postgresql://flexdesk:")

    # The World names the secret but never carries a value.
    written = json.dumps(first_world.as_dict())
    for value in first.values():
        assert value not in written
    password = first["DB_CONNECTION_STRING"].split(":")[2].split("@")[0]
    assert password not in written

    described = clients("secretsmanager").describe_secret(SecretId=second_world.secret_arn)
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["ManagedBy"] == "terraform"
