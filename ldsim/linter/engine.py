"""``ldsim lint``: Snapcraft's classic and library linters, decided by a faithful loader model,
plus ldsim's own rules from the simulated classic view.

Two engines: (a) the Snapcraft-compatible one (snapcraft ``linters/classic_linter.py`` and
``linters/library_linter.py``: the ELF files it selects, dependencies from ``ldd`` with the
common library directories of the payload and the base as LD_LIBRARY_PATH, the crawl fallback
and the first-wins soname cache of ``elf/elf_utils.py``, the proposed rpath of
``elf/_patcher.py``), whose ``ldd`` here is ldsim's model of the host loader on the classic
view instead of the build machine's real one; and (b) the real loader in the classic view (the
program's own PT_INTERP), whose host objects are the leaks Snapcraft cannot see.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from ldsim.config.arch import X86_64, Arch, arch_of
from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.elf.layout import parse_ident
from ldsim.elf.reader import parse_elf
from ldsim.errors import InternalError, LdsimError, contained
from ldsim.fs.view import Realm, View
from ldsim.linter import rules
from ldsim.linter.context import Context, Ignores
from ldsim.linter.model import FileLint, LintReport
from ldsim.linter.rpath import current_rpath, proposed_rpath
from ldsim.result import Diagnostic, Resolution, Severity, Via
from ldsim.snap import compose
from ldsim.snap.meta import Confinement
from ldsim.target import Progress, SnapTarget

CLASSIC = Confinement.CLASSIC


def walk_files(view: View, top: str = "/") -> list[tuple[str, bool]]:
    """(payload-relative path, is_symlink) of every non-directory entry, sorted."""
    return sorted((p.lstrip("/"), st.is_link) for p, st in view.walk(top) if not st.is_dir)


class _Skips:
    """Payload files that could not be linted: one diagnostic each; whether one was a bug."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.internal = False

    def add(self, rel: str, exc: BaseException) -> None:
        err = contained(rel, exc)
        self.internal |= isinstance(err, InternalError)
        self.diagnostics.append(Diagnostic(Severity.WARNING, f"{rel}: {err.reason}; skipped",
                                           rel))


def elf_files(payload: View, skips: _Skips) -> list[tuple[str, ElfFacts]]:
    """The files Snapcraft's linters select (``linters/base.py``): regular ELF files with at
    least one DT_NEEDED, no ``*.o``, no symlinks."""
    out: list[tuple[str, ElfFacts]] = []
    for rel, _etype in compose.elf_files(payload):
        if rel.endswith(".o"):
            continue
        try:
            facts = parse_elf(payload.buffer("/" + rel), rel)
        except Exception as exc:  # an unreadable file (or a bug) skips only that file
            skips.add(rel, exc)
            continue
        if facts.needed:
            out.append((rel, facts))
    return out


def snap_lint_config(payload: View) -> list[tuple[str, list[str] | None]]:
    """``lint: ignore:`` from ``snap/snapcraft.yaml`` when the snap carries it."""
    from ldsim.snap.yamlload import MAX_BYTES, load_yaml

    try:  # one byte past the limit is enough for load_yaml to refuse it
        text = payload.read("/snap/snapcraft.yaml", limit=MAX_BYTES + 1).decode("utf-8", "replace")
        doc = load_yaml(text, "snap/snapcraft.yaml")
    except LdsimError:  # unreadable, invalid or over a limit: lint without its ignores
        return []
    lint = doc.get("lint") if isinstance(doc, dict) else None
    items = lint.get("ignore") if isinstance(lint, dict) else None
    out: list[tuple[str, list[str] | None]] = []
    for item in items if isinstance(items, list) else []:  # (ignore: 5 is no list)
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, dict):
            for k, v in item.items():
                out.append((str(k), [str(g) for g in v] if isinstance(v, list) else None))
    return out


def _arch(facts: ElfFacts) -> tuple[int, int, int]:
    return (facts.elf_class, facts.ident.data, facts.machine)


def _llp(ctx: Context) -> str:
    """``utils.get_common_ld_library_paths`` for the payload, then the base."""
    dirs: list[str] = []
    for root in (ctx.snap_dir, ctx.base_dir):
        if root is None:
            continue
        for sub in ("lib", "usr/lib", f"lib/{ctx.arch.triplet}",
                    f"usr/lib/{ctx.arch.triplet}"):
            if ctx.view.exists(f"{root}/{sub}/"):
                dirs.append(f"{root}/{sub}")
    return ":".join(dirs)


def _crawl(ctx: Context, name: str, arch: tuple[int, int, int]) -> str | None:
    """Snapcraft's normalisation of ``ldd`` output (``elf/elf_utils.py``): a file named
    exactly like the soname under a search root."""
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
        res = ctx.target.trace(guest, env, ldd_loader=ctx.arch.ldd_loader, confinement=CLASSIC,
                               facts=facts)
    except LdsimError:
        return []
    arch = _arch(facts)
    roots = [r for r in (ctx.snap_dir, ctx.base_dir) if r]
    # Snapcraft's ldd runs on the prime directory, where $ORIGIN is that directory, and
    # keeps each path as os.path.abspath: in the classic view $ORIGIN is the revision the
    # `current` link names (/snap/NAME/x1), which is the same directory
    real_roots = []
    for root in roots:
        try:
            real = ctx.view.resolve(root)
        except LdsimError:
            continue
        if real != root:
            real_roots.append((real, root))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    entries = [(o.name, o.path) for o in res.objects[1:]
               if o.via not in (Via.INTERPRETER, Via.DIRECT)]
    entries += [(u.name, u.name) for u in res.unresolved]
    for name, path in entries:
        if name in seen:
            continue
        seen.add(name)
        if path.startswith("/"):
            path = posixpath.normpath(path)
            for real, root in real_roots:
                if path.startswith(real + "/"):
                    path = root + path[len(real):]
                    break
        key = (*arch, name)
        cached = ctx.soname_cache.get(key)
        if cached is None:
            under_root = any(path.startswith(r + "/") for r in roots)
            cached = path if under_root else (_crawl(ctx, name, arch) or path)
            ctx.soname_cache[key] = cached
        out.append((name, cached))
    return out


