"""The sandbox process: moto, the AWS front, the Kubernetes API emulator and the traffic
simulator, in one background process started by ``flexmigrate sandbox up``.

It seeds the world the runbook (``--runbook``) starts from — in the runbook's account and
region, named as the runbook names it (``flexmigrate.sandbox.world.spec``) — writes ``env``,
``kubeconfig`` and ``world.json``, then ``sandbox.json`` last (the sign that it answers), and
runs until SIGTERM or a shutdown request on its control port. Run it as
``python -m flexmigrate.sandbox.daemon --dir DIR --runbook FILE``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexmigrate.host import write_atomic
from flexmigrate.sandbox.faults import FaultBoard, Faults, parse_specs
from flexmigrate.sandbox.kube.api_faults import injected as injected_kube_faults
from flexmigrate.sandbox.layout import CREDENTIALS, SandboxFiles
from flexmigrate.sandbox.world.spec import (
    WorldSpec,
    flexdesk_spec,
    read_runbook_file,
    spec_from_runbook,
)

if TYPE_CHECKING:
    from flexmigrate.sandbox.chartrepo import ChartRepoProxy

log = logging.getLogger("flexmigrate.sandbox")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flexmigrate.sandbox.daemon")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--inject", action="append", default=[])
    parser.add_argument("--runbook", default="")
    parser.add_argument("--state-dir", default="")
    parser.add_argument("--kubernetes-version", default="1.35")
    parser.add_argument("--cluster-seconds", type=float, default=2.0)
    parser.add_argument("--nodegroup-seconds", type=float, default=2.0)
    parser.add_argument("--addon-seconds", type=float, default=1.0)
    parser.add_argument("--rollout-seconds", type=float, default=1.0)
    # How long a newly registered pod target stays `initial`. An ALB marks a target healthy
    # after HealthyThresholdCount checks HealthCheckIntervalSeconds apart (at least 2 x 5 s),
    # well after the kubelet finds the pod Ready. The sandbox takes AWS's least (2 checks at
    # the shortest interval, 5 s, the rehearsal's own) against a pod Ready in 1 s: that
    # order is what readiness gates exist for.
    parser.add_argument("--target-healthy-seconds", type=float, default=10.0)
    parser.add_argument("--progress-deadline", type=float, default=20.0)
    parser.add_argument("--traffic-interval", type=float, default=1.0)
    return parser.parse_args(argv)


class Sandbox:
    """The running parts. ``start`` returns once every part answers."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.files = SandboxFiles(args.dir.resolve())
        self.spec = _world_spec(args.runbook)
        # Metrics are published in the runbook's (rehearsal) gate period unless a fault says
        # otherwise; the request rate keeps each period's count what production would see.
        self.faults = FaultBoard(
            parse_specs(args.inject, Faults(metric_period=self.spec.metric_period))
        )
        self.stop_requested = threading.Event()
        self.started_at = time.time()
        self._parts: list[Any] = []
        self.charts: ChartRepoProxy | None = None

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
        _list_moto_modules_once()
        _list_response_methods_once()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self._parts.append(self.moto)
        host, port = self.moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        region = self.spec.region
        session = boto3.session.Session(**_session_credentials(), region_name=region)
        self.world = seed_world(session, moto_url, spec=self.spec)
        private_cidrs = _subnet_cidrs(
            session, moto_url, region, self.world.private_subnet_ids.values()
        )
        self.kube = KubeEmulator(
            EmulatorConfig(
                cert_dir=self.files.certs,
                kubernetes_version=args.kubernetes_version,
                pod_cidrs=tuple(private_cidrs),
                rollout_delay=args.rollout_seconds,
                progress_deadline_cap=args.progress_deadline,
                faults=self.faults,
                target_registrar=FrontTargetRegistrar(session, lambda: self.front.url, region),
                load=self._load,
            )
        )
        self.kube.start()
        self._parts.append(self.kube)
        ca = base64.b64encode(self.kube.ca_pem).decode()
        self.front = AwsFront(
            FrontConfig(
                moto_url=moto_url,
                moto_in_process=True,  # moto is this process's: no HTTP hop to it
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
                target_initial=args.target_healthy_seconds,
                addon_hook=self._addon_changed,
            )
        )
        self.front.start()
        self._parts.append(self.front)
        self.traffic = TrafficSimulator(
            session,
            moto_url,
            region,
            self.faults,
            interval=args.traffic_interval,
            requests_per_second=self.spec.requests_per_second,
            host=self.spec.domain_name,
            health_url=self.front.inside_url,
            world_version=self.front.world_version,
        )
        self.traffic.start()
        self._parts.append(self.traffic)
        self.charts = _chart_repository(args.runbook, self.files.certs)
        if self.charts is not None:
            self.charts.start()
            self._parts.append(self.charts)
        self.control = ControlServer(self)
        self.control.start()
        self._parts.append(self.control)
        self.state_bucket = seed_state_bucket(session, moto_url, args.runbook)
        self.moto_url = moto_url
        self._write_files()

    def _load(self, target_group_arn: str) -> float:
        traffic = getattr(self, "traffic", None)
        return traffic.requests_per_second(target_group_arn) if traffic is not None else 0.0

    def _addon_changed(self, cluster: str, addon: str, version: str | None) -> None:
        if version is None:
            self.kube.remove_addon(addon)
        else:
            self.kube.install_addon(addon, version)

    def _write_files(self) -> None:
        files = self.files
        region = self.spec.region
        env = {
            "AWS_ENDPOINT_URL": self.front.url,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "KUBECONFIG": str(files.kubeconfig),
            "FLEXMIGRATE_RUNBOOK": self.args.runbook,
            "FLEXMIGRATE_STATE_DIR": self.args.state_dir,
            # Marks the sandbox for what only it may do (phase 2's `install: manifests`).
            "FLEXMIGRATE_SANDBOX": str(files.root),
            **self._proxy_env(),
        }
        lines = [f"export {k}={_shell_quote(v)}" for k, v in env.items() if v]
        write_atomic(files.env, ("\n".join(lines) + "\n").encode())
        write_atomic(
            files.kubeconfig, _kubeconfig(self.spec, self.kube.url, self.kube.ca_pem, env).encode()
        )
        write_atomic(files.world, json.dumps(self.world.as_dict(), indent=2).encode())
        runtime = {
            "pid": os.getpid(),
            "chart_repository": self.charts.repo.url if self.charts is not None else None,
            "chart_proxy": self.charts.url if self.charts is not None else None,
            "started_at": self.started_at,
            "dir": str(files.root),
            "aws_endpoint": self.front.url,
            "kube_endpoint": self.kube.url,
            "moto": self.moto_url,
            "control": self.control.url,
        }
        write_atomic(files.runtime, json.dumps(runtime, indent=2).encode())

    def _proxy_env(self) -> dict[str, str]:
        """helm reaches the runbook's chart repository through the sandbox's proxy (which
        refuses every other host) and trusts the sandbox's CA beside the system's; the AWS
        front and the emulator, on loopback, are reached directly."""
        if self.charts is None:
            return {}
        from flexmigrate.sandbox.tls import trust_bundle

        proxy = self.charts.url
        scheme = "HTTPS" if self.charts.repo.scheme == "https" else "HTTP"
        return {
            f"{scheme}_PROXY": proxy,
            f"{scheme.lower()}_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "SSL_CERT_FILE": str(trust_bundle(self.files.certs)),
        }

    def status(self) -> dict[str, Any]:
        stats = self.front.stats() if hasattr(self.front, "stats") else {}
        return {
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "aws_endpoint": self.front.url,
            "kube_endpoint": self.kube.url,
            "faults": self.faults.get().as_dict(),
            "kube_api_faults_injected": injected_kube_faults(),
            # aws-drop: connections closed before the service saw the call / after it was done
            "aws_drops_injected": stats.get("dropped", {}),
            "aws_requests": stats,
            "instance_reboots": self.front.reboots(),
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


def _world_spec(runbook: str) -> WorldSpec:
    """The world of ``runbook`` (the shipped Flexdesk runbook's when none is given)."""
    if not runbook:
        return flexdesk_spec()
    path = Path(runbook)
    return spec_from_runbook(read_runbook_file(path), str(path))


def _chart_repository(runbook: str, cert_dir: Path) -> ChartRepoProxy | None:
    """The proxy serving the chart repository the runbook's Helm install names, or None."""
    from flexmigrate.sandbox.chartrepo import ChartRepoProxy, repo_of_runbook

    if runbook:
        data = read_runbook_file(Path(runbook))
    else:
        from flexmigrate.runbook.locate import shipped_runbooks_dir

        data = read_runbook_file(shipped_runbooks_dir() / "flexdesk-production.yaml")
    repo = repo_of_runbook(data)
    return ChartRepoProxy(repo, cert_dir) if repo is not None else None


def _list_moto_modules_once() -> None:
    """moto's server finds a request's backend by listing its own package directory (a listdir
    and an isdir per entry, some two hundred) on every request: a tenth of the daemon's time in
    a rehearsal. The list cannot change while the process runs, so it is read once."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _list_response_methods_once() -> None:
    """moto lists a response class's methods (``inspect.getmembers``) for every call it
    answers, to tell whether it implements the action: a twentieth of the daemon's time in a
    rehearsal. A class's methods cannot change while the process runs, so each is listed once."""
    from moto.core import responses

    namespace = vars(responses)  # call_action looks the function up there
    namespace["method_names_from_class"] = functools.cache(namespace["method_names_from_class"])


def _subnet_cidrs(session: Any, moto_url: str, region: str, subnet_ids: Any) -> list[str]:
    ec2 = session.client("ec2", endpoint_url=moto_url, region_name=region)
    subnets = ec2.describe_subnets(SubnetIds=sorted(subnet_ids))["Subnets"]
    return [s["CidrBlock"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])]


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _kubeconfig(spec: WorldSpec, server: str, ca_pem: bytes, env: dict[str, str]) -> str:
    """A kubeconfig that reaches the emulator the EKS way: an exec entry that makes a fresh
    token with flexmigrate itself (no AWS CLI needed), with the sandbox's AWS settings."""
    from flexmigrate.clients.eks_token import exec_user, kubeconfig

    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    cluster = spec.cluster_name
    user = exec_user(cluster, spec.region, env={k: env[k] for k in keys})
    ca = base64.b64encode(ca_pem).decode()
    document = kubeconfig(cluster, server, ca, user, context=f"sandbox-{cluster}")
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


def _share_botocore_models() -> None:
    """One botocore loader for every botocore session in this process.

    botocore reads its JSON models once per session, and this process makes many: moto makes
    three to list EC2's regions and one per backend it creates, besides the world's seeding
    and the front's own clients. EC2's model alone (1 MB) was read six times at each start,
    a second of the daemon's three. A loader caches what it read, and the files cannot
    change while the process runs; boto3 adds its own data directory to the loader of each
    session it makes, which the shared one keeps once.
    """
    import botocore.loaders
    import botocore.session

    class _Once(list[str]):
        def append(self, path: str) -> None:
            if path not in self:
                super().append(path)

        def extend(self, paths: Iterable[str]) -> None:
            for path in paths:
                self.append(path)

    shared = botocore.loaders.Loader(extra_search_paths=_Once())
    original = botocore.loaders.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        return shared if search_path_string is None else original(search_path_string)

    vars(botocore.session)["create_loader"] = create_loader


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
    sandbox = Sandbox(args)
    # moto answers every request as this account (it reads the variable per request).
    os.environ["MOTO_ACCOUNT_ID"] = sandbox.spec.account_id
    _share_botocore_models()
    _offer_managed_policies()
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
