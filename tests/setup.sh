#!/usr/bin/env bash
# First step of `deno task test`: makes sure the tests that need outside
# programs can run.
#
#   - influxd and influx (Debian packages influxdb, influxdb-client): the
#     real-InfluxDB tests start their own influxd per test
#     (tests/_influxd.ts) with a temp config, data dir and loopback ports;
#     they never use the packaged service, systemd or /etc/influxdb.
#   - promtool (Debian package prometheus): checks the relay's /metrics
#     output with Prometheus' own parser (tests/_promtool.ts); only the
#     binary is used, the packaged server is never started.
#   - nginx and haproxy (Debian packages nginx, haproxy): the load-balancer
#     recipes of docs/load-balancing.md run in front of two relays
#     (tests/_load_balancer.ts), as the current user on loopback ports with
#     every file in a temp dir; the packaged services are never started.
#
# As root with apt-get: installs what is missing, keeping the packages'
# init scripts from starting a daemon. Otherwise: says which tests will be
# SKIPPED and how to install what they need, and fails when CI=true (CI
# must run them). Idempotent; does nothing but lookups when all is there.
set -euo pipefail

have_influxd() {
  [[ -x /usr/bin/influxd ]] || command -v influxd >/dev/null 2>&1
}

have_promtool() {
  [[ -x /usr/bin/promtool ]] || command -v promtool >/dev/null 2>&1
}

# nginx and haproxy live in /usr/sbin, often not on a non-root PATH.
have_nginx() {
  [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1
}

have_haproxy() {
  [[ -x /usr/sbin/haproxy ]] || command -v haproxy >/dev/null 2>&1
}

packages=()
have_influxd || packages+=(influxdb influxdb-client)
have_promtool || packages+=(prometheus)
have_nginx || packages+=(nginx)
have_haproxy || packages+=(haproxy)
if [[ ${#packages[@]} -eq 0 ]]; then
  exit 0
fi

install_hint="apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "tests/setup.sh: installing ${packages[*]} with apt-get" >&2

  # The packages' postinst scripts run `invoke-rc.d <service> start` and may
  # fail the install if that fails; a policy-rc.d that answers 101 ("action
  # forbidden") skips it, so no daemon is left running. Put one in place
  # only if none exists, and remove only the one we created.
  policy=/usr/sbin/policy-rc.d
  created_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy="$policy"
  fi
  cleanup() {
    if [[ -n "$created_policy" ]]; then rm -f "$created_policy"; fi
  }
  trap cleanup EXIT

  log="$(mktemp)"
  # --no-install-recommends: prometheus would otherwise pull in
  # prometheus-node-exporter and its timers.
  if ! { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${packages[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "tests/setup.sh: ERROR: installing ${packages[*]} with apt-get failed (see above)" >&2
    exit 1
  fi
  rm -f "$log"

  if ! have_influxd; then
    echo "tests/setup.sh: ERROR: apt-get installed influxdb but no influxd binary was found" >&2
    exit 1
  fi
  if ! have_promtool; then
    echo "tests/setup.sh: ERROR: apt-get installed prometheus but no promtool binary was found" >&2
    exit 1
  fi
  if ! have_nginx; then
    echo "tests/setup.sh: ERROR: apt-get installed nginx but no nginx binary was found" >&2
    exit 1
  fi
  if ! have_haproxy; then
    echo "tests/setup.sh: ERROR: apt-get installed haproxy but no haproxy binary was found" >&2
    exit 1
  fi
  echo "tests/setup.sh: installed ${packages[*]}" >&2
  exit 0
fi

skipped=()
have_influxd || skipped+=("the real-InfluxDB tests (need influxd)")
have_promtool || skipped+=("the promtool checks of /metrics (need promtool)")
have_nginx || skipped+=("the nginx load-balancer recipe test (needs nginx)")
have_haproxy || skipped+=("the HAProxy load-balancer recipe test (needs haproxy)")
{
  echo
  echo "*** tests/setup.sh: ${packages[*]} not installed, so these tests will be SKIPPED:"
  printf '***   %s\n' "${skipped[@]}"
  echo "*** To run them, install (Debian/Ubuntu, as root):"
  echo "***   $install_hint"
  echo "*** or put the binaries on PATH."
  echo
} >&2

if [[ "${CI:-}" == "true" ]]; then
  echo "tests/setup.sh: ERROR: CI=true and ${packages[*]} missing; CI must run every test" >&2
  exit 1
fi
exit 0
