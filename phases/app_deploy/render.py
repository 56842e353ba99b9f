"""Rendering the app's manifests: the real ``kubectl kustomize`` on the runbook's overlay
(and ``monitoring/`` when asked for), then the runbook's image on the Deployment's container.

The rendered objects keep the file they came from (found by walking the kustomization graph),
so every validation error names a file an operator can open. Rendering is pure apart from
running kustomize, which dry-run allows, so checks, plans and steps all render the same way.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexmigrate.errors import CloudError, StepFailed
from phases.app_deploy.netpol import fill_vpc_cidrs
from phases.shared.overlay import kubectl, overlay_path

if TYPE_CHECKING:
    from phases.shared.sections import AppSection, StepContext

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Dependency order of the apply: what a later object refers to exists first.
APPLY_ORDER = (
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ServiceMonitor",
)


@dataclass
class Manifest:
    """One rendered object and the file that defines it."""

    obj: dict[str, Any]
    source: str
    optional: bool = False  # applied only when its CRD is served (monitoring/)

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = (self.obj.get("metadata") or {}).get("namespace")
        return str(ns) if ns else None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Rendered:
    manifests: list[Manifest]
    overlay: Path
    notes: list[str] = field(default_factory=list)

    def find(self, kind: str, name: str | None = None) -> Manifest | None:
        return next(
            (m for m in self.manifests if m.kind == kind and (name is None or m.name == name)),
            None,
        )

    def ordered(self) -> list[Manifest]:
        def rank(manifest: Manifest) -> int:
            kind = manifest.kind
            return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)

        return sorted(self.manifests, key=rank)


def show_path(path: Path) -> str:
    relative = os.path.relpath(path, Path.cwd())
    return str(path) if relative.startswith("..") else relative


def manifests_root(app: AppSection, ctx: StepContext) -> Path:
    return ctx.runbook.resolve_path(app.manifests)


def overlay_dir(app: AppSection, ctx: StepContext) -> Path:
    return overlay_path(manifests_root(app, ctx), app.overlay)


# Renders of this process, keyed by what they depend on (runbook settings and the files'
# sizes and times): a command renders once however many checks and steps ask.
_RENDERS: dict[tuple[object, ...], Rendered] = {}


def render(ctx: StepContext) -> Rendered:
    """The overlay rendered, the runbook's image set, sources attached. Raises StepFailed
    with the file to look at when kustomize cannot build it."""
    app = ctx.runbook.app
    root = manifests_root(app, ctx)
    key = (
        str(root),
        app.overlay,
        app.monitoring,
        app.image,
        app.deployment,
        app.container,
        _fingerprint(root),
    )
    if key not in _RENDERS:
        _RENDERS.clear()
        _RENDERS[key] = _render(ctx)
    return copy.deepcopy(_RENDERS[key])


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    if not root.is_dir():
        return ()
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = path.stat()
            found.append((str(path), info.st_size, info.st_mtime_ns))
    return tuple(found)


def _render(ctx: StepContext) -> Rendered:
    app = ctx.runbook.app
    root = manifests_root(app, ctx)
    overlay = overlay_dir(app, ctx)
    if not root.is_dir():
        raise StepFailed(
            f"app.manifests {show_path(root)} is not a directory",
            hint="point app.manifests at the kustomize root (the directory holding base/ and "
            "overlays/)",
        )
    if not overlay.is_dir():
        known = sorted(p.name for p in (root / "overlays").glob("*") if p.is_dir())
        raise StepFailed(
            f"overlay {app.overlay!r} not found: {show_path(overlay)} is not a directory",
            hint=f"overlays under {show_path(root / 'overlays')}: {', '.join(known) or 'none'}",
        )
    manifests = _build(ctx, overlay, optional=False)
    monitoring = root / "monitoring"
    if app.monitoring and monitoring.is_dir():
        manifests += _build(ctx, monitoring, optional=True)
    rendered = Rendered(manifests, overlay)
    _set_image(rendered, app)
    _drop_replicas_owned_by_hpa(rendered)
    fill_vpc_cidrs(rendered, ctx)
    return rendered


def _build(ctx: StepContext, directory: Path, *, optional: bool) -> list[Manifest]:
    problems = kustomization_problems(directory)
    if problems:
        raise StepFailed("; ".join(problems), hint="fix the kustomization named above")
    try:
        result = ctx.tools.run([kubectl(), "kustomize", str(directory)], timeout=120)
    except CloudError as exc:
        raise StepFailed(
            f"rendering {show_path(directory)} failed: {exc}",
            hint=f"run `kubectl kustomize {show_path(directory)}` to see the error",
        ) from exc
    sources = source_index(directory)
    manifests = []
    for obj in _documents(result.stdout):
        if not isinstance(obj, dict):
            raise StepFailed(f"{show_path(directory)} rendered a document that is not a mapping")
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        key = (str(obj.get("kind", "")), str((meta or {}).get("name", "")))
        source = sources.get(key, f"{show_path(directory)} (generated by kustomize)")
        manifests.append(Manifest(obj, source, optional))
    return manifests


def _documents(text: str) -> Iterator[Any]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    for document in yaml.load_all(text):
        if document is not None:
            yield document


def _load_yaml(path: Path) -> list[Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise StepFailed(f"{show_path(path)} cannot be read: {exc}") from exc
    try:
        return list(_documents(text))
    except Exception as exc:  # ruamel's YAMLError, imported lazily
        raise StepFailed(f"{show_path(path)} is not valid YAML: {exc}") from exc


def _kustomization_file(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


_KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "components",
    "crds",
    "generators",
    "transformers",
    "validators",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "images",
    "replicas",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "vars",
    "replacements",
    "buildMetadata",
    "openapi",
    "helmCharts",
    "helmGlobals",
    "sortOptions",
    "configurations",
}


def kustomization_problems(directory: Path) -> list[str]:
    """What kustomize would reject or what must not be deployed, per kustomization file:
    unknown fields (kustomize does not say which file), missing resources, and Secrets
    generated from files (secret values do not belong in git)."""
    from difflib import get_close_matches

    problems: list[str] = []
    for path, doc in _kustomizations(directory):
        if not isinstance(doc, dict):
            problems.append(f"{show_path(path)}: not a kustomization (a mapping is expected)")
            continue
        for key in doc:
            if key not in _KUSTOMIZATION_FIELDS:
                close = get_close_matches(str(key), sorted(_KUSTOMIZATION_FIELDS), n=1)
                maybe = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{show_path(path)}: unknown field {key!r}{maybe}")
        for entry in doc.get("resources") or []:
            target = path.parent / str(entry)
            if "://" not in str(entry) and not target.exists():
                problems.append(f"{show_path(path)}: resource {entry!r} does not exist")
        if doc.get("secretGenerator"):
            problems.append(
                f"{show_path(path)}: secretGenerator puts secret values in git; the Secret "
                "is built from AWS at deploy time (app.secret in the runbook)"
            )
    return problems


def _kustomizations(directory: Path, seen: set[Path] | None = None) -> Iterator[tuple[Path, Any]]:
    seen = seen if seen is not None else set()
    directory = directory.resolve()
    if directory in seen:
        return
    seen.add(directory)
    path = _kustomization_file(directory)
    if path is None:
        return
    docs = _load_yaml(path)
    doc = docs[0] if docs else {}
    yield path, doc
    if not isinstance(doc, dict):
        return
    for entry in [*(doc.get("resources") or []), *(doc.get("components") or [])]:
        target = directory / str(entry)
        if target.is_dir():
            yield from _kustomizations(target, seen)


def source_index(directory: Path) -> dict[tuple[str, str], str]:
    """(kind, name) → the file that defines it, following the kustomization's resources."""
    index: dict[tuple[str, str], str] = {}
    for path, doc in _kustomizations(directory):
        if not isinstance(doc, dict):
            continue
        for entry in doc.get("resources") or []:
            target = path.parent / str(entry)
            if not target.is_file():
                continue
            for obj in _load_yaml(target):
                if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
                    key = (str(obj.get("kind", "")), str(obj["metadata"].get("name", "")))
                    index.setdefault(key, show_path(target))
    return index


