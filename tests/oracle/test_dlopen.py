"""``ldsim explain --dlopen`` / ``--dlopen-add`` against real dlopen() calls in a chroot.

Each case builds a root with a program and a calling library that both *declares* its dlopen
calls (an ELF dlopen metadata note, written with systemd's ``ELF_NOTE_DLOPEN``) and *makes*
them (``dlopen(NAME, RTLD_NOW)``, the alternatives in order, the first that loads wins), then
really runs the program (``rootfs-fixtures/dlopenroot.py``). The program prints, per call and
alternative, ``OK`` with the object's ``l_name`` (``dlinfo(RTLD_DI_LINKMAP)``) or dlerror(),
then the final link map (``dl_iterate_phdr``); glibc's ``LD_DEBUG=libs,files`` says where each
request searched and what it mapped. ldsim learns the calls from the note alone (or from
``--dlopen-add``) and must agree: each ``dlopen`` entry's status, name, path, tried names and
reason, the objects it marks ``dlopen``, the final link map and, for glibc, the
``LD_DEBUG=libs`` lines of every dlopen request (``trail_lines`` of the dlopen edge).

What the real loaders do, pinned here (glibc 2.36, musl 1.2.3):

* glibc searches a dlopen like a DT_NEEDED of the caller: the caller's RPATH, then its
  loaders' RPATH up to the program's (the program's RPATH applies to a library without
  either), LD_LIBRARY_PATH, the caller's RUNPATH, the cache, the default directories. A caller
  with RUNPATH gets no RPATH at all, not even the program's; the program's RUNPATH never
  applies to a library's dlopen.
* glibc reuses a loaded object whose name or SONAME is the name (no request, no new object).
* glibc unloads everything a failed dlopen mapped (a dependency that loaded too).
* musl searches every dlopen from the main program (``load_library(file, head)``): the
  caller's RPATH plays no part; LD_LIBRARY_PATH, the program's RPATH, the system path.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlopenroot as dr
import glibcroot
import muslroot
import pytest
from dlopenroot import Note
from glibcroot import Root

pytestmark = pytest.mark.oracle

NOT_FOUND = "cannot open shared object file: No such file or directory"
VDSO_NAMES = frozenset({"", "linux-vdso.so.1"})


@pytest.fixture
def groot(tmp_path: Path) -> Root:
    """An x86-64 glibc root (the program and libraries are built by this machine's gcc)."""
    root = Root(tmp_path / "root")
    root.mkdir("/w", "/opt/a", "/opt/p", "/opt/l", "/opt/m")
    return root


@dataclass
class Run:
    """One real run of a program next to ldsim's answer for it."""

    real: glibcroot.ProgramResult
    out: dr.ProgramOutput
    doc: dict[str, Any]
    sim: glibcroot.LdsimResult
    initial: list[str]
    """The real LD_DEBUG trail of the initial load."""
    requests: list[dr.DebugRequest]
    """The real requests after the initial load (glibc; empty for musl)."""

    def header(self) -> str:
        return (f"$ {shlex.join(self.real.argv)}  [rc={self.real.status}]\n"
                f"{_indent(self.real.stdout)}\n$ {shlex.join(self.sim.argv)}  "
                f"[rc={self.sim.status}]")

    def entries(self, sources: Collection[str] = ("note", "user")) -> list[dict[str, Any]]:
        return [d for d in self.doc.get("dlopen") or [] if d.get("source") in sources]

    def entry(self, i: int, sources: Collection[str] = ("note", "user")) -> dict[str, Any]:
        return self.entries(sources)[i]

    def dlopened(self) -> list[str]:
        return [str(o["path"]) for o in self.doc["objects"] if o.get("dlopen")]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines()) or "  (nothing)"


def _sim(root: Root, exe: str, env: Mapping[str, str], args: Sequence[str]
         ) -> tuple[glibcroot.LdsimResult, dict[str, Any]]:
    extra = list(args) or ["--dlopen"]
    sim = glibcroot.run_ldsim(root, exe, *glibcroot.env_args(env), *extra)
    assert sim.doc is not None, f"ldsim printed no JSON:\n{sim.stdout}\n{sim.stderr}"
    return sim, sim.doc


