"""`discrepancy train`: train a GAN by a chosen divergence and write a run folder.

The run folder contains `checkpoints/`, `settings.json` (what the run was started
with, reused by --resume), `samples.png` and `report.json` (divergence,
settings, seed, final metrics, energy, versions). JSON files and the plot are
written to a temporary file and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_BUILT_IN = ("ring", "grid", "high-dim-ring", "stacked-digits")

# Options that fix the model and data; --resume takes them from settings.json.
_RUN_OPTIONS = ("data", "divergence", "alpha_order", "pack", "critic_steps", "batch_size",
                "num_samples", "learning_rate", "seed")

logger = logging.getLogger("discrepancy.gans")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` sub-parser; its `run` default returns an exit code."""
    parser = subparsers.add_parser(
        "train",
        help="train a GAN by a chosen divergence",
        description=(
            "Train a GAN on a built-in dataset or a sample file by minimising the chosen "
            "divergence, with checkpoints, a sample plot, mode-coverage metrics for the "
            "built-in mixtures, and the energy used."
        ),
    )
    parser.add_argument(
        "--data", default="ring",
        help="ring, grid, high-dim-ring, stacked-digits, or a .npy/.npz/.csv file of real "
             "samples, one per row (default: ring)",
    )
    parser.add_argument(
        "--divergence", default="gan",
        help="an f-divergence name (gan, kl, reverse-kl, pearson, neyman, squared-hellinger, "
             "jeffreys, jensen-shannon, total-variation, alpha), wasserstein, "
             "wasserstein-gp-one-sided, wasserstein-sn, mmd, mmd-gan, energy or sinkhorn "
             "(default: gan)",
    )
    parser.add_argument("--alpha-order", type=float, help="order of the alpha-divergence, with --divergence alpha")
    parser.add_argument("--pack", type=int, default=1, help="samples per critic input, PacGAN's m (default: 1)")
    parser.add_argument("--steps", type=int, default=2000, help="total generator steps (default: 2000)")
    parser.add_argument("--critic-steps", type=int, default=1, help="critic steps per generator step (default: 1)")
    parser.add_argument("--batch-size", type=int, default=128, help="real samples per step (default: 128)")
    parser.add_argument("--num-samples", type=int, default=10000,
                        help="training samples drawn from a built-in dataset (default: 10000)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam learning rate of both networks (default: 0.001)")
    parser.add_argument("--checkpoint-every", type=int, default=500,
                        help="generator steps between checkpoints (default: 500)")
    parser.add_argument("--out", default="runs/train", help="run folder (default: runs/train)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its latest checkpoint, with its settings")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the model (default: 0)")
    parser.add_argument("--tensorboard", action="store_true", help="write TensorBoard summaries to OUT/tensorboard")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _json_ready(value: Any) -> Any:
    """Replaces non-finite floats by the strings "inf", "-inf" or "nan", which strict JSON lacks."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Writes strict JSON through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(_json_ready(payload), stream, indent=2, sort_keys=True, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_training_data(name: str, num_samples: int, seed: int):
    """Returns (real samples, MixtureSample or None) for a built-in name or a file."""
    from discrepancy import _io, datasets

    makers = {"ring": datasets.ring, "grid": datasets.grid, "high-dim-ring": datasets.high_dim_ring}
    if name in makers:
        mixture = makers[name](num_samples, seed=seed)
        return mixture.samples, mixture
    if name == "stacked-digits":
        return datasets.stacked_digits(num_samples, seed=seed).samples, None

    if not any(name.lower().endswith(suffix) or ".npz:" in name for suffix in (".npy", ".npz", ".csv")):
        raise ValueError(
            f"--data must be one of {', '.join(_BUILT_IN)} or a .npy, .npz or .csv file, got {name!r}."
        )
    samples = np.asarray(_io.load_array(name, "--data"), dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    return samples, None


def _versions() -> dict[str, str]:
    """Returns the versions of the software that produced the run."""
    import keras
    import tensorflow as tf

    from discrepancy import __version__

    return {"discrepancy": __version__, "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}


def _resolve_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Returns the run settings: from the command line, or from settings.json with --resume."""
    settings_path = out / "settings.json"
    checkpoints = out / "checkpoints"
    has_checkpoint = (checkpoints / "checkpoint").exists()

    if args.resume:
        if not settings_path.exists():
            raise ValueError(f"--resume: {settings_path} not found; start the run without --resume first.")
        saved = json.loads(settings_path.read_text())
        logger.info("--resume uses the settings in %s: %s", settings_path, saved)
        return saved

    if has_checkpoint:
        raise ValueError(
            f"{out} already contains a training run; pass --resume to continue it or choose "
            "another --out."
        )
    return {key: getattr(args, key) for key in _RUN_OPTIONS}


