"""The layout's rules, read from the imports: no phase package imports another phase package,
the engine imports no phase, and the command line reaches a phase only through its face (the
package's ``__init__``)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHASES = REPO / "phases"
PHASE_PACKAGES = sorted(
    p.name for p in PHASES.iterdir() if (p / "__init__.py").exists() and p.name != "shared"
)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (at any depth: inside functions and TYPE_CHECKING too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _phase_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "phases" and parts[1] in PHASE_PACKAGES:
        return parts[1]
    return None


def test_there_are_five_phase_packages_and_a_shared_one() -> None:
    assert PHASE_PACKAGES == [
        "app_deploy",
        "cluster_foundation",
        "decommission",
        "lb_controller",
        "traffic_shift",
    ]
    assert (PHASES / "shared" / "__init__.py").exists()
    assert not [p.name for p in PHASES.glob("*.py") if p.name != "__init__.py"]


def test_no_phase_package_imports_another() -> None:
    crossings = []
    for package in PHASE_PACKAGES:
        for path in sorted((PHASES / package).rglob("*.py")):
            for line, module in _imports(path):
                other = _phase_of(module)
                if other is not None and other != package:
                    crossings.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert crossings == []


def test_shared_code_imports_no_phase() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((PHASES / "shared").rglob("*.py"))
        for line, module in _imports(path)
        if _phase_of(module)
    ]
    assert found == []


def test_the_engine_imports_no_phase_and_the_command_line_only_faces() -> None:
    problems = []
    for path in sorted((REPO / "flexmigrate").rglob("*.py")):
        for line, module in _imports(path):
            where = f"{path.relative_to(REPO)}:{line} imports {module}"
            if not module.startswith("phases"):
                continue
            if path.parent.name in ("engine", "state", "runbook", "clients") or "sandbox" in str(
                path
            ):
                problems.append(where)  # these know no phase at all
            elif module.count(".") >= 2 and _phase_of(module) and not module.endswith(".PHASE"):
                problems.append(where)  # a phase's module other than its face
            elif module.startswith("phases.shared"):
                problems.append(where)
    assert problems == []
