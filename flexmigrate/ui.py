"""What the operator sees. Text goes to stdout through rich (tables, a live progress line with
elapsed time on a terminal); with ``--output json`` stdout carries only the final JSON document
and human lines go to stderr. Everything passes through the redactor first."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from flexmigrate.durations import format_duration
from flexmigrate.redact import REDACT

if TYPE_CHECKING:
    from rich.console import Console

    from flexmigrate.engine.protocol import CheckResult

_STATUS_STYLE = {
    "pass": "green",
    "completed": "green",
    "warn": "yellow",
    "running": "yellow",
    "started": "yellow",
    "rolling_back": "yellow",
    "fail": "red",
    "failed": "red",
    "skip": "dim",
    "pending": "dim",
    "rolled_back": "cyan",
}
_PLAIN_PROGRESS_EVERY = 30.0


class Ui:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        color: bool = True,
        verbose: int = 0,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._color = color and not os.environ.get("NO_COLOR")
        self._clock = clock
        self._console: Console | None = None
        self._err_console: Console | None = None

    # -- plumbing -----------------------------------------------------------------------
    @property
    def interactive(self) -> bool:
        return not self.json_mode and self._out.isatty()

    def console(self) -> Console:
        if self._console is None:
            self._console = self._make_console(self._err if self.json_mode else self._out)
        return self._console

    def _errors(self) -> Console:
        if self._err_console is None:
            self._err_console = self._make_console(self._err)
        return self._err_console

    def _make_console(self, stream: IO[str]) -> Console:
        from rich.console import Console

        return Console(
            file=stream,
            emoji=False,  # ":secret:" in an ARN is not an emoji
            no_color=not self._color,
            highlight=False,
            soft_wrap=True,
            force_terminal=None if stream.isatty() else False,
            width=None if stream.isatty() else 120,
        )

    def _print(self, text: str, style: str | None = None, *, to_err: bool = False) -> None:
        from rich.text import Text

        console = self._errors() if to_err else self.console()
        console.print(Text(REDACT(text), style=style or ""))

    # -- messages -----------------------------------------------------------------------
    def info(self, text: str) -> None:
        self._print(text)

    def detail(self, text: str) -> None:
        if self.verbose:
            self._print(text, "dim")

    def success(self, text: str) -> None:
        self._print(text, "green")

    def warn(self, text: str) -> None:
        self._print(f"warning: {text}", "yellow", to_err=True)

    def error(self, text: str) -> None:
        self._print(f"error: {text}", "bold red", to_err=True)

    def heading(self, text: str) -> None:
        self._print(text, "bold")

    def step(self, status: str, phase: str, step: str, title: str, elapsed: float | None) -> None:
        took = f" ({format_duration(elapsed)})" if elapsed is not None else ""
        mark = {"completed": "✓", "failed": "✗", "started": "…", "rolled_back": "↺"}.get(
            status, "·"
        )
        self._print(f"  {mark} {phase}/{step}: {title}{took}", _STATUS_STYLE.get(status))

    def checks(self, phase: str, results: Sequence[CheckResult]) -> None:
        from rich.table import Table

        table = Table(title=f"Preflight — {phase}", title_justify="left", show_lines=False)
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail", overflow="fold")
        for result in results:
            detail = result.detail + (f"\n→ {result.fix}" if result.fix else "")
            table.add_row(
                result.title,
                f"[{_STATUS_STYLE.get(result.status.value, '')}]{result.status.value}[/]",
                REDACT(detail),
            )
        self.console().print(table)

    def confirm(self, question: str) -> bool:
        """Ask on a terminal; without one, the answer is no (use --yes)."""
        if self.json_mode or not sys.stdin.isatty():
            return False
        import click

        return bool(click.confirm(question, default=False, err=True))

    # -- progress -----------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, what: str) -> Iterator[Callable[[str], None]]:
        """A live line with elapsed time on a terminal; plain lines every 30 s otherwise."""
        start = self._clock()
        if self.interactive:
            from rich.status import Status

            with Status(REDACT(what), console=self.console()) as status:

                def update(state: str) -> None:
                    elapsed = format_duration(self._clock() - start)
                    status.update(REDACT(f"{what} — {state} ({elapsed})"))

                yield update
            self._print(f"  {what}: done in {format_duration(self._clock() - start)}", "dim")
            return
        last = [start - _PLAIN_PROGRESS_EVERY]
        shown: list[str] = [""]

        def plain(state: str) -> None:
            now = self._clock()
            if state != shown[0] or now - last[0] >= _PLAIN_PROGRESS_EVERY:
                last[0] = now
                shown[0] = state
                self._print(
                    f"  {what}: {state} ({format_duration(now - start)} elapsed)",
                    "dim",
                    to_err=self.json_mode,
                )

        yield plain

    # -- structured output --------------------------------------------------------------
    def emit_json(self, document: Any) -> None:
        import json

        text = json.dumps(document, indent=2, default=str)
        self._out.write(REDACT(text, limit=None) + "\n")
        self._out.flush()
