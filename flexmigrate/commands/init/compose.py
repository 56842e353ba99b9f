"""The Compose service the load balancer reaches, read from the instance's docker-compose.yml.

Only what a Deployment needs is taken: the image, the command, the container port behind the
published one the target group sends to, the environment's key names, the healthcheck and
the resource limits. Environment values are never kept: a Compose file often holds secrets
inline, and they must not reach the runbook, the manifests or the terminal. Only the names
of the keys go on, to be read from a Secret the app-deploy phase builds from AWS.

Reference: the Compose Specification (compose-spec.io), services.ports (short and long
syntax), environment (map or list), env_file, healthcheck, entrypoint/command and
deploy.resources.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flexmigrate.errors import InvalidInput

_SHORT_PORT = re.compile(
    r"^(?:(?P<ip>\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(?P<published>[0-9]+(?:-[0-9]+)?):)?"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<protocol>tcp|udp))?$"
)
_DURATION_PART = re.compile(r"([0-9.]+)(us|ms|s|m|h)")
_HTTP_CHECK = re.compile(
    r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(?P<port>[0-9]+))?"
    r"(?P<path>/[^\s'\"|;&]*)?"
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Healthcheck:
    http_path: str | None  # an HTTP check on the container's own port
    http_port: int | None
    command: tuple[str, ...]  # otherwise, the command to exec
    interval: int
    timeout: int
    retries: int
    start_period: int


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str | None
    container_port: int
    published_port: int
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...] | None
    env_keys: tuple[str, ...]
    healthcheck: Healthcheck | None
    cpu_limit: str | None
    memory_limit: str | None
    cpu_request: str | None
    memory_request: str | None
    notes: list[str] = field(default_factory=list)


def read_compose(path: Path, target_port: int) -> ComposeService:
    """The service of ``path`` whose published port is ``target_port`` (the EC2 target
    group's port). Exit 2 with the file named when there is none."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the Compose file ({exc.strerror})") from None
    except YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not services:
        raise InvalidInput(f"{path}: no `services:` mapping (is it a Compose file?)")
    found = []
    listing = []
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        ports = _ports(service)
        listing.append(f"{name} ({', '.join(f'{p}:{t}' for p, t in ports) or 'no ports'})")
        for published, target in ports:
            if published == target_port:
                found.append((str(name), service, target))
        if service.get("network_mode") == "host" and not ports:
            found.append((str(name), service, target_port))
    if len(found) != 1:
        what = "no service" if not found else f"{len(found)} services"
        raise InvalidInput(
            f"{path}: {what} publish port {target_port}, the port the load balancer's target "
            f"group sends to; services: {'; '.join(listing) or 'none'}",
            hint="give the Compose file the instance runs (the one behind the target group)",
        )
    name, service, container_port = found[0]
    return _service(path, name, service, container_port, target_port)


def _service(
    path: Path, name: str, service: dict[str, Any], container_port: int, published: int
) -> ComposeService:
    notes: list[str] = []
    image = service.get("image")
    if not image and service.get("build"):
        notes.append(
            f"service {name} is built on the instance (build:), so its image is not in any "
            "registry the cluster can pull from: push it and set app.image"
        )
    limits = _resources(service, "limits")
    requests = _resources(service, "reservations")
    return ComposeService(
        name=name,
        image=str(image) if image else None,
        container_port=container_port,
        published_port=published,
        entrypoint=_argv(service.get("entrypoint")),
        command=_argv(service.get("command")),
        env_keys=_env_keys(path, service, notes),
        healthcheck=_healthcheck(service.get("healthcheck"), container_port),
        cpu_limit=limits.get("cpus"),
        memory_limit=limits.get("memory"),
        cpu_request=requests.get("cpus"),
        memory_request=requests.get("memory"),
        notes=notes,
    )


def _ports(service: dict[str, Any]) -> list[tuple[int | None, int]]:
    """(published, target) of each TCP port; published None when Docker picks one."""
    found: list[tuple[int | None, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if str(entry.get("protocol", "tcp")) != "tcp" or "target" not in entry:
                continue
            published = entry.get("published")
            first = str(published).split("-", 1)[0] if published not in (None, "") else None
            found.append((int(first) if first else None, int(entry["target"])))
            continue
        match = _SHORT_PORT.match(str(entry).strip())
        if match is None or (match["protocol"] or "tcp") != "tcp":
            continue
        target = int(match["target"].split("-", 1)[0])
        published_text = match["published"]
        found.append((int(published_text.split("-", 1)[0]) if published_text else None, target))
    return found


def _argv(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(shlex.split(str(value)))


def _env_keys(path: Path, service: dict[str, Any], notes: list[str]) -> tuple[str, ...]:
    """Key names only, from ``environment`` and the ``env_file`` files; values are dropped
    here, before anything else sees them."""
    keys: list[str] = []
    environment = service.get("environment")
    if isinstance(environment, dict):
        keys += [str(k) for k in environment]
    elif isinstance(environment, list):
        keys += [str(item).split("=", 1)[0] for item in environment]
    env_files = service.get("env_file")
    if isinstance(env_files, str | dict):
        env_files = [env_files]
    for entry in env_files or []:
        relative = entry.get("path") if isinstance(entry, dict) else entry
        env_path = path.parent / str(relative)
        try:
            lines = env_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            notes.append(
                f"env_file {relative} is not beside the Compose file: add the keys it holds "
                "to app.secret.keys and the Deployment's env"
            )
            continue
        for line in lines:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                keys.append(stripped.removeprefix("export ").split("=", 1)[0].strip())
    return tuple(dict.fromkeys(k for k in keys if _KEY.match(k)))


def _seconds(value: Any, default: int) -> int:
    if value is None:
        return default
    total = 0.0
    for amount, unit in _DURATION_PART.findall(str(value)):
        total += float(amount) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return max(1, round(total)) if total else default


def _healthcheck(value: Any, container_port: int) -> Healthcheck | None:
    if not isinstance(value, dict) or value.get("disable"):
        return None
    test = value.get("test")
    if isinstance(test, str):
        argv: tuple[str, ...] = ("CMD-SHELL", test)
    elif isinstance(test, list) and test:
        argv = tuple(str(t) for t in test)
    else:
        return None
    if argv[0] == "NONE":
        return None
    text = " ".join(argv[1:])
    match = _HTTP_CHECK.search(text)
    if argv[0] == "CMD-SHELL":
        command: tuple[str, ...] = ("/bin/sh", "-c", " ".join(argv[1:]))
    else:
        command = argv[1:] if argv[0] == "CMD" else argv
    port = int(match["port"]) if match and match["port"] else 80
    return Healthcheck(
        http_path=(match["path"] or "/") if match and port == container_port else None,
        http_port=port if match else None,
        command=command,
        interval=_seconds(value.get("interval"), 30),
        timeout=_seconds(value.get("timeout"), 30),
        retries=int(value.get("retries") or 3),
        start_period=_seconds(value.get("start_period"), 0),
    )


def _resources(service: dict[str, Any], which: str) -> dict[str, str]:
    resources = ((service.get("deploy") or {}).get("resources") or {}).get(which) or {}
    found: dict[str, str] = {}
    if resources.get("cpus") not in (None, ""):
        found["cpus"] = _cpu(resources["cpus"])
    if resources.get("memory") not in (None, ""):
        found["memory"] = _memory(resources["memory"])
    # The pre-Swarm keys (Compose file format 2) some files still use.
    if which == "limits":
        if "cpus" not in found and service.get("cpus") not in (None, ""):
            found["cpus"] = _cpu(service["cpus"])
        if "memory" not in found and service.get("mem_limit") not in (None, ""):
            found["memory"] = _memory(service["mem_limit"])
    elif "memory" not in found and service.get("mem_reservation") not in (None, ""):
        found["memory"] = _memory(service["mem_reservation"])
    return found


def _cpu(value: Any) -> str:
    millis = round(float(value) * 1000)
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def _memory(value: Any) -> str:
    """Compose byte values (``512m``, ``1g``, ``1.5gb``; binary multiples) as Kubernetes
    quantities (``512Mi``, ``1Gi``)."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    for suffix, size in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if number >= size and number % size == 0:
            return f"{int(number // size)}{suffix}"
    return str(int(number))