def _build_model(settings: dict[str, Any], sample_shape: tuple[int, ...]):
    """Builds and compiles the GAN the settings describe."""
    import keras

    from discrepancy import gans

    divergence: Any = settings["divergence"]
    if divergence == "alpha":
        if settings.get("alpha_order") is None:
            raise ValueError("--divergence alpha needs --alpha-order, for example --alpha-order 0.5.")
        from discrepancy.divergences._f_divergences import f_divergence

        divergence = f_divergence("alpha", alpha_order=settings["alpha_order"])

    model = gans.GAN(divergence=divergence, sample_shape=sample_shape, pack=settings["pack"],
                     critic_steps=settings["critic_steps"], seed=settings["seed"])
    rate = settings["learning_rate"]
    model.compile(g_optimizer=keras.optimizers.Adam(rate, beta_1=0.5, beta_2=0.9),
                  d_optimizer=keras.optimizers.Adam(rate, beta_1=0.5, beta_2=0.9))
    return model


def run(args: argparse.Namespace) -> int:
    """Trains, then writes samples.png and report.json; returns the exit code."""
    import keras

    from discrepancy.gans import _callbacks

    if args.steps < 1 or args.checkpoint_every < 1:
        raise ValueError(f"--steps and --checkpoint-every must be at least 1, got {args.steps} and "
                         f"{args.checkpoint_every}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = _resolve_settings(args, out)

    real, modes = load_training_data(settings["data"], settings["num_samples"], settings["seed"])
    model = _build_model(settings, tuple(real.shape[1:]))
    _write_json_atomically(out / "settings.json", settings)

    checkpoints = _callbacks.CheckpointCallback(out / "checkpoints")
    start = checkpoints.restore(model) if args.resume else 0
    energy = _callbacks.EnergyCallback()
    callbacks = [checkpoints, energy, _callbacks.SamplePlotCallback(out / "samples.png", modes=modes)]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard")))

    per_epoch = math.gcd(args.steps, args.checkpoint_every)
    print(f"discrepancy train: {settings['divergence']} on {settings['data']}, step {start} of "
          f"{args.steps}, run folder {out}", file=sys.stderr)
    # Keras verbosity: 1 draws a progress bar, 2 prints one line per epoch (for logs).
    verbose = 1 if sys.stderr.isatty() else 2
    if args.quiet:
        verbose = 0
    model.fit(real, batch_size=settings["batch_size"], epochs=args.steps // per_epoch,
              steps_per_epoch=per_epoch, callbacks=callbacks, verbose=verbose)

    metrics: dict[str, Any] = {}
    if modes is not None:
        metrics = _callbacks.mode_metrics(model.generate(2500, seed=settings["seed"]), modes)

    report_path = out / "report.json"
    previous = json.loads(report_path.read_text()) if report_path.exists() else {}
    this_run = energy.result or {}
    total_joules = previous.get("energy_total_joules", 0.0) + this_run.get("joules", 0.0)
    report = {
        "divergence": model.objective.settings(),
        "settings": {**settings, "steps": args.steps, **model.settings()},
        "seed": settings["seed"],
        "steps_completed": model.step,
        "final_metrics": metrics,
        "energy": this_run,
        "energy_total_joules": total_joules,
        "energy_total_is_estimate": bool(this_run.get("is_estimate", True))
        or bool(previous.get("energy_total_is_estimate", False)),
        "versions": _versions(),
    }
    _write_json_atomically(report_path, report)

    summary = ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                        for key, value in metrics.items())
    label = "estimated" if this_run.get("is_estimate", True) else "measured"
    print(f"discrepancy train: done at step {model.step}. {summary}", file=sys.stderr)
    print(f"discrepancy train: energy {label}: {this_run.get('joules', 0.0):.0f} J "
          f"({this_run.get('watt_hours', 0.0):.3f} Wh) in {this_run.get('duration_seconds', 0.0):.0f} s; "
          f"report {report_path}", file=sys.stderr)
    return 0
