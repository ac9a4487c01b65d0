"""Loader rules found in review, each against the real loader in a chroot.

* An empty LD_LIBRARY_PATH is ignored (``_dl_init_paths`` uses it only when it is not
  empty), while ``:`` means the current directory twice.
* ``/etc/ld.so.preload`` is split on space, tab, newline and ``:`` only: a ``\\r`` stays part
  of the name.
* A trailing slash on a DT_NEEDED path wants a directory (ENOTDIR for a file).
"""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, run_ldsim, run_program, run_real_loader

pytestmark = pytest.mark.oracle


@pytest.fixture
def edge(root: Root) -> Root:
    root.mkdir("/w", "/bin")
    root.mklib("/w/libfoo.so", "libfoo.so")
    root.mkexe("/bin/exe", needed=["libfoo.so"])
    return root


@pytest.mark.parametrize(("llp", "found"), [("", False), (":", True)])
def test_empty_ld_library_path(edge: Root, llp: str, found: bool) -> None:
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": llp})
    assert (real.found[0].name == "libfoo.so") is found, real.listing()
    compare(real, edge)


def test_preload_file_split_like_rtld(edge: Root) -> None:
    edge.mklib("/w/libpre.so", "libpre.so")
    edge.write("/etc/ld.so.preload", "/w/libpre.so\r\n")
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": "/w"})
    assert "/w/libpre.so" not in [e.name for e in real.found], real.listing()
    compare(real, edge)
    edge.write("/etc/ld.so.preload", "# comment\n/w/libpre.so\n")
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": "/w"})
    assert real.found[0].name == "/w/libpre.so", real.listing()
    compare(real, edge)


def test_trailing_slash_on_a_needed_path(edge: Root) -> None:
    edge.mkexe("/bin/slash", needed=["/w/libfoo.so/"])
    real = run_real_loader(edge, "/bin/slash")
    assert real.unresolved == ["/w/libfoo.so/"], real.listing()
    compare(real, edge)


# -- nothing after an abort ----------------------------------------------------------------------

def test_missing_interpreter_loads_nothing(edge: Root) -> None:
    """execve fails (ENOENT) when PT_INTERP names no file: no loader runs, nothing is searched
    (an aarch64 program on an x86-64 root is the common case; on an arm64 root: an x86-64 one).
    Elsewhere the launcher's status differs (i386: 126; qemu: 255, "Could not open")."""
    interp = "/lib/ld-linux-aarch64.so.1"
    if edge.arch_name == "arm64":
        interp = "/lib64/ld-linux-x86-64.so.2"
    edge.mkexe("/bin/foreign", needed=["libfoo.so"], runpath="/w")
    edge.set_interpreter("/bin/foreign", interp)
    ran = run_program(edge, "/bin/foreign")
    failed = ran.status == 127 if edge.foreign_arch is None else ran.status != 0
    assert failed and "No such file or directory" in ran.stderr, ran
    sim = run_ldsim(edge, "/bin/foreign")
    assert sim.status == 1 and sim.doc is not None
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/foreign"]
    assert sim.doc["edges"] == [] and sim.doc["findings"] == []
    assert sim.loader_message == f"{interp}: No such file or directory"
    assert sim.doc["verdict"]["status"] == "does_not_start"
    # a loader that is not there searches nothing: no warning about its search directories
    assert [d for d in sim.doc["diagnostics"] if d["severity"] == "warning"] == []


def test_an_abort_reports_nothing_about_objects_never_loaded(edge: Root) -> None:
    """A junk file found first aborts the load before the version checks: no version finding
    about the libraries the loader never reached."""
    script = edge.host("/w/v.map")
    script.write_text("VERS_1 { global: f; local: *; };\n")
    edge.mklib("/w/libv.so", "libv.so", f"-Wl,--version-script={script}",
               source="int f(void){return 0;}\n")
    edge.mkexe("/bin/versioned", link=["/w/libv.so"], rpath="/w",
               source="int f(void); int main(void){return f();}\n")
    edge.addneeded("/bin/versioned", "libjunk.so.1")
    edge.mkdir("/junk")
    edge.write("/junk/libjunk.so.1", "too short")
    real = run_real_loader(edge, "/bin/versioned", env={"LD_LIBRARY_PATH": "/junk"})
    assert real.error is not None and "too short" in real.error, real.stderr
    sim = compare(real, edge)
    assert sim.doc is not None and sim.doc["findings"] == []
    assert sim.doc["verdict"] == {"status": "does_not_start",
                                  "reasons": [f"load aborted: {real.error}"]}


