"""Text for people: colour that carries meaning, lines that fit, a tree worth reading, a
progress bar that leaves nothing behind.

The golden outputs ``people-*`` (``scripts/golden_outputs.py``: ``explain``, ``--tree``,
``compare`` and ``lint`` on the fixture roots, with and without colour, at 80 and 120 columns)
are compared byte for byte by ``tests/test_outputs_golden.py``; here they are checked for what
must hold whatever the words: no line wider than its width, colour that only adds to the words.
Terminals are real pseudo-terminals (:mod:`pty`), so ``--color auto``, the terminal's width
and the progress bar see what a person's shell gives them.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import ldsim
from ldsim.renderers.style import Style, fit, plain, width_of

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "outputs"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _stdout(name: str) -> str:
    text = (GOLDEN / name).read_text()
    return text.split("# stdout\n", 1)[1].rsplit("# stderr\n", 1)[0]


PEOPLE = sorted(p.name for p in GOLDEN.glob("people-*")) if GOLDEN.is_dir() else []


def test_the_people_outputs_exist() -> None:
    kinds = {re.sub(r"-(80|120)(-color)?\.txt$", "", n) for n in PEOPLE}
    assert {"people-explain-plain-app", "people-explain-plain-app-tree",
            "people-explain-snap-leaky-tree", "people-compare-leaky-all",
            "people-lint-leaky"} <= kinds
    for kind in kinds - {"people-explain-musl-tree-all"}:
        for tag in ("80", "80-color", "120", "120-color"):
            assert f"{kind}-{tag}.txt" in PEOPLE


@pytest.mark.parametrize("name", PEOPLE)
def test_no_line_is_wider_than_the_width(name: str) -> None:
    width = int(re.search(r"-(80|120)", name).group(1))  # type: ignore[union-attr]
    for line in _stdout(name).splitlines():
        assert width_of(line) <= width, (name, line)


@pytest.mark.parametrize("name", [n for n in PEOPLE if n.endswith("-color.txt")])
def test_colour_adds_nothing_but_colour(name: str) -> None:
    coloured = _stdout(name)
    bare = _stdout(name.replace("-color.txt", ".txt"))
    assert "\x1b" not in bare
    assert SGR.search(coloured), "no colour at all"
    assert plain(coloured) == bare
    # every escape is a complete SGR sequence, and each line closes what it opens
    assert "\x1b" not in SGR.sub("", coloured)
    for line in coloured.splitlines():
        codes = SGR.findall(line)
        assert not codes or codes[-1] == "\x1b[0m", line


def test_colours_mean_something() -> None:
    tree = _stdout("people-explain-snap-leaky-tree-80-color.txt")
    assert "\x1b[1;35mLEAK \x1b[0m/usr/lib/x86_64-linux-gnu/libhostonly.so.1" in tree
    app = _stdout("people-explain-plain-app-80-color.txt")
    assert "\x1b[1;31m!! NOT FOUND\x1b[0m libmissing.so.1" in app
    assert "\x1b[1;31mResult:" in app
    lint = _stdout("people-lint-leaky-80-color.txt")
    assert "\x1b[1;31mERROR\x1b[0m \x1b[1mhost-leak\x1b[0m" in lint
    assert "\x1b[33mWARNING\x1b[0m" in lint
    compare = _stdout("people-compare-leaky-all-80-color.txt")
    assert "  \x1b[1;35mLEAK\x1b[0m     libhostonly.so.1" in compare
    assert "\x1b[1;31mMISSING\x1b[0m  libpaydep.so.1" in compare


def test_markers_start_the_rows() -> None:
    """LEAK, LEAK*, MISSING, DIFFERS in the first column of a row, never on a continuation
    line (at 120 columns a row used to wrap and push LEAK to the next line)."""
    for width in ("80", "120"):
        rows = _stdout(f"people-compare-leaky-all-{width}.txt").splitlines()
        markers = [line.split()[0] for line in rows if line.startswith("  ") and line[2] != " "
                   and line.split()[0] in ("LEAK", "LEAK*", "MISSING", "DIFFERS")]
        assert markers.count("LEAK") == 1 and markers.count("MISSING") == 1
        assert markers.count("LEAK*") == 5
        assert not any("LEAK" in line[3:] for line in rows if line.startswith("     "))


def test_lint_text_is_grouped_by_rule_id_with_fixes() -> None:
    text = _stdout("people-lint-leaky-120.txt")
    heads = [line for line in text.splitlines() if re.match(r"(ERROR|WARNING|INFO) ", line)]
    assert heads[0] == ("ERROR missing-library (Snapcraft's library linter; its errors are "
                        "ldsim's): 2 findings (1 error, 1 warning)")
    assert "ERROR host-leak: 5 findings (4 errors, 1 warning)" in heads
    # the rule ids --ignore takes, each rule once, its findings marked by severity first
    rules = [re.match(r"\w+ ([a-z-]+)", h).group(1) for h in heads]  # type: ignore[union-attr]
    assert len(rules) == len(set(rules))
    assert "  ERROR   bin/app: in the classic view, libhostonly.so.1" in text
    assert "  WARNING lib/libunused.so.1: in the classic view, libc.so.6" in text
    ignorable = set(ldsim.ALL_RULES)
    assert {re.match(r"\w+ ([a-z-]+)", h).group(1) for h in heads} <= ignorable  # type: ignore[union-attr]
    assert "fix: patchelf --no-default-lib bin/app" in text
    assert text.rstrip().endswith("5 ELF files checked: 5 errors, 11 warnings, 4 notes")


def test_plurals() -> None:
    assert "Summary: 1 binary," in _stdout("compare-no-rpath.txt")
    assert "Result: 1 name not found" in _stdout("people-explain-plain-app-80.txt")
    assert "1 ELF file checked" in _stdout("lint-no-rpath.txt")


# -- the tree ----------------------------------------------------------------------------------

_BRANCH = re.compile(r"^[│ ]*[├└]── ")


def _tree_problems(res: ldsim.Resolution) -> list[str]:
    """Every reference marker must follow the line that expands the object it refers to,
    and every loaded object is expanded once."""
    text = str(ldsim.render(res, "tree", all=True))
    lines = [_BRANCH.sub("", line) for line in text.splitlines()]
    targets: dict[str, set[str]] = {}
    for lk in res.lookups:
        if lk.target is not None:
            targets.setdefault(lk.name, set()).add(lk.target.path)
    problems = []
    expanded: dict[str, int] = {}
    for i, line in enumerate(lines):
        if line.endswith(" (see above)"):
            name = line[: -len(" (see above)")]
            if not any(p in expanded and expanded[p] < i for p in targets.get(name, ())):
                problems.append(f"line {i}: {line} before the object it refers to")
            continue
        m = re.match(r"(?:\S+ => )?(/\S*) \[", line)
        if m:
            if m.group(1) in expanded:
                problems.append(f"line {i}: {m.group(1)} expanded twice")
            expanded.setdefault(m.group(1), i)
    for obj in res.objects[1:]:
        if obj.path not in expanded and obj.via is not ldsim.Via.INTERPRETER:
            problems.append(f"{obj.path} never shown")
    return problems


@pytest.mark.skipif(not os.path.exists("/usr/bin/ssh"), reason="needs /usr/bin/ssh")
def test_ssh_tree_shows_each_object_once_and_never_refers_ahead() -> None:
    res = ldsim.resolve(ldsim.open_root("/"), "/usr/bin/ssh", ldsim.host_env())
    assert _tree_problems(res) == []
    text = str(ldsim.render(res, "tree"))
    assert "already loaded" not in text
    for obj in res.objects[1:]:
        if not re.search(r"lib(c|m|gcc_s|stdc\+\+)\.so|ld-linux", obj.path):
            assert text.count(obj.path) == 1, obj.path


def test_every_program_of_this_machine_tree_refers_only_back() -> None:
    """The ordering bug of the old tree (a breadth-first "already loaded" label drawn
    depth-first, above the line that loads the object) on every dynamic program in /usr/bin."""
    root = ldsim.open_root("/")
    env = ldsim.host_env()
    checked = 0
    for name in sorted(os.listdir("/usr/bin"))[:400]:
        path = f"/usr/bin/{name}"
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        try:
            res = ldsim.resolve(root, path, env)
        except ldsim.LdsimError:
            continue
        if len(res.objects) < 3:
            continue
        assert _tree_problems(res) == [], path
        checked += 1
    assert checked >= 20


def test_fit_wraps_without_losing_a_character() -> None:
    line = "  12 libgssapi_krb5.so.2 => /lib/x86_64-linux-gnu/libgssapi_krb5.so.2  [ld.so.cache]"
    for width in (20, 40, 60, 80):
        out = fit(line, width)
        assert all(width_of(x) <= width for x in out)
        assert "".join(x.strip() for x in out).replace(" ", "") == line.replace(" ", "")
    coloured = Style(color=True).paint("missing", "NOT FOUND " + "x/" * 60)
    out = fit(coloured, 30)
    assert all(width_of(x) <= 30 for x in out) and len(out) > 3
    assert all(x.count("\x1b[0m") >= 1 for x in out)  # each line closes its colour
    assert width_of("日本語") == 6 and width_of("\x1b[31mab\x1b[0m") == 2


# -- terminals ----------------------------------------------------------------------------------

def _on_pty(args: list[str], env: dict[str, str], *, cols: int = 100,
            stderr_tty: bool = False) -> tuple[str, str, int]:
    """Run ldsim with standard output (and optionally standard error) on a pseudo-terminal
    of ``cols`` columns; returns (stdout, stderr, exit status)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "ldsim", *args], stdout=slave,
                            stderr=slave if stderr_tty else subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    err = b"" if stderr_tty or proc.stderr is None else proc.stderr.read()
    status = proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"), err.decode(), \
        status


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "NO_COLOR", "TERM", "LINES")}
    env.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color", **extra})
    return env


