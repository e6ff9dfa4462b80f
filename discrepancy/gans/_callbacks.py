"""Keras callbacks for GAN training: checkpoints, sample plots, metrics and energy use."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from discrepancy.gans._energy import DEFAULT_WATTS_PER_CORE, EnergyMeter

__all__ = [
    "CheckpointCallback",
    "EnergyCallback",
    "MetricsCallback",
    "SamplePlotCallback",
    "make_checkpoint",
    "mode_metrics",
    "plot_samples",
]

logger = logging.getLogger("discrepancy.gans")


def make_checkpoint(model) -> tf.train.Checkpoint:
    """Returns a checkpoint of everything that determines how a GAN continues.

    It contains the generator's and critic's variables (including non-trainable
    state such as spectral-normalisation vectors), both optimizers (moments,
    iteration counts and, under mixed precision, the dynamic loss scale), the
    seed state [seed, step] and, when the model keeps them, the averaged
    generator weights. Networks and optimizers are built first, so
    a checkpoint can be restored into a freshly constructed model.
    """
    with model.distribute_strategy.scope():
        model.build_networks()
    parts = {
        "generator": list(model.generator.variables),
        "g_optimizer": model.g_optimizer,
        "seed_state": model.seed_state,
    }
    if model.critic is not None:
        parts["critic"] = list(model.critic.variables)
        parts["d_optimizer"] = model.d_optimizer
    for name, network in getattr(model, "extra_networks", lambda: {})().items():
        parts[name] = list(network.variables)
    if model.ema_weights:
        parts["generator_ema"] = model.ema_weights
    return tf.train.Checkpoint(**parts)


class CheckpointCallback(keras.callbacks.Callback):
    """Saves checkpoints with `tf.train.CheckpointManager`, and on SIGINT or SIGTERM.

    A save writes the variables to temporary files and renames them, then
    rewrites the manager's index file atomically, so an interrupted save
    never replaces the last good checkpoint. Call `restore(model)` before
    `fit` to resume: the seed state and the optimizers come back with the
    weights, so the resumed run takes the same steps as an uninterrupted one.

    On SIGINT (Ctrl-C) or SIGTERM during `fit`, the current step finishes, a
    checkpoint is saved, training stops, and `fit` raises KeyboardInterrupt
    (SIGINT) or SystemExit(128 + 15) (SIGTERM). The handlers are installed
    only in the main thread, for the duration of `fit`.

    Args:
      directory: folder of the checkpoints.
      every_steps: save every this many generator steps; None saves at the
        end of every epoch only.
      max_to_keep: number of checkpoints kept.
    """

    def __init__(self, directory: str | os.PathLike, *, every_steps: int | None = None, max_to_keep: int = 3):
        super().__init__()
        self.directory = str(directory)
        self.every_steps = every_steps
        self.max_to_keep = max_to_keep
        self._manager: tf.train.CheckpointManager | None = None
        self._bound_model = None
        self._signal_received: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._scratch_directory: str | None = None

    def _manager_for(self, model) -> tf.train.CheckpointManager:
        if self._manager is None or self._bound_model is not model:
            self._manager = tf.train.CheckpointManager(
                make_checkpoint(model), self._writable_directory(model), max_to_keep=self.max_to_keep
            )
            self._bound_model = model
        return self._manager

    def _writable_directory(self, model) -> str:
        """Returns `directory`, or a private temporary folder on a non-chief worker.

        Under MultiWorkerMirroredStrategy every worker must take part in a save,
        but only the chief's copy is kept; the others write to a temporary
        folder so they never overwrite the chief's files.
        """
        if getattr(model.distribute_strategy.extended, "should_checkpoint", True):
            return self.directory
        if self._scratch_directory is None:
            self._scratch_directory = tempfile.mkdtemp(prefix="discrepancy-worker-checkpoint-")
        return self._scratch_directory

    def restore(self, model) -> int:
        """Restores the latest checkpoint into `model`; returns its step (0 when none exists)."""
        checkpoint = self._manager_for(model).checkpoint
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return 0
        checkpoint.restore(latest).assert_existing_objects_matched()
        logger.info("restored %s at step %d", latest, model.step)
        return model.step

    def save(self, model=None) -> str:
        """Saves a checkpoint numbered by the model's step; returns its path."""
        model = model or self.model
        path = self._manager_for(model).save(checkpoint_number=model.step)
        logger.info("saved checkpoint %s", path)
        return path

    def _handle_signal(self, signum, frame):
        del frame
        self._signal_received = signum
        self.model.stop_training = True
        logger.warning("received signal %d; saving a checkpoint after the current step", signum)

    def on_train_begin(self, logs=None):
        self._signal_received = None
        self._manager_for(self.model)
        if threading_is_main():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous_handlers[signum] = signal.signal(signum, self._handle_signal)

    def on_train_batch_end(self, batch, logs=None):
        if self._signal_received is not None:
            return
        if self.every_steps and self.model.step % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        if self._signal_received is None and not self.every_steps:
            self.save()

    def on_train_end(self, logs=None):
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

        if self._scratch_directory is not None:
            shutil.rmtree(self._scratch_directory, ignore_errors=True)
            self._scratch_directory = None
            self._manager = None

        received, self._signal_received = self._signal_received, None
        if received is not None:
            self.save()
            if received == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + int(received))


