"""What a scan of many files found: one :class:`FileResult` per file (or per snap), and the
:class:`ScanSummary` people read and CI gates on.

A file's result is what ``ldsim explain`` says of it, reduced to what a summary needs (the
verdict, the names found nowhere and who needs them, the findings by rule) plus, when asked,
the whole ``ldsim.explain/1`` document as one line. Pure values: built in a worker process or
on a Dask worker, sent back by pickling, stored in SQLite, summed up here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from ldsim.records import field, record

STATUSES = ("starts", "does_not_start", "fails_at_run_time", "unreadable", "error")
"""A file's status: a verdict (``ldsim.analysis.verdict``), or ``unreadable`` (ldsim cannot
read it as a program: exit 2 of ``explain``), or ``error`` (a bug in ldsim: exit 3)."""

ABORTED = "load aborted: "
"""How the verdict's reason of a file whose load aborts begins (``ldsim.analysis.verdict``),
the loader's message after it."""

EXIT_OF_STATUS = {"starts": 0, "does_not_start": 1, "fails_at_run_time": 1, "unreadable": 2,
                  "error": 3}


@record(frozen=True, slots=True)
class FileResult:
    """One scanned file (``kind`` ``"file"``) or snap (``"snap"``).

    ``unresolved``: (name, the path that needs it) of every DT_NEEDED found nowhere (for a
    snap: in the classic view); ``findings``: (rule id, severity, object) of every finding
    (ABI findings of a file; a snap's rows that leak or are missing); ``doc``: the JSON
    document on one line (``ldsim.explain/1`` of a file, ``ldsim.compare/1`` of a snap) when
    the scan keeps documents; ``deps``: (path, state) of every file and directory the result
    depends on, when a result store asks for them; ``ident``: the file's identity (device,
    inode, size, mtime, ctime) as the scan saw it."""

    path: str
    kind: str
    status: str
    reasons: tuple[str, ...] = ()
    objects: int = 0
    unresolved: tuple[tuple[str, str | None], ...] = ()
    findings: tuple[tuple[str, str, str], ...] = ()
    leaks: int = 0
    seconds: float = 0.0
    doc: str | None = None
    ident: tuple[int, ...] | None = None
    deps: tuple[tuple[str, str], ...] | None = None

    @property
    def exit_status(self) -> int:
        return EXIT_OF_STATUS.get(self.status, 3)


