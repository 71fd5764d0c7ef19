"""Cost: what a network costs on the chip it runs on, in joules, seconds and square
millimetres, counted from the same program the simulation runs."""
