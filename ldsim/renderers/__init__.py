"""Renderers: leaf functions from finished results to text or bytes, one per format.

Importing this package registers every renderer in :mod:`ldsim.registry`, which is how the
API (:func:`ldsim.render`), the command line and the notebook representations find them:

=============== ==============================================================
kind            formats
=============== ==============================================================
Explanation     ``text`` (``verbose=``), ``tree``, ``findings``, ``json``,
                ``check-text`` (``min_severity=``, ``color=``, ``width=``),
                ``check-json`` (``min_severity=``; ``ldsim.check/1``)
Resolution      ``text`` (``verbose=``), ``tree``, ``json``
Comparison      ``text``, ``json``
LintReport      ``text``, ``json``, ``sarif``
FixPlan         ``script`` (``snap_dir=``)
FixRun          ``text``
graph           ``dot``, ``svg``, ``png``, ``jpg``, ``pdf`` (``legend=``, ``reuse=``),
                ``graphml``, ``json``, ``mermaid``
Report          ``html``: one self-contained page (:func:`ldsim.report`; a notebook shows it)
ScanSummary     ``text`` (``what=``, ``how=``, ``color=``, ``width=``), ``json`` (the
                ``ldsim.scan-summary/1`` line), ``sarif``
str             ``text``: a string from the input, safe to print on a terminal
                (:func:`ldsim.safetext.shown`; what the command line's messages use)
=============== ==============================================================

Text formats return ``str``; ``png``, ``jpg``, ``pdf`` and ``graphml`` return ``bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from ldsim.registry import GRAPH_KIND, Renderer, register, register_display

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# Each renderer module is imported when its first document is written, so that importing the
# registry costs nothing (each loader is a real import, visible to import-linter).
def _text() -> ModuleType:
    from ldsim.renderers import text

    return text


def _json() -> ModuleType:
    from ldsim.renderers import json

    return json


def _check() -> ModuleType:
    from ldsim.renderers import check

    return check


def _compare() -> ModuleType:
    from ldsim.renderers import compare

    return compare


def _lint() -> ModuleType:
    from ldsim.renderers import lint

    return lint


def _sarif() -> ModuleType:
    from ldsim.renderers import sarif

    return sarif


def _fix() -> ModuleType:
    from ldsim.renderers import fix

    return fix


def _dot() -> ModuleType:
    from ldsim.renderers import dot

    return dot


def _mermaid() -> ModuleType:
    from ldsim.renderers import mermaid

    return mermaid


def _graphviz() -> ModuleType:
    from ldsim.renderers import graphviz

    return graphviz


def _html() -> ModuleType:
    from ldsim.renderers import html

    return html


def _scan() -> ModuleType:
    from ldsim.renderers import scan

    return scan


def _safetext() -> ModuleType:
    from ldsim import safetext

    return safetext


def _depgraph() -> ModuleType:
    from ldsim import depgraph

    return depgraph


def _call(module: Callable[[], ModuleType], name: str) -> Renderer:
    def render(obj: Any, **options: Any) -> str | bytes:
        out: str | bytes = getattr(module(), name)(obj, **options)
        return out

    return render


def _image(fmt: str) -> Renderer:
    def draw(g: Any, *, legend: bool = True, reuse: str = "auto") -> str | bytes:
        data: bytes = _graphviz().render_image(
            _dot().render_dot(g, legend=legend, reuse=reuse), fmt)
        return data.decode("utf-8") if fmt == "svg" else data

    return draw


def _display(name: str) -> Callable[[Any], str | None]:
    def show(obj: Any) -> str | None:
        out: str | None = getattr(_graphviz(), name)(obj)
        return out

    return show


for _kind, _fmt, _module, _name in (
        ("Explanation", "text", _text, "explanation_text"),
        ("Explanation", "tree", _text, "explanation_tree"),
        ("Explanation", "findings", _text, "explanation_findings"),
        ("Explanation", "json", _json, "explanation_json"),
        ("Explanation", "check-text", _check, "check_text"),
        ("Explanation", "check-json", _check, "check_json"),
        ("Resolution", "text", _text, "resolution_text"),
        ("Resolution", "tree", _text, "render_explain_tree"),
        ("Resolution", "json", _json, "resolution_json"),
        ("Comparison", "text", _compare, "render_compare_text"),
        ("Comparison", "json", _compare, "render_compare_json"),
        ("LintReport", "text", _lint, "render_lint_text"),
        ("LintReport", "json", _lint, "render_lint_json"),
        ("LintReport", "sarif", _sarif, "render_sarif"),
        ("FixPlan", "script", _fix, "render_plan"),
        ("FixRun", "text", _fix, "render_fix_run"),
        ("Report", "html", _html, "render_report_html"),
        ("ScanSummary", "text", _scan, "render_scan_text"),
        ("ScanSummary", "json", _scan, "summary_line"),
        ("ScanSummary", "sarif", _scan, "render_scan_sarif"),
        (GRAPH_KIND, "dot", _dot, "render_dot"),
        ("str", "text", _safetext, "shown")):
    register(_kind, _fmt, _call(_module, _name))
for _fmt in ("svg", "png", "jpg", "pdf"):
    register(GRAPH_KIND, _fmt, _image(_fmt))
register(GRAPH_KIND, "graphml", _call(_depgraph, "render_graphml"))
register(GRAPH_KIND, "json", _call(_depgraph, "render_graph_json"))
register(GRAPH_KIND, "mermaid", _call(_mermaid, "render_mermaid"))
register_display("Resolution", "image/svg+xml", _display("resolution_svg"))
register_display("Resolution", "text/html", _display("resolution_html"))
register_display("Report", "text/html", lambda r: str(_html().report_display(r)))

__all__: list[str] = []
