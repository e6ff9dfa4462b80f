"""Subcommands of the `discrepancy` command, one module each.

Each module exposes `add_parser(subparsers)`, which adds its sub-parser and
sets `run=` (a function of the parsed arguments returning an exit code).
"""
