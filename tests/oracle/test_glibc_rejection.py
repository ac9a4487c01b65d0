"""Spec D.3 S11: rejection of candidates (rule 11). A bad ``libbad.so`` in D1, a good one in
D2, the program's RPATH is ``D1:D2``. Each row gets its own ``/s11/<row>`` directory.

On another architecture the rows keep their ids and their meaning: ``elf32`` and
``only-elf32`` use a library of the *other* class (i386: x86-64, arm64: armhf, armhf: arm64),
``class-byte`` sets the other class, ``machine`` another machine (x86-64 where x86-64's
flip, AArch64, is the architecture's own), ``trunc63``/``trunc64`` cut one byte short of / at
the ELF header's size (52 bytes for ELFCLASS32)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from arches import EM_AARCH64, EM_X86_64
from glibcroot import Root, compare, expect, expect_error, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"
GOOD = "/s11-templates/libbad.so"
LIB32 = "/s11-templates/lib32.so"
PIE = "/s11-templates/pie"


@pytest.fixture(scope="module")
def s11(module_root: Root) -> Root:
    r = module_root
    r.mklib(GOOD, "libbad.so")
    r.mklib_other_class(LIB32, "libbad.so")
    r.mkexe(PIE)
    return r


def make_row(r: Root, row: str, bad: Callable[[Root, str], None] | None) -> str:
    """``/s11/<row>/{D1,D2,bin/exe}`` with ``bad(root, D1/libbad.so)`` applied; returns the
    row's base directory."""
    b = f"/s11/{row}"
    r.mkdir(f"{b}/D1", f"{b}/D2", f"{b}/bin")
    r.copy(GOOD, f"{b}/D2/libbad.so")
    r.mkexe(f"{b}/bin/exe", rpath=f"{b}/D1:{b}/D2", needed=["libbad.so"])
    if bad is not None:
        bad(r, f"{b}/D1/libbad.so")
    return b


def flip(offset: int, data: bytes) -> Callable[[Root, str], None]:
    """The recipe's ``flip``: a copy of the good library with bytes overwritten."""

    def apply(r: Root, target: str) -> None:
        r.copy(GOOD, target)
        r.patch(target, offset, data)

    return apply


def flip_class() -> Callable[[Root, str], None]:
    """``e_ident[EI_CLASS]`` of the other class (x86-64: 1, ELFCLASS32)."""

    def apply(r: Root, target: str) -> None:
        r.copy(GOOD, target)
        r.patch(target, 4, b"\x01" if r.elf_class == 64 else b"\x02")

    return apply


def flip_machine() -> Callable[[Root, str], None]:
    """``e_machine`` of another machine: AArch64 (183), or x86-64 where that is the root's."""

    def apply(r: Root, target: str) -> None:
        r.copy(GOOD, target)
        own = r.foreign_arch.machine if r.foreign_arch is not None else EM_X86_64
        other = EM_X86_64 if own == EM_AARCH64 else EM_AARCH64
        r.patch(target, 18, other.to_bytes(2, "little"))

    return apply


def head_ehdr(delta: int) -> Callable[[Root, str], None]:
    """The first ``sizeof(ElfN_Ehdr) + delta`` bytes (x86-64: 64 + delta)."""
    return lambda r, target: r.head(GOOD, target, (64 if r.elf_class == 64 else 52) + delta)


def write(content: str) -> Callable[[Root, str], None]:
    return lambda r, target: r.write(target, content)


def head(size: int) -> Callable[[Root, str], None]:
    return lambda r, target: r.head(GOOD, target, size)


LD_SCRIPT = (
    "/* GNU ld script\n   Use the shared library, but some functions are only in\n"
    "   the static library.  */\nGROUP ( /lib/x86_64-linux-gnu/libc.so.6 )\n"
)
TEXT = "hello, this is a text file that is definitely longer than sixty-four bytes\n"

