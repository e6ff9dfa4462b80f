"""Synthetic and bundled datasets with known modes, for training and evaluating GANs."""

from discrepancy.datasets._mixtures import MixtureSample, grid, high_dim_ring, ring
from discrepancy.datasets._stacked_digits import StackedDigitsSample, mode_kl_parts, stacked_digits

__all__: list[str] = [
    "MixtureSample",
    "StackedDigitsSample",
    "grid",
    "high_dim_ring",
    "mode_kl_parts",
    "ring",
    "stacked_digits",
]
