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

import pytest
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


# libmount (util-linux, essential in Debian) hints at libcryptsetup: its dlopen path is read
HINTED = "/usr/lib/x86_64-linux-gnu/libmount.so.1"
# libc's .dynstr starts past the first pages, after .dynsym: cut inside it, the symbol
# table reads and the names past the cut do not
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def test_each_reader_of_a_file_cut_short_says_so_or_answers_as_before(tmp_path: Path) -> None:
    """The last page (the section headers) and the first (the header) are read, then the
    file is cut after that first page, at a quarter, at a half, inside its symbol names
    with everything else they need read (and once at 4 KiB, before the first page is read):
    each reader of the ELF layer (the parser, the symbol readers, direct and through
    pyelftools, the dlopen guesser and notes) either says the file changed, naming it and
    its sizes, or gives what it gives on the whole file; never another answer; and each is
    cut off somewhere past its first read. In a child: a mapped file died of SIGBUS here."""
    files = [os.path.realpath(p) for p in ("/usr/bin/ssh", "/bin/ls", HINTED, LIBC)
             if os.path.exists(p) and os.path.getsize(os.path.realpath(p)) > READ_WHOLE]
    assert files, "no large ELF file to cut"
    r = run_python(f"""
import os
from ldsim.buffers import FileBytes
from ldsim.errors import ChangedError
from ldsim.elf.reader import parse_elf
from ldsim.elf.symbols import read_dynamic_symbols, undefined_names, imports_any
from ldsim.elf.dlopen import dlopen_hints, parse_dlopen_notes
from elftools.elf.elffile import ELFFile
readers = [("parse", parse_elf), ("symbols", read_dynamic_symbols),
           ("undefined", undefined_names),
           ("imports", lambda b, p: imports_any(b, p, frozenset({{"dlopen"}}))),
           ("hints", lambda b, p: dlopen_hints(b, p, ())), ("notes", parse_dlopen_notes)]
tmp = {str(tmp_path / "cut")!r}
for src in {files!r}:
    with open(src, "rb") as fh:
        whole = fh.read()
    n = len(whole)
    page = FileBytes.PAGE
    last = [(n - 4096, n)]  # the section headers
    cuts = [(4096, last), (page, [(0, 64)] + last), (n // 4, [(0, 64)] + last),
            (n // 2, [(0, 64)] + last)]
    with open(src, "rb") as fh:
        secs = {{sec.name: sec for sec in ELFFile(fh).iter_sections()}}
    if ".dynsym" in secs and ".dynstr" in secs:
        sym, names = secs[".dynsym"], secs[".dynstr"]
        inside = (names["sh_offset"] // page + 1) * page  # a page boundary in .dynstr
        if inside < names["sh_offset"] + names["sh_size"]:
            # all but the names past it held: header, symbols, version records
            cuts.append((inside, [(0, 64), (sym["sh_offset"], inside)] + [
                (sec["sh_offset"], sec["sh_offset"] + sec["sh_size"])
                for key, sec in secs.items() if key.startswith(".gnu.version")] + last))
    for name, read in readers:
        ref = read(whole, "/f")
        for cut, held in cuts:
            with open(tmp, "wb") as fh:
                fh.write(whole)
            buf = FileBytes(os.open(tmp, os.O_RDONLY), n, "/f")
            for start, stop in held:
                for at in range(start - start % page, stop, page):
                    buf[at]
            header = held[0] == (0, 64)
            os.truncate(tmp, cut)
            try:
                got = "same" if read(buf, "/f") == ref else "DIFFERENT"
            except ChangedError as exc:
                want = (f"/f: the file changed while ldsim read it ({{n}} bytes when opened, "
                        f"{{cut}} now): look again once nothing writes to it")
                got = "changed" if str(exc) == want else "message: " + str(exc)
            finally:
                buf.close()
            print(os.path.basename(src), name, cut, header, got, bool(ref))
""", timeout=60)
    assert r.returncode == 0, r.describe()  # SIGBUS (-7) with a mapped file
    outcomes: dict[tuple[str, str], set[str]] = {}
    deep: dict[str, set[str]] = {}  # by reader: files it was cut off in past the first page
    for line in r.text.splitlines():
        base, name, _cut, header, got, answered = line.split()
        assert got in ("changed", "same"), line
        outcomes.setdefault((base, name), set()).add(got)
        if header == "True" and got == "changed":
            deep.setdefault(name, set()).add(base)
        if base == os.path.basename(os.path.realpath(HINTED)) and name == "hints":
            assert answered == "True", line  # the guesser had sonames to find
    assert len(outcomes) == 6 * len(files), r.text
    for (base, name), seen in outcomes.items():
        assert "changed" in seen, (base, name, r.text)  # each reader was cut off somewhere
    # and deep inside, not only at its first read: in the symbol table's names, the dlopen
    # guesser's sonames, the dynamic segment's strings
    libc, hinted = (os.path.basename(os.path.realpath(p)) for p in (LIBC, HINTED))
    for name in ("parse", "symbols", "undefined", "imports"):
        assert libc in deep.get(name, set()), (name, r.text)
    assert hinted in deep.get("hints", set()), r.text


