"""Per-architecture loader rules on in-memory roots (``ldsim.config.arch``): which cache entries
each architecture's ``ld.so`` accepts, the CPU a program of each architecture sees (an i386
program on an x86-64 machine is not an x86-64 program), the legacy hwcap subdirectories and
``$PLATFORM`` of i386, the header checks beyond class and machine (ARM's float ABI, RISC-V's),
musl's ``ldd`` on a library. The oracle tests (``tests/oracle/test_arches.py``, under qemu)
are the proof; these make each rule testable in milliseconds."""

from __future__ import annotations

import pytest
from memroot import MemoryView, elf, glibc_loader_bytes, ld_so_cache

import ldsim
from ldsim.config.arch import AARCH64, ARMHF, I386, RISCV64, X86_64, arch_of, process_env

EM_386, EM_ARM, EM_AARCH64, EM_RISCV, EM_MIPS = 3, 40, 183, 243, 8
EF_ARM_HARD = 0x05000400
EF_ARM_SOFT = 0x05000200
EF_RISCV_DOUBLE = 0x4

CPUINFO = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu cx8 cmov sse2 ssse3 "
           "sse4_1 sse4_2 popcnt cx16 lahf_lm\n")


class ArchRoot:
    """A Debian-like root of one architecture in memory (loader, libc, cache)."""

    def __init__(self, *, machine: int, bits: int, triplet: str, loader: str, soname: str,
                 e_flags: int = 0) -> None:
        self.view = MemoryView(f"<memory {triplet} root>")
        self.machine, self.bits, self.e_flags = machine, bits, e_flags
        self.libdir = f"/lib/{triplet}"
        real = f"{self.libdir}/{soname}"
        dirs = (f"{self.libdir}/", f"/usr/lib/{triplet}/", "/lib/", "/usr/lib/")
        self.view.add_file(real, glibc_loader_bytes(dirs, f"lib/{triplet}", soname=soname,
                                                    machine=machine, elf_class=bits,
                                                    e_flags=e_flags), 0o755)
        self.view.add_symlink(loader, real)
        self.loader = loader
        self.cache: list[tuple[str, str, int]] = []
        self.lib(f"{self.libdir}/libc.so.6", soname="libc.so.6", needed=[soname])
        self.view.add_dir("/etc")

    def lib(self, path: str, *, soname: str, needed: tuple[str, ...] | list[str] = (),
            rpath: str | None = None, machine: int | None = None, bits: int | None = None,
            e_flags: int | None = None) -> str:
        self.view.add_file(path, elf(soname=soname, needed=list(needed), rpath=rpath,
                                     machine=machine or self.machine,
                                     elf_class=bits or self.bits,
                                     e_flags=self.e_flags if e_flags is None else e_flags))
        return path

    def exe(self, path: str, *, needed: list[str], rpath: str | None = None) -> str:
        self.view.add_file(path, elf(interp=self.loader, needed=[*needed, "libc.so.6"],
                                     rpath=rpath, machine=self.machine, elf_class=self.bits,
                                     e_flags=self.e_flags, flags_1=0x08000000), 0o755)
        return path

    def open(self) -> ldsim.RootTarget:
        self.view.add_file("/etc/ld.so.cache", ld_so_cache(self.cache))
        return ldsim.open_root(self.view)


def _i386() -> ArchRoot:
    return ArchRoot(machine=EM_386, bits=32, triplet="i386-linux-gnu",
                    loader="/lib/ld-linux.so.2", soname="ld-linux.so.2")


def _where(res: ldsim.Resolution, name: str) -> tuple[str, str] | None:
    for o in res.objects:
        if o.name == name:
            return o.path, str(o.via)
    return None


def test_each_architecture_is_known_by_its_header() -> None:
    assert arch_of(62, 2, 1) is X86_64
    assert arch_of(3, 1, 1) is I386
    assert arch_of(183, 2, 1) is AARCH64
    assert arch_of(40, 1, 1, EF_ARM_HARD) is ARMHF
    assert arch_of(40, 1, 1, EF_ARM_SOFT).name == "armel"  # type: ignore[union-attr]
    assert arch_of(243, 2, 1, EF_RISCV_DOUBLE) is RISCV64
    assert arch_of(22, 2, 2).name == "s390x"  # type: ignore[union-attr]
    assert arch_of(21, 2, 1).name == "ppc64le"  # type: ignore[union-attr]
    assert arch_of(EM_MIPS, 1, 2) is None


