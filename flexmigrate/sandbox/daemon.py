"""The sandbox process: moto, the AWS front, the Kubernetes API emulator and the traffic
simulator, in one background process started by ``flexmigrate sandbox up``.

It seeds the world, writes ``env``, ``kubeconfig`` and ``world.json``, then ``sandbox.json``
last (the sign that it answers), and runs until SIGTERM or a shutdown request on its control
port. Run it as ``python -m flexmigrate.sandbox.daemon --dir DIR``.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from flexmigrate.host import write_atomic
from flexmigrate.sandbox.faults import FaultBoard, parse_specs
from flexmigrate.sandbox.layout import CLUSTER, CREDENTIALS, REGION, SandboxFiles

log = logging.getLogger("flexmigrate.sandbox")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flexmigrate.sandbox.daemon")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--inject", action="append", default=[])
    parser.add_argument("--runbook", default="")
    parser.add_argument("--kubernetes-version", default="1.35")
    parser.add_argument("--cluster-seconds", type=float, default=2.0)
    parser.add_argument("--nodegroup-seconds", type=float, default=2.0)
    parser.add_argument("--addon-seconds", type=float, default=1.0)
    parser.add_argument("--rollout-seconds", type=float, default=1.0)
    parser.add_argument("--progress-deadline", type=float, default=8.0)
    parser.add_argument("--traffic-interval", type=float, default=1.0)
    return parser.parse_args(argv)


class Sandbox:
    """The running parts. ``start`` returns once every part answers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.files = SandboxFiles(args.dir.resolve())
        self.faults = FaultBoard(parse_specs(args.inject))
        self.stop_requested = threading.Event()
        self.started_at = time.time()
        self._parts: list[Any] = []

    def start(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        from flexmigrate.sandbox.aws import AwsFront, EksTiming, FrontConfig
        from flexmigrate.sandbox.control import ControlServer
        from flexmigrate.sandbox.kube import EmulatorConfig, KubeEmulator
        from flexmigrate.sandbox.registrar import FrontTargetRegistrar
        from flexmigrate.sandbox.traffic import TrafficSimulator
        from flexmigrate.sandbox.world import seed_world
        from flexmigrate.sandbox.world.state_bucket import seed_state_bucket

        args = self.args
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self._parts.append(self.moto)
        host, port = self.moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        session = boto3.session.Session(**_session_credentials(), region_name=REGION)
        self.world = seed_world(session, moto_url, REGION)
        private_cidrs = _subnet_cidrs(session, moto_url, self.world.private_subnet_ids.values())
        self.kube = KubeEmulator(
            EmulatorConfig(
                cert_dir=self.files.certs,
                kubernetes_version=args.kubernetes_version,
                pod_cidrs=tuple(private_cidrs),
                rollout_delay=args.rollout_seconds,
                progress_deadline_cap=args.progress_deadline,
                faults=self.faults,
                target_registrar=FrontTargetRegistrar(session, lambda: self.front.url, REGION),
            )
        )
        self.kube.start()
        self._parts.append(self.kube)
        ca = base64.b64encode(self.kube.ca_pem).decode()
        self.front = AwsFront(
            FrontConfig(
                moto_url=moto_url,
                timing=EksTiming(
                    cluster_create=args.cluster_seconds,
                    cluster_delete=args.cluster_seconds / 2,
                    nodegroup_create=args.nodegroup_seconds,
                    nodegroup_delete=args.nodegroup_seconds / 2,
                    addon_create=args.addon_seconds,
                    addon_delete=args.addon_seconds / 2,
                ),
                faults=self.faults,
                kube_endpoint=lambda name: (self.kube.url, ca),
                request_log=self.files.logs / "aws-requests.jsonl",
            )
        )
        self.front.start()
        self._parts.append(self.front)
        self.traffic = TrafficSimulator(
            session, moto_url, REGION, self.faults, interval=args.traffic_interval
        )
        self.traffic.start()
        self._parts.append(self.traffic)
        self.control = ControlServer(self)
        self.control.start()
        self._parts.append(self.control)
        self.state_bucket = seed_state_bucket(session, moto_url, args.runbook)
        self.moto_url = moto_url
        self._write_files()

    def _write_files(self) -> None:
        files = self.files
        env = {
            "AWS_ENDPOINT_URL": self.front.url,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "KUBECONFIG": str(files.kubeconfig),
            "FLEXMIGRATE_RUNBOOK": self.args.runbook,
        }
        lines = [f"export {k}={_shell_quote(v)}" for k, v in env.items() if v]
        write_atomic(files.env, ("\n".join(lines) + "\n").encode())
        write_atomic(files.kubeconfig, _kubeconfig(self.kube.url, self.kube.ca_pem, env).encode())
        write_atomic(files.world, json.dumps(self.world.as_dict(), indent=2).encode())
        runtime = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "dir": str(files.root),
            "aws_endpoint": self.front.url,
            "kube_endpoint": self.kube.url,
            "moto": self.moto_url,
            "control": self.control.url,
        }
        write_atomic(files.runtime, json.dumps(runtime, indent=2).encode())

    def status(self) -> dict[str, Any]:
        stats = self.front.stats() if hasattr(self.front, "stats") else {}
        return {
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "aws_endpoint": self.front.url,
            "kube_endpoint": self.kube.url,
            "faults": self.faults.get().as_dict(),
            "aws_requests": stats,
            "traffic": self.traffic.snapshot(),
        }

    def stop(self) -> None:
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s", type(part).__name__)
        self.files.runtime.unlink(missing_ok=True)