def run_glibc(root: Root, exe: str = "/bin/exe", *, env: Mapping[str, str] | None = None,
              args: Sequence[str] = ()) -> Run:
    env = dict(env or {})
    real = glibcroot.run_program(root, exe, env={"LD_DEBUG": "libs,files", **env})
    out = dr.parse_output(real.stdout)
    assert real.status == 0 and not out.other, (real.argv, real.stdout, real.stderr[-2000:])
    initial, requests = dr.split_debug(real.stderr)
    sim, doc = _sim(root, exe, env, args)
    return Run(real, out, doc, sim, initial, requests)


def real_status(run: Run, call: int) -> str:
    """The ``dlopen`` status the real glibc run shows for call ``call``: ``loaded`` when a
    request of the call mapped the object, ``already_loaded`` when the handle came with no
    request, ``missing`` when every alternative was not found, else ``failed``."""
    name, path = run.out.outcome(call)
    if path is not None:
        mapped = any(r.dlopen and r.name == name and r.mapped and r.path == path
                     for r in run.requests)
        return "loaded" if mapped else "already_loaded"
    absent = all(a.error in (f"{a.name}: {NOT_FOUND}",
                             f"Error loading shared library {a.name}: No such file or directory")
                 for a in run.out.calls[call])
    return "missing" if absent else "failed"


def check_calls(run: Run, sources: Collection[str] = ("note", "user"), *,
                statuses: Sequence[str]) -> None:
    """Each real call against ldsim's ``dlopen`` entry of the same rank (of ``sources``):
    tried names, the alternative that loaded, its path, the status (``statuses``, what the
    case shows) and, on failure, the reason (the last dlerror)."""
    entries = run.entries(sources)
    problems: list[str] = []
    if len(entries) != len(run.out.calls):
        problems.append(f"{len(run.out.calls)} real calls, {len(entries)} ldsim entries")
    for i, (attempts, entry) in enumerate(zip(run.out.calls, entries, strict=False)):
        name, path = run.out.outcome(i)
        want = {
            "tried": [a.name for a in attempts],
            "name": name,
            "path": path,
            "status": statuses[i],
            "reason": None if path is not None else run.out.last_error(i),
        }
        got = {k: entry.get(k) for k in want}
        if got != want:
            problems.append(f"call {i}: real {want}\n      ldsim {got}")
    if problems:
        raise AssertionError("ldsim's dlopen entries disagree with the real calls:\n  "
                             + "\n  ".join(problems) + f"\n{run.header()}")


def check_link_map(run: Run, *, ordered: bool = True) -> None:
    """The real link map after the calls (``dl_iterate_phdr``, without the program and the
    vDSO) against ldsim's ``objects[1:]`` (in order for glibc)."""
    real = [n for n in run.out.link_map if n not in VDSO_NAMES and n != run.doc["executable"]]
    sim = [str(o["path"]) for o in run.doc["objects"][1:]]
    same = real == sim if ordered else sorted(real) == sorted(sim)
    assert same, f"link maps differ:\n  real  {real}\n  ldsim {sim}\n{run.header()}"


def check_glibc_requests(run: Run, sources: Collection[str] = ("note", "user"), *,
                         dlopen_only: bool = False) -> None:
    """The real requests after the initial load against ldsim's edges (name, requester,
    ``LD_DEBUG=libs`` lines, what was mapped); ``dlopen_only``: the dlopen requests only
    (not the DT_NEEDED requests of the objects they mapped). The initial load's trail too."""
    real = [r for r in run.requests if r.dlopen or not dlopen_only]
    sim = [r for r in dr.sim_requests(run.doc, sources) if r.dlopen or not dlopen_only]

    def key(r: dr.DebugRequest) -> tuple[str, str, bool, list[str], str | None]:
        return (r.name, r.by, r.dlopen, r.lines, r.path)

    assert run.initial == dr.initial_trail(run.doc), f"the initial load differs\n{run.header()}"
    assert [key(r) for r in real] == [key(r) for r in sim], (
        f"the dlopen requests differ\n-- real LD_DEBUG:\n{dr.describe_requests(real)}\n"
        f"-- ldsim:\n{dr.describe_requests(sim)}\n{run.header()}"
    )


def check_all(run: Run, *, statuses: Sequence[str], dlopen_only: bool = False) -> None:
    """Everything a glibc run can be compared on (``statuses``: of the calls, checked against
    the real run's LD_DEBUG first)."""
    derived = [real_status(run, i) for i in range(len(run.out.calls))]
    assert derived == list(statuses), f"the real run shows {derived}\n{run.header()}"
    check_calls(run, statuses=statuses)
    check_link_map(run)
    check_glibc_requests(run, dlopen_only=dlopen_only)
    # the objects ldsim marks "dlopen": those the real requests after the initial load
    # mapped and the process still has
    new = list(dict.fromkeys(r.path for r in run.requests
                             if r.mapped and r.path in run.out.link_map))
    assert run.dlopened() == new, f"ldsim's dlopen objects {run.dlopened()}, real {new}"


