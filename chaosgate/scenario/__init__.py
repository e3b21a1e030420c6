"""Scenarios: the YAML files users write, their typed models, and their validation."""

from chaosgate.scenario.loader import load_scenario, load_scenarios
from chaosgate.scenario.models import Outcome, Scenario

__all__ = ["Outcome", "Scenario", "load_scenario", "load_scenarios"]
