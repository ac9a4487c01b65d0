"""``ldsim explain`` of one program pays for what it uses: no module it does not need is
imported (``python -X importtime`` is the tool to see what each costs). ``typing`` alone
cost every start 1.5 ms (4 % of an ``explain --json /usr/bin/ssh``) until FileBytes's
overloads stopped importing it at run time; the text views also imported the dlopen
analysis and the demangler's ``subprocess`` (5.7 ms) for a program with no dlopen call and
no finding. (``check`` reads symbol tables, with pyelftools: it imports what that needs.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_NEEDED = ("typing", "dataclasses", "inspect", "multiprocessing", "concurrent", "sqlite3",
              "networkx", "elftools", "yaml", "tqdm", "traceback", "subprocess", "threading",
              "hashlib", "ast", "logging", "socket", "asyncio", "pathlib", "xml")


@pytest.mark.skipif(not os.path.isfile("/usr/bin/ls"), reason="needs /usr/bin/ls")
@pytest.mark.parametrize("args", [["explain", "--json"], ["explain"], ["explain", "--tree"],
                                  ["explain", "-v"]])
def test_explain_imports_nothing_it_does_not_use(args: list[str]) -> None:
    code = ("import sys, io, contextlib\n"
            "from ldsim.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main({[*args, '/usr/bin/ls']!r})\n"
            f"print(sorted(m for m in {NOT_NEEDED!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
