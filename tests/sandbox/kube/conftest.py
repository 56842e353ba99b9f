"""Fixtures for the Kubernetes API emulator tests: running emulators with test settings.

Every test talks to a real emulator over HTTPS with a real EKS-form token: kubectl and helm
are the official binaries from the virtualenv, the Python side is the official
``kubernetes`` client. Delays are shrunk so that rollouts finish in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube_helpers import fast_config

from flexmigrate.sandbox.kube import KubeEmulator


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture
def start_emulator(cert_dir: Path) -> Iterator[Callable[..., KubeEmulator]]:
    """Start emulators with test settings; all are stopped when the test ends."""
    started: list[KubeEmulator] = []

    def start(**overrides: Any) -> KubeEmulator:
        emulator = KubeEmulator(fast_config(cert_dir, **overrides))
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    """One emulator for a whole module, for tests that do not need a fresh cluster."""
    emulator = KubeEmulator(fast_config(tmp_path_factory.mktemp("certs")))
    emulator.start()
    yield emulator
    emulator.stop()
