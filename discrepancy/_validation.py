"""Input validation shared by every public entry point.

Every check raises `ValueError` or `TypeError` with a message that names the
argument, shows the value received and says what to do. Numeric cores never
validate: they trust what this module hands them.

Dtype policy:
  * float32 and float64 pass through unchanged, and results come back in the
    same dtype.
  * float16 and bfloat16 are computed in float32 (their 11-bit and 8-bit
    mantissas cannot hold kernel sums or distances) and results are float32.
  * Integer and boolean arrays are converted to float64, which is exact for
    integers up to 2**53 in magnitude.
  * Anything else (complex, strings, objects) raises `TypeError`.

Inside `tf.function` the tensors are symbolic, so only static shapes are
checked here. Non-finite values then fail at run time through
`tf.debugging.check_numerics`, which raises `tf.errors.InvalidArgumentError`.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "as_samples",
    "as_sample_pair",
    "static_num_features",
    "scale_images",
    "as_weights",
    "check_same_dimension",
    "check_min_samples",
    "check_option",
    "as_int",
    "as_float",
    "as_seed",
    "result_dtype",
    "as_mean_covariance",
    "as_gaussian_pair",
    "symmetry_tolerance",
]

_HALF_DTYPES = (tf.float16, tf.bfloat16)
_FLOAT_DTYPES = (tf.float32, tf.float64)


def _describe(value: Any) -> str:
    """Returns a short description of a value for error messages."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return text


