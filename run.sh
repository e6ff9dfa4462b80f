#!/usr/bin/env bash
# Set up .venv/ if needed, then run the main job on its embedded default.
# Arguments are passed to the main job, for example: bash run.sh --json
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv "plots,test"
exec .venv/bin/discrepancy estimate "$@"
