"""The clients of one command, built once and passed in: AWS, Kubernetes (lazily, the
production way unless the runbook names a kube context) and external tools."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flexmigrate.clients.aws import AwsClients, AwsSettings, CallListener
from flexmigrate.clients.kube import KubeApi, api_client_for_context, api_client_for_eks
from flexmigrate.clients.tools import ToolRunner
from flexmigrate.host import MODE

if TYPE_CHECKING:
    from flexmigrate.runbook.model import Runbook


class Clients:
    def __init__(
        self,
        runbook: Runbook,
        *,
        cluster: str | None = None,
        read_only: bool = False,
        listener: CallListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.runbook = runbook
        self.cluster = cluster  # the EKS cluster Kubernetes is reached through, if any
        self.read_only = read_only
        self.aws = AwsClients(
            AwsSettings(
                region=runbook.aws.region,
                profile=runbook.aws.profile,
                max_attempts=runbook.aws.max_attempts,
                account_id=runbook.aws.account_id,
            ),
            read_only=read_only,
            listener=listener,
        )
        self.tools = ToolRunner(read_only=read_only)
        self._listener = listener
        self._sleep = sleep
        self._kube: KubeApi | None = None

    def kube(self) -> KubeApi:
        if self._kube is None:
            k8s = self.runbook.kubernetes
            if k8s.context:
                api_client = api_client_for_context(k8s.kubeconfig, k8s.context)
            else:
                endpoint, ca = self.cluster_endpoint()
                name = self._cluster_name()
                from flexmigrate.clients.eks_token import get_token

                api_client = api_client_for_eks(
                    endpoint, ca, lambda: get_token(self.aws.session, name)
                )
            self._kube = KubeApi(
                api_client, read_only=self.read_only, listener=self._listener, sleep=self._sleep
            )
        return self._kube

    def _cluster_name(self) -> str:
        if self.cluster is None:
            from flexmigrate.errors import InvalidInput

            raise InvalidInput(
                "no phase of this runbook creates an EKS cluster; name a kubeconfig context "
                "in the runbook's kubernetes.context"
            )
        return self.cluster

    def cluster_endpoint(self) -> tuple[str, str]:
        name = self._cluster_name()
        cluster = self.aws.client("eks").describe_cluster(name=name)["cluster"]
        return str(cluster["endpoint"]), str(cluster["certificateAuthority"]["data"])

    def write_kubeconfig(self, directory: Path) -> Path:
        """A kubeconfig for helm: the cluster's endpoint and CA, and an exec entry that makes a
        fresh EKS token when asked — no token is written to disk."""
        k8s = self.runbook.kubernetes
        path = directory / "kubeconfig"
        if k8s.context:
            source = Path(k8s.kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config"))
            path.write_bytes(source.expanduser().read_bytes())
            return path
        from flexmigrate.clients.eks_token import exec_user, kubeconfig

        endpoint, ca = self.cluster_endpoint()
        name = self._cluster_name()
        user = exec_user(name, self.runbook.aws.region, profile=self.runbook.aws.profile)
        document = kubeconfig(name, endpoint, ca, user)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
        return path

    def call_counts(self) -> dict[str, int]:
        counts = {"aws": sum(self.aws.calls.values()), "tools": self.tools.calls}
        counts["kubernetes"] = sum(self._kube.calls.values()) if self._kube else 0
        return counts

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()
