"""The run folder of `discrepancy train`: settings, presets, resumption rules and the summary.

Rules for a folder given by --out:

* no settings.json: a new run starts there;
* settings.json equal to the requested settings: an unfinished run resumes
  from its latest checkpoint, and a finished run prints its summary again
  without training;
* settings.json that differs: the command stops with an error that names each
  differing option, unless --resume (use the saved settings, and optionally a
  larger --steps) or --overwrite (delete the run and start again) is given.

JSON files are written to a temporary file in the same folder and renamed, so a
reader never sees half a file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

SETTINGS_FILE = "settings.json"
REPORT_FILE = "report.json"
SAMPLES_FILE = "samples.png"
CHECKPOINTS_FOLDER = "checkpoints"

# Everything --overwrite deletes; other files in the folder are left alone.
_RUN_FILES = (SETTINGS_FILE, REPORT_FILE, SAMPLES_FILE)
_RUN_FOLDERS = (CHECKPOINTS_FOLDER, "tensorboard")

# Options that define the trained model. A rerun must repeat them to resume.
RUN_OPTIONS = ("data", "divergence", "alpha_order", "pack", "steps", "critic_steps", "batch_size",
               "num_samples", "learning_rate", "final_learning_rate", "seed", "ema_decay",
               "sample_matching_weight", "sample_matching_steps", "sample_matching_floor",
               "networks", "channel_independence_weight")

# Divergences on raw samples train no critic, so they cannot pack critic inputs.
RAW_SAMPLE_DIVERGENCES = ("mmd", "energy", "sinkhorn")

# Defaults of the options that --data does not preset. The parser's defaults are
# None, so that an option given on the command line can be distinguished from a default.
GENERIC_DEFAULTS: dict[str, Any] = {
    "data": "ring", "divergence": "gan", "seed": 0, "pack": 1, "steps": 2000, "critic_steps": 1,
    "batch_size": 128, "num_samples": 10000,
    "learning_rate": 1e-3, "final_learning_rate": None, "ema_decay": None,
    "sample_matching_weight": None, "sample_matching_steps": None, "sample_matching_floor": None,
    "networks": "default", "channel_independence_weight": None,
}

# The best configurations of the mode-collapse benchmark (benchmarks/mode_collapse.py).
# ring: PacGAN with m = 2, cosine learning-rate decay, 12000 steps (pacgan2-long),
# which captured 8 of 8 modes with at least 90 % high-quality samples and a
# mode-histogram KL below 0.05 on 10 of 10 seeds.
# grid: PacGAN with m = 2, batch 2048, 16000 steps, a generator EMA and an MMD
# sample-matching term whose weight falls from 100 to 10 over the first 4000
# steps (pacgan2-mmd-floor).
# stacked-digits: WGAN-GP with m = 2 and 5 critic steps, an MLP generator, a
# critic with one encoder shared by the channels, a generator EMA and a
# channel-independence term of weight 100 (wgan-gp-pack2-channel-indep).
# NOTE: here the critic's learning rate decays over the whole run, while the
# benchmark's critic schedule counts its 5 updates per step and reaches the
# final rate after a fifth of the run. This preset has not been trained to
# its full 8000 steps, so its scores may differ from the benchmark's.
PRESETS: dict[str, dict[str, Any]] = {
    "ring": {"pack": 2, "steps": 12000, "batch_size": 256, "num_samples": 20000,
             "learning_rate": 1e-3, "final_learning_rate": 1e-5},
    "grid": {"pack": 2, "steps": 16000, "batch_size": 2048, "num_samples": 20000,
             "learning_rate": 1e-3, "final_learning_rate": 1e-5, "ema_decay": 0.999,
             "sample_matching_weight": 100.0, "sample_matching_steps": 4000,
             "sample_matching_floor": 10.0},
    "stacked-digits": {"divergence": "wasserstein", "pack": 2, "critic_steps": 5, "steps": 8000,
                       "batch_size": 256, "num_samples": 20000, "learning_rate": 2e-4,
                       "final_learning_rate": 1e-5, "ema_decay": 0.999, "networks": "channel-critic",
                       "channel_independence_weight": 100.0},
}

# Bandwidths of the MMD sample-matching term of `discrepancy train`, in data
# units: about a quarter to one times the spacing of the grid's modes.
SAMPLE_MATCHING_BANDWIDTHS = (0.5, 1.0, 2.0)

# Bandwidths of the channel-independence MMD, in pixel units. They match the
# distance between two 8x8x3 images with values in [0, 1].
CHANNEL_INDEPENDENCE_BANDWIDTHS = (2.0, 4.0, 8.0)


def option_flag(key: str) -> str:
    """Returns the command-line flag of a settings key, for example --batch-size for batch_size."""
    return "--" + key.replace("_", "-")


def default_folder(settings: dict[str, Any]) -> Path:
    """Returns runs/DATA-DIVERGENCE, with the file name's stem as DATA for a sample file."""
    data = settings["data"].split(":")[0]
    if any(data.lower().endswith(suffix) for suffix in (".npy", ".npz", ".csv")):
        data = Path(data).stem
    return Path("runs") / f"{data}-{settings['divergence']}"


