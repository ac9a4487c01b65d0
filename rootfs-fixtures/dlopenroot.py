"""dlopen() against the real loader: programs that really call ``dlopen`` in a chroot, and
what they and the loader say about it, next to ``ldsim explain --dlopen``.

The oracle of ldsim's dlopen model (``explain --dlopen`` / ``--dlopen-add``): the roots are
:class:`glibcroot.Root` and :class:`muslroot.MuslRoot`; this module only adds the C that calls
``dlopen`` and declares it, and the parsing of what comes out.

The C
    :data:`NOTE_MACROS` is systemd's ``ELF_NOTE_DLOPEN`` (``src/basic/dlfcn-util.h``): a note
    of owner ``FDO``, type ``0x407c0c0a`` in the section ``.note.dlopen``, its descriptor the
    NUL-terminated JSON array ``[{"feature":..,"description":..,"priority":..,"soname":[..]}]``.
    :func:`dlopen_source` writes a translation unit with such notes (:class:`Note`) and a
    function that makes dlopen calls the way a real consumer does (systemd's
    ``dlopen_many_sym_or_warn``): each call tries its alternatives in order with
    ``dlopen(NAME, RTLD_NOW)``, the first that loads wins. :func:`program_source` is a
    ``main`` that calls such a function (its own or a library's), then prints the link map.

What the program prints (stdout, parsed by :func:`parse_output`)
    * ``CALL N`` before the N-th call (0-based);
    * ``TRY NAME OK PATH`` when ``dlopen(NAME)`` returned a handle, PATH being the object's
      ``l_name`` from ``dlinfo(RTLD_DI_LINKMAP)``: the path the loader opened it by (glibc's
      link map, musl's ``struct dso``, whose first fields are those of ``struct link_map``);
    * ``TRY NAME ERR DLERROR`` when it returned NULL;
    * ``MAP NAME`` for every object of ``dl_iterate_phdr`` after the calls, in order (the
      main program's name is empty under glibc; the vDSO is there too).

What glibc's loader says (``LD_DEBUG=libs,files`` on stderr, :func:`split_debug`)
    After ``transferring control:`` (the end of the initial load) every ``_dl_map_object``
    request that got past the already-loaded check starts with ``file=NAME [0];  dynamically
    loaded by CALLER [0]`` (a dlopen: CALLER is the calling object's ``l_name``) or ``file=NAME
    [0];  needed by OBJ [0]`` (a DT_NEEDED of a dlopen'd object); its ``search path=``,
    ``search cache=`` and ``trying file=`` lines follow (:func:`glibcroot.trail_of_debug`'s
    lines), and ``file=NAME [0];  generating link map`` when a new object was mapped. A name
    already loaded prints no request at all.

Running
    glibc: :func:`glibcroot.run_program` (``env -i`` in the chroot). musl:
    :func:`run_musl_program`, through ``muslroot``'s static launcher (a musl root has no
    ``env``), so ``LD_LIBRARY_PATH`` is set inside the chroot only.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import glibcroot
import muslroot

NOTE_MACROS: Final = r"""
#include <stdint.h>

#define XCONCATENATE(x, y) x ## y
#define CONCATENATE(x, y) XCONCATENATE(x, y)
#define UNIQ_T(x, uniq) CONCATENATE(__unique_prefix_, CONCATENATE(x, uniq))
#define UNIQ __COUNTER__

#define ELF_NOTE_DLOPEN_VENDOR "FDO"
#define ELF_NOTE_DLOPEN_TYPE UINT32_C(0x407c0c0a)
#define ELF_NOTE_DLOPEN_PRIORITY_REQUIRED "required"
#define ELF_NOTE_DLOPEN_PRIORITY_RECOMMENDED "recommended"
#define ELF_NOTE_DLOPEN_PRIORITY_SUGGESTED "suggested"

#define _ELF_NOTE_DLOPEN(json, variable_name)                              \
        __attribute__((used, section(".note.dlopen"))) _Alignas(sizeof(uint32_t)) static const struct { \
                struct {                                                   \
                        uint32_t n_namesz, n_descsz, n_type;               \
                } nhdr;                                                    \
                char name[sizeof(ELF_NOTE_DLOPEN_VENDOR)];                 \
                _Alignas(sizeof(uint32_t)) char dlopen_json[sizeof(json)]; \
        } variable_name = {                                                \
                .nhdr = {                                                  \
                        .n_namesz = sizeof(ELF_NOTE_DLOPEN_VENDOR),        \
                        .n_descsz = sizeof(json),                          \
                        .n_type   = ELF_NOTE_DLOPEN_TYPE,                  \
                },                                                         \
                .name = ELF_NOTE_DLOPEN_VENDOR,                            \
                .dlopen_json = json,                                       \
        }

