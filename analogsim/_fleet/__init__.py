"""Many chips at once: the chip axis vmapped and sharded over a device mesh, CPU devices,
several hosts, and simulating a programmed network on a fleet."""