@pytest.mark.skipif(not os.path.exists("/usr/bin/ssh"), reason="needs /usr/bin/ssh")
def test_colour_on_a_terminal_and_not_elsewhere() -> None:
    out, _, status = _on_pty(["explain", "--tree", "/usr/bin/ssh"], _env())
    assert status == 0 and "\x1b[32mResult:" in out
    out, _, _ = _on_pty(["explain", "--tree", "/usr/bin/ssh"], _env(NO_COLOR="1"))
    assert "\x1b[" not in out
    out, _, _ = _on_pty(["explain", "--tree", "/usr/bin/ssh"], _env(TERM="dumb"))
    assert "\x1b[" not in out
    out, _, _ = _on_pty(["explain", "--tree", "--color", "never", "/usr/bin/ssh"], _env())
    assert "\x1b[" not in out
    # an explicit --color always wins over NO_COLOR, as in ls and grep
    piped = subprocess.run([sys.executable, "-m", "ldsim", "explain", "--color", "always",
                            "/usr/bin/ssh"], capture_output=True, text=True,
                           env=_env(NO_COLOR="1"), check=False)
    assert "\x1b[32mResult:" in piped.stdout
    piped = subprocess.run([sys.executable, "-m", "ldsim", "explain", "/usr/bin/ssh"],
                           capture_output=True, text=True, env=_env(), check=False)
    assert "\x1b" not in piped.stdout


