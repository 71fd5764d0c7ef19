"""The built-in digital networks (mlp, cnn), the datasets they learn, digital training and
accuracy."""