# -- the LD_DEBUG trail: what the loader remembers about directories -----------------------------

def test_trail_remembers_missing_directories(edge: Root) -> None:
    """A missing LD_LIBRARY_PATH directory is tried once per hwcaps subdirectory, then skipped
    (its ``search path=`` shrinks to nothing); an RPATH none of whose directories exists is
    dropped after its first search; a directory that exists keeps only the subdirectories
    that do. ``compare`` checks every ``search path=``/``trying file=`` line."""
    edge.mkdir("/w/glibc-hwcaps/x86-64-v2", "/w/x86_64")
    edge.mklib("/w/liba.so", "liba.so")
    edge.mklib("/w/libb.so", "libb.so")
    edge.mkexe("/bin/many", needed=["liba.so", "libb.so", "libfoo.so"],
               rpath="/gone/one:/gone/two")
    real = run_real_loader(edge, "/bin/many", env={"LD_LIBRARY_PATH": "/missing:/w"})
    searches = [line for line in real.stderr.splitlines() if "search path=" in line]
    assert any(line.endswith("\t\t(LD_LIBRARY_PATH)") and "/missing" not in line
               for line in searches), searches
    assert sum("(RPATH from file /bin/many)" in line for line in searches) == 1, searches
    compare(real, edge)


# -- separate debuginfo files (objcopy --only-keep-debug) ---------------------------------------

def _keep_debug(root: Root, src: str, dst: str) -> None:
    import shutil
    import subprocess

    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.skip("needs binutils' objcopy")
    subprocess.run([objcopy, "--only-keep-debug", root.host(src), root.host(dst)], check=True)
    root.chmod(dst, 0o755)


def test_a_debuginfo_library_has_no_dynamic_section(edge: Root) -> None:
    """A library's separate debuginfo file keeps its program headers with no bytes behind
    them: PT_DYNAMIC of 0 bytes. ``ld.so --list`` (ldd) refuses it, "object file has no
    dynamic section" (elf/dl-load.c), where a static program would be "not dynamic"."""
    if edge.foreign_arch is not None:
        pytest.skip("the library is built by this machine's compiler")
    _keep_debug(edge, "/w/libfoo.so", "/w/libfoo.debug")
    real = run_real_loader(edge, "/w/libfoo.debug", explicit=True)
    assert real.error is not None and "object file has no dynamic section" in real.error, real
    sim = compare(real, edge)
    assert sim.doc is not None and sim.doc["verdict"]["status"] == "does_not_start"
    assert sim.doc["static"] is False


def test_a_debuginfo_program_cannot_be_executed(edge: Root) -> None:
    """A program's separate debuginfo file has a PT_INTERP of 0 bytes: execve fails with
    ENOEXEC before any loader runs (Linux fs/binfmt_elf.c takes 2 to PATH_MAX bytes)."""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler")
    import errno
    import subprocess

    _keep_debug(edge, "/bin/exe", "/bin/exe.debug")
    # execve itself, with no execvp fallback to /bin/sh (env's, in the chroot, turns ENOEXEC
    # into ENOENT when the root has no shell); the kernel does not look at the root
    with pytest.raises(OSError) as refused:
        subprocess.run([edge.host("/bin/exe.debug")], check=False, timeout=30)
    assert refused.value.errno == errno.ENOEXEC
    sim = run_ldsim(edge, "/bin/exe.debug")
    assert sim.status == 1 and sim.doc is not None
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/exe.debug"]
    assert sim.doc["edges"] == [] and sim.doc["verdict"]["status"] == "does_not_start"
    assert sim.loader_message == "/bin/exe.debug: cannot execute binary file: Exec format error"


