"""What the text renderers share: colour that carries meaning, and lines that fit a width.

Colour is an ECMA-48 SGR sequence (``ESC [ n m``) around a word the text already says:
``NOT FOUND``, ``LEAK``, ``ERROR``, ``(see above)``. Without colour the text says the same thing,
so a renderer builds its lines once and a :class:`Style` with ``color=False`` returns them
unchanged. Input strings are escaped before they are styled (:func:`ldsim.safetext.shown`),
so the only escape sequences in the output are these.

Widths count what a terminal shows: SGR sequences take no column, East Asian wide and fullwidth
characters take two (Unicode UAX #11), combining marks none. :func:`fit` wraps a line that is
too wide at spaces, or anywhere in a long path, with a hanging indent: nothing is cut.
"""

from __future__ import annotations

import re
import unicodedata

from ldsim.records import record

DEFAULT_WIDTH = 80
"""Columns when the width of the output is not known (``COLUMNS`` unset, not a terminal)."""

_SGR = re.compile(r"\x1b\[[0-9;]*m")

# meaning -> SGR parameters (the 8 standard colours, readable on dark and light backgrounds)
_CODES = {
    "found": "32",      # green: found, starts, OK
    "reused": "2",      # dim: reuse of an object shown elsewhere
    "missing": "1;31",  # bold red: not found, aborted, a real run fails
    "leak": "1;35",     # bold magenta: comes from the host in a classic snap
    "error": "1;31",
    "warning": "33",    # yellow
    "info": "36",       # cyan
    "heading": "1",     # bold
    "dim": "2",
    "path": "34",       # blue: a file that was found
}


@record(frozen=True)
class Style:
    """How one output is drawn: with or without colour, at a width (``None``: unlimited)."""

    color: bool = False
    width: int | None = None

    def paint(self, meaning: str, text: str) -> str:
        """``text`` coloured for ``meaning`` (a key of the palette), or unchanged."""
        if not self.color or not text:
            return text
        return f"\x1b[{_CODES[meaning]}m{text}\x1b[0m"

    def severity(self, severity: str, text: str) -> str:
        """``text`` in the colour of a severity (``error``, ``warning``, ``info``)."""
        return self.paint(severity if severity in _CODES else "info", text)

    def fit(self, line: str, indent: int | None = None, *, cont: str | None = None
            ) -> list[str]:
        """``line`` as one or more lines no wider than :attr:`width` (see :func:`fit`)."""
        return fit(line, self.width, indent, cont=cont)

    def lines(self, lines: list[str]) -> str:
        """Every line fitted, joined, with a final newline."""
        out: list[str] = []
        for line in lines:
            out.extend(self.fit(line))
        return "\n".join(out) + "\n"


def plain(text: str) -> str:
    """``text`` without its SGR sequences."""
    return _SGR.sub("", text)


def _char_width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def width_of(text: str) -> int:
    """Columns ``text`` takes on a terminal."""
    s = plain(text)
    if s.isascii():
        return len(s)
    return sum(_char_width(c) for c in s)


def _tokens(line: str) -> list[tuple[str, int]]:
    """``line`` as (piece, columns): each SGR sequence a piece of width 0, each character one."""
    out: list[tuple[str, int]] = []
    pos = 0
    for m in _SGR.finditer(line):
        out += [(c, _char_width(c)) for c in line[pos:m.start()]]
        out.append((m.group(), 0))
        pos = m.end()
    out += [(c, _char_width(c)) for c in line[pos:]]
    return out


def fit(line: str, width: int | None, indent: int | None = None, *,
        cont: str | None = None) -> list[str]:
    """Wrap ``line`` to ``width`` columns.

    It breaks after the last space that fits, or, in a word longer than a line (a path),
    after the last ``/`` that fits, or else anywhere. Continuation lines start with
    ``indent`` spaces (default: the line's own indent plus four, at most half the width), or
    with ``cont`` (a tree's ``│   `` columns, say) when it is given.
    An open colour is closed at each break and reopened on the next line, so every line is
    whole on its own."""
    if width is None or width_of(line) <= width:
        return [line]
    lead = len(line) - len(line.lstrip(" "))
    if indent is None:
        indent = lead + 4
    indent = max(0, min(indent, width // 2))
    if cont is not None and width_of(cont) <= width - 12:
        indent = width_of(cont)
    else:
        cont = " " * indent
    toks = _tokens(line)
    out: list[str] = []
    first = True
    active = ""  # the SGR sequence in force where the next line starts
    # the tokens not placed yet are toks[at:end], never copied: a line of any length costs
    # its length, not its length times the lines it makes
    at, end = 0, len(toks)
    while at < end:
        room = width - (0 if first else indent)
        # offsets from ``at``: how many tokens fit, the last space and slash to break at
        cols, cut, space_cut, slash_cut = 0, 0, -1, -1
        for i in range(end - at):
            piece, w = toks[at + i]
            if cols + w > room:
                break
            cols += w
            cut = i + 1
            if piece == " " and i > (lead if first else 0):
                space_cut = i
            elif piece == "/":
                slash_cut = i + 1
        else:
            cut = end - at
        if cut < end - at:
            if space_cut > 0 and slash_cut > space_cut:
                # a path after that space would not fit a line of its own either: break it
                # here, at a slash, instead of leaving this line short
                word = 0
                for j in range(at + space_cut + 1, end):
                    if toks[j][0] == " ":
                        break
                    word += toks[j][1]
                    if word > width - indent:
                        space_cut = -1
                        break
            if space_cut > 0:
                cut = space_cut
            elif slash_cut > 0:
                cut = slash_cut
            cut = max(cut, 1)
        placed = toks[at:at + cut]
        piece_text = "".join(p for p, _ in placed)
        prefix = "" if first else cont
        text = prefix + active + piece_text
        for p, _ in placed:
            if p.startswith("\x1b["):
                active = "" if p == "\x1b[0m" else active + p
        at += cut
        # the space a line breaks at is not carried over
        while at < end and toks[at][0] == " ":
            at += 1
        if active and at < end:
            text += "\x1b[0m"
        out.append(text.rstrip(" ") if at < end else text)
        first = False
    return out


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 binary``, ``2 binaries``, ``0 errors``, ``3,224 files``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


__all__ = ["DEFAULT_WIDTH", "Style", "fit", "plain", "plural", "width_of"]
