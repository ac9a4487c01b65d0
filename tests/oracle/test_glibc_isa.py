"""x86 ISA levels (``GNU_PROPERTY_X86_ISA_1_NEEDED``): glibc's ``dl_isa_level_check`` runs
after loading and before relocation; ``ldd`` (trace mode) exits before it, a real run aborts
with "CPU ISA level is lower than required". This machine's CPU may offer every level up to
x86-64-v4 and glibc 2.36's tunables do not lower the level it checks, so the first case sets
an ISA bit above v4 in the library's property note by hand; the second asks ldsim about a
smaller CPU (``--hwcaps``) than this one."""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, run_ldsim, run_program, run_real_loader

pytestmark = pytest.mark.oracle

MAIN_C = "int f(void); int main(void){return f();}\n"


@pytest.fixture
def isa(root: Root) -> Root:
    if root.arch_name not in ("x86_64", "i386"):
        pytest.skip(f"x86 only: GNU_PROPERTY_X86_ISA_1_NEEDED means nothing on {root.arch_name}")
    root.mkdir("/i/lib", "/i/bin")
    root.mklib("/i/lib/libisa.so", "libisa.so", "-Wl,-z,x86-64-v4",
               source="int f(void){return 0;}\n")
    root.mkexe("/i/bin/exe", link=["/i/lib/libisa.so"], rpath="/i/lib", source=MAIN_C)
    return root


def test_a_level_no_cpu_has_aborts_a_real_run(isa: Root) -> None:
    isa.set_x86_isa_needed("/i/lib/libisa.so", 1 << 4)
    real = run_real_loader(isa, "/i/bin/exe")
    assert real.error is None and real.found[0].name == "libisa.so", real.stderr
    ran = run_program(isa, "/i/bin/exe")
    assert ran.status == 127 and "CPU ISA level is lower than required" in ran.stderr, ran
    sim = compare(real, isa, run_status=ran.status)
    assert sim.doc is not None
    assert [(f["id"], f["object"]) for f in sim.doc["findings"]] == [
        ("isa-level", "/i/lib/libisa.so")]
    assert sim.doc["verdict"]["status"] == "fails_at_run_time"


def test_a_v4_library_on_a_v3_cpu(isa: Root) -> None:
    on_v3 = run_ldsim(isa, "/i/bin/exe", "--hwcaps", "x86-64-v3,x86-64-v2")
    assert on_v3.status == 1 and on_v3.doc is not None
    assert [f["id"] for f in on_v3.doc["findings"]] == ["isa-level"]
    assert "x86-64-v4" in on_v3.doc["findings"][0]["detail"]
    on_v4 = run_ldsim(isa, "/i/bin/exe", "--hwcaps", "x86-64-v4,x86-64-v3,x86-64-v2")
    assert on_v4.status == 0 and on_v4.doc is not None and on_v4.doc["findings"] == []
    # and with this machine's own CPU (ldsim's default; i386: the oracle's CPU options), ldsim
    # agrees with a real run
    here = run_ldsim(isa, "/i/bin/exe", *isa.cpu_args())
    ran = run_program(isa, "/i/bin/exe")
    assert (here.status == 0) == (ran.status == 0), (here.doc, ran)
