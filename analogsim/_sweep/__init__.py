"""Sweeps over device parameters: the grid, the chunk loop and its resumable store, and the
simulate, train and transfer sweeps."""
