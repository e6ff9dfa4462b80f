"""Synthetic and bundled datasets with known modes, for training and evaluating GANs."""

__all__: list[str] = []
