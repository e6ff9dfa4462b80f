"""`discrepancy estimate X Y`: a discrepancy between two sample files, with its uncertainty."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from discrepancy._commands import options as shared_options

_EXAMPLE_SEED = 20261204


def example_samples() -> tuple[np.ndarray, np.ndarray, str]:
    """Returns the built-in example: a ring of 8 Gaussian modes against one that lost 2.

    Both sets have 1000 two-dimensional points drawn with a fixed seed, so the
    example gives the same numbers on every machine.
    """
    rng = np.random.default_rng(_EXAMPLE_SEED)
    angles = 2.0 * np.pi * np.arange(8) / 8
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    real = centres[rng.integers(0, 8, 1000)] + 0.1 * rng.standard_normal((1000, 2))
    generated = centres[rng.integers(0, 6, 1000)] + 0.1 * rng.standard_normal((1000, 2))
    description = (
        "built-in example: 1000 points of an 8-mode ring (x, real) against 1000 points "
        "that cover only 6 of its modes (y, generated)"
    )
    return real, generated, description


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "estimate",
        help="estimate a discrepancy between two sample sets",
        description=(
            "Estimate a discrepancy between samples X (real, P) and Y (generated, Q), "
            "each a .npy, .npz (PATH:KEY for one of several arrays) or .csv file with "
            "one sample per row. Without files, a built-in example is used."
        ),
    )
    parser.add_argument("x", nargs="?", help="samples of P (real data)")
    parser.add_argument("y", nargs="?", help="samples of Q (generated data)")
    parser.add_argument(
        "--divergence",
        default="mmd2",
        help="divergence name, or several separated by commas; NAME:METHOD picks the "
             "estimator of one of them, e.g. mmd2,kl:knn (default: mmd2)",
    )
    parser.add_argument(
        "--method",
        help="estimator of every listed divergence; each one's default if omitted",
    )
    shared_options.add_estimator_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of every random step (default: 0)")
    parser.add_argument(
        "--confidence-level", type=float, default=0.95, help="coverage of the interval (default: 0.95)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run)
    return parser


def _split_method(entry: str, shared_method: str | None) -> tuple[str, str | None]:
    """Splits NAME or NAME:METHOD; a method given here overrides --method."""
    name, separator, method = entry.partition(":")
    name, method = name.strip(), method.strip()
    if separator and not method:
        raise ValueError(
            f"--divergence entry {entry!r} has an empty method after ':'; write NAME:METHOD, "
            "for example kl:knn, or NAME alone for its default estimator"
        )
    return name, (method if separator else shared_method)


def run(args: argparse.Namespace) -> int:
    from discrepancy import _io
    from discrepancy.divergences import estimate
    from discrepancy.divergences._estimate import canonical_divergence

    if (args.x is None) != (args.y is None):
        raise ValueError("pass both sample files X and Y, or neither to use the built-in example")
    divergences = [name.strip() for name in args.divergence.split(",") if name.strip()]
    if not divergences:
        raise ValueError(
            f"--divergence {args.divergence!r} names no divergence; pass one or more names "
            "separated by commas, for example --divergence mmd2,energy"
        )
    if args.x is None:
        x, y, source = example_samples()
    else:
        x = _io.load_array(args.x, "X")
        y = _io.load_array(args.y, "Y")
        source = f"x={args.x}, y={args.y}"
    print(f"discrepancy estimate: {source}", file=sys.stderr)

    options = shared_options.estimator_options(args)
    results = []
    for entry in divergences:
        divergence, method = _split_method(entry, args.method)
        divergence = canonical_divergence(divergence)
        print(f"discrepancy estimate: computing {entry} ...", file=sys.stderr)
        try:
            result = estimate(
                x,
                y,
                divergence=divergence,
                method=method,
                seed=args.seed,
                confidence_level=args.confidence_level,
                **shared_options.options_for(divergence, options),
            )
        except (ValueError, TypeError) as error:
            if args.x is None:
                raise
            # The library's messages name its arguments `x` and `y`, so add the files behind them.
            raise type(error)(f"{error} (x is the samples of {args.x}, y those of {args.y})") from error
        results.append(result)

    if args.json:
        payload = [result.to_dict() for result in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    else:
        for result in results:
            print(result)
    return 0
