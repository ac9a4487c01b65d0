"""The one way ldsim reads YAML from a snap (``meta/snap.yaml``, ``snap/snapcraft.yaml``):
bounded by design, whatever the file holds.

Snaps are made by other people, so the file may be hostile. Before anything is built, the
parser's event stream (PyYAML's pure-Python parser, the one ``yaml.safe_load`` uses: a state
machine, not recursive) is scanned once and the file is refused as soon as it exceeds one of
the limits below; the events it produced are then composed and constructed by PyYAML's own
composer and ``SafeConstructor``, so a file within the limits loads exactly as
``yaml.safe_load`` loads it, except for the two scalars noted below. Every refusal is a
:class:`~ldsim.errors.SnapError` naming the file and the limit, one line.

Limits. snapd has no size limit of its own for snap.yaml (``snap/info.go``,
``ReadInfoFromSnapFile``, reads the whole file) and parses it with go-yaml v2
(``snap/info_snap_yaml.go``; v2.4.0 in snapd's ``go.mod``), which stops at a nesting depth of
10,000 (``scannerc.go``, "exceeded max depth") and at a share of alias-driven decoding
(``decode.go``, "document contains excessive aliasing"). ldsim's limits are tighter, and
generous for real files; a file at every limit at once costs about 3 s and 150 MiB (100,000
empty mappings, measured), a refusal a few milliseconds:

``MAX_BYTES`` = 1 MiB
    the text (UTF-8). snap.yaml files are typically a few KiB, snapcraft.yaml files a few
    tens; a 1 MiB file of ordinary apps loads in about 1.5 s and 80 MiB with the pure-Python
    parser.
``MAX_DEPTH`` = 64
    nested sequences and mappings. snap.yaml nests about 5 deep (``plugs``, attributes,
    lists), snapcraft.yaml not much more; PyYAML's composer recurses once per level, so a
    fixed depth keeps it far from Python's recursion limit.
``MAX_NODES`` = 100,000
    nodes once every alias is expanded (an anchor's node count is added again at each use of
    the alias). PyYAML shares an aliased object instead of copying it, but ldsim's readers
    (``str()`` of a value, environment expansion) walk the expanded tree: this bound is what
    makes a "billion laughs" file cost 1 KiB instead of gigabytes. A 1 MiB snap.yaml of
    ordinary apps has about 100,000 nodes.
``MAX_ALIASES`` = 10,000
    alias uses; hand-written files use a few.
``MAX_EVENTS`` = 200,000
    parser events, which are kept until the document is composed (about 0.5 KiB each).
An alias inside the node it names
    (``&a [*a]``) is refused: PyYAML would build a cyclic object, go-yaml v2 refuses it
    ("anchor 'a' value contains itself", ``decode.go``).

Scalars PyYAML would build into something ldsim cannot use are kept as their text: an
integer written with more than ``MAX_INT_CHARS`` (64) characters (Python refuses ``int()``
and ``str()`` of more than 4,300 digits; a base-60 ``1:0:0:...`` or ``0x...`` reaches that
with few characters), and a timestamp that is no real date or time (``2024-02-30``). This is
what snapd sees: go-yaml v2 decodes any scalar into a Go string field as its text
(``decode.go``, ``d.scalar``: ``out.SetString(n.value)``), every snap.yaml field ldsim reads
is a string field (or a map of strings) in snapd, and an integer too large for 64 bits
resolves to ``!!str`` (``resolve.go``). A value an explicit tag cannot build (``!!int abc``,
``!!bool maybe``, an empty ``!!int``) is invalid YAML, as any other constructor error.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any

from ldsim.errors import SnapError

MiB = 1 << 20
MAX_BYTES = MiB
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_ALIASES = 10_000
MAX_EVENTS = 200_000
MAX_INT_CHARS = 64
_SHOW = 80  # characters of a value or a parser message quoted in an error


def _short(text: str) -> str:
    """``text`` on one line (any run of white space, line breaks included, one space), at
    most ``_SHOW`` characters."""
    one = " ".join(text[:2 * _SHOW].split())
    return one if len(one) <= _SHOW and len(text) <= 2 * _SHOW else one[:_SHOW - 3] + "..."


def _invalid(path: str, exc: Exception) -> SnapError:
    """A PyYAML error as one line: ``invalid YAML (line N): problem``."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    context = getattr(exc, "context", None)
    said = f"{context}, {problem}" if context else str(problem)
    return SnapError(path, f"invalid YAML{where}: {_short(said)}")