def threading_is_main() -> bool:
    """Returns whether the caller runs in the main thread (the only one that may set signal handlers)."""
    import threading

    return threading.current_thread() is threading.main_thread()


class EnergyCallback(keras.callbacks.Callback):
    """Measures the energy used during `fit`; the report is in `self.result`.

    See `discrepancy.gans._energy` for the sources (RAPL, NVML, or an
    estimate from CPU time labelled as such). The report is also logged.
    """

    def __init__(self, *, watts_per_core: float = DEFAULT_WATTS_PER_CORE):
        super().__init__()
        self.meter = EnergyMeter(watts_per_core=watts_per_core)
        self.result: dict[str, Any] | None = None

    def on_train_begin(self, logs=None):
        self.meter.start()

    def on_train_end(self, logs=None):
        self.result = self.meter.stop()
        label = "estimated" if self.result["is_estimate"] else "measured"
        logger.info("energy %s: %.1f J (%.4f Wh) over %.1f s, sources %s", label,
                    self.result["joules"], self.result["watt_hours"],
                    self.result["duration_seconds"], ", ".join(self.result["sources"]))


def mode_metrics(samples: np.ndarray, modes) -> dict[str, float]:
    """Scores samples against a `MixtureSample`'s modes with `discrepancy.metrics.mode_coverage`."""
    from discrepancy.metrics import mode_coverage

    flat = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    coverage = mode_coverage(flat, modes.means, modes.stds, threshold=modes.high_quality_threshold)
    return {
        "modes_captured": int(coverage.modes_captured),
        "num_modes": int(coverage.num_modes),
        "high_quality_fraction": float(coverage.high_quality_fraction),
        "mode_kl": float(coverage.kl),
    }


def digit_metrics(images: np.ndarray) -> dict[str, float]:
    """Scores stacked-digit images [n, 8, 8, 3] in [0, 1] with the shipped digits classifier.

    Each channel is labelled with a digit, which gives one of 1000 modes, and
    `mode_coverage` compares the mode histogram with the dataset's exact mode
    probabilities (KL(generated || target)). Every labelled image counts as
    high quality. The histogram KL of a perfect generator is biased up by
    about 999 / (2 n) nats on n images, so score at least tens of thousands
    (PacGAN's tables use 26000). The KL's two parts are returned beside it:
    `channel_kl`, the sum of the channels' digit-share KLs, and
    `total_correlation`, the dependence between channels (see
    `discrepancy.datasets.mode_kl_parts`).
    """
    from discrepancy.datasets._stacked_digits import mode_kl_parts, mode_probabilities
    from discrepancy.metrics import DigitsClassifier, mode_coverage

    labels = DigitsClassifier().predict(np.asarray(images), value_range=(0.0, 1.0))
    coverage = mode_coverage(labels=labels, num_modes=1000, weights=mode_probabilities())
    channel_kl, total_correlation = mode_kl_parts(labels)
    return {
        "modes_captured": int(coverage.modes_captured),
        "num_modes": int(coverage.num_modes),
        "high_quality_fraction": float(coverage.high_quality_fraction),
        "mode_kl": float(coverage.kl),
        "channel_kl": channel_kl,
        "total_correlation": total_correlation,
    }


