"""One program explained: its resolution, the ABI findings on it, and the snap it runs in.

This is what ``ldsim explain`` and ``ldsim check`` print and what :func:`ldsim.explain`
returns: the :class:`~ldsim.result.Resolution` of the program in a target (through
:meth:`~ldsim.target.Target.resolve`, the one place that resolves), then the findings of
:mod:`ldsim.analysis.abi` on the loaded objects (with ``symbols``, every undefined symbol is
bound through the global scope as well).
"""

from __future__ import annotations

from collections.abc import Sequence

from ldsim.analysis.abi import Finding, analyse
from ldsim.analysis.verdict import Verdict, judge
from ldsim.config.env import LoaderEnv
from ldsim.elf.flavour import Libc
from ldsim.records import record, replace
from ldsim.result import DlopenRequest, Resolution, Severity
from ldsim.target import Program, SnapTarget, Target

TYPE_CHECKING = False

if TYPE_CHECKING:
    from ldsim.snap.meta import Confinement


@record(frozen=True, slots=True)
class Explanation:
    """A program's resolution, the ABI findings on it, and the verdict they give; ``snap``
    says which snap and view it ran in (``None`` for a plain root)."""

    resolution: Resolution
    findings: tuple[Finding, ...]
    verdict: Verdict
    snap: dict[str, str] | None = None

    @property
    def has_error(self) -> bool:
        """Some finding is an error."""
        return any(f.severity is Severity.ERROR for f in self.findings)

    def _repr_svg_(self) -> str | None:
        return self.resolution._repr_svg_()

    def _repr_html_(self) -> str | None:
        return self.resolution._repr_html_()


def explain(target: Target, program: str | Program, env: LoaderEnv | None = None, *,
            confinement: Confinement | None = None, loader: Libc | None = None,
            symbols: bool = False, dlopen: bool = False,
            dlopen_add: Sequence[DlopenRequest] = ()) -> Explanation:
    """Resolve ``program`` in ``target`` and check the result for ABI hazards. With
    ``dlopen`` (or ``dlopen_add``), also make the dlopen calls the loaded objects declare
    (ELF dlopen notes), hint at, and those added, after the initial load
    (:mod:`ldsim.analysis.dlopen`)."""
    view = target.view(confinement)
    extra: list[Finding] = []
    if dlopen or dlopen_add:
        from ldsim.analysis.dlopen import dlopen_findings, leak_findings, resolve_with_dlopen

        res, problems = resolve_with_dlopen(target, program, env, confinement=confinement,
                                            loader=loader, added=dlopen_add)
        if problems:
            res = replace(res, diagnostics=(*res.diagnostics, *problems))
        extra = dlopen_findings(res) + leak_findings(res)
    else:
        res = target.resolve(program, env, confinement=confinement, loader=loader)
    findings = sorted([*analyse(res, view if symbols else None), *extra], key=Finding.sort_key)
    snap = target.info(confinement or target.confinement) if isinstance(target, SnapTarget) \
        else None
    return explanation_of(res, findings, snap)


def explanation_of(res: Resolution, findings: Sequence[Finding] = (),
                   snap: dict[str, str] | None = None) -> Explanation:
    """An explanation of a resolution made elsewhere (its verdict judged here)."""
    return Explanation(res, tuple(findings), judge(res, findings), snap)


__all__ = ["Explanation", "explain", "explanation_of"]
