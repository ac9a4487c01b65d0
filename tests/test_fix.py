"""``ldsim fix``: the planner on hand-built lint reports and synthetic ELF bytes, then the
command on real ELF files built with gcc (plan, ``--apply``, refusals, interrupted runs).

The patchelf edits are Snapcraft's (``snapcraft/elf/_patcher.py``); what is refused is in
``ldsim/linter/fix.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from glibcroot import REPO, Root, ctrl_c_default
from snaproots import build_base, build_host, snap_yaml

import ldsim
from ldsim.elf.facts import ElfFacts, ElfIdent
from ldsim.elf.reader import read_file_facts
from ldsim.linter.fix import plan_file, read_layout, refusal
from ldsim.linter.model import FileLint
from ldsim.patching import apply_plan, run_command

ApplyOutcome, FixOptions, FixStatus = ldsim.ApplyOutcome, ldsim.FixOptions, ldsim.FixStatus
Fix, LintFinding, LintReport, Severity = (ldsim.Fix, ldsim.LintFinding, ldsim.LintReport,
                                          ldsim.Severity)

LINKER = "/snap/core22/current/lib64/ld-linux-x86-64.so.2"
BASELIB = "/snap/core22/current/lib/x86_64-linux-gnu"
W = Severity.WARNING

# -- synthetic ELF files (no compiler) -----------------------------------------------------


def synthetic_elf(*, interp: str | None = "/lib64/ld-linux-x86-64.so.2",
                  sections: Sequence[tuple[str, int, bytes]] = (), trailer: bytes = b"",
                  machine: int = 62) -> bytes:
    """A small ELF64 LSB ET_DYN file: PT_INTERP (if any), the given sections and .shstrtab,
    the section header table last, then ``trailer``."""
    body = bytearray()
    phdrs: list[bytes] = []
    nph = 1 if interp is not None else 0
    off = 64 + 56 * nph
    if interp is not None:
        data = interp.encode() + b"\0"
        phdrs.append(struct.pack("<IIQQQQQQ", 3, 4, off, off, off, len(data), len(data), 1))
        body += data
    names = b"\0"
    shdrs = [bytes(64)]
    for name, sh_type, data in [*sections, (".shstrtab", 3, b"")]:
        name_off = len(names)
        names += name.encode() + b"\0"
        if name == ".shstrtab":
            data = names
        while (off + len(body)) % 4:
            body += b"\0"
        shdrs.append(struct.pack("<IIQQQQIIQQ", name_off, sh_type, 0, 0, off + len(body),
                                 len(data), 0, 0, 4, 0))
        body += data
    while (off + len(body)) % 8:
        body += b"\0"
    shoff = off + len(body)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 3, machine, 1, 0, 64 if nph else 0, shoff, 0, 64, 56, nph, 64,
        len(shdrs), len(shdrs) - 1)
    return ehdr + b"".join(phdrs) + bytes(body) + b"".join(shdrs) + trailer


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4)
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def facts(interp: str | None = "/lib64/ld-linux-x86-64.so.2", *, needed: tuple[str, ...] = (
        "libc.so.6",), rpath: str | None = None, runpath: str | None = None, flags_1: int = 0,
          elf_class: int = 2, machine: int = 62) -> ElfFacts:
    ident = ElfIdent(elf_class, 1, 1, 0, 0, True, 3, machine, 1, 56)
    return ElfFacts(ident, interp, True, needed, None,
                    None if rpath is None else (rpath,), None if runpath is None else (runpath,),
                    0, flags_1, None, None, 0)


def file_lint(path: str, f: ElfFacts, current: list[str], proposed: list[str]) -> FileLint:
    return FileLint(path, f"/snap/demo/current/{path}", f, LINKER, current, proposed)


def report_for(*files: FileLint, findings: Sequence[LintFinding] = ()) -> LintReport:
    return LintReport({"name": "demo", "base": "core22", "confinement": "classic"},
                      tuple(findings), tuple(files))


def classic_findings(path: str, interp: str | None, rpath: str | None) -> list[LintFinding]:
    out = []
    if interp:
        out.append(LintFinding("interpreter", W, path, "interp", Fix(interpreter=interp)))
    if rpath:
        out.append(LintFinding("rpath", W, path, "rpath", Fix(rpath=rpath)))
    return out


def test_layout_of_a_synthetic_file() -> None:
    data = synthetic_elf(sections=[(".note.x", 7, note(b"GNU", 1, b"abcd"))])
    lay = read_layout(data)
    assert lay.trailing == 0
    assert ".note.x" in lay.section_names and ".shstrtab" in lay.section_names
    assert (b"GNU", 1) in lay.notes
    assert read_layout(data + b"PAYLOAD").trailing == 7


def test_plan_interpreter_and_rpath_in_one_call() -> None:
    f = file_lint("bin/app", facts(), [], ["$ORIGIN/../lib", BASELIB])
    rep = report_for(f, findings=classic_findings("bin/app", LINKER, f"$ORIGIN/../lib:{BASELIB}"))
    plan = plan_file(rep, f, synthetic_elf(), FixOptions())
    assert plan.status is FixStatus.PATCH
    assert [c.options for c in plan.calls] == [
        ("--set-interpreter", LINKER, "--force-rpath", "--set-rpath", f"$ORIGIN/../lib:{BASELIB}")]
    assert plan.sha256 == hashlib.sha256(synthetic_elf()).hexdigest()


def test_plan_options() -> None:
    f = file_lint("bin/app", facts(rpath="/opt/x:$ORIGIN/../fake"), ["/opt/x", "$ORIGIN/../fake"],
                  ["$ORIGIN/../fake", "$ORIGIN/../lib", BASELIB])
    rep = report_for(f, findings=classic_findings(
        "bin/app", LINKER, f"$ORIGIN/../fake:$ORIGIN/../lib:{BASELIB}"))
    data = synthetic_elf()
    keep = plan_file(rep, f, data, FixOptions(patch_interpreter=False, keep_rpath=True))
    assert [c.options for c in keep.calls] == [
        ("--force-rpath", "--set-rpath", f"/opt/x:$ORIGIN/../fake:$ORIGIN/../lib:{BASELIB}")]
    nodef = plan_file(rep, f, data, FixOptions(no_default_lib=True))
    assert [c.options[0] for c in nodef.calls] == ["--set-interpreter", "--no-default-lib"]
    # already NODEFLIB and nothing else wanted: nothing to do
    g = file_lint("bin/ok", facts(LINKER, rpath=BASELIB, flags_1=0x800), [BASELIB], [BASELIB])
    assert plan_file(report_for(g), g, data, FixOptions(no_default_lib=True)).status \
        is FixStatus.OK


def test_runpath_not_inherited_alone_converts_runpath() -> None:
    f = file_lint("bin/app", facts(LINKER, runpath=f"$ORIGIN/../lib:{BASELIB}"),
                  ["$ORIGIN/../lib", BASELIB], ["$ORIGIN/../lib", BASELIB])
    finding = LintFinding("runpath-not-inherited", W, "bin/app", "m",
                          Fix(rpath=f"$ORIGIN/../lib:{BASELIB}"))
    plan = plan_file(report_for(f, findings=[finding]), f, synthetic_elf(interp=LINKER),
                     FixOptions())
    assert [c.options for c in plan.calls] == [
        ("--force-rpath", "--set-rpath", f"$ORIGIN/../lib:{BASELIB}")]


@pytest.mark.parametrize(("data", "interp", "machine", "expect"), [
    (synthetic_elf(sections=[(".note.go.buildid", 7, note(b"Go\0\0", 4, b"id"))]),
     "/lib64/ld-linux-x86-64.so.2", 62, "Go-linked (.note.go.buildid)"),
    (synthetic_elf(sections=[(".note.other", 7, note(b"Go\0\0", 4, b"id"))]),
     "/lib64/ld-linux-x86-64.so.2", 62, "Go-linked (a 'Go' build-id note)"),
    (synthetic_elf(sections=[(".signature", 1, b"sig")]), "/lib64/ld-linux-x86-64.so.2", 62,
     "signed (section .signature)"),
    (synthetic_elf(trailer=b"\x00bun-payload"), "/lib64/ld-linux-x86-64.so.2", 62,
     "12 bytes follow the end"),
    (synthetic_elf(interp="/lib/ld-musl-x86_64.so.1"), "/lib/ld-musl-x86_64.so.1", 62,
     "is musl's loader"),
    (synthetic_elf(interp="/lib/ld-linux-aarch64.so.1", machine=183),
     "/lib/ld-linux-aarch64.so.1", 183, "an ELF64 aarch64 file, but the expected loader"),
])
def test_refusals(data: bytes, interp: str, machine: int, expect: str) -> None:
    f = file_lint("bin/x", facts(interp, machine=machine), [], [BASELIB])
    rep = report_for(f, findings=classic_findings("bin/x", LINKER, BASELIB))
    plan = plan_file(rep, f, data, FixOptions())
    assert plan.status is FixStatus.REFUSED
    assert expect in str(plan.reason)


def test_zero_padding_is_not_a_payload() -> None:
    assert refusal(synthetic_elf(trailer=bytes(3)), facts(), LINKER) is None
    assert refusal(synthetic_elf(), facts(None, needed=()), LINKER) is not None  # static


# -- real ELF files ------------------------------------------------------------------------

needs_tools = pytest.mark.skipif(
    shutil.which("gcc") is None or ldsim.find_patchelf() is None, reason="needs gcc and patchelf")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None or ldsim.find_patchelf() is None:
        pytest.skip("needs gcc and patchelf")
    top = tmp_path_factory.mktemp("fix")
    build_base(top / "core22")
    build_host(top / "host")
    return {"base": top / "core22", "host": top / "host", "top": top}


def new_snap(world: dict[str, Path], name: str) -> Root:
    p = Root(world["top"] / name, base=False)
    p.write("/meta/snap.yaml", snap_yaml("demo", "core22", "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpay.so.1", "libpay.so.1")
    p.mkexe("/bin/app", link=("/lib/libpay.so.1",))
    return p


def run_fix(world: dict[str, Path], snap: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ldsim", "fix", str(snap), "--base", str(world["base"]),
         "--host", str(world["host"]), *args], capture_output=True, text=True, cwd=REPO,
        check=False, preexec_fn=ctrl_c_default)


def patchelf_wrapper(root: Path, name: str, template: str) -> Path:
    """An executable script beside the snap ``root``, from ``template`` with ``{real}`` the
    real patchelf and ``{count}`` a file of its own to count its calls in."""
    pe = ldsim.find_patchelf()
    assert pe is not None
    wrapper = root.parent / name
    wrapper.write_text(template.format(real=pe, count=root.parent / f"{name}.count"))
    wrapper.chmod(0o755)
    return wrapper


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


ORIGIN_RPATH = f"$ORIGIN/../lib:{BASELIB}"


@needs_tools
def test_printed_plan(world: dict[str, Path]) -> None:
    p = new_snap(world, "plan")
    root = p.path
    shutil.copy2(root / "bin/app", root / "bin/my app")
    before = snapshot(root)
    proc = run_fix(world, root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("# ldsim fix: snap demo (base core22, classic confinement): 3 to patch, "
                        "0 refused, 0 left alone")
    assert lines[1:] == [
        "set -e",
        f"cd -- {root}",
        f"patchelf --set-interpreter {LINKER} --force-rpath --set-rpath '{ORIGIN_RPATH}' "
        "bin/app",
        f"patchelf --set-interpreter {LINKER} --force-rpath --set-rpath '{ORIGIN_RPATH}' "
        "'bin/my app'",
        f"patchelf --force-rpath --set-rpath {BASELIB} lib/libpay.so.1",
    ]
    assert snapshot(root) == before  # planning touches nothing
    # the script is valid sh and does what --apply does
    pe = ldsim.find_patchelf()
    assert pe is not None
    env = {"PATH": f"{os.path.dirname(pe)}:/usr/bin:/bin"}
    run = subprocess.run(["sh", "-c", proc.stdout], env=env, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    for rel in ("bin/app", "bin/my app"):
        got = read_file_facts(str(root / rel))
        assert (got.interp, got.rpath, got.runpath) == (LINKER, (ORIGIN_RPATH,), None)


@needs_tools
def test_plan_options_on_the_command_line(world: dict[str, Path]) -> None:
    p = new_snap(world, "opts")
    root = p.path
    proc = run_fix(world, root, "--no-patch-interpreter", "--no-default-lib", "--only", "bin/*")
    assert proc.returncode == 0, proc.stderr
    cmds = [x for x in proc.stdout.splitlines() if x.startswith("patchelf")]
    assert cmds == [f"patchelf --force-rpath --set-rpath '{ORIGIN_RPATH}' bin/app",
                    "patchelf --no-default-lib bin/app"]


@needs_tools
def test_apply(world: dict[str, Path]) -> None:
    p = new_snap(world, "apply")
    root = p.path
    (root / "bin/app").chmod(0o750)
    (root / "lib/libpay.so.1").chmod(0o644)
    proc = run_fix(world, root, "--apply", "--no-default-lib")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "patched: bin/app\n" in out and "patched: lib/libpay.so.1\n" in out
    assert "  bin/app: 2 (libc.so.6, the interpreter) -> 0" in out
    app, lib = read_file_facts(str(root / "bin/app")), read_file_facts(str(root / "lib/libpay.so.1"))
    assert (app.interp, app.rpath, app.runpath, app.nodeflib) == (
        LINKER, (ORIGIN_RPATH,), None, True)
    assert (lib.interp, lib.rpath, lib.nodeflib) == (None, (BASELIB,), True)
    assert stat.S_IMODE((root / "bin/app").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "lib/libpay.so.1").stat().st_mode) == 0o644
    assert not [x for x in root.rglob("*.ldsim-fix")]
    again = run_fix(world, root, "--no-default-lib")
    assert again.returncode == 0 and "# nothing to do" in again.stdout
    assert "0 to patch" in again.stdout


def _go_note_source() -> str:
    return ('__asm__(".section .note.go.buildid,\\"a\\",@note\\n.balign 4\\n.long 4\\n'
            '.long 8\\n.long 4\\n.ascii \\"Go\\\\0\\\\0\\"\\n.ascii \\"abcdefgh\\"\\n'
            '.previous\\n");\nint main(void){return 0;}\n')


@needs_tools
def test_refusals_leave_files_byte_identical(world: dict[str, Path]) -> None:
    p = new_snap(world, "refuse")
    root = p.path
    p.compile("/bin/static", "int main(void){return 0;}\n", "-static")
    p.compile("/bin/gotool", _go_note_source())
    p.mkexe("/bin/bundled")
    with open(root / "bin/bundled", "ab") as fh:
        fh.write(b"\n// appended JavaScript bundle\nconsole.log('hi')\n")
    p.mkexe("/bin/signed")
    sig = root.parent / "sig.bin"
    sig.write_bytes(b"RSA signature bytes")
    subprocess.run(["objcopy", "--add-section", f".signature={sig}", str(root / "bin/signed")],
                   check=True)
    musl = shutil.which("musl-gcc")
    if musl:
        src = root.parent / "m.c"
        src.write_text("int main(void){return 0;}\n")
        subprocess.run([musl, "-o", str(root / "bin/muslapp"), str(src)], check=True)
    before = snapshot(root)
    proc = run_fix(world, root, "--apply")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "patched: bin/app\n" in out
    assert "left alone: bin/static: static (no PT_INTERP and no DT_NEEDED)" in out
    assert "refused: bin/gotool: Go-linked (.note.go.buildid)" in out
    assert "refused: bin/bundled: 49 bytes follow the end of its last section" in out
    assert "refused: bin/signed: signed (section .signature)" in out
    after = snapshot(root)
    names = ["bin/static", "bin/gotool", "bin/bundled", "bin/signed"]
    if musl:
        assert "refused: bin/muslapp: its interpreter /lib/ld-musl-x86_64.so.1 is musl's " \
            "loader" in out
        names.append("bin/muslapp")
    for name in names:
        assert after[name] == before[name], name
    assert after["bin/app"] != before["bin/app"]


WRAPPER = """#!/bin/sh
# patchelf that fails (after scribbling over its file) on its second patching call
if [ "$1" = "--version" ]; then exec {real} "$@"; fi
n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
if [ $n -eq 2 ]; then
    for last; do :; done
    printf 'garbage' > "$last"
    echo "patchelf: simulated failure" >&2
    exit 1