# row: (make D1/libbad.so, outcome) where outcome is "D1"/"D2" (found there), "not found", or
# the fatal message with {d1} for the candidate's path.
S11_ROWS: dict[str, tuple[Callable[[Root, str], None], str]] = {
    "elf32": (lambda r, t: r.copy(LIB32, t), "D2"),
    "class-byte": (flip_class(), "D2"),
    "machine": (flip_machine(), "D2"),
    "text": (write(TEXT), "{d1}: invalid ELF header"),
    "ldscript-long": (write(LD_SCRIPT), "{d1}: invalid ELF header"),
    "empty": (write(""), "{d1}: file too short"),
    "trunc63": (head_ehdr(-1), "{d1}: file too short"),
    "trunc64": (head_ehdr(0), "{d1}: cannot read file data"),
    "dir": (lambda r, t: r.mkdir(t), "{d1}: cannot read file data: Error 21"),
    "osabi-freebsd": (flip(7, b"\x09"), "{d1}: ELF file OS ABI invalid"),
    "osabi-gnu": (flip(7, b"\x03"), "D1"),
    "etype-rel": (flip(16, b"\x01\x00"), "{d1}: only ET_DYN and ET_EXEC can be loaded"),
    "bigendian": (flip(5, b"\x02"), "{d1}: ELF file data encoding not little-endian"),
    "pie": (
        lambda r, t: r.copy(PIE, t),
        "libbad.so: cannot dynamically load position-independent executable",
    ),
    "symlink-loop": (lambda r, t: r.symlink(t, "libbad.so"), "not found"),
    "dangling": (lambda r, t: r.symlink(t, "nowhere.so"), "D2"),
}


@pytest.mark.parametrize("row", list(S11_ROWS))
def test_s11_candidate_rejection(s11: Root, row: str) -> None:
    bad, outcome = S11_ROWS[row]
    b = make_row(s11, row, bad)
    real = run_real_loader(s11, "bin/exe", cwd=b)
    if outcome in ("D1", "D2"):
        expect(real, f"libbad.so => {b}/{outcome}/libbad.so  # rpath\n{LIBC_DEFAULT}\n{INTERP}")
    elif outcome == "not found":
        expect(real, f"libbad.so => not found\n{LIBC_DEFAULT}\n{INTERP}")
    else:
        expect_error(real, outcome.format(d1=f"{b}/D1/libbad.so"))
    compare(real, s11)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_s11_gnu_abi_version_limit_is_the_architectures(s11: Root, version: int) -> None:
    """ELFOSABI_GNU with EI_ABIVERSION ``version``: open_verify takes versions below
    LIBC_ABI_MAX, which counts the ABIs glibc 2.36 has on the target (libc-abis): 4 with
    IFUNC (x86-64, i386, powerpc, RISC-V), 3 without (aarch64, arm, s390x). ldsim took
    version 3 on every architecture."""
    ifunc = s11.foreign_arch is None or s11.arch_name in ("i386", "ppc64el", "riscv64")
    b = make_row(s11, f"abiversion{version}", lambda r, t: (flip(7, b"\x03")(r, t),
                                                             r.patch(t, 8, bytes([version]))))
    real = run_real_loader(s11, "bin/exe", cwd=b)
    if version < (4 if ifunc else 3):
        expect(real, f"libbad.so => {b}/D1/libbad.so  # rpath\n{LIBC_DEFAULT}\n{INTERP}")
    else:
        expect_error(real, f"{b}/D1/libbad.so: ELF file ABI version invalid")
    compare(real, s11)