def _scan(text: str, path: str) -> deque[Any]:
    """The parser's events for ``text``, refused at the first limit exceeded."""
    import yaml
    from yaml import events as ev

    parser = yaml.SafeLoader(text)
    out: deque[Any] = deque()
    open_nodes: list[list[Any]] = []  # per open collection: [anchor or None, expanded nodes]
    sizes: dict[str, int] = {}  # anchor -> expanded node count of its node
    nodes = aliases = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            out.append(event)
            if len(out) > MAX_EVENTS:
                raise SnapError(path, f"YAML has more than {MAX_EVENTS} parser events")
            if isinstance(event, ev.CollectionStartEvent):
                if len(open_nodes) >= MAX_DEPTH:
                    raise SnapError(path, f"YAML nested deeper than {MAX_DEPTH} levels")
                open_nodes.append([event.anchor, 1])
                added = 1
            elif isinstance(event, ev.CollectionEndEvent):
                anchor, size = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if open_nodes:
                    open_nodes[-1][1] += size
                continue
            elif isinstance(event, ev.ScalarEvent):
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                added = 1
            elif isinstance(event, ev.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise SnapError(path, f"YAML uses more than {MAX_ALIASES} aliases")
                if any(anchor == event.anchor for anchor, _ in open_nodes):
                    raise SnapError(path, f"YAML alias *{_short(event.anchor)} is used inside "
                                    "the node it names")
                added = sizes.get(event.anchor, 1)  # undefined: the composer says so
            else:
                if isinstance(event, ev.DocumentStartEvent):
                    sizes.clear()  # anchors belong to one document
                continue
            nodes += added
            if nodes > MAX_NODES:
                raise SnapError(path, f"YAML expands to more than {MAX_NODES} nodes "
                                "(aliases counted as copies of their anchor)")
            if open_nodes and not isinstance(event, ev.CollectionStartEvent):
                open_nodes[-1][1] += added
    except yaml.YAMLError as exc:
        raise _invalid(path, exc) from None
    finally:
        parser.dispose()
    return out


@functools.cache
def _replay_loader() -> type:
    """PyYAML's composer, ``SafeConstructor`` and resolver over recorded events."""
    from yaml.composer import Composer
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.nodes import ScalarNode
    from yaml.resolver import Resolver

    class Replay(Composer, SafeConstructor, Resolver):  # type: ignore[misc]
        """``yaml.SafeLoader`` with the events of :func:`_scan` in place of its parser."""

        def __init__(self, events: deque[Any]) -> None:
            self._events = events
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

        # The parser interface the composer reads (PyYAML ``parser.py``).
        def check_event(self, *choices: type) -> bool:
            return bool(self._events) and (not choices or isinstance(self._events[0], choices))

        def peek_event(self) -> Any:
            return self._events[0] if self._events else None

        def get_event(self) -> Any:
            return self._events.popleft() if self._events else None

        def dispose(self) -> None:
            self._events.clear()

        def construct_yaml_int(self, node: Any) -> Any:
            if isinstance(node, ScalarNode) and len(node.value) > MAX_INT_CHARS:
                return node.value  # see the module docstring: go-yaml's text
            return SafeConstructor.construct_yaml_int(self, node)

        def construct_yaml_timestamp(self, node: Any) -> Any:
            try:
                return SafeConstructor.construct_yaml_timestamp(self, node)
            except (ValueError, OverflowError):  # no such date (2024-02-30, year 0)
                return node.value

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return SafeConstructor.construct_object(self, node, deep)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
                tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
                value = node.value if isinstance(node, ScalarNode) else f"a {node.id}"
                raise ConstructorError(None, None, f"not a valid {_short(tag)}: "
                                       f"{_short(repr(value))}", node.start_mark) from None

    Replay.add_constructor("tag:yaml.org,2002:int", Replay.construct_yaml_int)
    Replay.add_constructor("tag:yaml.org,2002:timestamp", Replay.construct_yaml_timestamp)
    return Replay


def load_yaml(text: str, path: str) -> Any:
    """The one document of ``text`` as ``yaml.safe_load`` builds it (None when empty), within
    the limits of this module. Raises :class:`SnapError` naming ``path``: invalid YAML, or
    the limit the file exceeds."""
    if len(text) * 4 > MAX_BYTES:  # (a UTF-8 character is at most 4 bytes)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_BYTES:
            raise SnapError(path, f"YAML file larger than {MAX_BYTES // MiB} MiB ({size} "
                            f"bytes; ldsim reads at most {MAX_BYTES})")
    import yaml

    try:
        events = _scan(text, path)
        return _replay_loader()(events).get_single_data()
    except yaml.YAMLError as exc:
        raise _invalid(path, exc) from None
    except RecursionError:  # defensive: the limits above keep PyYAML far from it
        raise SnapError(path, "YAML too deeply nested to read") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise SnapError(path, f"unreadable YAML: {type(exc).__name__}: "
                        f"{_short(str(exc))}") from None


__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_EVENTS", "MAX_INT_CHARS", "MAX_NODES",
           "load_yaml"]
