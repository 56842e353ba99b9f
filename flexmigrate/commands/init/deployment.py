"""The Deployment ``flexmigrate init`` writes: from the Compose service when there is one,
else from what AWS told (port, health path), with each production default explained."""

from __future__ import annotations

import math

from flexmigrate.commands.init.compose import ComposeService, Healthcheck
from flexmigrate.commands.init.shape import IMAGE_TO_FILL, AppShape
from flexmigrate.commands.init.shape import quoted as _q


def deployment(shape: AppShape, compose: ComposeService | None) -> str:
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