# -- building blocks -----------------------------------------------------------------------------


def caller_lib(root: Root, calls: Sequence[Note], *, rpath: str | None = None,
               runpath: str | None = None) -> None:
    """``/w/libcaller.so``: declares ``calls`` in notes and makes them in
    ``dlopen_calls()``."""
    source = dr.dlopen_source("dlopen_calls", [n.sonames for n in calls], calls)
    root.mklib("/w/libcaller.so", "libcaller.so", rpath=rpath, runpath=runpath,
               source=source)


def program(root: Root, *, link: Sequence[str] = ("/w/libcaller.so",),
            rpath: str | None = "/w", runpath: str | None = None,
            needed: Sequence[str] = ()) -> None:
    """``/bin/exe``: calls ``dlopen_calls()`` of ``link``'s library, prints the link map."""
    root.mkexe("/bin/exe", link=link, rpath=rpath, runpath=runpath, needed=needed,
               source=dr.program_source("dlopen_calls"))


FOO = Note("foo", "required", ("libfoo.so.1",))
BAR = Note("bar", "recommended", ("libbar.so.1",))


# -- glibc ---------------------------------------------------------------------------------------


def test_caller_rpath_then_the_programs(groot: Root) -> None:
    """The caller's DT_RPATH first (libfoo is in both), then the program's (libbar)."""
    groot.mklib("/opt/a/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/p/libbar.so.1", "libbar.so.1")
    caller_lib(groot, [FOO, BAR], rpath="/opt/a")
    program(groot, rpath="/w:/opt/p")
    run = run_glibc(groot)
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/a/libfoo.so.1")
    assert run.out.outcome(1) == ("libbar.so.1", "/opt/p/libbar.so.1")
    check_all(run, statuses=["loaded", "loaded"])
    assert [(e["caller"], e["via"], e["feature"], e["priority"]) for e in run.entries()] == [
        ("/w/libcaller.so", "rpath", "foo", "required"),
        ("/w/libcaller.so", "rpath", "bar", "recommended"),
    ]
    assert run.dlopened() == ["/opt/a/libfoo.so.1", "/opt/p/libbar.so.1"]
    assert [r.by for r in run.requests] == ["/w/libcaller.so"] * 2


def test_caller_runpath_and_no_rpath_at_all(groot: Root) -> None:
    """A caller with DT_RUNPATH: its RUNPATH serves libfoo (also in the program's RPATH
    directory); libbar, only in the program's RPATH directory, is not found: with RUNPATH
    the program's RPATH is not searched either (``_dl_map_object``)."""
    groot.mklib("/opt/a/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/p/libbar.so.1", "libbar.so.1")
    caller_lib(groot, [FOO, BAR], runpath="/opt/a")
    program(groot, rpath="/w:/opt/p")
    run = run_glibc(groot)
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/a/libfoo.so.1")
    assert run.out.calls[1] == [dr.Attempt("libbar.so.1", None, f"libbar.so.1: {NOT_FOUND}")]
    check_all(run, statuses=["loaded", "missing"])
    assert run.entry(0)["via"] == "runpath"
    assert run.dlopened() == ["/opt/a/libfoo.so.1"]


@pytest.mark.parametrize(("tag", "found"), [("rpath", "/opt/p/libfoo.so.1"), ("runpath", None)],
                         ids=["program-rpath", "program-runpath"])
def test_caller_with_neither(groot: Root, tag: str, found: str | None) -> None:
    """A caller with no RPATH and no RUNPATH: the program's RPATH applies (the caller's loader
    chain ends at the program), the program's RUNPATH does not."""
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    caller_lib(groot, [FOO])
    program(groot, **{tag: "/w:/opt/p"})
    run = run_glibc(groot)
    assert run.out.outcome(0) == (("libfoo.so.1", found) if found else (None, None))
    check_all(run, statuses=["loaded" if found else "missing"])
    assert run.entry(0)["via"] == ("rpath" if found else None)


