"""The mode-collapse benchmark: train every method on every dataset over seeds, then score it.

Each run trains one configuration (`MethodConfig`) on one dataset with one
seed, generates samples and scores them:

  * modes captured, high-quality fraction and the KL divergence between the
    generated mode histogram and the target weights, from
    `discrepancy.metrics.mode_coverage`. The 2-D ring and grid follow PacGAN
    (2500 samples, nearest mode by std-normalised distance, high quality
    within 3 std). Stacked digits are labelled by the shipped
    `DigitsClassifier`, one digit per channel, giving 1000 modes.
  * FID against held-out real samples, on raw coordinates for the mixtures
    and on the classifier's 192 penultimate-layer features for stacked digits.
  * training time and energy (`EnergyMeter`: RAPL where readable, otherwise
    an estimate from CPU time).

Every finished run is appended to a JSON-lines results file, so an
interrupted benchmark resumes and skips the runs it finished. A run is
identified by its dataset, method, seed and a fingerprint of every setting
that changes its result, so changing the steps or a configuration reruns it.

`discrepancy bench mode-collapse` and `benchmarks/mode_collapse.py` both run
this module; `mode_collapse_report` turns the results into a table and a figure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence


__all__ = [
    "DATASETS",
    "METHODS",
    "BEST_METHODS",
    "DEFAULT_METHODS",
    "PRESETS",
    "REFERENCE",
    "MethodConfig",
    "Preset",
    "Run",
    "plan_runs",
    "run_benchmark",
    "load_results",
    "append_result",
    "record_key",
    "NUM_TRAIN",
]

logger = logging.getLogger("discrepancy.gans")

DATASETS = ("ring", "grid", "high_dim_ring", "stacked_digits")

# The pseudo-method that scores held-out real samples as if generated: the
# best score each dataset allows at its sample size.
REFERENCE = "real-data"

# Training samples drawn from each dataset for a run.
NUM_TRAIN = 20000


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """One training configuration of the benchmark.

    Attributes:
      name: the key in `METHODS` and the label in the table and figure.
      description: one line for the table's list of configurations.
      model: "gan" (`GAN`, any divergence, optional packing) or "veegan".
      divergence: the `divergence` argument of the model.
      pack: PacGAN's m, the number of samples the critic judges together.
      critic_steps: critic updates per generator update.
      learning_rate: initial Adam learning rate of both networks.
      final_learning_rate: rate reached at the last step by cosine decay.
        NOTE: both schedules count optimizer updates over `steps` updates, so
        with critic_steps k the critic's rate reaches the final rate after
        steps / k generator steps and stays there. The recorded results of
        the configurations with k > 1 were trained this way.
      steps: generator updates; None takes the preset's steps for the dataset.
      batch_size: real samples per step; None takes the dataset's default.
      hidden_units: widths of the MLP layers for vector data, and for
        images with networks="mlp" (the generator's only, with
        networks="channel-critic").
      latent_dim: noise dimension for vector data and for images with
        networks="mlp" or "channel-critic" (the convolutional image networks
        use 32).
      networks: for images, "conv" (the default convolutional networks),
        "mlp" (`mlp_image_generator` and `mlp_critic` with `hidden_units`)
        or "channel-critic" (`mlp_image_generator` with `hidden_units` and
        `channel_critic` with its default sizes). Vector data always use MLPs.
      jit_compile: the `jit_compile` argument of `GAN.compile`.
      model_options: further keyword arguments of the model's constructor,
        for example {"ema_decay": 0.999}.
      matching: the model's sample-matching term, empty for none. Keys:
        "divergence" ("mmd", "energy" or "sinkhorn"), "bandwidth" (MMD
        bandwidths), "weight" (initial weight), "decay_fraction" (the weight
        decays linearly over this fraction of the run's steps),
        "final_weight" (the weight it decays to and then keeps; 0 when
        absent) and "size" (samples per batch in the term).
      independence: the model's channel-independence term, empty for none.
        Keys: "bandwidth" (bandwidths of the MMD's Gaussian kernels) and
        "weight".
    """

    name: str
    description: str
    model: str = "gan"
    divergence: str = "gan"
    pack: int = 1
    critic_steps: int = 1
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    steps: int | None = None
    batch_size: int | None = None
    hidden_units: tuple[int, ...] = (128, 128, 128)
    latent_dim: int = 16
    networks: str = "conv"
    jit_compile: bool | str = "auto"
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    matching: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    independence: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _methods(*configs: MethodConfig) -> dict[str, MethodConfig]:
    for config in configs:
        if config.networks not in ("conv", "mlp", "channel-critic"):
            raise ValueError(f"method {config.name!r}: `networks` must be 'conv', 'mlp' or 'channel-critic', "
                             f"got {config.networks!r}.")
    return {config.name: config for config in configs}


# Named configurations. The first eleven form the comparison grid
# (`DEFAULT_METHODS`); add tuned configurations below them under new names,
# so that earlier results keep their meaning.
METHODS: dict[str, MethodConfig] = _methods(
    MethodConfig("gan", "original GAN objective, non-saturating generator loss"),
    MethodConfig("jensen-shannon", "f-GAN, Jensen-Shannon divergence", divergence="jensen-shannon"),
    MethodConfig("kl", "f-GAN, KL(P || Q)", divergence="kl"),
    MethodConfig("reverse-kl", "f-GAN, KL(Q || P)", divergence="reverse-kl"),
    MethodConfig("pearson", "f-GAN, Pearson chi-squared", divergence="pearson"),
    # NOTE: on the ring this configuration oscillates (the generated radius
    # swung between 0.1 and 3 over the first 4000 steps, against a data
    # radius of 1) and ended with 2 of 8 modes after 12000 steps on one seed.
    # The penalty weight 10 dominates the critic on such sharp 2-D modes.
    # With weight 0.1, as in the toy code of Gulrajani et al., all 8 modes
    # were there by step 2000. The comparison keeps the paper's 10.
    MethodConfig("wasserstein-gp", "Wasserstein-1, gradient penalty 10, 5 critic steps",
                 divergence="wasserstein", critic_steps=5, learning_rate=1e-4,
                 final_learning_rate=1e-5),
    MethodConfig("mmd", "MMD on raw samples, Gaussian kernels of bandwidths 0.25 to 4",
                 divergence="mmd"),
    MethodConfig("sinkhorn", "Sinkhorn divergence on raw samples, epsilon 0.1",
                 divergence="sinkhorn"),
    MethodConfig("pacgan2", "PacGAN, GAN objective with pack=2", pack=2),
    MethodConfig("pacgan4", "PacGAN, GAN objective with pack=4", pack=4),
    # VEEGAN's critic judges (noise, sample) pairs. With 16-D noise and data
    # on a 2-D surface, the reconstructed noise F(x) covers only a 2-D part of
    # the noise space, so the critic separates the pairs by the noise alone.
    # The generator then learned nothing: 0 of 8 ring modes after 12000 steps
    # (one seed), against 8 of 8 with 2-D noise. The ring and grid are 2-D
    # at heart.
    # On high_dim_ring VEEGAN placed no sample within a mode's threshold in
    # 4000 steps, with 2-D noise (three seeds, FID 6 to 76 against about 0.1
    # for the methods that find every mode) or with 16-D noise (one seed,
    # FID 286). A plain GAN with the same 2-D noise found all 10 modes (one
    # seed), so the noise dimension is not the cause. The cause is the scale:
    # that dataset's coordinates are about 0.03 against noise of scale 1, so
    # the critic can tell the (noise, sample) pairs apart by their noise
    # half, while the generator learns only through the sample half.
    MethodConfig("veegan", "VEEGAN, reconstructor and (z, x) critic, 2-D noise on the mixtures",
                 model="veegan", latent_dim=2),
    # VEEGAN with the sample half of the critic's input scaled by 30, which
    # brings the 1200-D ring's coordinates to the noise's scale. On that
    # dataset most samples then land on a mode, but on 2 or 3 of the 10
    # (three seeds). Scaling the training data by 30 instead gave 1 and 4
    # modes (two seeds).
    MethodConfig("veegan-x30", "VEEGAN, 2-D noise, sample half of the critic's input scaled by 30",
                 model="veegan", latent_dim=2, model_options={"sample_scale": 30.0}),
    MethodConfig("pacgan2-long", "PacGAN pack=2, 12000 steps, rate decayed to 1e-5",
                 pack=2, steps=12000, final_learning_rate=1e-5),
    MethodConfig("pacgan4-long", "PacGAN pack=4, 12000 steps, rate decayed to 1e-5",
                 pack=4, steps=12000, final_learning_rate=1e-5),
    MethodConfig("pacgan2-wide", "PacGAN pack=2, 12000 steps, 256-unit layers, batch 512",
                 pack=2, steps=12000, final_learning_rate=1e-5, hidden_units=(256, 256, 256),
                 batch_size=512),
    # The best grid configuration before sample matching: 3 of 10 seeds meet
    # the bar (mean 23.3 modes, 91.7 % high quality, median KL 0.22), about 6
    # minutes per run on 2 loaded cores.
    MethodConfig("pacgan2-ema-b2048", "PacGAN pack=2, batch 2048, 12000 steps, rate decayed to "
                 "1e-5, generator EMA 0.999", pack=2, steps=12000, final_learning_rate=1e-5,
                 batch_size=2048, model_options={"ema_decay": 0.999}),
    # pacgan2-ema-b2048 with 16000 steps and a raw-sample MMD term in the
    # generator loss (bandwidths 0.5, 1 and 2, at the grid's mode spacing;
    # weight 100 decaying to 0 over the first 4000 steps; 512 samples). The
    # critic alone sharpens the modes in the remaining 12000 steps. A first
    # version, pacgan2-mmd, trained 12000 steps in all and ended its first
    # run at 83 % high quality, so it was dropped. The description keeps its
    # name because the description is part of the recorded runs' fingerprints.
    MethodConfig("pacgan2-mmd-16k", "pacgan2-mmd with 16000 steps (MMD over the first 4000)",
                 pack=2, steps=16000, final_learning_rate=1e-5, batch_size=2048,
                 model_options={"ema_decay": 0.999},
                 matching={"divergence": "mmd", "bandwidth": [0.5, 1.0, 2.0], "weight": 100.0,
                           "decay_fraction": 0.25, "size": 512}),
    # pacgan2-mmd-16k with a floor under the matching weight: 100 decaying
    # to 10 over the first 4000 steps, then 10 to the end. Without the floor
    # the mode weights drifted apart on one of five seeds (KL 0.198) once the
    # term was gone. With it they stay balanced, and the samples are as sharp.
    MethodConfig("pacgan2-mmd-floor", "PacGAN pack=2, batch 2048, 16000 steps, rate decayed to "
                 "1e-5, generator EMA 0.999, plus an MMD sample-matching term (bandwidths 0.5, 1, 2; "
                 "512 samples) whose weight decays from 100 to 10 over the first 4000 steps",
                 pack=2, steps=16000, final_learning_rate=1e-5, batch_size=2048,
                 model_options={"ema_decay": 0.999},
                 matching={"divergence": "mmd", "bandwidth": [0.5, 1.0, 2.0], "weight": 100.0,
                           "decay_fraction": 0.25, "final_weight": 10.0, "size": 512}),
    # The best stacked-digits configuration with an MLP critic: 993 to 999
    # of 1000 modes with a mode KL of 0.23 to 0.30 over 3 seeds (26000
    # samples). The KL stays above the bar of 0.1, and no change tried on one
    # seed lowered it. A 3 x 512 generator gave 1.07 and 16000 steps 0.30 to
    # 0.37. A categorical latent code gave 0.28 to 0.33, a raw-pixel MMD
    # matching term 0.25 to 0.32, and penalty weights 1 and 0.1 gave 0.31
    # and 0.59. About 40 % of the generated channels are unclear (classifier
    # confidence below 0.9), and the classifier files unclear digits under
    # 3, 6, 8 and 9 more often than under 5 and 7, which skews the histogram.
    MethodConfig("wgan-gp-pack2-mlp", "Wasserstein-1 with gradient penalty, pack=2, 5 critic "
                 "steps, MLP networks of 2 x 256 units, latent 32, batch 256, rate 3e-4 decayed "
                 "to 1e-5, generator EMA 0.999", divergence="wasserstein", pack=2,
                 critic_steps=5, learning_rate=3e-4, final_learning_rate=1e-5, batch_size=256,
                 steps=8000, hidden_units=(256, 256), latent_dim=32, networks="mlp",
                 model_options={"ema_decay": 0.999}),
    # The plain MLP critic must learn the same digit features once per
    # channel. With one encoder shared by all channels the generated digits
    # become clearer. After 4000 steps the digits classifier was less than
    # 0.9 confident on about 21 % of the channels, against about 37 % with
    # an MLP critic of 2 x 512 units.
    # NOTE: the channels then become dependent. In one 8000-step run the
    # per-channel digit shares were near uniform (KL 0.008 to 0.014 per
    # channel). But the mutual information between the digits of two
    # channels was 0.12 to 0.16 nats (0.01 to 0.02 with the MLP critic), so
    # the run reached 978 of 1000 modes with a mode KL of 0.44.
    # wgan-gp-pack2-channel-indep below adds a penalty on that dependence.
    MethodConfig("wgan-gp-pack2-channel", "Wasserstein-1 with gradient penalty, pack=2, 5 "
                 "critic steps, MLP generator of 2 x 512 units, critic with one 2 x 256 encoder "
                 "shared by all channels and a joint layer of 256 units, latent 32, batch 256, "
                 "rate 2e-4 decayed to 1e-5, generator EMA 0.999", divergence="wasserstein",
                 pack=2, critic_steps=5, learning_rate=2e-4, final_learning_rate=1e-5,
                 batch_size=256, steps=8000, hidden_units=(512, 512), latent_dim=32,
                 networks="channel-critic", model_options={"ema_decay": 0.999}),
    # wgan-gp-pack2-channel plus the generator's channel-independence term:
    # 100 * MMD^2 between the generated batch and the batch with channel c
    # rolled by c rows (Gaussian kernels of bandwidths 2, 4 and 8 on the 192
    # pixel values, a digit's scale). It keeps the clear digits of the shared
    # encoder and the independent channels of the MLP critic.
    MethodConfig("wgan-gp-pack2-channel-indep", "wgan-gp-pack2-channel plus a channel-independence "
                 "term in the generator loss: 100 * MMD^2 (bandwidths 2, 4, 8) between the "
                 "generated batch and its channel-shuffled copy", divergence="wasserstein",
                 pack=2, critic_steps=5, learning_rate=2e-4, final_learning_rate=1e-5,
                 batch_size=256, steps=8000, hidden_units=(512, 512), latent_dim=32,
                 networks="channel-critic", model_options={"ema_decay": 0.999},
                 independence={"bandwidth": [2.0, 4.0, 8.0], "weight": 100.0}),
)

DEFAULT_METHODS = ("gan", "jensen-shannon", "kl", "reverse-kl", "pearson", "wasserstein-gp",
                   "mmd", "sinkhorn", "pacgan2", "pacgan4", "veegan")

# The best configuration found for each dataset. The full preset runs it
# beside the comparison grid, so that its table shows what the dataset
# allows as well as how the methods compare at equal settings.
BEST_METHODS = {"ring": "pacgan2-long", "grid": "pacgan2-mmd-floor",
                "stacked_digits": "wgan-gp-pack2-channel-indep"}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named benchmark size: which methods run on which dataset, for how long.

    Attributes:
      name: "quick" or "full".
      methods: dataset name -> the methods run on it.
      seeds: seeds per (dataset, method).
      steps: dataset name -> generator updates per run.
      num_eval_samples: dataset name -> generated samples scored per run.
      note: what the preset leaves out, stated under its table.
    """

    name: str
    methods: Mapping[str, tuple[str, ...]]
    seeds: int
    steps: Mapping[str, int]
    num_eval_samples: Mapping[str, int]
    note: str


PRESETS = {
    "quick": Preset(
        name="quick",
        methods={"ring": DEFAULT_METHODS, "grid": ("gan", "pacgan2"),
                 "high_dim_ring": ("gan", "pacgan2"), "stacked_digits": ("gan", "pacgan2")},
        seeds=1,
        steps={"ring": 600, "grid": 600, "high_dim_ring": 400, "stacked_digits": 150},
        num_eval_samples={"ring": 2500, "grid": 2500, "high_dim_ring": 2500, "stacked_digits": 10000},
        note=(
            "The quick preset is a smoke-level comparison, not a result. It runs one seed, "
            "600 generator steps on the 2-D sets (the full preset trains 12000), 400 on "
            "high_dim_ring and 150 on stacked_digits. Every method runs on the ring, but only "
            "gan and pacgan2 on the other datasets. Stacked digits are scored on 10000 "
            "samples instead of 26000, so their mode KL is biased up by about "
            "999 / (2 * 10000) = 0.05 nats."
        ),
    ),
    "full": Preset(
        name="full",
        methods={dataset: DEFAULT_METHODS + ((BEST_METHODS[dataset],) if dataset in BEST_METHODS else ())
                 for dataset in DATASETS},
        seeds=10,
        steps={"ring": 12000, "grid": 12000, "high_dim_ring": 4000, "stacked_digits": 5000},
        num_eval_samples={"ring": 2500, "grid": 2500, "high_dim_ring": 2500, "stacked_digits": 26000},
        note=(
            "Every method on every dataset over 10 seeds, plus the best configuration found "
            "for ring, grid and stacked_digits; stacked digits scored on 26000 samples as in "
            "PacGAN."
        ),
    ),
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One planned run: a method trained on a dataset with a seed, or the real-data reference."""

    dataset: str
    method: MethodConfig
    seed: int
    steps: int
    batch_size: int
    num_eval_samples: int

    @property
    def fingerprint(self) -> str:
        """A short hash of every setting that changes this run's result."""
        from discrepancy import __version__

        method = _json_ready(dataclasses.asdict(self.method))
        # Results recorded before these fields existed keep their fingerprints.
        if method["networks"] == "conv":
            del method["networks"]
        for field in ("matching", "independence"):
            if not method[field]:
                del method[field]
        settings = {
            "dataset": self.dataset, "method": method,
            "steps": self.steps, "batch_size": self.batch_size,
            "num_eval_samples": self.num_eval_samples, "num_train": NUM_TRAIN,
            "version": __version__,
        }
        text = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def key(self) -> tuple[str, str, int, str]:
        """(dataset, method name, seed, fingerprint): the identity of the run in a results file."""
        return (self.dataset, self.method.name, self.seed, self.fingerprint)


def _json_ready(value: Any) -> Any:
    """Converts tuples and mappings to lists and dicts for JSON."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _default_batch_size(dataset: str) -> int:
    """Returns real samples per step: 256 for the mixtures, 64 for the slower image networks."""
    return 64 if dataset == "stacked_digits" else 256


def plan_runs(
    preset: str = "quick",
    *,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    first_seed: int = 0,
    steps: int | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[Run]:
    """Lists the runs of a preset, narrowed or overridden by the caller's options.

    Args:
      preset: "quick" or "full".
      datasets: datasets to run; None keeps the preset's.
      methods: methods run on every selected dataset; None keeps the preset's
        methods for each dataset.
      seeds: seeds per (dataset, method); None keeps the preset's.
      first_seed: the first seed; seeds are first_seed, first_seed + 1, ...
      steps: generator updates of every run, overriding both the preset and
        a configuration's own `steps`.
      pairs: (dataset, method) pairs to run instead of the datasets x
        methods product; cannot be combined with `datasets` or `methods`.

    Returns:
      The runs, with one real-data reference per dataset first.

    Raises:
      ValueError: an unknown preset, dataset or method, or a count below 1.
    """
    from discrepancy import _validation

    _validation.check_option(preset, "--preset", PRESETS)
    chosen = PRESETS[preset]
    for name in datasets or ():
        _validation.check_option(name, "--datasets", DATASETS)
    for name in methods or ():
        _validation.check_option(name, "--methods", METHODS)
    seeds = _validation.as_int(chosen.seeds if seeds is None else seeds, "--seeds", minimum=1)
    first_seed = _validation.as_int(first_seed, "--first-seed", minimum=0)
    if steps is not None:
        steps = _validation.as_int(steps, "--steps", minimum=1)

    if pairs:
        if datasets or methods:
            raise ValueError("--runs names dataset:method pairs itself; drop --datasets and --methods, "
                             "or drop --runs.")
        for dataset, name in pairs:
            _validation.check_option(dataset, "--runs dataset", DATASETS)
            _validation.check_option(name, "--runs method", METHODS)
        selected = {}
        for dataset, name in pairs:
            selected.setdefault(dataset, []).append(name)
    else:
        selected = {dataset: list(methods or chosen.methods.get(dataset, DEFAULT_METHODS))
                    for dataset in datasets or chosen.methods}

    runs = []
    for dataset, names in selected.items():
        num_eval = chosen.num_eval_samples[dataset]
        batch = _default_batch_size(dataset)
        reference = MethodConfig(REFERENCE, "held-out real samples scored as if generated")
        runs.append(Run(dataset, reference, 0, 0, batch, num_eval))

        for name in names:
            config = METHODS[name]
            run_steps = steps or config.steps or chosen.steps[dataset]
            run_batch = config.batch_size or batch
            for seed in range(first_seed, first_seed + seeds):
                runs.append(Run(dataset, config, seed, run_steps, run_batch, num_eval))
    return runs


# Results file.


def load_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads the records of a JSON-lines results file; a missing file has none.

    Raises:
      ValueError: a line that is not a JSON object with the record keys.
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"results file {path}, line {number}, is not valid JSON ({error}); remove "
                "that line or pass another --results file."
            ) from None
        if not isinstance(record, dict) or not {"dataset", "method", "seed", "fingerprint"} <= set(record):
            raise ValueError(
                f"results file {path}, line {number}, is not a mode-collapse run record; pass "
                "another --results file."
            )
        records.append(record)
    return records


def record_key(record: Mapping[str, Any]) -> tuple[str, str, int, str]:
    """Returns the run identity (dataset, method, seed, fingerprint) of a stored record."""
    return (record["dataset"], record["method"], int(record["seed"]), record["fingerprint"])


def append_result(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Appends one record to a results file atomically.

    The file is rewritten through a temporary file in the same folder and a
    rename, so a reader or an interrupted run finds the file either with the
    whole new line or without it.

    NOTE: two benchmarks writing the same file at once can lose each other's
    lines; give each its own --results file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.read_text() if path.exists() else ""
    if previous and not previous.endswith("\n"):
        previous += "\n"
    line = json.dumps(_json_ready(record), sort_keys=True, allow_nan=False)

    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".jsonl.tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(previous + line + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def run_benchmark(
    runs: Iterable[Run],
    results_path: str | os.PathLike,
    *,
    on_result: Callable[[Run, dict[str, Any], bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Runs every planned run that the results file lacks, appending each record as it finishes.

    Args:
      runs: the plan, from `plan_runs`.
      results_path: the JSON-lines results file, created when missing.
      on_result: called after each run with (run, record, True if it was
        read from the file instead of run), for progress reports.

    Returns:
      The records of the planned runs, in plan order.
    """
    # Imported here because that module imports this one.
    from discrepancy._bench import mode_collapse_runs

    finished = {record_key(record): record for record in load_results(results_path)}
    records = []
    for run in runs:
        record = finished.get(run.key)
        resumed = record is not None
        if record is None:
            logger.info("running %s on %s, seed %d, %d steps", run.method.name, run.dataset,
                        run.seed, run.steps)
            started = time.perf_counter()
            record = mode_collapse_runs.run_one(run)
            record["wall_seconds"] = time.perf_counter() - started
            # Other jobs on the machine slow a run down, so the load is recorded with its time.
            record["load_average"] = os.getloadavg()[0]
            record = _finite_or_string(record)
            append_result(results_path, record)
            finished[run.key] = record
        records.append(record)
        if on_result is not None:
            on_result(run, record, resumed)
    return records


def _finite_or_string(record: dict[str, Any]) -> dict[str, Any]:
    """Stores non-finite scores (an infinite KL when no sample is high quality) as "inf" strings."""
    return {key: (str(value) if isinstance(value, float) and not math.isfinite(value) else value)
            for key, value in record.items()}
