#!/usr/bin/env bash
# Create (or reuse) .venv and install the project with pinned versions from constraints.txt.
# Usage: source scripts/setup.sh [--with-test]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PY" -m venv "$ROOT/.venv"
fi
EXTRA=""
if [ "${1:-}" = "--with-test" ]; then EXTRA="[test]"; fi
"$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$ROOT/constraints.txt" -e "$ROOT$EXTRA"
