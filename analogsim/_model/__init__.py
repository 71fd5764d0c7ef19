"""Any JAX model on a chip: its weights' products computed by the chip's signal path."""
