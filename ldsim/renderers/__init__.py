"""Renderers: leaf functions from finished results to text or bytes, one per format.

Importing this package registers every renderer in :mod:`ldsim.registry`, which is how the
API (:func:`ldsim.render`), the command line and the notebook representations find them:

=============== ==============================================================
kind            formats
=============== ==============================================================
Explanation     ``text`` (``verbose=``), ``tree``, ``findings``, ``json``
Resolution      ``text`` (``verbose=``), ``tree``, ``json``
Comparison      ``text``, ``json``
LintReport      ``text``, ``json``, ``sarif``
FixPlan         ``script`` (``snap_dir=``)
FixRun          ``text``
graph           ``dot``, ``svg``, ``png``, ``pdf`` (``legend=``, ``reuse=``),
                ``graphml``, ``json``, ``mermaid``
=============== ==============================================================

Text formats return ``str``; ``png``, ``pdf`` and ``graphml`` return ``bytes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ldsim.registry import GRAPH_KIND, register, register_display
from ldsim.renderers import compare, fix, json, lint, sarif, text
from ldsim.renderers.dot import render_dot
from ldsim.renderers.mermaid import render_mermaid

if TYPE_CHECKING:
    from ldsim.depgraph import Graph


def _image(fmt: str) -> Any:
    def draw(g: Graph, *, legend: bool = True, reuse: str = "auto") -> str | bytes:
        from ldsim.renderers.graphviz import render_image

        data = render_image(render_dot(g, legend=legend, reuse=reuse), fmt)
        return data.decode("utf-8") if fmt == "svg" else data

    return draw


def _graph_json(g: Graph) -> str:
    from ldsim.depgraph import render_graph_json

    return render_graph_json(g)


def _graphml(g: Graph) -> bytes:
    from ldsim.depgraph import render_graphml

    return render_graphml(g)


def _svg_display(res: Any) -> str | None:
    from ldsim.renderers.graphviz import resolution_svg

    return resolution_svg(res)


def _html_display(res: Any) -> str | None:
    from ldsim.renderers.graphviz import resolution_html

    return resolution_html(res)


register("Explanation", "text", text.explanation_text)
register("Explanation", "tree", text.explanation_tree)
register("Explanation", "findings", text.explanation_findings)
register("Explanation", "json", json.explanation_json)
register("Resolution", "text", text.resolution_text)
register("Resolution", "tree", text.render_explain_tree)
register("Resolution", "json", json.resolution_json)
register("Comparison", "text", compare.render_compare_text)
register("Comparison", "json", compare.render_compare_json)
register("LintReport", "text", lint.render_lint_text)
register("LintReport", "json", lint.render_lint_json)
register("LintReport", "sarif", sarif.render_sarif)
register("FixPlan", "script", fix.render_plan)
register("FixRun", "text", fix.render_fix_run)
register(GRAPH_KIND, "dot", render_dot)
for _fmt in ("svg", "png", "pdf"):
    register(GRAPH_KIND, _fmt, _image(_fmt))
register(GRAPH_KIND, "graphml", _graphml)
register(GRAPH_KIND, "json", _graph_json)
register(GRAPH_KIND, "mermaid", render_mermaid)
register_display("Resolution", "image/svg+xml", _svg_display)
register_display("Resolution", "text/html", _html_display)

__all__: list[str] = []