@pytest.mark.parametrize(("field", "value", "why"), [
    ("e_phentsize", 0, "its e_phentsize is 0, not 56, the size of a program header"),
    ("e_phentsize", 64, "its e_phentsize is 64, not 56, the size of a program header"),
    ("e_phnum", 0, "its 0 program headers take 0 bytes (the kernel reads 1 to 1170 of "
                   "them, up to 65536 bytes)"),
    ("e_phnum", 1171, "its 1171 program headers take 65576 bytes (the kernel reads 1 to "
                      "1170 of them, up to 65536 bytes)"),
    # e_type is checked before the program headers (ldsim said such a file starts)
    ("e_type", 0x1234, "its e_type is 0x1234, neither ET_EXEC nor ET_DYN"),
    ("e_type", 1, "its e_type is 0x1, neither ET_EXEC nor ET_DYN"),
])
def test_program_headers_execve_refuses(edge: Root, field: str, value: int, why: str) -> None:
    """The kernel reads a program's header table before anything else (Linux
    fs/binfmt_elf.c, load_elf_phdrs): an e_phentsize that is not sizeof (Elf64_Phdr), no
    program header, or a table larger than 64 KiB, and execve fails with ENOEXEC before any
    loader runs. (The dynamic loader walks its headers 56 bytes apart whatever e_phentsize
    says; ldsim read this program as a loader would and said it starts.)"""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler")
    import errno
    import json
    import subprocess

    edge.mkexe("/bin/odd", needed=["libc.so.6"])
    with open(edge.host("/bin/odd"), "ab") as grow:  # a table of that size lies in the file
        grow.write(bytes(70_000))
    edge.patch("/bin/odd", {"e_phentsize": 54, "e_phnum": 56, "e_type": 16}[field],
               value.to_bytes(2, "little"))
    with pytest.raises(OSError) as refused:  # execve itself, as above
        subprocess.run([edge.host("/bin/odd")], check=False, timeout=30)
    assert refused.value.errno == errno.ENOEXEC
    sim = run_ldsim(edge, "/bin/odd")
    assert sim.status == 1 and sim.doc is not None, sim.stderr
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/odd"]
    assert sim.doc["verdict"]["status"] == "does_not_start"
    assert f"the kernel cannot start it: {why}" in json.dumps(sim.doc)  # the trail says why
    assert sim.loader_message == "/bin/odd: cannot execute binary file: Exec format error"
    if field in ("e_phentsize", "e_type"):
        # ld.so run on it (ldd, ld.so PROG) maps it itself: open_verify refuses the type,
        # then the size
        listed = run_real_loader(edge, "/bin/odd", explicit=True)
        said = {"e_phentsize": "ELF file's phentsize not the expected size",
                "e_type": "only ET_DYN and ET_EXEC can be loaded"}[field]
        assert listed.error is not None and said in listed.error, listed.describe()
        compare(listed, edge, extra_args=["--invocation", "ldd"])


@pytest.mark.parametrize(("offset", "value", "said"), [
    (7, 9, "ELF file OS ABI invalid"),  # ELFOSABI_FREEBSD
    (8, 1, "ELF file ABI version invalid"),  # EI_ABIVERSION of ELFOSABI_SYSV
    (6, 2, "ELF file version ident does not match current one"),  # EI_VERSION
    (12, 1, "nonzero padding in e_ident"),
])
def test_e_ident_only_the_loader_checks(edge: Root, offset: int, value: int, said: str) -> None:
    """The kernel starts a program whatever its e_ident says past the magic, class and byte
    order; ld.so run on it (ldd, ld.so PROG), or on a library, maps the file itself and
    open_verify refuses it. ldsim said such a program, or library, traced as ``ldd`` does,
    loads."""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler")
    prog, lib = f"/bin/ident{offset}", f"/opt/ident/libident{offset}.so"
    edge.mkexe(prog, needed=["libc.so.6"])
    edge.patch(prog, offset, bytes([value]))
    edge.mklib(lib, f"libident{offset}.so")
    edge.patch(lib, offset, bytes([value]))
    ran = run_program(edge, prog)
    assert ran.status == 0, ran
    sim = run_ldsim(edge, prog)
    assert sim.status == 0 and sim.doc is not None and \
        sim.doc["verdict"]["status"] == "starts", sim.stderr
    for path, args in ((prog, ["--invocation", "ldd"]), (lib, [])):
        listed = run_real_loader(edge, path, explicit=True)
        assert listed.error is not None and said in listed.error, listed.describe()
        compare(listed, edge, extra_args=args)
        sim = run_ldsim(edge, path, *args)
        assert sim.doc is not None and sim.doc["verdict"]["status"] == "does_not_start"
        assert sim.loader_message == f"{path}: {said}", sim.loader_message


