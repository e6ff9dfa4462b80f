"""`discrepancy evaluate REAL FAKE`: sample-quality metrics of generated samples.

REAL and FAKE are each an array file (`.npy`, `.npz`, `.csv`, one sample per
row or one image per leading index), a folder of PNG/JPEG images, or, for
FID only, a `.npz` file written by `FeatureStatistics.save`. Samples pass
through a feature extractor (identity, the pretrained digits classifier,
or Inception-v3 from a local weights file), then through the chosen metrics. Results go to stdout as `name: value` lines or one JSON
object, and progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


METRICS = ("fid", "kid", "precision-recall", "density-coverage", "mode-coverage", "c2st", "classifier-score")
DEFAULT_METRICS = ("fid", "kid", "precision-recall", "density-coverage")
FEATURES = ("identity", "digits", "inception")
MODE_PRESETS = ("ring", "grid", "high-dim-ring")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# Image folders are decoded to 8-bit values, which this range describes.
_EIGHT_BIT_RANGE = (0.0, 255.0)


@dataclasses.dataclass
class LoadedSamples:
    """Samples read from one command-line input.

    Attributes:
      source: the path as given.
      values: [n, d] vectors or [n, h, w] / [n, h, w, c] images, or None for
        a statistics file.
      value_range: (low, high) of image values; None for vectors.
      statistics: the `FeatureStatistics` of a statistics file, else None.
    """

    source: str
    values: np.ndarray | None
    value_range: tuple[float, float] | None
    statistics: Any = None

    @property
    def is_images(self) -> bool:
        return self.values is not None and self.values.ndim in (3, 4)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `evaluate` sub-parser; its `run` default returns an exit code."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score generated samples against real ones",
        description=(
            "Score generated samples FAKE against real samples REAL. Each is a .npy, .npz "
            "(PATH:KEY for one of several arrays) or .csv file with one sample per row, an "
            "array of images [n, height, width] or [n, height, width, channels], a folder "
            "of .png/.jpg/.jpeg images (read in sorted name order, other files ignored), or, "
            "for fid only, an .npz file written by FeatureStatistics.save."
        ),
    )
    parser.add_argument("real", help="real samples: an array file or an image folder")
    parser.add_argument("fake", help="generated samples: an array file or an image folder")

    parser.add_argument(
        "--metrics",
        default=None,
        help=(
            f"comma-separated metrics from {', '.join(METRICS)} (default: "
            f"{','.join(DEFAULT_METRICS)}, plus mode-coverage when modes are known). "
            "classifier-score is the Inception Score of FAKE from the digit classifier's "
            "probabilities, so it needs --features digits"
        ),
    )
    parser.add_argument(
        "--features",
        default="identity",
        choices=FEATURES,
        help=(
            "feature extractor: identity uses vectors as they are and flattens images after "
            "rescaling them to [0, 1] by their value range; "
            "digits uses the pretrained 8x8 digit classifier, one digit per channel; "
            "inception uses Inception-v3 pool features from the weights in --weights "
            "(default: identity)"
        ),
    )
    parser.add_argument(
        "--weights",
        metavar="PATH",
        help=(
            "Inception-v3 weights file (Keras ImageNet weights without the top layer) for "
            "--features inception; default: the DISCREPANCY_INCEPTION_WEIGHTS environment "
            "variable. Nothing is downloaded."
        ),
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=299,
        help="side in pixels that images are resized to for --features inception (default: 299)",
    )
    parser.add_argument(
        "--value-range",
        default="0,1",
        metavar="LOW,HIGH",
        help=(
            "the pixel values of background and full intensity in image arrays "
            "(default: 0,1; image folders are always read as 8-bit, 0,255)"
        ),
    )

    parser.add_argument(
        "--modes",
        metavar="NAME_OR_PATH",
        help=(
            "known modes of the real data for mode-coverage: ring, grid or high-dim-ring "
            "(the discrepancy.datasets presets), or an .npz file with arrays `means` [K, d] "
            "and `stds` ([K] or [K, d], or a scalar)"
        ),
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help=(
            "standard deviations within which a sample counts as high quality for "
            "mode-coverage (default: 3 for ring, grid and .npz modes; about 28.7 for high-dim-ring, "
            "the 0.999 quantile of a real sample's normalised distance)"
        ),
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="write a PNG of the generated samples over the known modes, with the per-mode histogram, to PATH",
    )

    parser.add_argument(
        "--batch-size",
        type=int,
        help="images per forward pass of the feature extractor (default: 256 for digits, 50 for inception)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random step: KID's subsets, c2st's split and weights (default: 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of name: value lines")

    parser.set_defaults(run=run)
    return parser


def _progress(message: str) -> None:
    print(f"discrepancy evaluate: {message}", file=sys.stderr)


def parse_value_range(text: str) -> tuple[float, float]:
    """Parses "LOW,HIGH" into two floats with LOW < HIGH."""
    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"--value-range must be LOW,HIGH, two numbers, got {text!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"--value-range must have finite LOW < HIGH, got {text!r}.")
    return low, high


def parse_metrics(text: str | None, modes_known: bool, statistics_source: str | None = None) -> list[str]:
    """Returns the requested metric names in order, without repeats.

    `statistics_source` names an input that is a statistics file, which only
    FID can use; the default list is then FID alone.
    """
    if text is None:
        if statistics_source is not None:
            return ["fid"]
        return list(DEFAULT_METRICS) + (["mode-coverage"] if modes_known else [])
    from discrepancy import _validation  # Imports TensorFlow, so only when a command runs.

    names = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        _validation.check_option(name, "--metrics", METRICS)
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"--metrics names no metric; choose from {', '.join(METRICS)}.")
    needs_samples = [name for name in names if name != "fid"]
    if statistics_source is not None and needs_samples:
        raise ValueError(
            f"--metrics {needs_samples[0]} needs samples, but {statistics_source} is a "
            "FeatureStatistics file, which only fid can use. Pass the features or images instead."
        )
    return names


def read_image_folder(folder: Path, name: str) -> np.ndarray:
    """Decodes every PNG/JPEG file in `folder` into a uint8 array [n, height, width, channels]."""
    import tensorflow as tf

    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{name}: the folder {folder} contains no .png, .jpg or .jpeg file.")

    images = []
    for path in files:
        try:
            image = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"{name}: {path} could not be decoded as an image ({error.message}).") from None
        if image.dtype != tf.uint8:
            raise ValueError(
                f"{name}: {path} has {image.dtype.name} pixels; only 8-bit images are supported."
            )
        if images and tuple(image.shape) != images[0].shape:
            raise ValueError(
                f"{name}: {path} has shape {image.shape.as_list()}, but {files[0].name} has "
                f"{list(images[0].shape)}; all images in a folder must have the same "
                "height, width and channels."
            )
        images.append(image.numpy())
    return np.stack(images)


def is_statistics_file(spec: str) -> bool:
    """Returns whether `spec` is an `.npz` file of feature statistics (ours, or `mu` and `sigma`)."""
    path = Path(spec)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as stored:
        keys = set(stored.files)
    return {"format_version", "count", "mean", "scatter"} <= keys or {"mu", "sigma"} <= keys


def load_samples(spec: str, name: str, value_range: tuple[float, float]) -> LoadedSamples:
    """Reads vectors or images from an array file or an image folder, or a statistics file."""
    from discrepancy import _io
    from discrepancy.metrics import FeatureStatistics

    path = Path(spec)
    if path.is_dir():
        return LoadedSamples(spec, read_image_folder(path, name), _EIGHT_BIT_RANGE)
    if is_statistics_file(spec):
        return LoadedSamples(spec, None, None, statistics=FeatureStatistics.load(path))

    values = _io.load_array(spec, name)
    if values.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name}: {spec} contains an array of shape {list(values.shape)}; expected vectors "
            "[n, d] or images [n, height, width] or [n, height, width, channels]. Save "
            "one-dimensional samples as shape [n, 1]."
        )
    if values.ndim == 2:
        return LoadedSamples(spec, values, None)
    return LoadedSamples(spec, values, value_range)


def _describe(samples: LoadedSamples) -> str:
    if samples.statistics is not None:
        statistics = samples.statistics
        return (
            f"statistics of {statistics.count} samples with {statistics.num_features} features "
            f"from {samples.source}"
        )
    shape = "x".join(str(size) for size in samples.values.shape[1:])
    kind = "images" if samples.is_images else "vectors"
    return f"{samples.values.shape[0]} {kind} of shape {shape} from {samples.source}"


class FeatureExtractor:
    """Turns loaded samples into feature vectors, and class labels where a classifier exists.

    Args:
      name: "identity", "digits" or "inception".
      batch_size: images per forward pass, or None for the extractor's default.
      weights_path: Inception-v3 weights file, or None for the environment variable.
      image_size: side that Inception resizes images to.
    """

    def __init__(self, name: str, batch_size: int | None, weights_path: str | None = None, image_size: int = 299):
        from discrepancy.metrics import _digits, _features

        if weights_path is not None and name != "inception":
            raise ValueError(f"--weights applies to --features inception, not {name}.")

        self.name = name
        self._classifier = None
        self._network = None
        if name == "digits":
            self._classifier = self._network = _digits.DigitsClassifier()
            default_batch_size = _digits.DEFAULT_BATCH_SIZE
        elif name == "inception":
            try:
                self._network = _features.InceptionFeatures(weights_path, image_size=image_size)
            except FileNotFoundError as error:
                # A missing weights file is invalid input, which exits with status 3.
                raise ValueError(f"--weights: {error}") from None
            default_batch_size = _features.DEFAULT_BATCH_SIZE
        else:
            default_batch_size = 1
        chosen = default_batch_size if batch_size is None else batch_size
        from discrepancy import _validation

        self.batch_size = _validation.as_int(chosen, "--batch-size", minimum=1)

    def _images_for_classifier(self, samples: LoadedSamples, name: str) -> np.ndarray:
        if not samples.is_images:
            raise ValueError(
                f"{name}: --features {self.name} needs images, but {samples.source} contains "
                f"{_describe(samples)}. Save images as [n, height, width] or [n, height, width, "
                "channels], or use --features identity."
            )
        return samples.values

    def features(self, samples: LoadedSamples, name: str):
        """Returns features [n, d] of the samples, or the statistics of a statistics file as they are.

        NOTE: a statistics file does not record which extractor produced it,
        so the caller must make sure it matches --features.
        """
        if samples.statistics is not None:
            return samples.statistics
        if self.name == "identity":
            values = samples.values
            if samples.is_images:
                low, high = samples.value_range
                # Flattened images are rescaled to [0, 1] so that image folders
                # and arrays in another range give comparable features.
                values = (values.reshape(values.shape[0], -1).astype(np.float64) - low) / (high - low)
            return values
        images = self._images_for_classifier(samples, name)
        return self._network.features(images, value_range=samples.value_range, batch_size=self.batch_size)

    def labels(self, samples: LoadedSamples, name: str) -> tuple[np.ndarray, int] | None:
        """Returns (class labels, number of classes), or None without a classifier."""
        if self._classifier is None:
            return None
        images = self._images_for_classifier(samples, name)
        labels = self._classifier.predict(images, value_range=samples.value_range, batch_size=self.batch_size)
        channels = 1 if images.ndim == 3 else images.shape[3]
        return labels, self._classifier.num_classes(channels)

    def probabilities(self, samples: LoadedSamples, name: str) -> np.ndarray:
        """Returns class probabilities [n, K] from the digit classifier."""
        if self._classifier is None:
            raise ValueError(
                f"classifier-score needs class probabilities, which --features {self.name} does "
                "not give (the Inception-v3 weights here have no top layer); use --features digits."
            )
        images = self._images_for_classifier(samples, name)
        return self._classifier.probabilities(images, value_range=samples.value_range, batch_size=self.batch_size)


@dataclasses.dataclass
class KnownModes:
    """Mode means, standard deviations and the high-quality threshold of the real data."""

    means: np.ndarray
    stds: np.ndarray
    threshold: float
    source: str


def load_modes(spec: str | None, threshold: float | None) -> KnownModes | None:
    """Returns the modes named by --modes, or None when it is not given."""
    if spec is None:
        if threshold is not None:
            raise ValueError("--threshold applies to mode-coverage with --modes; pass --modes too.")
        return None

    if spec in MODE_PRESETS:
        from discrepancy import datasets

        makers = {"ring": datasets.ring, "grid": datasets.grid, "high-dim-ring": datasets.high_dim_ring}
        mixture = makers[spec](1, seed=0, dtype="float64")
        chosen = mixture.high_quality_threshold if threshold is None else threshold
        return KnownModes(mixture.means, mixture.stds, chosen, f"the {spec} preset")

    path = Path(spec)
    if path.suffix.lower() != ".npz":
        raise ValueError(
            f"--modes must be one of {', '.join(MODE_PRESETS)} or an .npz file with arrays "
            f"`means` and `stds`, got {spec!r}."
        )
    if not path.exists():
        raise ValueError(f"--modes: file not found: {path}")
    with np.load(path, allow_pickle=False) as stored:
        missing = [key for key in ("means", "stds") if key not in stored.files]
        if missing:
            raise ValueError(
                f"--modes: {path} has no array {missing[0]!r}; it contains "
                f"{', '.join(stored.files) or 'no arrays'}. Save it with "
                "np.savez(path, means=means, stds=stds)."
            )
        means, stds = stored["means"], stored["stds"]
    return KnownModes(means, stds, 3.0 if threshold is None else threshold, str(path))


def compute_metrics(
    names: list[str],
    real_features,
    fake_features,
    *,
    fake_labels: tuple[np.ndarray, int] | None,
    fake_probabilities: np.ndarray | None,
    modes: KnownModes | None,
    seed: int,
) -> tuple[dict[str, Any], Any]:
    """Computes the named metrics; returns the values and the mode-coverage result (or None).

    The features are [n, d] arrays, or `FeatureStatistics` for fid.
    """
    from discrepancy import metrics

    values: dict[str, Any] = {}
    coverage = None
    for name in names:
        _progress(f"computing {name} ...")
        if name == "fid":
            values["fid"] = metrics.fid(real_features, fake_features).value
        elif name == "kid":
            result = metrics.kid(real_features, fake_features, seed=seed)
            values.update(kid=result.mean, kid_std=result.std)
        elif name == "precision-recall":
            result = metrics.precision_recall(real=real_features, fake=fake_features)
            values.update(precision=result.precision, recall=result.recall)
        elif name == "density-coverage":
            result = metrics.density_coverage(real=real_features, fake=fake_features)
            values.update(density=result.density, coverage=result.coverage)
        elif name == "c2st":
            result = metrics.c2st(real_features, fake_features, seed=seed)
            values.update(c2st_accuracy=result.accuracy, c2st_p_value=result.p_value)
        elif name == "classifier-score":
            result = metrics.classifier_score(fake_probabilities)
            values.update(classifier_score=result.mean, classifier_score_std=result.std)
        elif name == "mode-coverage":
            coverage = _mode_coverage(fake_features, fake_labels, modes)
            values.update(
                modes_captured=coverage.modes_captured,
                num_modes=coverage.num_modes,
                high_quality_fraction=coverage.high_quality_fraction,
                mode_kl=coverage.kl,
                mode_js=coverage.js,
            )
    return values, coverage


def _mode_coverage(fake_features, fake_labels, modes: KnownModes | None):
    from discrepancy.metrics import mode_coverage

    if modes is not None:
        if fake_features.shape[1] != modes.means.shape[1]:
            raise ValueError(
                f"mode-coverage: the modes from {modes.source} have dimension "
                f"{modes.means.shape[1]}, but the fake features have dimension "
                f"{fake_features.shape[1]}; use --features identity on the raw samples."
            )
        return mode_coverage(fake_features, modes.means, modes.stds, threshold=modes.threshold)
    if fake_labels is not None:
        labels, num_modes = fake_labels
        return mode_coverage(labels=labels, num_modes=num_modes)
    raise ValueError(
        "mode-coverage needs known modes: pass --modes (ring, grid, high-dim-ring or an .npz "
        "file), or --features digits to count the classifier's digit classes."
    )


def _project_to_plane(means: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns 2-D coordinates of the mode means and the samples for a scatter plot.

    One-dimensional data get a zero second coordinate. Data of dimension above
    2 are projected onto the two leading principal axes of the means, or of
    the means and samples together when there are fewer than 3 modes.
    """
    if means.shape[1] == 1:
        return np.pad(means, ((0, 0), (0, 1))), np.pad(points, ((0, 0), (0, 1)))
    if means.shape[1] == 2:
        return means, points

    source = means if means.shape[0] >= 3 else np.concatenate([means, points])
    centre = source.mean(axis=0)
    _, _, right = np.linalg.svd(source - centre, full_matrices=False)
    basis = right[:2].T
    return (means - centre) @ basis, (points - centre) @ basis


