"""``ldsim check``: findings grouped by severity, ``--min-severity``, C++ names demangled (and
kept mangled in the ``ldsim.check/1`` JSON), colour and width, and the demangler's bounds.

The C++ root is built with gcc (``rootfs-fixtures/abi_roots.py``, ``cxx_root``): the symbols
carry the names g++ gives them (``_ZdaPv`` is ``operator delete[](void*)``,
``_ZN2ns4goneEv`` is ``ns::gone()``), set with asm labels, so no C++ compiler is needed.
``/usr/bin/app`` defines ``operator delete[]`` itself (exported), which ``libuser.so.1`` then
binds to instead of ``libcxx.so.1`` it was linked against (``interposed-symbol``, info); it
calls ``ns::gone()``, version ``CXX_1.0``, which ``libcxx.so.1`` was rebuilt without
(``undefined-symbol``, error).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import abi_roots
import pytest
from glibcroot import REPO

import ldsim
from ldsim import Finding, Severity
from ldsim.analysis.explain import explanation_of
from ldsim.renderers import demangle as dm
from ldsim.renderers.style import plain, width_of

ENV = ldsim.LoaderEnv(hwcaps=(), platform="x86_64", legacy_hwcap_names=("x86_64",))
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                               reason="needs gcc and patchelf")
needs_demangler = pytest.mark.skipif(dm.demangle("_ZdaPv") == "_ZdaPv",
                                     reason="needs this machine's libstdc++ (__cxa_demangle)")

def bomb(levels: int) -> str:
    """A name whose demangling doubles with every level (``PFvSn_Sn_E``: a pointer to a
    function taking the previous type twice)."""
    def ref(n: int) -> str:
        if n == 0:
            return "S_"
        digits, n, s = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", n - 1, ""
        while True:
            s, n = digits[n % 36] + s, n // 36
            if n == 0:
                return f"S{s}_"

    out, cur, nxt = "_Z1fP1A", 1, 2
    for _ in range(levels):
        out += f"PFv{ref(cur)}{ref(cur)}E"
        cur, nxt = nxt + 1, nxt + 2
    return out


@pytest.fixture(scope="module")
def cxx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return abi_roots.cxx_root(tmp_path_factory.mktemp("check") / "root").path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", "check", *args], capture_output=True,
                          text=True, cwd=REPO, check=False)


def check_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = cli("--json", "--root", str(root), "--hwcaps", "none", *args)
    assert proc.returncode in (0, 1), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, doc


@pytest.fixture(scope="module")
def expl(cxx_root: Path) -> ldsim.Explanation:
    return ldsim.check(ldsim.open_root(str(cxx_root)), "/usr/bin/app", ENV)


# -- the demangler ------------------------------------------------------------------------------


@needs_demangler
def test_demangle_itanium_names() -> None:
    assert dm.demangle("_ZdaPv") == "operator delete[](void*)"
    assert dm.demangle("_ZN2ns4goneEv") == "ns::gone()"
    assert dm.demangle("_ZNSt6vectorIiSaIiEE9push_backERKi") \
        == "std::vector<int, std::allocator<int> >::push_back(int const&)"
    # a symbol version stays as it is
    assert dm.demangle("_ZdaPv@GLIBCXX_3.4") == "operator delete[](void*)@GLIBCXX_3.4"
    assert dm.demangle("_ZdlPvm@@CXXABI_1.3.9") == "operator delete(void*, unsigned long)@@CXXABI_1.3.9"
    # not mangled, or not valid: unchanged
    for name in ("printf", "", "_Z", "_Zjunk", "ZdaPv", "_ZdaPv ", "@GLIBC_2.2.5",
                 "_Zda\nPv", "_Z\x1b[2J", "_Zé", "_Zda\udcffPv"):
        assert dm.demangle(name) == name, name
    names = ["_ZdaPv", "malloc@GLIBC_2.2.5", "_ZdaPv"]
    assert dm.demangle_all(names) == {"_ZdaPv": "operator delete[](void*)",
                                      "malloc@GLIBC_2.2.5": "malloc@GLIBC_2.2.5"}


def test_a_long_name_is_not_demangled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "_cache", {})
    calls: list[list[str]] = []
    monkeypatch.setattr(dm, "_demangle_batch",
                        lambda names: (calls.append(names), ({}, names))[1])
    long_name = "_Z" + "a" * (dm.LIMIT - 1)
    assert dm.demangle(long_name) == long_name and calls == []
    assert dm.demangle(long_name[:-1]) == long_name[:-1] and calls == [[long_name[:-1]]]


@needs_demangler
def test_a_demangler_bomb_is_bounded() -> None:
    """Each level doubles the output: 18 levels (187 characters) are megabytes, 60 would never
    end in the demangler. It runs in a child with a CPU timer per name, so the names beside a
    bomb are demangled and the bomb stays mangled, soon."""
    bombs = [bomb(60), bomb(45)]
    names = ["_ZdaPv_first", bombs[0], "_ZN2ns4goneEv", bombs[1], "_ZdlPv"]
    start = time.monotonic()
    out = dm.demangle_all(names)
    assert time.monotonic() - start < dm.BATCH_SECONDS + 2
    assert out[bombs[0]] == bombs[0] and out[bombs[1]] == bombs[1]
    assert out["_ZN2ns4goneEv"] == "ns::gone()" and out["_ZdlPv"] == "operator delete(void*)"


def test_without_libstdcxx_names_stay_mangled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "_cache", {})
    monkeypatch.setattr(dm, "_unavailable", False)
    monkeypatch.setattr(dm, "LIBSTDCXX", "libldsim-no-such-library.so.0")
    assert dm.demangle("_ZdaPv") == "_ZdaPv"
    assert dm._unavailable  # remembered: no second child is started
    monkeypatch.setattr(dm, "_demangle_batch", lambda names: pytest.fail("started again"))
    assert dm.demangle("_ZdlPv") == "_ZdlPv"


@needs_demangler
def test_the_demangler_does_not_run_in_this_process() -> None:
    code = ("import sys\nfrom ldsim.renderers.demangle import demangle\n"
            "assert demangle('_ZdaPv') == 'operator delete[](void*)'\n"
            "maps = open('/proc/self/maps').read()\n"
            "print('libstdc++' in maps)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert proc.stdout.strip() == "False"


# -- the text -----------------------------------------------------------------------------------


@needs_gcc
@needs_demangler
def test_check_text_groups_and_demangles(cxx_root: Path) -> None:
    proc = cli("--root", str(cxx_root), "--hwcaps", "none", "--width", "0", "/usr/bin/app")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Findings: 1 error, 1 info"
    assert lines[1:3] == ["", "Errors (1):"]
    assert lines[3] == ("  undefined-symbol: /usr/bin/app: undefined symbol: ns::gone(), version "
                        "CXX_1.0 (no loaded object defines it; binding fails when it is used)")
    assert lines[4:6] == ["", "Info (1):"]
    assert lines[6].startswith("  interposed-symbol: /usr/lib/x86_64-linux-gnu/libuser.so.1: "
                               "operator delete[](void*) binds to /usr/bin/app, ")
    assert lines[7] == ""
    assert lines[8].startswith("Result: ") and "a real run fails (1 error finding: " \
        "undefined-symbol)" in lines[8]
    assert len(lines) == 9
    assert "_Z" not in proc.stdout and "\x1b[" not in proc.stdout


@needs_gcc
def test_min_severity_filters_what_is_shown_not_the_exit_status(cxx_root: Path) -> None:
    base = ("--root", str(cxx_root), "--hwcaps", "none", "--width", "0")
    proc = cli(*base, "--min-severity", "error", "/usr/bin/app")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == \
        "Findings: 1 error, 1 info (1 info not shown: --min-severity error)"
    assert "Info (" not in proc.stdout and "interposed-symbol" not in proc.stdout
    assert "Errors (1):" in proc.stdout and "Result: " in proc.stdout
    # a program that starts: still 0, whatever is hidden
    every = cli(*base, "/usr/bin/clean")
    assert every.returncode == 0 and every.stdout == "Findings: none\n"
    proc = cli(*base, "--min-severity", "warning", "/usr/bin/app")
    assert proc.returncode == 1 and "Errors (1):" in proc.stdout and "Info" not in proc.stdout


@needs_gcc
def test_each_finding_once_with_plurals(expl: ldsim.Explanation) -> None:
    warn = [Finding("version-missing", Severity.WARNING, f"/usr/lib/lib{n}.so", "/usr/lib/x.so",
                    "X_2", f"/usr/lib/x.so: weak version `X_2' not found (required by {n})")
            for n in ("a", "b")]
    more = explanation_of(expl.resolution, [*expl.findings, *warn, *warn, *expl.findings])
    text = str(ldsim.render(more, "check-text"))
    assert text.splitlines()[0] == "Findings: 1 error, 2 warnings, 1 info"
    assert "Warnings (2):" in text and text.count("version-missing: ") == 2
    assert text.count("undefined-symbol: ") == 1 and text.count("interposed-symbol: ") == 1
    # groups in severity order
    assert text.index("Errors (1)") < text.index("Warnings (2)") < text.index("Info (1)")
    text = str(ldsim.render(more, "check-text", min_severity="error"))
    assert "(2 warnings, 1 info not shown: --min-severity error)" in text.splitlines()[0]
    doc = json.loads(ldsim.render(more, "check-json", min_severity="warning"))
    assert doc["summary"] == {"errors": 1, "warnings": 2, "infos": 1}
    assert [f["severity"] for f in doc["findings"]] == ["error", "warning", "warning"]
    with pytest.raises(ldsim.LdsimError, match="expected one of error, warning, info"):
        ldsim.render(more, "check-text", min_severity="fatal")


@needs_gcc
def test_colour_and_width(expl: ldsim.Explanation) -> None:
    plain_text = str(ldsim.render(expl, "check-text", width=None))
    coloured = str(ldsim.render(expl, "check-text", color=True, width=None))
    assert "\x1b[" not in plain_text and "\x1b[1;31m" in coloured and "\x1b[36m" in coloured
    assert plain(coloured) == plain_text  # the words say the same without colour
    for width in (40, 60, 80):
        for color in (False, True):
            text = str(ldsim.render(expl, "check-text", color=color, width=width))
            assert all(width_of(line) <= width for line in text.splitlines()), text
            # wrapped (at spaces, or at a slash in a long path), nothing cut
            assert "".join(plain(text).split()) == "".join(plain_text.split())


def test_input_strings_are_shown_safely() -> None:
    res = ldsim.Resolution(root="/", loader=ldsim.Libc.GLIBC, executable="/bin/x",
                           interpreter=None)
    evil = "_Zevil\x1b[2J\u202e"
    f = Finding("interposed-symbol", Severity.INFO, "/lib/a\nb.so", "/bin/x", evil,
                f"/lib/a\nb.so: {evil} binds to /bin/x")
    text = str(ldsim.render(explanation_of(res, [f]), "check-text"))
    assert "\x1b" not in text and "\u202e" not in text and "a\\nb.so" in text
    assert "\\x1b[2J\\u202e" in text


# -- the JSON -----------------------------------------------------------------------------------


@needs_gcc
@needs_demangler
def test_check_json_keeps_the_mangled_names(cxx_root: Path) -> None:
    status, doc = check_json(cxx_root, "/usr/bin/app")
    assert status == 1
    assert doc["schema"] == "ldsim.check/1" and doc["executable"] == "/usr/bin/app"
    assert doc["root"] == str(cxx_root) and doc["loader"] == "glibc"
    assert doc["verdict"]["status"] == "fails_at_run_time"
    assert doc["summary"] == {"errors": 1, "warnings": 0, "infos": 1}
    assert doc["min_severity"] == "info"
    undefined, interposed = doc["findings"]
    assert undefined["detail"] == "_ZN2ns4goneEv@CXX_1.0"
    assert undefined["demangled"] == "ns::gone()@CXX_1.0"
    assert "_ZN2ns4goneEv" in undefined["message"]
    assert interposed["detail"] == "_ZdaPv" and interposed["demangled"] == \
        "operator delete[](void*)"
    assert interposed["library"] == "/usr/bin/app"
    assert list(interposed) == ["id", "severity", "object", "library", "detail", "demangled",
                                "message"]
    status, doc = check_json(cxx_root, "--min-severity", "error", "/usr/bin/app")
    assert status == 1 and [f["id"] for f in doc["findings"]] == ["undefined-symbol"]
    assert doc["summary"] == {"errors": 1, "warnings": 0, "infos": 1}
    status, doc = check_json(cxx_root, "/usr/bin/clean")
    assert status == 0 and doc["findings"] == [] and doc["verdict"] == {
        "status": "starts", "reasons": []}
    assert all("demangled" not in f for f in doc["findings"])


@needs_gcc
def test_no_symbols(cxx_root: Path) -> None:
    status, doc = check_json(cxx_root, "--no-symbols", "/usr/bin/app")
    assert status == 0 and doc["findings"] == []


def test_help_says_the_exit_status_does_not_change() -> None:
    text = " ".join(cli("--help").stdout.split())
    assert "--min-severity {error,warning,info}" in text
    assert "the exit status does not change" in text and "ldsim.check/1" in text


# -- this machine ---------------------------------------------------------------------------------


@pytest.mark.host
@pytest.mark.skipif(not os.path.isfile("/usr/bin/gdb"), reason="needs /usr/bin/gdb")
@needs_demangler
def test_gdb_shows_operator_names() -> None:
    proc = cli("--width", "0", "/usr/bin/gdb")
    doc = json.loads(cli("--json", "/usr/bin/gdb").stdout)
    mangled = {f["detail"] for f in doc["findings"] if "demangled" in f}
    for name in mangled:
        assert f" {name} " not in proc.stdout, name
    if "_ZdaPv" in mangled:
        assert "operator delete[](void*) binds to" in proc.stdout