def test_a_program_the_caller_may_not_execute_or_read(edge: Root) -> None:
    """As uid 65534: execve refuses a program of mode 0700 (root's) with EACCES before any
    loader runs; one of mode 0711 it may execute but not read, so the kernel starts it
    while ``ld.so --list`` (ldd) cannot open it. ldsim models the caller with ``--user``."""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler")
    edge.mkexe("/bin/p700", needed=["libc.so.6"])
    edge.mkexe("/bin/p711", needed=["libc.so.6"])
    edge.make_world_readable()
    edge.chmod("/bin/p700", 0o700)
    edge.chmod("/bin/p711", 0o711)
    user = ["--user", "65534:65534"]
    ran = run_program(edge, "/bin/p700", user="65534:65534")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    sim = run_ldsim(edge, "/bin/p700", *user)
    assert sim.status == 1 and sim.doc is not None, sim.stderr
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/p700"]
    assert sim.doc["verdict"]["status"] == "does_not_start"
    assert sim.loader_message == "/bin/p700: Permission denied"
    # executable but not readable: the kernel starts it, ld.so --list cannot open it
    started = run_real_loader(edge, "/bin/p711", user="65534:65534")
    assert started.error is None, started.describe()
    compare(started, edge, extra_args=user)
    listed = run_real_loader(edge, "/bin/p711", explicit=True, user="65534:65534")
    assert listed.error is not None and "Permission denied" in listed.error, listed.describe()
    compare(listed, edge, extra_args=[*user, "--invocation", "ldd"])


def _clear_df_1_pie(path: object) -> None:
    """Clear DF_1_PIE in a 64-bit little-endian file's DT_FLAGS_1, as a linker before the
    flag (binutils 2.26) left it."""
    import struct

    with open(str(path), "r+b") as f:
        data = f.read()
        phoff, = struct.unpack_from("<Q", data, 32)
        phentsize, phnum = struct.unpack_from("<HH", data, 54)
        for i in range(phnum):
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
                "<IIQQQQ", data, phoff + i * phentsize)
            if p_type != 2:  # PT_DYNAMIC
                continue
            for at in range(p_offset, p_offset + p_filesz, 16):
                tag, value = struct.unpack_from("<qQ", data, at)
                if tag == 0x6FFFFFFB:  # DT_FLAGS_1
                    assert value & 0x08000000, "no DF_1_PIE to clear"
                    f.seek(at + 8)
                    f.write(struct.pack("<Q", value & ~0x08000000))
                    return
    raise AssertionError("no DT_FLAGS_1")