fi
exec {real} "$@"
"""


@needs_tools
def test_interrupted_apply_is_all_or_nothing_per_file(world: dict[str, Path]) -> None:
    p = new_snap(world, "interrupt")
    root = p.path
    p.mkexe("/bin/zz", link=("/lib/libpay.so.1",))
    before = snapshot(root)
    wrapper = patchelf_wrapper(root, "patchelf-fails-second", WRAPPER)
    proc = run_fix(world, root, "--apply", "--patchelf", str(wrapper))
    assert proc.returncode == 1
    out = proc.stdout
    # plan order is path order: bin/app, bin/zz, lib/libpay.so.1
    assert "patched: bin/app\n" in out
    assert ("failed: bin/zz: patchelf --set-interpreter " in out
            and "exited with status 1: patchelf: simulated failure" in out)
    assert "not reached: lib/libpay.so.1\n" in out
    after = snapshot(root)
    assert after["bin/zz"] == before["bin/zz"]
    assert after["lib/libpay.so.1"] == before["lib/libpay.so.1"]
    app = read_file_facts(str(root / "bin/app"))
    assert (app.interp, app.rpath) == (LINKER, (ORIGIN_RPATH,))
    assert not [x for x in root.rglob("*.ldsim-fix")]
    assert set(after) == set(before)


KILLER = """#!/bin/sh
# patchelf that kills the ldsim process calling it (SIGKILL: no cleanup can run)
if [ "$1" = "--version" ]; then exec {real} "$@"; fi
kill -9 $PPID
sleep 5
"""


@needs_tools
def test_a_killed_apply_leaves_nothing_a_later_run_counts(world: dict[str, Path]) -> None:
    """SIGKILL between copying a file and renaming the patched copy leaves the copy
    (``.app.XXXXXXXX.ldsim-fix``, a whole executable) in the payload: no walk counts it, and
    the next ``fix --apply`` removes it."""
    p = new_snap(world, "killed")
    root = p.path
    before = snapshot(root)
    lint = [sys.executable, "-m", "ldsim", "lint", str(root), "--base", str(world["base"]),
            "--host", str(world["host"]), "--format", "json"]
    files_before = subprocess.run(lint, capture_output=True, text=True, cwd=REPO,
                                  check=False).stdout
    killer = patchelf_wrapper(root, "patchelf-kills", KILLER)
    proc = run_fix(world, root, "--apply", "--patchelf", str(killer))
    assert proc.returncode == -9, proc
    leftovers = list(root.rglob("*.ldsim-fix"))
    assert len(leftovers) == 1 and leftovers[0].read_bytes() == before["bin/app"]
    assert all(snapshot(root)[k] == v for k, v in before.items())  # originals untouched
    after_kill = subprocess.run(lint, capture_output=True, text=True, cwd=REPO, check=False)
    assert after_kill.stdout == files_before  # the copy is not one more ELF file
    proc = run_fix(world, root, "--apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list(root.rglob("*.ldsim-fix"))
    assert leftovers[0].name in proc.stdout  # said what it removed


INTERRUPTER = """#!/bin/sh
# patchelf that, on its second patching call, presses Ctrl-C for the ldsim calling it, then
# again half a second later (from a process of its own: ldsim kills this one at the first)
if [ "$1" = "--version" ]; then exec {real} "$@"; fi
n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
if [ $n -eq 2 ]; then
    p=$PPID
    (sleep 0.5; kill -INT $p) &
    kill -INT $p
    sleep 5
