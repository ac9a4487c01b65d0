"""Spec D.2 S9s: secure mode (AT_SECURE, rule A.14), a set-uid program run as uid 65534.

rtld refuses to trace a secure program (status 5), so the program really runs: it prints the
non-libc shared objects of /proc/self/maps (kernel-canonical paths). ldsim (``--secure``) is
compared on that set: see :func:`glibcroot.compare_secure`.
"""

from __future__ import annotations

import pytest
from glibcroot import Root, compare_secure, run_program

pytestmark = pytest.mark.oracle

NOBODY = "65534:65534"

PRINT_MAPS_C = r"""
int main(){char b[512],last[512]="";FILE*f=fopen("/proc/self/maps","r");if(!f)return 2;
while(fgets(b,512,f)){char*p=strchr(b,47);if(p&&strstr(p,".so")&&!strstr(p,"libc.so")
&&!strstr(p,"ld-linux")&&strcmp(p,last)){strcpy(last,p);fputs(p,stdout);}}return 0;}
"""


def build_s7a(r: Root) -> None:
    """The part of the recipe's S7a state S9s relies on (libbar.so.2 in the cache, /opt/b)."""
    r.mkdir("/opt/a", "/opt/b")
    r.write("/etc/ld.so.conf.d/10-b.conf", "/opt/b\n")
    r.write("/etc/ld.so.conf.d/05-a.conf", "/opt/a   # comment\n")
    r.mklib("/opt/a/libfoo.so.1.2", "libfoo.so.1")
    r.mklib("/opt/b/libfoo.so.1.0", "libfoo.so.1")
    r.mklib("/opt/b/libbar.so.2.0", "libbar.so.2")


@pytest.fixture(scope="module")
def s9s(module_root: Root) -> Root:
    r = module_root
    build_s7a(r)
    for d in ("/usr/lib/myapp/lib", "/opt/app/lib", "/opt/abs"):
        r.mklib(f"{d}/libt.so", "libt.so")
    r.mklib("/opt/llp/libonlyllp.so", "libonlyllp.so")
    r.mklib("/usr/lib/libpre.so", "libpre.so")
    r.mklib("/usr/lib/libpresuid.so", "libpresuid.so")
    r.chmod("/usr/lib/libpresuid.so", 0o4755)
    r.ldconfig()
    headers = ("-include", "stdio.h", "-include", "string.h")
    r.mkexe("/usr/lib/myapp/bin/exe", *headers, source=PRINT_MAPS_C, rpath="$ORIGIN/../lib",
            needed=["libt.so"])  # fmt: skip
    r.mkexe("/opt/app/bin/exe", *headers, source=PRINT_MAPS_C, rpath="$ORIGIN/../lib:/opt/abs",
            needed=["libt.so"])  # fmt: skip
    r.mkexe("/opt/app/bin/exe2", *headers, source=PRINT_MAPS_C, needed=["libonlyllp.so"])
    for exe in ("/usr/lib/myapp/bin/exe", "/opt/app/bin/exe", "/opt/app/bin/exe2"):
        r.chmod(exe, 0o4755)
    r.chmod("/opt/b/libbar.so.2.0", 0o4755)  # D4
    r.make_world_readable()
    return r


S9S_CASES = {
    # id: (run as uid 65534 (secure)?, exe, environment, expected stdout, expected stderr)
    "A-trusted-origin": (True, "/usr/lib/myapp/bin/exe", {}, ["/usr/lib/myapp/lib/libt.so"], ""),
    "B-untrusted-origin-plus-absolute": (True, "/opt/app/bin/exe", {}, ["/opt/abs/libt.so"], ""),
    "B-as-root": (False, "/opt/app/bin/exe", {}, ["/opt/app/lib/libt.so"], ""),
    "C-ld-library-path-ignored": (
        True, "/opt/app/bin/exe2", {"LD_LIBRARY_PATH": "/opt/llp"}, [],
        "/opt/app/bin/exe2: error while loading shared libraries: libonlyllp.so: cannot open "
        "shared object file: No such file or directory",
    ),
    "C-as-root": (
        False, "/opt/app/bin/exe2", {"LD_LIBRARY_PATH": "/opt/llp"}, ["/opt/llp/libonlyllp.so"],
        "",
    ),
    "D1-preload-with-slash-ignored": (
        True, "/usr/lib/myapp/bin/exe", {"LD_PRELOAD": "/opt/llp/libonlyllp.so"},
        ["/usr/lib/myapp/lib/libt.so"], "",
    ),
    "D2-preload-without-suid-bit": (
        True, "/usr/lib/myapp/bin/exe", {"LD_PRELOAD": "libpre.so"},
        ["/usr/lib/myapp/lib/libt.so"],
        "ERROR: ld.so: object 'libpre.so' from LD_PRELOAD cannot be preloaded (cannot open "
        "shared object file): ignored.",
    ),
    "D3-preload-with-suid-bit": (
        True, "/usr/lib/myapp/bin/exe", {"LD_PRELOAD": "libpresuid.so"},
        ["/usr/lib/myapp/lib/libt.so", "/usr/lib/libpresuid.so"], "",
    ),
    "D4-preload-only-in-cache": (
        True, "/usr/lib/myapp/bin/exe", {"LD_PRELOAD": "libbar.so.2"},
        ["/usr/lib/myapp/lib/libt.so"],
        "ERROR: ld.so: object 'libbar.so.2' from LD_PRELOAD cannot be preloaded (cannot open "
        "shared object file): ignored.",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(S9S_CASES))
def test_s9s_secure_mode(s9s: Root, case: str) -> None:
    secure, exe, env, stdout, stderr = S9S_CASES[case]
    run = run_program(s9s, exe, env=env, user=NOBODY if secure else None)
    want_status = 127 if "error while loading" in stderr else 0
    assert (run.status, sorted(run.stdout.splitlines()), run.stderr.strip()) == (
        want_status,
        sorted(stdout),
        stderr,
    ), f"real run does not match the recipe: $ {' '.join(run.argv)}\n{run.stdout}{run.stderr}"
    compare_secure(run, s9s, exe, env=env, secure=secure)


def test_s9s_trace_of_a_secure_program_is_refused(s9s: Root) -> None:
    """Why S9s cannot use trace mode: rtld exits with status 5 (rule 14 of
    ``docs/loader-model.md``)."""
    run = run_program(
        s9s, "/usr/lib/myapp/bin/exe", env={"LD_TRACE_LOADED_OBJECTS": "1"}, user=NOBODY
    )
    assert run.status == 5, run
