"""Any JAX model on a chip: its weights' products and convolutions computed by the chip's
signal path."""