#define _SONAME_ARRAY1(a) "[\""a"\"]"
#define _SONAME_ARRAY2(a, b) "[\""a"\",\""b"\"]"
#define _SONAME_ARRAY3(a, b, c) "[\""a"\",\""b"\",\""c"\"]"
#define _SONAME_ARRAY_GET(_1,_2,_3,NAME,...) NAME
#define _SONAME_ARRAY(...) _SONAME_ARRAY_GET(__VA_ARGS__, _SONAME_ARRAY3, _SONAME_ARRAY2, _SONAME_ARRAY1)(__VA_ARGS__)

#define ELF_NOTE_DLOPEN(feature, description, priority, ...) \
        _ELF_NOTE_DLOPEN("[{\"feature\":\"" feature "\",\"description\":\"" description "\",\"priority\":\"" priority "\",\"soname\":" _SONAME_ARRAY(__VA_ARGS__) "}]", UNIQ_T(s, UNIQ))
"""
"""systemd's note macros (``ELF_NOTE_DLOPEN``; soname arrays of 1 to 3 names)."""

_DRIVER: Final = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>

/* One dlopen call: each alternative in turn, the first that loads wins. */
static int dlopen_alternatives(int call, const char *const *names) {
    printf("CALL %d\n", call);
    for (int i = 0; names[i] != NULL; i++) {
        void *handle = dlopen(names[i], RTLD_NOW);
        if (handle != NULL) {
            struct link_map *map = NULL;
            const char *path = "?";
            if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != NULL)
                path = map->l_name;
            printf("TRY %s OK %s\n", names[i], path);
            fflush(stdout);
            return 0;
        }
        printf("TRY %s ERR %s\n", names[i], dlerror());
        fflush(stdout);
    }
    return 1;
}
"""

_UNHIDE: Final = r"""
#include <string.h>
/* The alternatives of one call, each stored reversed: turned round, then dlopen'ed. */
static int dlopen_hidden(int call, const char *const *hidden) {
    static char buffers[8][256];
    const char *names[9];
    int n = 0;
    for (; hidden[n] != NULL && n < 8; n++) {
        size_t len = strlen(hidden[n]);
        for (size_t i = 0; i < len && i < 255; i++)
            buffers[n][i] = hidden[n][len - 1 - i];
        buffers[n][len < 255 ? len : 255] = 0;
        names[n] = buffers[n];
    }
    names[n] = NULL;
    return dlopen_alternatives(call, names);
}
"""

_MAP_DUMP: Final = r"""
static int print_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    printf("MAP %s\n", info->dlpi_name ? info->dlpi_name : "");
    return 0;
}
"""

_C_STRING_UNSAFE: Final = re.compile(r'["\\\n]')


@dataclass(frozen=True)
class Note:
    """One ``ELF_NOTE_DLOPEN(feature, description, priority, sonames...)``."""

    feature: str
    priority: str
    sonames: tuple[str, ...]
    description: str = "dlopen oracle"

    def c(self) -> str:
        for text in (self.feature, self.priority, self.description, *self.sonames):
            if _C_STRING_UNSAFE.search(text):
                raise ValueError(f"not a plain C string: {text!r}")
        if not 1 <= len(self.sonames) <= 3:
            raise ValueError("1 to 3 sonames (the macros' _SONAME_ARRAY1..3)")
        names = ", ".join(f'"{s}"' for s in self.sonames)
        return (f'ELF_NOTE_DLOPEN("{self.feature}", "{self.description}", '
                f'"{self.priority}", {names});\n')


def _c_names(names: Sequence[str]) -> str:
    for n in names:
        if _C_STRING_UNSAFE.search(n):
            raise ValueError(f"not a plain C string: {n!r}")
    return "{" + ", ".join(f'"{n}"' for n in names) + ", NULL}"


def dlopen_source(function: str, calls: Sequence[Sequence[str]],
                  notes: Sequence[Note] = (), *, hidden: bool = False) -> str:
    """C source of a translation unit with ``notes`` and ``int FUNCTION(void)``, which makes
    ``calls`` in order (each a list of alternatives) and returns how many failed.

    ``hidden``: the names are not in the file as strings (they are stored reversed and turned
    round at run time), so that nothing but a note or ``--dlopen-add`` tells ldsim about
    them (no dlopen *hints*)."""
    body = [_DRIVER, NOTE_MACROS, *(n.c() for n in notes)]
    if hidden:
        body.append(_UNHIDE)
    body += [f"int {function}(void) {{\n", "    int failed = 0;\n"]
    for i, names in enumerate(calls):
        if hidden:
            stored = [n[::-1] for n in names]
            body.append(f"    {{ static const char *const hidden[] = {_c_names(stored)};\n"
                        f"      failed += dlopen_hidden({i}, hidden); }}\n")
        else:
            body.append(f"    {{ static const char *const names[] = {_c_names(names)};\n"
                        f"      failed += dlopen_alternatives({i}, names); }}\n")
    body.append("    return failed;\n}\n")
    return "".join(body)


def program_source(function: str | None = "dlopen_calls",
                   calls: Sequence[Sequence[str]] = (), notes: Sequence[Note] = (), *,
                   hidden: bool = False) -> str:
    """C source of a program that calls ``int FUNCTION(void)`` (a library's, declared
    extern; ``None``: none), makes its own ``calls`` (as :func:`dlopen_source`, ``hidden``
    too), prints the link map (``MAP`` lines) and exits 0 (the ``TRY`` lines say what
    failed)."""
    parts = [dlopen_source("own_dlopen_calls", calls, notes, hidden=hidden), _MAP_DUMP]
    if function is not None:
        parts.append(f"int {function}(void);\n")
    parts.append("int main(void) {\n")
    if function is not None:
        parts.append(f"    {function}();\n")
    parts.append("    own_dlopen_calls();\n    fflush(stdout);\n"
                 "    dl_iterate_phdr(print_object, NULL);\n    return 0;\n}\n")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# What the program printed


@dataclass(frozen=True)
class Attempt:
    """One ``dlopen(name)`` of a call: ``path`` (``l_name``) when it loaded, else ``error``."""

    name: str
    path: str | None
    error: str | None


@dataclass
class ProgramOutput:
    calls: list[list[Attempt]] = field(default_factory=list)
    link_map: list[str] = field(default_factory=list)
    """``dl_iterate_phdr``'s names in order (main program and vDSO included)."""
    other: list[str] = field(default_factory=list)

    def outcome(self, call: int) -> tuple[str | None, str | None]:
        """``(the alternative that loaded, its path)`` of call ``call``, or ``(None, None)``."""
        for a in self.calls[call]:
            if a.path is not None:
                return a.name, a.path
        return None, None

    def last_error(self, call: int) -> str | None:
        errors = [a.error for a in self.calls[call] if a.error is not None]
        return errors[-1] if errors else None


