"""Bad snap input at the CLI (no compiler, no root): ``explain --snap`` and ``compare`` say what
was wrong with which input in one line and exit 2; ``compare`` does not report success for a
snap it could not analyse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

APP_YAML = "name: x\nbase: core22\nconfinement: classic\napps: {a: {command: bin/a}}\n"


def ldsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          text=True, check=False)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("ldsim: error: "), proc.stderr
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]


def make_snap(top: Path, name: str, yaml: str) -> Path:
    snap = top / name
    (snap / "meta").mkdir(parents=True)
    (snap / "meta/snap.yaml").write_text(yaml)
    return snap


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return make_snap(tmp_path, "snap", APP_YAML)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    b = tmp_path / "base"
    (b / "usr/lib").mkdir(parents=True)
    return b


@pytest.mark.parametrize(("option", "value"), [
    ("--base", "/tmp"), ("--app", "a"), ("--confinement", "strict"),
])
def test_snap_options_need_snap(option: str, value: str) -> None:
    one_line_error(ldsim("explain", option, value, "/bin/true"), option, "only makes sense")


def test_root_and_snap_do_not_mix(snap: Path) -> None:
    one_line_error(ldsim("explain", "--snap", str(snap), "--root", "/tmp"), "--root", "--host")


def test_bad_base(snap: Path, tmp_path: Path) -> None:
    one_line_error(ldsim("explain", "--snap", str(snap), "--base", str(tmp_path / "nope")),
                   str(tmp_path / "nope"), "base does not exist")
    text = tmp_path / "base.txt"
    text.write_text("not a tree\n")
    one_line_error(ldsim("explain", "--snap", str(snap), "--base", str(text)), str(text),
                   "neither a directory nor a SquashFS image")


def test_missing_host(snap: Path, base: Path, tmp_path: Path) -> None:
    one_line_error(ldsim("explain", "--snap", str(snap), "--base", str(base), "--host",
                         str(tmp_path / "nohost")), str(tmp_path / "nohost"))


def test_several_apps_need_a_choice(tmp_path: Path, base: Path) -> None:
    two = make_snap(tmp_path, "two", "name: two\nbase: core22\n"
                    "apps: {a: {command: bin/a}, b: {command: bin/b}}\n")
    one_line_error(ldsim("explain", "--snap", str(two), "--base", str(base)), "--app",
                   "2 apps (a, b)")


def test_compare_needs_apps_or_paths(tmp_path: Path, base: Path) -> None:
    none = make_snap(tmp_path, "none", "name: none\nbase: core22\n")
    one_line_error(ldsim("compare", "--snap", str(none), "--base", str(base)), "no apps")


def test_explain_names_a_missing_program(snap: Path, base: Path) -> None:
    one_line_error(ldsim("explain", "--snap", str(snap), "--base", str(base)),
                   "/snap/x/current/bin/a")


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="needs mksquashfs")
def test_truncated_snap_file(snap: Path, tmp_path: Path) -> None:
    image = tmp_path / "x.snap"
    subprocess.run(["mksquashfs", str(snap), str(image), "-noappend", "-comp", "xz",
                    "-no-fragments", "-all-root", "-no-xattrs", "-quiet", "-no-progress"],
                   check=True, capture_output=True)
    cut = tmp_path / "cut.snap"
    cut.write_bytes(image.read_bytes()[:200])
    one_line_error(ldsim("explain", "--snap", str(cut)), str(cut))
    one_line_error(ldsim("compare", "--snap", str(cut)), str(cut))


def test_compare_does_not_succeed_without_the_program(snap: Path, base: Path) -> None:
    proc = ldsim("compare", "--json", "--snap", str(snap), "--base", str(base))
    assert proc.returncode != 0, proc.stdout


def test_compare_all_without_elf_files_says_so(snap: Path, base: Path) -> None:
    line = one_line_error(ldsim("compare", "--all", "--snap", str(snap), "--base", str(base)))
    assert "no apps" not in line


def test_missing_base_names_it_and_where_it_looked(snap: Path, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    for command in (["explain", "--snap", str(snap)], ["compare", "--snap", str(snap)],
                    ["lint", str(snap)], ["fix", str(snap)], ["graph", "--snap", str(snap)]):
        one_line_error(ldsim(*command, "--host", str(host)), "'core22'",
                       f"{host}/snap/core22/current", "--base")


def test_a_base_that_is_another_snap_is_refused(snap: Path, tmp_path: Path) -> None:
    other = make_snap(tmp_path, "core20", "name: core20\ntype: base\n")
    line = one_line_error(ldsim("explain", "--snap", str(snap), "--base", str(other)))
    assert "'core20'" in line and "'core22'" in line
    app = make_snap(tmp_path, "notbase", "name: core22\napps: {a: {command: bin/a}}\n")
    line = one_line_error(ldsim("lint", str(snap), "--base", str(app)))
    assert "type: app" in line and "'core22'" in line


@pytest.mark.parametrize(("extra", "option", "text"), [
    (["--root", "/tmp"], "--root", "use --host"),
    (["--confinement", "strict"], "--confinement", "both views"),
])
def test_compare_refuses_options_it_would_ignore(snap: Path, extra: list[str], option: str,
                                                 text: str) -> None:
    one_line_error(ldsim("compare", "--snap", str(snap), *extra), option, text)


def test_all_without_tree_is_refused() -> None:
    one_line_error(ldsim("explain", "-a", "/bin/true"), "-a/--all", "--tree")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_strict_snap_on_base_bare_runs_in_an_empty_tree(tmp_path: Path) -> None:
    """snapd's bare base is an empty tree with mount points: a static program of a strict
    `base: bare` snap starts there, a dynamic one finds no loader. ldsim refused both, as
    if a base had to be given ("the strict view needs the base snap 'bare'"), and so did
    compare and scan --snap."""
    snap = make_snap(tmp_path, "sbare", "name: sbare\nversion: '1'\nbase: bare\n"
                     "confinement: strict\napps: {st: {command: bin/st}, dyn: "
                     "{command: bin/dyn}}\n")
    (snap / "bin").mkdir()
    src = tmp_path / "hi.c"
    src.write_text("int main(void) { return 0; }\n")
    for name, extra in (("st", ["-static"]), ("dyn", [])):
        subprocess.run(["gcc", *extra, "-o", str(snap / "bin" / name), str(src)], check=True)
    static = ldsim("explain", "--snap", str(snap), "--app", "st")
    assert static.returncode == 0 and "statically linked" in static.stdout, static.stderr
    dynamic = ldsim("explain", "--snap", str(snap), "--app", "dyn", "--json")
    assert dynamic.returncode == 1, dynamic.stderr
    assert '"reason": "interpreter not found (the kernel cannot start the program)"' \
        in dynamic.stdout
    scanned = ldsim("scan", "--snap", str(snap), "--base-dir", str(tmp_path / "bases"))
    assert scanned.returncode == 1 and "Not scanned" not in scanned.stdout, scanned.stdout


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                    reason="needs gcc and patchelf")
def test_a_snap_that_trips_a_bug_is_named_by_it_first(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A snap whose status is "error" (a bug in ldsim on one of its programs) was named by
    a library not found, the bug second: the summary shows a snap's first reason."""
    import ldsim
    import ldsim.loader.run as run

    snap = make_snap(tmp_path, "demo", "name: demo\nversion: '1'\nbase: bare\n"
                     "confinement: classic\napps: {a: {command: bin/a}}\n")
    (snap / "bin").mkdir()
    src = tmp_path / "a.c"
    src.write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(snap / "bin/a"), str(src)], check=True)
    subprocess.run(["patchelf", "--add-needed", "libnope.so.1", str(snap / "bin/a")], check=True)
    subprocess.run(["gcc", "-o", str(snap / "bin/b"), str(src)], check=True)

    calls: list[str] = []
    real = run._interp_refusal

    def buggy(view: object, interp: str, cwd: str, ident: object) -> object:
        calls.append(interp)
        if len(calls) == 2:  # the second program's
            raise RuntimeError("a bug")
        return real(view, interp, cwd, ident)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "_interp_refusal", buggy)
    results = list(ldsim.scan(snaps=[str(snap)], host="/"))
    assert results[0].status == "error", results[0]
    assert "a bug" in results[0].reasons[0], results[0].reasons
