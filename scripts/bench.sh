#!/usr/bin/env bash
# Run every benchmark under bench/ and print its table with ratios against its reference.
# Numbers depend on the machine and on what else runs: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The API benchmark's load generator is wrk (a Debian package).
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    echo "bench: wrk is missing; install it (apt-get install -y wrk)" >&2
    exit 1
  fi
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
for bench in bench/features.py bench/scoring.py bench/model_quality.py bench/simulator_vs_real.py \
    bench/live_rollups_accuracy.py bench/volume.py \
    bench/stream.py bench/api.py bench/api_levers.py bench/slo_page.py bench/rollback.py bench/backtest.py; do
  echo "== $bench"
  .venv/bin/python "$bench"
  echo
done
