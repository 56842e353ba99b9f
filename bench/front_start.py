"""Time to start moto and the AWS front and get an answer through the front.

Run: .venv/bin/python bench/front_start.py
The sandbox has 5 s to start in all; this is the AWS side's share of it, imports included.
"""

from __future__ import annotations

import time

started = time.perf_counter()

import boto3  # noqa: E402 - imports are part of what is measured
from botocore.config import Config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from flexmigrate.sandbox.aws import AwsFront, FrontConfig  # noqa: E402

imported = time.perf_counter()
moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
moto.start()
host, port = moto.get_host_and_port()
front = AwsFront(FrontConfig(moto_url=f"http://{host}:{port}"))
front.start()
listening = time.perf_counter()
sts = boto3.client(
    "sts",
    endpoint_url=front.url,
    region_name="af-south-1",
    aws_access_key_id="BENCHMARKKEY00000001",
    aws_secret_access_key="bench",  # noqa: S106 - moto checks no secret
    config=Config(retries={"mode": "standard", "max_attempts": 5}),
)
account = sts.get_caller_identity()["Account"]
answered = time.perf_counter()
sts.close()
front.stop()
moto.stop()

print(f"imports                      {imported - started:6.3f} s")
print(f"moto + front listening       {listening - imported:6.3f} s")
print(f"first GetCallerIdentity      {answered - listening:6.3f} s  (account {account})")
print(f"total                        {answered - started:6.3f} s  (budget 5 s)")
