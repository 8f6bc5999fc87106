#!/usr/bin/env bash
# First step of `deno task test`: makes sure the real-InfluxDB tests can run.
#
# The tests start their own influxd per test (tests/_influxd.ts) with a temp
# config, data dir and loopback ports; they never use the packaged service,
# systemd or /etc/influxdb. This script only installs the binaries when they
# are missing:
#   - as root with apt-get: installs the Debian packages influxdb and
#     influxdb-client, keeping their init script from starting a daemon;
#   - otherwise: says the real-InfluxDB tests will be SKIPPED and how to
#     install them, and fails when CI=true (CI must run them).
# Idempotent; does nothing but a lookup when influxd is already there.
set -euo pipefail

have_influxd() {
  [[ -x /usr/bin/influxd ]] || command -v influxd >/dev/null 2>&1
}

if have_influxd; then
  exit 0
fi

install_hint="apt-get update && apt-get install -y influxdb influxdb-client"

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "tests/setup.sh: influxd not found; installing influxdb and influxdb-client with apt-get" >&2

  # The package's postinst runs `invoke-rc.d influxdb start` and fails the
  # install if that fails; a policy-rc.d that answers 101 ("action
  # forbidden") skips it. Put one in place only if none exists, and remove
  # only the one we created.
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
  if ! { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      influxdb influxdb-client; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "tests/setup.sh: ERROR: installing influxdb with apt-get failed (see above)" >&2
    exit 1
  fi
  rm -f "$log"

  if ! have_influxd; then
    echo "tests/setup.sh: ERROR: apt-get installed influxdb but no influxd binary was found" >&2
    exit 1
  fi
  echo "tests/setup.sh: installed $(influxd version 2>/dev/null || echo influxd)" >&2
  exit 0
fi

cat >&2 <<EOF

*** tests/setup.sh: influxd was not found, so the real-InfluxDB tests will be SKIPPED.
*** To run them, install InfluxDB 1.x (Debian/Ubuntu, as root):
***   $install_hint
*** or put an influxd binary on PATH.

EOF

if [[ "${CI:-}" == "true" ]]; then
  echo "tests/setup.sh: ERROR: CI=true and influxd is missing; CI must run the real-InfluxDB tests" >&2
  exit 1
fi
exit 0
