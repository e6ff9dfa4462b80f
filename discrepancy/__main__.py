"""Runs the `discrepancy` command: python -m discrepancy."""

import sys

from discrepancy.cli import main

if __name__ == "__main__":
    sys.exit(main())
