"""What the sandbox needs beyond flexmigrate's own dependencies: the ``sandbox`` extra.

``pip install flexmigrate`` is the operator's tool (``plan``, ``run``, …); the sandbox and
``rehearse`` also need moto (with its server), werkzeug and cryptography, which
``pip install 'flexmigrate[sandbox]'`` brings. The commands check for them before they start
anything, so a missing extra is one line saying what to install, not a traceback from the
sandbox's process. Keep ``MODULES`` in step with the extra in ``pyproject.toml``.
"""

from __future__ import annotations

import importlib.util

INSTALL = "pip install 'flexmigrate[sandbox]'"
# Top-level modules of the extra's distributions that the sandbox imports; flask and
# flask_cors are what moto's server needs of its own `server` extra.
MODULES = ("moto", "werkzeug", "cryptography", "flask", "flask_cors")


def check() -> None:
    """Raise ModuleNotFoundError for the first module of the extra that is not installed.

    Only looks the modules up (no import), so it costs milliseconds."""
    for name in MODULES:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def is_missing_extra(exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` is about a module the extra would have installed."""
    return (exc.name or "").partition(".")[0] in MODULES
