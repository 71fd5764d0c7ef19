"""The weight-transfer experiment for any JAX model (`transfer_model`)."""
