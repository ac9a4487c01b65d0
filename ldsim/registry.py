"""The renderer registry: which function turns which kind of result into which format.

Renderers live in :mod:`ldsim.renderers` and register themselves there when it is imported
(:mod:`ldsim.api` does); everything else finds them here: :func:`ldsim.render` (the API's one
entry point for output), the command line, and the notebook representations of result objects,
which cannot import :mod:`ldsim.renderers` (it comes later in the pipeline) and so ask this
registry, at the bottom of it, instead.

A *kind* is the class name of a result (``Resolution``, ``Explanation``, ``Comparison``,
``LintReport``, ``FixPlan``, ``ApplyReport``), or ``graph`` for a dependency graph
(:mod:`ldsim.depgraph`).
"""

from __future__ import annotations

from collections.abc import Callable

from ldsim.errors import LdsimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Renderer = Callable[..., "str | bytes"]
Display = Callable[["Any"], "str | None"]

_RENDERERS: dict[str, dict[str, Renderer]] = {}
_DISPLAYS: dict[tuple[str, str], Display] = {}
GRAPH_KIND = "graph"
GRAPH_SCHEMA = "ldsim.graph/1"


def kind_of(obj: object) -> str:
    """The kind of a result, as renderers are registered for it."""
    attrs = getattr(obj, "graph", None)
    if isinstance(attrs, dict) and attrs.get("schema") == GRAPH_SCHEMA:
        return GRAPH_KIND
    return type(obj).__name__


def register(kind: str, fmt: str, renderer: Renderer) -> None:
    """Make ``renderer(result, **options)`` the way to write a ``kind`` result as ``fmt``."""
    _RENDERERS.setdefault(kind, {})[fmt] = renderer


def register_display(kind: str, mime: str, display_fn: Display) -> None:
    """How a notebook shows a ``kind`` result as ``mime`` (None: not available)."""
    _DISPLAYS[(kind, mime)] = display_fn


def formats(kind: str) -> tuple[str, ...]:
    """The formats a kind of result can be written in, in registration order."""
    return tuple(_RENDERERS.get(kind, {}))


def renderer(obj: object, fmt: str) -> Renderer:
    """The renderer for ``obj`` in ``fmt``; :class:`LdsimError` names the formats there are."""
    kind = kind_of(obj)
    table = _RENDERERS.get(kind, {})
    fn = table.get(fmt)
    if fn is None:
        known = ", ".join(table) or "none (import ldsim.renderers to register the renderers)"
        raise LdsimError(fmt, f"no such output format for a {kind} (formats: {known})")
    return fn


def display(obj: object, mime: str) -> str | None:
    """What a notebook shows for ``obj`` as ``mime``, or None (then it uses another repr)."""
    fn = _DISPLAYS.get((kind_of(obj), mime))
    return fn(obj) if fn is not None else None


__all__ = ["GRAPH_KIND", "GRAPH_SCHEMA", "Display", "Renderer", "display", "formats", "kind_of",
           "register", "register_display", "renderer"]
