"""Tests of the mode-collapse benchmark's scoring, on real samples (no training)."""

import numpy as np
from scipy import stats

from discrepancy import datasets
from discrepancy._bench import mode_collapse_runs
from discrepancy.metrics import mode_coverage


def test_high_dim_threshold_keeps_real_samples():
    threshold = mode_collapse_runs.high_quality_threshold("high_dim_ring")
    np.testing.assert_allclose(threshold, np.sqrt(stats.chi2.ppf(0.999, 700)), rtol=1e-12)
    assert threshold < 0.5 * 2 * np.sin(np.pi / 10) / 0.01  # half the gap between modes, in std

    # Scored without score_samples, whose 1200-D FID takes most of a minute on a loaded machine.
    real = datasets.high_dim_ring(1000, seed=3)
    coverage = mode_coverage(real.samples, real.means, real.stds, threshold=threshold)
    # 99.9 % of real samples lie inside, and 0.99 leaves room for sampling noise.
    assert coverage.high_quality_fraction > 0.99
    assert coverage.modes_captured == 10


def test_ring_scores_real_samples():
    scores = mode_collapse_runs.score_samples("ring", datasets.ring(2500, seed=3).samples)
    assert scores["modes"] == 8
    assert scores["num_modes"] == 8
    # Beyond 3 std lie 1.1 % of 2-D Gaussian samples (exp(-9 / 2)).
    assert abs(scores["high_quality"] - (1 - np.exp(-4.5))) < 0.01
    assert scores["fid"] < 0.01
    assert np.asarray(scores["figure_samples"]).shape == (500, 2)


def test_ring_scores_collapsed_samples():
    collapsed = np.tile(datasets.ring(1, seed=0).means[:1], (2500, 1))
    scores = mode_collapse_runs.score_samples("ring", collapsed)
    assert scores["modes"] == 1
    np.testing.assert_allclose(scores["kl"], np.log(8.0), rtol=1e-12)  # KL(point mass || uniform on 8)


def test_digits_scores_real_images():
    images = datasets.stacked_digits(3000, seed=3).samples
    scores = mode_collapse_runs.score_samples("stacked_digits", images)
    assert scores["num_modes"] == 1000
    assert scores["high_quality"] == 1.0  # every classified image has a label
    # 3000 draws over about 1000 near-equal modes miss exp(-3) of them: about 950 captured.
    assert 900 < scores["modes"] < 990
    assert np.asarray(scores["figure_samples"]).shape == (25, 8, 8, 3)


def test_project_to_plane_keeps_ring_geometry():
    modes = mode_collapse_runs.mixture_modes("high_dim_ring")
    projected = mode_collapse_runs.project_to_plane(modes.means, modes.means)
    radii = np.linalg.norm(projected - projected.mean(axis=0), axis=1)
    np.testing.assert_allclose(radii, 1.0, rtol=1e-5)  # float32 means, radius 1


def test_diverged_run_is_recorded(monkeypatch, overflowing_gan):
    from discrepancy._bench import mode_collapse

    monkeypatch.setattr(mode_collapse_runs, "build_model",
                        lambda run, sample_shape: overflowing_gan(seed=run.seed))
    run = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"], steps=20)[1]
    record = mode_collapse_runs.run_one(run)
    assert record["diverged"] is True
    assert record["steps_completed"] == 1
    assert "modes" not in record
