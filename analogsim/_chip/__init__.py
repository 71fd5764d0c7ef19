"""One chip: its spec, periphery and identity, programming, reading, the tile's analog
matrix-vector product, the wire-resistance circuit, pulsed updates and the analog forward pass."""
