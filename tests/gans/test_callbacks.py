"""Tests of the sample plots and the metrics callback."""

import keras
import numpy as np
import pytest

from discrepancy import datasets, gans
from discrepancy.gans import _callbacks, _networks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make", [datasets.ring, datasets.high_dim_ring])
def test_plot_points_over_modes(tmp_path, make):
    mixture = make(200, seed=0)
    path = _callbacks.plot_samples(mixture.samples, tmp_path / "points.png", modes=mixture, title="t")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert list(tmp_path.glob("*.tmp")) == []  # the temporary file was renamed


def test_plot_image_grid(tmp_path):
    images = datasets.stacked_digits(30, seed=0).samples
    path = _callbacks.plot_samples(images, tmp_path / "images.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_mode_metrics_perfect_samples():
    mixture = datasets.ring(800, seed=1)
    scores = _callbacks.mode_metrics(mixture.samples, mixture)
    assert scores["modes_captured"] == 8
    # Real samples lie within 3 std of their mode with probability
    # 1 - exp(-9/2) = 0.989 in 2-D; 800 samples give a standard error of 0.004.
    assert scores["high_quality_fraction"] > 0.97
    assert scores["mode_kl"] < 0.02


def test_metrics_and_plot_callbacks(tmp_path):
    mixture = datasets.ring(256, seed=0)
    model = gans.GAN(_networks.mlp_generator(2, latent_dim=4, hidden_units=(8,)),
                     _networks.mlp_critic(hidden_units=(8,)), seed=0)
    model.compile(jit_compile=False)
    metrics = _callbacks.MetricsCallback(lambda s: _callbacks.mode_metrics(s, mixture), num_samples=100)
    plots = _callbacks.SamplePlotCallback(tmp_path / "samples.png", modes=mixture, num_samples=100)
    history = model.fit(mixture.samples, batch_size=32, epochs=2, steps_per_epoch=1,
                        callbacks=[metrics, plots], verbose=0)

    assert len(history.history["modes_captured"]) == 2
    assert set(metrics.latest) == {"modes_captured", "num_modes", "high_quality_fraction", "mode_kl"}
    assert (tmp_path / "samples.png").read_bytes()[:8] == PNG_SIGNATURE


def test_energy_callback_reports(tmp_path):
    model = gans.GAN(_networks.mlp_generator(2, latent_dim=4, hidden_units=(8,)),
                     _networks.mlp_critic(hidden_units=(8,)), seed=0)
    model.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), jit_compile=False)
    energy = gans.EnergyCallback()
    model.fit(datasets.ring(64, seed=0).samples, batch_size=32, epochs=1, callbacks=[energy], verbose=0)
    assert energy.result["joules"] >= 0.0
    assert energy.result["duration_seconds"] > 0.0
    assert energy.result["sources"]
