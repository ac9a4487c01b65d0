#!/usr/bin/env bash
# Install ldsim into ./.venv (creating it), so `.venv/bin/ldsim` works.
# On a Debian machine without the venv module, installs python3-venv first (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "install.sh: python3's venv module is missing (Debian: apt-get install python3-venv)" >&2
        exit 2
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# editable_mode=compat: a plain .pth path entry, not setuptools' import hook, which would
# add about 10 ms (pathlib, importlib.util) to every start of `ldsim`
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${LDSIM_EXTRAS:-}" \
    --config-settings editable_mode=compat
