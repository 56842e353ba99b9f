"""The real command line with a test registry in place of the shipped phases.

``python tests/registry_cli.py MODULE.py ARGS...`` runs ``flexmigrate ARGS...`` with the
``registry()`` of the test module at MODULE.py (phases defined for the engine's tests, or
stand-ins for the phases before the one under test).
"""

import importlib.util
import sys
from pathlib import Path

# The repository, not this script's folder, comes first: ``tests/phases`` must not stand in
# for the ``phases`` package.
_REPO = Path(__file__).resolve().parents[1]
sys.path[0] = str(_REPO)


def _registry_of(path: str) -> object:
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.registry


if __name__ == "__main__":
    from flexmigrate.cli import main

    registry = _registry_of(sys.argv[1])
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    raise SystemExit(main(registry=registry))  # type: ignore[arg-type]
