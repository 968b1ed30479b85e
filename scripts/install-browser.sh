#!/usr/bin/env bash
# Installs Debian's chromium for the live-viewer tests (test/viewer/, driven by playwright-core, which ships
# no browser of its own). Idempotent: does nothing when /usr/bin/chromium already runs. Needs root (or sudo).
set -euo pipefail

# (Debian's chromium wrapper prints a harmless shell warning on stderr, hence 2>/dev/null.)
if [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; then
  echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null) already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
LOCK=(flock /tmp/apt.lock)
command -v flock >/dev/null 2>&1 || LOCK=()

export DEBIAN_FRONTEND=noninteractive
"${LOCK[@]}" $SUDO apt-get update -qq
# fonts-liberation: without any font the page's text renders as boxes and layout-dependent checks drift.
"${LOCK[@]}" $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation
echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null)"
