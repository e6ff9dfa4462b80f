"""Mode-collapse benchmark on the ring and grid mixtures with PacGAN's presets.

Each run trains a GAN with the library (`discrepancy.gans.GAN`), generates
2500 samples and scores them as PacGAN and VEEGAN do, through
`discrepancy.metrics.mode_coverage`: each sample goes to its nearest mode by
std-normalised distance, is high quality within 3 standard deviations, a mode
is captured with at least one high-quality sample, and the KL divergence
between the high-quality mode histogram and uniform measures balance.

The quality bar: a configuration passes a seed when it captures every mode
(8 of 8, 25 of 25) with at least 90 % high-quality samples and a histogram KL
below 0.05; it passes the benchmark when it does so on at least 9 of 10
seeds, each run under 10 minutes on 2 CPU cores.

Run:  .venv/bin/python -m benchmarks.mode_collapse [--seeds 10] [--runs ring:pacgan2-long,grid:pacgan2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._common import markdown_table, write_section  # noqa: E402
from discrepancy import datasets, gans  # noqa: E402
from discrepancy.gans import _energy, _networks  # noqa: E402
from discrepancy.metrics import mode_coverage  # noqa: E402

NUM_EVALUATION_SAMPLES = 2500


@dataclasses.dataclass(frozen=True)
class Config:
    """One training configuration of the benchmark."""

    name: str
    divergence: str = "gan"
    pack: int = 1
    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    hidden_units: tuple[int, ...] = (128, 128, 128)
    latent_dim: int = 16
    critic_steps: int = 1


CONFIGS = {
    config.name: config
    for config in [
        Config("gan"),
        Config("pacgan2", pack=2),
        Config("pacgan4", pack=4),
        Config("wgan-gp", divergence="wasserstein", critic_steps=5, learning_rate=1e-4, final_learning_rate=1e-5),
        Config("pacgan2-long", pack=2, steps=12000, final_learning_rate=1e-5),
        Config("pacgan4-long", pack=4, steps=12000, final_learning_rate=1e-5),
        Config("pacgan2-wide", pack=2, steps=12000, final_learning_rate=1e-5, hidden_units=(256, 256, 256),
               batch_size=512),
    ]
}

# Numbers reported by the papers (10 runs each), quoted for comparison:
# Lin et al., "PacGAN", NeurIPS 2018, and Srivastava et al., "VEEGAN", NeurIPS 2017.
PUBLISHED = [
    ["grid", "GAN, as reported by PacGAN", "17.3", "", "", "reported"],
    ["grid", "PacGAN2 to PacGAN4, as reported by PacGAN", "23.8-24.8", "91-94 %", "0.04-0.13 (reverse KL)",
     "reported"],
    ["grid", "VEEGAN, as reported by VEEGAN", "24.6", "40 %", "", "reported"],
    ["ring", "PacGAN2 to PacGAN4, as reported by PacGAN", "7.8-7.9", "", "", "reported"],
    ["ring", "VEEGAN, as reported by VEEGAN", "8", "52.9 %", "", "reported"],
]


def make_model(config: Config, seed: int) -> gans.GAN:
    """Builds and compiles the GAN of one configuration."""
    keras.utils.set_random_seed(seed)
    generator = _networks.mlp_generator(2, latent_dim=config.latent_dim, hidden_units=config.hidden_units)
    critic = _networks.mlp_critic(hidden_units=config.hidden_units)
    model = gans.GAN(generator, critic, divergence=config.divergence, pack=config.pack,
                     critic_steps=config.critic_steps, seed=seed)

    def schedule():
        # Cosine decay from the initial to the final rate over the run sharpens
        # the modes at the end of training.
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, config.steps, alpha=config.final_learning_rate / config.learning_rate)

    model.compile(keras.optimizers.Adam(schedule(), beta_1=0.5, beta_2=0.9),
                  keras.optimizers.Adam(schedule(), beta_1=0.5, beta_2=0.9))
    return model


def run_one(dataset: str, config: Config, seed: int) -> dict[str, Any]:
    """Trains one configuration on one dataset with one seed; returns its scores."""
    make = {"ring": datasets.ring, "grid": datasets.grid}[dataset]
    data = make(20000, seed=1000 + seed)
    model = make_model(config, seed)

    meter = _energy.EnergyMeter()
    meter.start()
    started = time.perf_counter()
    model.fit(data.samples, batch_size=config.batch_size, epochs=1, steps_per_epoch=config.steps, verbose=0)
    seconds = time.perf_counter() - started
    energy = meter.stop()

    samples = model.generate(NUM_EVALUATION_SAMPLES, seed=seed)
    coverage = mode_coverage(samples.astype(np.float64), data.means, data.stds, threshold=3.0)
    passed = (coverage.modes_captured == data.num_modes and coverage.high_quality_fraction >= 0.9
              and coverage.kl < 0.05)
    return {
        "dataset": dataset, "config": config.name, "seed": seed,
        "modes": int(coverage.modes_captured), "num_modes": data.num_modes,
        "high_quality": float(coverage.high_quality_fraction), "kl": float(coverage.kl),
        "passed": bool(passed), "seconds": seconds, "joules": energy["joules"],
        "energy_is_estimate": energy["is_estimate"],
    }


def summarise(results: list[dict[str, Any]]) -> list[list[Any]]:
    """Returns one table row per (dataset, configuration)."""
    rows = []
    keys = sorted({(r["dataset"], r["config"]) for r in results})
    for dataset, name in keys:
        runs = [r for r in results if r["dataset"] == dataset and r["config"] == name]
        rows.append([
            dataset, name, len(runs),
            f"{np.mean([r['modes'] for r in runs]):.2f} / {runs[0]['num_modes']}",
            f"{sum(r['modes'] == r['num_modes'] for r in runs)}",
            f"{100 * np.mean([r['high_quality'] for r in runs]):.1f} %",
            f"{np.median([r['kl'] for r in runs]):.4f}",
            f"{sum(r['passed'] for r in runs)} / {len(runs)}",
            f"{np.mean([r['seconds'] for r in runs]):.0f} s",
            f"{np.mean([r['joules'] for r in runs]) / 3600:.3f} Wh"
            + (" (estimate)" if any(r["energy_is_estimate"] for r in runs) else ""),
        ])
    return rows


def load_results(path: Path) -> list[dict[str, Any]]:
    """Returns the runs recorded in a results file, the latest one for each (dataset, config, seed)."""
    latest = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            latest[(record["dataset"], record["config"], record["seed"])] = record
    return list(latest.values())


_HEADER = ["dataset", "configuration", "seeds", "modes (mean)", "seeds with all modes",
           "high quality (mean)", "KL (median)", "seeds passing", "time per run", "energy per run"]


def write_report(results: list[dict[str, Any]], names: list[str], command: str) -> None:
    """Writes the benchmark's section of docs/benchmarks.md."""
    configs = "\n".join(f"- `{name}`: {CONFIGS[name]}" for name in names)
    body = (
        "Scoring as in PacGAN: 2500 samples, nearest mode by std-normalised distance, high "
        "quality within 3 std, KL between the high-quality mode histogram and uniform. A seed "
        "passes with all modes, >= 90 % high quality and KL < 0.05. Times and energy were "
        "measured on a machine shared with other jobs (load average about 10 on 2 cores), so "
        "they overstate the cost of a run on an idle machine.\n\n"
        + markdown_table(_HEADER, summarise(results))
        + "\n\nConfigurations:\n\n" + configs
        + "\n\nPublished numbers, quoted from the papers for comparison (not rerun here):\n\n"
        + markdown_table(["dataset", "method", "modes", "high quality", "KL", "source"], PUBLISHED)
    )
    write_section("mode-collapse", "Mode collapse on the ring and grid (PacGAN presets)", command, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per configuration (default: 10)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default: 0)")
    parser.add_argument(
        "--runs", default="ring:pacgan2-long,grid:pacgan2",
        help=f"comma-separated DATASET:CONFIG pairs; datasets ring, grid; configs {', '.join(CONFIGS)}",
    )
    parser.add_argument("--results", default=os.path.join(tempfile.gettempdir(), "discrepancy_mode_collapse.jsonl"),
                        help="JSON-lines file the runs are appended to")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)

    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    plan = [item.split(":") for item in args.runs.split(",")]
    for item in plan:
        if len(item) != 2 or item[0] not in ("ring", "grid") or item[1] not in CONFIGS:
            parser.error(f"--runs expects DATASET:CONFIG pairs such as ring:pacgan2, got {':'.join(item)!r}")

    command = "python -m benchmarks.mode_collapse " + " ".join(argv if argv is not None else sys.argv[1:])
    results = []
    for dataset, name in plan:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = run_one(dataset, CONFIGS[name], seed)
            results.append(result)
            with results_path.open("a") as stream:
                stream.write(json.dumps(result) + "\n")
            print(json.dumps(result), file=sys.stderr, flush=True)

            # Rewrite the report after every run, so an interrupted benchmark
            # still leaves the runs it finished. It covers every run in the
            # results file, so separate invocations add up to one table.
            if not args.no_write:
                recorded = load_results(results_path)
                write_report(recorded, sorted({r["config"] for r in recorded}),
                             f"{command}`; the table covers every run recorded in `{results_path}")

    print(markdown_table(_HEADER, summarise(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
