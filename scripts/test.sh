#!/usr/bin/env bash
# The test command: lint, unit tests, and namespace integration tests (root).
# Extra arguments go to pytest, e.g. scripts/test.sh -k codec
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet . || { echo "ruff format would change files" >&2; exit 1; }

echo "== pytest"
mkdir -p artifacts
report=artifacts/pytest-report.xml
set +e
(cd files/pmip6d && ../../.venv/bin/pytest -p no:cacheprovider -ra --timeout=600 \
    --junitxml="../../$report" "$@")
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    exit "$rc"
fi
# In CI nothing may be skipped: a skipped test proves nothing.
skipped=$(grep -o 'skipped="[0-9]*"' "$report" | head -1 | grep -o '[0-9]*')
if [ -n "${CI:-}" ] && [ "${skipped:-0}" -ne 0 ]; then
    echo "CI: $skipped test(s) were skipped; every test must run here" >&2
    exit 1
fi
