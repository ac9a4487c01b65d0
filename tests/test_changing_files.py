"""Files that change while ldsim reads them (issue: ``ldsim scan`` over live trees).

A large file used to be memory-mapped: truncated by another process while mapped, the next
page ldsim touched past the new end killed it with SIGBUS (no message, no rest of the batch;
measured: 6 of 40 scans of a tree where a 4.7 MB program was being rewritten in place).
Now such a file is a :class:`~ldsim.buffers.FileBytes`, read with ``pread``: a file shorter
than when it was opened is a :class:`~ldsim.errors.ChangedError` naming it. The checks run
in a child Python so that a regression (a signal) fails the test instead of the suite.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from hostile import run_python
from hypothesis import given, settings
from hypothesis import strategies as st

from ldsim.buffers import FileBytes
from ldsim.fs.view import READ_WHOLE


class _Tiny(FileBytes):
    """Pages, direct reads and search steps of a few bytes: every seam is crossed."""

    __slots__ = ()
    PAGE = 8
    MAX_PAGES = 3
    DIRECT = 32
    FIND_CHUNK = 20


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: b.replace(b"\1", b"\0")),
       ops=st.lists(st.tuples(st.integers(-310, 310), st.integers(-310, 310),
                              st.sampled_from([b"\0", b"\0\0", b"a\0", b"ab", b"\0a\0b"])),
                    max_size=12))
def test_file_bytes_read_as_bytes_do(data: bytes, ops: list[tuple[int, int, bytes]]) -> None:
    """Slices, indexes, find and string_at give what the same operations on ``bytes`` give,
    with seams everywhere (pages of 8 bytes, at most 3 held)."""
    fd, name = tempfile.mkstemp(prefix="ldsim-filebytes-")
    os.close(fd)
    path = Path(name)
    path.write_bytes(data)
    for cls in (_Tiny, FileBytes):
        buf = cls(os.open(path, os.O_RDONLY | os.O_CLOEXEC), len(data), "/f")
        try:
            assert len(buf) == len(data) and bytes(buf) == data
            for a, b, sub in ops:
                assert buf[a:b] == data[a:b]
                assert buf.find(sub, a) == data.find(sub, a)
                assert buf.find(sub, a, b) == data.find(sub, a, b)
                if data:
                    assert buf[a % len(data)] == data[a % len(data)]
                if a >= 0:
                    stop = b if b >= 0 else None
                    nul = data.find(b"\0", a, len(data) if stop is None else stop)
                    assert buf.string_at(a, stop) == (nul, data[a:nul] if nul >= 0 else b"")
            assert len(buf._pages) <= cls.MAX_PAGES  # what is held stays bounded
        finally:
            buf.close()
    path.unlink()


def _big_program(tmp_path: Path) -> Path:
    """A real ELF program larger than READ_WHOLE (so it is read a page at a time)."""
    for candidate in (os.path.realpath("/usr/bin/ssh"), os.path.realpath("/bin/ls"),
                      os.path.realpath(sys.executable)):
        if os.path.getsize(candidate) > READ_WHOLE:
            break
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copyfile(candidate, root / "bin/big")
    (root / "bin/big").chmod(0o755)
    return root


def test_a_file_truncated_while_read_is_named_not_a_signal(tmp_path: Path) -> None:
    """The buffer is taken, the file is cut to one page, then each reader of the ELF layer
    reads on: every one says the file changed (the parser, the symbol reader that pyelftools
    drives, the dlopen guesser), a file left alone still reads, and the process lives."""
    root = _big_program(tmp_path)
    r = run_python(f"""
import os
from ldsim.errors import ChangedError
from ldsim.fs.view import HostDirView
from ldsim.elf.reader import parse_elf
from ldsim.elf.symbols import read_dynamic_symbols, undefined_names
from ldsim.elf.dlopen import dlopen_hints
root = {str(root)!r}
view = HostDirView(root)
print(type(view.read_parts(("bin", "big"))).__name__, parse_elf(view.read_parts(("bin", "big")), "/bin/big").needed[:1])
for name, read in [("parse", lambda b: parse_elf(b, "/bin/big")),
                   ("symbols", lambda b: read_dynamic_symbols(b, "/bin/big")),
                   ("undefined", lambda b: undefined_names(b, "/bin/big")),
                   ("hints", lambda b: dlopen_hints(b, "/bin/big", ()))]:
    with open(root + "/bin/big", "rb") as fh:
        whole = fh.read()
    buf = view.read_parts(("bin", "big"))
    os.truncate(root + "/bin/big", 4096)
    try:
        read(buf)
        print(name, "read it")
    except ChangedError as exc:
        print(name, "|", exc)
    with open(root + "/bin/big", "wb") as fh:
        fh.write(whole)
""")
    assert r.returncode == 0, r.describe()  # SIGBUS (-7) with a mapped file
    lines = r.text.splitlines()
    assert lines[0].startswith("FileBytes ('lib"), r.text
    size = (root / "bin/big").stat().st_size
    for name, line in zip(("parse", "symbols", "undefined", "hints"), lines[1:], strict=True):
        assert line == (f"{name} | /bin/big: the file changed while ldsim read it ({size} bytes "
                        "when opened, 4096 now): look again once nothing writes to it"), r.text
