"""Realms, host leakage and the classic-versus-strict comparison of a snap's programs.

A loaded object's realm is the mount its real path lies in (payload, base, host); an
unresolved name is ``missing``. *Leakage*: in the classic view, anything from the host
(the interpreter included). *Shadowing*: a host file wins although the payload or the base
ships a library of that name.
"""

from __future__ import annotations

from ldsim.config.env import LoaderEnv
from ldsim.elf.flavour import Libc
from ldsim.errors import InternalError, LdsimError, contained
from ldsim.fs.view import Realm, View
from ldsim.records import record
from ldsim.result import DlopenSource, DlopenStatus, Resolution, Via
from ldsim.snap.meta import Confinement
from ldsim.target import Program, Progress, SnapTarget

MISSING = Realm.MISSING
VIEWS = (Confinement.CLASSIC, Confinement.STRICT)


def file_names(view: View) -> set[str]:
    """Basenames of every non-directory entry of a tree (for shadowing)."""
    return {p.rsplit("/", 1)[-1] for p, st in view.walk() if not st.is_dir}


@record(frozen=True, slots=True)
class Side:
    """What one view resolved a name to."""

    path: str | None
    realm: Realm
    via: Via | None
    file_id: tuple[int, int] | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "realm": self.realm, "via": self.via}


@record(frozen=True, slots=True)
class Row:
    """One loaded object or DT_NEEDED name: each view's side, and whether they are the same
    file, whether the classic view leaks it from the host and shadows the snap's copy."""

    name: str
    classic: Side
    strict: Side
    same: bool
    leak: bool
    shadowed: bool = False
    # loaded by a dlopen call (compare --dlopen): its priority (required, recommended,
    # suggested), "hint", or "dependency" (needed by an object a dlopen loaded); None: the
    # initial load's
    dlopen: str | None = None

    @property
    def decides(self) -> bool:
        """Whether a leak or a miss in this row makes the snap unclean: the initial load's
        rows, and a ``required`` dlopen's."""
        return self.dlopen is None or self.dlopen == "required"


def _sides(res: Resolution | None) -> dict[str, Side]:
    out: dict[str, Side] = {}
    if res is None:
        return out
    for obj in res.objects[1:]:
        out.setdefault(obj.name, Side(obj.path, obj.realm, obj.via, obj.file_id))
    for u in res.unresolved:
        out.setdefault(u.name, Side(None, MISSING, None))
    for d in res.dlopens:  # a dlopen that loads nothing: its first name, not found
        if d.target is None and d.request.names and d.status is not DlopenStatus.NOT_CALLED:
            out.setdefault(d.request.names[0], Side(None, MISSING, None))
    return out


def _dlopen_marks(res: Resolution | None) -> dict[str, str]:
    """Row name -> how a dlopen brought it (see :attr:`Row.dlopen`)."""
    marks: dict[str, str] = {}
    if res is None:
        return marks
    for d in res.dlopens:
        mark = "hint" if d.request.source is DlopenSource.HINT else d.request.priority
        name = d.name if d.name is not None else (d.request.names[0] if d.request.names
                                                  else None)
        if name is not None and d.status is not DlopenStatus.ALREADY_LOADED:
            marks.setdefault(name, mark)
    for obj in res.objects:
        if obj.dlopened:
            marks.setdefault(obj.name, "dependency")
    return marks


@record(frozen=True, slots=True)
class BinaryComparison:
    """One program in the classic view beside the strict view.

    In program context (:func:`compare_snap` with ``in_context``) a library that programs of
    the batch load has no rows of its own (``loaded_by`` names those programs: their rows
    show where its dependencies resolve, with the RPATH chain the loader inherits); a
    library no program loads is compared on its own, as ``ldd LIB`` would (``alone``), and
    does not decide :attr:`Comparison.clean`."""

    path: str
    rows: tuple[Row, ...] = ()
    classic_error: str | None = None  # the load aborts, or the program cannot be read
    strict_error: str | None = None
    loaded_by: tuple[str, ...] = ()
    alone: bool = False

    @property
    def decides(self) -> bool:
        """Whether this entry counts for the exit status and the summary."""
        return not self.alone and not self.loaded_by


@record(frozen=True, slots=True)
class ProgramFailure:
    """A program one view could not read at all (missing, not ELF)."""

    path: str
    view: Confinement
    error: LdsimError


@record(frozen=True, slots=True)
class Comparison:
    """A snap's programs, classic view beside strict view."""

    snap: dict[str, str]
    binaries: tuple[BinaryComparison, ...]
    failures: tuple[ProgramFailure, ...] = ()

    @property
    def rows(self) -> list[Row]:
        return [r for b in self.binaries for r in b.rows]

    @property
    def deciding_rows(self) -> list[Row]:
        """The rows of the entries that decide (programs; every entry out of context), but a
        dlopen's that is not ``required``."""
        return [r for b in self.binaries if b.decides for r in b.rows if r.decides]

    @property
    def clean(self) -> bool:
        """Nothing leaks from the host, nothing is missing and no load aborts in the classic
        view of the entries that decide: ``ldsim compare`` exits 0 exactly then."""
        return not any(r.leak or r.classic.realm is MISSING for r in self.deciding_rows) \
            and not any(b.classic_error for b in self.binaries if b.decides)

    @property
    def internal_errors(self) -> bool:
        """Some program failed on a bug in ldsim (the command exits 3 after the batch)."""
        return any(isinstance(f.error, InternalError) for f in self.failures)

    @property
    def all_failed(self) -> bool:
        """No program could be read in either view."""
        failed = {(f.path, f.view) for f in self.failures}
        return bool(self.failures) and all(
            (b.path, v) in failed for b in self.binaries for v in VIEWS)


