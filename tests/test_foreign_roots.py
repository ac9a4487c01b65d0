"""ldsim against the real loader of whole Debian 12 roots of other architectures.

``scripts/make_foreign_root.py`` builds the roots (i386 with debootstrap, natively; arm64
assembled from ``debootstrap --foreign`` and the root's ldconfig under qemu-user) and
``scripts/compare_root.py`` compares every dynamic ELF file of a root with the root's own
loader in ``ldd``'s mode, ``via`` included. The comparisons are marked ``foreign_root`` and
skipped when the roots are absent; build them with::

    python scripts/make_foreign_root.py i386  /var/cache/ldsim-roots/bookworm-i386
    python scripts/make_foreign_root.py arm64 /var/cache/ldsim-roots/bookworm-arm64

(``LDSIM_FOREIGN_ROOTS`` names another parent directory.) Building takes about two minutes
each, comparing a root well under a minute. The parsing helpers below the comparisons need
no root and run everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(_SCRIPTS))

import compare_root as cr  # noqa: E402
import make_foreign_root as mfr  # noqa: E402

ROOTS = Path(os.environ.get("LDSIM_FOREIGN_ROOTS", "/var/cache/ldsim-roots"))
ARCHES = ("i386", "arm64")


def _root(arch: str) -> Path:
    root = ROOTS / f"bookworm-{arch}"
    if not (root / mfr.STAMP).is_file():
        pytest.skip(f"no {arch} root at {root}: build it with "
                    f"`python scripts/make_foreign_root.py {arch} {root}`")
    if os.geteuid() != 0:
        pytest.skip("running the root's loader needs root (chroot, mount namespaces)")
    return root


@pytest.fixture(scope="module", params=ARCHES)
def report(request: pytest.FixtureRequest) -> cr.RootReport:
    return cr.run_root(str(_root(request.param)))


# -- the comparisons -------------------------------------------------------------------------
@pytest.mark.foreign_root
def test_every_dynamic_elf_file_agrees_via_included(report: cr.RootReport) -> None:
    assert report.files > 1000, report.summary()
    problems = report.format_text() if report.agreeing != report.files else ""
    assert report.agreeing == report.files, problems
    assert report.objects_agree == report.objects, report.summary()
    assert report.via_agree == report.objects, report.summary()


@pytest.mark.foreign_root
def test_the_roots_exercise_more_than_the_cache(report: cr.RootReport) -> None:
    """Programs and libraries, objects found through RUNPATH ($ORIGIN) as well as the cache."""
    counts = report.via_counts()
    assert counts.get("ld.so.cache", 0) > 1000, counts
    assert counts.get("runpath", 0) > 0, counts
    assert counts.get("interpreter", 0) > 0, counts
    paths = [r.comparison.program.path for r in report.results]
    assert any(p.startswith("/usr/bin/") for p in paths)
    assert any(".so" in p for p in paths)
    assert not [s for s in report.skipped if s.kind in ("non-glibc", "unreadable")]


@pytest.mark.foreign_root
def test_the_cpu_is_measured_from_the_root(report: cr.RootReport) -> None:
    cpu = report.cpu
    if report.arch == "i386":
        # an x86-64 kernel runs i386 programs as an i686 with SSE2
        assert cpu.at_platform == cpu.dl_platform == "i686"
        assert cpu.legacy == ("sse2",)
        assert cpu.qemu_cpu is None
    else:
        assert cpu.at_platform == cpu.dl_platform == "aarch64"
        assert cpu.qemu_cpu == cr.DEFAULT_QEMU_CPU
        assert cpu.legacy == ("atomics",)  # neoverse-n1 has LSE atomics (HWCAP_ATOMICS)
    assert cpu.hwcaps == ()  # glibc 2.36 has no glibc-hwcaps subdirectories for either


@pytest.mark.foreign_root
def test_i386_agrees_with_ldsims_default_cpu() -> None:
    """This machine runs i386 programs natively: ldsim's default CPU for them (from
    /proc/cpuinfo, as ``ldsim explain`` assumes with no CPU option) is the one the loader
    sees."""
    report = cr.run_root(str(_root("i386")), default_cpu=True)
    assert report.ldsim_cpu == "default"
    assert report.agreeing == report.files, report.format_text()


@pytest.mark.foreign_root
@pytest.mark.parametrize("arch", ARCHES)
def test_make_foreign_root_leaves_a_built_root_alone(arch: str) -> None:
    root = _root(arch)
    proc = subprocess.run([sys.executable, str(_SCRIPTS / "make_foreign_root.py"), arch,
                           str(root)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout


# -- the pieces, without a root --------------------------------------------------------------
HELP_X86_64 = """\
Subdirectories of glibc-hwcaps directories, in priority order:
  x86-64-v4
  x86-64-v3 (supported, searched)
  x86-64-v2 (supported, searched)