def _to_tensor(value: Any, name: str) -> tf.Tensor:
    """Converts arrays, lists and tensors to a tensor without changing precision."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.convert_to_tensor(value)

    if isinstance(value, tf.data.Dataset):
        raise TypeError(
            f"`{name}` is a tf.data.Dataset; pass an array or tensor of shape "
            "[num_samples, num_features], for example by concatenating the "
            "dataset's batches with np.concatenate(list(dataset.as_numpy_iterator()))."
        )

    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"`{name}` could not be converted to an array ({error}); pass a "
            "NumPy array or tensor of shape [num_samples, num_features]."
        ) from None

    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(
            f"`{name}` has dtype {array.dtype}, expected a numeric array of shape "
            "[num_samples, num_features]; check that every row has the same "
            "length and holds numbers."
        )
    if array.dtype.kind == "c":
        raise TypeError(
            f"`{name}` has complex dtype {array.dtype}; pass real-valued samples."
        )
    if array.dtype.kind in "iub":
        array = array.astype(np.float64)
    return tf.convert_to_tensor(array)


def result_dtype(*tensors: tf.Tensor) -> tf.DType:
    """Returns the dtype that results are computed and returned in."""
    dtypes = {t.dtype for t in tensors}
    if tf.float64 in dtypes:
        return tf.float64
    return tf.float32


def as_samples(
    value: Any,
    name: str,
    *,
    min_samples: int = 1,
    check_finite: bool = True,
) -> tf.Tensor:
    """Converts `value` to a float tensor of shape [n, d] and validates it.

    Args:
      value: array-like or tensor of shape [n, d].
      name: argument name used in error messages.
      min_samples: smallest allowed n.
      check_finite: whether to reject NaN and infinite values.

    Returns:
      A float32 or float64 tensor; see the module docstring for dtype rules.

    Raises:
      TypeError: non-numeric or complex input.
      ValueError: wrong rank, too few samples, zero features, non-finite values.
    """
    tensor = _to_tensor(value, name)

    if tensor.dtype in _HALF_DTYPES:
        tensor = tf.cast(tensor, tf.float32)
    elif tensor.dtype.is_integer or tensor.dtype == tf.bool:
        tensor = tf.cast(tensor, tf.float64)
    elif tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"`{name}` has dtype {tensor.dtype.name}; expected float32 or float64 "
            "samples."
        )

    rank = tensor.shape.rank
    if rank is not None and rank != 2:
        if rank == 1:
            fix = f"reshape it to [n, 1] with {name}[:, None] for one-dimensional data"
        elif rank == 0:
            fix = "pass an array of shape [num_samples, num_features]"
        else:
            fix = (
                f"flatten the feature axes, for example with "
                f"tf.reshape({name}, [tf.shape({name})[0], -1]), or extract "
                "features first"
            )
        raise ValueError(
            f"`{name}` must have shape [num_samples, num_features], got shape "
            f"{tensor.shape.as_list() if rank is not None else None} (rank {rank}); {fix}."
        )

    num_samples = tensor.shape[0]
    num_features = tensor.shape[1] if rank is not None else None
    if num_features == 0:
        raise ValueError(
            f"`{name}` has shape {tensor.shape.as_list()} with zero features; "
            "each sample needs at least one feature."
        )
    if num_samples is not None:
        check_min_samples(num_samples, min_samples, name)

    if check_finite:
        if tf.executing_eagerly() and not isinstance(tensor, tf.Variable):
            values = tensor.numpy()
            finite = np.isfinite(values)
            if not finite.all():
                bad = np.argwhere(~finite)
                row, column = (int(v) for v in bad[0])
                raise ValueError(
                    f"`{name}` contains {bad.shape[0]} non-finite value(s) (NaN or "
                    f"inf); the first is {float(values[row, column])!r} at row {row}, "
                    f"column {column}. Remove or impute those samples first."
                )
        else:
            tensor = tf.debugging.check_numerics(
                tensor, f"`{name}` contains NaN or inf values"
            )
    return tensor


def as_sample_pair(x: Any, y: Any, *, min_samples: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """Validates two sample sets of the same dimension and brings them to one dtype.

    If either set is float64 both become float64 (an upcast, never a downcast).
    """
    x = as_samples(x, "x", min_samples=min_samples)
    y = as_samples(y, "y", min_samples=min_samples)
    check_same_dimension(x, y)
    if x.dtype != y.dtype:
        dtype = result_dtype(x, y)
        x, y = tf.cast(x, dtype), tf.cast(y, dtype)
    return x, y


def scale_images(array: np.ndarray, value_range, name: str, examples: str) -> np.ndarray:
    """Checks images against their declared value range and maps that range to [0, 1] in float32.

    Out-of-range values are rejected, never clipped. `examples` lists typical
    ranges for the caller's inputs and is shown in the error message.
    """
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` has no images; pass at least one.")

    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"`{name}` contains NaN or infinite values; remove those images first.")

    low, high = value_range
    smallest, largest = float(values.min()), float(values.max())
    if smallest < low or largest > high:
        raise ValueError(
            f"`{name}` has values in [{smallest!r}, {largest!r}], outside value_range="
            f"({low!r}, {high!r}). Pass the range the images were produced in, for example "
            f"{examples}; out-of-range values are rejected, not clipped."
        )
    return ((values - low) / (high - low)).astype(np.float32)


def static_num_features(samples: tf.Tensor, name: str = "x") -> int:
    """Returns the feature dimension d of [n, d] samples, which must be known when traced."""
    num_features = samples.shape[1]
    if num_features is None:
        raise ValueError(
            f"`{name}` must have a known number of features when the function is traced; "
            "give it a static second dimension."
        )
    return int(num_features)


def check_min_samples(num_samples: int, minimum: int, name: str, why: str = "") -> None:
    """Raises ValueError when a sample set has fewer than `minimum` samples."""
    if num_samples < minimum:
        reason = f" {why}" if why else ""
        raise ValueError(
            f"`{name}` has {num_samples} sample(s), but at least {minimum} are "
            f"required.{reason}"
        )


def check_same_dimension(
    x: tf.Tensor, y: tf.Tensor, x_name: str = "x", y_name: str = "y"
) -> None:
    """Raises ValueError when two sample sets have different feature dimensions."""
    dx, dy = x.shape[-1], y.shape[-1]
    if dx is not None and dy is not None and dx != dy:
        raise ValueError(
            f"`{x_name}` and `{y_name}` must have the same number of features, "
            f"got {x_name}.shape={x.shape.as_list()} and {y_name}.shape="
            f"{y.shape.as_list()}. Both sets must be samples in the same space."
        )


def as_weights(value: Any, num_samples: int, name: str, dtype=tf.float64) -> tf.Tensor | None:
    """Validates per-sample probability weights; returns None when `value` is None.

    Weights must be one-dimensional, of length `num_samples`, finite,
    non-negative, not all zero, and sum to 1 within a relative tolerance:
    1e-8 for float64, 1e-4 for float32 and integers, and 1e-3 for float16,
    whose rounding alone moves a sum of normalised weights by up to 5e-4.
    Accepted weights are renormalised exactly in float64, so rounding in the
    caller's sum never makes a solver reject them.
    """
    if value is None:
        return None

    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"`{name}` must be numeric, got dtype {array.dtype}.")
    if array.ndim != 1 or array.shape[0] != num_samples:
        raise ValueError(
            f"`{name}` must have shape [{num_samples}] (one weight per sample), "
            f"got shape {list(array.shape)}."
        )
    if not np.isfinite(array).all():
        raise ValueError(f"`{name}` contains NaN or inf values: {_describe(array)}.")
    if (array < 0).any():
        index = int(np.argmax(array < 0))
        raise ValueError(
            f"`{name}` contains negative weight {float(array[index])!r} at index {index}; "
            "weights must be non-negative."
        )
    total = float(np.sum(array, dtype=np.float64))
    if total <= 0:
        raise ValueError(f"`{name}` sums to {total!r}; at least one weight must be positive.")
    tolerance = {np.dtype(np.float64): 1e-8, np.dtype(np.float16): 1e-3}.get(array.dtype, 1e-4)
    if abs(total - 1.0) > tolerance:
        raise ValueError(
            f"`{name}` sums to {total!r}, expected 1 (probability weights). If these "
            f"are counts or unnormalised masses, pass {name} / {name}.sum()."
        )
    weights = array.astype(np.float64) / total
    return tf.constant(weights, dtype=dtype)


def check_option(value: Any, name: str, allowed: Iterable[str]) -> str:
    """Validates a string option against a closed set of names."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"`{name}` must be one of {choices}; got {_describe(value)}.")
    return value