def test_the_loaders_rpath_chain(groot: Root) -> None:
    """The caller (no RPATH) was loaded by libmid (RPATH /opt/m): libmid's RPATH is searched
    next, before the program's."""
    groot.mklib("/opt/m/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    caller_lib(groot, [FOO])
    groot.mklib("/w/libmid.so", "libmid.so", link=["/w/libcaller.so"], rpath="/opt/m",
                source="int dlopen_calls(void);\nint mid_calls(void){return dlopen_calls();}\n")
    groot.mkexe("/bin/exe", f"-Wl,-rpath-link,{groot.host('/w')}", link=["/w/libmid.so"],
                rpath="/w:/opt/p", source=dr.program_source("mid_calls"))
    assert groot.needed("/bin/exe") == ["libmid.so", "libc.so.6"]
    run = run_glibc(groot)
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/m/libfoo.so.1")
    check_all(run, statuses=["loaded"])
    assert run.entry(0)["via"] == "rpath"


@pytest.mark.parametrize(("tag", "where", "via"), [("rpath", "/opt/a", "rpath"),
                                                   ("runpath", "/opt/l", "ld_library_path")],
                         ids=["caller-rpath", "caller-runpath"])
def test_ld_library_path(groot: Root, tag: str, where: str, via: str) -> None:
    """LD_LIBRARY_PATH comes after the caller's RPATH and before its RUNPATH (libfoo is in
    both); libbar, only in the caller's list, is found there either way."""
    for d in ("/opt/a", "/opt/l"):
        groot.mklib(f"{d}/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/a/libbar.so.1", "libbar.so.1")
    caller_lib(groot, [FOO, BAR], **{tag: "/opt/a"})
    program(groot)
    run = run_glibc(groot, env={"LD_LIBRARY_PATH": "/opt/l"})
    assert run.out.outcome(0) == ("libfoo.so.1", f"{where}/libfoo.so.1")
    assert run.out.outcome(1) == ("libbar.so.1", "/opt/a/libbar.so.1")
    check_all(run, statuses=["loaded", "loaded"])
    assert [e["via"] for e in run.entries()] == [via, tag]


def test_already_loaded_by_name_and_by_soname(groot: Root) -> None:
    """Names the initial load already has: libqux.so.2 by its name, libfoo.so.1 by the
    SONAME of /opt/a/libfoo.so (no file libfoo.so.1 exists anywhere). No request, no new
    object; the handle is the loaded object."""
    groot.mklib("/opt/a/libfoo.so", "libfoo.so.1")
    groot.mklib("/opt/a/libqux.so.2", "libqux.so.2")
    caller_lib(groot, [FOO, Note("qux", "suggested", ("libqux.so.2",))])
    program(groot, rpath="/w:/opt/a", needed=["libfoo.so", "libqux.so.2"])
    run = run_glibc(groot)
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/a/libfoo.so")
    assert run.out.outcome(1) == ("libqux.so.2", "/opt/a/libqux.so.2")
    assert run.requests == []
    check_all(run, statuses=["already_loaded", "already_loaded"])
    assert run.dlopened() == []
    assert not [e for e in run.doc["edges"] if e.get("kind") == "dlopen" and e["trail"]]


def test_alternatives_first_missing(groot: Root) -> None:
    """Alternatives in order: libfoo.so.2 is missing, libfoo.so.1 loads, libfoo.so.0 (there
    too) is never tried."""
    groot.mklib("/opt/a/libfoo.so.1", "libfoo.so.1")
    groot.mklib("/opt/a/libfoo.so.0", "libfoo.so.0")
    caller_lib(groot, [Note("foo", "required", ("libfoo.so.2", "libfoo.so.1", "libfoo.so.0"))],
               rpath="/opt/a")
    program(groot)
    run = run_glibc(groot)
    assert [a.name for a in run.out.calls[0]] == ["libfoo.so.2", "libfoo.so.1"]
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/a/libfoo.so.1")
    check_all(run, statuses=["loaded"])
    assert run.entry(0)["tried"] == ["libfoo.so.2", "libfoo.so.1"]


@pytest.fixture
def missing_dep(groot: Root) -> Root:
    """libfoo.so.1 needs libdep.so.1 (there) and libgone.so.3 (nowhere); a second call
    dlopens libdep.so.1 itself afterwards."""
    groot.mklib("/opt/a/libdep.so.1", "libdep.so.1")
    groot.mklib("/opt/a/libgone.so.3", "libgone.so.3")
    groot.mklib("/opt/a/libfoo.so.1", "libfoo.so.1",
                link=["/opt/a/libdep.so.1", "/opt/a/libgone.so.3"], rpath="/opt/a")
    groot.remove("/opt/a/libgone.so.3")
    assert groot.needed("/opt/a/libfoo.so.1") == ["libdep.so.1", "libgone.so.3", "libc.so.6"]
    caller_lib(groot, [FOO, Note("dep", "suggested", ("libdep.so.1",))], rpath="/opt/a")
    program(groot)
    return groot


def test_a_missing_dependency_fails_the_dlopen(missing_dep: Root) -> None:
    """The dlopen fails with the dependency's error; whatever it mapped (libfoo itself and
    libdep, mapped before libgone was looked for) is unloaded, so the second call maps
    libdep again."""
    run = run_glibc(missing_dep)
    assert run.out.calls[0] == [dr.Attempt("libfoo.so.1", None, f"libgone.so.3: {NOT_FOUND}")]
    assert run.out.outcome(1) == ("libdep.so.1", "/opt/a/libdep.so.1")
    assert [(r.name, r.dlopen, r.path) for r in run.requests] == [
        ("libfoo.so.1", True, "/opt/a/libfoo.so.1"),
        ("libdep.so.1", False, "/opt/a/libdep.so.1"),
        ("libgone.so.3", False, None),
        ("libdep.so.1", True, "/opt/a/libdep.so.1"),
    ], dr.describe_requests(run.requests)
    check_all(run, statuses=["failed", "loaded"], dlopen_only=True)
    foo = run.entry(0)
    assert foo["path"] is None and foo["reason"] == f"libgone.so.3: {NOT_FOUND}"
    assert "/opt/a/libfoo.so.1" not in [o["path"] for o in run.doc["objects"]]
    assert run.dlopened() == ["/opt/a/libdep.so.1"]
    edge = next(e for e in run.doc["edges"] if e.get("kind") == "dlopen")
    assert edge["to"] is None and edge["error"] == f"libgone.so.3: {NOT_FOUND}"
    assert edge["trail"][-1] == {"path": "/opt/a/libfoo.so.1", "source": "RPATH from file "
                                 "/w/libcaller.so", "outcome": "found"}


def test_a_failed_dlopen_keeps_the_searches_it_made(missing_dep: Root) -> None:
    run = run_glibc(missing_dep)
    check_glibc_requests(run)


def test_dlopen_add(groot: Root) -> None:
    """``--dlopen-add`` for a program with no note (and the names nowhere in it as strings):
    the program itself calls dlopen, libfoo.so.1 missing, libfoo.so.0 found in its RPATH."""
    groot.mklib("/w/libfoo.so.0", "libfoo.so.0")
    groot.mkexe("/bin/exe", rpath="/w", source=dr.program_source(
        None, [["libfoo.so.1", "libfoo.so.0"]], hidden=True))
    run = run_glibc(groot, args=["--dlopen-add", "libfoo.so.1,libfoo.so.0"])
    assert run.out.outcome(0) == ("libfoo.so.0", "/w/libfoo.so.0")
    assert [d["source"] for d in run.doc["dlopen"]] == ["user"]
    check_all(run, statuses=["loaded"])
    entry = run.entry(0)
    assert (entry["caller"], entry["priority"], entry["via"]) == (None, "required", "rpath")
    assert [r.by for r in run.requests] == ["/bin/exe"] * 2


def test_dlopen_add_by_object(groot: Root) -> None:
    """``--dlopen-add OBJECT=NAME``: the call is the library's (its RUNPATH serves it)."""
    groot.mklib("/opt/a/libfoo.so.1", "libfoo.so.1")
    source = dr.dlopen_source("dlopen_calls", [["libfoo.so.1"]], hidden=True)
    groot.mklib("/w/libcaller.so", "libcaller.so", runpath="/opt/a", source=source)
    program(groot)
    run = run_glibc(groot, args=["--dlopen-add", "/w/libcaller.so=libfoo.so.1"])
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/a/libfoo.so.1")
    assert [d["source"] for d in run.doc["dlopen"]] == ["user"]
    check_all(run, statuses=["loaded"])
    assert (run.entry(0)["caller"], run.entry(0)["via"]) == ("/w/libcaller.so", "runpath")


def test_dlopen_add_on_a_program_whose_strings_name_the_library(groot: Root) -> None:
    """As :func:`test_dlopen_add`, but the program has the names as plain strings (as any
    real consumer has), which ldsim also takes as dlopen hints. The program makes one call,
    which maps libfoo.so.0: the added call must be ``loaded``, and the hints that name the
    same libraries are not calls of their own (a hint never takes a name a real call makes)."""
    groot.mklib("/w/libfoo.so.0", "libfoo.so.0")
    groot.mkexe("/bin/exe", rpath="/w", source=dr.program_source(
        None, [["libfoo.so.1", "libfoo.so.0"]]))
    run = run_glibc(groot, args=["--dlopen-add", "libfoo.so.1,libfoo.so.0"])
    assert run.out.outcome(0) == ("libfoo.so.0", "/w/libfoo.so.0")
    assert real_status(run, 0) == "loaded"
    assert [d["source"] for d in run.doc["dlopen"]] == ["user"]
    check_calls(run, ("user",), statuses=["loaded"])


# -- musl ----------------------------------------------------------------------------------------

MUSL_SYSTEM_DIR = "/usr/lib/x86_64-linux-musl"


@pytest.fixture
def mroot(tmp_path: Path) -> muslroot.MuslRoot:
    reason = muslroot.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    root = muslroot.MuslRoot(tmp_path / "root")
    root.mkdir("/opt/a", "/opt/p", "/opt/l")
    return root


def run_musl(root: muslroot.MuslRoot, *, env: Mapping[str, str] | None = None) -> Run:
    env = dict(env or {})
    real = dr.run_musl_program(root, "/bin/exe", env=env)
    out = dr.parse_output(real.stdout)
    assert real.status == 0 and not out.other, (real.argv, real.stdout, real.stderr)
    sim, doc = _sim(root, "/bin/exe", env, ["--dlopen"])
    assert doc["loader"] == "musl"
    return Run(real, out, doc, sim, [], [])


def musl_case(root: muslroot.MuslRoot, calls: Sequence[Note], *,
              program_rpath: str | None, runpath: bool = False) -> None:
    """libcaller (DT_RPATH /opt/a) in the system directory makes ``calls``; the program
    links it and has ``program_rpath`` (or no RPATH) as DT_RPATH, or as DT_RUNPATH with
    ``runpath``."""
    source = dr.dlopen_source("dlopen_calls", [n.sonames for n in calls], calls)
    root.mmklib(f"{MUSL_SYSTEM_DIR}/libcaller.so", "libcaller.so", rpath="/opt/a",
                source=source)
    args = [f"-L{root.host(MUSL_SYSTEM_DIR)}", "-l:libcaller.so"]
    if program_rpath is not None:
        dtags = "--enable-new-dtags" if runpath else "--disable-new-dtags"
        args += [f"-Wl,{dtags}", f"-Wl,-rpath,{program_rpath}"]
    root.compile_with("musl-gcc", "/bin/exe", dr.program_source("dlopen_calls"), *args)


def test_musl_ignores_the_callers_rpath(mroot: muslroot.MuslRoot) -> None:
    """libfoo is only in the caller's RPATH directory, and the program has no RPATH: musl's
    dlopen searches from the main program, so it is not found."""
    mroot.mmklib("/opt/a/libfoo.so.1", "libfoo.so.1")
    mroot.mmklib(f"{MUSL_SYSTEM_DIR}/libbar.so.1", "libbar.so.1")
    musl_case(mroot, [FOO, BAR], program_rpath=None)
    run = run_musl(mroot)
    assert run.out.calls[0] == [dr.Attempt(
        "libfoo.so.1", None, "Error loading shared library libfoo.so.1: No such file or directory")]
    assert run.out.outcome(1) == ("libbar.so.1", f"{MUSL_SYSTEM_DIR}/libbar.so.1")
    check_calls(run, statuses=["missing", "loaded"])
    check_link_map(run, ordered=False)
    assert run.entry(0)["caller"] == f"{MUSL_SYSTEM_DIR}/libcaller.so"
    assert run.entry(1)["via"] == "default"
    assert run.dlopened() == [f"{MUSL_SYSTEM_DIR}/libbar.so.1"]


def test_musl_program_rpath_and_ld_library_path(mroot: muslroot.MuslRoot) -> None:
    """The program's RPATH serves a library's dlopen (libfoo, also in the caller's RPATH
    directory, comes from the program's); LD_LIBRARY_PATH comes first (libbar)."""
    for d in ("/opt/a", "/opt/p"):
        mroot.mmklib(f"{d}/libfoo.so.1", "libfoo.so.1")
    for d in ("/opt/p", "/opt/l"):
        mroot.mmklib(f"{d}/libbar.so.1", "libbar.so.1")
    musl_case(mroot, [FOO, BAR], program_rpath="/opt/p")
    run = run_musl(mroot, env={"LD_LIBRARY_PATH": "/opt/l"})
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/p/libfoo.so.1")
    assert run.out.outcome(1) == ("libbar.so.1", "/opt/l/libbar.so.1")
    check_calls(run, statuses=["loaded", "loaded"])
    check_link_map(run, ordered=False)
    assert [e["via"] for e in run.entries()] == ["rpath", "ld_library_path"]


def test_musl_program_runpath(mroot: muslroot.MuslRoot) -> None:
    """musl reads DT_RUNPATH like DT_RPATH: the program's RUNPATH serves a library's dlopen."""
    mroot.mmklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    musl_case(mroot, [FOO], program_rpath="/opt/p", runpath=True)
    run = run_musl(mroot)
    assert run.out.outcome(0) == ("libfoo.so.1", "/opt/p/libfoo.so.1")
    check_calls(run, statuses=["loaded"])
    check_link_map(run, ordered=False)
    assert run.entry(0)["via"] == "runpath"


def test_musl_already_loaded_and_alternatives(mroot: muslroot.MuslRoot) -> None:
    """A name the process has loaded is that object (musl matches the short name it was
    searched by); alternatives in order, the first that loads wins."""
    mroot.mmklib(f"{MUSL_SYSTEM_DIR}/libfoo.so.1", "libfoo.so.1")
    musl_case(mroot, [Note("self", "required", ("libcaller.so",)),
                      Note("foo", "required", ("libfoo.so.2", "libfoo.so.1"))],
              program_rpath=None)
    run = run_musl(mroot)
    assert run.out.outcome(0) == ("libcaller.so", f"{MUSL_SYSTEM_DIR}/libcaller.so")
    assert [a.name for a in run.out.calls[1]] == ["libfoo.so.2", "libfoo.so.1"]
    assert run.out.outcome(1) == ("libfoo.so.1", f"{MUSL_SYSTEM_DIR}/libfoo.so.1")
    check_calls(run, statuses=["already_loaded", "loaded"])
    check_link_map(run, ordered=False)
    assert run.entry(1)["tried"] == ["libfoo.so.2", "libfoo.so.1"]


def test_the_initial_load_is_resolved_once(groot: Root, monkeypatch: pytest.MonkeyPatch) -> None:
    """The calls the initial load declares are made in the run that loaded it (the load is
    not resolved once to read the notes, then again to make the calls); an object a call
    loads that declares calls of its own takes a second run, which starts over (declared
    calls before hints). Same documents as the real loader's (check_all)."""
    import ldsim
    from ldsim.loader.walk import Walk

    groot.mklib("/opt/p/libbar.so.1", "libbar.so.1")
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1")
    caller_lib(groot, [FOO], rpath="/opt/p")
    program(groot, rpath="/w:/opt/p")
    runs: list[str] = []
    real_run = Walk.run

    def counted(self: Walk, exe_path: str, *args: Any, **kwargs: Any) -> Any:
        runs.append(exe_path)
        return real_run(self, exe_path, *args, **kwargs)

    monkeypatch.setattr(Walk, "run", counted)
    expl = ldsim.explain(ldsim.open_root(str(groot.path)), "/bin/exe", dlopen=True)
    assert runs == ["/bin/exe"]
    assert [(d.status.value, d.name) for d in expl.resolution.dlopens] == [
        ("loaded", "libfoo.so.1")]
    run = run_glibc(groot)
    check_all(run, statuses=["loaded"])

    # libfoo itself declares a dlopen of libbar: a second round
    source = dr.dlopen_source("dlopen_calls", [BAR.sonames], [BAR])
    groot.mklib("/opt/p/libfoo.so.1", "libfoo.so.1", source=source)
    runs.clear()
    expl = ldsim.explain(ldsim.open_root(str(groot.path)), "/bin/exe", dlopen=True)
    assert runs == ["/bin/exe", "/bin/exe"]
    assert [(d.status.value, d.name) for d in expl.resolution.dlopens] == [
        ("loaded", "libfoo.so.1"), ("loaded", "libbar.so.1")]