def compare_resolutions(path: str, classic: Resolution | None, strict: Resolution | None,
                        shipped: set[str] | None = None) -> BinaryComparison:
    """One row per loaded object or DT_NEEDED name, classic order first."""
    c, s = _sides(classic), _sides(strict)
    names = list(c) + [n for n in s if n not in c]
    marks = {**_dlopen_marks(strict), **_dlopen_marks(classic)}
    classic_error = strict_error = None
    if classic is not None and classic.error is not None:
        classic_error = classic.error.loader_message
    if strict is not None and strict.error is not None:
        strict_error = strict.error.loader_message
    rows: list[Row] = []
    for name in names:
        a = c.get(name, Side(None, MISSING, None))
        b = s.get(name, Side(None, MISSING, None))
        if a.path is None or b.path is None:
            same = a.path is None and b.path is None
        elif a.file_id is not None and b.file_id is not None:
            same = a.file_id == b.file_id
        else:
            same = a.realm == b.realm and a.path == b.path
        leak = a.realm is Realm.HOST
        shadowed = leak and shipped is not None and (name in shipped or
                                                     (a.path or "").rsplit("/", 1)[-1] in shipped)
        rows.append(Row(name, a, b, same, leak, shadowed, marks.get(name)))
    return BinaryComparison(path, tuple(rows), classic_error, strict_error)


def _in_context(binaries: list[BinaryComparison],
                loads: list[dict[Confinement, Resolution | None]]) -> list[BinaryComparison]:
    """Programs stay as they are; a library that a program's load (either view) maps is
    ``loaded_by`` those programs; any other library is ``alone``."""
    def subject(res: dict[Confinement, Resolution | None]) -> Resolution | None:
        return res[Confinement.CLASSIC] or res[Confinement.STRICT]

    programs: dict[str, set[str]] = {}  # real path (the same in both views) -> programs
    is_program: list[bool] = []
    for b, res in zip(binaries, loads, strict=True):
        top = subject(res)
        facts = top.objects[0].facts if top is not None else None
        is_program.append(facts is not None and facts.is_program)
        if not is_program[-1]:
            continue
        for r in res.values():
            for obj in (r.objects[1:] if r is not None else ()):
                programs.setdefault(obj.real_path, set()).add(b.path)
    out: list[BinaryComparison] = []
    for b, res, prog in zip(binaries, loads, is_program, strict=True):
        top = subject(res)
        users = programs.get(top.objects[0].real_path, set()) - {b.path} \
            if top is not None else set()
        if prog:
            out.append(b)
        elif users:
            out.append(BinaryComparison(b.path, (), b.classic_error, b.strict_error,
                                        loaded_by=tuple(sorted(users))))
        else:
            out.append(BinaryComparison(b.path, b.rows, b.classic_error, b.strict_error,
                                        alone=True))
    return out


def compare_snap(target: SnapTarget, programs: list[Program], env: LoaderEnv | None = None, *,
                 loader: Libc | None = None, progress: Progress | None = None,
                 in_context: bool = False, dlopen: bool = False) -> Comparison:
    """Resolve every program in both views and compare them. A program a view cannot read
    is a :class:`ProgramFailure` (the batch goes on). With ``in_context`` (the whole payload)
    each library is judged where the loader meets it: in the loads of the programs of the
    batch that map it, or on its own when none does (:class:`BinaryComparison`). With
    ``dlopen``, the dlopen calls the loaded objects declare or hint at are rows too
    (:attr:`Row.dlopen`)."""
    snap = target.snap
    shipped = file_names(snap.payload) | (file_names(snap.base) if snap.base else set())
    binaries: list[BinaryComparison] = []
    loads: list[dict[Confinement, Resolution | None]] = []
    failures: list[ProgramFailure] = []
    for n, prog in enumerate(programs, 1):
        if progress is not None:
            progress(n, len(programs), prog.path)
        res: dict[Confinement, Resolution | None] = {}
        errors: dict[Confinement, str] = {}
        for view in VIEWS:
            try:
                if dlopen:
                    from ldsim.analysis.dlopen import resolve_with_dlopen

                    res[view], _problems = resolve_with_dlopen(
                        target, prog, env, confinement=view, loader=loader)
                else:
                    res[view] = target.resolve(prog, env, confinement=view, loader=loader)
            except Exception as exc:  # one program's failure, even a bug, ends only its row
                err = contained(prog.path, exc)
                failures.append(ProgramFailure(prog.path, view, err))
                errors[view] = err.reason
                res[view] = None
        b = compare_resolutions(prog.path, res[Confinement.CLASSIC], res[Confinement.STRICT],
                                shipped)
        if errors:
            b = BinaryComparison(b.path, b.rows,
                                 errors.get(Confinement.CLASSIC, b.classic_error),
                                 errors.get(Confinement.STRICT, b.strict_error))
        binaries.append(b)
        loads.append(res)
    if in_context:
        binaries = _in_context(binaries, loads)
    return Comparison(target.info(), tuple(binaries), tuple(failures))
