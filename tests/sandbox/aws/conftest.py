"""A moto server and an AWS front in front of it, shared by the front's tests.

moto runs in the test process, as in the sandbox daemon, and the front reaches it the way
the daemon's does: in-process (``FrontConfig.moto_in_process``).

Clients are real boto3 clients with botocore's standard retry mode, pointed at the front
as flexmigrate's clients are in a rehearsal. EKS timings are short so lifecycles can be
watched within a test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from front_helpers import ClientFactory, make_client, two_zone_vpc
from moto.server import ThreadedMotoServer

from flexmigrate.sandbox.aws import AwsFront, EksTiming, FrontConfig
from flexmigrate.sandbox.faults import FaultBoard

TIMING = EksTiming(
    cluster_create=0.6,
    cluster_delete=0.3,
    nodegroup_create=0.5,
    nodegroup_delete=0.3,
    addon_create=0.4,
    addon_delete=0.2,
)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def fault_board() -> FaultBoard:
    return FaultBoard()


@pytest.fixture
def faults(fault_board: FaultBoard) -> Iterator[FaultBoard]:
    """The shared board, cleared again after the test that breaks things."""
    yield fault_board
    fault_board.clear()


@pytest.fixture(scope="session")
def served_clusters() -> dict[str, tuple[str, str]]:
    """Clusters a Kubernetes API 'serves': name -> (URL, CA data)."""
    return {}


@pytest.fixture(scope="session")
def request_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("front") / "requests.jsonl"


@pytest.fixture(scope="session")
def front(
    moto_url: str,
    fault_board: FaultBoard,
    served_clusters: dict[str, tuple[str, str]],
    request_log: Path,
) -> Iterator[AwsFront]:
    config = FrontConfig(
        moto_url=moto_url,
        moto_in_process=True,  # as the sandbox daemon runs it
        timing=TIMING,
        faults=fault_board,
        kube_endpoint=served_clusters.get,
        request_log=request_log,
        target_initial=2.0,  # long enough to be seen on a loaded machine
        target_draining=0.4,
        throttle_seed=7,
    )
    with AwsFront(config) as running:
        yield running


@pytest.fixture(scope="session")
def aws(front: AwsFront) -> Iterator[ClientFactory]:
    """``aws("eks")``: a boto3 client that talks to the front."""
    made: dict[tuple[str, int], Any] = {}

    def client(service: str, attempts: int = 5) -> Any:
        key = (service, attempts)
        if key not in made:
            made[key] = make_client(service, front.url, attempts=attempts)
        return made[key]

    yield client
    for each in made.values():
        each.close()


_cidrs = itertools.count(1)


@pytest.fixture
def network(aws: ClientFactory) -> dict[str, Any]:
    """A VPC with one subnet in each of two AZs, like the seed's private subnets."""
    block = next(_cidrs)
    vpc, subnets = two_zone_vpc(aws("ec2"), block)
    return {"vpc": vpc, "subnets": subnets, "block": block}
