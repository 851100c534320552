"""The digital twin of Cd3P2 QD growth from magic-sized clusters (``qdlab.twin``).

Public API::

    from qdlab.twin import list_scenarios, load_scenario, simulate, calibrate
    res = simulate("overgrowth-1010nm")          # TwinResult: .aliquots, .pl, .absorbance, ...
    fit = calibrate(scenario, measured, params=["cluster_dissolution_per_s"])

See ``docs/twin.md`` for the user guide and ``docs/science.md`` (section 2) for the physics.
"""

from qdlab.twin.calibration import CalibrationResult, calibrate
from qdlab.twin.protocol import Scenario, list_scenarios, load_scenario
from qdlab.twin.solver import TwinResult, simulate

__all__ = ["CalibrationResult", "Scenario", "TwinResult", "calibrate", "list_scenarios", "load_scenario", "simulate"]
