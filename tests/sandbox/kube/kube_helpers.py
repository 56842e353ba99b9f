"""Helpers for the emulator tests: kubeconfigs, CLI runners, API clients and polling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from kubernetes import client

from flexmigrate.clients import eks_token
from flexmigrate.clients.eks_token import get_token
from flexmigrate.sandbox.kube import EmulatorConfig, KubeEmulator

CLUSTER = "flexdesk-cluster"
REGION = "af-south-1"
HERE = Path(__file__).parent
MANIFESTS = HERE / "manifests"
CHARTS = HERE / "charts"
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"
HELM = BIN / "helm"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def make_token() -> str:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return get_token(session, CLUSTER)


def fast_config(cert_dir: Path, **overrides: Any) -> EmulatorConfig:
    settings: dict[str, Any] = {
        "cert_dir": cert_dir,
        "rollout_delay": 0.05,
        "namespace_finalize_delay": 0.2,
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


def write_kubeconfig(path: Path, emulator: KubeEmulator, user: dict[str, Any]) -> Path:
    ca_file = emulator.config.cert_dir / "ca.pem"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER,
                "cluster": {"server": emulator.url, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": "operator", "user": user}],
        "contexts": [{"name": "sandbox", "context": {"cluster": CLUSTER, "user": "operator"}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def exec_user() -> dict[str, Any]:
    """The kubeconfig user the real sandbox writes: an exec plugin minting EKS tokens."""
    return eks_token.exec_user(CLUSTER, REGION, env=dict(AWS_ENV))


@dataclass
class Cli:
    """Runs kubectl or helm against one kubeconfig, with a private HOME and cache."""

    kubeconfig: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, binary: Path, args: Sequence[str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.home / "kube-cache"),
            "HELM_CACHE_HOME": str(self.home / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.home / "helm-config"),
            "HELM_DATA_HOME": str(self.home / "helm-data"),
            **self.env,
        }
        return subprocess.run(
            [str(binary), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run(KUBECTL, args, timeout)

    def helm(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run(HELM, args, timeout)


def make_cli(tmp: Path, emulator: KubeEmulator, user: dict[str, Any]) -> Cli:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    return Cli(write_kubeconfig(tmp / "kubeconfig", emulator, user), home)


def api_client(emulator: KubeEmulator, bearer: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = emulator.url
    configuration.ssl_ca_cert = str(emulator.config.cert_dir / "ca.pem")
    configuration.api_key = {"authorization": f"Bearer {bearer}"}
    return client.ApiClient(configuration)


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
