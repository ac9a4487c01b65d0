#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: system packages (apt-get), Python
# packages (pip, into ./.venv), then ruff, mypy --strict, import-linter (the pipeline's
# contracts in pyproject.toml), the unit layer on its own with no compiler on PATH and no
# capabilities, and pytest (unit, reader, oracle, golden outputs, host comparison, the wheel).
# The oracle tests run the real loaders in chroots: they need root.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="gcc libc6-dev binutils patchelf musl-tools graphviz squashfs-tools pax-utils libtree python3-venv util-linux zsh groff-base chromium"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "check.sh: installing$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "check.sh: missing system packages:$missing (run as root to install them)" >&2
    fi
fi
LDSIM_EXTRAS="[test]" bash scripts/install.sh
PY=.venv/bin/python
echo "== ruff";  $PY -m ruff check ldsim tests scripts benchmarks rootfs-fixtures
echo "== mypy";  $PY -m mypy
echo "== import-linter"; .venv/bin/lint-imports --no-cache --no-logo
echo "== unit layer (no compiler on PATH, no capabilities)"
UNIT=(env -i PATH=/nonexistent HOME=/tmp "$PWD/$PY" -m pytest -q -p no:cacheprovider tests/unit)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    setpriv --no-new-privs --inh-caps=-all --bounding-set=-all -- "${UNIT[@]}"
else
    "${UNIT[@]}"
fi
echo "== pytest"
$PY -m pytest -q -p no:cacheprovider "$@"
