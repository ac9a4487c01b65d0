"""Realms, host leakage and the classic-versus-strict comparison of a snap's programs.

A loaded object's realm is the mount its real path lies in (payload, base, host); an
unresolved name is ``missing``. *Leakage*: in the classic view, anything from the host
(the interpreter included). *Shadowing*: a host file wins although the payload or the base
ships a library of that name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import View
from ldsim.result import Resolution

MISSING = "missing"


def attribute_realms(res: Resolution, view: OverlayView) -> None:
    for obj in res.objects:
        obj.realm = view.realm_of(obj.real_path)


def file_names(view: View) -> set[str]:
    """Basenames of every non-directory entry of a tree (for shadowing)."""
    return {p.rsplit("/", 1)[-1] for p, st in view.walk() if not st.is_dir}


@dataclass(frozen=True, slots=True)
class Side:
    path: str | None
    realm: str
    via: str | None
    file_id: tuple[int, int] | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "realm": self.realm, "via": self.via}


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    classic: Side
    strict: Side
    same: bool
    leak: bool
    shadowed: bool = False


def _sides(res: Resolution | None) -> dict[str, Side]:
    out: dict[str, Side] = {}
    if res is None:
        return out
    for obj in res.objects[1:]:
        out.setdefault(obj.name, Side(obj.path, obj.realm, obj.via.value, obj.file_id))
    for u in res.unresolved:
        out.setdefault(u.name, Side(None, MISSING, None))
    return out


@dataclass(slots=True)
class BinaryComparison:
    path: str
    rows: list[Row] = field(default_factory=list)
    classic_error: str | None = None
    strict_error: str | None = None


def compare_resolutions(path: str, classic: Resolution | None, strict: Resolution | None,
                        shipped: set[str] | None = None) -> BinaryComparison:
    """One row per loaded object or DT_NEEDED name, classic order first."""
    c, s = _sides(classic), _sides(strict)
    names = list(c) + [n for n in s if n not in c]
    out = BinaryComparison(path)
    if classic is not None and classic.error is not None:
        out.classic_error = classic.error.loader_message
    if strict is not None and strict.error is not None:
        out.strict_error = strict.error.loader_message
    for name in names:
        a = c.get(name, Side(None, MISSING, None))
        b = s.get(name, Side(None, MISSING, None))
        if a.path is None or b.path is None:
            same = a.path is None and b.path is None
        elif a.file_id is not None and b.file_id is not None:
            same = a.file_id == b.file_id
        else:
            same = a.realm == b.realm and a.path == b.path
        leak = a.realm == "host"
        shadowed = leak and shipped is not None and (name in shipped or
                                                     (a.path or "").rsplit("/", 1)[-1] in shipped)
        out.rows.append(Row(name, a, b, same, leak, shadowed))
    return out
