#!/usr/bin/env bash
# Provision, point the suite at the real services, and run pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/provision-test.sh

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/volsite}
else
  export DATABASE_URL=${TEST_DATABASE_URL:-sqlite:///$PWD/var/test.sqlite3}
fi
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export CELERY_BROKER_URL=${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}
fi
runtime=$(mktemp -d -t volsite-test-XXXXXX)
trap 'rm -rf "$runtime"' EXIT
export VOLSITE_RUNTIME_DIR=$runtime
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-test-only-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

exec .venv/bin/python -m pytest "$@"