def test_root_executes_only_a_file_with_an_execute_bit(edge: Root) -> None:
    """Root reads anything and searches any directory, but execve runs a file only when
    one of its x bits is set (fs/namei.c, generic_permission): a program of mode 0644
    does not start, even as root, and neither does one whose interpreter has no x bit;
    mode 0100 (the owner's bit only, another owner) is enough. A library that names no
    loader is traced as ``ldd`` does, which only reads it: its mode does not matter."""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler")
    import json

    edge.mkexe("/bin/p644", needed=["libc.so.6"])
    edge.chmod("/bin/p644", 0o644)
    ran = run_program(edge, "/bin/p644")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    sim = run_ldsim(edge, "/bin/p644")
    assert sim.status == 1 and sim.doc is not None, sim.stderr
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/p644"]
    assert sim.doc["verdict"]["status"] == "does_not_start"
    assert sim.loader_message == "/bin/p644: Permission denied"
    assert "/bin/p644 has no execute bit (mode 0644), which even root needs" in \
        json.dumps(sim.doc)

    edge.mkexe("/bin/p100", needed=["libc.so.6"])
    edge.chmod("/bin/p100", 0o100)
    import os

    os.chown(edge.host("/bin/p100"), 12345, 12345)
    started = run_real_loader(edge, "/bin/p100")
    assert started.error is None, started.describe()
    compare(started, edge)

    # the interpreter, opened by the kernel as the program is (open_exec)
    interp = "/lib64/ld-linux-x86-64.so.2"
    mode = os.stat(edge.host(interp)).st_mode & 0o7777
    edge.chmod(interp, 0o644)
    try:
        ran = run_program(edge, "/bin/exe")
        assert ran.status == 126 and "Permission denied" in ran.stderr, ran
        sim = run_ldsim(edge, "/bin/exe")
        assert sim.status == 1 and sim.doc is not None, sim.stderr
        assert sim.loader_message == "/bin/exe: Permission denied"
        assert f"its interpreter {interp}: permission denied (EACCES): {interp} has no " \
            "execute bit" in json.dumps(sim.doc)
    finally:
        edge.chmod(interp, mode)

    # a library that also runs (PT_INTERP and a SONAME: libc.so.6) is judged as a library
    # for root, but another caller's execve of it needs the x bit the kernel wants
    edge.make_world_readable()
    edge.copy("/lib/x86_64-linux-gnu/libc.so.6", "/w/libc-copy.so")
    edge.chmod("/w/libc-copy.so", 0o744)
    ran = run_program(edge, "/w/libc-copy.so", user="65534:65534")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    sim = run_ldsim(edge, "/w/libc-copy.so", "--user", "65534:65534")
    assert sim.status == 1 and sim.loader_message == "/w/libc-copy.so: Permission denied", \
        sim.stderr

    # a static-PIE program (no PT_INTERP, DF_1_PIE) is a program too
    edge.compile("/bin/spie", "int main(void) { return 0; }\n", "-static-pie")
    edge.chmod("/bin/spie", 0o644)
    ran = run_program(edge, "/bin/spie")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    sim = run_ldsim(edge, "/bin/spie")
    assert sim.status == 1 and sim.loader_message == "/bin/spie: Permission denied", sim.stderr

    # a library with no PT_INTERP, mode 0644: `ldd` reads it
    edge.mklib("/w/libplain.so", "libplain.so")
    edge.make_world_readable()
    edge.chmod("/w/libplain.so", 0o644)
    traced = run_real_loader(edge, "/w/libplain.so", explicit=True)
    assert traced.error is None, traced.describe()
    compare(traced, edge)
    # and by another user, who may read it: no execute permission is asked (ldsim asked
    # for one, and said such a library does not start, for every caller but root)
    user = ["--user", "65534:65534"]
    traced = run_real_loader(edge, "/w/libplain.so", explicit=True, user="65534:65534")
    assert traced.error is None, traced.describe()
    sim = compare(traced, edge, extra_args=user)
    assert sim.doc is not None and sim.doc["verdict"]["status"] == "starts"

    # a plugin that also runs (PT_INTERP, no SONAME, no DF_1_PIE: Debian's pam_cap.so) at
    # mode 0644: nothing runs it, as execve refuses it even to root, and `ldd` traces it.
    # ldsim judged it a program and said "Permission denied", with no object; a library
    # with a SONAME that also runs (libcap.so.2) was already judged as the library it is
    edge.mklib("/w/plug.so", None, link=["/w/libplain.so"], rpath="/w", source=(
        f'const char interp[] __attribute__((section(".interp"))) = "{edge.interp}";\n'
        "int f_plug(void) { return 1; }\n"))
    edge.make_world_readable()
    edge.chmod("/w/plug.so", 0o644)
    ran = run_program(edge, "/w/plug.so")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    traced = run_real_loader(edge, "/w/plug.so", explicit=True)
    assert traced.error is None and "/w/libplain.so" in [e.path for e in traced.found], \
        traced.describe()
    listed = compare(traced, edge)  # (ldsim as `ldd` runs it: the loader on the file)
    sim = run_ldsim(edge, "/w/plug.so")  # what a scan judges: the file as it is
    assert sim.status == 0 and sim.doc is not None and listed.doc is not None, sim.stderr
    assert sim.doc["verdict"]["status"] == "starts" and sim.doc["interpreter"] == edge.interp
    assert [o["path"] for o in sim.doc["objects"]] == \
        [o["path"] for o in listed.doc["objects"]]
    assert any("judged as the plugin it is" in d["message"] for d in sim.doc["diagnostics"])
    # a program linked before DF_1_PIE (binutils < 2.26, Go's own linker) has neither a
    # SONAME nor that flag either: at mode 0644 it is still a program execve refuses
    edge.mkexe("/bin/oldpie", needed=["libc.so.6"])
    _clear_df_1_pie(edge.host("/bin/oldpie"))
    edge.chmod("/bin/oldpie", 0o644)
    ran = run_program(edge, "/bin/oldpie")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran
    sim = run_ldsim(edge, "/bin/oldpie")
    assert sim.status == 1 and sim.loader_message == "/bin/oldpie: Permission denied", \
        sim.stderr
    # with an x bit it is a program, which another caller's execve runs only with one of
    # theirs: the kernel starts it (loading is all a trace shows)
    edge.chmod("/w/plug.so", 0o700)
    sim = run_ldsim(edge, "/w/plug.so", "--user", "65534:65534")
    assert sim.status == 1 and sim.loader_message == "/w/plug.so: Permission denied", \
        sim.stderr
    ran = run_program(edge, "/w/plug.so", user="65534:65534")
    assert ran.status == 126 and "Permission denied" in ran.stderr, ran


