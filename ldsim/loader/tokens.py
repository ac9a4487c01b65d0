"""Dynamic string tokens: ``$ORIGIN``, ``$LIB``, ``$PLATFORM`` and their braced forms.

glibc ``elf/dl-load.c`` (``is_dst``, ``_dl_dst_substitute``, ``is_trusted_path_normalize``):
an unbraced token must not be followed by ``[A-Za-z0-9_]``; an unknown ``$NAME`` stays
literal; a known token without a value drops the whole element; in secure mode ``$ORIGIN``
is honoured only as the first thing of an element, and for the main program the expanded
element must lie under a trusted (system) directory after lexical normalisation.
"""

from __future__ import annotations

from ldsim.records import record

_TOKENS = ("ORIGIN", "PLATFORM", "LIB")


def _is_dst(s: str, pos: int, ref: str) -> int:
    """Length of token ``ref`` at ``s[pos:]`` (just after the ``$``), or 0 (glibc ``is_dst``)."""
    curly = pos < len(s) and s[pos] == "{"
    start = pos + 1 if curly else pos
    if not s.startswith(ref, start):
        return 0
    after = start + len(ref)
    if curly:
        return len(ref) + 2 if after < len(s) and s[after] == "}" else 0
    if after < len(s) and (s[after].isalnum() or s[after] == "_"):
        return 0
    return len(ref)


def count_dst(s: str) -> int:
    """How many recognised tokens ``s`` holds (glibc ``_dl_dst_count``)."""
    n = 0
    i = s.find("$")
    while i >= 0:
        if any(_is_dst(s, i + 1, t) for t in _TOKENS):
            n += 1
        i = s.find("$", i + 1)
    return n


@record(frozen=True, slots=True)
class TokenValues:
    origin: str | None  # None: unknown (the element is dropped)
    platform: str | None
    lib: str
    secure: bool = False
    owner_is_executable: bool = False
    trusted_dirs: tuple[str, ...] = ()


def substitute(element: str, values: TokenValues) -> str:
    """Expand tokens in one element. ``""`` means glibc discards the element."""
    if "$" not in element:
        return element
    out: list[str] = []
    check_trusted = False
    i = 0
    n = len(element)
    while i < n:
        ch = element[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        i += 1
        repl: str | None = None
        length = _is_dst(element, i, "ORIGIN")
        if length:
            if values.secure and (i != 1 or (i + length < n and element[i + length] != "/")):
                repl = None
            else:
                repl = values.origin
            check_trusted = values.secure and values.owner_is_executable
        else:
            length = _is_dst(element, i, "PLATFORM")
            if length:
                repl = values.platform
            else:
                length = _is_dst(element, i, "LIB")
                if length:
                    repl = values.lib
        if length and repl:
            out.append(repl)
            i += length
        elif length:
            return ""
        else:
            out.append("$")
    result = "".join(out)
    if check_trusted and not is_trusted(result, values.trusted_dirs):
        return ""
    return result


def normalize_lexically(path: str) -> str:
    """``is_trusted_path_normalize``'s lexical clean-up (``.``, ``..``, repeated ``/``)."""
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return "/" + "/".join(parts) + ("/" if parts else "")


def is_trusted(path: str, trusted_dirs: tuple[str, ...]) -> bool:
    if not path.startswith("/"):
        return False
    norm = normalize_lexically(path)
    return any(norm.startswith(d.rstrip("/") + "/") for d in trusted_dirs)
