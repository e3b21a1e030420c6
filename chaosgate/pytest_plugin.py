"""pytest plugin entry point (opt-in): scenario files become tests only in a chaosgate project.

pytest loads this module in every session wherever chaosgate is installed, so it imports nothing of
chaosgate: it adds the options and the marker, and registers the scenario collector
(`chaosgate.pytest_scenarios`) only when the rootdir has a chaos.yaml, `--chaos-config` names one,
or `--chaos` asks for it.
"""

from __future__ import annotations

import importlib

import pytest

MARKER_HELP = "chaosgate: a chaosgate scenario run as a test (its gate decides pass or fail)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaosgate", "chaosgate scenarios as tests")
    group.addoption(
        "--chaos",
        action="store_true",
        default=False,
        help="Collect scenarios/*.yaml as tests even without a chaos.yaml at the rootdir.",
    )
    group.addoption("--chaos-min-score", type=float, default=None, help="Readiness floor per scenario.")
    group.addoption(
        "--chaos-profile",
        default=None,
        help="Stack profile, one of chaos.yaml's `profiles` [default: its default_profile].",
    )
    group.addoption("--chaos-time-scale", type=float, default=1.0, help="Shorten windows (e.g. 0.25).")
    group.addoption("--chaos-config", default=None, help="chaos.yaml (default: the one in rootdir).")
    group.addoption("--chaos-out", default="reports", help="Where each scenario's reports go.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    wanted = (
        config.getoption("chaos")
        or config.getoption("chaos_config") is not None
        or (config.rootpath / "chaos.yaml").is_file()
    )
    if wanted:
        scenarios = importlib.import_module("chaosgate.pytest_scenarios")
        config.pluginmanager.register(scenarios, "chaosgate-scenarios")
