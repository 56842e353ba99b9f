"""``flexmigrate init``: a runbook (and a kustomize tree) from what already runs, read-only.

The command reads the account through AWS clients made read-only (any mutating call is
refused before it leaves the process, as in ``plan``), names everything it found by Name tag
or name, and writes ``flexmigrate.yaml`` (or ``--out``) with ``k8s/`` beside it. It never
overwrites a file without ``--force``: every path is checked before the first is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexmigrate.commands.base import make_ui
from flexmigrate.errors import InvalidInput
from flexmigrate.options import Options


@dataclass(frozen=True)
class InitRequest:
    alb: str | None
    instance: str | None
    compose: Path | None
    out: Path | None
    force: bool
    profile: str | None
    region: str | None


def init(opts: Options, request: InitRequest) -> int:
    from flexmigrate.commands.init.compose import read_compose
    from flexmigrate.commands.init.discover import discover
    from flexmigrate.commands.init.manifests import manifest_files
    from flexmigrate.commands.init.runbook_doc import build_runbook, choose_names
    from flexmigrate.runbook.locate import DEFAULT_FILE, display_path
    from flexmigrate.runbook.placeholders import find_placeholders

    ui = make_ui(opts)
    if (request.alb is None) == (request.instance is None):
        raise InvalidInput("give exactly one of --alb NAME|ARN and --instance ID|NAME")
    out = request.out or Path(opts.runbook or DEFAULT_FILE)
    if out.suffix not in (".yaml", ".yml"):
        raise InvalidInput(f"{out}: a runbook is a YAML file (.yaml or .yml)")
    if request.compose is not None and not request.compose.is_file():
        raise InvalidInput(f"{request.compose}: no such Compose file")
    manifests_dir = out.parent / "k8s"

    aws = _read_only_clients(request)
    source = f"--alb {request.alb}" if request.alb else f"--instance {request.instance}"
    if not opts.json:
        ui.info(f"reading {source} in {aws.settings.region} (read-only)…")
    estate = discover(aws, alb=request.alb, instance=request.instance)
    compose = read_compose(request.compose, estate.target_group.port) if request.compose else None
    names = choose_names(estate, compose)
    document = build_runbook(estate, names, compose, request.profile)
    files = {out: _dump(document)}
    for relative, text in manifest_files(names.shape, compose).items():
        files[manifests_dir / relative] = text
    existing = [p for p in files if p.exists()]
    if existing and not request.force:
        shown = ", ".join(display_path(p) for p in existing)
        raise InvalidInput(
            f"{shown} already exist(s); nothing was written",
            hint="pass --force to overwrite, or --out another file (k8s/ goes beside it)",
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    left = find_placeholders(_plain(document))
    notes = list(estate.notes) + (compose.notes if compose else [])
    if compose is None:
        where = f" ({estate.compose_path} on the instance)" if estate.compose_path else ""
        notes.append(
            f"without --compose, k8s/ holds a minimal app from what AWS told (port, health "
            f"path): copy the instance's Compose file{where} here and run init again with "
            "--compose FILE --force for the image, command, environment keys and resources"
        )
    runbook_flag = "" if _is_default(out, opts) else f" --runbook {display_path(out)}"
    next_steps = [
        f"flexmigrate{runbook_flag} runbook validate",
        f"flexmigrate{runbook_flag} rehearse",
        f"flexmigrate{runbook_flag} plan all",
    ]
    written = [display_path(p) for p in files]
    if opts.json:
        ui.emit_json(
            {
                "runbook": display_path(out),
                "written": written,
                "placeholders": [{"field": f, "fill_in": what} for f, what in left],
                "notes": notes,
                "calls": dict(aws.calls),
                "next": next_steps,
            }
        )
        return 0
    ui.success(
        f"wrote {display_path(out)} and {len(files) - 1} manifests under "
        f"{display_path(manifests_dir)}/"
    )
    for shown in written[1:]:
        ui.detail(f"  {shown}")
    for note in notes:
        ui.warn(note)
    if left:
        ui.info(f"{len(left)} placeholder(s) to fill in before any phase runs:")
        for field, what in left:
            ui.info(f"  {field}: {what}")
    ui.info("next:")
    for step in next_steps:
        ui.info(f"  {step}")
    return 0


def _read_only_clients(request: InitRequest) -> Any:
    """AWS clients that refuse every mutating call, in the region of --region, the
    environment, or the profile."""
    from typing import cast

    from flexmigrate.clients.aws import AwsClients, AwsSettings

    region = request.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        probe = AwsClients(AwsSettings(region=cast(str, None), profile=request.profile))
        region = probe.session.region_name
        if not region:
            raise InvalidInput(
                "no AWS region: pass --region, set AWS_REGION, or give the profile a region"
            )
    return AwsClients(AwsSettings(region=region, profile=request.profile), read_only=True)


def _dump(document: Any) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _is_default(out: Path, opts: Options) -> bool:
    """Whether the command line finds ``out`` with no --runbook flag."""
    from flexmigrate.runbook.locate import DEFAULT_FILE

    if os.environ.get("FLEXMIGRATE_RUNBOOK"):
        return False
    return out.resolve() == (Path.cwd() / DEFAULT_FILE).resolve()
