"""``ldsim completion bash|zsh`` prints scripts the shells accept and that complete; the manual
page ``ldsim/man/ldsim.1`` is current with the argument parser, names every command and option,
and renders without a warning."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ldsim.cli import manpage
from ldsim.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "ldsim" / "man" / "ldsim.1"
COMPINIT = "autoload -Uz compinit; compinit -D -u"  # -D: no dump file in $HOME


def ldsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          text=True, check=False)


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action._name_parser_map)
    raise AssertionError("no subcommands")


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    found = {s for a in parser._actions for s in a.option_strings if s.startswith("--")}
    for sub in _commands(parser).values():
        found |= {s for a in sub._actions for s in a.option_strings if s.startswith("--")}
    return found


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proc = ldsim("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path_factory.mktemp("completion") / "ldsim.bash"
    path.write_text(proc.stdout)
    return path


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being completed), as the
    function that the script registers with ``complete -F`` computes it."""
    code = (
        'source "$1"; shift\n'
        'fn=$(complete -p ldsim | sed -n "s/.* -F \\([^ ]*\\) .*/\\1/p")\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}\n'
        '"$fn" ldsim "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "-c", code, "bash", str(script), *words],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_accepts_the_script(bash_script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_the_script_knows_every_command(bash_script: Path) -> None:
    text = bash_script.read_text()
    for name in _commands(build_parser()):
        assert re.search(rf"\b{name}\b", text), name
    assert complete(bash_script, "ldsim", "") == list(_commands(build_parser()))


def test_bash_completes_commands_options_and_choices(bash_script: Path) -> None:
    assert complete(bash_script, "ldsim", "ex") == ["explain"]
    assert "--color" in complete(bash_script, "ldsim", "explain", "--co")
    assert complete(bash_script, "ldsim", "explain", "--color", "") == [
        "auto", "always", "never"]
    assert complete(bash_script, "ldsim", "graph", "--format", "s") == ["svg"]
    assert complete(bash_script, "ldsim", "completion", "") == ["bash", "zsh"]
    assert complete(bash_script, "ldsim", "--ver") == ["--version"]


def test_bash_completes_paths(bash_script: Path, tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfile").write_text("")
    prefix = str(tmp_path / "root")
    # --root takes a directory; the program and a snap (directory or .snap file) any file
    assert complete(bash_script, "ldsim", "explain", "--root", prefix) == [prefix + "fs"]
    assert sorted(complete(bash_script, "ldsim", "explain", prefix)) == [
        prefix + "file", prefix + "fs"]
    assert sorted(complete(bash_script, "ldsim", "lint", prefix)) == [
        prefix + "file", prefix + "fs"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_accepts_the_script_and_registers_it(tmp_path: Path) -> None:
    proc = ldsim("completion", "zsh")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("#compdef ldsim\n")
    assert "print a shell completion script" in proc.stdout  # the one-line help of a command
    script = tmp_path / "_ldsim"
    script.write_text(proc.stdout)
    check = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    # installed as the help says: a file _ldsim on $fpath, or eval'd after compinit
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for setup, function in ((f"fpath=({tmp_path} $fpath); {COMPINIT}", "_ldsim"),
                            (f'{COMPINIT}; eval "$(<{script})"', "_shtab_ldsim")):
        run = subprocess.run(["zsh", "-f", "-c", f"{setup}; print -r -- $_comps[ldsim]"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
        assert (run.returncode, run.stdout, run.stderr) == (0, function + "\n", ""), setup


def test_completion_usage_and_help() -> None:
    proc = ldsim("completion", "fish")
    assert proc.returncode == 2 and "invalid choice: 'fish'" in proc.stderr
    text = ldsim("completion", "--help").stdout
    assert 'eval "$(ldsim completion bash)"' in text
    assert 'eval "$(ldsim completion zsh)"' in text
    assert "~/.local/share/bash-completion/completions/ldsim" in text and "_ldsim" in text
    tail = " ".join(text[text.index("Exit status:"):].split())
    assert "0 " in tail and "2 bad usage" in tail and "3 a bug in ldsim" in tail
    assert ldsim("completion", "--color", "never", "--width", "0", "zsh").returncode == 0


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_exit_2() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "ldsim", "completion", "bash"],
                              stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 2 and "cannot write the output" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_shipped_man_page_is_current() -> None:
    assert PAGE.exists(), "no man page: run python scripts/gen_manpage.py"
    assert PAGE.read_text(encoding="utf-8") == manpage.render(build_parser()), (
        "ldsim/man/ldsim.1 is not current with the argument parser: "
        "run python scripts/gen_manpage.py")


def test_the_man_page_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    first = manpage.render(build_parser())
    monkeypatch.setenv("COLUMNS", "41")
    assert manpage.render(build_parser()) == first


def test_the_man_page_names_every_command_and_long_option() -> None:
    parser = build_parser()
    text = manpage.render(parser)
    for name in _commands(parser):
        assert f'.SS "ldsim {name}"' in text, name
    for option in sorted(_long_options(parser)):
        assert f"\\fB{option.replace('-', chr(92) + '-')}\\fR" in text, option
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS",
                    "ENVIRONMENT", "SEE ALSO"):
        assert f"\n.SH {section}\n" in text
    for name in ("NO_COLOR", "COLUMNS", "LDSIM_DEBUG", ".BR ld.so (8)", ".BR ldd (1)",
                 ".BR ldconfig (8)"):
        assert name in text


def groff(page: str) -> str:
    """``page`` formatted as man(1) shows it, as plain text; no warning allowed."""
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", "-rLL=100n"],
                          input=page, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_the_man_page_renders_without_warnings() -> None:
    out = groff(PAGE.read_text(encoding="utf-8"))
    assert "ldsim explain [options] [EXECUTABLE]" in out
    assert "--ld-library-path V" in out  # options typed back as shown: ASCII hyphen-minus
    assert "\u2212" not in out and "\u2019" not in out


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_text_is_escaped_for_roff() -> None:
    parser = argparse.ArgumentParser(prog="demo", description="Demo. More.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser(
        "run", help="run it", description=".starts with a dot\n\n'starts with a quote",
        epilog="Example:\n  demo run --x 'a\\b'  # two  spaces\n.end",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--x-y", metavar="V", help="back\\slash, `code`, caf\u00e9 \u2014 100%% "
                   "sure, ~ and ^")
    p.add_argument("--z", required=True, choices=["a", "b"], help="required")
    out = " ".join(groff(manpage.render(parser)).split())
    for shown in (".starts with a dot", "'starts with a quote", "demo run --x 'a\\b' # two",
                  ".end", "--x-y V back\\slash, code, caf\u00e9 \u2014 100% sure, ~ and ^",
                  "demo run --z {a,b} [options]"):
        assert shown in out, (shown, out)
