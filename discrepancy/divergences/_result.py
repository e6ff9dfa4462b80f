"""The `Estimate` result: a discrepancy value with its uncertainty."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np
from scipy import stats

__all__ = ["Estimate", "normal_interval"]


def normal_interval(value: float, standard_error: float | None, level: float = 0.95):
    """Returns the normal-approximation confidence interval, or None without a standard error."""
    if standard_error is None or not math.isfinite(standard_error):
        return None
    half_width = float(stats.norm.ppf(0.5 + level / 2.0)) * standard_error
    return (value - half_width, value + half_width)


def _to_builtin(value: Any) -> Any:
    """Converts NumPy and TensorFlow values to JSON-friendly Python values."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A discrepancy estimated from samples `x` (real, P) and `y` (generated, Q).

    Attributes:
      value: the point estimate, in the units of the named divergence.
      standard_error: estimated standard deviation of `value` over repeated
        draws of the samples, or None where no estimate of it is available.
        How it is obtained is stated in `diagnostics["standard_error_method"]`.
      confidence_interval: (low, high) at `confidence_level`, or None.
      confidence_level: coverage the interval aims for, 0.95 by default.
      num_x: number of samples from P.
      num_y: number of samples from Q.
      divergence: name of the discrepancy, such as "mmd2" or "kl".
      method: estimator, such as "unbiased" or "variational".
      diagnostics: further details (bandwidth, convergence, training curve).

    `float(estimate)` gives `value`, and `estimate.to_dict()` a JSON-ready dict.
    """

    value: float
    standard_error: float | None
    confidence_interval: tuple[float, float] | None
    num_x: int
    num_y: int
    divergence: str
    method: str
    confidence_level: float = 0.95
    diagnostics: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_normal(
        cls,
        value: float,
        standard_error: float | None,
        *,
        num_x: int,
        num_y: int,
        divergence: str,
        method: str,
        confidence_level: float = 0.95,
        diagnostics: Mapping[str, Any] | None = None,
    ) -> "Estimate":
        """Builds an Estimate whose interval is value +- z * standard_error."""
        value = float(value)
        if standard_error is not None:
            standard_error = float(standard_error)
        return cls(
            value=value,
            standard_error=standard_error,
            confidence_interval=normal_interval(value, standard_error, confidence_level),
            num_x=int(num_x),
            num_y=int(num_y),
            divergence=divergence,
            method=method,
            confidence_level=confidence_level,
            diagnostics=dict(diagnostics or {}),
        )

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        text = f"{self.divergence} = {self.value:.6g}"
        if self.standard_error is not None:
            text += f" +- {self.standard_error:.2g} (standard error)"
        if self.confidence_interval is not None:
            low, high = self.confidence_interval
            text += f", {self.confidence_level:.0%} CI [{low:.6g}, {high:.6g}]"
        text += f"; method={self.method}, n={self.num_x}, m={self.num_y}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as JSON-serialisable Python values."""
        return {
            "divergence": self.divergence,
            "method": self.method,
            "value": self.value,
            "standard_error": self.standard_error,
            "confidence_interval": (
                list(self.confidence_interval) if self.confidence_interval else None
            ),
            "confidence_level": self.confidence_level,
            "num_x": self.num_x,
            "num_y": self.num_y,
            "diagnostics": _to_builtin(self.diagnostics),
        }