def test_a_file_truncated_after_its_buffer_was_taken_is_unreadable(tmp_path: Path) -> None:
    """Through the view, as the models read: the buffer of a large program is taken, the
    file is cut to one page; the parser says the file changed (a ChangedError, handled as
    ldsim's own inability to read it), naming it; a file left alone still reads."""
    root = _big_program(tmp_path)
    r = run_python(f"""
import os
from ldsim.errors import AccessError, ChangedError
from ldsim.fs.view import HostDirView
from ldsim.elf.reader import parse_elf
view = HostDirView({str(root)!r})
print(type(view.read_parts(("bin", "big"))).__name__,
      parse_elf(view.read_parts(("bin", "big")), "/bin/big").needed[:1])
buf = view.read_parts(("bin", "big"))
os.truncate({str(root / "bin/big")!r}, 4096)
try:
    parse_elf(buf, "/bin/big")
except ChangedError as exc:
    print(isinstance(exc, AccessError), exc.errno_name, "|", exc)
""")
    assert r.returncode == 0, r.describe()  # SIGBUS (-7) with a mapped file
    first, second = r.text.splitlines()
    assert first.startswith("FileBytes ('lib"), r.text
    assert second.startswith("True EIO | /bin/big: the file changed while ldsim read it ("), \
        r.text
    assert second.endswith(" bytes when opened, 4096 now): look again once nothing writes to it"), \
        r.text


def test_symbols_and_dlopen_notes_of_a_changed_file_stop_the_resolution(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that changes while its symbols or its dlopen notes are read is not an empty
    symbol table (every symbol it defines then looked undefined: the verdict said the program
    fails at run time) nor a warning (its hints were silently missing): the ChangedError
    goes up, and the file is reported as unreadable."""
    import ldsim
    import ldsim.analysis.dlopen as dlopen_mod
    from ldsim.analysis.abi import symbol_findings
    from ldsim.errors import ChangedError

    target = ldsim.open_root("/")
    res = target.resolve("/bin/ls")
    libc = next(o for o in res.objects if "libc.so" in o.path)
    changed = ChangedError(libc.path, "the file changed while ldsim read it (1 bytes when "
                                      "opened, 0 now): look again once nothing writes to it")

    def read(obj: object) -> tuple[()]:
        if obj is libc:
            raise changed
        return ()

    with pytest.raises(ChangedError):
        symbol_findings(res, read)

    def declared(view: object, obj: object, hints: bool) -> object:
        raise changed

    monkeypatch.setattr(dlopen_mod, "_declared", declared)
    with pytest.raises(ChangedError):
        dlopen_mod.requests_of(target.view(), [libc])
