"""The ``kube-api-faults`` fault, seen through the official client: at a rate of 1 every
request is answered 429 (with Retry-After), 500, 409 (updates only) or has its connection
closed without an answer; at 0 the API answers as before. Health and version stay up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from kube_helpers import fast_config, make_token
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from flexmigrate.sandbox.faults import FaultBoard, parse_specs
from flexmigrate.sandbox.kube import KubeEmulator


def _outcome(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except ApiException as exc:
        if exc.status == 429:
            assert exc.headers["Retry-After"] == "1"
        return str(exc.status)
    except HTTPError:
        return "dropped"
    return "ok"


def test_the_api_answers_429_500_409_or_drops_at_the_configured_rate(tmp_path: Path) -> None:
    board = FaultBoard(parse_specs(["kube-api-faults=1"]))
    emulator = KubeEmulator(fast_config(tmp_path / "certs", faults=board))
    emulator.start()
    try:
        configuration = client.Configuration()
        configuration.host = emulator.url
        configuration.ssl_ca_cert = str(emulator.config.cert_dir / "ca.pem")
        configuration.api_key = {"authorization": f"Bearer {make_token()}"}
        configuration.retries = False  # each answer as the server gave it
        with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)
            reads = Counter(_outcome(lambda: core.list_namespace()) for _ in range(40))
            assert set(reads) == {"429", "500", "dropped"}, reads
            body = {"metadata": {"name": "default"}}
            writes = Counter(
                _outcome(lambda: core.replace_namespace("default", body)) for _ in range(40)
            )
            assert set(writes) == {"409", "429", "500", "dropped"}, writes
            assert _outcome(lambda: client.VersionApi(api).get_code()) == "ok"
            board.set(parse_specs(["kube-api-faults=0"]))
            assert _outcome(lambda: core.list_namespace()) == "ok"
    finally:
        emulator.stop()
