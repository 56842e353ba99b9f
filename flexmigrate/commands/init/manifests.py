"""The kustomize tree ``flexmigrate init`` writes beside the runbook: ``base/`` and
``overlays/production/`` for the service the load balancer reaches.

Each production default is written with the reason for it, as a comment, so the team can
judge it; what neither AWS nor the Compose file says (the image, when the service is built on
the instance) is a placeholder the runbook's ``app.image`` replaces at deploy time. No
environment value is ever written: the Deployment reads each key from the Secret the
app-deploy phase builds from AWS.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from flexmigrate.commands.init.compose import ComposeService, Healthcheck
from flexmigrate.runbook.placeholders import placeholder

READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
IMAGE_TO_FILL = "the container image the app runs, pinned by tag or digest (registry/name:tag)"


@dataclass(frozen=True)
class AppShape:
    """Names and numbers the manifests and the runbook share."""

    namespace: str
    deployment: str
    service: str
    secret: str
    port: int
    health_path: str
    image: str | None
    min_replicas: int = 3
    max_replicas: int = 10
    min_available: int = 2
    grace_seconds: int = 60
    prestop_seconds: int = 20

    @property
    def pdb(self) -> str:
        return f"{self.deployment}-pdb"

    @property
    def hpa(self) -> str:
        return f"{self.deployment}-hpa"

    @property
    def image_or_placeholder(self) -> str:
        return self.image or placeholder(IMAGE_TO_FILL)


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value)


def manifest_files(shape: AppShape, compose: ComposeService | None) -> dict[str, str]:
    """Relative path (under ``k8s/``) → file text."""
    return {
        "base/kustomization.yaml": _base_kustomization(shape),
        "base/namespace.yaml": _namespace(shape),
        "base/serviceaccount.yaml": _service_account(shape),
        "base/deployment.yaml": _deployment(shape, compose),
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


def _deployment(shape: AppShape, compose: ComposeService | None) -> str:
    source = (
        f"the Compose service {compose.name!r}" if compose else "what AWS reports (port, health)"
    )
    image_note = (
        ""
        if shape.image
        else "          # fill in: " + IMAGE_TO_FILL + " (the runbook's app.image replaces "
        "this at deploy time)\n"
    )
    return f"""\
# {shape.deployment}, from {source}, written by `flexmigrate init`.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {shape.deployment}
  labels:
    app: {shape.deployment}
spec:
  # No spec.replicas: the HPA (hpa.yaml) owns the count.
  revisionHistoryLimit: 10
  # A rollout that makes no progress for 10 minutes is reported as failed
  # (Progressing=False, ProgressDeadlineExceeded) instead of hanging.
  progressDeadlineSeconds: 600
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # Never below the current ready count: a new pod must be Ready (and, through the
      # namespace's readiness-gate label, healthy behind the ALB) before an old one stops.
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      app: {shape.deployment}
  template:
    metadata:
      labels:
        app: {shape.deployment}
    spec:
      serviceAccountName: {shape.deployment}
      automountServiceAccountToken: false
      # When a pod stops, the controller deregisters it and the ALB keeps sending it requests
      # for some seconds; the preStop sleep keeps the app serving through that window, and the
      # grace period covers the sleep plus the app's own shutdown of in-flight requests.
      terminationGracePeriodSeconds: {shape.grace_seconds}
      securityContext:
        seccompProfile:
          type: RuntimeDefault
      topologySpreadConstraints:
        # Spread over the zones, so losing one leaves pods serving; count only pods of the
        # same revision, so a rollout's surge pod is not held back by the ones it replaces.
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: DoNotSchedule
          labelSelector:
            matchLabels:
              app: {shape.deployment}
          matchLabelKeys:
            - pod-template-hash
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app: {shape.deployment}
          matchLabelKeys:
            - pod-template-hash
      containers:
        - name: {shape.deployment}
{image_note}          image: {_q(shape.image_or_placeholder)}
          imagePullPolicy: IfNotPresent
{_argv(compose)}          ports:
            - name: http
              containerPort: {shape.port}
              protocol: TCP
{_env(shape, compose)}{_resources(compose)}{_probes(shape, compose)}          lifecycle:
            preStop:
              # The sleep action needs no shell or sleep binary in the image (Kubernetes 1.30+).
              sleep:
                seconds: {shape.prestop_seconds}
          securityContext:
            allowPrivilegeEscalation: false
            # Tighten once the image is known to allow it: runAsNonRoot: true,
            # readOnlyRootFilesystem: true (with an emptyDir for what it writes),
            # capabilities: {{drop: [ALL]}}.
