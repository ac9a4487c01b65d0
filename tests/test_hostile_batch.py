"""A payload with one poisoned file of each kind: batches complete (issue: hostile input).

The snap's payload holds a real program (``bin/app``, built with gcc, its libraries in the
payload and the base) beside files crafted to break a reader (``rootfs-fixtures/hostile_elf``)
and a program whose interpreter is a hostile loader binary. ``compare --all``, ``lint`` and
``graph`` must give their result for ``bin/app``, name every poisoned file once, finish, and
exit 1 or 2, never 3. Before the change one bad file ended the whole batch: MemoryError or a
hang (exit 3, no output at all), or exit 2 for a file that was not even a program.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hostile_elf as he
import memroot
import pytest
from glibcroot import Root
from hostile import Capped, run_capped
from snaproots import BASE_NAME, build_base, build_host, interp_of, snap_yaml

LIMIT = 60.0
BASELIB = "/snap/core22/current/lib/x86_64-linux-gnu"


def poisoned() -> dict[str, bytes]:
    """Payload path -> bytes of each poisoned file (none of them is ever run)."""
    hostile_interp = "/snap/poison/current/lib/ld-hostile.so.2"
    return {
        "bin/strings": he.strings_without_nul(),  # its strings overlap: unreadable
        "bin/verneed": he.overlapping_verneed(),  # its version records overlap
        "bin/needed": he.many_needed_one_string(2_000),  # 2,000 x one 100 KB name
        "bin/symtab": he.verneed_section_claiming(),  # sh_info 0xffffffff
        "lib/libsections.so": he.huge_section_no_entsize(),  # 2^40 section headers
        "lib/ld-hostile.so.2": he.loader_without_nul(),  # an interpreter with no NUL
        "bin/hostile-interp": memroot.elf(interp=hostile_interp, needed=["libc.so.6"]),
        "lib/libtrunc.so.1": memroot.elf(soname="libtrunc.so.1")[:40],  # file too short
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("batch")
    host = build_host(top / "host").path
    base = build_base(top / "bases" / BASE_NAME).path
    p = Root(top / "poison", base=False)
    p.write("/meta/snap.yaml", snap_yaml("poison", BASE_NAME, "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpay.so.1", "libpay.so.1")
    p.mkexe("/bin/app", link=("/lib/libpay.so.1",), rpath=f"$ORIGIN/../lib:{BASELIB}")
    p.set_interpreter("/bin/app", interp_of(BASE_NAME))
    for rel, data in poisoned().items():
        f = p.host("/" + rel)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        f.chmod(0o755)
    os.symlink("loop", p.host("/bin/loop"))  # a symlink loop
    os.mkfifo(p.host("/lib/fifo"))  # reading it would block forever
    return {"host": host, "base": base, "payload": p.path}


def snap_args(world: dict[str, Path]) -> list[str]:
    return ["--snap", str(world["payload"]), "--base", str(world["base"]), "--host",
            str(world["host"])]


def finished(r: Capped) -> None:
    assert not r.timed_out and r.returncode in (1, 2), r.describe()
    assert "internal error" not in r.err and "Traceback" not in r.err, r.describe()


def test_compare_all_finishes(world: dict[str, Path]) -> None:
    r = run_capped(["compare", "--all", "--json", *snap_args(world)], timeout=LIMIT)
    finished(r)
    doc = json.loads(r.stdout)
    by = {b["path"].rsplit("/current/", 1)[1]: b for b in doc["binaries"]}
    assert by["bin/app"]["rows"] and not by["bin/app"].get("classic_error"), by["bin/app"]
    # each poisoned program is named once on stderr (both views), or reported in its entry
    for rel in ("bin/strings", "bin/verneed", "bin/needed", "bin/hostile-interp",
                "lib/libsections.so", "lib/libtrunc.so.1"):
        named = sum(rel in line for line in r.err.splitlines())
        assert rel in by or named, (rel, r.err)


def test_lint_finishes(world: dict[str, Path]) -> None:
    r = run_capped(["lint", str(world["payload"]), "--base", str(world["base"]), "--host",
                    str(world["host"]), "--format", "json"], timeout=LIMIT)
    finished(r)
    doc = json.loads(r.stdout)
    skipped = {s["file"]: s["message"] for s in doc.get("skipped", [])}
    assert "bin/app" not in skipped  # linted (and clean: its RPATH and interpreter are right)
    assert not [f for f in doc["findings"] if f["file"] == "bin/app"], doc["findings"]
    assert "bin/strings" in skipped and "tables overlap" in skipped["bin/strings"], skipped
    assert "lib/libtrunc.so.1" in skipped, skipped
    text = run_capped(["lint", str(world["payload"]), "--base", str(world["base"]), "--host",
                       str(world["host"])], timeout=LIMIT)
    finished(text)
    assert "Not linted:" in text.text and text.text.count("bin/strings:") == 1, text.text


def test_graph_finishes(world: dict[str, Path], tmp_path: Path) -> None:
    progs = ["bin/app", "bin/strings", "bin/verneed", "bin/needed", "bin/symtab",
             "bin/hostile-interp", "lib/libtrunc.so.1"]
    r = run_capped(["graph", *snap_args(world), "--format", "json", *progs], timeout=LIMIT)
    finished(r)
    doc = json.loads(r.stdout)
    assert any(n.get("path", "").endswith("/bin/app") for n in doc["nodes"]), r.text[:500]
    for rel in ("bin/strings", "lib/libtrunc.so.1"):
        assert sum(rel in line for line in r.err.splitlines()) == 1, (rel, r.err)
