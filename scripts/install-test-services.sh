#!/usr/bin/env bash
# Installs, from Debian's packages, what the test suites run against:
#   - mosquitto: a real broker, spawned by test/helpers/mosquitto.ts on a random loopback port;
#   - openssl: to mint throwaway test certificates;
#   - chromium (+ fonts-liberation): the live-viewer test drives it through playwright-core, which ships no browser.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
# (Debian's chromium wrapper prints a harmless shell warning on stderr, hence 2>/dev/null.)
have_chromium() { [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; }

missing=()
have mosquitto || missing+=(mosquitto)
have openssl || missing+=(openssl)
# Without any font the viewer's text renders as boxes and layout-dependent checks drift.
have_chromium || missing+=(chromium fonts-liberation)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-services: mosquitto, openssl and chromium already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
LOCK=(flock /tmp/apt.lock)
command -v flock >/dev/null 2>&1 || LOCK=()

export DEBIAN_FRONTEND=noninteractive
"${LOCK[@]}" $SUDO apt-get update -qq
"${LOCK[@]}" $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian package enables a system broker on port 1883; the tests start their own on random ports,
# so stop the system one where a service manager exists (harmless in containers without one).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl stop mosquitto || true
fi
echo "install-test-services: installed ${missing[*]}"
