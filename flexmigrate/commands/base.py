"""Light helpers shared by every command; ``status`` imports only these, so no rich, pydantic
or engine modules load on its path."""

from __future__ import annotations

from typing import Any

from flexmigrate.options import Options


def make_ui(opts: Options) -> Any:
    from flexmigrate.ui import Ui

    return Ui(json_mode=opts.json, color=opts.color, verbose=opts.verbose)


def store_for(
    opts: Options,
    runbook_name: str,
    stale_after: float = 600.0,
    section: Any = None,
    profile: str | None = None,
) -> Any:
    """The runbook's store: S3 when its ``state:`` section says so (``section``), else the
    local ``--state-dir``."""
    if section is not None and getattr(section, "backend", "local") == "s3":
        from flexmigrate.state.s3 import S3StateStore

        return S3StateStore(
            s3_location(section, profile), runbook_name, lock_stale_after=stale_after
        )
    from flexmigrate.state.store import LocalStateStore

    return LocalStateStore(opts.state_dir / runbook_name, lock_stale_after=stale_after)


def runbook_store(opts: Options) -> tuple[str, Any]:
    """The runbook's name and store, for commands that read no more of the runbook. A runbook
    without a ``state:`` section is read no further than its name (``status`` stays fast);
    one with it is validated, since the section says where the state is."""
    import re

    from flexmigrate.runbook.loader import runbook_name
    from flexmigrate.runbook.locate import locate_runbook

    path = locate_runbook(opts.runbook)
    name = runbook_name(path)
    if not re.search(r"^state\s*:", path.read_text(encoding="utf-8"), re.MULTILINE):
        return name, store_for(opts, name)
    from flexmigrate.runbook.loader import load_runbook

    runbook = load_runbook(path, opts.registry_loader().runbook_model())
    store = store_for(
        opts, name, runbook.execution.lock_stale_after, runbook.state, runbook.aws.profile
    )
    return name, store


def s3_location(section: Any, profile: str | None = None) -> Any:
    from flexmigrate.state.s3 import S3Location

    return S3Location(
        bucket=section.bucket,
        prefix=section.prefix,
        region=section.region,
        kms_key_id=section.kms_key_id,
        profile=profile,
    )
