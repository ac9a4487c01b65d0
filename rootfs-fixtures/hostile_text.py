"""Roots and snaps whose names would attack a terminal, for the output-safety tests.

Every string ldsim prints from its input is built here to hold :data:`TOKEN`: an escape
sequence that clears the screen (``ESC [ 2 J``), a line feed, a carriage return, a bell, a
tab, the bidi overrides U+202E and U+2066 (Unicode UAX #9; "Trojan Source"), the C1 control
U+009B (CSI in 8 bits) and the byte 0xFF, which is not UTF-8. The ELF files are real: the
host's loader and libc, ``/usr/bin/true`` and a library built with gcc, edited with
``patchelf`` (``--add-needed``, ``--set-soname``, ``--set-rpath``, ``--set-interpreter``
take any bytes); file names are bytes on disk.

:func:`build` lays out one world for a token: a root (the host of the snap, too) and a
classic snap with its base, and two snaps that are errors. Built once with :data:`TOKEN` and once with :data:`PLAIN` (the
same number of characters, all printable), the two worlds have the same shape: every command
prints the same number of lines in both, which is how a test sees that no line break of the
input reached the output.

:func:`chain_root` writes a root whose program needs ``lib0``, which needs ``lib1``, ... as
ELF files made by ``memroot.elf`` (no compiler): a dependency chain as deep as it is long.
:func:`huge_name_root`: a program that needs a library with a 100,000-character name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memroot import elf, glibc_loader_bytes

LDSO = "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
TRUE = "/usr/bin/true"
TRIPLET = "x86_64-linux-gnu"
BASE = "core22"

TOKEN = b"\x1b[2J\n\r\x07\t" + "\u202e\u2066\u009b".encode() + b"\xff"
"""Everything a name must not carry to a terminal raw."""
PLAIN = b"_" * len(TOKEN.decode("utf-8", "surrogateescape"))
"""As many characters as :data:`TOKEN`, all plain."""
COMMAND_TOKEN = "\x1b[2J\x07\u202e\u2066\u009b"
"""What a snap.yaml ``command`` can hold of it: YAML text is Unicode (no byte 0xFF), and
the program is the command's first word (no whitespace)."""

RAW_CONTROLS = [bytes([c]) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)]
"""Control bytes no output may hold (a line feed and a tab are the renderers' own)."""
RAW_UNICODE = [chr(c).encode() for c in (*range(0x80, 0xA0), *range(0x202A, 0x202F),
                                         *range(0x2066, 0x206A))]
"""C1 controls and bidi overrides and isolates, as UTF-8."""


def raw_hazards(data: bytes) -> list[str]:
    """What in ``data`` would reach a terminal raw: control bytes, C1 and bidi characters,
    bytes that are not UTF-8 (empty: nothing)."""
    found = [repr(b) for b in RAW_CONTROLS + RAW_UNICODE if b in data]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        found.append(f"not UTF-8 at byte {exc.start}: {data[exc.start:exc.start + 4]!r}")
    return found


def text(token: bytes) -> str:
    """``token`` as ldsim reads it (UTF-8, undecodable bytes as U+DCNN)."""
    return token.decode("utf-8", "surrogateescape")


def command_token(token: bytes) -> str:
    return COMMAND_TOKEN if token == TOKEN else "_" * len(COMMAND_TOKEN)


