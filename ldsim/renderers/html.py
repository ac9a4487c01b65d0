"""HTML: a report (:class:`ldsim.reporting.Report`) as one self-contained page for a reviewer.

The page holds everything itself: the style sheet inline, no script, no web font, no image but
the dependency graph, which is inline SVG drawn by Graphviz's ``dot``
(:mod:`ldsim.renderers.graphviz`) from the sorted DOT text of :mod:`ldsim.renderers.dot`. It
opens offline, from a mail attachment or a CI artifact, and the same report gives the same
bytes (nothing in it depends on the time or the machine). Without ``dot`` the page says so
where the graph would be.

Sections: the verdict (pass, or what fails, and what could not be read); each app's (or
program's) verdict with its reasons and what it takes from the host; for a snap the classic
view beside the strict view, a row per loaded object or DT_NEEDED name (a host leak marked
``LEAK`` in words and by the ``leak`` class, a name found nowhere ``MISSING``); the lint
findings grouped by rule, each with its fix as patchelf command lines; the graph.

Every string from the input (names and paths from ELF files, file names, ``snap.yaml``
values) goes through :func:`ldsim.safetext.shown` (controls, bidi overrides, undecodable bytes
made visible) and then :func:`html.escape`. The SVG from ``dot`` is parsed and written again
element by element (no comment, processing instruction, script, foreign object, event handler
or outside link survives), so nothing in it can end the SVG or start markup of its own.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING

from ldsim._version import __version__
from ldsim.errors import LdsimError
from ldsim.fs.view import Realm
from ldsim.result import LoadedObject, Severity
from ldsim.safetext import shown

if TYPE_CHECKING:
    from ldsim.analysis.compare import BinaryComparison, Comparison, Row, Side
    from ldsim.linter.model import Fix, LintFinding, LintReport
    from ldsim.reporting import ProgramReport, Report

# realm -> (fill, border): the colours of the graph's clusters (ldsim.renderers.dot)
_REALM_COLOURS: dict[str, tuple[str, str]] = {
    Realm.PAYLOAD: ("#d9f0d3", "#1b7837"),
    Realm.BASE: ("#d6e6f5", "#2171b5"),
    Realm.HOST: ("#fcbba1", "#cb181d"),
    Realm.ROOT: ("#ececec", "#525252"),
    Realm.MISSING: ("#ffffff", "#cb181d"),
}
_VERDICT_WORDS = {"starts": "starts", "does_not_start": "does not start",
                  "fails_at_run_time": "fails at run time"}
_RULE_ABOUT = {
    "classic": "Snapcraft's classic linter: the snap's confinement.",
    "interpreter": "Snapcraft's classic linter: a program's ELF interpreter must be the "
                   "base's loader, or the host's loader and libc run it.",
    "rpath": "Snapcraft's classic linter: the rpath must reach the snap's own libraries and "
             "the base's, or the loader looks on the host.",
    "missing-library": "A dependency the snap does not ship (Snapcraft's library linter), or "
                       "one found nowhere in the classic view (an error: the program does not "
                       "start).",
    "unused-library": "Snapcraft's library linter: a library of the snap that nothing links "
                      "against.",
    "host-leak": "In the classic view the loader takes this file from the host, which differs "
                 "from machine to machine.",
    "load-abort": "The classic-view load aborts: the loader refuses a file it finds.",
    "runpath-not-inherited": "DT_RUNPATH applies only to an object's own DT_NEEDED, not to "
                             "its libraries' (DT_RPATH is inherited).",
    "cache-shadowing": "The host's ld.so.cache finds a library the snap ships, and wins.",
    "nodefaultlib": "DF_1_NODEFLIB would keep the loader out of the host's cache and default "
                    "directories.",
    "libc-mix": "Objects built for different C libraries (glibc, musl) in one process.",
    "version-missing": "A symbol version the loaded library does not define: glibc refuses "
                       "to start.",
    "version-provider-missing": "A version requirement names a library nothing loads.",
    "unversioned-provider": "Versioned references to a library without version definitions.",
}
_RULE_ORDER = tuple(_RULE_ABOUT)

CSS = """
.ldsim-report{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;
 --soft:#f6f8fa;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",
 "DejaVu Sans",Arial,sans-serif;font-size:15px;line-height:1.45;color:#1f2328;
 background:#fff;max-width:1240px;margin:0 auto;padding:24px 28px 40px}
.ldsim-report h1{font-size:26px;margin:0 0 4px}
.ldsim-report h2{font-size:20px;margin:36px 0 10px;padding-bottom:6px;
 border-bottom:1px solid var(--line)}
.ldsim-report h3{font-size:16px;margin:22px 0 8px}
.ldsim-report .sub{color:var(--muted);margin:0 0 16px}
.ldsim-report code,.ldsim-report .mono{font-family:ui-monospace,SFMono-Regular,Menlo,
 Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;font-size:13px}
.ldsim-report nav{margin:0 0 20px;font-size:14px}
.ldsim-report nav a{margin-right:16px;color:#0969da;text-decoration:none}
.ldsim-report .verdict{border-radius:8px;padding:14px 18px;margin:8px 0 18px;
 border:1px solid;border-left-width:8px}
.ldsim-report .verdict.pass{background:#dafbe1;border-color:var(--ok)}
.ldsim-report .verdict.fail{background:#ffebe9;border-color:var(--bad)}
.ldsim-report .verdict.unreadable,.ldsim-report .verdict.bug{background:#fff8c5;
 border-color:var(--warn)}
.ldsim-report .verdict .word{font-size:22px;font-weight:700;letter-spacing:.04em}
.ldsim-report .verdict.pass .word{color:var(--ok)}
.ldsim-report .verdict.fail .word{color:var(--bad)}
.ldsim-report .verdict.unreadable .word,.ldsim-report .verdict.bug .word{color:var(--warn)}
.ldsim-report .verdict ul{margin:6px 0 0;padding-left:22px}
.ldsim-report .cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 8px}
.ldsim-report .card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;
 min-width:130px;background:var(--soft)}
.ldsim-report .card .n{font-size:24px;font-weight:700}
.ldsim-report .card .what{color:var(--muted);font-size:13px}
.ldsim-report .card.bad .n{color:var(--bad)}
.ldsim-report .card.good .n{color:var(--ok)}
.ldsim-report table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:14px}
.ldsim-report table.fixed{table-layout:fixed}
.ldsim-report th,.ldsim-report td{border:1px solid var(--line);padding:5px 8px;
 text-align:left;vertical-align:top}
.ldsim-report th{background:var(--soft);font-weight:600}
.ldsim-report td.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,
 "DejaVu Sans Mono",monospace;font-size:12.5px;overflow-wrap:break-word}
