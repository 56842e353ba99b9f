"""The real command line with the test phases in place of the shipped ones."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from phases_for_tests import registry

from flexmigrate.cli import main

raise SystemExit(main(registry=registry))