@pytest.mark.skipif(not os.path.exists("/usr/bin/ssh"), reason="needs /usr/bin/ssh")
def test_width_from_the_terminal_columns_or_80() -> None:
    def widest(text: str) -> int:
        return max(width_of(line) for line in text.splitlines())

    out, _, _ = _on_pty(["explain", "--color", "never", "/usr/bin/ssh"], _env(), cols=60)
    assert 55 <= widest(out) <= 60
    out, _, _ = _on_pty(["explain", "--color", "never", "/usr/bin/ssh"], _env(COLUMNS="70"),
                        cols=200)
    assert 65 <= widest(out) <= 70

    def piped(*args: str, **env: str) -> str:
        return subprocess.run([sys.executable, "-m", "ldsim", "explain", *args, "/usr/bin/ssh"],
                              capture_output=True, text=True, env=_env(**env),
                              check=True).stdout

    assert widest(piped()) <= 80  # not a terminal, COLUMNS unset: 80
    assert widest(piped("--width", "0")) > 80  # never wrap
    assert widest(piped("--width", "120")) > 80
    bad = subprocess.run([sys.executable, "-m", "ldsim", "explain", "--width", "7", "/bin/true"],
                         capture_output=True, text=True, env=_env(), check=False)
    assert bad.returncode == 2 and "--width" in bad.stderr


