"""What ldsim analyses, opened once: a root directory, or a snap with its base and a host.

A target owns its views (a plain root has one; a snap has a classic and a strict runtime
view), the loader configuration of each view (``/etc/ld.so.cache``, ``/etc/ld.so.preload``,
the loaders' built-in directories) and the file cache that every program of a run shares, so
that a batch of programs reads each file once.

:meth:`Target.resolve` is the one place that turns a program and a simulated process
(:class:`~ldsim.config.env.LoaderEnv`) into a finished :class:`~ldsim.result.Resolution`:
for a snap it picks the runtime view and gives the process the environment snap-exec gives
the app; for a plain root it resolves as is. Every command, the API and the linter go
through it.
"""

from __future__ import annotations

from collections.abc import Callable

from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import LOADABLE_TYPES, ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.errors import FsError
from ldsim.fs.view import HostDirView, View
from ldsim.loader.run import RootConfig, resolve
from ldsim.loader.walk import DlopenCalls
from ldsim.records import record
from ldsim.result import Resolution

TYPE_CHECKING = False

if TYPE_CHECKING:  # a snap's modules are imported when a snap is opened, not by every run
    from ldsim.snap import compose
    from ldsim.snap.meta import App, Confinement


@record(frozen=True, slots=True)
class Program:
    """A program to resolve in a target: its path in the target's view, and for a snap the
    app it is the program of (whose environment applies), if any."""

    path: str
    app: App | None = None


class Target:
    """A root or a snap, opened. Subclasses: :class:`RootTarget`, :class:`SnapTarget`."""

    name: str

    def view(self, confinement: Confinement | None = None) -> View:
        """The filesystem the loader sees (for a snap: in ``confinement``'s view)."""
        raise NotImplementedError

    def config(self, confinement: Confinement | None = None) -> RootConfig:
        """The loader configuration of that view, read once."""
        raise NotImplementedError

    def environment(self, env: LoaderEnv, confinement: Confinement | None = None,
                    app: App | None = None) -> LoaderEnv:
        """The process the loader runs in, from the user's ``env``."""
        return env

    def resolve(self, program: str | Program, env: LoaderEnv | None = None, *,
                confinement: Confinement | None = None, loader: Libc | None = None,
                facts: ElfFacts | None = None,
                dlopen: DlopenCalls = ()) -> Resolution:
        """Resolve ``program`` (a path in the target's view, or a :class:`Program`) as the
        loader of the view would load it for the process ``env`` (default: an unset
        environment on an x86-64-v4 CPU, working directory ``/``); then make the ``dlopen``
        calls, in order (or those a function of the initial load's objects gives:
        :data:`~ldsim.loader.walk.DlopenCalls`)."""
        prog = program if isinstance(program, Program) else Program(program)
        process = self.environment(env or LoaderEnv(), confinement, prog.app)
        view = self.view(confinement)
        try:
            return resolve(view, prog.path, process, self.config(confinement), facts, loader,
                           dlopen=dlopen)
        except FsError as exc:
            if exc.path != prog.path or view.name in ("", "/"):
                raise
            # the program itself: say in which root it was looked for
            raise FsError(exc.path, f"{exc.reason} (in the root {view.name})",
                          exc.errno_name) from None

    def trace(self, path: str, env: LoaderEnv, *, ldd_loader: str,
              confinement: Confinement | None = None,
              facts: ElfFacts | None = None) -> Resolution:
        """``ldd PATH`` with exactly the process ``env`` (no app environment): the glibc
        loader ``ldd_loader`` traces the file whatever its PT_INTERP says."""
        return resolve(self.view(confinement), path, env, self.config(confinement), facts,
                       ldd_loader=ldd_loader)


class RootTarget(Target):
    """A directory (or any view) presented as ``/``, with chroot semantics."""

    def __init__(self, root: str | View = "/") -> None:
        self._view = root if isinstance(root, View) else HostDirView(root)
        self.name = self._view.name
        self._config: RootConfig | None = None

    def view(self, confinement: Confinement | None = None) -> View:
        return self._view

    def config(self, confinement: Confinement | None = None) -> RootConfig:
        if self._config is None:
            self._config = RootConfig(self._view)
        return self._config


