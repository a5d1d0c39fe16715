"""The seed's walkthroughs as named, reproducible scenarios."""
from emunet.scenarios.base import Lab, Scenario
from emunet.scenarios.registry import SCENARIOS, get, run_scenario

__all__ = ["Lab", "Scenario", "SCENARIOS", "get", "run_scenario"]