def _payload(tmp_path: Path, files: int) -> Path:
    """A classic snap whose payload holds ``files`` copies of this machine's /usr/bin/true."""
    snap = tmp_path / "snap"
    (snap / "meta").mkdir(parents=True)
    (snap / "meta/snap.yaml").write_text("name: many\nversion: '1'\nbase: core22\n"
                                         "confinement: classic\napps:\n  t0:\n"
                                         "    command: bin/t0\n")
    (snap / "bin").mkdir()
    for i in range(files):
        shutil.copy("/usr/bin/true", snap / "bin" / f"t{i}")
    base = tmp_path / "core22"
    (base / "usr/lib").mkdir(parents=True)
    return snap


@pytest.mark.skipif(not os.path.exists("/usr/bin/true"), reason="needs /usr/bin/true")
def test_progress_bar_on_a_terminal_leaves_nothing(tmp_path: Path) -> None:
    snap = _payload(tmp_path, 40)
    args = ["lint", str(snap), "--base", str(tmp_path / "core22"), "--format", "json"]
    # stderr on a terminal (stdout too: they share it): a bar drawn, then erased
    both, _, status = _on_pty(args, _env(), stderr_tty=True)
    assert status in (0, 1), both
    assert "lint " in both and "/40" in both and "%|" in both
    before_json = both[:both.index('{\n  "schema"')]
    # what a terminal shows after the bar is removed: the last thing written to the bar's line
    # is a carriage return after blanks (or an erase-line sequence)
    last = before_json.rsplit("\r", 1)[-1]
    assert last.strip() in ("", "\x1b[A"), repr(before_json[-200:])
    # stderr not a terminal: not a byte of progress
    out = subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                         env=_env(), check=False)
    assert out.stderr == b"", out.stderr
    # tqdm is imported only when a bar is shown
    probe = ("import sys, ldsim.cli.main as m\n"
             "sys.argv = ['ldsim', *sys.argv[1:]]\n"
             "code = m.main(sys.argv[1:])\n"
             "sys.stderr.write('TQDM=%s' % ('tqdm' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                         env=_env(), check=False)
    assert "TQDM=False" in out.stderr


def test_option_values_are_checked(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                              text=True, env=_env(), check=False)

    r = run("explain", "--hwcaps", "bogus", "/bin/true")
    assert r.returncode == 2 and "x86-64-v3" in r.stderr and "'bogus'" in r.stderr
    r = run("explain", "--cwd", "/nonexistent-dir", "/bin/true")
    assert r.returncode == 2 and "--cwd: /nonexistent-dir: no such file" in r.stderr
    (tmp_path / "usr/bin").mkdir(parents=True)
    r = run("explain", "--root", str(tmp_path), "/usr/bin/ls")
    assert r.returncode == 2 and f"(in the root {tmp_path})" in r.stderr
    r = run("explain", "-v", "--secure", "--ld-library-path", "/opt/x", "/bin/true")
    assert "LD_LIBRARY_PATH=/opt/x IGNORED: secure mode (AT_SECURE) drops it" in r.stdout
