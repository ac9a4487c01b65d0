"""Strings from the input, made safe to print on a terminal.

ldsim shows names it read from its input: DT_NEEDED, DT_SONAME, DT_RPATH and PT_INTERP
strings of ELF files, file names of a root or a snap, snap.yaml values. Any of them can hold
an escape sequence (``ESC [ 2 J`` clears a terminal, ECMA-48 section 5.4), a line break that
forges an output line, a carriage return that overwrites one, Unicode bidirectional
controls that show text in another order than it is (Unicode UAX #9 section 2; CVE-2021-42574,
"Trojan Source"), or bytes that are not UTF-8 (read with the ``surrogateescape`` error
handler of PEP 383: byte 0xNN becomes U+DCNN). :func:`shown` replaces each of them by a
visible escape, so that one name is one run of printable characters:

=================================================  =====================================
what                                               shown as
=================================================  =====================================
line feed, carriage return, tab                    ``\\n``, ``\\r``, ``\\t``
other C0 controls and DEL (U+0000-U+001F, U+007F)  ``\\xNN`` (``\\x1b`` for ESC)
C1 controls (U+0080-U+009F)                        ``\\u0085``
a byte that is not UTF-8 (U+DC80-U+DCFF)           ``\\xNN`` of the byte (``\\xff``), NN >= 80
bidi controls (U+061C, U+200E, U+200F,             ``\\u202e``
U+202A-U+202E, U+2066-U+2069), line and
paragraph separators (U+2028, U+2029), other
lone surrogates
=================================================  =====================================

``\\xNN`` with NN below 80 is that ASCII control character, with NN 80 or more the raw byte
(a C1 character is ``\\u0080``-``\\u009f``, so the two never meet). A backslash of the input
stays one backslash unless what follows it would read as one of these escapes (a backslash,
``n``, ``r``, ``t``, ``x``, ``u`` or a character that is escaped): then it is doubled. Plain
names, including ``C:\\dir``, print unchanged, and the escaped form is still unambiguous.

A string longer than :data:`LIMIT` characters (PATH_MAX, ``<linux/limits.h>``: no path the
kernel opens is longer) is cut there, with ``...[N more characters]`` saying how much was
left out: an ELF file may name a DT_NEEDED of 100 KB, thousands of times.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LIMIT = 4096
"""Characters of one input string shown before the rest is cut (PATH_MAX)."""

_CLASS = ("\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
          "\ud800-\udfff")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_sub: Callable[[Callable[[re.Match[str]], str], str], str] | None = None


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    n = ord(c)
    if n < 0x80:
        return f"\\x{n:02x}"
    if 0xDC80 <= n <= 0xDCFF:  # surrogateescape: the raw byte
        return f"\\x{n - 0xDC00:02x}"
    return f"\\u{n:04x}"


def _escape_all(s: str) -> str:
    """The slow path: the pattern is compiled on first use (half a millisecond a plain run
    never pays)."""
    global _sub
    if _sub is None:
        _sub = re.compile(f"[{_CLASS}]|\\\\(?=[\\\\nrtxu{_CLASS}])").sub
    return _sub(_escape, s)


def escaped(s: str) -> str:
    """``s`` with every control, bidi control and undecodable byte escaped (no length cap:
    a one-to-one mapping, for identifiers)."""
    if s.isprintable() and "\\" not in s:  # the common case: one C loop, no regex
        return s
    return _escape_all(s)


def shown(s: str, limit: int = LIMIT) -> str:
    """``s`` safe to print: :func:`escaped`, and cut after ``limit`` characters with a
    marker saying how many were left out."""
    if len(s) <= limit:
        if s.isprintable() and "\\" not in s:
            return s
        return _escape_all(s)
    return f"{escaped(s[:limit])}...[{len(s) - limit} more characters]"


__all__ = ["LIMIT", "escaped", "shown"]