def parse_output(stdout: str) -> ProgramOutput:
    out = ProgramOutput()
    for line in stdout.splitlines():
        if re.fullmatch(r"CALL \d+", line):
            out.calls.append([])
        elif (m := re.fullmatch(r"TRY (\S+) OK (.*)", line)) and out.calls:
            out.calls[-1].append(Attempt(m[1], m[2], None))
        elif (m := re.fullmatch(r"TRY (\S+) ERR (.*)", line)) and out.calls:
            out.calls[-1].append(Attempt(m[1], None, m[2]))
        elif line.startswith("MAP "):
            out.link_map.append(line[4:])
        elif line.strip():
            out.other.append(line)
    return out


# --------------------------------------------------------------------------------------------
# What glibc's LD_DEBUG=libs,files said


@dataclass
class DebugRequest:
    """One ``_dl_map_object`` request after the initial load (see the module docstring)."""

    name: str
    by: str
    dlopen: bool
    """``dynamically loaded by`` (a dlopen call), else ``needed by``."""
    lines: list[str] = field(default_factory=list)
    """Its ``search path=``/``search cache=``/``trying file=`` lines, without pid and indent."""
    mapped: bool = False

    @property
    def path(self) -> str | None:
        """The file that became the new object (the last ``trying file``, or the name itself
        when it has a slash), when one did."""
        if not self.mapped:
            return None
        tries = [line[len("trying file="):] for line in self.lines
                 if line.startswith("trying file=")]
        return tries[-1] if tries else self.name


