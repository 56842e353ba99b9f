"""The kustomize tree ``flexmigrate init`` writes beside the runbook: ``base/`` and
``overlays/production/`` for the service the load balancer reaches.

Each production default is written with the reason for it, as a comment, so the team can
judge it; what neither AWS nor the Compose file says (the image, when the service is built on
the instance) is a placeholder the runbook's ``app.image`` replaces at deploy time. No
environment value is ever written: the Deployment reads each key from the Secret the
app-deploy phase builds from AWS.
"""

from __future__ import annotations

from flexmigrate.commands.init.compose import ComposeService
from flexmigrate.commands.init.deployment import deployment
from flexmigrate.commands.init.shape import READINESS_GATE_LABEL, AppShape
from flexmigrate.commands.init.shape import quoted as _q


def manifest_files(shape: AppShape, compose: ComposeService | None) -> dict[str, str]:
    """Relative path (under ``k8s/``) → file text."""
    return {
        "base/kustomization.yaml": _base_kustomization(shape),
        "base/namespace.yaml": _namespace(shape),
        "base/serviceaccount.yaml": _service_account(shape),
        "base/deployment.yaml": deployment(shape, compose),
        "base/service.yaml": _service(shape),
        "base/pdb.yaml": _pdb(shape),
        "base/hpa.yaml": _hpa(shape),
        "overlays/production/kustomization.yaml": _production(shape),
    }


def _base_kustomization(shape: AppShape) -> str:
    return f"""\
# Base of {shape.deployment}, written by `flexmigrate init`; overlays/production sets the
# image tag, the environment label and the scaling bounds.
#
# No Secret is listed, on purpose: {shape.secret} is built at deploy time from AWS (the
# runbook's app.secret), so no secret value is ever in git.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {shape.namespace}
resources:
  - namespace.yaml
  - serviceaccount.yaml
  - service.yaml
  - deployment.yaml
  - hpa.yaml
  - pdb.yaml
"""


def _namespace(shape: AppShape) -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {shape.namespace}
  labels:
    name: {shape.namespace}
    # The AWS Load Balancer Controller's pod webhook adds a target-health readiness gate to
    # the pods of namespaces with this label: a new pod counts as Ready only once the ALB has
    # registered it and found it healthy, so a rollout never stops an old pod before its
    # replacement takes requests. Without it, rollouts under traffic drop requests.
    {READINESS_GATE_LABEL}: enabled
"""


def _service_account(shape: AppShape) -> str:
    return f"""\
# An identity of its own instead of the namespace's default one, so an IAM role (IRSA) can be
# attached later without touching other workloads. The app does not call the Kubernetes API,
# so no API token is mounted.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {shape.deployment}
  labels:
    app: {shape.deployment}
automountServiceAccountToken: false
"""


def _service(shape: AppShape) -> str:
    return f"""\
# The TargetGroupBinding the migration creates points at this Service and port; the ALB then
# sends traffic straight to pod IPs on the container port (targetPort http = {shape.port}).
apiVersion: v1
kind: Service
metadata:
  name: {shape.service}
  labels:
    app: {shape.deployment}
spec:
  type: ClusterIP
  selector:
    app: {shape.deployment}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
"""


def _pdb(shape: AppShape) -> str:
    return f"""\
# Keeps {shape.min_available} pods serving while nodes are drained (node group upgrades, zone
# rebalancing): the migration's target group needs that many healthy targets. It must stay
# below the HPA's minReplicas, or a drain waits forever.
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {shape.pdb}
  labels:
    app: {shape.deployment}
spec:
  minAvailable: {shape.min_available}
  selector:
    matchLabels:
      app: {shape.deployment}
"""


def _hpa(shape: AppShape) -> str:
    return f"""\
# The HPA is the only owner of the replica count (the Deployment sets no spec.replicas, which
# would reset a scaled-out Deployment on every deploy). It scales on CPU against the
# Deployment's requests, read from the Metrics API: install metrics-server on the cluster, or
# it stays at minReplicas. Memory is left out: most runtimes never give memory back, so a
# memory target only ever scales out.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {shape.hpa}
  labels:
    app: {shape.deployment}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {shape.deployment}
  minReplicas: {shape.min_replicas}
  maxReplicas: {shape.max_replicas}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
"""


def _image_parts(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _production(shape: AppShape) -> str:
    images = "# images: the runbook's app.image is set on the Deployment at deploy time.\n"
    if shape.image:
        name, tag, digest = _image_parts(shape.image)
        pin = f"    digest: {_q(digest)}\n" if digest else ""
        pin += f"    newTag: {_q(tag)}\n" if tag and not digest else ""
        images = (
            "images:\n"
            "  # A release tag or a digest, never :latest; the runbook's app.image overrides it.\n"
            f"  - name: {_q(name)}\n{pin}"
        )
    return f"""\
# Production: {shape.min_replicas} pods at rest (room to lose one and still have the
# {shape.min_available} healthy targets the migration asks for), up to {shape.max_replicas}.
# The bounds are restated here rather than inherited, so a change to the base cannot silently
# change production.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
{images}labels:
  # Not added to selectors: a Deployment's selector cannot change once created.
  - pairs:
      environment: production
    includeSelectors: false
    includeTemplates: true
patches:
  - target:
      kind: HorizontalPodAutoscaler
      name: {shape.hpa}
    patch: |-
      - op: replace
        path: /spec/minReplicas
        value: {shape.min_replicas}
      - op: replace
        path: /spec/maxReplicas
        value: {shape.max_replicas}
  - target:
      kind: PodDisruptionBudget
      name: {shape.pdb}
    patch: |-
      - op: replace
        path: /spec/minAvailable
        value: {shape.min_available}
"""
