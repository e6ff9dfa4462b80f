"""`discrepancy train`: train a GAN by a chosen divergence and write a run folder.

The run folder contains `checkpoints/`, `settings.json` (the settings a rerun
must repeat to resume), `samples.png` (generated samples over the true modes)
and `report.json` (status, divergence, settings, seed, final metrics, energy,
wall time, versions). `run_folder` contains the rules for reusing a folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from discrepancy._commands import run_folder

_BUILT_IN = ("ring", "grid", "high-dim-ring", "stacked-digits")

# Samples generated for the final scores, as in the PacGAN and VEEGAN tables:
# 2500 for the mixtures, 26000 for the 1000 modes of stacked digits.
_NUM_EVALUATION_SAMPLES = 2500
_NUM_DIGIT_EVALUATION_SAMPLES = 26000

# Training steps per call of the compiled train function. Several steps per call
# remove most of Keras's per-step Python overhead: 2.5 to 4 times faster on the
# ring on 2 busy CPU cores, with bit-identical weights after 200 steps. The cost
# is that callbacks, progress and interrupts act only every this many steps.
_MAX_STEPS_PER_EXECUTION = 50

_EPILOG = """\
defaults by dataset:
  ring       PacGAN with m = 2 (--pack 2; 1 for mmd, energy and sinkhorn), --steps 12000,
             --batch-size 256, --num-samples 20000, --learning-rate 0.001 decaying along
             a cosine to --final-learning-rate 0.00001. With --divergence gan this
             captured 8 of 8 modes with >= 90 % high-quality samples on 10 of 10 seeds
             in benchmarks/mode_collapse.py (configuration pacgan2-long), and on
             seeds 0 to 3 of this command.
  grid       PacGAN with m = 2, --steps 16000, --batch-size 2048, --num-samples 20000,
             --learning-rate 0.001 decaying along a cosine to 0.00001, --ema-decay 0.999,
             --sample-matching-weight 100 decaying to --sample-matching-floor 10 over
             --sample-matching-steps 4000 (configuration pacgan2-mmd-floor of
             benchmarks/mode_collapse.py).
  stacked-digits
             --divergence wasserstein, --pack 2, --critic-steps 5, --steps 8000,
             --batch-size 256, --num-samples 20000, --learning-rate 0.0002 decaying
             along a cosine to 0.00001, --ema-decay 0.999, --networks channel-critic,
             --channel-independence-weight 100 (configuration
             wgan-gp-pack2-channel-indep of benchmarks/mode_collapse.py).
  others     --pack 1, --steps 2000, --batch-size 128, --num-samples 10000,
             --learning-rate 0.001, constant, no EMA and no sample matching.
  all        --divergence gan, --critic-steps 1 and --networks default unless
             preset above, --seed 0, Adam with beta_1 0.5 and beta_2 0.9. The
             default networks are MLPs of 3 x 128 units with a 16-D latent space
             for vectors, and small convolutional networks for images.

run folder (--out, default runs/DATA-DIVERGENCE):
  A new folder starts a run. Rerunning the same command resumes an unfinished
  run from its latest checkpoint, and prints the summary of a finished run
  without training again. If the folder contains a run with other settings,
  the command stops and names the differing options: choose another --out,
  pass --overwrite to delete that run, or --resume to continue it with its
  saved settings (--resume --steps N trains a run further).

