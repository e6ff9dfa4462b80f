"""Estimate divergences between digit classes of scikit-learn's handwritten digits.

Writes the result tables of docs/digits.md (the part between the
`<!-- digits-table -->` markers) and prints every result as JSON on stdout.

Data: `sklearn.datasets.load_digits`, 1797 real 8x8 scans with pixel values
0 to 16. Each class is split at random (seeded) into two halves, A and B.
A pair "a vs b" compares half A of class a (x, in the role of P) with half B
of class b (y, Q). So the control "3 vs 3" compares the two halves of the
3s, and every column has about 90 samples per side. Equal sizes matter because
several estimators are biased by an amount that depends on n.

Two feature spaces: the raw pixels (64-D) and the 64 penultimate-layer
activations of `discrepancy.metrics.DigitsClassifier`. That network was
trained on 75 % of these same scans, so its features separate the classes
better than they would for scans by unseen writers.

Usage (from the repository root; 50 minutes on 2 cores shared with other jobs):

    .venv/bin/python docs/examples/digits_divergences.py [--seed 0] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import discrepancy  # noqa: E402
from discrepancy.divergences import gaussian_kl, mmd_test  # noqa: E402
from discrepancy.metrics import DigitsClassifier, c2st  # noqa: E402

PAGE = Path(__file__).resolve().parent.parent / "digits.md"
MARKER_START = "<!-- digits-table -->"
MARKER_END = "<!-- end digits-table -->"

# (x class, y class); the first pair is the control.
PAIRS = ((3, 3), (3, 5), (3, 8), (0, 1))

# Sinkhorn's epsilon, as a fraction of the median squared distance between
# all 1797 scans in the feature space; one value per space for every pair.
SINKHORN_EPSILON_FRACTION = 0.05

# Ridges tried for the Gaussian KL, as fractions of the mean
# variance tr(C) / d, to show how much the value depends on that choice.
RIDGE_FRACTIONS = (1e-6, 1e-3, 1e-1)

# Epoch limit of the critic-based estimators in the main table, below the
# default of 500 to keep the run short. For classes with nearly disjoint
# supports the KL estimate keeps growing with training, which
# `epoch_sensitivity` shows with 25, 100 and 500 epochs.
CRITIC_MAX_EPOCHS = 100
SENSITIVITY_EPOCHS = (25, 100, 500)
SENSITIVITY_PAIR = (3, 8)

# (row label, divergence, method, options)
ESTIMATORS = (
    ("MMD^2, unbiased, Gaussian kernel (median bandwidth)", "mmd2", None, {}),
    ("energy distance (V-statistic)", "energy", None, {}),
    ("W_1, exact", "wasserstein", None, {}),
    ("sliced W_2, 200 directions", "sliced-wasserstein", None, {}),
    ("Sinkhorn divergence, p = 2", "sinkhorn", None, {}),
    ("Frechet distance (Gaussian fits)", "frechet", None, {}),
    ("KL, Gaussian fits", "gaussian-kl", None, {}),
    ("KL, k-NN (k = 1)", "kl", "knn", {"k": 1}),
    ("KL, k-NN (k = 5)", "kl", "knn", {"k": 5}),
    ("KL, variational (SMILE bound)", "kl", "variational", {"max_epochs": CRITIC_MAX_EPOCHS}),
    ("KL, classifier plug-in", "kl", "classifier", {"max_epochs": CRITIC_MAX_EPOCHS}),
    ("Jensen-Shannon, variational (f bound)", "jensen-shannon", "variational", {"max_epochs": CRITIC_MAX_EPOCHS}),
)


def split_classes(images: np.ndarray, labels: np.ndarray, seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Returns {class: (half A, half B)}, each class shuffled by one seeded generator."""
    generator = np.random.default_rng(seed)
    halves = {}
    for label in range(10):
        members = images[generator.permutation(np.flatnonzero(labels == label))]
        middle = members.shape[0] // 2
        halves[label] = (members[:middle], members[middle:])
    return halves


