"""Time to start the Kubernetes API emulator and get answers from it, and to stop it.

Run: .venv/bin/python bench/kube_emulator_start.py [--runs 5]
The sandbox has 5 s to start in all; this is the emulator's share of it: import, start
(certificates made on the first run only), the first authenticated request (which loads
the schemas of the built-in kinds), a namespace list over HTTPS, and stop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from ssl import create_default_context

started = time.perf_counter()

import boto3  # noqa: E402 - imports are part of what is measured

from flexmigrate.clients.eks_token import get_token  # noqa: E402
from flexmigrate.sandbox.kube import EmulatorConfig, KubeEmulator  # noqa: E402

IMPORTED = time.perf_counter() - started


def _get(url: str, token: str, ca: Path) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - https to the local emulator
    with urllib.request.urlopen(request, context=create_default_context(cafile=str(ca))) as reply:  # noqa: S310
        return json.load(reply)


def _run(cert_dir: Path, token: str) -> tuple[float, float, float, float]:
    emulator = KubeEmulator(EmulatorConfig(cert_dir=cert_dir))
    begin = time.perf_counter()
    emulator.start()
    up = time.perf_counter() - begin
    ca = cert_dir / "ca.pem"
    begin = time.perf_counter()
    _get(f"{emulator.url}/api/v1/namespaces/default/configmaps", token, ca)
    first = time.perf_counter() - begin
    begin = time.perf_counter()
    listed = _get(f"{emulator.url}/api/v1/namespaces", token, ca)
    warm = time.perf_counter() - begin
    assert isinstance(listed, dict) and len(listed["items"]) == 4
    begin = time.perf_counter()
    emulator.stop()
    return up, first, warm, time.perf_counter() - begin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # The emulator checks a token's shape and age, not its signature: any key will do.
    credentials = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    session = boto3.Session(**credentials, region_name="af-south-1")
    token = get_token(session, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [_run(Path(tmp), token) for _ in range(args.runs)]
    print(f"import                    {IMPORTED * 1000:7.1f} ms")
    for label, index in (("start", 0), ("first request", 1), ("namespace list", 2), ("stop", 3)):
        values = [run[index] * 1000 for run in runs]
        print(f"{label:<25} {statistics.median(values):7.1f} ms median, {max(values):7.1f} ms max")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