interrupts:
  Ctrl-C (SIGINT) or SIGTERM finishes the current steps, saves a checkpoint
  and report.json, and exits with status 130 (SIGINT) or 143 (SIGTERM).
  Rerunning the same command continues exactly where the run stopped.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` sub-parser; its `run` default returns an exit code."""
    parser = subparsers.add_parser(
        "train",
        help="train a GAN by a chosen divergence",
        # The raw formatter keeps the epilog's layout, so the description is wrapped here.
        description=(
            "Train a GAN on a built-in dataset or a sample file by minimising the chosen\n"
            "divergence, with checkpoints, a sample plot, mode-coverage metrics for the\n"
            "ring, grid and high-dim-ring mixtures and for stacked digits (1000 modes,\n"
            "labelled by the shipped digits classifier), and the energy used. Prints a\n"
            "summary on stdout and progress on stderr."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Run options default to None, so that the dataset's preset can fill them and
    # an option given on the command line can be distinguished from a default.
    parser.add_argument(
        "--data",
        help="ring, grid, high-dim-ring, stacked-digits, or a .npy/.npz/.csv file of real "
             "samples, one per row (default: ring)",
    )
    parser.add_argument(
        "--divergence",
        help="an f-divergence name (gan, kl, reverse-kl, pearson, neyman, squared-hellinger, "
             "jeffreys, jensen-shannon, total-variation, alpha), wasserstein, "
             "wasserstein-gp-one-sided, wasserstein-sn, mmd, mmd-gan, energy or sinkhorn "
             "(default: by dataset; gan)",
    )
    parser.add_argument("--alpha-order", type=float, help="order of the alpha-divergence, with --divergence alpha")
    parser.add_argument("--pack", type=int, help="samples per critic input, PacGAN's m (default: by dataset)")
    parser.add_argument("--steps", type=int, help="total generator steps (default: by dataset)")
    parser.add_argument("--critic-steps", type=int, help="critic steps per generator step (default: 1)")
    parser.add_argument("--batch-size", type=int, help="real samples per step (default: by dataset)")
    parser.add_argument("--num-samples", type=int,
                        help="training samples drawn from a built-in dataset (default: by dataset)")
    parser.add_argument("--learning-rate", type=float,
                        help="initial Adam learning rate of both networks (default: 0.001)")
    parser.add_argument("--final-learning-rate", type=float,
                        help="learning rate at the last step, reached along a cosine; equal to "
                             "--learning-rate for a constant rate (default: by dataset)")
    parser.add_argument("--ema-decay", type=float,
                        help="decay of an exponential moving average of the generator's weights, "
                             "which the samples then come from (default: by dataset; none)")
    parser.add_argument("--sample-matching-weight", type=float,
                        help="weight of an MMD term between real and generated samples (Gaussian "
                             "kernels of bandwidths 0.5, 1 and 2 in data units) added to the "
                             "generator loss; 0 for none (default: by dataset)")
    parser.add_argument("--sample-matching-steps", type=int,
                        help="steps over which that weight decays linearly to the floor; omit to "
                             "keep it constant (default: by dataset)")
    parser.add_argument("--sample-matching-floor", type=float,
                        help="weight that the decay ends at and keeps to the last step (default: "
                             "by dataset; 0)")
    parser.add_argument(
        "--networks", choices=("default", "channel-critic"),
        help="default: the default networks of the data's shape; channel-critic (images only): "
             "an MLP generator of 2 x 512 units with a 32-D latent space, and a critic that "
             "encodes every channel with one shared MLP (default: by dataset; default)",
    )
    parser.add_argument("--channel-independence-weight", type=float,
                        help="weight of an MMD term between the generated images and their "
                             "channel-shuffled copies (Gaussian kernels of bandwidths 2, 4 and 8, "
                             "for images in [0, 1]), which keeps the channels independent; "
                             "0 for none (default: by dataset; none)")
    parser.add_argument("--seed", type=int, help="seed of the data, the initial weights and the noise (default: 0)")
    parser.add_argument("--checkpoint-every", type=int, default=500,
                        help="generator steps between checkpoints (default: 500)")
    parser.add_argument("--out", help="run folder (default: runs/DATA-DIVERGENCE)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its latest checkpoint with its saved "
                             "settings; --steps may raise its number of steps")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the run in --out (checkpoints, settings, report, plot) and start again")
    parser.add_argument("--tensorboard", action="store_true",
                        help="write TensorBoard summaries to OUT/tensorboard (needs the tensorboard package)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(run=run)
    return parser


def _check_options(args: argparse.Namespace) -> None:
    """Rejects option values outside their range before anything is loaded."""
    for key in ("pack", "steps", "critic_steps", "batch_size", "num_samples", "checkpoint_every",
                "sample_matching_steps"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise ValueError(f"{run_folder.option_flag(key)} must be at least 1, got {value}.")
    for key in ("learning_rate", "final_learning_rate"):
        value = getattr(args, key)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{run_folder.option_flag(key)} must be a positive number, got {value}.")
    if args.ema_decay is not None and not 0.0 <= args.ema_decay < 1.0:
        raise ValueError(f"--ema-decay must be in [0, 1), got {args.ema_decay}. For example, 0.999 "
                         "averages over about 1000 steps.")
    weight = args.sample_matching_weight
    if weight is not None and not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"--sample-matching-weight must be a number >= 0, got {weight}; 0 turns "
                         "the term off.")
    floor = args.sample_matching_floor
    if floor is not None and not (math.isfinite(floor) and floor >= 0):
        raise ValueError(f"--sample-matching-floor must be a number >= 0, got {floor}; 0 lets the "
                         "weight decay to nothing.")
    weight = args.channel_independence_weight
    if weight is not None and not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"--channel-independence-weight must be a number >= 0, got {weight}; 0 "
                         "turns the term off.")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be at least 0, got {args.seed}.")
    # Without the package, tf.summary fails at the first summary, in the middle of training.
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError("--tensorboard needs the tensorboard package, which is not installed; "
                         "install it with `pip install tensorboard`, or omit --tensorboard.")


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


def _learning_rate(settings: dict[str, Any], updates_per_step: int):
    """Returns the learning rate, or a cosine decay over the run's first `decay_steps` steps.

    `updates_per_step` is the number of optimizer updates per generator step
    (critic_steps for the critic), because a schedule counts optimizer updates.
    After the decay the rate stays at the final learning rate.
    """
    import keras

    rate = settings["learning_rate"]
    final = settings.get("final_learning_rate", rate)
    if final == rate:
        return rate
    decay_steps = settings.get("decay_steps", settings["steps"]) * updates_per_step
    return keras.optimizers.schedules.CosineDecay(rate, decay_steps, alpha=final / rate)


def _build_model(settings: dict[str, Any], sample_shape: tuple[int, ...]):
    """Builds and compiles the GAN the settings describe, with weights drawn from the seed."""
    import keras

    from discrepancy import gans

    divergence: Any = settings["divergence"]
    if divergence == "alpha":
        if settings.get("alpha_order") is None:
            raise ValueError("--divergence alpha needs --alpha-order, for example --alpha-order 0.5.")
        from discrepancy.divergences._f_divergences import f_divergence

        divergence = f_divergence("alpha", alpha_order=settings["alpha_order"])

    matching = {}
    if settings.get("sample_matching_weight"):
        decay_steps = settings.get("sample_matching_steps")
        floor = settings.get("sample_matching_floor") or 0.0
        if decay_steps is None:
            # Without decay steps the weight stays constant, so the floor is unused.
            floor = 0.0
        matching = {
            "sample_matching": gans.MMDObjective(bandwidth=run_folder.SAMPLE_MATCHING_BANDWIDTHS),
            "sample_matching_weight": settings["sample_matching_weight"],
            "sample_matching_decay_steps": decay_steps,
            "sample_matching_final_weight": floor,
        }

    independence = {}
    if settings.get("channel_independence_weight"):
        if len(sample_shape) < 2 or sample_shape[-1] < 2:
            raise ValueError(
                f"--channel-independence-weight needs samples with at least 2 channels on the last "
                f"axis, got samples of shape {sample_shape}; pass --channel-independence-weight 0."
            )
        independence = {
            "channel_independence": gans.MMDObjective(bandwidth=run_folder.CHANNEL_INDEPENDENCE_BANDWIDTHS),
            "channel_independence_weight": settings["channel_independence_weight"],
        }

    keras.utils.set_random_seed(settings["seed"])
    networks = {}
    if settings.get("networks", "default") == "channel-critic":
        if len(sample_shape) != 3:
            raise ValueError(
                f"--networks channel-critic needs images of shape [height, width, channels], got "
                f"samples of shape {sample_shape}; pass --networks default."
            )
        from discrepancy.gans._objectives import resolve_objective

        # Feature-based critics (mmd-gan) output 16 features, as the default networks do.
        outputs = 16 if resolve_objective(divergence).needs_real_in_generator_loss else 1
        networks = {
            "generator": gans.mlp_image_generator(sample_shape, latent_dim=32, hidden_units=(512, 512)),
            "critic": gans.channel_critic(sample_shape[:2], outputs=outputs),
        }
    model = gans.GAN(divergence=divergence, sample_shape=sample_shape, pack=settings["pack"],
                     critic_steps=settings["critic_steps"], seed=settings["seed"],
                     ema_decay=settings.get("ema_decay"), **networks, **matching, **independence)
    model.compile(
        g_optimizer=keras.optimizers.Adam(_learning_rate(settings, 1), beta_1=0.5, beta_2=0.9),
        d_optimizer=keras.optimizers.Adam(_learning_rate(settings, settings["critic_steps"]),
                                          beta_1=0.5, beta_2=0.9),
    )
    return model


def _steps_per_execution(steps: int, checkpoint_every: int, start: int) -> int:
    """Returns the steps per train-function call: a divisor of every step at which training must stop.

    Keras runs whole calls, so a call must never cross the last step, a
    checkpoint step or the step that the run resumes from.
    """
    return math.gcd(math.gcd(_MAX_STEPS_PER_EXECUTION, steps), math.gcd(checkpoint_every, start))


def run(args: argparse.Namespace) -> int:
    """Trains (or resumes, or reprints a finished run), then writes the report; returns the exit code."""
    started = time.monotonic()
    _check_options(args)
    out = Path(args.out) if args.out else run_folder.default_folder(run_folder.requested_settings(args))
    settings = run_folder.resolve_settings(args, out)

    finished = run_folder.finished_report(out, settings)
    if finished is not None:
        print(f"discrepancy train: {out} contains a finished run of {finished['steps_completed']} "
              "steps; its summary follows. Pass --overwrite to train it again, or "
              "--resume --steps N to train it further.", file=sys.stderr)
        print(run_folder.format_summary(finished))
        return 0
    return _train(args, settings, out, started)


def _train(args: argparse.Namespace, settings: dict[str, Any], out: Path, started: float) -> int:
    """Trains from the latest checkpoint in `out` to the last step, then scores and reports."""
    from discrepancy.gans import _callbacks
    from discrepancy.gans._energy import EnergyMeter
    from discrepancy.gans._gan import TrainingDivergedError

    real, modes = load_training_data(settings["data"], settings["num_samples"], settings["seed"])

    # Checked before settings.json is written, so bad data leaves no run
    # folder behind that would block the next attempt.
    finite = np.isfinite(real).reshape(real.shape[0], -1).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"--data {settings['data']}: {int((~finite).sum())} of {real.shape[0]} samples contain "
            f"NaN or inf (first at row {int(np.argmin(finite))}); remove or impute them."
        )
    if real.shape[0] < settings["batch_size"]:
        raise ValueError(
            f"--batch-size {settings['batch_size']} exceeds the {real.shape[0]} training samples; "
            "pass a smaller --batch-size or more samples (--num-samples for a built-in dataset)."
        )
    model = _build_model(settings, tuple(real.shape[1:]))
    out.mkdir(parents=True, exist_ok=True)
    run_folder.write_json_atomically(out / run_folder.SETTINGS_FILE, settings)

    checkpoints = _callbacks.CheckpointCallback(out / run_folder.CHECKPOINTS_FOLDER,
                                                every_steps=args.checkpoint_every)
    start = checkpoints.restore(model)
    # Keras reads this attribute when fit builds the train function.
    model.steps_per_execution = _steps_per_execution(settings["steps"], args.checkpoint_every, start)
    _announce(settings, out, start)

    previous = run_folder.previous_report(out)
    meter = EnergyMeter()
    meter.start()
    fit_started = time.monotonic()
    try:
        model.fit(real, batch_size=settings["batch_size"], epochs=1, steps_per_epoch=settings["steps"],
                  callbacks=_fit_callbacks(args, settings, out, checkpoints), verbose=0)
        training_seconds = time.monotonic() - fit_started
        if model.step % args.checkpoint_every:
            checkpoints.save(model)
    except TrainingDivergedError as error:
        # The weights are no longer finite, so nothing is saved: the last
        # checkpoint contains the last finite state.
        timing = {"wall": time.monotonic() - started, "training": time.monotonic() - fit_started}
        report = _report("diverged", model, settings, out, {}, meter.stop(), timing, previous)
        run_folder.write_json_atomically(out / run_folder.REPORT_FILE, report)
        print(f"discrepancy train: {error} The checkpoints in {out / run_folder.CHECKPOINTS_FOLDER} "
              "stop before the divergence; start a new run folder (--out) with other settings.",
              file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        # The checkpoint callback saves on SIGINT and SIGTERM during fit. An
        # interrupt while its handlers are not installed (as fit starts or
        # ends, or before the final save) is saved here. That is safe because
        # each call of the train function updates the model as a whole.
        checkpoints.save(model)
        timing = {"wall": time.monotonic() - started, "training": time.monotonic() - fit_started}
        report = _report("interrupted", model, settings, out, {}, meter.stop(), timing, previous)
        run_folder.write_json_atomically(out / run_folder.REPORT_FILE, report)
        print(f"discrepancy train: interrupted at step {model.step} of {settings['steps']}; the "
              f"checkpoint is in {out / run_folder.CHECKPOINTS_FOLDER}. Rerun the same command "
              "to resume.", file=sys.stderr)
        raise

    if settings["data"] == "stacked-digits":
        samples = model.generate(_NUM_DIGIT_EVALUATION_SAMPLES, seed=settings["seed"])
        metrics = _callbacks.digit_metrics(samples)
        samples = samples[:_NUM_EVALUATION_SAMPLES]
    else:
        samples = model.generate(_NUM_EVALUATION_SAMPLES, seed=settings["seed"])
        metrics = _callbacks.mode_metrics(samples, modes) if modes is not None else {}
    _callbacks.plot_samples(samples, out / run_folder.SAMPLES_FILE, modes=modes,
                            title=f"{settings['divergence']} on {settings['data']}, step {model.step}")

    timing = {"wall": time.monotonic() - started, "training": training_seconds}
    report = _report("finished", model, settings, out, metrics, meter.stop(), timing, previous)
    run_folder.write_json_atomically(out / run_folder.REPORT_FILE, report)
    print(run_folder.format_summary(report))
    return 0


def _announce(settings: dict[str, Any], out: Path, start: int) -> None:
    """Prints on stderr what is trained, from which step, and where."""
    description = f"{settings['divergence']} on {settings['data']}"
    if start:
        message = f"resuming {description} at step {start} of {settings['steps']} in {out}"
    else:
        message = f"training {description} for {settings['steps']} steps in {out}"
    print(f"discrepancy train: {message}", file=sys.stderr)


def _fit_callbacks(args: argparse.Namespace, settings: dict[str, Any], out: Path, checkpoints) -> list:
    """Returns the callbacks of `fit`: progress unless --quiet, checkpoints, and TensorBoard with --tensorboard."""
    import keras

    from discrepancy._commands.progress import ProgressCallback

    callbacks = []
    if not args.quiet:
        # First in the list, so its line ends before the checkpoint callback
        # reports an interrupt.
        callbacks.append(ProgressCallback(settings["steps"]))
    callbacks.append(checkpoints)
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"),
                                                     update_freq=args.checkpoint_every))
    return callbacks


def _num_evaluation_samples(settings: dict[str, Any]) -> int:
    """Returns how many generated samples the final scores use."""
    if settings["data"] == "stacked-digits":
        return _NUM_DIGIT_EVALUATION_SAMPLES
    return _NUM_EVALUATION_SAMPLES


def _report(status: str, model, settings: dict[str, Any], out: Path, metrics: dict[str, Any],
            energy: dict[str, Any], timing: dict[str, float], previous: dict[str, Any]) -> dict[str, Any]:
    """Returns report.json's content; totals add this invocation to the `previous` report's."""
    total_joules = previous.get("energy_total_joules", 0.0) + energy["joules"]
    return {
        "status": status,
        "run_folder": str(out),
        "divergence": model.objective.settings(),
        "settings": {**settings, **model.settings()},
        "seed": settings["seed"],
        "steps_completed": model.step,
        "num_evaluation_samples": _num_evaluation_samples(settings) if metrics else 0,
        "final_metrics": metrics,
        "energy": energy,
        "energy_total_joules": total_joules,
        "energy_total_watt_hours": total_joules / 3600.0,
        "energy_total_is_estimate": bool(energy["is_estimate"] or previous.get("energy_total_is_estimate", False)),
        "wall_seconds": timing["wall"],
        "training_seconds": timing["training"],
        "wall_seconds_total": previous.get("wall_seconds_total", 0.0) + timing["wall"],
        "invocations": previous.get("invocations", 0) + 1,
        "versions": _versions(),
    }
