#!/usr/bin/env python3
"""Every machine-readable and human-readable output of ldsim on a fixed set of fixture roots.

Builds the fixtures (gcc, patchelf, ldconfig, musl-gcc, mksquashfs: the same builders as the
oracle tests, in ``rootfs-fixtures/``) under a work directory, runs ``python -m ldsim`` with a
fixed list of command lines on them, and writes one file per command line: its exit status,
standard output and standard error, with the work directory spelled ``$WORK``.

``tests/test_outputs_golden.py`` runs it and compares every file with ``tests/golden/outputs/``
byte for byte, so a refactoring that changes any output (``ldsim.explain/1``,
``ldsim.compare/1``, ``ldsim.lint/1``, SARIF, DOT, GraphML, Mermaid, the texts, exit statuses)
is caught. The simulated CPU is fixed (no glibc-hwcaps level, ``$PLATFORM`` x86_64, legacy
hwcap ``x86_64``), so the outputs do not depend on the machine's CPU.

    python scripts/golden_outputs.py OUTDIR [--work DIR] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "rootfs-fixtures"))

import abi_roots  # noqa: E402
import glibcroot  # noqa: E402
import muslroot  # noqa: E402
import snaproots  # noqa: E402

LIBDIR = "/usr/lib/x86_64-linux-gnu"
CPU = ["--hwcaps", "none", "--platform", "x86_64"]
# The CLI takes its legacy hwcap names from /proc/cpuinfo; pin them (and the rest of the CPU)
# so that the outputs are the same on every x86-64 machine.
BOOT = (
    "import importlib, sys\n"
    "from ldsim.cli.main import build_parser, main\n"
    "build_parser()\n"
    "for name in ('ldsim.api', 'ldsim.cli.options'):\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except ImportError:\n"
    "        pass\n"
    "def cpu(text): return (('x86-64-v3', 'x86-64-v2'), 'x86_64', ('x86_64',))\n"
    "for name, mod in list(sys.modules.items()):\n"
    "    if name.startswith('ldsim') and hasattr(mod, 'cpu_defaults'):\n"
    "        mod.cpu_defaults = cpu\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def build_plain(top: Path) -> Path:
    """``/usr/bin/app`` needs libfoo (RPATH $ORIGIN) and libbar (cache); libfoo needs libbar
    and libmissing (nowhere); ``/usr/bin/broken`` needs a libbad.so.1 that is not ELF."""
    r = glibcroot.Root(top / "plain")
    r.mklib(f"{LIBDIR}/libbar.so.1", "libbar.so.1")
    r.mklib("/opt/foo/libfoo.so.1", "libfoo.so.1", needed=["libbar.so.1", "libmissing.so.1"])
    r.mkexe("/usr/bin/app", needed=["libfoo.so.1", "libbar.so.1"], rpath="$ORIGIN/../../opt/foo")
    r.mkexe("/usr/bin/other", needed=["libbar.so.1"])
    r.write(f"{LIBDIR}/libbad.so.1", "this is not an ELF file\n")
    r.mkexe("/usr/bin/broken", needed=["libbar.so.1", "libbad.so.1"])
    r.mklib("/opt/run/librun.so.1", "librun.so.1", needed=["libbar.so.1"])
    r.mkexe("/usr/bin/runpath", needed=["librun.so.1"], runpath="/opt/run")
    r.symlink("/usr/bin/app-link", "app")
    r.ldconfig()
    return r.path


def build_versions(top: Path) -> tuple[Path, Path]:
    ok = abi_roots.version_root(top / "versions-ok")
    bad = abi_roots.version_root(top / "versions-missing")
    abi_roots.rebuild_libv(bad, "VERS_1")
    return ok.path, bad.path


def build_musl(top: Path) -> Path:
    r = muslroot.MuslRoot(top / "musl")
    r.mmklib("/usr/lib/libdep.so.1", "libdep.so.1")
    r.mmklib("/opt/m/libm1.so", "libm1.so", needed=["libdep.so.1", "libnowhere.so.1"])
    r.mmkexe("/bin/exe", needed=["libm1.so"], rpath="$ORIGIN/../opt/m")
    return r.path


def build_snaps(top: Path) -> dict[str, Path]:
    host = snaproots.build_host(top / "host").path
    bases = {snaproots.BASE_NAME: snaproots.build_base(top / "bases" / "core22").path,
             snaproots.BASE26: snaproots.build_base(top / "bases" / "core26", "core26",
                                                    cache_only_dir=True).path,
             snaproots.BASE20: snaproots.build_base(top / "bases" / "core20", "core20",
                                                    absolute_loader=True).path}
    snaps = snaproots.build_synthetic_snaps(top / "snaps")
    out = {"host": host, **{f"base:{k}": v for k, v in bases.items()}}
    for name, s in snaps.items():
        out[name] = s.path
        out[f"base-of:{name}"] = bases[s.base]
    # a leaky classic snap with two apps and a library no program loads
    p = glibcroot.Root(top / "snaps" / "leaky", base=False)
    p.write("/meta/snap.yaml", snaproots.snap_yaml("leaky", "core22", "classic",
                                                   {"app": "bin/app", "tool": "bin/tool"}))
    p.mklib("/lib/libpaydep.so.1", "libpaydep.so.1")
    p.mklib("/lib/libunused.so.1", "libunused.so.1")
    p.mklib("/lib/libpay.so.1", "libpay.so.1", needed=["libshared.so.1", "libpaydep.so.1"],
            runpath="$ORIGIN")
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1", "libhostonly.so.1"])
    snaproots.patch_elf(p.host("/bin/app"), interpreter=snaproots.interp_of("core22"),
                        runpath=f"$ORIGIN/../lib:{snaproots.libdir_of('core22')}")
    p.mkexe("/bin/tool", needed=["libpaydep.so.1"])
    out["leaky"] = p.path
    out["base-of:leaky"] = bases[snaproots.BASE_NAME]
    out["leaky.snap"] = snaproots.mksquashfs(p.path, top / "leaky_7.snap")
    return out


Command = tuple[str, list[str]]


def commands(plain: Path, versions: tuple[Path, Path], musl: Path | None,
             snaps: dict[str, Path]) -> list[Command]:
    P = str(plain)
    out: list[Command] = []
    for exe in ("app", "broken", "other", "runpath", "app-link"):
        out.append((f"explain-plain-{exe}.json",
                    ["explain", "--json", "--root", P, *CPU, f"/usr/bin/{exe}"]))
    out += [
        ("explain-plain-app.txt", ["explain", "--root", P, *CPU, "/usr/bin/app"]),
        ("explain-plain-app-verbose.txt", ["explain", "-v", "--root", P, *CPU, "/usr/bin/app"]),
        ("explain-plain-app-tree.txt", ["explain", "--tree", "--root", P, *CPU, "/usr/bin/app"]),
        ("explain-plain-broken.txt", ["explain", "--root", P, *CPU, "/usr/bin/broken"]),
        ("explain-plain-link-ldd.json", ["explain", "--json", "--root", P, *CPU,
                                         "--invocation", "ldd", "/usr/bin/app-link"]),
        ("explain-plain-library.json", ["explain", "--json", "--root", P, *CPU,
                                        "/opt/foo/libfoo.so.1"]),
        ("explain-plain-env.json", ["explain", "--json", "--root", P, *CPU,
                                    "--ld-library-path", "/opt/foo:/nonexistent",
                                    "--preload", "libbar.so.1 libnope.so.1", "/usr/bin/other"]),
        ("explain-plain-secure.json", ["explain", "--json", "--root", P, *CPU, "--secure",
                                       "--ld-library-path", "/opt/foo", "/usr/bin/app"]),
        ("explain-plain-symbols.txt", ["explain", "--symbols", "--root", P, *CPU,
                                       "/usr/bin/app"]),
        ("explain-plain-abi-only.txt", ["explain", "--abi-only", "--root", P, *CPU,
                                        "/usr/bin/app"]),
        ("explain-plain-missing-program.txt", ["explain", "--root", P, *CPU, "/usr/bin/nope"]),
        ("check-plain-app.txt", ["check", "--root", P, *CPU, "/usr/bin/app"]),
        ("check-plain-app.json", ["check", "--json", "--root", P, *CPU, "/usr/bin/app"]),
    ]
    exes = ["/usr/bin/app", "/usr/bin/other", "/usr/bin/broken"]
    for fmt in ("dot", "json", "graphml", "mermaid"):
        out.append((f"graph-plain.{fmt}", ["graph", "--root", P, *CPU, "--format", fmt, *exes]))
    out.append(("graph-plain-app-reuse.dot", ["graph", "--root", P, *CPU, "--reuse", "show",
                                              "--no-legend", "/usr/bin/app"]))
    ok, bad = versions
    out += [
        ("explain-versions-ok.json", ["explain", "--json", "--root", str(ok), *CPU,
                                      "/s13/bin/exe"]),
        ("explain-versions-missing.json", ["explain", "--json", "--root", str(bad), *CPU,
                                           "/s13/bin/exe"]),
        ("explain-versions-missing.txt", ["explain", "--root", str(bad), *CPU, "/s13/bin/exe"]),
        ("check-versions-missing.txt", ["check", "--root", str(bad), *CPU, "/s13/bin/exe"]),
    ]
    if musl is not None:
        M = str(musl)
        out += [
            ("explain-musl.json", ["explain", "--json", "--root", M, *CPU, "/bin/exe"]),
            ("explain-musl-verbose.txt", ["explain", "-v", "--root", M, *CPU, "/bin/exe"]),
            ("explain-musl-tree.txt", ["explain", "--tree", "--root", M, *CPU, "/bin/exe"]),
            ("graph-musl.dot", ["graph", "--root", M, *CPU, "--format", "dot", "/bin/exe"]),
        ]
    host = str(snaps["host"])

    def snap(name: str) -> list[str]:
        return ["--snap", str(snaps[name]), "--base", str(snaps[f"base-of:{name}"]),
                "--host", host]

    names = [*snaproots.SYNTHETIC, "leaky"]
    for name in names:
        out += [
            (f"compare-{name}.json", ["compare", "--json", *snap(name), *CPU]),
            (f"lint-{name}.json", ["lint", str(snaps[name]), "--base",
                                   str(snaps[f"base-of:{name}"]), "--host", host,
                                   "--format", "json"]),
            (f"fix-{name}.sh", ["fix", str(snaps[name]), "--base", str(snaps[f"base-of:{name}"]),
                                "--host", host]),
        ]
    for name in ("no-rpath", "runpath", "host-only", "leaky", "unpatched"):
        out += [
            (f"compare-{name}.txt", ["compare", *snap(name), *CPU]),
            (f"lint-{name}.txt", ["lint", str(snaps[name]), "--base",
                                  str(snaps[f"base-of:{name}"]), "--host", host]),
            (f"lint-{name}.sarif", ["lint", str(snaps[name]), "--base",
                                    str(snaps[f"base-of:{name}"]), "--host", host,
                                    "--format", "sarif"]),
        ]
        for view in ("classic", "strict"):
            out += [
                (f"explain-snap-{name}-{view}.json", ["explain", "--json", *snap(name), *CPU,
                                                      "--app", "app", "--confinement", view]),
                (f"explain-snap-{name}-{view}.txt", ["explain", *snap(name), *CPU,
                                                     "--app", "app", "--confinement", view]),
            ]
    out += [
        ("compare-leaky-all.json", ["compare", "--all", "--json", *snap("leaky"), *CPU]),
        ("compare-leaky-all.txt", ["compare", "--all", *snap("leaky"), *CPU]),
        ("compare-leaky-squashfs.json", ["compare", "--json", "--snap", str(snaps["leaky.snap"]),
                                         "--base", str(snaps["base-of:leaky"]), "--host", host,
                                         *CPU]),
        ("lint-leaky-squashfs.json", ["lint", str(snaps["leaky.snap"]), "--base",
                                      str(snaps["base-of:leaky"]), "--host", host,
                                      "--format", "json"]),
        ("lint-leaky-ignore.txt", ["lint", str(snaps["leaky"]), "--base",
                                   str(snaps["base-of:leaky"]), "--host", host,
                                   "--ignore", "host-leak", "--ignore", "rpath:bin/*",
                                   "--fail-on", "warning"]),
        ("fix-leaky-options.sh", ["fix", str(snaps["leaky"]), "--base",
                                  str(snaps["base-of:leaky"]), "--host", host,
                                  "--no-patch-interpreter", "--keep-rpath", "--no-default-lib"]),
        ("explain-snap-leaky-tool.json", ["explain", "--json", *snap("leaky"), *CPU,
                                          "--app", "tool"]),
        ("explain-snap-leaky-path.txt", ["explain", *snap("leaky"), *CPU, "lib/libpay.so.1"]),
        ("explain-snap-leaky-noapp.txt", ["explain", *snap("leaky"), *CPU]),
        ("graph-snap-leaky-compare.dot", ["graph", *snap("leaky"), *CPU, "--compare",
                                          "--format", "dot"]),
        ("graph-snap-leaky.json", ["graph", *snap("leaky"), *CPU, "--format", "json"]),
        ("graph-snap-leaky-strict.mermaid", ["graph", *snap("leaky"), *CPU, "--confinement",
                                             "strict", "--format", "mermaid"]),
    ]
    # for people: colour and no colour, at 80 and 120 columns (tests/test_text_output.py
    # checks that no line of these is wider than its width)
    lint_leaky = ["lint", str(snaps["leaky"]), "--base", str(snaps["base-of:leaky"]),
                  "--host", host]
    for width in ("80", "120"):
        for color in ("never", "always"):
            tag = f"{width}{'-color' if color == 'always' else ''}"
            how = ["--width", width, "--color", color]
            out += [
                (f"people-explain-plain-app-{tag}.txt",
                 ["explain", *how, "--root", P, *CPU, "/usr/bin/app"]),
                (f"people-explain-plain-app-tree-{tag}.txt",
                 ["explain", "--tree", *how, "--root", P, *CPU, "/usr/bin/app"]),
                (f"people-explain-snap-leaky-tree-{tag}.txt",
                 ["explain", "--tree", *how, *snap("leaky"), *CPU, "--app", "app"]),
                (f"people-compare-leaky-all-{tag}.txt",
                 ["compare", "--all", *how, *snap("leaky"), *CPU]),
                (f"people-lint-leaky-{tag}.txt", [*lint_leaky, *how]),
            ]
    if musl is not None:
        out.append(("people-explain-musl-tree-all-80.txt",
                    ["explain", "--tree", "-a", "--root", str(musl), *CPU, "/bin/exe"]))
    return out


def check_commands(versions: tuple[Path, Path], cxx: Path) -> list[Command]:
    """``ldsim check`` on C++ findings (names demangled in the text, kept mangled in JSON)."""
    X = ["--root", str(cxx), *CPU]
    return [
        ("check-versions-missing.json", ["check", "--json", "--root", str(versions[1]), *CPU,
                                         "/s13/bin/exe"]),
        ("check-cxx-app.txt", ["check", *X, "/usr/bin/app"]),
        ("check-cxx-app.json", ["check", "--json", *X, "/usr/bin/app"]),
        ("check-cxx-app-min-error.txt", ["check", "--min-severity", "error", *X,
                                         "/usr/bin/app"]),
        ("check-cxx-app-min-error.json", ["check", "--json", "--min-severity", "error", *X,
                                          "/usr/bin/app"]),
        ("check-cxx-app-60-color.txt", ["check", "--width", "60", "--color", "always", *X,
                                        "/usr/bin/app"]),
        ("check-cxx-clean.txt", ["check", *X, "/usr/bin/clean"]),
    ]


def run(argv: list[str], work: Path) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", BOOT, *argv], capture_output=True, cwd=work,
                          env=env, timeout=300, check=False)
    text = (f"# exit {proc.returncode}\n# stdout\n"
            + proc.stdout.decode("utf-8", "backslashreplace")
            + "# stderr\n" + proc.stderr.decode("utf-8", "backslashreplace"))
    return text.replace(str(work), "$WORK")


def build_all(work: Path, step: Callable[[str], None]) -> list[Command]:
    step("plain root")
    plain = build_plain(work)
    step("version roots")
    versions = build_versions(work)
    musl: Path | None = None
    if muslroot.host_musl_libc() is not None and shutil.which("musl-gcc"):
        step("musl root")
        musl = build_musl(work)
    step("snaps")
    snaps = build_snaps(work)
    step("C++ root")
    cxx = abi_roots.cxx_root(work / "cxx").path
    return commands(plain, versions, musl, snaps) + check_commands(versions, cxx)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--work", type=Path, default=None,
                    help="where to build the fixtures (default: a temporary directory)")
    ap.add_argument("--only", default=None, help="only the outputs whose name contains this")
    args = ap.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="ldsim-golden-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cmds = build_all(work, lambda what: print(f"building {what}", file=sys.stderr))
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, argv in cmds:
        if args.only and args.only not in name:
            continue
        (args.outdir / name).write_text(run(argv, work))
    print(f"{len(cmds)} outputs in {args.outdir}", file=sys.stderr)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
