#!/usr/bin/env bash
# Installs the services the publish/subscribe tests run against: a real mosquitto broker (spawned by
# test/helpers/mosquitto.ts on a random loopback port) and openssl (to mint throwaway test certificates).
# Idempotent: does nothing when both are already on PATH. Needs root (or sudo) for apt-get.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have mosquitto && have openssl; then
  echo "install-test-services: mosquitto and openssl already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
LOCK=(flock /tmp/apt.lock)
command -v flock >/dev/null 2>&1 || LOCK=()

export DEBIAN_FRONTEND=noninteractive
"${LOCK[@]}" $SUDO apt-get update -qq
"${LOCK[@]}" $SUDO apt-get install -y -qq --no-install-recommends mosquitto openssl
# The Debian package enables a system broker on port 1883; the tests start their own on random ports,
# so stop the system one where a service manager exists (harmless in containers without one).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl stop mosquitto || true
fi
echo "install-test-services: installed $(dpkg-query -W -f='${Package} ${Version}' mosquitto)"
