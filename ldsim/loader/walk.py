"""The breadth-first walk both loaders share, and the hooks each flavour fills in.

Both glibc (``elf/dl-deps.c``) and musl (``load_deps`` in ``ldso/dynlink.c``) walk a work
list from the main program onwards, resolve each object's DT_NEEDED in dynamic-section
order, and append each newly loaded object at the tail. What differs (how a name is
matched and searched, which files are acceptable, what preloads see, where the interpreter
is listed) is each model's business.
"""

from __future__ import annotations

from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.fs.view import View
from ldsim.loader.probe import FileCache
from ldsim.result import LoadedObject, LoadError, Resolution, Unresolved, Via


class Abort(Exception):
    """A hard rejection: the real loader stops the whole program."""

    def __init__(self, error: LoadError) -> None:
        super().__init__(error.loader_message)
        self.error = error


class Walk:
    """Template for one run: set up, preload, breadth-first over DT_NEEDED, finish."""

    flavour = ""

    def __init__(self, view: View, env: LoaderEnv, files: FileCache | None = None) -> None:
        self.view = view
        self.env = env
        self.files = files or FileCache(view)

    def run(self, exe_path: str, exe_facts: ElfFacts) -> Resolution:
        self.res = Resolution(root=self.view.name, loader=self.flavour, executable=exe_path,
                              interpreter=exe_facts.interp)
        self.expected = exe_facts.ident
        real_exe = self.view.resolve(exe_path, cwd=self.env.cwd)
        self.main = LoadedObject(0, exe_path, exe_path, real_exe, Via.EXECUTABLE, None,
                                 exe_facts, self.main_origin(exe_path, real_exe))
        self.chain: list[LoadedObject | Unresolved] = [self.main]
        self.search_list: list[LoadedObject] = [self.main]
        self.res.static = exe_facts.interp is None and not exe_facts.needed
        try:
            self.start()
            i = 0
            while i < len(self.search_list):
                obj = self.search_list[i]
                i += 1
                if obj.facts is None:
                    continue
                for name in obj.facts.needed:
                    self.needed(obj, name)
        except Abort as abort:
            self.res.error = abort.error
        self.res.link_map = self.finish()
        return self.res

    # -- hooks -------------------------------------------------------------------------
    def main_origin(self, exe_path: str, real_exe: str) -> str | None:
        raise NotImplementedError

    def start(self) -> None:
        """Interpreter and preloads, before the main program's dependencies."""
        raise NotImplementedError

    def needed(self, requester: LoadedObject, name: str) -> None:
        raise NotImplementedError

    def finish(self) -> list[LoadedObject | Unresolved]:
        raise NotImplementedError

    # -- shared bookkeeping ------------------------------------------------------------
    def add_object(self, obj: LoadedObject) -> LoadedObject:
        self.chain.append(obj)
        self.search_list.append(obj)
        return obj

    def abort(self, name: str, path: str | None, requester: LoadedObject | None, reason: str,
              message: str) -> None:
        raise Abort(LoadError(name, path, requester, reason, message))

    @staticmethod
    def number(chain: list[LoadedObject | Unresolved]) -> list[LoadedObject | Unresolved]:
        for idx, entry in enumerate(e for e in chain if isinstance(e, LoadedObject)):
            entry.index = idx
        return chain
