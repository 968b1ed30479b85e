#!/usr/bin/env bash
# Installs everything (scripts/setup.sh --test) and runs every test: pytest for distill/, tap for TypeScript.
# Fails when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

status=0
echo "== pytest (distill/) =="
(cd distill && ../.venv/bin/python -m pytest -q -p no:cacheprovider) || status=$?
echo "== tap (TypeScript) =="
PATH="$PWD/.venv/bin:$PATH" npx tap || status=$?
exit $status
