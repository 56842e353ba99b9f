"""The rehearsal-speed copy of a runbook, written into a sandbox's directory.

``sandbox up`` and ``rehearse`` validate the runbook as ``run`` would (bad input: exit 2 with
``FILE:LINE field``), check that the sandbox can build the world it names (one line saying
what to change otherwise, exit 2), and write ``DIR/runbook.yaml``: the same runbook with
only its time compressed (``flexmigrate.runbook.rehearsal``) and its relative paths made
absolute. The sandbox's ``env`` points ``FLEXMIGRATE_RUNBOOK`` at this copy and
``FLEXMIGRATE_STATE_DIR`` at ``DIR/state``, so a rehearsal can never share state with the
production runbook it copies, even though both carry the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexmigrate.errors import InvalidInput
from flexmigrate.options import Options

# The engine's own section holds one path.
_ENGINE_RULES = ("kubernetes.kubeconfig",)
SHIPPED_EXAMPLE = "flexdesk-production"


@dataclass(frozen=True)
class RehearsalCopy:
    source: Path  # the runbook as given
    path: Path  # the copy in the sandbox's directory
    name: str
    rows: tuple[Any, ...]  # flexmigrate.runbook.rehearsal.Compression
    factor: float

    def table(self) -> list[str]:
        return [row.line() for row in self.rows]


def source_runbook(opts: Options) -> Path:
    """The runbook to rehearse: ``--runbook``, else ``./flexmigrate.yaml`` (the default
    runbook, as ``flexmigrate init`` writes it), else the shipped example (Flexdesk's).
    ``$FLEXMIGRATE_RUNBOOK`` is not read here: a shell that sourced a sandbox's env has it
    pointing at that sandbox's own copy."""
    from flexmigrate.runbook.locate import DEFAULT_FILE, locate_runbook

    if not opts.runbook and Path(DEFAULT_FILE).is_file():
        return Path(DEFAULT_FILE).resolve()
    return locate_runbook(opts.runbook or SHIPPED_EXAMPLE).resolve()


def write_copy(opts: Options, directory: Path) -> RehearsalCopy:
    """Validate the runbook, check its world can be built, write its rehearsal copy."""
    from ruamel.yaml import YAML

    from flexmigrate.host import write_atomic
    from flexmigrate.runbook.loader import load_runbook
    from flexmigrate.runbook.rehearsal import TimeRule, compress, rules_of
    from flexmigrate.sandbox.world.spec import WorldSpecError, spec_from_runbook

    registry = opts.registry_loader()
    source = source_runbook(opts)
    runbook = load_runbook(source, registry.runbook_model())
    data: dict[str, Any] = runbook.model_dump(mode="json")
    rules = [TimeRule(path, "path") for path in _ENGINE_RULES] + list(rules_of(registry))
    data, rows, factor = compress(data, rules, source.parent)
    try:
        spec_from_runbook(data, str(source))
    except WorldSpecError as exc:
        raise InvalidInput(f"{source}: cannot rehearse this runbook: {exc}") from None
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "runbook.yaml"
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    import io

    buffer = io.StringIO()
    yaml.dump(data, buffer)
    header = (
        f"# Rehearsal-speed copy of {source}, written by flexmigrate.\n"
        "# Only time is compressed (see the README's rehearsal-speed table):\n"
        + "".join(f"#   {row.line()}\n" for row in rows)
    )
    write_atomic(target, (header + buffer.getvalue()).encode())
    return RehearsalCopy(source, target, str(data["name"]), tuple(rows), factor)


def show_table(ui: Any, copy: RehearsalCopy) -> None:
    ui.info(
        f"rehearsal speed for {copy.name} (only time changes; steps, names, gates, "
        "thresholds and the schedule are the runbook's):"
    )
    for line in copy.table():
        ui.info(f"  {line}")
