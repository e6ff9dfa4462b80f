"""The `discrepancy` command: estimate, evaluate, train and bench.

Exit status: 0 on success, 2 for a command-line usage error (argparse),
3 for invalid input data or options (the message names the problem),
130 when interrupted by Ctrl-C (`train` also exits 143 on SIGTERM, after
saving a checkpoint), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INVALID_INPUT = 3
EXIT_INTERRUPTED = 130

_COMMANDS = ("estimate", "evaluate", "train", "bench")


def _quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ start-up logs through its documented environment variable.

    Level 3 also hides C++ ERROR lines, such as the failed CUDA probe that
    CUDA builds print on machines without a GPU; failures that matter reach
    the command as Python exceptions. Only the command line does this, and a
    value the user already set is kept.

    NOTE: TensorFlow 2.21 writes a few start-up lines through absl before it
    reads this variable (the oneDNN and CUDA notices), so those still appear.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with every available subcommand."""
    from discrepancy import __version__

    parser = argparse.ArgumentParser(
        prog="discrepancy",
        description=(
            "Distances between sample sets, GANs trained by a chosen divergence, "
            "and sample-quality metrics."
        ),
    )
    parser.add_argument("--version", action="version", version=f"discrepancy {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        module_name = f"discrepancy._commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line and returns its exit status."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or EXIT_OK)
    except (ValueError, TypeError) as error:
        print(f"discrepancy {args.command}: error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except KeyboardInterrupt:
        print(f"discrepancy {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
