"""Recipe S13: symbol-version checks (rule 13). They never change which files are loaded; the
listing is compared with ldsim, the version messages with the recipe's expected output, and
ldsim's verdict (its exit status, with every symbol bound) with a real run of the program."""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, expect, run_program, run_real_loader

pytestmark = pytest.mark.oracle

V_C = "int f(void){return 0;} int g(void){return 0;}\n"
MAIN_C = "int f(void); int main(void){return f();}\n"

# variant: (provider's version script or None, the program references f@VERS_1 weakly?,
#           version message (without the "PROG: " prefix) or None, exit status of a real run)
S13_CASES: dict[str, tuple[str | None, bool, str | None, int]] = {
    "provider-defines-VERS_1": ("VERS_1", False, None, 0),
    "provider-defines-only-VERS_2": (
        "VERS_2", False, "{lib}: version `VERS_1' not found (required by {exe})", 1,
    ),
    "weak-reference": (
        "VERS_2", True, "{lib}: weak version `VERS_1' not found (required by {exe})", 127,
    ),
    "provider-without-versions": (
        None, False, "{lib}: no version information available (required by {exe})", 127,
    ),
}  # fmt: skip


def build(r: Root, base: str, provider_script: str | None, weak: bool) -> str:
    """``base/lib/libv.so`` (first built with VERS_1, then as the case wants) and the program
    ``base/bin/exe`` linked against the VERS_1 build; returns the program's path.

    The provider is built with plain gcc as in the recipe (no ``--no-as-needed``: it then has no
    DT_NEEDED and, without a version script, no version sections at all, which is what makes a
    real run trip rtld's assertion).
    """
    r.mkdir(f"{base}/lib", f"{base}/bin")
    script = r.host(f"{base}/v.map")

    def provider(version: str | None) -> None:
        args = ["-shared", "-fPIC", "-Wl,-soname,libv.so"]
        if version is not None:
            script.write_text(f"{version} {{ global: f; g; local: *; }};\n")
            args.append(f"-Wl,--version-script={script}")
        r.compile(f"{base}/lib/libv.so", V_C, *args)

    provider("VERS_1")
    exe = f"{base}/bin/exe"
    r.mkexe(exe, link=[f"{base}/lib/libv.so"], rpath=f"{base}/lib", source=MAIN_C)
    if weak:
        r.set_vernaux_weak(exe, "VERS_1")
    if provider_script != "VERS_1":
        provider(provider_script)
    return exe


@pytest.mark.parametrize("case", list(S13_CASES))
def test_s13_symbol_versions(module_root: Root, case: str) -> None:
    provider_script, weak, message, run_status = S13_CASES[case]
    base = f"/s13/{case}"
    exe = build(module_root, base, provider_script, weak)
    real = run_real_loader(module_root, "bin/exe", cwd=base)
    expect(
        real,
        f"""
        libv.so => {base}/lib/libv.so  # rpath
        libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default
        /lib64/ld-linux-x86-64.so.2  # interpreter
        """,
    )
    want = [] if message is None else [message.format(lib=f"{base}/lib/libv.so", exe="bin/exe")]
    assert [m.split(": ", 1)[1] for m in real.messages] == want, real.messages
    ran = run_program(module_root, exe)
    assert ran.status == run_status, ran
    sim = compare(real, module_root, extra_args=["--symbols"], run_status=ran.status)
    assert sim.doc is not None
    want = "starts" if run_status == 0 else "fails_at_run_time"
    assert sim.doc["verdict"]["status"] == want, sim.doc["verdict"]
