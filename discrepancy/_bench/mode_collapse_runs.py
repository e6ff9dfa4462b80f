"""Training and scoring of one run of the mode-collapse benchmark (see `mode_collapse`)."""

from __future__ import annotations

import functools
import logging
import time
import warnings
from typing import Any

import numpy as np

from discrepancy._bench.mode_collapse import NUM_TRAIN, REFERENCE, Run

__all__ = ["mixture_modes", "training_data", "high_quality_threshold", "score_samples", "project_to_plane",
           "build_model", "run_one"]

logger = logging.getLogger("discrepancy.gans")

# Seeds of the NumPy draws of real data. Training data use 1000 + the run
# seed, so they differ from the held-out evaluation and reference sets for
# every run seed below 887888. Generator noise comes from TensorFlow's
# stateless generator, seeded by the run seed.
_TRAIN_SEED_OFFSET = 1000
_EVALUATION_SEED = 999_999
_REFERENCE_SEED = 888_888

# Points (mixtures) and images (stacked digits) kept per run for the figure.
_FIGURE_POINTS = 500
_FIGURE_IMAGES = 25


def mixture_modes(dataset: str):
    """Returns a one-sample draw of a mixture, for its mode means, stds and settings."""
    return _mixture(dataset, 1, 0)


def _mixture(dataset: str, num_samples: int, seed: int):
    from discrepancy import datasets

    makers = {"ring": datasets.ring, "grid": datasets.grid, "high_dim_ring": datasets.high_dim_ring}
    return makers[dataset](num_samples, seed=seed)


def training_data(dataset: str, seed: int) -> np.ndarray:
    """Draws the real training samples of a run."""
    if dataset == "stacked_digits":
        from discrepancy import datasets

        return datasets.stacked_digits(NUM_TRAIN, seed=_TRAIN_SEED_OFFSET + seed).samples
    return _mixture(dataset, NUM_TRAIN, _TRAIN_SEED_OFFSET + seed).samples


def high_quality_threshold(dataset: str) -> float:
    """Returns the std-normalised distance within which a sample of a mixture is high quality.

    This is the dataset's own `high_quality_threshold`: 3 for the ring and
    grid, as in PacGAN and VEEGAN. For high_dim_ring it is the 0.999
    quantile of a real sample's normalised distance to its mean (about
    28.7), because VEEGAN's 10 std would reject every real sample of this
    700-D mixture.
    """
    return float(mixture_modes(dataset).high_quality_threshold)


@functools.lru_cache(maxsize=1)
def _digits_classifier():
    from discrepancy.metrics import DigitsClassifier

    return DigitsClassifier()


@functools.lru_cache(maxsize=8)
def _real_evaluation_set(dataset: str, num_samples: int) -> np.ndarray:
    """Returns held-out real samples, or their classifier features for stacked digits; cached per run set."""
    if dataset == "stacked_digits":
        from discrepancy import datasets

        images = datasets.stacked_digits(num_samples, seed=_EVALUATION_SEED).samples
        return _digits_classifier().features(images, value_range=(0.0, 1.0))
    return _mixture(dataset, num_samples, _EVALUATION_SEED).samples


def score_samples(dataset: str, samples: np.ndarray) -> dict[str, Any]:
    """Scores generated samples of a dataset: mode coverage, FID and the samples kept for the figure.

    Stacked digits also get the mode KL's two parts, `channel_kl` and
    `total_correlation` (see `discrepancy.datasets.mode_kl_parts`).
    """
    from discrepancy.metrics import fid, mode_coverage

    num_samples = samples.shape[0]
    real = _real_evaluation_set(dataset, num_samples)

    if dataset == "stacked_digits":
        from discrepancy.datasets._stacked_digits import mode_kl_parts, mode_probabilities

        classifier = _digits_classifier()
        labels = classifier.predict(samples, value_range=(0.0, 1.0))
        features = classifier.features(samples, value_range=(0.0, 1.0))
        coverage = mode_coverage(labels=labels, num_modes=1000, weights=mode_probabilities())
        kl_parts = dict(zip(("channel_kl", "total_correlation"), mode_kl_parts(labels)))
        distance = fid(real, features)
        figure = np.round(samples[:_FIGURE_IMAGES].astype(np.float64), 3)
    else:
        modes = mixture_modes(dataset)
        with warnings.catch_warnings():
            # A run without high-quality samples is a result here (recorded as
            # an infinite KL), not a mistake in the call.
            warnings.filterwarnings("ignore", message="No sample is high quality", category=RuntimeWarning)
            coverage = mode_coverage(samples.astype(np.float64), modes.means, modes.stds,
                                     threshold=high_quality_threshold(dataset))
        distance = fid(real, samples)
        figure = np.round(project_to_plane(samples[:_FIGURE_POINTS], modes.means), 4)
        kl_parts = {}

    return {
        "modes": int(coverage.modes_captured),
        "num_modes": int(coverage.num_modes),
        "high_quality": float(coverage.high_quality_fraction),
        "kl": float(coverage.kl),
        "fid": float(distance),
        **kl_parts,
        "figure_samples": figure.tolist(),
    }


