"""The shipped runbooks and manifests work from any directory with the package as installed
(CI installs it non-editable, so there this is the wheel's copy, not the checkout's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import child_env


def _installed_env() -> dict[str, str]:
    env = child_env()
    env.pop("PYTHONPATH", None)  # the installed package, not the checkout
    return env


def test_shipped_runbooks_validate_from_any_directory(tmp_path: Path) -> None:
    for name, runbook in (("flexdesk-production",) * 2,):
        done = subprocess.run(
            [sys.executable, "-m", "flexmigrate", "--runbook", name, "runbook", "validate"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=_installed_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"valid runbook {runbook!r}" in done.stdout


def test_manifests_and_policy_ship_with_the_runbooks(tmp_path: Path) -> None:
    probe = (
        "from flexmigrate.runbook.locate import shipped_runbooks_dir as d; import phases;"
        "root = d();"
        "need = ['flexdesk/k8s/overlays/production/kustomization.yaml',"
        " 'flexdesk/k8s/base/deployment.yaml', 'lb-controller/iam-policy.json',"
        " 'lb-controller/sandbox/00-crds.yaml'];"
        "missing = [n for n in need if not (root / n).is_file()];"
        "print(len(phases.REGISTRY), missing)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_installed_env(),
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "5 []"