def as_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validates an integer argument and its range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {_describe(value)}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {value}.")
    return value


def as_float(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Validates a finite real argument and its range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, (np.ndarray, tf.Tensor)) and np.ndim(value) == 0:
            value = float(value)
        else:
            raise TypeError(f"`{name}` must be a real number, got {_describe(value)}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"`{name}` must be positive, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {value!r}.")
    return value


def as_seed(seed: Any, name: str = "seed") -> tf.Tensor:
    """Converts a seed to a stateless seed tensor of shape [2] and dtype int64.

    `None` draws a fresh seed from NumPy's global generator, so results vary
    between calls. An int, or a pair of ints, gives reproducible results.
    """
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    if isinstance(seed, (tf.Tensor, np.ndarray)) and np.shape(seed) == (2,):
        return tf.cast(seed, tf.int64)
    if isinstance(seed, Sequence) and len(seed) == 2:
        return tf.constant([as_int(s, name) for s in seed], dtype=tf.int64)
    seed = as_int(seed, name, minimum=0)
    return tf.constant([seed % (2**31), seed // (2**31)], dtype=tf.int64)


def _as_float_tensor(value: Any, name: str) -> tf.Tensor:
    """Converts `value` to a float32 or float64 tensor under the module's dtype rules."""
    tensor = _to_tensor(value, name)
    if tensor.dtype in _HALF_DTYPES:
        return tf.cast(tensor, tf.float32)
    if tensor.dtype.is_integer or tensor.dtype == tf.bool:
        return tf.cast(tensor, tf.float64)
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"`{name}` has dtype {tensor.dtype.name}; expected float32 or float64.")
    return tensor


def _check_finite_tensor(tensor: tf.Tensor, name: str) -> tf.Tensor:
    """Raises ValueError on NaN or inf in eager mode; adds a run-time check in graphs."""
    if not tf.executing_eagerly():
        return tf.debugging.check_numerics(tensor, f"`{name}` contains NaN or inf values")
    values = tensor.numpy()
    finite = np.isfinite(values)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"`{name}` contains {int((~finite).sum())} non-finite value(s) (NaN or inf); "
            f"the first is {values[index]!r} at index {list(index)}."
        )
    return tensor


def symmetry_tolerance(dtype: tf.DType) -> float:
    """Returns the largest relative asymmetry accepted in a covariance: sqrt(machine epsilon)."""
    return float(np.sqrt(np.finfo(dtype.as_numpy_dtype).eps))


def as_mean_covariance(
    mean: Any, covariance: Any, mean_name: str, covariance_name: str
) -> tuple[tf.Tensor, tf.Tensor]:
    """Validates the mean [d] and covariance [d, d] of a Gaussian; returns both in one dtype.

    The covariance must be finite and symmetric within a relative tolerance of
    sqrt(machine epsilon) of its dtype (about 3.5e-4 for float32 and 1.5e-8 for
    float64) of its largest entry, so rounding in how it was computed passes
    but a transposed or wrong matrix does not. It is returned as
    (C + C^T) / 2, which changes it only at that rounding level. Positive
    (semi-)definiteness is left to the caller, which learns it from the
    factorisation it computes anyway.
    """
    mean = _as_float_tensor(mean, mean_name)
    covariance = _as_float_tensor(covariance, covariance_name)

    if mean.shape.rank is not None and mean.shape.rank != 1:
        raise ValueError(
            f"`{mean_name}` must be a vector of shape [num_features], got shape "
            f"{mean.shape.as_list()}."
        )
    if covariance.shape.rank is not None and (
        covariance.shape.rank != 2
        or (covariance.shape[0] is not None and covariance.shape[1] is not None
            and covariance.shape[0] != covariance.shape[1])
    ):
        raise ValueError(
            f"`{covariance_name}` must be a square matrix of shape [num_features, "
            f"num_features], got shape {covariance.shape.as_list()}."
        )
    num_features = mean.shape[0] if mean.shape.rank is not None else None
    if num_features == 0:
        raise ValueError(f"`{mean_name}` is empty; a Gaussian needs at least one feature.")
    if (
        num_features is not None
        and covariance.shape.rank is not None
        and covariance.shape[0] is not None
        and covariance.shape[0] != num_features
    ):
        raise ValueError(
            f"`{mean_name}` has shape {mean.shape.as_list()} but `{covariance_name}` has "
            f"shape {covariance.shape.as_list()}; a mean of length d needs a d x d covariance."
        )

    dtype = result_dtype(mean, covariance)
    mean = _check_finite_tensor(tf.cast(mean, dtype), mean_name)
    covariance = _check_finite_tensor(tf.cast(covariance, dtype), covariance_name)

    tolerance = symmetry_tolerance(dtype)
    asymmetry = tf.reduce_max(tf.abs(covariance - tf.transpose(covariance)))
    scale = tf.reduce_max(tf.abs(covariance))
    if tf.executing_eagerly():
        if float(asymmetry) > tolerance * float(scale):
            raise ValueError(
                f"`{covariance_name}` is not symmetric: max |C - C^T| = {float(asymmetry):.3g} "
                f"against max |C| = {float(scale):.3g} (relative tolerance {tolerance:.2g}). "
                "Pass a covariance matrix of shape [num_features, num_features], not a "
                "cross-covariance or a transposed factor."
            )
    else:
        check = tf.debugging.assert_less_equal(
            asymmetry,
            tf.cast(tolerance, dtype) * scale,
            message=f"`{covariance_name}` is not symmetric within relative tolerance {tolerance:.2g}",
        )
        with tf.control_dependencies([check]):
            covariance = tf.identity(covariance)
    covariance = 0.5 * (covariance + tf.transpose(covariance))
    return mean, covariance


def as_gaussian_pair(
    mean_p: Any, cov_p: Any, mean_q: Any, cov_q: Any
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Validates the parameters of two Gaussians P and Q in the same dimension.

    If any of the four is float64 all become float64 (an upcast, never a downcast).
    """
    mean_p, cov_p = as_mean_covariance(mean_p, cov_p, "mean_p", "cov_p")
    mean_q, cov_q = as_mean_covariance(mean_q, cov_q, "mean_q", "cov_q")
    dp, dq = mean_p.shape[0], mean_q.shape[0]
    if dp is not None and dq is not None and dp != dq:
        raise ValueError(
            f"P and Q must have the same number of features, got mean_p.shape={[dp]} and "
            f"mean_q.shape={[dq]}."
        )
    dtype = result_dtype(mean_p, mean_q)
    return tuple(tf.cast(t, dtype) for t in (mean_p, cov_p, mean_q, cov_q))
