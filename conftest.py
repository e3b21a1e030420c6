"""pytest wiring: `pytest scenarios/` runs each YAML scenario as a test (chaosgate.pytest_plugin).

Installed, chaosgate registers the plugin through its `pytest11` entry point; from a checkout that
is not installed, this registers it. Nothing else happens here, so `tests/` runs as before.
"""

from __future__ import annotations

import importlib

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if pluginmanager.get_plugin("chaosgate") is None:
        # Registered here, the plugin's own pytest_addoption still runs before the command line is parsed.
        pluginmanager.register(importlib.import_module("chaosgate.pytest_plugin"), "chaosgate")
