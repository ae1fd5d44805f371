#!/usr/bin/env bash
# The README's test command: install (with test extras, headless Chromium for the report test
# and Debian's PostgreSQL for the database tests), then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --with-test
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the report rendering test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; the report rendering test will be skipped"
fi
# Debian's PostgreSQL server for the database tests (they start their own throw-away server
# with scripts/pg.sh); installed only when missing.
bash "$ROOT/scripts/pg.sh" install \
  || echo "warning: postgresql could not be installed; the database tests will be skipped (failed under CI)"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
