"""Bad input: one clear line on stderr naming the file, the documented exit status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from glibcroot import ctrl_c_default

LDSO = "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def ldsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ldsim", *args], capture_output=True, text=True, check=False
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("ldsim: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[-1], proc.stderr


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A minimal root: the host's loader and libc, /bin/true copied in."""
    r = tmp_path / "root"
    (r / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (r / "lib64").mkdir()
    (r / "bin").mkdir()
    shutil.copy(LDSO, r / "lib/x86_64-linux-gnu/")
    shutil.copy(LIBC, r / "lib/x86_64-linux-gnu/")
    os.symlink("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", r / "lib64/ld-linux-x86-64.so.2")
    shutil.copy("/usr/bin/true", r / "bin/true")
    return r


def test_explains_a_program_in_a_root(root: Path) -> None:
    proc = ldsim("explain", "--json", "--root", str(root), "/bin/true")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "ldsim.explain/1"
    assert [(o["name"], o["path"], o["via"]) for o in doc["objects"]] == [
        ("/bin/true", "/bin/true", "executable"),
        ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "default"),
        ("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", "interpreter"),
    ]
    # The root has no cache: that is said, and the default directories were used.
    assert any("ld.so.cache" in d["message"] for d in doc["diagnostics"])


def test_missing_program(root: Path) -> None:
    assert_one_line_error(
        ldsim("explain", "--root", str(root), "/bin/nope"), "/bin/nope", "no such file"
    )


def test_non_elf_program(root: Path) -> None:
    (root / "bin/script").write_text("#!/bin/sh\necho this is a script, not ELF\n")
    assert_one_line_error(
        ldsim("explain", "--root", str(root), "/bin/script"), "/bin/script", "not an ELF file"
    )


def test_root_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert_one_line_error(
        ldsim("explain", "--root", str(tmp_path / "f"), "/bin/true"), "not a directory"
    )
    assert_one_line_error(
        ldsim("explain", "--root", str(tmp_path / "none"), "/bin/true"), "does not exist"
    )


def test_symlink_loop_program(root: Path) -> None:
    os.symlink("loop2", root / "bin/loop1")
    os.symlink("loop1", root / "bin/loop2")
    assert_one_line_error(
        ldsim("explain", "--root", str(root), "/bin/loop1"), "/bin/loop1", "symbolic links"
    )