def _run(*argv: str | bytes | Path) -> None:
    proc = subprocess.run([os.fsencode(a) for a in argv], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({proc.returncode}): {proc.stderr!r}")


def patchelf(path: bytes | Path, *options: bytes | str) -> None:
    _run(shutil.which("patchelf") or "patchelf", *options, path)


@dataclass(frozen=True)
class World:
    """One world: paths as ``str`` (undecodable bytes as U+DCNN, which ``subprocess`` turns
    back into the bytes)."""

    token: bytes
    root: str  # a root, and the snap's host
    program: str  # in the root: named with the token, needing libraries named with it
    interp_program: str  # in the root: its PT_INTERP is named with the token
    missing_program: str  # in the root: a path that does not exist
    snap: str  # a classic snap: payload files and its apps' commands named with the token
    base: str
    app: str  # the app whose program exists
    no_app: str  # an app name the snap does not have, named with the token
    bad_apps_snap: str  # its two apps are named with the token
    broken_snap: str  # its only app's command names a file that does not exist


def _tiny_library(workdir: Path) -> Path:
    src = workdir / "tiny.c"
    src.write_text("int tiny(void) { return 1; }\n")
    out = workdir / "tiny.so"
    _run("gcc", "-shared", "-fPIC", "-o", out, src)
    return out


def _lib(tiny: Path, dest: bytes, soname: bytes, needed: list[bytes],
         rpath: bytes | None = None) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copyfile(tiny, dest)
    patchelf(dest, "--set-soname", soname)
    for name in needed:
        patchelf(dest, "--add-needed", name)
    if rpath is not None:
        patchelf(dest, "--force-rpath", "--set-rpath", rpath)


def _program(dest: bytes, needed: list[bytes], rpath: bytes | None = None,
             interp: bytes | None = None) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copyfile(TRUE, dest)
    os.chmod(dest, 0o755)
    for name in needed:
        patchelf(dest, "--add-needed", name)
    if rpath is not None:
        patchelf(dest, "--force-rpath", "--set-rpath", rpath)
    if interp is not None:
        patchelf(dest, "--set-interpreter", interp)


def _loader_and_libc(top: Path, libdir: str) -> None:
    (top / libdir).mkdir(parents=True, exist_ok=True)
    shutil.copy(LDSO, top / libdir)
    shutil.copy(LIBC, top / libdir)


def _snap_yaml(name: str, apps: dict[str, str]) -> str:
    """A snap.yaml (JSON is YAML: ``json.dumps`` writes the control characters as escapes
    YAML reads back)."""
    return json.dumps({"name": name, "version": "1", "base": BASE, "confinement": "classic",
                       "apps": {a: {"command": c} for a, c in apps.items()}}, indent=1)


def build(top: Path, token: bytes) -> World:
    """A root and a classic snap (with its base) under ``top``, every name holding
    ``token``."""
    t = token
    tc = command_token(token).encode()
    top.mkdir(parents=True, exist_ok=True)
    tiny = _tiny_library(top)
    # The root: the host's loader and libc, a program and its libraries named with the token.
    root = top / "root"
    _loader_and_libc(root, f"lib/{TRIPLET}")
    (root / "lib64").mkdir()
    os.symlink(f"../lib/{TRIPLET}/ld-linux-x86-64.so.2", root / "lib64/ld-linux-x86-64.so.2")
    os.symlink(f"../lib/{TRIPLET}/ld-linux-x86-64.so.2",
               os.fsencode(root / "lib64") + b"/ld" + t + b".so.2")
    r = os.fsencode(root)
    libdir = r + f"/lib/{TRIPLET}/".encode()
    _lib(tiny, libdir + b"libevil" + t + b".so.1", soname=b"libevil" + t + b".so.1",
         needed=[b"libdeep" + t + b".so.3"], rpath=b"$ORIGIN/" + t + b"/x")
    _lib(tiny, libdir + b"libdeep" + t + b".so.3", soname=b"libdeep" + t + b".so.3",
         needed=[])
    program = b"/usr/bin/evil" + t
    _program(r + program, [b"libevil" + t + b".so.1", b"libgone" + t + b".so.2"],
             rpath=b"/opt/" + t + b"/lib")
    interp_program = b"/usr/bin/interp" + t
    _program(r + interp_program, [], interp=b"/lib64/ld" + t + b".so.2")
    # The base: usr-merged, the host's loader and libc.
    base = top / "base"
    _loader_and_libc(base, f"usr/lib/{TRIPLET}")
    (base / "usr/lib64").mkdir()
    os.symlink(f"../lib/{TRIPLET}/ld-linux-x86-64.so.2", base / "usr/lib64/ld-linux-x86-64.so.2")
    os.symlink("usr/lib", base / "lib")
    os.symlink("usr/lib64", base / "lib64")
    # The snap: programs whose interpreter and rpath the classic linter wants changed, a
    # library in a payload directory named with the token, one library only the host has.
    snap = top / "snap"
    (snap / "meta").mkdir(parents=True)
    s = os.fsencode(snap)
    paylib = b"lib" + t
    _lib(tiny, s + b"/" + paylib + b"/libpay" + t + b".so.1", soname=b"libpay" + t + b".so.1",
         needed=[])
    for prog in (b"/bin/evil" + tc, b"/bin/other" + t):
        _program(s + prog, [b"libpay" + t + b".so.1", b"libevil" + t + b".so.1"],
                 rpath=b"$ORIGIN/../" + paylib + b":/opt/" + t)
    (snap / "meta/snap.yaml").write_text(_snap_yaml("evil", {
        "app": "bin/evil" + tc.decode() + " --flag", "two": "bin/missing" + tc.decode()}))
    # Snaps that are errors: app names snapd would refuse (snap.yaml holds no byte 0xFF), a
    # command naming a file that is not there.
    bad_apps = top / "badapps"
    (bad_apps / "meta").mkdir(parents=True)
    unicode_token = text(t).replace("\udcff", "")
    (bad_apps / "meta/snap.yaml").write_text(_snap_yaml("badapps", {
        "app" + unicode_token: "bin/evil", "two" + unicode_token: "bin/evil"}))
    broken = top / "broken"
    (broken / "meta").mkdir(parents=True)
    (broken / "meta/snap.yaml").write_text(_snap_yaml("broken", {
        "a": "bin/nothere" + tc.decode()}))
    return World(token=token, root=str(root), program=os.fsdecode(program),
                 interp_program=os.fsdecode(interp_program),
                 missing_program="/usr/bin/none" + text(t), snap=str(snap), base=str(base),
                 app="app", no_app="none" + text(t), bad_apps_snap=str(bad_apps),
                 broken_snap=str(broken))


def chain_root(top: Path, length: int) -> tuple[str, str]:
    """A root whose ``/usr/bin/chain`` needs ``liblink0.so``, which needs ``liblink1.so``, ...
    down to ``liblink{length - 1}.so``: (the root, the program)."""
    root = top / "chain"
    libdir = root / f"lib/{TRIPLET}"
    libdir.mkdir(parents=True)
    (root / "lib64").mkdir()
    (root / "usr/bin").mkdir(parents=True)
    (libdir / "ld-linux-x86-64.so.2").write_bytes(glibc_loader_bytes())
    (libdir / "ld-linux-x86-64.so.2").chmod(0o755)  # execve opens it as it opens a program
    os.symlink(f"../lib/{TRIPLET}/ld-linux-x86-64.so.2", root / "lib64/ld-linux-x86-64.so.2")
    (libdir / "libc.so.6").write_bytes(elf(soname="libc.so.6",
                                           needed=["ld-linux-x86-64.so.2"]))
    for i in range(length):
        needed = [f"liblink{i + 1}.so"] if i + 1 < length else []
        (libdir / f"liblink{i}.so").write_bytes(
            elf(soname=f"liblink{i}.so", needed=[*needed, "libc.so.6"]))
    prog = root / "usr/bin/chain"
    prog.write_bytes(elf(interp="/lib64/ld-linux-x86-64.so.2",
                         needed=["liblink0.so", "libc.so.6"], flags_1=0x08000000))
    prog.chmod(0o755)
    return str(root), "/usr/bin/chain"


def huge_name_root(top: Path, length: int = 100_000) -> tuple[str, str]:
    """A root whose ``/usr/bin/huge`` needs a library named with ``length`` characters (not
    found: no file name is that long): (the root, the program)."""
    root, _program = chain_root(top / "huge", 1)
    prog = Path(root) / "usr/bin/huge"
    prog.write_bytes(elf(interp="/lib64/ld-linux-x86-64.so.2",
                         needed=["lib" + "x" * length + ".so", "libc.so.6"],
                         flags_1=0x08000000))
    prog.chmod(0o755)
    return root, "/usr/bin/huge"


def main() -> None:  # pragma: no cover - by hand: build a world and print where it is
    top = Path(tempfile.mkdtemp(prefix="hostile-text-"))
    print(build(top / "hostile", TOKEN))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["COMMAND_TOKEN", "PLAIN", "TOKEN", "World", "build", "chain_root", "command_token",
           "huge_name_root", "raw_hazards", "text"]
