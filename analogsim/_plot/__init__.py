"""Every figure, drawn from a (saved) dataset."""
