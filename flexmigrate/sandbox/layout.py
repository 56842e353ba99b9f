"""Files of a sandbox directory, shared by the daemon that writes them and the commands that
read them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "af-south-1"
CLUSTER = "flexdesk-cluster"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class SandboxFiles:
    root: Path

    @property
    def runtime(self) -> Path:
        """Written last by a daemon that answers; removed when it stops."""
        return self.root / "sandbox.json"

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def world(self) -> Path:
        return self.root / "world.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    def read_runtime(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.runtime.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data