"""


def _argv(compose: ComposeService | None) -> str:
    lines = ""
    if compose and compose.entrypoint:
        lines += "          # Compose's entrypoint.\n          command:\n"
        lines += "".join(f"            - {_q(a)}\n" for a in compose.entrypoint)
    if compose and compose.command:
        lines += "          # Compose's command (Kubernetes calls it args).\n          args:\n"
        lines += "".join(f"            - {_q(a)}\n" for a in compose.command)
    return lines


def _env(shape: AppShape, compose: ComposeService | None) -> str:
    if compose is None:
        return (
            "          # fill in: the environment the app reads. Read secret values from the\n"
            f"          # Secret {shape.secret} (env: - name: KEY, valueFrom: secretKeyRef:\n"
            f"          # {{name: {shape.secret}, key: KEY}}) and list each KEY in the\n"
            "          # runbook's app.secret.keys; never write a value here.\n"
        )
    if not compose.env_keys:
        return ""
    text = (
        "          # Every key of the Compose environment, read from the Secret the migration\n"
        "          # builds from AWS (app.secret); no value is written here. Move the ones that\n"
        "          # are not secret to a ConfigMap if you like.\n"
        "          env:\n"
    )
    for key in compose.env_keys:
        text += (
            f"            - name: {_q(key)}\n"
            "              valueFrom:\n"
            "                secretKeyRef:\n"
            f"                  name: {shape.secret}\n"
            f"                  key: {_q(key)}\n"
        )
    return text


def _resources(compose: ComposeService | None) -> str:
    cpu_request = (compose.cpu_request or compose.cpu_limit) if compose else None
    memory_request = (compose.memory_request or compose.memory_limit) if compose else None
    memory_limit = compose.memory_limit if compose else None
    from_compose = bool(compose and (compose.cpu_limit or compose.memory_limit))
    why = (
        "These are the Compose service's deploy.resources."
        if from_compose
        else "Defaults: adjust to what the app uses (`docker stats` on the instance)."
    )
    limits = f"              memory: {_q(memory_limit or '1Gi')}\n"
    if compose and compose.cpu_limit:
        limits += f"              cpu: {_q(compose.cpu_limit)}\n"
    return f"""\
          # Requests are what the scheduler reserves and what the HPA's CPU target is a share
          # of; the memory limit stops a leak from taking the node. No CPU limit unless Compose
          # set one: a CPU limit throttles a busy pod even on an idle node.
          # {why}
          resources:
            requests:
              cpu: {_q(cpu_request or "250m")}
              memory: {_q(memory_request or "512Mi")}
            limits:
{limits}"""


def _probe_action(shape: AppShape, check: Healthcheck | None, indent: str) -> str:
    if check is not None and check.http_path is None:
        return f"{indent}exec:\n{indent}  command:\n" + "".join(
            f"{indent}    - {_q(a)}\n" for a in check.command
        )
    path = check.http_path if check is not None and check.http_path else shape.health_path
    return f"{indent}httpGet:\n{indent}  path: {_q(path)}\n{indent}  port: http\n"


def _probes(shape: AppShape, compose: ComposeService | None) -> str:
    check = compose.healthcheck if compose else None
    if check is not None:
        why = "from the Compose healthcheck"
        period = min(max(check.interval, 5), 30)
        timeout = min(max(check.timeout, 1), period)
        retries = max(check.retries, 1)
        startup_budget = max(check.start_period, 60)
    else:
        why = f"on the target group's health check path {shape.health_path}"
        period, timeout, retries, startup_budget = 10, 5, 3, 60
    indent = "            "
    action = _probe_action(shape, check, indent)
    startup_failures = math.ceil(startup_budget / 5)
    return f"""\
          # Probes {why}.
          # startupProbe: up to {startup_budget}s to start before the others run.
          # readinessProbe: out of the Service (and the ALB) while it fails.
          # livenessProbe: restarted after {retries} failures in a row, {period}s apart.
          startupProbe:
{action}            periodSeconds: 5
            timeoutSeconds: {min(timeout, 5)}
            failureThreshold: {startup_failures}
          readinessProbe:
{action}            periodSeconds: 5
            timeoutSeconds: {min(timeout, 5)}
            failureThreshold: 2
          livenessProbe:
{action}            periodSeconds: {period}
            timeoutSeconds: {timeout}
            failureThreshold: {retries}
"""