def test_corrupt_cache_is_a_warning_and_the_rest_is_done(root: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/ld.so.cache").write_bytes(b"glibc-ld.so.cache1.1" + b"\xff" * 30)
    proc = ldsim("explain", "--json", "--root", str(root), "/bin/true")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert any(
        d["severity"] == "warning" and "/etc/ld.so.cache" in d["message"]
        for d in doc["diagnostics"]
    )
    assert doc["objects"][1]["path"] == "/lib/x86_64-linux-gnu/libc.so.6"


def test_unresolved_library_exit_1(root: Path) -> None:
    (root / "lib/x86_64-linux-gnu/libc.so.6").unlink()
    proc = ldsim("explain", "--root", str(root), "/bin/true")
    assert proc.returncode == 1
    assert "!! NOT FOUND libc.so.6  (needed by /bin/true)" in proc.stdout
    # where it was looked for, inline
    assert "searched /lib/x86_64-linux-gnu" in proc.stdout


def test_bad_usage_exit_2() -> None:
    proc = ldsim("explain")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    proc = ldsim("explain", "--cwd", "relative", "/bin/true")
    assert_one_line_error(proc, "--cwd")
    for user in ("99999999999999999999", "4294967295", "0:4294967295", "x"):
        assert_one_line_error(ldsim("explain", "--user", user, "/bin/true"), "--user")


@pytest.mark.parametrize("command", ["explain", "check", "compare", "graph", "lint", "fix"])
def test_every_command_states_its_exit_statuses(command: str) -> None:
    text = " ".join(ldsim(command, "--help").stdout.split())
    tail = text[text.index("Exit status:"):]
    for status in ("0 ", "1 ", "2 bad usage or unreadable input", "3 a bug in ldsim"):
        assert status in tail, (command, tail)


def test_tree_view(root: Path) -> None:
    proc = ldsim("explain", "--tree", "--root", str(root), "/bin/true")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == "/bin/true"
    # the C library family is hidden unless asked, and the tree says so
    assert "──" not in proc.stdout  # no branch: /bin/true needs nothing but libc
    assert "(not shown: libc.so.6, ld-linux-x86-64.so.2; -a shows the C library family)" \
        in proc.stdout
    proc = ldsim("explain", "--tree", "-a", "--root", str(root), "/bin/true")
    assert "└── /lib/x86_64-linux-gnu/libc.so.6 [" in proc.stdout


def test_fifo_candidate_does_not_hang(root: Path) -> None:
    (root / "opt").mkdir()
    os.mkfifo(root / "opt/libc.so.6")
    proc = subprocess.run([sys.executable, "-m", "ldsim", "explain", "--root", str(root),
                           "--ld-library-path", "/opt", "/bin/true"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "not a regular file" in proc.stdout


def test_empty_ld_library_path_is_ignored_like_glibc(root: Path) -> None:
    shutil.copy(LIBC, root / "libc.so.6")  # in the cwd (/): found only if "" meant "."
    (root / "lib/x86_64-linux-gnu/libc.so.6").unlink()
    proc = ldsim("explain", "--json", "--root", str(root), "--ld-library-path", "",
                 "/bin/true")
    doc = json.loads(proc.stdout)
    assert [u["name"] for u in doc["unresolved"]] == ["libc.so.6"]
    proc = ldsim("explain", "--json", "--root", str(root), "--ld-library-path", ":",
                 "/bin/true")
    assert json.loads(proc.stdout)["objects"][1]["path"] == "libc.so.6"


def test_note_segment_past_the_end_is_not_a_crash(root: Path) -> None:
    import struct

    data = bytearray((root / "bin/true").read_bytes())
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    for i in range(phnum):
        off = phoff + 56 * i
        if struct.unpack_from("<I", data, off)[0] == 4:  # PT_NOTE
            struct.pack_into("<Q", data, off + 8, 1 << 63)
    (root / "lib/x86_64-linux-gnu/libc.so.6").write_bytes(bytes(data))
    proc = ldsim("explain", "--root", str(root), "/bin/true")
    assert proc.returncode in (0, 1) and "internal error" not in proc.stderr


def _mo_catalogue(path: Path, messages: dict[str, str]) -> None:
    """A GNU gettext catalogue (the .mo format msgfmt writes), without a hash table."""
    import struct

    keys = sorted(messages)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(messages[k].encode() + b"\0" for k in keys)
    n = len(keys)
    start = 7 * 4 + 16 * n  # header, then the two tables of (length, offset)
    table_ids, table_strs, pos = [], [], start
    for k in keys:
        table_ids += [len(k.encode()), pos]
        pos += len(k.encode()) + 1
    for k in keys:
        table_strs += [len(messages[k].encode()), pos]
        pos += len(messages[k].encode()) + 1
    path.parent.mkdir(parents=True)
    path.write_bytes(struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
                     + struct.pack(f"<{4 * n}I", *table_ids, *table_strs) + ids + strs)


def test_argparse_messages_are_translated_as_argparse_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI looks the catalogue up once per run (not once per message), with the same
    result as argparse's own gettext calls, and gives argparse its own functions back."""
    import argparse
    import gettext

    from ldsim.cli.main import main

    _mo_catalogue(tmp_path / "de/LC_MESSAGES/messages.mo",
                  {"unrecognized arguments: %s": "unbekannte Argumente: %s"})
    monkeypatch.setattr(gettext, "_localedirs", {})
    gettext.bindtextdomain("messages", str(tmp_path))
    monkeypatch.setenv("LANGUAGE", "de")
    before = (argparse._, argparse.ngettext)  # type: ignore[attr-defined]
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--bogus", "/bin/true"])
    assert stop.value.code == 2
    assert "ldsim: error: unbekannte Argumente: --bogus" in capsys.readouterr().err
    assert gettext.gettext("unrecognized arguments: %s") == "unbekannte Argumente: %s"
    assert (argparse._, argparse.ngettext) == before  # type: ignore[attr-defined]


_CTRL_C_WHILE_IMPORTING = r"""
import signal, sys

class Press:  # Ctrl-C as ldsim's API module is imported
    def find_spec(self, name, path=None, target=None):
        if name == "ldsim.api":
            signal.raise_signal(signal.SIGINT)
        return None

sys.meta_path.insert(0, Press())
sys.argv = ["ldsim", "explain", "/usr/bin/true"]
import runpy
runpy.run_module("ldsim", run_name="__main__")  # python -m ldsim
"""


REPO = Path(__file__).resolve().parent.parent


def test_ctrl_c_while_ldsim_is_imported_is_one_line_and_130() -> None:
    """The command's Ctrl-C handler is in place before ldsim's modules are imported (they
    take most of a short command's 40 ms): a Ctrl-C then printed a traceback (16 of 150
    random presses against `explain`, a review found). ``ldsim.cli`` imports none of them."""
    proc = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_IMPORTING], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=60, check=False, preexec_fn=ctrl_c_default)
    assert proc.returncode == 130 and proc.stderr == "ldsim: interrupted\n", proc
    assert proc.stdout == ""
    probe = subprocess.run([sys.executable, "-c", "import sys, ldsim.cli; print(sorted(m for m "
                            "in sys.modules if m.startswith('ldsim')))"], capture_output=True,
                           text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                           timeout=60, check=True)
    assert probe.stdout.strip() == "['ldsim', 'ldsim._version', 'ldsim.cli', 'ldsim.cli.interrupted']"