def project_to_plane(points: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Returns 2-D points as they are, or projects them onto the plane of the mode means.

    The plane is spanned by the two leading principal axes of the means,
    which for high_dim_ring is the plane of its ring.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[1] == 2:
        return points
    means = np.asarray(means, dtype=np.float64)
    centre = means.mean(axis=0)
    _, _, axes = np.linalg.svd(means - centre, full_matrices=False)
    return (points - centre) @ axes[:2].T


# Training.


def build_model(run: Run, sample_shape: tuple[int, ...]):
    """Builds and compiles the model of a run, with networks initialised from the run's seed."""
    import keras

    from discrepancy.gans import _networks
    from discrepancy.gans._gan import GAN
    from discrepancy.gans._variants import VEEGAN

    config = run.method
    keras.utils.set_random_seed(run.seed)
    if len(sample_shape) == 1:
        generator = _networks.mlp_generator(sample_shape[0], latent_dim=config.latent_dim,
                                            hidden_units=config.hidden_units)
        critic = _networks.mlp_critic(hidden_units=config.hidden_units)
    elif config.networks in ("mlp", "channel-critic"):
        generator = _networks.mlp_image_generator(sample_shape, latent_dim=config.latent_dim,
                                                  hidden_units=config.hidden_units)
        if config.networks == "mlp":
            critic = _networks.mlp_critic(hidden_units=config.hidden_units)
        else:
            critic = _networks.channel_critic(sample_shape[:2])
    else:
        generator, critic, _ = _networks.default_networks(sample_shape)
        if config.model == "veegan":
            # VEEGAN's critic takes (noise, flattened image) vectors, so it is an MLP.
            critic = _networks.mlp_critic()

    options = dict(divergence=config.divergence, critic_steps=config.critic_steps, seed=run.seed,
                   sample_shape=sample_shape, **config.model_options, **_matching_options(run),
                   **_independence_options(run))
    if config.model == "veegan":
        model = VEEGAN(generator, critic, **options)
    else:
        model = GAN(generator, critic, pack=config.pack, **options)

    def optimizer():
        # Cosine decay to the final rate sharpens the modes at the end of training.
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, run.steps, alpha=config.final_learning_rate / config.learning_rate)
        return keras.optimizers.Adam(schedule, beta_1=0.5, beta_2=0.9)

    model.compile(optimizer(), optimizer(), jit_compile=config.jit_compile)
    return model


def _matching_options(run: Run) -> dict[str, Any]:
    """Returns the model's sample-matching arguments from a configuration's `matching`."""
    from discrepancy.gans import _objectives

    matching = dict(run.method.matching)
    if not matching:
        return {}
    divergence = matching.get("divergence", "mmd")
    if divergence == "mmd" and "bandwidth" in matching:
        divergence = _objectives.MMDObjective(bandwidth=tuple(matching["bandwidth"]))
    decay_steps = None
    if matching.get("decay_fraction") is not None:
        decay_steps = max(1, round(matching["decay_fraction"] * run.steps))
    return {"sample_matching": divergence, "sample_matching_weight": matching.get("weight", 1.0),
            "sample_matching_decay_steps": decay_steps,
            "sample_matching_final_weight": matching.get("final_weight", 0.0),
            "sample_matching_size": matching.get("size", 512)}


def _independence_options(run: Run) -> dict[str, Any]:
    """Returns the model's channel-independence arguments from a configuration's `independence`."""
    from discrepancy.gans import _objectives

    independence = dict(run.method.independence)
    if not independence:
        return {}
    return {"channel_independence": _objectives.MMDObjective(bandwidth=tuple(independence["bandwidth"])),
            "channel_independence_weight": independence.get("weight", 1.0)}


def _reference_samples(run: Run) -> np.ndarray:
    """Draws the held-out real samples that the real-data reference scores."""
    if run.dataset == "stacked_digits":
        from discrepancy import datasets

        return datasets.stacked_digits(run.num_eval_samples, seed=_REFERENCE_SEED).samples
    return _mixture(run.dataset, run.num_eval_samples, _REFERENCE_SEED).samples


def run_one(run: Run) -> dict[str, Any]:
    """Trains and scores one run; returns its record for the results file.

    A run whose losses or samples become NaN or inf stops early and is
    recorded with `diverged` true and no scores.
    """
    from discrepancy.gans._energy import EnergyMeter
    from discrepancy.gans._gan import TrainingDivergedError

    record: dict[str, Any] = {
        "dataset": run.dataset, "method": run.method.name, "seed": run.seed,
        "fingerprint": run.fingerprint, "steps": run.steps, "batch_size": run.batch_size,
        "num_eval_samples": run.num_eval_samples,
    }
    if run.method.name == REFERENCE:
        samples = _reference_samples(run)
        return {**record, **score_samples(run.dataset, samples), "diverged": False,
                "seconds": 0.0, "joules": 0.0, "energy_is_estimate": False}

    real = training_data(run.dataset, run.seed)
    model = build_model(run, tuple(real.shape[1:]))

    meter = EnergyMeter()
    meter.start()
    started = time.perf_counter()
    try:
        model.fit(real, batch_size=run.batch_size, epochs=1, steps_per_epoch=run.steps, verbose=0)
    except TrainingDivergedError:
        # Recorded below as a diverged run, at the step where it stopped.
        pass
    seconds = time.perf_counter() - started
    energy = meter.stop()

    record.update({"steps_completed": model.step, "seconds": seconds, "joules": energy["joules"],
                   "energy_is_estimate": bool(energy["is_estimate"]),
                   "energy_sources": energy["sources"]})
    samples = model.generate(run.num_eval_samples, seed=run.seed)
    if not np.all(np.isfinite(samples)) or model.step < run.steps:
        logger.warning("%s on %s, seed %d: training diverged at step %d (NaN or inf)",
                       run.method.name, run.dataset, run.seed, model.step)
        return {**record, "diverged": True}
    return {**record, **score_samples(run.dataset, samples), "diverged": False}