def test_the_kernel_refuses_an_interpreter_it_cannot_load(edge: Root) -> None:
    """execve opens PT_INTERP as it opens a program (a directory or a FIFO: EACCES), reads
    an ELF header of the program's class from it (fewer bytes: EIO), then checks its magic
    and machine and reads its program headers (ELIBBAD). ldsim said each such program
    starts (it checked the interpreter's x bit only); the real runs fail, each so."""
    if edge.foreign_arch is not None:
        pytest.skip("the interpreters are made from this machine's loader")
    import os
    import struct

    interp = edge.interp
    edge.mkdir("/opt/dir-ld")
    os.mkfifo(edge.host("/opt/fifo-ld"), 0o755)
    edge.write("/opt/text-ld", "not an ELF file\n", 0o755)
    edge.write("/opt/long-ld", "#!/bin/sh\n" + "# not an ELF file\n" * 8, 0o755)
    edge.copy(interp, "/opt/arm-ld")
    edge.patch("/opt/arm-ld", 18, struct.pack("<H", 183))  # e_machine: EM_AARCH64
    edge.copy(interp, "/opt/phent-ld")
    edge.patch("/opt/phent-ld", 54, struct.pack("<H", 32))  # e_phentsize of ELFCLASS32
    edge.head(interp, "/opt/cut-ld", 100)  # its program headers cut off
    edge.copy(interp, "/opt/good-ld")
    edge.mkexe("/bin/i_base")
    rows = {"dir": "Permission denied", "fifo": "Permission denied",
            "text": "Input/output error", "long": "Accessing a corrupted shared library",
            "arm": "Accessing a corrupted shared library",
            "phent": "Accessing a corrupted shared library",
            "cut": "Accessing a corrupted shared library", "good": None}
    for name, message in rows.items():
        prog = f"/bin/i_{name}"
        edge.copy("/bin/i_base", prog)
        edge.set_interpreter(prog, f"/opt/{name}-ld")
        if name in ("cut", "good"):
            edge.chmod(f"/opt/{name}-ld", 0o755)
        ran = run_program(edge, prog)
        sim = run_ldsim(edge, prog)
        assert sim.doc is not None, sim.stderr
        if message is None:
            assert ran.status == 0, ran
            assert sim.status == 0 and sim.doc["verdict"]["status"] == "starts", sim.stderr
            continue
        assert ran.status == 126 and message in ran.stderr, (name, ran)
        assert sim.status == 1 and sim.doc["verdict"]["status"] == "does_not_start", name
        assert sim.loader_message == f"{prog}: {message}", (name, sim.loader_message)
        assert [o["path"] for o in sim.doc["objects"]] == [prog], name
        assert [d for d in sim.doc["diagnostics"] if d["severity"] == "warning"] == [], name


