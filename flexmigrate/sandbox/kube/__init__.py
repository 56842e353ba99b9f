"""A Kubernetes API server emulator: the rehearsal sandbox's EKS cluster.

It serves the REST API over HTTPS to kubectl, helm and the official Python client, with
discovery, OpenAPI, server-side apply, watches and tables, and runs the controllers a real
EKS cluster would (deployments, replica sets, pods with VPC addresses, endpoints, HPA
bounds, garbage collection, namespace termination, TargetGroupBinding registration).
"""

from flexmigrate.sandbox.kube.config import EmulatorConfig, TargetRegistrar
from flexmigrate.sandbox.kube.server import KubeEmulator

__all__ = ["EmulatorConfig", "KubeEmulator", "TargetRegistrar"]