@record(slots=True)
class ScanSummary:
    """The counts of a scan, by verdict; the names found nowhere, most frequent first, with
    who needs them; findings by rule; leaks per snap; the slowest files; what the scan could
    not read. ``add`` one result at a time; ``exit_status`` is the worst seen."""

    files: int = 0
    snaps: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    missing: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    missing_files: Counter[str] = field(default_factory=Counter)
    aborted: Counter[str] = field(default_factory=Counter)  # files by the loader's message
    aborted_files: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)
    finding_files: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: defaultdict(list))
    leaks: dict[str, int] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    timings: list[tuple[float, str]] = field(default_factory=list)
    seconds: float = 0.0
    # from the walk (ldsim.scanner.discover.Walk) and the run
    looked_at: int = 0
    other_elf: int = 0
    excluded: int = 0
    walk_problems: list[tuple[str, str]] = field(default_factory=list)
    reused: int = 0  # results a store still held
    invalidated: int = 0  # results a store dropped: something they depend on changed
    examples: int = 5
    # what SARIF reports: files that do not start, cannot be read, or have findings (kept
    # only with keep_problems: a scan of millions of files need not hold them otherwise)
    problems: list[FileResult] = field(default_factory=list)
    keep_problems: bool = True

    def add(self, r: FileResult) -> None:
        if r.kind == "snap":
            self.snaps += 1
            # a snap partly read (a corrupt image) leaks what was read: those are real
            if r.status != "error" and (r.status != "unreadable" or r.leaks):
                self.leaks[r.path] = r.leaks
        else:
            self.files += 1
        self.by_status[r.status] += 1
        self.seconds += r.seconds
        self.timings.append((r.seconds, r.path))
        if len(self.timings) > 4 * self.examples:
            self.timings.sort(key=lambda t: (-t[0], t[1]))
            del self.timings[self.examples:]
        if self.keep_problems and (r.status != "starts" or r.findings or r.leaks):
            self.problems.append(FileResult(r.path, r.kind, r.status, r.reasons,
                                            findings=r.findings, leaks=r.leaks))
        if r.status == "unreadable":
            self.unreadable.append((r.path, r.reasons[0] if r.reasons else ""))
        elif r.status == "error":
            self.errors.append((r.path, r.reasons[0] if r.reasons else ""))
        if r.kind == "file" and r.status == "does_not_start":
            for reason in r.reasons:
                if reason.startswith(ABORTED):
                    why = aborted_why(r.path, reason)
                    self.aborted[why] += 1
                    if len(self.aborted_files[why]) < self.examples:
                        self.aborted_files[why].append(r.path)
        names = dict.fromkeys(name for name, _by in r.unresolved)
        for name in names:
            self.missing_files[name] += 1
            if len(self.missing[name]) < self.examples:
                self.missing[name].append(r.path)
        for rule, severity, _obj in r.findings:
            key = (rule, severity)
            self.findings[key] += 1
            files = self.finding_files[key]
            if len(files) < self.examples and (not files or files[-1] != r.path):
                files.append(r.path)

    def extend(self, results: Iterable[FileResult]) -> None:
        for r in results:
            self.add(r)

    @property
    def total(self) -> int:
        return self.files + self.snaps

    @property
    def slowest(self) -> list[tuple[float, str]]:
        return sorted(self.timings, key=lambda t: (-t[0], t[1]))[:self.examples]

    def missing_by_frequency(self) -> list[tuple[str, int, list[str]]]:
        """(name, how many files miss it, the first files that do), most frequent first."""
        return [(name, n, self.missing[name])
                for name, n in sorted(self.missing_files.items(), key=lambda t: (-t[1], t[0]))]

    def aborted_by_frequency(self) -> list[tuple[str, int, list[str]]]:
        """(the loader's message, how many files' loads abort with it, the first of them),
        most frequent first: what the files that do not start, but miss no name, meet."""
        return [(why, n, self.aborted_files[why])
                for why, n in sorted(self.aborted.items(), key=lambda t: (-t[1], t[0]))]

    def findings_by_rule(self) -> list[tuple[str, str, int, list[str]]]:
        """(rule id, severity, count, the first files), errors first, then by count."""
        order = {"error": 0, "warning": 1, "info": 2}
        return [(rule, sev, n, self.finding_files[(rule, sev)])
                for (rule, sev), n in sorted(self.findings.items(),
                                             key=lambda t: (order.get(t[0][1], 3), -t[1],
                                                            t[0][0]))]

    @property
    def exit_status(self) -> int:
        """3 a bug in ldsim, 2 something could not be read, 1 something does not start (or
        a snap leaks), 0 all is well: the worst seen."""
        if self.by_status["error"]:
            return 3
        if self.by_status["unreadable"] or self.walk_problems:
            return 2
        if self.by_status["does_not_start"] or self.by_status["fails_at_run_time"] \
                or any(self.leaks.values()):
            return 1
        return 0


def aborted_why(path: str, reason: str) -> str:
    """The loader's message in the reason ``reason`` of the file ``path`` whose load aborts,
    without the file's own path where the message is about the file itself ("object file
    has no dynamic section"), so that the files that meet the same problem count together;
    a message about another file (a missing interpreter, a library of the wrong class)
    names it."""
    message = reason.removeprefix(ABORTED)
    return message.removeprefix(f"{path}: ")


__all__ = ["ABORTED", "EXIT_OF_STATUS", "STATUSES", "FileResult", "ScanSummary", "aborted_why"]