Legacy HWCAP subdirectories under library search path directories:
  haswell (AT_PLATFORM; supported, searched)
  tls (supported, searched)
  avx512_1
  x86_64 (supported, searched)
"""

HELP_AARCH64 = """\
No subdirectories of glibc-hwcaps directories are searched.

Legacy HWCAP subdirectories under library search path directories:
  aarch64 (AT_PLATFORM; supported, searched)
  tls (supported, searched)
  atomics (supported, searched)
"""


def test_help_subdirectories_are_parsed() -> None:
    assert cr.parse_help_subdirs(HELP_X86_64) == (("x86-64-v3", "x86-64-v2"), ("x86_64",),
                                                  True)
    assert cr.parse_help_subdirs(HELP_AARCH64) == ((), ("atomics",), True)
    assert cr.parse_help_subdirs("") == ((), (), False)


def test_commands_run_inside_the_root() -> None:
    env = {"LD_TRACE_LOADED_OBJECTS": "1", "LD_DEBUG": "libs:files"}
    i386 = cr.RootRunner("/r", cr.ARCHES["i386"]).argv(["/lib/ld-linux.so.2", "/bin/x"], env)
    assert i386[-6:] == ["/usr/bin/env", "-i", "LD_TRACE_LOADED_OBJECTS=1",
                         "LD_DEBUG=libs:files", "/lib/ld-linux.so.2", "/bin/x"]
    assert "--mount-proc=/r/proc" in i386
    arm = cr.RootRunner("/r", cr.ARCHES["arm64"], "neoverse-n1").argv(["/lib/ld", "/bin/x"], env)
    assert arm[arm.index("/r") + 1:] == [
        "/usr/bin/qemu-aarch64-static", "-cpu", "neoverse-n1",
        "-E", "LD_TRACE_LOADED_OBJECTS=1", "-E", "LD_DEBUG=libs:files", "/lib/ld", "/bin/x"]
    with pytest.raises(ValueError, match="cannot pass"):
        cr.RootRunner("/r", cr.ARCHES["arm64"]).argv(["/x"], {"LD_DEBUG": "libs,files"})


def test_elf_summary_reads_machine_interp_and_dynamic(tmp_path: Path) -> None:
    exe = Path(sys.executable).resolve()
    is_elf, machine, interp, dynamic = cr.elf_summary(str(exe))
    assert is_elf and machine == 62 and dynamic and interp is not None
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert cr.elf_summary(str(text)) == (False, 0, None, False)


def test_debug_searches_picks_each_first_search() -> None:
    stderr = (
        "      7:\tfile=libz.so.1 [0];  needed by /usr/bin/x [0]\n"
        "      7:\tfind library=libz.so.1 [0]; searching\n"
        "      7:\t search cache=/etc/ld.so.cache\n"
        "      7:\t  trying file=/lib/i386-linux-gnu/libz.so.1\n"
        "      7:\t\n"
        "      7:\tfile=libz.so.1 [0];  generating link map\n"
    )
    assert cr.debug_searches(stderr, ["libz.so.1", "libm.so.6"]) == {
        "libz.so.1": ["search cache=/etc/ld.so.cache",
                      "trying file=/lib/i386-linux-gnu/libz.so.1"]}


def test_make_foreign_root_refuses_a_foreign_directory(tmp_path: Path) -> None:
    target = tmp_path / "root"
    target.mkdir()
    (target / mfr.STAMP).write_text(json.dumps({"arch": "i386", "suite": "sid"}))
    assert mfr.main(["i386", str(target)]) == 2
    assert (target / mfr.STAMP).exists()  # nothing removed without --force
