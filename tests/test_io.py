"""Tests for reading sample arrays from .npy, .npz and .csv files."""

import os
import pickle

import numpy as np
import pytest

from discrepancy._io import load_array


@pytest.fixture
def array():
    return np.random.default_rng(0).normal(size=(7, 3))


class _CreatesFileWhenUnpickled:
    """Unpickling this object creates a file, which shows that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


# --- NumPy files ------------------------------------------------------------------


def test_load_npy(tmp_path, array):
    np.save(tmp_path / "x.npy", array)
    np.testing.assert_array_equal(load_array(str(tmp_path / "x.npy"), "X"), array)


def test_load_npz_single_array(tmp_path, array):
    np.savez(tmp_path / "x.npz", samples=array)
    np.testing.assert_array_equal(load_array(str(tmp_path / "x.npz"), "X"), array)


def test_load_npz_key(tmp_path, array):
    np.savez(tmp_path / "both.npz", real=array, fake=2 * array)
    np.testing.assert_array_equal(load_array(f"{tmp_path / 'both.npz'}:fake", "Y"), 2 * array)
    np.testing.assert_array_equal(load_array(f"{tmp_path / 'both.npz'}:real", "X"), array)


def test_load_npz_ambiguous(tmp_path, array):
    np.savez(tmp_path / "both.npz", real=array, fake=array)
    with pytest.raises(ValueError, match=r"X: .*both.npz holds 2 arrays \(real, fake\); name one as .*both.npz:KEY"):
        load_array(str(tmp_path / "both.npz"), "X")


def test_load_npz_missing_key(tmp_path, array):
    np.savez(tmp_path / "both.npz", real=array, fake=array)
    with pytest.raises(ValueError, match="has no array 'generated'; it holds real, fake"):
        load_array(f"{tmp_path / 'both.npz'}:generated", "Y")


def test_load_npy_object_array_rejected(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([np.zeros(2), "text"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="X: .*objects.npy could not be read without unpickling"):
        load_array(str(tmp_path / "objects.npy"), "X")


def test_load_npz_object_array_rejected(tmp_path):
    np.savez(tmp_path / "objects.npz", values=np.array([np.zeros(2), "text"], dtype=object))
    with pytest.raises(ValueError, match="X: array 'values' in .*objects.npz could not be read without unpickling"):
        load_array(str(tmp_path / "objects.npz"), "X")


def test_load_never_unpickles(tmp_path):
    marker = tmp_path / "code_ran"
    with open(tmp_path / "payload.npy", "wb") as stream:
        pickle.dump(_CreatesFileWhenUnpickled(str(marker)), stream)
    # A raw pickle lacks the .npy signature, so it is rejected before np.load.
    with pytest.raises(ValueError, match="not a NumPy .npy file"):
        load_array(str(tmp_path / "payload.npy"), "X")
    assert not marker.exists()


def test_text_file_with_npy_suffix_named_as_text(tmp_path):
    (tmp_path / "points.npy").write_text("1.0,2.0\n3.0,4.0\n")
    with pytest.raises(ValueError, match=r"Y: .*points.npy is not a NumPy .npy file.*b'1.0,2.'.*\.csv"):
        load_array(str(tmp_path / "points.npy"), "Y")
    (tmp_path / "points.npz").write_text("1.0,2.0\n")
    with pytest.raises(ValueError, match=r"Y: .*points.npz is not a .npz \(zip\) file"):
        load_array(str(tmp_path / "points.npz"), "Y")


def test_load_truncated_npy(tmp_path, array):
    np.save(tmp_path / "x.npy", array)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:100])
    with pytest.raises(ValueError, match="X: .*cut.npy could not be read"):
        load_array(str(tmp_path / "cut.npy"), "X")


def test_load_truncated_npz(tmp_path, array):
    np.savez(tmp_path / "x.npz", real=array)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "x.npz").read_bytes()[:120])
    with pytest.raises(ValueError, match="X: .*cut.npz could not be read"):
        load_array(str(tmp_path / "cut.npz"), "X")


def test_load_corrupted_npz_member(tmp_path, array):
    np.savez(tmp_path / "x.npz", real=array)
    content = bytearray((tmp_path / "x.npz").read_bytes())
    # Overwrite part of the member's data (after its headers), which breaks its CRC.
    content[200:240] = bytes(40)
    (tmp_path / "bad.npz").write_bytes(bytes(content))
    with pytest.raises(ValueError, match="X: array 'real' in .*bad.npz could not be read"):
        load_array(str(tmp_path / "bad.npz"), "X")


# --- CSV files -----------------------------------------------------------------------


def test_load_csv_without_header(tmp_path, array):
    np.savetxt(tmp_path / "x.csv", array, delimiter=",")
    np.testing.assert_allclose(load_array(str(tmp_path / "x.csv"), "X"), array, rtol=1e-15)


def test_load_csv_with_header(tmp_path, array):
    np.savetxt(tmp_path / "x.csv", array, delimiter=",", header="a,b,c", comments="")
    loaded = load_array(str(tmp_path / "x.csv"), "X")
    assert loaded.shape == (7, 3)
    np.testing.assert_allclose(loaded, array, rtol=1e-15)


def test_load_csv_one_column(tmp_path):
    (tmp_path / "x.csv").write_text("value\n1.5\n2.5\n-3\n")
    np.testing.assert_array_equal(load_array(str(tmp_path / "x.csv"), "X"), [[1.5], [2.5], [-3.0]])


def test_load_csv_one_row(tmp_path):
    (tmp_path / "x.csv").write_text("1,2,3\n")
    np.testing.assert_array_equal(load_array(str(tmp_path / "x.csv"), "X"), [[1.0, 2.0, 3.0]])


def test_load_csv_nan_kept(tmp_path):
    # Non-finite values reach the sample checks, which report their position.
    (tmp_path / "x.csv").write_text("1,2\nnan,4\n")
    loaded = load_array(str(tmp_path / "x.csv"), "X")
    assert np.isnan(loaded[1, 0])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the CSV file has no data rows"),
        ("a,b\n", "the CSV file has no data rows"),
        ("a,b\n1,2\n3,oops\n", "could not read a numeric CSV table"),
        ("1,2\n3\n", "could not read a numeric CSV table"),
        ("a,b\nc,d\n1,2\n", "could not read a numeric CSV table"),
    ],
    ids=["empty", "header-only", "text-cell", "ragged", "two-headers"],
)
def test_load_csv_invalid(tmp_path, text, message):
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_array(str(tmp_path / "x.csv"), "X")


# --- paths ---------------------------------------------------------------------------


def test_load_missing_file(tmp_path):
    with pytest.raises(ValueError, match="X: file not found: .*absent.npy"):
        load_array(str(tmp_path / "absent.npy"), "X")


def test_load_unsupported_suffix(tmp_path):
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"X: unsupported file type '.txt' .*use one of .npy, .npz, .csv"):
        load_array(str(tmp_path / "x.txt"), "X")


def test_load_directory(tmp_path):
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(ValueError, match="X: .*folder.npy is not a file"):
        load_array(str(tmp_path / "folder.npy"), "X")
