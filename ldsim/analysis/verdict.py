"""The verdict on one program: does it start, and if not, why — computed once, used by every
command, every format and every exit status.

* ``starts``: every dependency resolves, nothing aborts the load, and no error-level finding
  says a real run fails.
* ``does_not_start``: the loader would not finish loading it: a DT_NEEDED name is found
  nowhere (a real run stops at the first: ``cannot open shared object file``), the load aborts
  (a file the loader cannot use, a DST in a set-uid program...), or the kernel cannot start it
  at all (its interpreter does not exist).
* ``fails_at_run_time``: everything loads, but a real run fails: an error-level ABI finding
  (a missing symbol version, a provider without versions and without DT_VERSYM, a Verneed
  naming a library nothing loads, an undefined non-weak symbol, an x86 ISA level the CPU lacks).

Exit status: 0 for ``starts``, 1 otherwise (2 is bad usage or unreadable input, 3 a bug).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from ldsim.analysis.abi import Finding
from ldsim.records import record
from ldsim.result import Resolution, Severity


class VerdictStatus(StrEnum):
    """Whether a real run of the program starts (the values are the JSON contract)."""

    STARTS = "starts"
    DOES_NOT_START = "does_not_start"
    FAILS_AT_RUN_TIME = "fails_at_run_time"


@record(frozen=True, slots=True)
class Verdict:
    """The status and, unless it starts, the reasons in the loader's words."""

    status: VerdictStatus
    reasons: tuple[str, ...] = ()

    @property
    def starts(self) -> bool:
        return self.status is VerdictStatus.STARTS

    @property
    def exit_status(self) -> int:
        return 0 if self.starts else 1

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "reasons": list(self.reasons)}


def judge(res: Resolution, findings: Sequence[Finding] = ()) -> Verdict:
    """The verdict on a resolution and the findings on it."""
    if res.error is not None:
        return Verdict(VerdictStatus.DOES_NOT_START,
                       (f"load aborted: {res.error.loader_message}",))
    if res.unresolved:
        # once per (name, requester, reason): a file may repeat one DT_NEEDED many times
        seen = dict.fromkeys((u.name, u.needed_by.path if u.needed_by is not None else None,
                              u.reason) for u in res.unresolved)
        return Verdict(VerdictStatus.DOES_NOT_START, tuple(
            f"{name}: not found (needed by {by if by is not None else 'a preload'})"
            + (f": {reason}" if reason else "")
            for name, by, reason in seen))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        return Verdict(VerdictStatus.FAILS_AT_RUN_TIME,
                       tuple(f"{f.id}: {f.message}" for f in errors))
    return Verdict(VerdictStatus.STARTS)


__all__ = ["Verdict", "VerdictStatus", "judge"]
