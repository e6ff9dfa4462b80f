#!/usr/bin/env bash
# Set up .venv/ if needed, then run the main job: train a GAN on the 8-mode ring
# with `discrepancy train`, score it and print a summary. It took 1 min 20 s on
# 2 busy CPU cores. Rerunning the same command resumes an interrupted run.
# Arguments are passed to `discrepancy train`, for example:
#   bash run.sh --divergence wasserstein --steps 500 --out runs/w
#   bash run.sh --help
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
ensure_venv "plots,test"
exec .venv/bin/discrepancy train "$@"