def test_an_i386_program_on_an_x86_64_machine_sees_i686_and_sse2() -> None:
    env = ldsim.host_env(CPUINFO)
    x86 = process_env(env, X86_64)
    i386 = process_env(env, I386)
    assert (x86.platform, x86.legacy_hwcap_names, x86.hwcaps) == (
        "x86_64", ("x86_64",), ("x86-64-v2",))
    assert (i386.platform, i386.legacy_hwcap_names, i386.hwcaps) == ("i686", ("sse2",), ())
    # what the user says stays, whatever the architecture
    given = process_env(ldsim.LoaderEnv(platform="i586", legacy_hwcap_names=()), I386)
    assert (given.platform, given.legacy_hwcap_names) == ("i586", ())
    # an architecture this machine does not run: its typical CPU
    arm = process_env(env, AARCH64)
    assert (arm.platform, arm.hwcaps) == ("aarch64", ())


def test_i386_takes_its_own_cache_entries_not_x86_64s() -> None:
    r = _i386()
    r.lib("/opt/c32/libonly.so.1", soname="libonly.so.1")
    r.lib("/opt/c64/libonly.so.1", soname="libonly.so.1", machine=62, bits=64)
    # ldconfig lists the x86-64 copy with 0x0303 and the i386 one with 0x0003 ("libc6")
    r.cache += [("libonly.so.1", "/opt/c64/libonly.so.1", 0x0303),
                ("libonly.so.1", "/opt/c32/libonly.so.1", 0x0003),
                ("libc.so.6", f"{r.libdir}/libc.so.6", 0x0003)]
    exe = r.exe("/usr/bin/app", needed=["libonly.so.1"])
    res = ldsim.resolve(r.open(), exe, ldsim.host_env(CPUINFO))
    assert _where(res, "libonly.so.1") == ("/opt/c32/libonly.so.1", "ld.so.cache")
    # on x86-64 the same cache gives the 0x0303 entry and nothing else
    assert X86_64.accepts_cache_flags(0x0303) and not X86_64.accepts_cache_flags(0x0003)
    assert I386.accepts_cache_flags(0x0003) and I386.accepts_cache_flags(0x0001)
    assert not I386.accepts_cache_flags(0x0303)


def test_i386_searches_the_i686_and_sse2_subdirectories() -> None:
    r = _i386()
    r.lib("/opt/lib/tls/i686/sse2/libsub.so.1", soname="libsub.so.1")
    r.lib("/opt/lib/libsub.so.1", soname="libsub.so.1")
    r.lib("/opt/plat/i686/libplat.so.1", soname="libplat.so.1")
    exe = r.exe("/usr/bin/app", needed=["libsub.so.1", "libplat.so.1"],
                rpath="/opt/lib:/opt/plat/$PLATFORM")
    res = ldsim.resolve(r.open(), exe, ldsim.host_env(CPUINFO))
    assert _where(res, "libsub.so.1") == ("/opt/lib/tls/i686/sse2/libsub.so.1", "rpath")
    assert _where(res, "libplat.so.1") == ("/opt/plat/i686/libplat.so.1", "rpath")
    tried = [a.path for lk in res.lookups if lk.name == "libsub.so.1" for a in lk.attempts]
    assert tried[0] == "/opt/lib/tls/i686/sse2/libsub.so.1"
    assert not any("glibc-hwcaps" in t or "x86_64" in t for t in tried)


def test_a_64_bit_candidate_is_skipped_by_an_i386_program() -> None:
    r = _i386()
    r.lib("/opt/a/libx.so.1", soname="libx.so.1", machine=62, bits=64)
    r.lib("/opt/b/libx.so.1", soname="libx.so.1")
    exe = r.exe("/usr/bin/app", needed=["libx.so.1"], rpath="/opt/a:/opt/b")
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv(hwcaps=(), platform="i686",
                                                       legacy_hwcap_names=()))
    assert _where(res, "libx.so.1") == ("/opt/b/libx.so.1", "rpath")
    outcomes = [(a.path, a.outcome.value) for lk in res.lookups if lk.name == "libx.so.1"
                for a in lk.attempts if a.outcome.value != "absent"]
    assert outcomes[0] == ("/opt/a/libx.so.1", "wrong_class")