fi
exec {real} "$@"
"""


@needs_tools
def test_ctrl_c_again_while_apply_stops_ends_it_at_once(world: dict[str, Path]) -> None:
    """The first Ctrl-C stops the patching; ``fix`` then lints the snap again (seconds for
    600 programs). A second one ended it at once before the first made later ones ignored,
    which kept it linting, deaf to Ctrl-C, to print its whole report: it ends it at once
    again, exit 130, one line, nothing printed after."""
    p = new_snap(world, "kbint2")
    root = p.path
    for i in range(600):
        shutil.copy2(root / "bin/app", root / f"bin/app{i:03d}")
    wrapper = patchelf_wrapper(root, "patchelf-interrupts", INTERRUPTER)
    proc = run_fix(world, root, "--apply", "--patchelf", str(wrapper))
    assert proc.returncode == 130 and proc.stderr == "ldsim: interrupted\n", proc
    assert "patched:" not in proc.stdout  # the report of the run, printed after the lint


@needs_tools
def test_keyboard_interrupt_during_apply(world: dict[str, Path]) -> None:
    p = new_snap(world, "kbint")
    root = p.path
    before = snapshot(root)
    target = ldsim.open_snap(str(root), base=str(world["base"]), host=str(world["host"]))
    plan = ldsim.plan_fix(target)
    calls: list[list[str]] = []

    def runner(argv: Sequence[str]) -> tuple[int, str]:
        calls.append(list(argv))
        if len(calls) == 2:
            Path(argv[-1]).write_bytes(b"half")
            raise KeyboardInterrupt
        return run_command(argv)

    pe = ldsim.find_patchelf()
    assert pe is not None
    result = apply_plan(plan, str(root), pe, runner)
    assert result.interrupted
    assert [(r.path, r.outcome) for r in result.results] == [
        ("bin/app", ApplyOutcome.PATCHED), ("lib/libpay.so.1", ApplyOutcome.FAILED)]
    after = snapshot(root)
    assert after["lib/libpay.so.1"] == before["lib/libpay.so.1"]
    assert set(after) == set(before)


@needs_tools
def test_bad_input(world: dict[str, Path], tmp_path: Path) -> None:
    p = new_snap(world, "badinput")
    root = p.path
    proc = run_fix(world, root, "--apply", "--patchelf", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("ldsim: error: --patchelf: ")
    assert proc.stderr.count("\n") == 1
    fake = tmp_path / "demo_1.snap"
    fake.write_bytes(b"not a snap")
    proc = run_fix(world, fake, "--apply")
    assert proc.returncode == 2 and "--apply needs the snap as a directory" in proc.stderr


def test_printed_plan_cannot_run_what_a_file_name_smuggles(tmp_path: Path) -> None:
    """A payload file name with a newline must stay inside its comment line."""
    p = Root(tmp_path / "inj", base=False)
    p.write("/meta/snap.yaml", snap_yaml("inj", "core22", "classic", {"t": "bin/t"}))
    p.compile("/bin/x\ntouch PWNED\n", "int main(void){return 0;}\n", "-static")
    p.compile("/bin/t", "int main(void){return 0;}\n")
    base = Root(tmp_path / "core22", base=False)
    base.write("/meta/snap.yaml", "name: core22\ntype: base\n")
    proc = subprocess.run([sys.executable, "-m", "ldsim", "fix", str(p.path), "--host",
                           str(tmp_path), "--base", str(base.path)], capture_output=True,
                          text=True, cwd=REPO, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    for line in proc.stdout.splitlines():
        assert line.startswith(("#", "set -e", "cd -- ", "patchelf ")), line
