#!/usr/bin/env bash
# Installs the system packages the tests and `npm start` use, when missing:
# InfluxDB 1.x (Debian's influxdb), the mosquitto clients and broker (outside peers in tests),
# Chromium (the live page's browser test), Redis (Debian's redis-server: the cluster tests, REDIS_URL),
# and HAProxy (the cluster's deploy/haproxy.cfg, run in front of real nodes by a test).
# Needs root (or sudo) and Debian's package mirror.
# `setup.sh influxdb` installs only InfluxDB (what `npm start` does on a fresh machine).
set -euo pipefail
only=("$@")
wanted() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }
need=()
wanted influxdb && { command -v influxd >/dev/null 2>&1 || need+=(influxdb); }
wanted mosquitto-clients && { command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients); }
wanted mosquitto && { { command -v mosquitto >/dev/null 2>&1 && [ -x "$(command -v mosquitto)" ]; } || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto); }
wanted chromium && { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium); }
wanted redis-server && { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server); }
wanted haproxy && { command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy); }
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "setup: installing ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >&2
# The packages' own services are not needed: tests and `npm start` run their own processes.
for svc in influxdb mosquitto redis-server haproxy; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