def test_aarch64_cache_flags_and_a_wrong_machine_skipped() -> None:
    r = ArchRoot(machine=EM_AARCH64, bits=64, triplet="aarch64-linux-gnu",
                 loader="/lib/ld-linux-aarch64.so.1", soname="ld-linux-aarch64.so.1")
    r.lib("/opt/x86/libq.so.1", soname="libq.so.1", machine=62)
    r.lib("/opt/arm/libq.so.1", soname="libq.so.1")
    r.cache += [("libq.so.1", "/opt/x86/libq.so.1", 0x0303),
                ("libq.so.1", "/opt/arm/libq.so.1", 0x0A03),
                ("libc.so.6", f"{r.libdir}/libc.so.6", 0x0A03)]
    exe = r.exe("/usr/bin/app", needed=["libq.so.1"], rpath="/opt/x86")
    res = ldsim.resolve(r.open(), exe, ldsim.host_env(CPUINFO))
    assert _where(res, "libq.so.1") == ("/opt/arm/libq.so.1", "ld.so.cache")
    assert _where(res, "libc.so.6") == (f"{r.libdir}/libc.so.6", "ld.so.cache")
    assert res.env is not None and res.env.platform == "aarch64"


def test_armhf_skips_a_soft_float_library() -> None:
    """Debian's armhf loader skips a soft-float EABI5 library as another machine (upstream's
    VALID_ELF_HEADER would abort with "internal error"; the oracle runs Debian's)."""
    r = ArchRoot(machine=EM_ARM, bits=32, triplet="arm-linux-gnueabihf",
                 loader="/lib/ld-linux-armhf.so.3", soname="ld-linux-armhf.so.3",
                 e_flags=EF_ARM_HARD)
    r.lib("/opt/soft/libf.so.1", soname="libf.so.1", e_flags=EF_ARM_SOFT)
    r.lib("/opt/hard/libf.so.1", soname="libf.so.1")
    exe = r.exe("/usr/bin/app", needed=["libf.so.1"], rpath="/opt/soft:/opt/hard")
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv())
    assert res.error is None
    assert _where(res, "libf.so.1") == ("/opt/hard/libf.so.1", "rpath")


def test_riscv_skips_a_library_of_another_float_abi() -> None:
    r = ArchRoot(machine=EM_RISCV, bits=64, triplet="riscv64-linux-gnu",
                 loader="/lib/ld-linux-riscv64-lp64d.so.1",
                 soname="ld-linux-riscv64-lp64d.so.1", e_flags=EF_RISCV_DOUBLE)
    r.lib("/opt/soft/libf.so.1", soname="libf.so.1", e_flags=0)
    r.lib("/opt/hard/libf.so.1", soname="libf.so.1")
    exe = r.exe("/usr/bin/app", needed=["libf.so.1"], rpath="/opt/soft:/opt/hard")
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv())
    assert _where(res, "libf.so.1") == ("/opt/hard/libf.so.1", "rpath")
    # Linux gives RISC-V no AT_PLATFORM: no platform subdirectory, $PLATFORM unexpanded
    assert res.env is not None and res.env.platform == ""


def test_an_unknown_architecture_is_said_not_guessed() -> None:
    r = ArchRoot(machine=EM_MIPS, bits=32, triplet="mips-linux-gnu",
                 loader="/lib/ld.so.1", soname="ld.so.1")
    exe = r.exe("/usr/bin/app", needed=[])
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv())
    assert any("no table for the glibc loader of mips" in d.message for d in res.diagnostics)
    # glibc's generic rules and no CPU: nothing of x86-64's is assumed
    assert res.env is not None
    assert (res.env.hwcaps, res.env.platform, res.env.legacy_hwcap_names) == ((), "", ())
    tried = [a.path for lk in res.lookups for a in lk.attempts]
    assert not any("x86" in t or "glibc-hwcaps" in t for t in tried), tried
    text = str(ldsim.render(ldsim.explain(r.open(), exe, ldsim.LoaderEnv()), "tree"))
    assert "no table for the glibc loader of mips" in text  # in every view, not only -v


