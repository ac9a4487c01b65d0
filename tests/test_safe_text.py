"""Nothing from the input reaches a terminal raw; output errors end cleanly.

:mod:`ldsim.safetext` on its own (every hazard escaped, plain names untouched, escapes
unambiguous, huge names cut), then every command run through ``python -m ldsim`` on real
ELF files, file names and a snap whose names hold an escape sequence, line breaks, a bell, a
tab, bidi overrides, a C1 control and a byte that is not UTF-8
(``rootfs-fixtures/hostile_text.py``); then a 1,100-library ``--tree``, a full disk, a
closed pipe and a strict ASCII standard output.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import REPO, run_capped
from hostile_text import PLAIN, TOKEN, World, build, chain_root, huge_name_root, raw_hazards

from ldsim.renderers.fix import sh_word
from ldsim.safetext import LIMIT, escaped, shown

# -- ldsim.safetext ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "want"), [
    ("lib\x1b[2J.so", "lib\\x1b[2J.so"),
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x00\x07\x1f\x7f", "\\x00\\x07\\x1f\\x7f"),
    ("\x80\x85\x9b\x9f", "\\u0080\\u0085\\u009b\\u009f"),
    ("\u202egnp.so\u202c", "\\u202egnp.so\\u202c"),
    ("\u2066x\u2069\u200e\u200f\u061c", "\\u2066x\\u2069\\u200e\\u200f\\u061c"),
    ("a\u2028b\u2029", "a\\u2028b\\u2029"),
    ("bad\udcff\udc80.so", "bad\\xff\\x80.so"),  # surrogateescape: the raw bytes
    ("\ud800", "\\ud800"),
    ("C:\\dir\\lib", "C:\\dir\\lib"),  # a backslash followed by nothing escape-like
    ("a\\x1b", "a\\\\x1b"),  # ... else doubled
    ("a\\\x1b", "a\\\\\\x1b"),
    ("\\\\", "\\\\\\"),
    ("é ü ☃ 日本", "é ü ☃ 日本"),
])
def test_each_hazard_has_a_visible_escape(raw: str, want: str) -> None:
    assert shown(raw) == want
    assert escaped(raw) == want


@pytest.mark.parametrize("name", [
    "libc.so.6", "/usr/lib/x86_64-linux-gnu/libselinux.so.1", "$ORIGIN/../lib", "",
    "a b", "C:\\dir", "libé.so",
])
def test_plain_names_come_back_as_they_are(name: str) -> None:
    assert shown(name) is name
    assert escaped(name) is name


def _unescape(text: str) -> str:
    """The reader's side: what :func:`shown` escaped, back (a backslash that starts none of
    its escapes is a backslash)."""
    def back(m: re.Match[str]) -> str:
        e = m.group()
        if e in ("\\\\", "\\n", "\\r", "\\t"):
            return {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}[e]
        n = int(e[2:], 16)
        return chr(n + 0xDC00 if e[1] == "x" and n >= 0x80 else n)

    return re.sub(r"\\(?:\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})", back, text)


def test_escapes_are_unambiguous() -> None:
    rng = random.Random(42)
    alphabet = ["\\", "x", "u", "n", "r", "t", "1", "b", "a", "\x1b", "\n", "\r", "\t", "\x85",
                "\u202e", "\udcff", "\udc1b", "é", "/"]
    for _ in range(5000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 9)))
        out = shown(s)
        assert out.isprintable(), (s, out)
        assert _unescape(out) == s, (s, out)


def test_a_huge_name_is_cut_and_says_how_much() -> None:
    out = shown("x" * 100_000)
    assert out == "x" * LIMIT + f"...[{100_000 - LIMIT} more characters]"
    assert shown("\x1b" * 5000).endswith("\\x1b...[904 more characters]")
    assert len(escaped("y" * 100_000)) == 100_000  # identifiers are never cut


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_shell_word_is_the_same_bytes_in_bash() -> None:
    rng = random.Random(7)
    alphabet = ["a", "/", "-", " ", "'", '"', "\\", "$", "`", "!", "*", ";", "\x1b", "\n", "\r",
                "\t", "\x07", "\x7f", "\x85", "\u202e", "\udcff", "\udc80", "é", "x"]
    values = ["plain", "$ORIGIN/../lib", "a b", "it's", ""] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(300)]
    words = [sh_word(v) for v in values]
    assert all(w.isprintable() for w in words)
    assert sh_word("$ORIGIN/../lib") == "'$ORIGIN/../lib'"  # printable: shlex.quote
    script = "for w in " + " ".join(words) + "; do printf '%s\\0' \"$w\"; done"
    out = subprocess.run(["bash", "-c", script.encode("utf-8")], capture_output=True,
                         check=True).stdout
    assert out.split(b"\0")[:-1] == [v.encode("utf-8", "surrogateescape") for v in values]


# -- every command on hostile input ------------------------------------------------------------

needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("gcc", "patchelf"))
    or not os.path.exists("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    reason="needs gcc, patchelf and an x86-64 glibc host")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, World]:
    """The hostile world and its plain twin (same shape, printable names)."""
    top = tmp_path_factory.mktemp("hostile-text")
    return build(top / "hostile", TOKEN), build(top / "plain", PLAIN)


def _commands(w: World) -> dict[str, list[str]]:
    snap = ["--snap", w.snap, "--base", w.base, "--host", w.root]
    return {
        "explain": ["explain", "--root", w.root, w.program],
        "explain-v": ["explain", "-v", "--root", w.root, w.program],
        "explain-tree": ["explain", "--tree", "--root", w.root, w.program],
        "explain-interp": ["explain", "-v", "--root", w.root, w.interp_program],
        "check": ["check", "--root", w.root, w.program],
        "graph-dot": ["graph", "--format", "dot", "--root", w.root, w.program],
        "graph-mermaid": ["graph", "--format", "mermaid", "--root", w.root, w.program],
        "error-missing-program": ["explain", "--root", w.root, w.missing_program],
        "error-unknown-app": ["explain", *snap, "--app", w.no_app],
        "error-app-names": ["explain", "--snap", w.bad_apps_snap, "--base", w.base,
                            "--host", w.root],
        "snap-explain": ["explain", *snap, "--app", w.app],
        "snap-tree": ["explain", "--tree", *snap, "--app", w.app],
        "compare": ["compare", *snap],
        "compare-all": ["compare", "--all", *snap],
        "lint": ["lint", w.snap, "--base", w.base, "--host", w.root],
        "lint-sarif": ["lint", "--format", "sarif", w.snap, "--base", w.base, "--host", w.root],
        "fix": ["fix", w.snap, "--base", w.base, "--host", w.root],
        "snap-graph-dot": ["graph", "--format", "dot", *snap],
        "snap-graph-mermaid": ["graph", "--format", "mermaid", "--compare", *snap],
        "error-snap-program": ["explain", "--snap", w.broken_snap, "--base", w.base,
                               "--host", w.root],
    }


COMMANDS = list(_commands(World(b"", *["x"] * 10)))
# The escapes each command shows of the token: all of it, or what snap.yaml holds of it (an
# app name: no byte 0xFF, YAML is Unicode; a command: no line feed either, it is split on
# whitespace); SARIF escapes it its own way (JSON, a URI).
ALL = (b"\\x1b[2J", b"\\u202e", b"\\n", b"\\xff")
SHOWN: dict[str, tuple[bytes, ...]] = {
    "error-app-names": ALL[:3], "error-snap-program": ALL[:2],
    "lint-sarif": (b"\\u001b[2J", b"\\u202e", b"\\n", b"%1B%5B2J%0A%0D%07%09%E2%80%AE", b"%FF"),
}


@needs_tools
@pytest.mark.parametrize("command", COMMANDS)
def test_no_raw_control_character_reaches_the_output(worlds: tuple[World, World],
                                                     command: str) -> None:
    hostile, plain = worlds
    bad = run_capped(_commands(hostile)[command])
    good = run_capped(_commands(plain)[command])
    assert bad.ok_status and bad.returncode == good.returncode, (bad.describe(), good.describe())
    assert b"Traceback" not in bad.stderr and b"internal error" not in bad.stderr
    assert raw_hazards(bad.stdout) == [], bad.stdout[:3000]
    assert raw_hazards(bad.stderr) == [], bad.stderr[:3000]
    # No input line break made a line, no input tab reached the output: the hostile world
    # prints as many lines and tabs as its plain twin (the fix script adds one line: the
    # check that its shell reads $'...').
    extra = 1 if command == "fix" else 0
    assert bad.stdout.count(b"\n") == good.stdout.count(b"\n") + extra, bad.text
    assert bad.stderr.count(b"\n") == good.stderr.count(b"\n"), bad.err
    assert bad.stdout.count(b"\t") == good.stdout.count(b"\t"), bad.text
    both = bad.stdout + bad.stderr
    for escape in SHOWN.get(command, ALL):
        assert escape in both, (escape, both[:3000])


@needs_tools
def test_graph_labels_stay_inside_their_strings(worlds: tuple[World, World]) -> None:
    hostile, _plain = worlds
    mermaid = run_capped(_commands(hostile)["graph-mermaid"]).text.splitlines()
    node = re.compile(r'^    n\d+\("[^"]*"\)$')
    assert sum(bool(node.match(line)) for line in mermaid) == 6, mermaid
    if shutil.which("dot"):
        dot = run_capped(_commands(hostile)["graph-dot"])
        proc = subprocess.run(["dot", "-Tsvg"], input=dot.stdout, capture_output=True,
                              check=False)
        assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
        assert raw_hazards(proc.stdout) == []
        assert b"libevil\\x1b[2J\\n\\r\\x07\\t\\u202e" in proc.stdout


@needs_tools
def test_error_lines_name_the_input_escaped(worlds: tuple[World, World]) -> None:
    hostile, _plain = worlds
    r = run_capped(_commands(hostile)["error-missing-program"])
    assert r.returncode == 2
    assert r.stderr == (b"ldsim: error: /usr/bin/none\\x1b[2J\\n\\r\\x07\\t\\u202e\\u2066\\u009b"
                        b"\\xff: no such file or directory (in the root "
                        + hostile.root.encode() + b")\n")
    r = run_capped(_commands(hostile)["error-unknown-app"])
    assert r.returncode == 2
    assert r.stderr.startswith(b"ldsim: error: ") and r.stderr.count(b"\n") == 1, r.err
    assert b"'none\\x1b[2J\\n\\r\\x07\\t\\u202e\\u2066\\u009b\\xff'" in r.stderr
    # snap.yaml's app names: refused (snapd's pattern), or listed when --app is needed
    r = run_capped(_commands(hostile)["error-app-names"])
    assert r.returncode == 2
    assert r.stderr.startswith(b"ldsim: error: ") and r.stderr.count(b"\n") == 1, r.err
    # (a message that repr()s the name first shows that escape's backslash doubled)
    assert re.search(rb"app\\{1,2}x1b\[2J", r.stderr), r.err


@needs_tools
def test_the_fix_script_quotes_each_name_and_still_runs(worlds: tuple[World, World],
                                                        tmp_path: Path) -> None:
    hostile, _plain = worlds
    snap = tmp_path / "snap"
    shutil.copytree(hostile.snap, snap, symlinks=True)
    r = run_capped(["fix", snap, "--base", hostile.base, "--host", hostile.root])
    assert r.returncode == 0, r.describe()
    assert raw_hazards(r.stdout) == [], r.stdout
    script = tmp_path / "plan.sh"
    script.write_bytes(r.stdout)
    other = os.fsencode(snap) + b"/bin/other" + TOKEN
    with open(other, "rb") as fh:
        before = fh.read()
    if shutil.which("dash"):  # a shell without $'...' stops before it names any file
        proc = subprocess.run(["dash", script], capture_output=True, check=False)
        assert proc.returncode == 2 and b"run it with bash" in proc.stderr, proc
        with open(other, "rb") as fh:
            assert fh.read() == before
    proc = subprocess.run(["bash", script], capture_output=True, check=False)
    assert proc.returncode == 0, proc
    patchelf = shutil.which("patchelf") or "patchelf"
    rpath = subprocess.run([patchelf, "--print-rpath", other], capture_output=True,
                           check=True).stdout
    assert rpath == b"$ORIGIN/../lib" + TOKEN + b":/snap/core22/current/lib/x86_64-linux-gnu\n"
    interp = subprocess.run([patchelf, "--print-interpreter", other], capture_output=True,
                            check=True).stdout
    assert interp == b"/snap/core22/current/lib64/ld-linux-x86-64.so.2\n"


# -- a deep tree, write errors, a strict encoding -----------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return chain_root(tmp_path_factory.mktemp("chain"), 1100)


def test_tree_of_a_chain_of_1100_libraries(chain: tuple[str, str]) -> None:
    root, program = chain
    r = run_capped(["explain", "--tree", "-a", "--root", root, program], timeout=60)
    assert r.returncode == 0 and not r.timed_out, r.describe()
    assert r.stderr == b""
    lines = r.text.splitlines()
    assert lines[0] == program
    # liblink{k} is the first child of liblink{k-1}: k levels of "│   " before it
    for k in (0, 1, 2, 500, 1099):
        want = "│   " * k + f"├── /lib/x86_64-linux-gnu/liblink{k}.so ["
        assert any(line.startswith(want) for line in lines), k
    assert lines[-1] == "Result: all 1102 dependencies resolve."


@pytest.mark.parametrize("how", [[], ["-v"], ["--tree"], ["--abi-only"]],
                         ids=["text", "verbose", "tree", "abi-only"])
def test_a_huge_name_is_cut_in_the_output(tmp_path: Path, how: list[str]) -> None:
    root, program = huge_name_root(tmp_path)
    r = run_capped(["explain", *how, "--root", root, program])
    assert r.returncode == 1, r.describe()
    assert max(map(len, r.text.splitlines())) < LIMIT + 200, r.describe()
    name = len("lib" + "x" * 100_000 + ".so")
    assert f"lib{'x' * (LIMIT - 3)}...[{name - LIMIT} more characters]" in r.text


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return chain_root(tmp_path_factory.mktemp("small"), 3)


def _ldsim(args: list[str], stdout: int, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], stdout=stdout,
                          stderr=subprocess.PIPE, cwd=REPO, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


BUFFERING = [pytest.param({"PYTHONUNBUFFERED": "1"}, id="unbuffered"),
             pytest.param({"PYTHONUNBUFFERED": ""}, id="buffered")]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("env", BUFFERING)
@pytest.mark.parametrize("how", ["explain", "tree", "json", "help", "version"])
def test_a_full_disk_is_one_line_and_exit_2(small: tuple[str, str], env: dict[str, str],
                                            how: str) -> None:
    root, program = small
    args = {"explain": ["explain", "-v", "--root", root, program],
            "tree": ["explain", "--tree", "--root", root, program],
            "json": ["explain", "--json", "--root", root, program],
            "help": ["explain", "--help"], "version": ["--version"]}[how]
    with open("/dev/full", "wb") as full:
        proc = _ldsim(args, full.fileno(), env)
    assert proc.returncode == 2, proc
    assert proc.stderr == b"ldsim: error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("env", BUFFERING)
def test_a_closed_pipe_is_one_line_and_exit_2(small: tuple[str, str],
                                              env: dict[str, str]) -> None:
    root, program = small
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before ldsim writes: EPIPE, every time
    try:
        proc = _ldsim(["explain", "-v", "--root", root, program], write_end, env)
    finally:
        os.close(write_end)
    assert proc.returncode == 2, proc
    assert proc.stderr == b"ldsim: error: cannot write the output: Broken pipe\n"


STRICT_ASCII = [
    pytest.param({"PYTHONIOENCODING": "ascii"}, id="PYTHONIOENCODING=ascii"),
    pytest.param({"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                  "PYTHONIOENCODING": ""}, id="C-locale"),
]


@pytest.mark.parametrize("env", STRICT_ASCII)
def test_a_strict_ascii_stdout_does_not_end_the_run(small: tuple[str, str],
                                                    env: dict[str, str]) -> None:
    root, program = small
    r = run_capped(["explain", "--tree", "--root", root, program], env={**os.environ, **env})
    assert r.returncode == 0 and r.stderr == b"", r.describe()
    out = r.stdout.decode("ascii")
    assert "\\u2514\\u2500\\u2500 /lib/x86_64-linux-gnu/liblink0.so" in out  # "└── " as escapes


@needs_tools
def test_a_strict_ascii_stdout_shows_hostile_names(worlds: tuple[World, World]) -> None:
    hostile, _plain = worlds
    for args in (_commands(hostile)["explain-tree"], _commands(hostile)["explain-v"]):
        r = run_capped(args, env={**os.environ, "PYTHONIOENCODING": "ascii"})
        assert r.returncode == 1, r.describe()
        assert b"internal error" not in r.stderr
        assert raw_hazards(r.stdout) == [] and r.stdout.isascii()
        assert b"libevil\\x1b[2J\\n\\r\\x07\\t\\u202e\\u2066\\u009b\\xff.so.1" in r.stdout
