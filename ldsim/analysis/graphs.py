"""Several programs (and a snap's views) in one dependency graph, each with its verdict.

The graph is :mod:`ldsim.depgraph`'s; each program is resolved through
:meth:`~ldsim.target.Target.resolve` and judged as ``ldsim explain`` judges it (its ABI
findings and :mod:`ldsim.analysis.verdict`), so ``ldsim graph`` exits as ``explain`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ldsim.analysis.abi import analyse
from ldsim.analysis.explain import Explanation, explanation_of
from ldsim.config.env import LoaderEnv
from ldsim.depgraph import add_resolution, new_graph, realm_locator
from ldsim.elf.flavour import Libc
from ldsim.errors import InternalError, LdsimError, contained
from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import Realm
from ldsim.records import record
from ldsim.result import Resolution
from ldsim.snap.meta import Confinement
from ldsim.target import Program, Progress, SnapTarget, Target

if TYPE_CHECKING:
    from ldsim.depgraph import Graph


@record(frozen=True, slots=True)
class GraphRun:
    """The graph of a run over several programs (and views), the explanation of each program
    in each view (its findings and verdict), and the programs that could not be read at all
    (``label``, error)."""

    graph: Graph
    explanations: tuple[tuple[str, Explanation], ...]  # (view, ...); view "" unless compared
    failures: tuple[tuple[str, LdsimError], ...] = ()
    compared: bool = False

    @property
    def resolutions(self) -> tuple[tuple[str, Resolution], ...]:
        return tuple((v, e.resolution) for v, e in self.explanations)

    @property
    def internal_errors(self) -> bool:
        """Some program failed on a bug in ldsim (the command exits 3 after the batch)."""
        return any(isinstance(e, InternalError) for _label, e in self.failures)

    @property
    def problem(self) -> bool:
        """Some program does not start (with two views: in the classic view, where also
        anything from the host counts)."""
        if self.compared:
            return any(v == Confinement.CLASSIC and (not e.verdict.starts or any(
                o.realm is Realm.HOST for o in e.resolution.objects))
                for v, e in self.explanations)
        return any(not e.verdict.starts for _v, e in self.explanations)


def graph_of(target: Target, programs: Sequence[Program], env: LoaderEnv | None = None, *,
             views: Sequence[Confinement] = (), loader: Libc | None = None,
             progress: Progress | None = None, dlopen: bool = False) -> GraphRun:
    """Resolve every program (in every one of ``views`` of a snap; none: its own view) and put
    them in one graph. With several programs a broken one is a failure and the rest go on;
    a single broken program, or all of them, raise its :class:`~ldsim.errors.LdsimError`.
    With ``dlopen``, each program's declared and hinted dlopen calls are drawn too (edges of
    kind ``dlopen``)."""
    snap = target if isinstance(target, SnapTarget) else None
    if snap is not None:
        unique = dict((p.path, p) for p in programs)
        progs = [unique[path] for path in sorted(unique)]
    else:
        progs = [Program(path) for path in sorted(dict.fromkeys(p.path for p in programs))]
    compared = len(views) > 1
    if snap is None:
        title = ""
    elif compared:
        title = (f"snap {snap.name}: classic and strict views (base {snap.snap.meta.base})")
    else:
        title = (f"snap {snap.name}, {(views[0] if views else snap.confinement).view} view "
                 f"(base {snap.snap.meta.base})")
    g = new_graph(title)
    done: list[tuple[str, Explanation]] = []
    failures: list[tuple[str, LdsimError]] = []
    each: list[Confinement | None] = list(views) or [None]
    n = 0
    for view in each:
        locate = None
        if snap is not None:
            overlay = snap.view(view)
            assert isinstance(overlay, OverlayView)
            locate = realm_locator(overlay)  # one node per file, named inside its realm
        for prog in progs:
            label = prog.path if snap is None else \
                f"{prog.path} ({(view or snap.confinement).view})"
            n += 1
            if progress is not None:
                progress(n, len(each) * len(progs), label)
            try:
                if dlopen:
                    from ldsim.analysis.dlopen import resolve_with_dlopen

                    res, _problems = resolve_with_dlopen(
                        target, prog, env, confinement=view, loader=loader)
                else:
                    res = target.resolve(prog, env, confinement=view, loader=loader)
                label_view = str(view.view) if compared and view else ""
                expl = explanation_of(res, analyse(res))
            except Exception as exc:  # one program's failure, even a bug, ends only its part
                if len(progs) == 1:
                    raise
                failures.append((label, contained(label, exc)))
                continue
            done.append((label_view, expl))
            add_resolution(g, res, view=label_view, locate=locate)
    if not done and failures:
        raise failures[0][1]
    if snap is None:
        first = next(e.resolution for _v, e in done)
        g.graph["title"] = (f"{progs[0].path} ({first.loader})" if len(progs) == 1
                            else f"{len(progs)} programs")
    return GraphRun(g, tuple(done), tuple(failures), compared)


__all__ = ["GraphRun", "graph_of"]
