"""Sweeps over device parameters: the grid, the resumable store, and the simulate, train
and transfer sweeps."""