def median_squared_distance(samples: np.ndarray) -> float:
    """Returns the median squared Euclidean distance over all pairs of rows, in float64."""
    samples = samples.astype(np.float64)
    norms = np.sum(samples**2, axis=1)
    squared = norms[:, None] + norms[None, :] - 2.0 * samples @ samples.T
    upper = np.triu_indices(samples.shape[0], k=1)
    return float(np.median(np.maximum(squared[upper], 0.0)))


def run_estimator(x, y, divergence, method, options, seed):
    """Returns a dict with value, standard error, seconds, warnings and any error message."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = discrepancy.estimate(x, y, divergence=divergence, method=method, seed=seed, **options)
            outcome = {"value": result.value, "standard_error": result.standard_error}
        except ValueError as error:
            outcome = {"value": None, "standard_error": None, "error": str(error)}
    outcome["seconds"] = time.perf_counter() - start
    outcome["warnings"] = [str(warning.message) for warning in caught]
    return outcome


def ridge_kl(x: np.ndarray, y: np.ndarray, fraction: float) -> float:
    """Returns KL between Gaussians fitted to x and y after adding fraction * tr(C) / d to each diagonal."""
    moments = []
    for samples in (x, y):
        mean = samples.mean(axis=0)
        covariance = np.cov(samples, rowvar=False)
        ridge = fraction * np.trace(covariance) / covariance.shape[0]
        moments += [mean, covariance + ridge * np.eye(covariance.shape[0])]
    return float(gaussian_kl(*moments))


def evaluate_space(halves, epsilon, seed) -> dict:
    """Runs every estimator, the MMD permutation test and C2ST on every pair of one space."""
    results = {}
    for first, second in PAIRS:
        x, y = halves[first][0], halves[second][1]
        pair = f"{first} vs {second}"
        entry = {"num_x": int(x.shape[0]), "num_y": int(y.shape[0])}
        for label, divergence, method, options in ESTIMATORS:
            if divergence == "sinkhorn":
                options = {"epsilon": epsilon}
            entry[label] = run_estimator(x, y, divergence, method, options, seed)
            print(f"{pair}: {label}: {entry[label]}", file=sys.stderr)

        start = time.perf_counter()
        test = mmd_test(x, y, num_permutations=1000, seed=seed)
        entry["MMD permutation test p-value"] = {"value": float(test.p_value), "seconds": time.perf_counter() - start}

        start = time.perf_counter()
        classifier_test = c2st(x, y, seed=seed)
        entry["C2ST held-out accuracy"] = {
            "value": classifier_test.accuracy,
            "standard_error": classifier_test.standard_error,
            "seconds": time.perf_counter() - start,
        }
        entry["C2ST p-value"] = {"value": classifier_test.p_value}
        entry["KL, Gaussian fits with ridge"] = {
            f"{fraction:g}": _ridge_or_error(x, y, fraction) for fraction in RIDGE_FRACTIONS
        }
        results[pair] = entry
    return results


def _ridge_or_error(x, y, fraction):
    try:
        return ridge_kl(x, y, fraction)
    except ValueError as error:
        return str(error)


def epoch_sensitivity(halves, seed) -> dict:
    """Runs the variational KL on SENSITIVITY_PAIR with each epoch limit of SENSITIVITY_EPOCHS."""
    x, y = halves[SENSITIVITY_PAIR[0]][0], halves[SENSITIVITY_PAIR[1]][1]
    results = {}
    for epochs in SENSITIVITY_EPOCHS:
        results[str(epochs)] = run_estimator(x, y, "kl", "variational", {"max_epochs": epochs}, seed)
        print(f"max_epochs={epochs}: {results[str(epochs)]}", file=sys.stderr)
    return results


def format_cell(outcome: dict) -> str:
    if outcome.get("value") is None:
        return "undefined"
    text = f"{outcome['value']:.4g}"
    if outcome.get("standard_error") is not None:
        text += f" ± {outcome['standard_error']:.2g}"
    if outcome.get("warnings"):
        text += " (w)"
    return text


def format_table(results: dict) -> str:
    pairs = list(results)
    rows = [label for label, *_ in ESTIMATORS] + [
        "MMD permutation test p-value",
        "C2ST held-out accuracy",
        "C2ST p-value",
    ]
    header = "| estimator | " + " | ".join(pairs) + " | seconds, all pairs |"
    lines = [header, "|---|" + "---|" * (len(pairs) + 1)]
    sizes = " | ".join(f"{results[p]['num_x']} / {results[p]['num_y']}" for p in pairs)
    lines.append(f"| samples n / m | {sizes} | |")
    for row in rows:
        cells = [format_cell(results[p][row]) for p in pairs]
        seconds = sum(results[p][row].get("seconds", 0.0) for p in pairs)
        timing = f"{seconds:.1f}" if seconds else ""
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {timing} |")
    ridge_cells = []
    for p in pairs:
        values = results[p]["KL, Gaussian fits with ridge"]
        ridge_cells.append(" / ".join(f"{v:.3g}" if isinstance(v, float) else "undefined" for v in values.values()))
    fractions = " / ".join(f"{f:g}" for f in RIDGE_FRACTIONS)
    lines.append(f"| KL, Gaussian fits + ridge {fractions} x tr(C)/d | " + " | ".join(ridge_cells) + " | |")
    return "\n".join(lines)


def write_page_section(body: str, command: str) -> None:
    """Replaces the text between the table markers of docs/digits.md atomically."""
    text = PAGE.read_text()
    section = f"{MARKER_START}\nCommand: `{command}`. Run on {time.strftime('%Y-%m-%d')}.\n\n{body.strip()}\n{MARKER_END}"
    pattern = re.compile(re.escape(MARKER_START) + ".*?" + re.escape(MARKER_END), re.DOTALL)
    if not pattern.search(text):
        raise RuntimeError(f"{PAGE} has no {MARKER_START} ... {MARKER_END} section to replace.")
    text = pattern.sub(lambda _: section, text)
    handle, temporary = tempfile.mkstemp(dir=PAGE.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, PAGE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the class halves and every estimator")
    parser.add_argument("--no-write", action="store_true", help="print the tables without editing docs/digits.md")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.data.astype(np.float64)
    features = DigitsClassifier().features(digits.images, value_range=(0, 16)).astype(np.float64)

    spaces = {"raw pixels (64-D, values 0 to 16)": pixels, "DigitsClassifier features (64-D)": features}
    results, bodies = {}, []
    for name, samples in spaces.items():
        epsilon = SINKHORN_EPSILON_FRACTION * median_squared_distance(samples)
        halves = split_classes(samples, digits.target, args.seed)
        results[name] = {"sinkhorn_epsilon": epsilon, "pairs": evaluate_space(halves, epsilon, args.seed)}
        bodies.append(
            f"### {name}\n\nSinkhorn epsilon = {epsilon:.4g} "
            f"({SINKHORN_EPSILON_FRACTION:g} x the median squared distance between all scans). "
            f"Critic-based estimators: max_epochs={CRITIC_MAX_EPOCHS}, other options at their defaults.\n\n"
            + format_table(results[name]["pairs"])
        )
        if samples is pixels:
            sensitivity = epoch_sensitivity(halves, args.seed)
            results[name]["epoch_sensitivity"] = sensitivity
            cells = " | ".join(format_cell(sensitivity[str(e)]) for e in SENSITIVITY_EPOCHS)
            bodies.append(
                f"Variational KL (SMILE) of {SENSITIVITY_PAIR[0]} vs {SENSITIVITY_PAIR[1]} in raw pixels "
                "against the critic's epoch limit:\n\n"
                "| max_epochs | " + " | ".join(str(e) for e in SENSITIVITY_EPOCHS) + " |\n"
                "|---|" + "---|" * len(SENSITIVITY_EPOCHS) + "\n"
                f"| KL | {cells} |"
            )

    body = "\n\n".join(bodies) + "\n\n(w): the estimator raised a warning; the script's JSON output has its text."
    print(json.dumps(results, indent=1))
    if not args.no_write:
        command = ".venv/bin/python docs/examples/digits_divergences.py" + (f" --seed {args.seed}" if args.seed else "")
        write_page_section(body, command)
    else:
        print(body, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