def test_an_interpreter_path_the_kernel_cannot_follow(edge: Root) -> None:
    """PT_INTERP through a symbolic link loop (ELOOP), through a regular file (ENOTDIR, also
    as "LOADER/."), or with a name longer than NAME_MAX (ENAMETOOLONG): execve fails with
    that errno for the program. ldsim said "No such file or directory" for each, as for a
    missing one (and that "LOADER/." starts)."""
    edge.mkdir("/opt/il")
    edge.symlink("/opt/il/loop-b", "/opt/il/loop-a")
    edge.symlink("/opt/il/loop-a", "/opt/il/loop-b")
    edge.write("/opt/il/file", "a regular file\n", 0o755)
    edge.mkexe("/bin/il_base")
    # the errno's text (glibc's, musl's)
    rows = {"/opt/il/loop-a": ("Too many levels of symbolic links", "Symbolic link loop"),
            "/opt/il/file/ld.so": ("Not a directory", "Not a directory"),
            # "." after a file: ldsim's walk dropped the "." and took the file
            f"{edge.interp}/.": ("Not a directory", "Not a directory"),
            "/opt/il/" + "x" * 300: ("File name too long", "Filename too long")}
    for n, (interp, (message, musl_message)) in enumerate(rows.items()):
        prog = f"/bin/il_{n}"
        edge.copy("/bin/il_base", prog)
        edge.set_interpreter(prog, interp)
        ran = run_program(edge, prog)
        sim = run_ldsim(edge, prog)
        assert sim.doc is not None, sim.stderr
        assert ran.status != 0, (interp, ran)
        if edge.foreign_arch is None:
            assert f"'{prog}': {message}" in ran.stderr, (interp, ran)  # env's execvp
        else:  # qemu-user opens the interpreter itself; i386's launcher has musl's text
            assert message in ran.stderr or musl_message in ran.stderr, (interp, ran)
        assert sim.status == 1 and sim.doc["verdict"]["status"] == "does_not_start", interp
        assert sim.loader_message == f"{prog}: {message}", (interp, sim.loader_message)
        assert [o["path"] for o in sim.doc["objects"]] == [prog], interp


def test_a_relative_interpreter_is_opened_from_the_working_directory(edge: Root) -> None:
    """execve opens a relative PT_INTERP from the process's working directory: the program
    starts from the directory it names the loader from, and from no other. ldsim looked it
    up from the root's top whatever --cwd said."""
    relative = edge.interp.lstrip("/")
    edge.mkdir("/opt/elsewhere")
    edge.mkexe("/bin/rel_interp", needed=["libc.so.6"])
    edge.set_interpreter("/bin/rel_interp", relative)
    for cwd, starts in (("/", True), ("/opt/elsewhere", False)):
        ran = run_program(edge, "/bin/rel_interp", cwd=cwd)
        sim = run_ldsim(edge, "/bin/rel_interp", "--cwd", cwd)
        assert sim.doc is not None, sim.stderr
        if starts:
            assert ran.status == 0, ran
            assert sim.status == 0 and sim.doc["verdict"]["status"] == "starts", sim.stderr
            compare(run_real_loader(edge, "/bin/rel_interp", cwd=cwd), edge,
                    extra_args=["--cwd", cwd])
        else:
            assert ran.status != 0 and "No such file or directory" in ran.stderr, ran
            assert sim.doc["verdict"]["status"] == "does_not_start"
            assert sim.loader_message == f"{relative}: No such file or directory"


