#!/usr/bin/env bash
# Installs everything Spectra Edge needs, offline-safe and idempotent:
#   - .venv with torch==2.13.0 (the CPU wheel on disk; never an unpinned torch) and the distill package
#   - node_modules from package-lock.json without onnxruntime-node's CUDA download (package.json allowScripts on
#     npm >= 11, ONNXRUNTIME_NODE_INSTALL=skip on older npm), and dist/ (the compiled CLI and SDK)
# With --test it also installs the services the test suites use (mosquitto, openssl, chromium) from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_services=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test_services=1 ;;
    *) echo "setup.sh: unknown option $arg (known: --test)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  .venv/bin/pip install --quiet torch==2.13.0
fi
.venv/bin/pip install --quiet -e 'distill[dev]'

export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund   # runs `prepare`, which builds dist/
else
  npm run --silent build
fi

if [ "$want_test_services" = 1 ]; then
  bash scripts/install-test-services.sh
fi