def _set_image(rendered: Rendered, app: AppSection) -> None:
    deployment = rendered.find("Deployment", app.deployment)
    if deployment is None:
        raise StepFailed(
            f"the rendered overlay has no Deployment {app.deployment!r}",
            hint=f"app.deployment names the Deployment of {show_path(rendered.overlay)}",
        )
    spec = ((deployment.obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    container = next((c for c in containers if c.get("name") == app.container), None)
    if container is None:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise StepFailed(
            f"Deployment {app.deployment} ({deployment.source}) has no container "
            f"{app.container!r} (containers: {names})",
            hint="fix app.container in the runbook",
        )
    if container.get("image") != app.image:
        rendered.notes.append(
            f"image of {app.deployment}/{app.container}: {container.get('image')} → {app.image} "
            "(the runbook's)"
        )
    container["image"] = app.image


def _drop_replicas_owned_by_hpa(rendered: Rendered) -> None:
    """An HPA owns the replica count of its target; a ``spec.replicas`` applied as well would
    reset a scaled-out Deployment on every deploy, so it is left out."""
    targets = {
        str(((m.obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name"))
        for m in rendered.manifests
        if m.kind == "HorizontalPodAutoscaler"
    }
    for manifest in rendered.manifests:
        spec = manifest.obj.get("spec")
        if (
            manifest.kind == "Deployment"
            and manifest.name in targets
            and isinstance(spec, dict)
            and spec.pop("replicas", None) is not None
        ):
            rendered.notes.append(
                f"spec.replicas of Deployment {manifest.name} ({manifest.source}) left out: "
                "its HorizontalPodAutoscaler owns the replica count"
            )


def hpa_for(rendered: Rendered, deployment: str) -> dict[str, Any] | None:
    for manifest in rendered.manifests:
        spec = manifest.obj.get("spec") or {}
        if (
            manifest.kind == "HorizontalPodAutoscaler"
            and (spec.get("scaleTargetRef") or {}).get("name") == deployment
        ):
            return dict(spec)
    return None
