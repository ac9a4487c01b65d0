"""Pictures (SVG, PNG, JPEG, PDF) from DOT text, drawn by Graphviz through the ``graphviz`` package.

The DOT text is :mod:`ldsim.renderers.dot`'s, deterministic and sorted; the ``graphviz`` package
(imported only when a picture is drawn) runs Graphviz's ``dot`` on it and knows the output
formats. When ``dot`` is not installed, :class:`GraphvizMissing` says how to get it.
:class:`Picture` shows itself in a notebook (``_repr_svg_``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ldsim.errors import LdsimError

if TYPE_CHECKING:
    from ldsim.depgraph import Graph
    from ldsim.result import Resolution

IMAGE_FORMATS = ("svg", "png", "jpg", "pdf")
EXTENSIONS = {"dot": "dot", "gv": "dot", "svg": "svg", "png": "png", "jpg": "jpg",
              "jpeg": "jpg", "pdf": "pdf"}
"""A picture file's extension (lower case, without the dot) → the format ``dot -T`` writes."""
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; Fedora: dnf "
                "install graphviz; macOS: brew install graphviz), or use --format dot")


class GraphvizMissing(LdsimError):
    """Graphviz's ``dot`` program is not installed (or cannot be run)."""


class GraphvizFailed(LdsimError):
    """``dot`` rejected the input or crashed."""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` can be run (asks it for its version)."""
    import graphviz

    try:
        graphviz.version()
    except (graphviz.ExecutableNotFound, OSError, RuntimeError):
        return False
    return True


def check_dot(fmt: str) -> None:
    """Raise :class:`GraphvizMissing` (before any work) when ``fmt`` needs ``dot`` and it is
    not installed."""
    if fmt in IMAGE_FORMATS and not dot_available():
        raise GraphvizMissing(f"--format {fmt}", "needs Graphviz's 'dot' program, which is "
                              f"not installed: {INSTALL_HINT}")


def render_image(dot_text: str, fmt: str = "svg") -> bytes:
    """``dot -T FMT`` of ``dot_text``. Raises GraphvizMissing without Graphviz."""
    import graphviz

    if fmt not in IMAGE_FORMATS or fmt not in graphviz.FORMATS:
        raise ValueError(f"not an image format: {fmt!r}")
    try:
        return bytes(graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True))
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(f"--format {fmt}",
                              f"needs Graphviz's 'dot' program, which is not installed: "
                              f"{INSTALL_HINT}") from None
    except graphviz.CalledProcessError as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise GraphvizFailed("dot", f"dot -T{fmt} failed (exit {exc.returncode}): "
                             f"{err[0] if err else 'no output'}") from None
    except OSError as exc:
        raise GraphvizMissing("dot", f"cannot run Graphviz's dot ({exc.strerror}): "
                              f"{INSTALL_HINT}") from None


def render_svg(g: Graph, *, legend: bool = True, reuse: str = "auto") -> str:
    from ldsim.renderers.dot import render_dot

    return render_image(render_dot(g, legend=legend, reuse=reuse), "svg").decode("utf-8")


class Picture:
    """DOT text that shows itself as SVG in a notebook, and can be saved in any format."""

    def __init__(self, dot_text: str) -> None:
        self.dot = dot_text
        self._svg: str | None = None

    def svg(self) -> str:
        if self._svg is None:
            self._svg = render_image(self.dot, "svg").decode("utf-8")
        return self._svg

    def image(self, fmt: str) -> bytes:
        return self.svg().encode("utf-8") if fmt == "svg" else render_image(self.dot, fmt)

    def save(self, path: str) -> None:
        """Write the picture; the format is the file name's extension (``.dot``/``.gv``,
        ``.svg``, ``.png``, ``.jpg``/``.jpeg``, ``.pdf``; none: SVG). Raises ValueError for
        another extension, before anything is drawn or written."""
        stem, dot, ext = os.path.basename(path).rpartition(".")
        fmt = EXTENSIONS.get(ext.lower()) if dot and stem else "svg"
        if fmt is None:
            raise ValueError(f"{path}: unknown picture extension '.{ext}' (known: "
                             f"{', '.join('.' + e for e in EXTENSIONS)})")
        data = self.dot.encode("utf-8") if fmt == "dot" else self.image(fmt)
        with open(path, "wb") as fh:
            fh.write(data)

    def _repr_svg_(self) -> str | None:
        if not dot_available():
            return None
        return self.svg()

    def _repr_markdown_(self) -> str | None:
        if dot_available():
            return None
        return f"Graphviz's `dot` is not installed: {INSTALL_HINT}.\n\n```dot\n{self.dot}```\n"


def picture(g: Graph, *, legend: bool = True, reuse: str = "auto") -> Picture:
    """The picture of a dependency graph, for a notebook: ``picture(g)`` shows it."""
    from ldsim.renderers.dot import render_dot

    return Picture(render_dot(g, legend=legend, reuse=reuse))


def resolution_svg(res: Resolution) -> str | None:
    """A resolution's dependency graph as SVG, or None without Graphviz (notebook repr)."""
    if not dot_available():
        return None
    from ldsim.depgraph import dependency_graph

    return render_svg(dependency_graph(res))


def resolution_html(res: Resolution) -> str | None:
    """Without Graphviz, the text explanation instead of the picture (notebook repr)."""
    if dot_available():
        return None
    from html import escape

    from ldsim.fs.view import Realm
    from ldsim.renderers.text import render_explain_text

    text = render_explain_text(res, realms=any(o.realm is not Realm.ROOT for o in res.objects))
    return (f"<p><i>Graphviz's <code>dot</code> is not installed, so no picture: "
            f"{escape(INSTALL_HINT)}.</i></p><pre>{escape(text)}</pre>")