def requested_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Returns the run settings from the command line, with the preset of --data filling the gaps."""
    data = args.data if args.data is not None else GENERIC_DEFAULTS["data"]
    preset = {**GENERIC_DEFAULTS, **PRESETS.get(data, {})}
    divergence = args.divergence if args.divergence is not None else preset["divergence"]
    if divergence.lower().replace("_", "-") in RAW_SAMPLE_DIVERGENCES:
        preset["pack"] = 1

    settings = {}
    for key in RUN_OPTIONS:
        value = getattr(args, key)
        settings[key] = preset.get(key) if value is None else value
    if settings["final_learning_rate"] is None:
        settings["final_learning_rate"] = settings["learning_rate"]
    return settings


def explicit_options(args: argparse.Namespace) -> dict[str, Any]:
    """Returns the run options given on the command line (parser defaults are None)."""
    return {key: getattr(args, key) for key in RUN_OPTIONS if getattr(args, key) is not None}


def _differences(requested: dict[str, Any], saved: dict[str, Any], keys) -> list[str]:
    """Returns "--flag VALUE (saved: VALUE)" for each key whose values differ."""
    # Runs saved before an option existed were trained with its generic default.
    return [f"{option_flag(key)} {requested.get(key)} (saved: {saved.get(key, GENERIC_DEFAULTS.get(key))})"
            for key in keys if requested.get(key) != saved.get(key, GENERIC_DEFAULTS.get(key))]


def read_json(path: Path) -> dict[str, Any]:
    """Reads a JSON object from a run folder; raises ValueError naming the file when it is invalid."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); pass --overwrite to start the run again.") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not contain a JSON object; pass --overwrite to start the run again.")
    return value


