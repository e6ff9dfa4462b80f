"""Tests for precision/recall and density/coverage."""

import contextlib
import io

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from discrepancy.metrics import density_coverage, precision_recall

DTYPES = [np.float32, np.float64]


def reference_prdc(real, fake, k):
    """Brute-force float64 definitions with closed balls and index-excluded centres."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)

    def radii(points):
        distances = cdist(points, points)
        np.fill_diagonal(distances, np.inf)
        return np.sort(distances, axis=1)[:, k - 1]

    real_radii = radii(real)
    cross = cdist(real, fake)  # [n, m]
    in_real_balls = cross <= real_radii[:, None]
    result = {
        "precision": in_real_balls.any(axis=0).mean(),
        "density": in_real_balls.sum() / (k * fake.shape[0]),
        "coverage": in_real_balls.any(axis=1).mean(),
    }
    if fake.shape[0] > k:
        fake_radii = radii(fake)
        result["recall"] = (cross <= fake_radii[None, :]).any(axis=1).mean()
    return result


def assert_matches_reference(real, fake, k, **options):
    expected = reference_prdc(real, fake, k)
    precision, recall = precision_recall(real=real, fake=fake, k=k, **options)
    density, coverage = density_coverage(real=real, fake=fake, k=k, **options)
    assert precision == expected["precision"]
    assert recall == expected["recall"]
    assert density == pytest.approx(expected["density"], rel=1e-12)
    assert coverage == expected["coverage"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_features", [1, 5, 64])
def test_matches_reference_continuous(dtype, num_features):
    rng = np.random.default_rng(1)
    real = rng.normal(size=(70, num_features)).astype(dtype)
    fake = (rng.normal(size=(53, num_features)) * 1.2 + 0.3).astype(dtype)
    assert_matches_reference(real, fake, 3, tile_size=16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_features", [2, 20])
@pytest.mark.parametrize("tile_size", [8, 1024])
def test_matches_reference_ties(dtype, num_features, tile_size):
    # Integer grid points: many distances equal radii exactly, and the
    # squared distances are exact in both dtypes, so the closed-ball rule
    # decides every tie. The default tile size makes blocks of 128 columns,
    # which take the chunked k-smallest selection.
    rng = np.random.default_rng(2)
    real = rng.integers(0, 3, size=(120, num_features)).astype(dtype)
    fake = rng.integers(0, 4, size=(100, num_features)).astype(dtype)
    assert_matches_reference(real, fake, 3, tile_size=tile_size)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7, 1.0])
def test_matches_reference_duplicates(fraction):
    rng = np.random.default_rng(3)
    real = rng.normal(size=(40, 12))
    num_copies = int(round(fraction * 40))
    if num_copies == 40:
        real[:] = real[0]
    else:
        # The first rows become copies of the remaining rows.
        real[:num_copies] = real[rng.integers(num_copies, 40, size=num_copies)]
    fake = np.concatenate([real[:10], rng.normal(size=(30, 12))])
    assert_matches_reference(real, fake, 4)


def test_matches_prdc_package():
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(4)
    real = rng.normal(size=(300, 16))
    fake = rng.normal(size=(250, 16)) + 0.2
    # prdc uses open balls; with continuous data no distance equals a radius,
    # so both conventions give the same values.
    with contextlib.redirect_stdout(io.StringIO()):
        expected = prdc.compute_prdc(real, fake, nearest_k=5)
    precision, recall = precision_recall(real=real, fake=fake, k=5)
    density, coverage = density_coverage(real=real, fake=fake, k=5)
    assert precision == expected["precision"]
    assert recall == expected["recall"]
    assert density == pytest.approx(expected["density"], rel=1e-12)
    assert coverage == expected["coverage"]


def test_swap_swaps_precision_and_recall():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(60, 3))
    fake = rng.normal(size=(45, 3)) * 2.0
    forward = precision_recall(real=real, fake=fake)
    backward = precision_recall(real=fake, fake=real)
    assert forward.precision == backward.recall
    assert forward.recall == backward.precision
    assert forward.precision != forward.recall


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_sets_score_one(dtype):
    real = np.random.default_rng(6).normal(size=(50, 20)).astype(dtype)
    precision, recall = precision_recall(real=real, fake=real.copy())
    density, coverage = density_coverage(real=real, fake=real.copy(), k=5)
    assert precision == 1.0
    assert recall == 1.0
    assert coverage == 1.0
    # Each ball contains its centre's copy and k neighbours (no ties in
    # continuous data): density = (k + 1) / k.
    assert density == pytest.approx(6 / 5, rel=1e-12)


def test_all_points_identical():
    points = np.full((8, 3), 2.5)
    precision, recall = precision_recall(real=points, fake=points[:5], k=3)
    density, coverage = density_coverage(real=points, fake=points[:5], k=3)
    assert (precision, recall) == (1.0, 1.0)
    # Every fake sample lies in all 8 balls of radius 0: density = 8 / k.
    assert density == pytest.approx(8 / 3, rel=1e-12)
    assert coverage == 1.0


def test_sizes_k_and_k_plus_one():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(4, 2))
    fake = rng.normal(size=(4, 2))
    assert_matches_reference(real, fake, 3)
    with pytest.raises(ValueError, match="at least 4 samples"):
        precision_recall(real=real[:3], fake=fake, k=3)
    with pytest.raises(ValueError, match="`fake`"):
        precision_recall(real=real, fake=fake[:3], k=3)
    with pytest.raises(ValueError, match="at least 6 samples"):
        density_coverage(real=real, fake=fake, k=5)


def test_single_fake_point():
    rng = np.random.default_rng(8)
    real = rng.normal(size=(20, 2))
    fake = real[:1] + 1e-3
    expected = reference_prdc(real, fake, 3)
    density, coverage = density_coverage(real=real, fake=fake, k=3)
    assert density == pytest.approx(expected["density"], rel=1e-12)
    assert coverage == expected["coverage"]
    with pytest.raises(ValueError, match="`fake`"):
        precision_recall(real=real, fake=fake, k=3)


def test_single_real_point():
    with pytest.raises(ValueError, match="`real`"):
        density_coverage(real=np.zeros((1, 2)), fake=np.zeros((5, 2)), k=1)


def test_result_unpacks_as_pairs():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(30, 2)), rng.normal(size=(25, 2))
    result = precision_recall(real=real, fake=fake)
    precision, recall = result
    assert (precision, recall) == (result.precision, result.recall)
    assert len(result) == 2
    assert result.k == 3
    assert (result.num_real, result.num_fake) == (30, 25)
    assert result.fake_in_real_balls.shape == (25,)
    density_result = density_coverage(real=real, fake=fake)
    assert tuple(density_result) == (density_result.density, density_result.coverage)
    assert density_result.ball_counts.shape == (25,)


def test_large_offset_small_spread():
    rng = np.random.default_rng(10)
    real = (1e4 + 1e-2 * rng.normal(size=(60, 10))).astype(np.float32)
    fake = (1e4 + 1e-2 * rng.normal(size=(60, 10))).astype(np.float32)
    assert_matches_reference(real, fake, 3)


def test_bad_input():
    real = np.zeros((10, 2))
    with pytest.raises(TypeError):
        precision_recall(real, real)
    with pytest.raises(ValueError, match="same number of features"):
        precision_recall(real=real, fake=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        density_coverage(real=real, fake=np.full((10, 2), np.inf))
    with pytest.raises(ValueError, match="`k` must be at least 1"):
        density_coverage(real=real, fake=real, k=0)
    with pytest.raises(ValueError, match="shape"):
        precision_recall(real=np.zeros((10, 2, 2)), fake=real)