def test_a_link_whose_target_ends_in_a_slash_names_a_directory(edge: Root) -> None:
    """A symbolic link to "real.so/" where real.so is a file: the kernel's walk wants a
    directory there (ENOTDIR), which ends the RPATH search (open_path gives up on any errno
    but ENOENT and EACCES): the next directory's copy is not tried, the name is not found.
    ldsim dropped the slash and loaded the file."""
    edge.mklib("/opt/tsl/real.so", "libts.so")
    edge.symlink("/opt/tsl/libts.so", "real.so/")
    edge.mklib("/opt/tsl2/libts.so", "libts.so")
    edge.mkexe("/bin/tsl", rpath="/opt/tsl:/opt/tsl2", needed=["libts.so"])
    sim = compare(run_real_loader(edge, "/bin/tsl"), edge)
    assert sim.doc is not None
    assert [u["name"] for u in sim.doc["unresolved"]] == ["libts.so"]


@pytest.mark.parametrize("cwd", ["/opt/og", "/opt/og/.", "/oglink", "/opt/og/bin/.."])
def test_origin_of_a_relative_name_starts_with_the_real_working_directory(
        edge: Root, cwd: str) -> None:
    """``ld.so bin/prog``: $ORIGIN of a relatively named object is getcwd() (the working
    directory's real path) then the name's directory. ldsim used --cwd as spelled, so the
    paths it printed held "/.", a link's name or "bin/.." where the loader's do not."""
    edge.mklib("/opt/og/a/libog.so", "libog.so")
    edge.mkexe("/opt/og/bin/prog", rpath="$ORIGIN/../a", needed=["libog.so"])
    if not edge.exists("/oglink"):
        edge.symlink("/oglink", "/opt/og")
    real = run_real_loader(edge, "bin/prog", cwd=cwd, explicit=True)
    sim = compare(real, edge, extra_args=["--invocation", "ldd", "--cwd", cwd])
    assert sim.doc is not None
    assert [o["path"] for o in sim.doc["objects"] if o["name"] == "libog.so"] == \
        ["/opt/og/bin/../a/libog.so"]


def test_a_program_without_pt_interp_reads_no_preload(edge: Root) -> None:
    """A static program has no PT_INTERP: the kernel starts it itself (fs/binfmt_elf.c maps no
    interpreter), so no loader reads LD_PRELOAD or /etc/ld.so.preload, and LD_DEBUG says
    nothing. ldsim loads nothing but the program and says why the preloads are not read."""
    if edge.foreign_arch is not None:
        pytest.skip("the program is built by this machine's compiler, -static")
    edge.compile("/bin/static", '#include <stdio.h>\nint main(void) { puts("static-ok"); '
                 'return 0; }\n', "-static")
    edge.mklib("/w/libpre.so", "libpre.so")
    edge.write("/etc/ld.so.preload", "/w/libpre.so\n")
    real = run_program(edge, "/bin/static",
                       env={"LD_PRELOAD": "/w/libpre.so", "LD_DEBUG": "libs"})
    assert real.status == 0 and real.stdout == "static-ok\n" and real.stderr == "", real
    # a program with a loader, for contrast: the same preloads are read and loaded
    dynamic = run_real_loader(edge, "/bin/exe", env={"LD_PRELOAD": "/w/libpre.so"})
    assert "/w/libpre.so" in [e.name for e in dynamic.found], dynamic.listing()
    sim = run_ldsim(edge, "/bin/static", "--preload", "/w/libpre.so")
    assert sim.status == 0 and sim.doc is not None, sim.stderr
    assert [o["path"] for o in sim.doc["objects"]] == ["/bin/static"]
    assert sim.doc["preloads"] == [] and sim.doc["edges"] == []
    assert sim.doc["static"] is True and sim.doc["verdict"]["status"] == "starts"
    notes = [d["message"] for d in sim.doc["diagnostics"]]
    assert any("no PT_INTERP" in n and "LD_PRELOAD and /etc/ld.so.preload are not read" in n
               for n in notes), notes
