"""Mode-collapse benchmark: runs `discrepancy bench mode-collapse` with the same options.

The benchmark lives in the package (`discrepancy._bench.mode_collapse`), so
that the installed command can run it; this script only forwards its
arguments. It trains every method on the ring, grid, 1200-D ring and
stacked digits, scores mode coverage, FID, time and energy, and writes its
table to docs/benchmarks.md and its figure to docs/mode_collapse.png.

Run:  .venv/bin/python -m benchmarks.mode_collapse [--preset quick|full] [--datasets ring,grid]
      [--methods gan,pacgan2] [--seeds 10] [--steps N] [--results FILE] [--no-write]
"""

from __future__ import annotations

import sys

from discrepancy import cli


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark with the given command-line arguments; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    return cli.main(["bench", "mode-collapse", *arguments])


if __name__ == "__main__":
    sys.exit(main())
