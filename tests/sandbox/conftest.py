"""A real moto server on loopback, real boto3 clients, and a freshly seeded world: what the
world and traffic tests share (the AWS front's tests in ``aws/`` have a moto server of their
own).

moto keeps its state per process, not per server, so every world lives in a moto account
of its own (see ``world_helpers.Accounts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from world_helpers import REGION, Accounts

from flexmigrate.sandbox.world import World, seed_world


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture(scope="session")
def session(accounts: Accounts) -> boto3.Session:
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    session.events.register("before-sign.*.*", accounts)
    return session


@pytest.fixture
def clients(session: boto3.Session, moto_url: str) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return session.client(service, endpoint_url=moto_url, region_name=REGION)

    return make


@pytest.fixture
def world(session: boto3.Session, moto_url: str, accounts: Accounts) -> World:
    """A world of its own for each test that changes it."""
    accounts.fresh()
    return seed_world(session, moto_url, REGION)