class SnapTarget(Target):
    """A snap: its payload, its base and the host, and the runtime views built from them."""

    def __init__(self, snap: compose.Snap) -> None:
        self.snap = snap
        self.name = snap.name
        self._views: dict[Confinement, View] = {}
        self._configs: dict[Confinement, RootConfig] = {}

    @classmethod
    def open(cls, snap: str | View, base: str | View | None = None,
             host: str | View = "/") -> SnapTarget:
        from ldsim.snap import compose

        return cls(compose.load_snap(snap, base, host))

    def reopen(self) -> SnapTarget:
        """The same snap opened afresh (after its files changed: nothing cached is reused;
        trees given as views are reused as they are)."""
        from ldsim.snap import compose

        return SnapTarget(compose.load_snap(*self.snap.opened_with))

    @property
    def confinement(self) -> Confinement:
        """The view the snap's apps run in (classic, or strict for strict and devmode)."""
        return self.snap.confinement

    def _which(self, confinement: Confinement | None) -> Confinement:
        return (confinement or self.confinement).view

    def view(self, confinement: Confinement | None = None) -> View:
        which = self._which(confinement)
        hit = self._views.get(which)
        if hit is None:
            from ldsim.snap import compose

            hit = self._views[which] = compose.runtime_view(self.snap, which)
        return hit

    def config(self, confinement: Confinement | None = None) -> RootConfig:
        which = self._which(confinement)
        hit = self._configs.get(which)
        if hit is None:
            hit = self._configs[which] = RootConfig(self.view(which))
        return hit

    def environment(self, env: LoaderEnv, confinement: Confinement | None = None,
                    app: App | None = None) -> LoaderEnv:
        from ldsim.snap import compose

        return compose.app_env(self.snap, app, self._which(confinement), env)

    # -- which programs --------------------------------------------------------------
    def app_programs(self, app: str | None = None) -> list[Program]:
        """The program of ``app``, or of every app (sorted by app name)."""
        return [Program(self.snap.program_path(a), a) for a in self.snap.apps(app)]

    def path_programs(self, paths: list[str]) -> list[Program]:
        """Programs given by path (relative to ``$SNAP``, or absolute in the namespace)."""
        return [Program(self.snap.payload_path(p)) for p in paths]

    def elf_programs(self) -> list[Program]:
        """Every executable and shared library of the payload (``ET_EXEC``, ``ET_DYN``)."""
        from ldsim.snap import compose

        return [Program(self.snap.payload_path(rel))
                for rel, etype in compose.elf_files(self.snap.payload)
                if etype in LOADABLE_TYPES]

    def info(self, confinement: Confinement | None = None) -> dict[str, str]:
        """What documents say about the snap: name, base, confinement (with a view given:
        that view, and the revision)."""
        if confinement is None:
            return {"name": self.name, "base": self.snap.meta.base,
                    "confinement": self.snap.meta.confinement}
        return {"name": self.name, "base": self.snap.meta.base,
                "confinement": confinement.view, "revision": self.snap.revision}


def open_root(root: str | View = "/") -> RootTarget:
    """A root directory to analyse (default: this machine's ``/``). Raises
    :class:`~ldsim.errors.RootError` when it is missing or not a directory."""
    return RootTarget(root)


def open_snap(snap: str | View, *, base: str | View | None = None,
              host: str | View = "/") -> SnapTarget:
    """A snap to analyse: a prime directory, an unpacked snap or a ``.snap`` file (or a view
    of one); its base (the same kinds; default: ``HOST/snap/BASE/current``); the host root
    (a directory or a view; default ``/``). Raises :class:`~ldsim.errors.SnapError` naming
    what is wrong."""
    return SnapTarget.open(snap, base, host)


Progress = Callable[[int, int, str], None]
"""Called as ``progress(n, total, what)`` before the n-th item of a batch (1-based)."""

__all__ = ["Program", "Progress", "RootTarget", "SnapTarget", "Target", "open_root",
           "open_snap"]
