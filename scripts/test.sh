#!/usr/bin/env bash
# The whole test suite: venv + install, lint, types, import contracts, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PADLOCK_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'
echo "== ruff"; "$VENV/bin/ruff" check src tests bench
echo "== mypy"; "$VENV/bin/mypy"
echo "== import contracts"; "$VENV/bin/lint-imports"
echo "== pytest"
set +e
"$VENV/bin/pytest" -n 2 -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit "$rc"
