"""What every lint rule may consult: the snap, its classic view, the linker Snapcraft wants,
what the payload and the base ship, and the user's ignore list."""

from __future__ import annotations

import fnmatch

from ldsim.config.arch import X86_64, Arch
from ldsim.config.env import LoaderEnv
from ldsim.fs.view import View
from ldsim.linter.model import FileLint
from ldsim.records import field, record
from ldsim.snap.compose import Snap
from ldsim.target import SnapTarget

TRIPLET = X86_64.triplet  # the default architecture's; a context has its snap's (Context.arch)


@record(slots=True)
class Ignores:
    """``--ignore RULE[:GLOB]`` and the snap's own ``lint: ignore:`` (later entries win)."""

    patterns: dict[str, list[str]] = field(default_factory=dict)

    def add(self, rule: str, globs: list[str] | None) -> None:
        self.patterns[rule] = ["*"] if not globs else list(globs)

    def all_ignored(self, rule: str) -> bool:
        return self.patterns.get(rule) == ["*"]

    def ignored(self, rule: str, path: str | None, *also: str) -> bool:
        pats = [p for r in (rule, *also) for p in self.patterns.get(r, [])]
        return (path is not None and any(fnmatch.fnmatch(path, p) for p in pats)) or \
            any(self.all_ignored(r) for r in (rule, *also))


@record(slots=True)
class Context:
    target: SnapTarget
    snap: Snap
    view: View  # the classic runtime view
    snap_dir: str  # /snap/NAME/current
    base_dir: str | None  # /snap/BASE/current
    linker: str | None
    staged_libc: bool
    classic_rules: bool  # Snapcraft's classic linter applies: its interpreter and rpath rules
    runs_classic: bool  # the snap runs in the classic view (ldsim's rules judge that view)
    user_env: LoaderEnv
    soname_cache: dict[tuple[int, int, int, str], str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, FileLint] = field(default_factory=dict)  # the linted files by path
    # The snap's architecture (its ELF files'): Snapcraft takes the linker and the multiarch
    # directory from its build machine's, which is the snap's when it builds natively.
    arch: Arch = X86_64


__all__ = ["TRIPLET", "Context", "Ignores"]
