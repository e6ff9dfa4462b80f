"""A (mean, std) result shared by metrics averaged over subsets or splits."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MeanStdResult"]


class _MeanStdPair(NamedTuple):
    mean: float
    std: float


class MeanStdResult(_MeanStdPair):
    """A (mean, std) pair that unpacks as a tuple, with diagnostics as attributes.

    `float(result)` gives the mean. Subclasses document their attributes.
    """

    def __new__(cls, mean, std, **attributes):
        result = super().__new__(cls, float(mean), float(std))
        for name, value in attributes.items():
            setattr(result, name, value)
        return result

    def __float__(self) -> float:
        return self.mean