def classic_resolution(ctx: Context, guest: str, facts: ElfFacts) -> Resolution | None:
    """The real loader in the classic view, as the kernel starts the file, then the dlopen
    calls the loaded objects declare (ELF dlopen notes) or hint at."""
    from ldsim.analysis.dlopen import resolve_with_dlopen

    try:
        res, _problems = resolve_with_dlopen(ctx.target, guest, ctx.user_env,
                                             confinement=CLASSIC, facts=facts)
    except LdsimError:
        return None
    return res


def snap_arch(payload: View) -> Arch:
    """The architecture of the payload's ELF files: the first one (in path order) whose header
    names an architecture ldsim knows; x86-64 when there is none."""
    for rel, link in walk_files(payload):
        if link:
            continue
        try:
            ident = parse_ident(payload.read("/" + rel, limit=64), rel)
        except LdsimError:
            continue
        arch = arch_of(ident.machine, ident.elf_class, ident.data, ident.flags)
        if arch is not None:
            return arch
    return X86_64


def make_context(target: SnapTarget, user_env: LoaderEnv) -> Context:
    snap = target.snap
    view = target.view(CLASSIC)
    name, base = snap.meta.name, snap.meta.base
    snap_dir = f"/snap/{name}/current"
    base_dir = f"/snap/{base}/current" if base and base != "bare" and snap.base else None
    arch = snap_arch(snap.payload)
    linker_rel = (arch.ldd_loader.lstrip("/"), "usr/" + arch.ldd_loader.lstrip("/"))
    staged = next((rel for rel in linker_rel if snap.payload.exists("/" + rel)), None)
    if staged is not None:
        linker: str | None = f"{snap_dir}/{staged}"
    elif base and base != "bare":
        linker = f"/snap/{base}/current/{linker_rel[0]}"
    else:
        linker = None
    # a classic snap, or a strict one that stages its C library, runs in the classic view
    # (the host's root, its libraries); Snapcraft's classic linter also needs a base to
    # point the interpreter and the rpath at (it skips `base: bare`), ldsim's rules do not
    runs_classic = staged is not None or snap.meta.confinement is Confinement.CLASSIC
    classic_rules = bool(base) and base != "bare" and runs_classic
    ctx = Context(target, snap, view, snap_dir, base_dir, linker, staged is not None,
                  classic_rules, runs_classic, user_env, arch=arch)
    for tree, root in ((snap.payload, snap_dir), (snap.base, base_dir)):
        if tree is None or root is None:
            continue
        for rel, _link in walk_files(tree):
            ctx.by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(f"{root}/{rel}")
    return ctx


def lint_snap(target: SnapTarget, *,
              ignore: Sequence[tuple[str, list[str] | None]] = (),
              user_env: LoaderEnv | None = None,
              progress: Progress | None = None) -> LintReport:
    """Lint every selected ELF file of the snap's payload; ``ignore`` holds
    ``(rule, globs or None)`` pairs, after the snap's own ``lint: ignore:``."""
    ctx = make_context(target, user_env or LoaderEnv())
    ignores = Ignores()
    for rule, globs in [*snap_lint_config(target.snap.payload), *ignore]:
        ignores.add(rule, globs)
    skips = _Skips()
    files = elf_files(target.snap.payload, skips)
    for err in target.snap.payload.skipped:  # entries the walk could not use (a corrupt image)
        skips.diagnostics.append(Diagnostic(Severity.WARNING, f"{err}; not linted", err.path))
    linted: list[FileLint] = []
    for n, (rel, facts) in enumerate(files, 1):
        if progress is not None:
            progress(n, len(files), rel)
        try:
            fl = _lint_file(ctx, rel, facts)
        except Exception as exc:  # one file's failure, even a bug, skips only that file
            skips.add(rel, exc)
            continue
        linted.append(fl)
        ctx.files[rel] = fl
    findings = rules.run_rules(ctx, linted, ignores)
    return LintReport(target.info(), tuple(findings), tuple(linted), tuple(skips.diagnostics),
                      skips.internal)


def _lint_file(ctx: Context, rel: str, facts: ElfFacts) -> FileLint:
    """What the rules need of one payload file."""
    guest = f"{ctx.snap_dir}/{rel}"
    deps = snapcraft_dependencies(ctx, guest, facts)
    payload_deps = [p[len(ctx.snap_dir) + 1:] for _n, p in deps
                    if p.startswith(ctx.snap_dir + "/")]
    base_dirs = [p.rsplit("/", 1)[0] for _n, p in deps
                 if ctx.base_dir and p.startswith(ctx.base_dir + "/")]
    current = current_rpath(facts.effective_runpath if facts.runpath is not None else None,
                            facts.effective_rpath)
    return FileLint(rel, guest, facts, ctx.linker if ctx.classic_rules else None, current,
                    proposed_rpath(rel, current, payload_deps, base_dirs),
                    tuple((n, p, ctx.view.realm_of(p) if p.startswith("/") else Realm.MISSING)
                          for n, p in deps),
                    classic_resolution(ctx, guest, facts), facts.is_program)


__all__ = ["Context", "Ignores", "lint_snap"]
