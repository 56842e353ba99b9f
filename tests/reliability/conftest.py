"""Fixtures the reliability tests share with the engine's: the command line against the
moto server and the state directory it writes."""

from tests.engine.conftest import cli as cli
from tests.engine.conftest import state_dir as state_dir
