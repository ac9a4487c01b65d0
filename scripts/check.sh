#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: system packages (apt-get), Python
# packages (pip, into ./.venv), then ruff, mypy --strict, import-linter (the pipeline's
# contracts in pyproject.toml), the unit layer on its own with no compiler on PATH and no
# capabilities, and pytest (unit, reader, oracle, golden outputs, host comparison, the wheel).
# The oracle tests run the real loaders in chroots: they need root.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="gcc libc6-dev binutils patchelf musl-tools graphviz squashfs-tools pax-utils libtree python3-venv util-linux zsh groff-base chromium"
# Foreign-architecture oracle (tests/oracle/test_arches.py): qemu is run explicitly (no
# binfmt_misc), programs come from Debian's cross compilers. The libc6/libc-bin/musl .debs of
# each architecture are fetched by rootfs-fixtures/crossroot.py itself (apt-get download with
# a private apt state under /var/cache/ldsim-oracle): no dpkg --add-architecture needed.
PKGS="$PKGS qemu-user-static debian-archive-keyring debootstrap"
for t in i686-linux-gnu aarch64-linux-gnu arm-linux-gnueabihf powerpc64le-linux-gnu s390x-linux-gnu riscv64-linux-gnu; do PKGS="$PKGS gcc-$t"; done
PKGS="$PKGS libc6-i386-cross libc6-arm64-cross libc6-armhf-cross libc6-ppc64el-cross libc6-s390x-cross libc6-riscv64-cross"
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
if [ "$(id -u)" = 0 ]; then
    # Whole Debian 12 roots of other architectures (tests/test_foreign_roots.py compares every
    # dynamic ELF file of each with its real loader): built once, kept outside the repository.
    echo "== foreign roots (i386: debootstrap; arm64: unpacked, its cache made under qemu)"
    for a in i386 arm64; do
        $PY scripts/make_foreign_root.py "$a" "${LDSIM_FOREIGN_ROOTS:-/var/cache/ldsim-roots}/bookworm-$a"
    done
    # Debian 13's libsystemd-shared-257.so and the libraries its dlopen notes name
    # (tests/test_dlopen_trixie.py, tests/test_trixie_fixture.py): about 80 s when first built
    echo "== Debian 13 root with libsystemd-shared (dlopen notes)"
    $PY rootfs-fixtures/trixie_systemd.py "${LDSIM_FOREIGN_ROOTS:-/var/cache/ldsim-roots}/trixie-systemd"
fi
echo "== pytest"
status=0
$PY -m pytest -q -p no:cacheprovider "$@" || status=$?
# The glibc oracle recipes again on the real loaders of i386 (natively), arm64 and armhf (under
# qemu-user): tests/oracle/conftest.py parametrizes them over LDSIM_ORACLE_ARCHES (about 25 s
# per architecture). Only for a whole run (no pytest arguments given).
if [ $# -eq 0 ]; then
    echo "== oracle: the glibc recipes on i386, arm64, armhf"
    LDSIM_ORACLE_ARCHES=i386,arm64,armhf $PY -m pytest -q -p no:cacheprovider \
        tests/oracle/test_glibc_*.py tests/oracle/test_glibcroot.py || status=$?
fi
exit $status
