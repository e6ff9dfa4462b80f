#!/usr/bin/env bash
# Set up .venv/ if needed, then run the default test suite (slow tests excluded).
# Arguments are passed to pytest, for example: bash test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv "plots,test"

# Tests run in one pytest-xdist worker per core, at most 4 because each
# worker loads TensorFlow. Many tests spend most of their time tracing and
# compiling, which keeps one core busy, so workers fill the other cores. A
# later -n argument overrides this, and -n 0 runs the tests in one process.
workers="$(nproc 2>/dev/null || echo 1)"
if [ "$workers" -gt 4 ]; then
    workers=4
fi
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal "$@"
