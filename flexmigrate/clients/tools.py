"""External binaries (helm, kubectl kustomize), run from a fixed argv, never through a shell.

In dry-run only read-only subcommands run, so a plan cannot install or delete anything.
Output that reaches an error message is redacted and bounded.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flexmigrate.errors import CloudError, ReadOnlyViolation, TransientCloudError
from flexmigrate.redact import REDACT

READ_ONLY_SUBCOMMANDS = {
    "helm": {"template", "version", "lint", "show", "status", "list", "get", "history", "search"},
    "kubectl": {"kustomize", "version"},
}


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def find_tool(name: str) -> str | None:
    return shutil.which(name)


def _subcommand(argv: Sequence[str]) -> str:
    return next((a for a in argv[1:] if not a.startswith("-")), "")


class ToolRunner:
    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self.calls = 0

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 600.0,
        check: bool = True,
        input_text: str | None = None,
    ) -> ToolResult:
        name = argv[0].rsplit("/", 1)[-1]
        sub = _subcommand(argv)
        if self.read_only and sub not in READ_ONLY_SUBCOMMANDS.get(name, set()):
            raise ReadOnlyViolation(
                f"dry-run refused `{name} {sub}` (only read-only subcommands run)"
            )
        executable = find_tool(argv[0])
        if executable is None:
            raise CloudError(
                f"{argv[0]} was not found on PATH",
                code="ToolMissing",
                hint=f"install {argv[0]} or put it on PATH",
            )
        self.calls += 1
        try:
            proc = subprocess.run(
                [executable, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                input=input_text,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientCloudError(
                f"`{name} {sub}` did not finish within {int(timeout)}s", code="Timeout"
            ) from None
        result = ToolResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            tail = REDACT((proc.stderr or proc.stdout).strip()[-1500:])
            raise CloudError(f"`{name} {sub}` exited {proc.returncode}: {tail}", code="ToolFailed")
        return result
