"""Plumbing beneath the public API, for those who build their own experiments from its parts.

These names are stable enough to use but not part of the front page: the fleet state of
in-situ training (`init_fleet`, `train_fleet`, `fleet_state_accuracy`), the optimizer tree of
an in-situ state (`opt_init_tree`) and the command line's value lists (`parse_values`). Until
0.3 they are also reachable as `analogsim.<name>`, with a DeprecationWarning.
"""

from ._learn.in_situ import opt_init_tree as opt_init_tree
from ._learn.in_situ_fleet import fleet_state_accuracy as fleet_state_accuracy
from ._learn.in_situ_fleet import init_fleet as init_fleet
from ._learn.in_situ_fleet import train_fleet as train_fleet
from ._sweep.grid import parse_values as parse_values