def plot_mode_coverage(samples: np.ndarray, coverage, modes: KnownModes | None, path: Path) -> None:
    """Writes a PNG: generated samples over the modes (when means are known) and the mode histogram.

    Samples of other dimensions are mapped to the plane by `_project_to_plane`.
    Captured modes are drawn in green, missed ones in red.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise ImportError("--plot needs matplotlib; install it with `pip install discrepancy[plots]`.") from error

    from discrepancy.gans._callbacks import _atomic_savefig

    panels = 2 if modes is not None else 1
    figure, axes = pyplot.subplots(1, panels, figsize=(5 * panels, 4.5), squeeze=False)
    axes = axes[0]
    colours = np.where(coverage.captured, "tab:green", "tab:red")

    if modes is not None:
        means, points = _project_to_plane(np.asarray(modes.means, np.float64), np.asarray(samples, np.float64))
        scatter = axes[0]
        scatter.scatter(points[:, 0], points[:, 1], s=2, alpha=0.3, color="tab:blue", label="generated")
        scatter.scatter(means[:, 0], means[:, 1], s=60, marker="x", c=colours, label="mode means")
        scatter.set_aspect("equal", adjustable="datalim")
        scatter.legend(loc="upper right", fontsize=8)
        scatter.set_title(f"{coverage.modes_captured} of {coverage.num_modes} modes captured")

    histogram = axes[-1]
    histogram.bar(np.arange(coverage.num_modes), coverage.histogram, color=colours, width=1.0)
    histogram.axhline(coverage.num_high_quality / coverage.num_modes, color="black", linewidth=1,
                      label="uniform target")
    if modes is None:
        histogram.set_title(f"{coverage.modes_captured} of {coverage.num_modes} classes captured")
    histogram.set_xlabel("mode")
    histogram.set_ylabel("high-quality samples")
    histogram.legend(loc="upper right", fontsize=8)

    figure.tight_layout()
    try:
        _atomic_savefig(figure, path)
    finally:
        pyplot.close(figure)


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _count(features) -> int:
    """Returns the number of samples behind an [n, d] array or a `FeatureStatistics`."""
    return int(features.shape[0]) if isinstance(features, np.ndarray) else int(features.count)


def run(args: argparse.Namespace) -> int:
    """Loads both inputs, extracts features, computes the metrics and prints them."""
    from discrepancy._commands.run_folder import _json_ready

    value_range = parse_value_range(args.value_range)
    modes = load_modes(args.modes, args.threshold)
    real = load_samples(args.real, "REAL", value_range)
    fake = load_samples(args.fake, "FAKE", value_range)
    _progress(f"real: {_describe(real)}")
    _progress(f"fake: {_describe(fake)}")

    statistics_source = next((item.source for item in (real, fake) if item.statistics is not None), None)
    names = parse_metrics(args.metrics, modes is not None or args.features == "digits", statistics_source)
    if args.plot is not None and "mode-coverage" not in names:
        raise ValueError("--plot draws the mode-coverage result; add mode-coverage to --metrics.")

    extractor = FeatureExtractor(args.features, args.batch_size, args.weights, args.image_size)
    _progress(f"extracting {args.features} features ...")
    real_features = extractor.features(real, "REAL")
    fake_features = extractor.features(fake, "FAKE")
    fake_labels = extractor.labels(fake, "FAKE") if "mode-coverage" in names and modes is None else None
    fake_probabilities = extractor.probabilities(fake, "FAKE") if "classifier-score" in names else None

    values, coverage = compute_metrics(
        names, real_features, fake_features, fake_labels=fake_labels, fake_probabilities=fake_probabilities,
        modes=modes, seed=args.seed,
    )
    if args.plot is not None:
        plot_mode_coverage(fake_features, coverage, modes, Path(args.plot))
        _progress(f"wrote {args.plot}")

    summary = {
        "num_real": _count(real_features),
        "num_fake": _count(fake_features),
        "features": args.features,
        **{key: value.item() if isinstance(value, np.generic) else value for key, value in values.items()},
    }
    if args.json:
        print(json.dumps(_json_ready(summary), allow_nan=False))
    else:
        for key, value in summary.items():
            print(f"{key}: {_format(value)}")
    return 0
