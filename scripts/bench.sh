#!/usr/bin/env bash
# Run every benchmark under bench/ and print its table with ratios against its reference.
# Numbers depend on the machine and on what else runs: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
for bench in bench/features.py bench/scoring.py bench/stream.py; do
  echo "== $bench"
  .venv/bin/python "$bench"
  echo
done