def _session_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _subnet_cidrs(session: Any, moto_url: str, subnet_ids: Any) -> list[str]:
    ec2 = session.client("ec2", endpoint_url=moto_url, region_name=REGION)
    subnets = ec2.describe_subnets(SubnetIds=sorted(subnet_ids))["Subnets"]
    return [s["CidrBlock"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])]


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _kubeconfig(server: str, ca_pem: bytes, env: dict[str, str]) -> str:
    """A kubeconfig that reaches the emulator the EKS way: an exec entry that makes a fresh
    token with flexmigrate itself (no AWS CLI needed), with the sandbox's AWS settings."""
    from flexmigrate.clients.eks_token import exec_user, kubeconfig

    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    user = exec_user(CLUSTER, REGION, env={k: env[k] for k in keys})
    ca = base64.b64encode(ca_pem).decode()
    document = kubeconfig(CLUSTER, server, ca, user, context=f"sandbox-{CLUSTER}")
    return json.dumps(document, indent=2) + "\n"


# The AWS managed policies the migration attaches (EKS cluster and nodes), plus a few a
# runbook's node roles commonly add. moto loads AWS managed policies only on request, and all
# ~1,300 of them cost a second at start-up; the sandbox offers these.
MANAGED_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSServicePolicy",
    "AmazonEKSVPCResourceController",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEBSCSIDriverPolicy",
    "AmazonSSMManagedInstanceCore",
    "CloudWatchAgentServerPolicy",
)


def _offer_managed_policies() -> None:
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.iam import models

    namespace = vars(models)  # moto reads the data from its module at backend creation
    everything = json.loads(namespace["aws_managed_policies_data"])
    namespace["aws_managed_policies_data"] = json.dumps(
        {name: everything[name] for name in MANAGED_POLICIES if name in everything}
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    files = SandboxFiles(args.dir.resolve())
    files.logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=files.logs / "sandbox.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _offer_managed_policies()
    sandbox = Sandbox(args)
    signal.signal(signal.SIGTERM, lambda *_: sandbox.stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: sandbox.stop_requested.set())
    try:
        sandbox.start()
    except Exception:
        log.exception("the sandbox failed to start")
        sandbox.stop()
        return 1
    log.info("sandbox ready in %.2fs", time.time() - sandbox.started_at)
    sandbox.stop_requested.wait()
    log.info("stopping")
    sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