class MetricsCallback(keras.callbacks.Callback):
    """Scores generated samples every few epochs and adds the scores to the epoch logs.

    Args:
      score: function from generated samples [n, ...] to a dict of floats,
        for example `lambda s: mode_metrics(s, modes)`.
      num_samples: number of samples generated for each evaluation.
      every_epochs: evaluate after every this many epochs (and at the end).
      seed: noise seed for the evaluation samples, the same every time.
    """

    def __init__(self, score: Callable[[np.ndarray], dict[str, float]], *, num_samples: int = 2500,
                 every_epochs: int = 1, seed: int = 0):
        super().__init__()
        self.score = score
        self.num_samples = num_samples
        self.every_epochs = every_epochs
        self.seed = seed
        self.latest: dict[str, float] = {}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        self.latest = self.score(self.model.generate(self.num_samples, seed=self.seed))
        logger.info("step %d: %s", self.model.step, self.latest)
        if logs is not None:
            logs.update(self.latest)


def _atomic_savefig(figure, path: Path) -> None:
    """Writes a matplotlib figure as PNG through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".png.tmp")
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def plot_samples(samples: np.ndarray, path: str | os.PathLike, *, modes=None, title: str = "") -> Path:
    """Writes a PNG of generated samples: points over the true modes, or an image grid.

    Vectors of dimension 2 are drawn as they are; higher dimensions are
    projected onto the two leading principal axes of the mode means (or of the
    samples without modes). Images [n, h, w, c] are tiled, at most 100.

    Raises:
      ImportError: matplotlib is missing (install the `plots` extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise ImportError(
            "sample plots need matplotlib; install it with `pip install discrepancy[plots]`."
        ) from error

    path = Path(path)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 4:
        figure = _image_grid(pyplot, samples[:100])
    else:
        figure = _scatter(pyplot, samples.reshape(len(samples), -1), modes)
    if title:
        figure.suptitle(title)
    try:
        _atomic_savefig(figure, path)
    finally:
        pyplot.close(figure)
    return path


def _scatter(pyplot, samples: np.ndarray, modes):
    """Returns a scatter figure of samples (projected to 2-D) over the mode means."""
    means = None if modes is None else np.asarray(modes.means, dtype=np.float64)
    if samples.shape[1] == 2:
        project = lambda points: points  # noqa: E731
    else:
        basis_source = means if means is not None and len(means) > 2 else samples
        centre = basis_source.mean(axis=0)
        _, _, right = np.linalg.svd(basis_source - centre, full_matrices=False)
        project = lambda points: (points - centre) @ right[:2].T  # noqa: E731

    figure, axes = pyplot.subplots(figsize=(5, 5))
    shown = project(samples)
    axes.scatter(shown[:, 0], shown[:, 1], s=2, alpha=0.4, label="generated")
    if means is not None:
        centres = project(means)
        axes.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", color="red", label="mode means")
    axes.set_aspect("equal", adjustable="datalim")
    axes.legend(loc="upper right", fontsize=8)
    return figure


def _image_grid(pyplot, images: np.ndarray):
    """Returns a figure tiling up to 100 images in a square grid."""
    count = len(images)
    side = int(np.ceil(np.sqrt(count)))
    figure, grid = pyplot.subplots(side, side, figsize=(side * 0.8, side * 0.8))
    for index, axes in enumerate(np.atleast_1d(grid).ravel()):
        axes.axis("off")
        if index < count:
            image = np.clip(images[index], 0.0, 1.0)
            axes.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
    return figure


class SamplePlotCallback(keras.callbacks.Callback):
    """Writes a PNG of generated samples every few epochs (and at the end of training).

    Args:
      path: PNG file, rewritten atomically each time.
      modes: a `MixtureSample` whose mode means are drawn under the samples.
      num_samples: samples drawn per plot.
      every_epochs: plot after every this many epochs.
      seed: noise seed, the same every time so plots are comparable.
    """

    def __init__(self, path: str | os.PathLike, *, modes=None, num_samples: int = 1000,
                 every_epochs: int = 1, seed: int = 0):
        super().__init__()
        self.path = Path(path)
        self.modes = modes
        self.num_samples = num_samples
        self.every_epochs = every_epochs
        self.seed = seed

    def _plot(self):
        samples = self.model.generate(self.num_samples, seed=self.seed)
        plot_samples(samples, self.path, modes=self.modes, title=f"step {self.model.step}")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs == 0:
            self._plot()

    def on_train_end(self, logs=None):
        self._plot()
