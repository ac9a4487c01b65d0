"""ldsim: a static model of the Linux dynamic loader.

It answers, without running anything, which file the loader opens for every DT_NEEDED of a
program in a root filesystem (this machine's, a container's, a chroot, or a snap's runtime
view), in which order, and why::

    import ldsim

    root = ldsim.open_root("/")
    res = ldsim.resolve(root, "/usr/bin/ssh")
    print(ldsim.render(res, "text"))

The public API is :mod:`ldsim.api`, re-exported here (see ``__all__``); the names are loaded
on first use, so ``import ldsim`` stays cheap.
"""

from __future__ import annotations

from ldsim._version import __version__

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from ldsim.api import (
        ALL_RULES,
        ApplyOutcome,
        ApplyResult,
        Attempt,
        BinaryComparison,
        Comparison,
        Confinement,
        Diagnostic,
        DlopenRequest,
        DlopenResult,
        DlopenSource,
        DlopenStatus,
        ElfError,
        ElfFacts,
        Explanation,
        FilePlan,
        Finding,
        Fix,
        FixOptions,
        FixPlan,
        FixRun,
        FixStatus,
        FsError,
        GraphRun,
        Invocation,
        LdsimError,
        Libc,
        LintFinding,
        LintReport,
        LoadedObject,
        LoaderEnv,
        LoadError,
        Lookup,
        LookupKind,
        Outcome,
        Picture,
        Program,
        ProgramFailure,
        ProgramReport,
        Progress,
        Realm,
        Report,
        Resolution,
        RootError,
        RootTarget,
        Row,
        RuleIgnore,
        Severity,
        Side,
        SnapError,
        SnapTarget,
        SquashFsError,
        Target,
        Unresolved,
        UsageError,
        Verdict,
        VerdictStatus,
        Via,
        View,
        check,
        check_format,
        compare,
        dependency_graph,
        dependents,
        explain,
        find_patchelf,
        fix,
        formats,
        graph,
        host_env,
        leak_paths,
        leaks,
        lint,
        load_chain,
        open_root,
        open_snap,
        parse_dlopen_add,
        picture,
        plan_fix,
        render,
        report,
        resolve,
        scan,
        stored_scan,
        why,
    )

__all__ = [
    "ALL_RULES",
    "ApplyOutcome",
    "ApplyResult",
    "Attempt",
    "BinaryComparison",
    "Comparison",
    "Confinement",
    "Diagnostic",
    "DlopenRequest",
    "DlopenResult",
    "DlopenSource",
    "DlopenStatus",
    "ElfError",
    "ElfFacts",
    "Explanation",
    "FilePlan",
    "Finding",
    "Fix",
    "FixOptions",
    "FixPlan",
    "FixRun",
    "FixStatus",
    "FsError",
    "GraphRun",
    "Invocation",
    "LdsimError",
    "Libc",
    "LintFinding",
    "LintReport",
    "LoadError",
    "LoadedObject",
    "LoaderEnv",
    "Lookup",
    "LookupKind",
    "Outcome",
    "Picture",
    "Program",
    "ProgramFailure",
    "ProgramReport",
    "Progress",
    "Realm",
    "Report",
    "Resolution",
    "RootError",
    "RootTarget",
    "Row",
    "RuleIgnore",
    "Severity",
    "Side",
    "SnapError",
    "SnapTarget",
    "SquashFsError",
    "Target",
    "Unresolved",
    "UsageError",
    "Verdict",
    "VerdictStatus",
    "Via",
    "View",
    "__version__",
    "check",
    "check_format",
    "compare",
    "dependency_graph",
    "dependents",
    "explain",
    "find_patchelf",
    "fix",
    "formats",
    "graph",
    "host_env",
    "leak_paths",
    "leaks",
    "lint",
    "load_chain",
    "open_root",
    "open_snap",
    "parse_dlopen_add",
    "picture",
    "plan_fix",
    "render",
    "report",
    "resolve",
    "scan",
    "stored_scan",
    "why",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ldsim import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ldsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
