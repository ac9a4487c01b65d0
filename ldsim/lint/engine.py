"""``ldsim lint``: Snapcraft's classic and library linters, decided by a faithful loader model,
plus ldsim's own rules from the simulated classic view.

Two engines, as ``snaps.md`` §7 asks: (a) the Snapcraft-compatible one (file selection §1.2,
dependency discovery §1.3: ``ldd`` with the common library directories of the payload and
the base as LD_LIBRARY_PATH, the crawl fallback and the first-wins soname cache; the proposed
rpath §2.3), whose ``ldd`` here is ldsim's model of the host loader on the classic view
instead of the build machine's real one; and (b) the real loader in the classic view (the
program's own PT_INTERP), whose host objects are the leaks Snapcraft cannot see.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ldsim.analysis.compare import attribute_realms
from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.elf.reader import parse_elf
from ldsim.errors import LdsimError
from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import View
from ldsim.lint.model import FileLint, LintFinding, LintReport
from ldsim.lint.rpath import current_rpath, proposed_rpath
from ldsim.loader.run import RootConfig, resolve
from ldsim.result import Diagnostic, Resolution, Severity
from ldsim.snap import compose

TRIPLET = "x86_64-linux-gnu"
LINKER_REL = ("lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2")
HOST_LDD_LOADER = "/lib64/ld-linux-x86-64.so.2"
LIBRARY_DIR_PATTERNS = ("lib/*", "lib32/*", "lib64/*", f"lib/{TRIPLET}/*",
                        "usr/lib/*", "usr/lib32/*", "usr/lib64/*", f"usr/lib/{TRIPLET}/*")


def walk_files(view: View, top: str = "/") -> list[tuple[str, bool]]:
    """(payload-relative path, is_symlink) of every non-directory entry, sorted."""
    return sorted((p.lstrip("/"), st.is_link) for p, st in view.walk(top) if not st.is_dir)


def elf_files(payload: View, diagnostics: list[Diagnostic]) -> list[tuple[str, ElfFacts]]:
    """§1.2: regular ELF files with at least one DT_NEEDED, no ``*.o``, no symlinks."""
    out: list[tuple[str, ElfFacts]] = []
    for rel, _etype in compose.elf_files(payload):
        if rel.endswith(".o"):
            continue
        try:
            facts = parse_elf(payload.read("/" + rel), rel)
        except LdsimError as exc:
            diagnostics.append(Diagnostic(Severity.WARNING, f"{rel}: {exc.reason}; skipped", rel))
            continue
        if facts.needed:
            out.append((rel, facts))
    return out


@dataclass(slots=True)
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


def snap_lint_config(payload: View) -> list[tuple[str, list[str] | None]]:
    """``lint: ignore:`` from ``snap/snapcraft.yaml`` when the snap carries it."""
    try:
        text = payload.read("/snap/snapcraft.yaml").decode("utf-8", "replace")
    except LdsimError:
        return []
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    lint = doc.get("lint") if isinstance(doc, dict) else None
    items = lint.get("ignore") if isinstance(lint, dict) else None
    out: list[tuple[str, list[str] | None]] = []
    for item in items or []:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, dict):
            for k, v in item.items():
                out.append((str(k), [str(g) for g in v] if isinstance(v, list) else None))
    return out


@dataclass(slots=True)
class Context:
    target: compose.SnapTarget
    view: OverlayView
    config: RootConfig
    snap_dir: str  # /snap/NAME/current
    base_dir: str | None  # /snap/BASE/current
    linker: str | None
    staged_libc: bool
    classic_rules: bool
    user_env: LoaderEnv
    soname_cache: dict[tuple[int, int, int, str], str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)


def _arch(facts: ElfFacts) -> tuple[int, int, int]:
    return (facts.elf_class, facts.ident.data, facts.machine)


def _llp(ctx: Context) -> str:
    """``utils.get_common_ld_library_paths`` for the payload, then the base."""
    dirs: list[str] = []
    for root in (ctx.snap_dir, ctx.base_dir):
        if root is None:
            continue
        for sub in ("lib", "usr/lib", f"lib/{TRIPLET}", f"usr/lib/{TRIPLET}"):
            if ctx.view.exists(f"{root}/{sub}/"):
                dirs.append(f"{root}/{sub}")
    return ":".join(dirs)


def _crawl(ctx: Context, name: str, arch: tuple[int, int, int]) -> str | None:
    """§1.3 normalisation: a file named exactly like the soname under a search root."""
    for guest in ctx.by_name.get(name, []):
        try:
            facts = parse_elf(ctx.view.read(guest), guest)
        except LdsimError:
            continue
        if _arch(facts) == arch:
            return guest
    return None


def snapcraft_dependencies(ctx: Context, guest: str, facts: ElfFacts) -> list[tuple[str, str]]:
    """(name, path) of every dependency the host ``ldd`` would report, after the crawl."""
    env = LoaderEnv(ld_library_path=_llp(ctx), cwd="/", hwcaps=ctx.user_env.hwcaps,
                    platform=ctx.user_env.platform,
                    legacy_hwcap_names=ctx.user_env.legacy_hwcap_names)
    try:
        res = resolve(ctx.view, guest, env, ctx.config, facts, ldd_loader=HOST_LDD_LOADER)
    except LdsimError:
        return []
    arch = _arch(facts)
    roots = [r for r in (ctx.snap_dir, ctx.base_dir) if r]
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    entries = [(o.name, o.path) for o in res.objects[1:]
               if o.via.value not in ("interpreter", "direct")]
    entries += [(u.name, u.name) for u in res.unresolved]
    for name, path in entries:
        if name in seen:
            continue
        seen.add(name)
        key = (*arch, name)
        cached = ctx.soname_cache.get(key)
        if cached is None:
            under_root = any(path.startswith(r + "/") for r in roots)
            cached = path if under_root else (_crawl(ctx, name, arch) or path)
            ctx.soname_cache[key] = cached
        out.append((name, cached))
    return out


def classic_resolution(ctx: Context, guest: str, facts: ElfFacts) -> Resolution | None:
    env = compose.app_env(ctx.target, None, "classic", ctx.user_env)
    try:
        res = resolve(ctx.view, guest, env, ctx.config, facts)
    except LdsimError:
        return None
    attribute_realms(res, ctx.view)
    return res


def make_context(target: compose.SnapTarget, user_env: LoaderEnv) -> Context:
    view = compose.runtime_view(target, "classic")
    name, base = target.meta.name, target.meta.base
    snap_dir = f"/snap/{name}/current"
    base_dir = f"/snap/{base}/current" if base and base != "bare" and target.base else None
    staged = next((rel for rel in LINKER_REL if target.payload.exists("/" + rel)), None)
    if staged is not None:
        linker: str | None = f"{snap_dir}/{staged}"
    elif base and base != "bare":
        linker = f"/snap/{base}/current/{LINKER_REL[0]}"
    else:
        linker = None
    classic_rules = bool(base) and base != "bare" and (
        staged is not None or target.meta.confinement == "classic")
    ctx = Context(target, view, RootConfig(view), snap_dir, base_dir, linker, staged is not None,
                  classic_rules, user_env)
    for tree, root in ((target.payload, snap_dir), (target.base, base_dir)):
        if tree is None or root is None:
            continue
        for rel, _link in walk_files(tree):
            ctx.by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(f"{root}/{rel}")
    return ctx


def lint_snap(target: compose.SnapTarget, *,
              ignore: Sequence[tuple[str, list[str] | None]] = (),
              user_env: LoaderEnv | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> LintReport:
    from ldsim.lint import rules

    ctx = make_context(target, user_env or LoaderEnv())
    ignores = Ignores()
    for rule, globs in [*snap_lint_config(target.payload), *ignore]:
        ignores.add(rule, globs)
    report = LintReport(snap={"name": target.meta.name, "base": target.meta.base,
                              "confinement": target.meta.confinement})
    diagnostics: list[Diagnostic] = []
    files = elf_files(target.payload, diagnostics)
    for n, (rel, facts) in enumerate(files, 1):
        if progress is not None:
            progress(n, len(files), rel)
        guest = f"{ctx.snap_dir}/{rel}"
        deps = snapcraft_dependencies(ctx, guest, facts)
        payload_deps = [p[len(ctx.snap_dir) + 1:] for _n, p in deps
                        if p.startswith(ctx.snap_dir + "/")]
        base_dirs = [p.rsplit("/", 1)[0] for _n, p in deps
                     if ctx.base_dir and p.startswith(ctx.base_dir + "/")]
        current = current_rpath(facts.effective_runpath if facts.runpath is not None else None,
                                facts.effective_rpath)
        fl = FileLint(rel, guest, facts, ctx.linker if ctx.classic_rules else None, current,
                      proposed_rpath(rel, current, payload_deps, base_dirs),
                      [(n, p, ctx.view.realm_of(p) if p.startswith("/") else "missing")
                       for n, p in deps],
                      classic_resolution(ctx, guest, facts))
        report.files.append(fl)
    report.findings = rules.run_rules(ctx, report, ignores)
    return report


__all__ = ["Context", "Ignores", "LintFinding", "lint_snap"]