@pytest.mark.parametrize(("levels", "ok"), [(("power9",), False), (("x86-64-v2",), True)])
def test_hwcaps_of_another_architecture_are_flagged(levels: tuple[str, ...], ok: bool) -> None:
    r = _i386() if not ok else None
    if r is None:
        assert X86_64.check_hwcaps(levels) is None
        return
    exe = r.exe("/usr/bin/app", needed=[])
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv(hwcaps=levels))
    assert any("not a glibc-hwcaps level of i386" in d.message for d in res.diagnostics)
    # and --platform and --legacy-hwcaps values the architecture never has
    res = ldsim.resolve(r.open(), exe, ldsim.LoaderEnv(platform="aarch64",
                                                       legacy_hwcap_names=("neon",)))
    msgs = " ".join(d.message for d in res.diagnostics)
    assert "'aarch64' is not an AT_PLATFORM of i386" in msgs
    assert "'neon' is not a hwcap glibc 2.36's i386 loader searches" in msgs


def test_musl_ldd_on_a_library_lists_the_loader_and_libc() -> None:
    """musl's `ldd` is its loader: for a library (no PT_INTERP) it prints the loader with its
    real path and ``libc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1``."""
    view = MemoryView("<memory musl root>")
    view.add_file("/lib/ld-musl-x86_64.so.1", elf(soname="libc.so"), 0o755)
    view.add_file("/usr/lib/libw.so", elf(soname="libw.so", needed=["libc.musl-x86_64.so.1"]))
    res = ldsim.resolve(ldsim.open_root(view), "/usr/lib/libw.so", ldsim.LoaderEnv())
    assert res.loader is ldsim.Libc.MUSL
    assert res.interpreter == "/lib/ld-musl-x86_64.so.1"
    assert list(res.listing) == [("/lib/ld-musl-x86_64.so.1", "/lib/ld-musl-x86_64.so.1"),
                                 ("libc.musl-x86_64.so.1", "/lib/ld-musl-x86_64.so.1")]


def test_legacy_hwcap_names_are_taken_in_bit_order() -> None:
    """glibc builds the legacy subdirectories from the set bits of HWCAP_IMPORTANT in bit
    order, so the order the names are given in does not matter (s390: zarch is bit 1, vx 11)."""
    from ldsim.config.arch import S390X

    env = process_env(ldsim.LoaderEnv(legacy_hwcap_names=("vxe", "vx", "eimm", "ldisp",
                                                              "zarch")), S390X)
    assert env.legacy_hwcap_names == ("zarch", "ldisp", "eimm", "vx", "vxe")


def test_lint_proposes_the_loader_of_the_snaps_architecture() -> None:
    """Snapcraft takes the linker from its build machine (an arm64 snap is built on arm64):
    the classic linter wants /snap/BASE/current/lib/ld-linux-aarch64.so.1 for an arm64 snap,
    not the x86-64 loader."""
    from memroot import snaproots_yaml

    base = ArchRoot(machine=EM_AARCH64, bits=64, triplet="aarch64-linux-gnu",
                    loader="/lib/ld-linux-aarch64.so.1", soname="ld-linux-aarch64.so.1")
    base.open()
    payload = MemoryView("<arm64 payload>")
    payload.add_file("/meta/snap.yaml", snaproots_yaml("armsnap", "core22", "classic",
                                                       {"app": "bin/app"}))
    payload.add_file("/bin/app", elf(interp="/lib/ld-linux-aarch64.so.1", needed=["libc.so.6"],
                                     machine=EM_AARCH64, flags_1=0x08000000), 0o755)
    target = ldsim.open_snap(payload, base=base.view, host=base.view)
    report = ldsim.lint(target)
    messages = [f.message for f in report.findings if f.id == "interpreter"]
    assert messages and "'/snap/core22/current/lib/ld-linux-aarch64.so.1'" in messages[0]
