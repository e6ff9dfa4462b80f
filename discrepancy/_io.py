"""Reading sample arrays from files for the command line.

Supported: `.npy`, `.npz` and `.csv`. NumPy files are read with
`allow_pickle=False`, so a file can never run code when loaded. For an
`.npz` archive with several arrays, name one as `PATH:KEY`.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_array", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".npy", ".npz", ".csv")


def _split_key(spec: str) -> tuple[Path, str | None]:
    """Splits 'file.npz:key' into the path and the key."""
    if ".npz:" in spec:
        path, key = spec.rsplit(":", 1)
        return Path(path), key
    return Path(spec), None


def _load_csv(path: Path) -> np.ndarray:
    """Reads a comma-separated numeric table, skipping one header row if present."""
    with path.open() as stream:
        first = stream.readline()
    cells = [cell.strip() for cell in first.split(",")]
    try:
        [float(cell) for cell in cells if cell]
        skip = 0
    except ValueError:
        skip = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # NumPy warns on empty files.
            table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise ValueError(
            f"{path}: could not read a numeric CSV table ({error}); expected one sample per "
            "row, comma-separated numbers, and at most one header row."
        ) from None
    if table.size == 0:
        raise ValueError(f"{path}: the CSV file has no data rows.")
    return table


# The first bytes of every .npy file, and of every .npz file (a zip archive).
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}


def _check_magic(path: Path, suffix: str, name: str) -> None:
    """Rejects a .npy or .npz file whose first bytes are not NumPy's or zip's."""
    with open(path, "rb") as handle:
        start = handle.read(len(_MAGIC[suffix]))
    if start != _MAGIC[suffix]:
        kind = "NumPy .npy" if suffix == ".npy" else ".npz (zip)"
        raise ValueError(
            f"{name}: {path} is not a {kind} file: it does not start with the {kind} "
            f"signature (first bytes {start!r}). Text data belong in a .csv file; arrays "
            "saved with np.save or np.savez load as they are."
        )


def load_array(spec: str, name: str) -> np.ndarray:
    """Loads the array that `spec` names; `name` is used in error messages.

    Raises:
      ValueError: missing file, unsupported suffix, pickled content, a missing
        or ambiguous `.npz` key, or a non-numeric CSV.
    """
    path, key = _split_key(spec)
    if not path.exists():
        raise ValueError(f"{name}: file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{name}: {path} is not a file; pass a .npy, .npz or .csv file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{name}: unsupported file type {suffix!r} for {path}; use one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )

    if suffix == ".csv":
        return _load_csv(path)

    _check_magic(path, suffix, name)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(
            f"{name}: {path} could not be read without unpickling ({error}); save plain "
            "numeric arrays with np.save or np.savez."
        ) from None
    except (OSError, zipfile.BadZipFile) as error:
        # A truncated or corrupted archive is invalid input, not a crash.
        raise ValueError(
            f"{name}: {path} could not be read ({error}); check that the file is complete "
            "and was written by np.save or np.savez."
        ) from None

    if suffix == ".npy":
        return loaded

    with loaded:
        keys = list(loaded.keys())
        if key is None:
            if len(keys) != 1:
                raise ValueError(
                    f"{name}: {path} holds {len(keys)} arrays ({', '.join(keys)}); name one "
                    f"as {path}:KEY."
                )
            key = keys[0]
        if key not in keys:
            raise ValueError(f"{name}: {path} has no array {key!r}; it holds {', '.join(keys)}.")
        try:
            return loaded[key]
        except ValueError as error:
            raise ValueError(
                f"{name}: array {key!r} in {path} could not be read without unpickling "
                f"({error}); save plain numeric arrays with np.savez."
            ) from None
        except (OSError, zipfile.BadZipFile) as error:
            raise ValueError(f"{name}: array {key!r} in {path} could not be read ({error}).") from None