def resolve_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Returns the settings of the run in `out`, applying the folder rules of the module docstring.

    Raises:
      ValueError: the folder contains a run with other settings, --resume
        found no run, or --resume --steps requests fewer steps than were done.
    """
    requested = requested_settings(args)
    settings_path = out / SETTINGS_FILE
    if args.overwrite:
        if args.resume:
            raise ValueError("--overwrite deletes the run that --resume would continue; pass only one of them.")
        delete_run(out)

    if not settings_path.exists():
        if args.resume:
            raise ValueError(f"--resume: {settings_path} not found; start the run without --resume first.")
        if (out / CHECKPOINTS_FOLDER).exists():
            raise ValueError(
                f"{out} contains checkpoints but no {SETTINGS_FILE}, so its settings are unknown; "
                "choose another --out, or pass --overwrite to delete them and start again."
            )
        return {**requested, "decay_steps": requested["steps"]}

    saved = read_json(settings_path)
    if args.resume:
        return _settings_for_resume(args, saved, settings_path)

    differences = _differences(requested, saved, RUN_OPTIONS)
    if differences:
        message = (
            f"{out} contains a run with other settings: {'; '.join(differences)}. Rerun with the "
            f"saved options to resume it, choose another --out for a new run, or pass --overwrite "
            f"to delete it and start again."
        )
        if len(differences) == 1 and requested["steps"] > saved["steps"]:
            message += f" To train it further, pass --resume --steps {requested['steps']}."
        raise ValueError(message)
    return saved


def _settings_for_resume(args: argparse.Namespace, saved: dict[str, Any], path: Path) -> dict[str, Any]:
    """Returns the saved settings, with --steps raised when it is given; rejects other changes."""
    explicit = explicit_options(args)
    conflicts = _differences(explicit, saved, [key for key in explicit if key != "steps"])
    if conflicts:
        raise ValueError(
            f"--resume continues the run with the settings in {path}, but the command line sets "
            f"{'; '.join(conflicts)}. Drop those options, or choose another --out for a new run."
        )
    settings = dict(saved)
    steps = explicit.get("steps")
    if steps is not None:
        if steps < saved["steps"]:
            raise ValueError(
                f"--resume --steps {steps} is below the run's {saved['steps']} steps; pass at least "
                f"{saved['steps']}, or omit --steps."
            )
        # The learning-rate schedule keeps its length (decay_steps), so the extra
        # steps run at the final learning rate.
        settings["steps"] = steps
    return settings


def delete_run(out: Path) -> None:
    """Deletes the files of a run from `out`, and nothing else."""
    for name in _RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in _RUN_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)


def finished_report(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """Returns the report of a run in `out` that finished all its steps, else None."""
    path = out / REPORT_FILE
    if not path.exists():
        return None
    report = read_json(path)
    if report.get("status") == "finished" and report.get("steps_completed", 0) >= settings["steps"]:
        return report
    return None


def previous_report(out: Path) -> dict[str, Any]:
    """Returns the report of an earlier, interrupted invocation, or {} when there is none."""
    path = out / REPORT_FILE
    return read_json(path) if path.exists() else {}


def _json_ready(value: Any) -> Any:
    """Replaces non-finite floats by the strings "inf", "-inf" or "nan", which strict JSON lacks."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
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


def format_duration(seconds: float) -> str:
    """Formats seconds as H:MM:SS, or M:SS under an hour."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def _format_kl(value: float | str) -> str:
    """Formats the mode-histogram KL, which is inf without high-quality samples ("inf" in JSON)."""
    value = float(value)
    if math.isinf(value):
        return "inf (no high-quality samples)"
    return f"{value:.4f}"


def format_summary(report: dict[str, Any]) -> str:
    """Returns the summary printed at the end of a run: scores, energy, wall time and run folder."""
    settings = report["settings"]
    lines = [f"discrepancy train: {report['divergence']['name']} on {settings['data']}, "
             f"{report['steps_completed']} steps, pack {settings['pack']}, seed {report['seed']}"]

    metrics = report["final_metrics"]
    if metrics:
        lines += [
            f"  modes captured:        {metrics['modes_captured']} / {metrics['num_modes']}",
            f"  high-quality samples:  {100 * metrics['high_quality_fraction']:.1f} %",
            f"  mode-histogram KL:     {_format_kl(metrics['mode_kl'])}",
        ]
        if "total_correlation" in metrics:
            lines += [f"    channels' KL:        {metrics['channel_kl']:.4f} (digit shares within channels)",
                      f"    total correlation:   {metrics['total_correlation']:.4f} "
                      f"(dependence between channels)"]
    else:
        lines.append("  modes:                 not scored (no known modes for this data)")

    invocations = report.get("invocations", 1)
    over = f" over {invocations} invocations" if invocations > 1 else ""
    energy = report["energy"]
    if report["energy_total_is_estimate"]:
        label = "estimate from CPU time"
        if "watts_per_core" in energy:
            label += f" at {energy['watts_per_core']:g} W per busy core"
    else:
        label = "measured by " + " and ".join(energy["sources"])
    lines.append(f"  energy:                {report['energy_total_joules'] / 1000:.2f} kJ = "
                 f"{report['energy_total_watt_hours']:.3f} Wh{over} ({label})")

    wall = f"{format_duration(report['wall_seconds'])} (training {format_duration(report['training_seconds'])})"
    if invocations > 1:
        wall += f", {format_duration(report['wall_seconds_total'])} over {invocations} invocations"
    lines.append(f"  wall time:             {wall}")
    lines.append(f"  run folder:            {report['run_folder']} "
                 f"({REPORT_FILE}, {SAMPLES_FILE}, {CHECKPOINTS_FOLDER}/)")
    return "\n".join(lines)