.ldsim-report tr.leak td{background:#ffebe9}
.ldsim-report tr.leak td:first-child{box-shadow:inset 4px 0 0 var(--bad)}
.ldsim-report tr.missing td{background:#fff1e5}
.ldsim-report tr.missing td:first-child{box-shadow:inset 4px 0 0 #bc4c00}
.ldsim-report .flag{display:inline-block;font-weight:700;font-size:12px;padding:1px 6px;
 border-radius:4px;margin:0 4px 2px 0;white-space:nowrap}
.ldsim-report .flag.leak{background:var(--bad);color:#fff}
.ldsim-report .flag.missing{background:#bc4c00;color:#fff}
.ldsim-report .flag.differs{background:#eaeef2;color:#24292f}
.ldsim-report .flag.aborted{background:#82071e;color:#fff}
.ldsim-report .realm{display:inline-block;font-size:12px;padding:0 6px;border-radius:10px;
 border:1px solid;white-space:nowrap}
.ldsim-report .status{font-weight:700;white-space:nowrap}
.ldsim-report .status.starts{color:var(--ok)}
.ldsim-report .status.does_not_start,.ldsim-report .status.fails_at_run_time{
 color:var(--bad)}
.ldsim-report .status.unreadable{color:var(--warn)}
.ldsim-report .sev{display:inline-block;font-size:12px;font-weight:700;padding:1px 7px;
 border-radius:10px;color:#fff;white-space:nowrap}
.ldsim-report .sev.error{background:var(--bad)}
.ldsim-report .sev.warning{background:#bf8700}
.ldsim-report .sev.info{background:#0969da}
.ldsim-report .rule{border:1px solid var(--line);border-radius:8px;padding:2px 14px 8px;
 margin:14px 0}
.ldsim-report .rule h3{margin:12px 0 2px}
.ldsim-report .rule .about{color:var(--muted);margin:0 0 6px;font-size:14px}
.ldsim-report pre.fix{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;
 background:var(--soft);padding:4px 6px;border-radius:4px}
.ldsim-report .note{color:var(--muted);font-style:italic}
.ldsim-report ul.plain{padding-left:20px}
.ldsim-report details{margin:4px 0 10px}
.ldsim-report summary{cursor:pointer;color:#0969da}
.ldsim-report figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px;
 overflow:auto;background:#fff}
.ldsim-report figure svg{max-width:100%;height:auto;display:block;margin:0 auto}
.ldsim-report footer{margin-top:40px;color:var(--muted);font-size:12px;
 border-top:1px solid var(--line);padding-top:8px}
"""


def _t(text: object) -> str:
    """A string from the input, safe as HTML text or attribute value."""
    return escape(shown(str(text)), quote=True)


def _p(text: object) -> str:
    """A path (or name) from the input as HTML text that may break after each ``/``."""
    return _t(text).replace("/", "/<wbr>")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _realm(realm: str) -> str:
    fill, border = _REALM_COLOURS.get(realm, ("#ffffff", "#888888"))
    return (f'<span class="realm realm-{_t(realm)}" style="background:{fill};'
            f'border-color:{border}">{_t(realm)}</span>')


def _table(head: Sequence[str], rows: Iterable[str], cls: str = "",
           widths: Sequence[str] = ()) -> str:
    """A table; with ``widths`` (CSS widths, "" for the rest) its columns are fixed, so that
    the tables of one section line up."""
    ths = "".join(f"<th>{h}</th>" for h in head)
    cols = ""
    if widths:
        cls = f"{cls} fixed".strip()
        cols = "<colgroup>" + "".join(f'<col style="width:{w}">' if w else "<col>"
                                      for w in widths) + "</colgroup>"
    attr = f' class="{cls}"' if cls else ""
    return (f"<table{attr}>{cols}<thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>")


# -- the verdict -----------------------------------------------------------------------------


def _overall(report: Report) -> str:
    status = report.exit_status
    problems, unreadable = report.problems(), report.unreadable()
    if status == 0:
        cls, word = "pass", "PASS"
        if report.is_snap:
            text = ("Every app starts, nothing comes from the host or is missing in the "
                    "classic view, and no lint finding is an error.")
        else:
            text = "Every program starts."
        body = f"<p>{text}</p>"
    else:
        cls, word = {1: ("fail", "FAIL"), 2: ("unreadable", "INCOMPLETE"),
                     3: ("bug", "INCOMPLETE: A BUG IN LDSIM")}.get(status, ("fail", "FAIL"))
        items = [f"<li>{_t(p)}</li>" for p in problems]
        items += [f"<li>could not be read: <span class=\"mono\">{_t(u)}</span></li>"
                  for u in unreadable]
        body = f"<ul>{''.join(items)}</ul>"
    return (f'<div class="verdict {cls}" id="verdict"><div class="word">{word}</div>{body}'
            f"</div>")


def _cards(report: Report) -> str:
    judged = report.programs
    starting = sum(p.starts for p in judged)
    what = "apps start" if report.is_snap and all(p.app for p in judged) else "programs start"
    cards: list[tuple[str, str, bool | None]] = [
        (f"{starting}/{len(judged)}", what, starting == len(judged))]
    if report.comparison is not None:
        rows = report.comparison.deciding_rows
        leaks = sum(r.leak for r in rows)
        missing = sum(r.classic.realm is Realm.MISSING for r in rows)
        cards.append((str(leaks), "host leaks (classic)", leaks == 0))
        cards.append((str(missing), "missing (classic)", missing == 0))
    if report.lint is not None:
        counts = {s: sum(1 for f in report.lint.findings if not f.ok and f.severity is s)
                  for s in Severity}
        cards.append((str(counts[Severity.ERROR]), "lint errors", counts[Severity.ERROR] == 0))
        cards.append((str(counts[Severity.WARNING]), "lint warnings", None))
        cards.append((str(counts[Severity.INFO]), "lint notes", None))
    out = []
    for n, label, good in cards:
        cls = "card" + ("" if good is None else " good" if good else " bad")
        out.append(f'<div class="{cls}"><div class="n">{n}</div>'
                   f'<div class="what">{label}</div></div>')
    return f'<div class="cards">{"".join(out)}</div>'


# -- the programs ----------------------------------------------------------------------------


def _host_objects(p: ProgramReport, comparison: Comparison | None) -> list[str]:
    """What the program's classic-view load takes from the host (a snap's program)."""
    if comparison is None:
        return []
    for b in comparison.binaries:
        if b.path == p.program:
            return [r.name for r in b.rows if r.leak]
    return []


def _programs(report: Report) -> str:
    apps = report.is_snap and any(p.app for p in report.programs)
    head = (["App"] if apps else []) + ["Program", "Verdict", "Reasons"]
    if report.comparison is not None:
        head.append("From the host (classic view)")
    rows = []
    for p in report.programs:
        cells = [f"<td>{_t(p.app) if p.app else '&ndash;'}</td>"] if apps else []
        cells.append(f'<td class="path">{_p(p.program)}</td>')
        if p.explanation is None:
            reason = p.error.reason if p.error is not None else "not judged"
            cells.append('<td><span class="status unreadable">not read</span></td>')
            cells.append(f"<td>{_t(reason)}</td>")
            cls = "unreadable"
        else:
            v = p.explanation.verdict
            cells.append(f'<td><span class="status {v.status.value}">'
                         f"{_VERDICT_WORDS.get(v.status.value, _t(v.status.value))}</span></td>")
            reasons = "<br>".join(_t(r) for r in v.reasons) or "&ndash;"
            cells.append(f"<td>{reasons}</td>")
            cls = v.status.value
        if report.comparison is not None:
            host = _host_objects(p, report.comparison)
            cells.append("<td>" + (
                f'<span class="flag leak">LEAK</span> {_plural(len(host), "object")}: '
                + ", ".join(f"<code>{_t(n)}</code>" for n in host) if host else "nothing")
                + "</td>")
        rows.append(f'<tr class="program {cls}">{"".join(cells)}</tr>')
    view = next((p.view for p in report.programs if p.view), None)
    where = f" in the {_t(view)} view, where {'they run' if apps else 'it is judged'}" \
        if view else ""
    intro = (f'<p class="sub">Each {"app" if apps else "program"} as the loader would start '
             f"it{where}: <b>starts</b>, <b>does not start</b> (a library found nowhere, an "
             "aborted load) or <b>fails at run time</b> (an error-level ABI finding).</p>")
    return intro + _table(head, rows, "programs") + _link_maps(report)


def _link_maps(report: Report) -> str:
    out = []
    for p in report.programs:
        if p.explanation is None:
            continue
        res = p.explanation.resolution
        rows = []
        for entry in res.link_map:
            if isinstance(entry, LoadedObject):
                by = entry.needed_by.path if entry.needed_by is not None else ""
                rows.append(f"<tr><td>{entry.index}</td><td class=\"path\">{_p(entry.name)}</td>"
                            f'<td class="path">{_p(entry.path)}</td><td>{_t(entry.via)}</td>'
                            f"<td>{_realm(entry.realm)}</td>"
                            f'<td class="path">{_p(by)}</td></tr>')
            else:
                by = entry.needed_by.path if entry.needed_by is not None else "a preload"
                rows.append(f'<tr class="missing"><td></td><td class="path">{_p(entry.name)}'
                            '</td><td><span class="flag missing">NOT FOUND</span></td><td>'
                            f"</td><td>{_realm(Realm.MISSING)}</td>"
                            f'<td class="path">{_p(by)}</td></tr>')
        if res.error is not None:
            rows.append('<tr class="missing"><td></td><td colspan="5"><span class="flag '
                        f'aborted">LOAD ABORTED</span> {_t(res.error.loader_message)}</td></tr>')
        table = _table(["#", "Name", "Path", "Found via", "Realm", "Needed by"], rows,
                       "linkmap", ("36px", "20%", "", "110px", "78px", "25%"))
        opened = "" if report.is_snap else " open"
        out.append(f"<details{opened}><summary>{_t(p.program)}: "
                   f"{_plural(len(res.objects), 'object')} in load order"
                   + (f", {len(res.unresolved)} not found" if res.unresolved else "")
                   + f"</summary>{table}</details>")
    return "".join(out)


# -- classic beside strict -------------------------------------------------------------------


def _side(s: Side) -> str:
    path = f"<td class=\"path\">{_p(s.path)}</td>" if s.path is not None else "<td>&ndash;</td>"
    return f"<td>{_realm(s.realm)}</td>{path}"


def _row(r: Row) -> str:
    flags = []
    classes = []
    if r.leak:
        classes.append("leak")
        flags.append('<span class="flag leak">LEAK</span>'
                     + (" shadows the snap's copy" if r.shadowed else ""))
    if r.classic.realm is Realm.MISSING:
        classes.append("missing")
        flags.append('<span class="flag missing">MISSING</span>')
    if not r.same:
        classes.append("differs")
        flags.append('<span class="flag differs">differs</span>')
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return (f'<tr{cls}><td class="path">{_p(r.name)}</td>{_side(r.classic)}{_side(r.strict)}'
            f"<td>{' '.join(flags)}</td></tr>")


def _binary(b: BinaryComparison) -> str:
    out = [f'<h3 class="mono">{_t(b.path)}</h3>']
    if b.loaded_by:
        out.append(f"<p class=\"note\">loaded by {', '.join(_t(x) for x in b.loaded_by)}: "
                   "judged in that load</p>")
        return "".join(out)
    for label, err in (("classic", b.classic_error), ("strict", b.strict_error)):
        if err:
            out.append(f'<p><span class="flag aborted">LOAD ABORTED</span> {label} view: '
                       f"{_t(err)}</p>")
    if not b.rows:
        out.append('<p class="note">no dependencies</p>')
        return "".join(out)
    out.append(_table(["Name", "Classic", "Classic path", "Strict", "Strict path", ""],
                      (_row(r) for r in b.rows), "views",
                      ("20%", "78px", "", "78px", "", "180px")))
    return "".join(out)


def _views(c: Comparison) -> str:
    intro = ('<p class="sub">Each program in the <b>classic</b> view (the host as /, the '
             "payload and the base under /snap) beside the <b>strict</b> view (the base as "
             "/): the file each view resolves, its realm, and where the host leaks in "
             '(<span class="flag leak">LEAK</span>) or a name is found nowhere '
             '(<span class="flag missing">MISSING</span>).</p>')
    return intro + "".join(_binary(b) for b in c.binaries)


# -- lint --------------------------------------------------------------------------------------


def _fix_command(fix: Fix, file: str | None) -> str | None:
    """The patchelf call that resolves a finding, one per file as Snapcraft makes it."""
    args = []
    if fix.interpreter is not None:
        args.append(f"--set-interpreter {shlex.quote(shown(fix.interpreter))}")
    if fix.rpath is not None:
        args.append(f"--force-rpath --set-rpath {shlex.quote(shown(fix.rpath))}")
    if fix.no_default_lib:
        args.append("--no-default-lib")
    if not args:
        return None
    return f"patchelf {' '.join(args)} {shlex.quote(shown(file)) if file else 'FILE'}"


def _finding(f: LintFinding) -> str:
    fix = _fix_command(f.fix, f.file) if f.fix is not None else None
    fix_cell = (f'<pre class="fix mono">{escape(fix)}</pre>' if fix
                else '<span class="note">&ndash;</span>')
    file = f'<td class="path">{_p(f.file)}</td>' if f.file else "<td>the snap</td>"
    return (f'<tr class="finding {f.severity.value}"><td><span class="sev '
            f'{f.severity.value}">{f.severity.value}</span></td>{file}<td>{_t(f.message)}'
            f"</td><td>{fix_cell}</td></tr>")


def _lint(lint: LintReport) -> str:
    out = []
    oks = [f for f in lint.findings if f.ok]
    if oks:
        out.append('<p class="sub">Lint OK: ' + "; ".join(_t(f.message) for f in oks) + "</p>")
    groups: dict[str, list[LintFinding]] = {}
    for f in lint.findings:
        if not f.ok:
            groups.setdefault(f.id, []).append(f)

    def order(rule: str) -> tuple[int, int, str]:
        worst = min(f.severity.rank for f in groups[rule])
        return (worst, _RULE_ORDER.index(rule) if rule in _RULE_ORDER else len(_RULE_ORDER),
                rule)

    for rule in sorted(groups, key=order):
        items = sorted(groups[rule], key=lambda f: (f.severity.rank, f.file or "", f.message))
        sevs = sorted({f.severity for f in items}, key=lambda s: s.rank)
        badges = " ".join(f'<span class="sev {s.value}">{s.value}</span>' for s in sevs)
        about = _RULE_ABOUT.get(rule)
        out.append(
            f'<section class="rule" id="rule-{_t(rule)}"><h3><code>{_t(rule)}</code> '
            f"&middot; {_plural(len(items), 'finding')} {badges}</h3>"
            + (f'<p class="about">{escape(about)}</p>' if about else "")
            + _table(["Severity", "File", "Message", "Fix"], (_finding(f) for f in items),
                     "findings", ("86px", "17%", "", "32%"))
            + "</section>")
    if not groups:
        out.append('<p class="note">No finding.</p>')
    if lint.diagnostics:
        out.append("<h3>Not linted</h3><ul class=\"plain\">"
                   + "".join(f"<li class=\"mono\">{_t(d.message)}</li>"
                             for d in lint.diagnostics) + "</ul>")
    counts = {s: sum(1 for f in lint.findings if not f.ok and f.severity is s) for s in Severity}
    out.append(f'<p class="sub">{_plural(len(lint.files), "ELF file")} checked: '
               f"{_plural(counts[Severity.ERROR], 'error')}, "
               f"{_plural(counts[Severity.WARNING], 'warning')}, "
               f"{_plural(counts[Severity.INFO], 'note')}.</p>")
    return "".join(out)


# -- the graph ---------------------------------------------------------------------------------

_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
_DROP = {"script", "foreignObject", "style", "iframe", "image", "use"}


def _attr_name(name: str) -> str | None:
    if name.startswith(f"{{{_XLINK}}}"):
        return "xlink:" + name[len(_XLINK) + 2:]
    if name.startswith("{"):
        return None  # another namespace: not Graphviz's
    return name


def _write_svg(el: ET.Element, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if not tag.startswith(f"{{{_SVG}}}"):
        return  # a comment, a processing instruction, a foreign element
    name = tag[len(_SVG) + 2:]
    if name in _DROP:
        return
    attrs = []
    for key in sorted(el.attrib):
        attr = _attr_name(key)
        value = el.attrib[key]
        if attr is None or attr.lower().startswith("on"):
            continue
        if attr in ("href", "xlink:href") and not value.startswith("#"):
            continue  # no link out of the page
        attrs.append(f' {attr}="{escape(value, quote=True)}"')
    if name == "svg":
        attrs.append(f' xmlns="{_SVG}" xmlns:xlink="{_XLINK}" role="img"')
    out.append(f"<{name}{''.join(attrs)}>")
    if el.text:
        out.append(escape(el.text, quote=False))
    for child in el:
        _write_svg(child, out)
        if child.tail and child.tail.strip():
            out.append(escape(child.tail, quote=False))
    out.append(f"</{name}>")


def inline_svg(svg: bytes | str) -> str:
    """SVG from Graphviz as an element to put in an HTML page: the XML prolog, DOCTYPE and
    comments gone, every element and attribute written again (escaped), anything that could
    run, load or link elsewhere dropped."""
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    root = ET.fromstring(data)
    out: list[str] = []
    _write_svg(root, out)
    return "".join(out)


def _graph(report: Report) -> str:
    from ldsim.renderers.dot import render_dot
    from ldsim.renderers.graphviz import INSTALL_HINT, GraphvizMissing, render_image

    if report.graph is None:
        why = report.graph_error.reason if report.graph_error is not None else "no program"
        return f'<p class="note">No graph: {_t(why)}</p>'
    g = report.graph.graph
    try:
        svg = inline_svg(render_image(render_dot(g), "svg"))
    except GraphvizMissing:
        return (f"<p class=\"note\">Graphviz's <code>dot</code> is not installed, so the "
                f"graph is left out: {escape(INSTALL_HINT)}.</p>")
    except (LdsimError, ET.ParseError) as exc:
        return f'<p class="note">The graph could not be drawn: {_t(str(exc))}</p>'
    return f'<figure id="graph-figure">{svg}</figure>'


# -- the page ----------------------------------------------------------------------------------


def _title(report: Report) -> tuple[str, str]:
    t = report.target
    if report.is_snap:
        return (f"snap {t.get('name', '?')}",
                f"base {t.get('base', '?')}, {t.get('confinement', '?')} confinement")
    names = [p.program for p in report.programs]
    name = ", ".join(names) if len(names) <= 3 else _plural(len(names), "program")
    return (name, f"programs of the root {t['root']}")


def report_body(report: Report) -> str:
    """The report as a ``<div class="ldsim-report">`` with its style sheet inside (what a
    notebook shows, and the page's body)."""
    name, sub = _title(report)
    sections: list[tuple[str, str, str]] = [
        ("apps" if report.is_snap else "programs",
         "Apps" if report.is_snap else "Programs", _programs(report))]
    if report.comparison is not None:
        sections.append(("views", "Classic view beside strict view",
                         _views(report.comparison)))
    if report.lint is not None:
        sections.append(("lint", "Lint findings and their fixes", _lint(report.lint)))
    sections.append(("graph", "Dependency graph", _graph(report)))
    nav = "".join(f'<a href="#{sid}">{title}</a>' for sid, title, _ in sections)
    parts = [
        f'<div class="ldsim-report"><style>{CSS}</style>',
        f"<header><h1>ldsim report: {_t(name)}</h1><p class=\"sub\">{_t(sub)}</p></header>",
        f"<nav>{nav}</nav>",
        '<section id="summary"><h2>Verdict</h2>',
        _overall(report), _cards(report), "</section>",
    ]
    for sid, title, body in sections:
        parts.append(f'<section id="{sid}"><h2>{title}</h2>{body}</section>')
    parts.append(f"<footer>Made by ldsim {escape(__version__)} without running anything: "
                 "a static model of the dynamic loader. This page is self-contained (no "
                 "script, font or image is loaded).</footer></div>")
    return "\n".join(parts)


def render_report_html(report: Report) -> str:
    """The report as one self-contained HTML5 page."""
    name, _sub = _title(report)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">\n"
            f"<title>ldsim report: {_t(name)}</title>\n</head>\n<body style=\"margin:0\">\n"
            f"{report_body(report)}\n</body>\n</html>\n")


def report_display(report: Report) -> str | None:
    """What a notebook shows for a report (``_repr_html_``)."""
    return report_body(report)


__all__ = ["CSS", "inline_svg", "render_report_html", "report_body", "report_display"]
