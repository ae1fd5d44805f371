#!/usr/bin/env bash
# The README's main command: install, then run the main job (generate a book, train, approve,
# run tonight) into ${1:-out/demo}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
OUT="${1:-$ROOT/out/demo}"
exec "$ROOT/.venv/bin/collections-engine" demo --out "$OUT"
