"""`discrepancy bench mode-collapse`: train every method on every dataset and compare mode coverage.

Runs are appended to a JSON-lines results file as they finish, so an
interrupted benchmark resumes where it stopped. The table goes into the
"mode-collapse" section of docs/benchmarks.md (the "mode-collapse-quick"
section for the quick preset) and the figure to docs/mode_collapse.png,
both in the source checkout, unless --no-write is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

_DEFAULT_RESULTS = "runs/bench-mode-collapse.jsonl"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `bench` sub-parser and its benchmarks; their `run` default returns an exit code."""
    from discrepancy._bench import mode_collapse as _benchmark

    parser = subparsers.add_parser(
        "bench", help="run a benchmark of the library",
        description="Run a benchmark of the library and record its table in docs/benchmarks.md.",
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    mode_collapse = benchmarks.add_parser(
        "mode-collapse",
        help="train every divergence on mixtures and stacked digits, and score mode collapse",
        description=(
            "Train GANs by each divergence (and PacGAN, VEEGAN) on the ring, grid, 1200-D ring "
            "and stacked digits over several seeds, then report modes captured, high-quality "
            "fraction, mode-histogram KL, FID, time and energy, beside the published numbers."
        ),
    )
    mode_collapse.add_argument(
        "--preset", default="quick", choices=sorted(_benchmark.PRESETS),
        help="quick: one seed, short runs, every method on the ring and two elsewhere (about 15 "
             "minutes on 2 CPU cores); full: every method on every dataset over 10 seeds, plus the "
             "best configuration of each dataset (about two days; run it in parts) "
             "(default: quick)",
    )
    mode_collapse.add_argument(
        "--datasets", type=_comma_list,
        help=f"comma-separated datasets to run, from {', '.join(_benchmark.DATASETS)} (default: the preset's)",
    )
    mode_collapse.add_argument(
        "--methods", type=_comma_list,
        help=f"comma-separated methods to run on every dataset, from {', '.join(_benchmark.METHODS)} "
             "(default: the preset's)",
    )
    mode_collapse.add_argument(
        "--runs", type=_pair_list,
        help="comma-separated DATASET:METHOD pairs to run instead of --datasets x --methods, "
             "for example ring:pacgan2-long,grid:pacgan2-mmd-16k",
    )
    mode_collapse.add_argument("--seeds", type=int, help="seeds per dataset and method (default: the preset's)")
    mode_collapse.add_argument("--first-seed", type=int, default=0, help="first seed (default: 0)")
    mode_collapse.add_argument("--steps", type=int,
                               help="generator steps of every run (default: the preset's steps per dataset)")
    mode_collapse.add_argument(
        "--results", default=_DEFAULT_RESULTS,
        help="JSON-lines file that finished runs are appended to and read back from, so a rerun "
             f"skips them (default: {_DEFAULT_RESULTS})",
    )
    mode_collapse.add_argument("--no-write", action="store_true",
                               help="do not update docs/benchmarks.md, and write no figure unless --figure is given")
    mode_collapse.add_argument("--figure", help="PNG of generated samples per method (default: docs/mode_collapse.png)")
    mode_collapse.add_argument(
        "--section",
        help="section of docs/benchmarks.md that the table replaces: mode-collapse, or a name "
             "that starts with mode-collapse- so that a selection sits beside the preset tables "
             "(default: mode-collapse for the full preset, mode-collapse-quick for the quick one)",
    )
    mode_collapse.set_defaults(run=run_mode_collapse)
    return parser


_SECTION_PATTERN = re.compile(r"mode-collapse(-[a-z0-9]+)*")


def section_name(preset: str, section: str | None) -> str:
    """Returns the docs/benchmarks.md section a run writes: `section`, or the preset's own.

    Raises:
      ValueError: `section` is not "mode-collapse" or "mode-collapse-" plus
        lower-case words, which keeps the bench away from the sections of
        the other benchmarks.
    """
    if section is None:
        return "mode-collapse" if preset == "full" else f"mode-collapse-{preset}"
    if not isinstance(section, str) or not _SECTION_PATTERN.fullmatch(section):
        raise ValueError(
            f"--section must be mode-collapse or start with mode-collapse- followed by lower-case "
            f"letters, digits and hyphens, got {section!r}; for example --section mode-collapse-ring."
        )
    return section


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _pair_list(text: str) -> list[tuple[str, str]]:
    """Parses "ring:gan,grid:pacgan2" into [("ring", "gan"), ("grid", "pacgan2")]."""
    pairs = []
    for item in _comma_list(text):
        dataset, colon, method = item.partition(":")
        if not colon or not dataset or not method:
            raise argparse.ArgumentTypeError(
                f"--runs takes DATASET:METHOD pairs separated by commas, got {item!r}; for example "
                "ring:pacgan2-long,grid:pacgan2-mmd-16k")
        pairs.append((dataset.strip(), method.strip()))
    return pairs


def _checkout_root() -> Path | None:
    """Returns the source checkout that contains this package, or None for an installed copy."""
    import discrepancy

    root = Path(discrepancy.__file__).resolve().parent.parent
    return root if (root / "benchmarks" / "_common.py").is_file() else None


def _load_benchmark_helpers(root: Path):
    """Loads benchmarks/_common.py of the checkout, whose `write_section` owns docs/benchmarks.md."""
    path = root / "benchmarks" / "_common.py"
    spec = importlib.util.spec_from_file_location("discrepancy_benchmarks_common", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command_line(args: argparse.Namespace) -> str:
    """Rebuilds the command from the options the user set, for the report's header."""
    parts = ["discrepancy bench mode-collapse", f"--preset {args.preset}"]
    for option in ("datasets", "methods"):
        if getattr(args, option):
            parts.append(f"--{option} {','.join(getattr(args, option))}")
    if args.runs:
        parts.append("--runs " + ",".join(f"{dataset}:{method}" for dataset, method in args.runs))
    for option in ("seeds", "steps"):
        if getattr(args, option) is not None:
            parts.append(f"--{option} {getattr(args, option)}")
    if args.first_seed:
        parts.append(f"--first-seed {args.first_seed}")
    if args.results != _DEFAULT_RESULTS:
        parts.append(f"--results {args.results}")
    if args.figure:
        parts.append(f"--figure {args.figure}")
    if args.section:
        parts.append(f"--section {args.section}")
    return " ".join(parts)


def _progress_line(index: int, total: int, run, record: dict, resumed: bool) -> str:
    """Formats one finished run for stderr."""
    label = f"[{index}/{total}] {run.dataset} {run.method.name} seed {run.seed}"
    if resumed:
        label += " (from the results file)"
    if record["diverged"]:
        return f"{label}: diverged at step {record.get('steps_completed')}"
    text = (f"{label}: {record['modes']} of {record['num_modes']} modes, "
            f"{100 * record['high_quality']:.1f} % high quality, KL {float(record['kl']):.3f}, "
            f"FID {record['fid']:.4g}")
    return text + (f", {record['seconds']:.0f} s" if record["seconds"] else "")


def run_mode_collapse(args: argparse.Namespace) -> int:
    """Plans and runs the benchmark, then writes the table and figure; returns the exit code."""
    import numpy as np

    from discrepancy._bench import mode_collapse as _benchmark, mode_collapse_report as _benchmark_report

    section = section_name(args.preset, args.section)
    runs = _benchmark.plan_runs(args.preset, datasets=args.datasets, methods=args.methods,
                                seeds=args.seeds, first_seed=args.first_seed, steps=args.steps,
                                pairs=args.runs)
    root = _checkout_root()
    helpers = None
    if not args.no_write:
        if root is None:
            raise ValueError(
                "docs/benchmarks.md belongs to a source checkout of discrepancy, and this "
                "installation has none (benchmarks/_common.py not found); pass --no-write to keep "
                "only the results file, with --figure PATH for the figure."
            )
        helpers = _load_benchmark_helpers(root)
    figure_path = Path(args.figure) if args.figure else None
    if figure_path is None and not args.no_write:
        figure_path = root / "docs" / "mode_collapse.png"

    print(f"discrepancy bench mode-collapse: {len(runs)} runs ({args.preset} preset), results in "
          f"{args.results}", file=sys.stderr)
    started = time.perf_counter()
    resumed_flags = []

    def report_progress(run, record, resumed):
        resumed_flags.append(resumed)
        line = _progress_line(len(resumed_flags), len(runs), run, record, resumed)
        print(line, file=sys.stderr, flush=True)

    records = _benchmark.run_benchmark(runs, args.results, on_result=report_progress)
    minutes = (time.perf_counter() - started) / 60
    run_minutes = sum(record.get("wall_seconds", 0.0) for record in records) / 60
    resumed = sum(resumed_flags)

    if figure_path is not None:
        _benchmark_report.write_figure(records, figure_path)
        print(f"discrepancy bench mode-collapse: figure {figure_path}", file=sys.stderr)

    table = _benchmark_report.markdown_table(_benchmark_report.SUMMARY_HEADER,
                                             _benchmark_report.summary_rows(records))
    print(table)
    print(f"discrepancy bench mode-collapse: done in {minutes:.1f} minutes ({resumed} of {len(runs)} "
          f"runs read from {args.results}; all runs took {run_minutes:.1f} minutes)", file=sys.stderr)

    if helpers is not None:
        loads = [record["load_average"] for record in records if "load_average" in record]
        customised = args.datasets or args.methods or args.runs or args.seeds is not None or args.steps is not None
        selection = (f"A selection from the {args.preset} preset, as the command shows."
                     if customised else _benchmark.PRESETS[args.preset].note)
        note = (f"{selection} The runs took {run_minutes:.1f} minutes of "
                "wall time in all (data, compilation, training and scoring, summed over runs), and "
                f"the 1-minute load average at the end of a run was {np.mean(loads or [np.nan]):.1f} "
                f"on average, on {os.cpu_count()} cores.")
        in_docs = figure_path is not None and figure_path.resolve().parent == (root / "docs").resolve()
        body = _benchmark_report.report_body(records, note=note,
                                             figure_name=figure_path.name if in_docs else None)
        datasets = ", ".join(dict.fromkeys(run.dataset for run in runs))
        title = (f"Mode collapse of chosen methods on {datasets} ({args.preset} preset settings)"
                 if customised else f"Mode collapse of every divergence ({args.preset} preset)")
        page = helpers.write_section(section, title, _command_line(args), body)
        print(f"discrepancy bench mode-collapse: table in {page}", file=sys.stderr)
    return 0
