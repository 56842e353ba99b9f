"""The real command line with stand-ins for phases 1–4 and the real decommission."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from standins import registry

from flexmigrate.cli import main

raise SystemExit(main(registry=registry))
