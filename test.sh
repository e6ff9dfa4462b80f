#!/usr/bin/env bash
# Set up .venv/ if needed, then run the default test suite (slow tests excluded).
# Arguments are passed to pytest, for example: bash test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv "plots,test"
exec .venv/bin/python -m pytest "$@"