def test_s11_symlink_loop_skips_rest_of_rpath_then_llp(s11: Root) -> None:
    b = make_row(s11, "symlink-loop-llp", lambda r, t: r.symlink(t, "libbad.so"))
    s11.copy(GOOD, f"{b}/L/libbad.so")
    real = run_real_loader(s11, "bin/exe", cwd=b, env={"LD_LIBRARY_PATH": f"{b}/L"})
    expect(real, f"libbad.so => {b}/L/libbad.so  # ld_library_path\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, s11)


@pytest.fixture(scope="module")
def only_elf32(s11: Root) -> str:
    b = make_row(s11, "only-elf32", lambda r, t: r.copy(LIB32, t))
    s11.remove(f"{b}/D2/libbad.so")
    return b


def test_s11_only_candidate_is_elfclass32_trace(s11: Root, only_elf32: str) -> None:
    real = run_real_loader(s11, "bin/exe", cwd=only_elf32)
    expect(real, f"libbad.so => not found\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, s11)


def test_s11_only_candidate_is_elfclass32_list_real_loader_only(s11: Root, only_elf32: str) -> None:
    """``--list`` turns the miss into ``wrong ELF class`` (ldsim models trace mode)."""
    real = run_real_loader(s11, "bin/exe", cwd=only_elf32, explicit=True, ldso_args=["--list"])
    expect_error(real, f"libbad.so: wrong ELF class: {s11.other_class}")


@pytest.mark.parametrize("size", [1000, 5000])
def test_s11_truncated_with_headers_intact_crashes_real_loader_only(s11: Root, size: int) -> None:
    """The table's SIGBUS row: rtld maps segments past the end of the file and dies. There is no
    loader message to compare, so ldsim is not asked."""
    last_page = (len(s11.read_bytes(GOOD)) - 1) // 4096 * 4096
    if size >= last_page:
        pytest.skip(
            f"{s11.arch_name}: the library is {len(s11.read_bytes(GOOD))} bytes, a cut at {size} "
            "lies in its last page (mapped with zeros past the end: no SIGBUS)"
        )
    b = make_row(s11, f"trunc{size}", head(size))
    real = run_real_loader(s11, "bin/exe", cwd=b)
    assert real.status in (-7, 135), real.describe()  # SIGBUS
    assert real.entries == [] and real.error is None


def test_s11_unreadable_candidate(s11: Root) -> None:
    """The mode-000 row: run as uid 65534, the loader cannot open D1's copy (EACCES) and goes
    on to D2; ldsim models the caller with ``--user``."""
    b = make_row(s11, "mode000", lambda r, target: (r.copy(GOOD, target), r.chmod(target, 0)))
    s11.make_world_readable()
    s11.chmod(f"{b}/D1/libbad.so", 0)
    real = run_real_loader(s11, "bin/exe", cwd=b, user="65534:65534")
    expect(real, f"libbad.so => {b}/D2/libbad.so  # rpath\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, s11, extra_args=["--user", "65534:65534"])
    as_root = run_real_loader(s11, "bin/exe", cwd=b)  # root opens mode-000 files
    assert as_root.found[0].path == f"{b}/D1/libbad.so"
    compare(as_root, s11)



@pytest.mark.parametrize("under", [False, True], ids=["d1", "under-d1"])
def test_s11_unsearchable_directory(s11: Root, under: bool) -> None:
    """A candidate's directory the caller may not search (mode 0700, root's), or one above
    it (``under``): open(2) fails with EACCES whatever the file's own mode, and the loader
    goes on to D2 as for an unreadable file. glibc's stat of D1 itself works when it is D1
    that may not be searched (its parent is what is searched: D1 stays in the search
    lines), and fails when it lies under it (D1 is taken for missing for the rest of the
    run: the search line of the next name, libc.so.6, leaves it out). ldsim models the
    caller with ``--user``."""
    b = f"/s11/nosearch-{'parent' if under else 'dir'}"
    d1 = f"{b}/locked/D1" if under else f"{b}/D1"
    s11.mkdir(d1, f"{b}/D2", f"{b}/bin")
    s11.copy(GOOD, f"{d1}/libbad.so")
    s11.copy(GOOD, f"{b}/D2/libbad.so")
    s11.mkexe(f"{b}/bin/exe", rpath=f"{d1}:{b}/D2", needed=["libbad.so"])
    s11.make_world_readable()
    s11.chmod(f"{b}/locked" if under else d1, 0o700)
    real = run_real_loader(s11, "bin/exe", cwd=b, user="65534:65534")
    expect(real, f"libbad.so => {b}/D2/libbad.so  # rpath\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, s11, extra_args=["--user", "65534:65534"])


def test_a_cache_and_a_preload_file_the_caller_may_not_read(root: Root) -> None:
    """ld.so opens /etc/ld.so.cache and /etc/ld.so.preload as the process it runs in: for a
    caller who may not read them (mode 0600, root's) the cache step finds nothing (its
    search line is still printed) and nothing is preloaded; as root, both are used."""
    if root.foreign_arch is not None:
        pytest.skip("the caller's permissions are the kernel's: checked on this machine")
    root.mklib("/usr/local/lib/libfoo.so", "libfoo.so")
    root.mklib("/ok/libpre.so", "libpre.so")
    root.mkexe("/bin/prog", needed=["libfoo.so"])
    root.write("/etc/ld.so.conf", "/usr/local/lib\n")
    root.ldconfig()
    root.write("/etc/ld.so.preload", "/ok/libpre.so\n")
    root.make_world_readable()
    for path in ("/etc/ld.so.cache", "/etc/ld.so.preload"):
        root.chmod(path, 0o600)
    real = run_real_loader(root, "/bin/prog", user="65534:65534")
    assert [f.name for f in real.found] == ["libc.so.6", INTERP.split()[0]], real.describe()
    compare(real, root, extra_args=["--user", "65534:65534"])
    as_root = run_real_loader(root, "/bin/prog")
    assert {f.path for f in as_root.found} >= {"/usr/local/lib/libfoo.so", "/ok/libpre.so"}
    compare(as_root, root)
