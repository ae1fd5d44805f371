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
# The Spark engine's tests: the spark extra (pyspark, pinned) and Java 17+ (Debian's OpenJDK).
"$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$ROOT/constraints.txt" -e "$ROOT[test,spark]"
if ! command -v java >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's openjdk-17-jre-headless for the Spark engine tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
    || echo "warning: Java could not be installed; the Spark engine tests will fail"
fi
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