_REQUEST_RE: Final = re.compile(
    r"^file=(?P<name>.*) \[\d+\];  (?P<how>needed|dynamically loaded) by (?P<by>.*) \[\d+\]$"
)
_MAPPED_RE: Final = re.compile(r"^file=(?P<name>.*) \[\d+\];  generating link map$")


def split_debug(stderr: str) -> tuple[list[str], list[DebugRequest]]:
    """``(the trail lines of the initial load, the requests after it)``."""
    initial: list[str] = []
    requests: list[DebugRequest] = []
    started = False
    for line in stderr.splitlines():
        m = glibcroot.DEBUG_RE.match(line)
        if m is None:
            continue
        msg = m["msg"]
        if msg.startswith("transferring control:"):
            started = True
            continue
        trail = msg.lstrip(" ")
        is_trail = trail.startswith(("search path=", "search cache=", "trying file="))
        if not started:
            if is_trail:
                initial.append(trail)
            continue
        if r := _REQUEST_RE.match(msg):
            requests.append(DebugRequest(r["name"], r["by"], r["how"] != "needed"))
        elif is_trail and requests:
            requests[-1].lines.append(trail)
        elif (r := _MAPPED_RE.match(msg)) and requests and requests[-1].name == r["name"]:
            requests[-1].mapped = True
    return initial, requests


# --------------------------------------------------------------------------------------------
# ldsim's side


def sim_requests(doc: Mapping[str, Any],
                 sources: Collection[str] | None = None) -> list[DebugRequest]:
    """ldsim's edges from the first dlopen edge on, as :class:`DebugRequest`s (the lines
    ``LD_DEBUG=libs`` would print for each, from ``ldsim.renderers.json.trail_lines``),
    leaving out the names already loaded (the real loader prints no request for those).
    ``sources``: only the edges of the ``dlopen`` entries of these sources (``note``,
    ``user``, ``hint``); every dlopen edge is one alternative ``tried`` by the entries, in
    order, and the DT_NEEDED edges after it are its object's."""
    from ldsim.renderers.json import trail_lines

    edges = list(doc.get("edges") or [])
    first = next((i for i, e in enumerate(edges) if e.get("kind") == "dlopen"), len(edges))
    owners = [str(d.get("source")) for d in doc.get("dlopen") or []
              for _name in d.get("tried") or []]
    out: list[DebugRequest] = []
    owner = None
    for e in edges[first:]:
        if e.get("kind") == "dlopen":
            owner = owners.pop(0) if owners else None
        if sources is not None and owner not in sources:
            continue
        if e.get("via") == "already_loaded":
            continue
        trail = list(e.get("trail") or [])
        found = e.get("to") is not None or bool(trail and trail[-1].get("outcome") == "found")
        req = DebugRequest(str(e.get("name")), str(e.get("from")), e.get("kind") == "dlopen",
                           trail_lines({"edges": [e]}), found)
        out.append(req)
    return out


def initial_trail(doc: Mapping[str, Any]) -> list[str]:
    """ldsim's trail lines of the initial load (the edges before the first dlopen edge)."""
    from ldsim.renderers.json import trail_lines

    edges = list(doc.get("edges") or [])
    first = next((i for i, e in enumerate(edges) if e.get("kind") == "dlopen"), len(edges))
    return trail_lines({"preloads": doc.get("preloads") or [], "edges": edges[:first]})


def describe_requests(reqs: Sequence[DebugRequest]) -> str:
    rows = []
    for r in reqs:
        how = "dlopen by" if r.dlopen else "needed by"
        rows.append(f"  {r.name} ({how} {r.by}) -> {r.path or 'nothing mapped'}")
        rows += [f"      {line}" for line in r.lines]
    return "\n".join(rows) or "  (none)"


# --------------------------------------------------------------------------------------------
# musl


def run_musl_program(root: muslroot.MuslRoot, exe: str, *,
                     env: Mapping[str, str] | None = None,
                     cwd: str = "/") -> glibcroot.ProgramResult:
    """Really run ``exe`` in a chroot of ``root`` with exactly ``env`` (muslroot's
    launcher: the variables exist inside the chroot only)."""
    return glibcroot.run_command(muslroot.launcher_argv(root, [exe], cwd=cwd, env=env))


__all__ = [
    "NOTE_MACROS",
    "Attempt",
    "DebugRequest",
    "Note",
    "ProgramOutput",
    "describe_requests",
    "dlopen_source",
    "initial_trail",
    "parse_output",
    "program_source",
    "run_musl_program",
    "sim_requests",
    "split_debug",
]
