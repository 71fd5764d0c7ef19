"""Learning on chips: hardware-aware and in-situ training, the pulsed optax update,
distillation, and saving and loading trained chips."""
