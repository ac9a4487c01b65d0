"""Every JSON document ldsim prints validates against the schema it ships (STYLE.md, 11).

``ldsim/schemas/ldsim.NAME-1.json`` are Draft-07 schemas of the six documents
(``ldsim.explain/1`` from ``explain --json``, ``ldsim.check/1`` from ``check --json``,
``ldsim.compare/1``, ``ldsim.lint/1``, ``ldsim.graph/1``, ``ldsim.scan-summary/1`` from
``scan --format jsonl``), fetched with :func:`ldsim.renderers.schema.load_schema`.
Real runs of the CLI are validated against them: this machine's ``/usr/bin/ls``, tiny glibc
roots with an unresolved library, preloads and an aborted load (``rootfs-fixtures/glibcroot.py``),
a musl root and an Alpine-like libc mix when ``musl-gcc`` exists, and a small classic snap
(``rootfs-fixtures/snaproots.py``) for ``lint``, ``compare``, ``explain --snap`` and ``graph``.
Mutated documents must fail, so the schemas are known to say something.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from ldsim.analysis.abi import Finding
from ldsim.analysis.compare import BinaryComparison, Row, Side
from ldsim.analysis.explain import explanation_of
from ldsim.analysis.verdict import VerdictStatus
from ldsim.depgraph import REALM_ORDER, dependency_graph, graph_document
from ldsim.elf.flavour import Libc
from ldsim.errors import LdsimError
from ldsim.linter.model import ALL_RULES, Fix, LintFinding, LintReport
from ldsim.renderers.check import check_dict
from ldsim.renderers.compare import compare_dict
from ldsim.renderers.lint import lint_dict
from ldsim.renderers.schema import SCHEMAS, load_schema, schema_file_name
from ldsim.result import Outcome, Resolution, Severity, Via
from ldsim.snap.meta import CONFINEMENTS

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parent.parent
FILES = {"ldsim.explain/1": "ldsim.explain-1.json", "ldsim.check/1": "ldsim.check-1.json",
         "ldsim.compare/1": "ldsim.compare-1.json",
         "ldsim.lint/1": "ldsim.lint-1.json", "ldsim.graph/1": "ldsim.graph-1.json",
         "ldsim.scan-summary/1": "ldsim.scan-summary-1.json"}
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
TEXT = "hello, this is a text file that is definitely longer than sixty-four bytes\n"

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                               reason="needs gcc and patchelf")


def _musl_missing() -> str | None:
    if shutil.which("musl-gcc") is None:
        return "needs musl-gcc"
    from muslroot import host_musl_libc

    return None if host_musl_libc() is not None else "needs musl's libc.so"


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validators() -> dict[str, Any]:
    return {name: jsonschema.Draft7Validator(
        load_schema(name), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        for name in SCHEMAS}


def problems(validators: dict[str, Any], doc: dict[str, Any], schema: str) -> list[str]:
    errors = sorted(validators[schema].iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors]


def check(validators: dict[str, Any], doc: dict[str, Any], schema: str) -> dict[str, Any]:
    assert doc["schema"] == schema
    found = problems(validators, doc, schema)
    assert not found, "\n".join(found)
    return doc


def ldsim(*args: str, status: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """Run the CLI, return the JSON document it prints."""
    proc = subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          text=True, cwd=REPO, check=False)
    assert proc.returncode in status, f"exit {proc.returncode}: {proc.stderr}"
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


# -- the schemas themselves --------------------------------------------------------------------

@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_07(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_07
    assert schema["title"] == name
    assert schema["properties"]["schema"] == {"const": name}
    assert "schema" in schema["required"]
    assert schema["additionalProperties"] is False


def test_schema_names_are_the_renderers() -> None:
    from ldsim import depgraph as graph
    from ldsim.renderers import check, compare, lint, scan
    from ldsim.renderers import json as explain

    assert set(SCHEMAS) == {explain.SCHEMA, check.SCHEMA, compare.SCHEMA, lint.SCHEMA,
                            graph.SCHEMA, scan.SUMMARY_SCHEMA}


def test_vocabularies_follow_the_code() -> None:
    """The enums are the code's closed vocabularies (guideline 2), not a copy that drifts."""
    explain, compare = load_schema("ldsim.explain/1"), load_schema("ldsim.compare/1")
    lint, graph = load_schema("ldsim.lint/1"), load_schema("ldsim.graph/1")
    vias = [v.value for v in Via]
    object_vias = [v for v in vias if v != Via.ALREADY_LOADED.value]
    realms = [r for r in REALM_ORDER if r != "missing"]
    ed, gd = explain["definitions"], graph["definitions"]
    assert ed["lookup_via"]["enum"] == vias
    assert ed["via"]["enum"] == object_vias
    assert ed["outcome"]["enum"] == [o.value for o in Outcome]
    assert ed["severity"]["enum"] == [s.value for s in Severity]
    assert ed["realm"]["enum"] == realms
    assert compare["definitions"]["via"]["enum"] == object_vias
    found, missing = compare["definitions"]["found_side"], compare["definitions"]["missing_side"]
    assert [*found["properties"]["realm"]["enum"], missing["properties"]["realm"]["const"]] \
        == list(REALM_ORDER)
    assert compare["properties"]["snap"]["properties"]["confinement"]["enum"] == list(CONFINEMENTS)
    lf = lint["definitions"]["finding"]["properties"]
    assert lf["id"]["enum"] == list(ALL_RULES)
    assert lf["severity"]["enum"] == [s.value for s in Severity]
    assert lint["properties"]["snap"]["properties"]["confinement"]["enum"] == list(CONFINEMENTS)
    assert gd["object_via"]["enum"] == object_vias
    assert gd["edge_via"]["enum"] == vias
    assert gd["object_node"]["properties"]["realm"]["enum"] == realms
    cd = load_schema("ldsim.check/1")
    assert cd["definitions"]["severity"]["enum"] == [s.value for s in Severity]
    assert cd["definitions"]["finding"]["properties"]["id"] \
        == ed["finding"]["properties"]["id"]
    assert cd["properties"]["verdict"]["properties"]["status"]["enum"] \
        == [v.value for v in VerdictStatus]
    assert cd["properties"]["snap"] == {"$ref": "#/definitions/snap"}
    assert cd["definitions"]["snap"] == ed["snap"]


# -- shipped with the package ------------------------------------------------------------------

def test_importlib_resources_finds_the_schemas() -> None:
    folder = files("ldsim").joinpath("schemas")
    names = {p.name for p in folder.iterdir() if p.name.endswith(".json")}
    assert names == set(FILES.values())
    for name, file_name in FILES.items():
        resource = folder.joinpath(file_name)
        assert resource.is_file()
        assert json.loads(resource.read_text(encoding="utf-8")) == load_schema(name)


def test_a_build_of_the_package_ships_the_schemas(tmp_path: Path) -> None:
    """What setuptools puts in a wheel (build_py: packages plus package-data)."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 64:
        pytest.skip("pyproject.toml needs setuptools>=64")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "ldsim", src / "ldsim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
         "--build-lib", str(out)], cwd=src, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for file_name in FILES.values():
        built = out / "ldsim" / "schemas" / file_name
        assert built.read_bytes() == (REPO / "ldsim" / "schemas" / file_name).read_bytes()
    assert (out / "ldsim" / "py.typed").is_file()
    assert (out / "ldsim" / "renderers" / "schema.py").is_file()


def test_load_schema_by_document_or_file_name() -> None:
    for name, file_name in FILES.items():
        assert schema_file_name(name) == file_name
        assert schema_file_name(file_name) == file_name
        assert load_schema(file_name.removesuffix(".json")) == load_schema(name)
    for bad in ("ldsim.explain/2", "ldsim.fix/1", "../ldsim.explain-1", "", "sarif"):
        with pytest.raises(LdsimError, match="unknown JSON schema"):
            load_schema(bad)


def test_load_schema_is_import_light() -> None:
    code = ("import sys; from ldsim.renderers.schema import load_schema; "
            "load_schema('ldsim.graph/1'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('networkx', 'elftools', 'graphviz', 'yaml', 'jsonschema')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert proc.stdout.strip() == "[]"


# -- real runs: plain roots --------------------------------------------------------------------

@pytest.mark.skipif(not os.path.isfile("/usr/bin/ls"), reason="needs /usr/bin/ls")
def test_explain_and_check_this_machine(validators: dict[str, Any]) -> None:
    doc = check(validators, ldsim("explain", "--json", "/usr/bin/ls"), "ldsim.explain/1")
    assert doc["objects"][0]["via"] == "executable"
    check(validators, ldsim("check", "--json", "/usr/bin/ls"), "ldsim.check/1")


@pytest.fixture(scope="module")
def glibc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``/bin/exe``: a $ORIGIN request, a wrong-class candidate before the good one, an
    unresolved library; ``/bin/abort``: a text file where a library should be (fatal);
    ``/etc/ld.so.preload`` names a library that does not exist."""
    from glibcroot import Root

    r = Root(tmp_path_factory.mktemp("schemas") / "root")
    r.mklib("/opt/lib/libo.so", "libo.so")
    r.mklib32("/D32/libw.so", "libw.so")
    r.mklib("/D2/libw.so", "libw.so")
    r.mkexe("/bin/exe", rpath="/D32:/D2",
            needed=["$ORIGIN/../opt/lib/libo.so", "libw.so", "libmissing.so.1"])
    r.write("/D1/libbad.so", TEXT)
    r.mkexe("/bin/abort", rpath="/D1", needed=["libbad.so"])
    r.write("/etc/ld.so.preload", "libnopreload.so\n")
    r.ldconfig()
    return r.path


@pytest.fixture(scope="module")
def unresolved_doc(glibc_root: Path) -> dict[str, Any]:
    return ldsim("explain", "--json", "--root", str(glibc_root),
                 "--preload", "/opt/lib/libo.so libnothere.so", "/bin/exe", status=(1,))


@needs_gcc
def test_explain_unresolved_and_preloads(validators: dict[str, Any],
                                         unresolved_doc: dict[str, Any]) -> None:
    doc = check(validators, unresolved_doc, "ldsim.explain/1")
    assert doc["unresolved"] == [{"name": "libmissing.so.1", "needed_by": "/bin/exe"}]
    assert doc["error"] is None
    # the optional keys really occur, so the schema is tested with them
    assert any("request" in e for e in doc["edges"])
    assert any("detail" in t for e in doc["edges"] for t in e["trail"])
    assert {t["outcome"] for e in doc["edges"] for t in e["trail"]} >= {
        "found", "absent", "wrong_class", "same_file"}
    assert {p["from"] for p in doc["preloads"]} == {"LD_PRELOAD", "/etc/ld.so.preload"}
    assert {p["via"] for p in doc["preloads"]} == {"preload", None}
    assert {e["via"] for e in doc["edges"]} >= {"already_loaded", "rpath", None}


@needs_gcc
def test_explain_aborted_load(validators: dict[str, Any], glibc_root: Path) -> None:
    doc = check(validators, ldsim("explain", "--json", "--root", str(glibc_root), "/bin/abort",
                                  status=(1,)), "ldsim.explain/1")
    assert doc["error"] == {"name": "libbad.so", "path": "/D1/libbad.so",
                            "needed_by": "/bin/abort", "reason": "invalid ELF header",
                            "loader_message": "/D1/libbad.so: invalid ELF header"}
    assert doc["edges"][0]["trail"][-1]["outcome"] == "not_elf"


@needs_gcc
def test_check_json_on_a_root(validators: dict[str, Any], glibc_root: Path) -> None:
    doc = check(validators, ldsim("check", "--json", "--root", str(glibc_root), "/bin/exe",
                                  status=(1,)), "ldsim.check/1")
    assert doc["verdict"]["status"] == "does_not_start" and doc["findings"] == []


@pytest.fixture(scope="module")
def graph_doc(glibc_root: Path) -> dict[str, Any]:
    return ldsim("graph", "--format", "json", "--root", str(glibc_root),
                 "--preload", "/opt/lib/libo.so libnothere.so", "/bin/exe", "/bin/abort",
                 status=(1,))


@needs_gcc
def test_graph_json_of_a_root(validators: dict[str, Any], graph_doc: dict[str, Any]) -> None:
    doc = check(validators, graph_doc, "ldsim.graph/1")
    assert {n["kind"] for n in doc["nodes"]} == {"object", "missing", "error"}
    assert {e["kind"] for e in doc["edges"]} == {"needed", "LD_PRELOAD", "/etc/ld.so.preload",
                                                 "PT_INTERP"}
    assert doc["graph"]["programs"] == ["/bin/abort", "/bin/exe"]


@needs_gcc
@pytest.mark.skipif(_musl_missing() is not None, reason=str(_musl_missing()))
def test_musl_program(validators: dict[str, Any], tmp_path: Path) -> None:
    from muslroot import MuslRoot

    m = MuslRoot(tmp_path / "musl")
    m.mmklib("/lib/x86_64-linux-musl/libm1.so", "libm1.so")
    m.mmkexe("/bin/app", needed=["libm1.so", "libnope.so"])
    doc = check(validators, ldsim("explain", "--json", "--root", str(m.path),
                                  "--preload", "libnopreload.so", "/bin/app", status=(1,)),
                "ldsim.explain/1")
    assert doc["loader"] == "musl"
    assert doc["unresolved"] == [{"name": "libnope.so", "needed_by": "/bin/app",
                                  "reason": "No such file or directory"}]
    check(validators, ldsim("graph", "--format", "json", "--root", str(m.path), "/bin/app",
                            status=(1,)), "ldsim.graph/1")


@needs_gcc
@pytest.mark.skipif(_musl_missing() is not None, reason=str(_musl_missing()))
def test_check_json_with_abi_findings(validators: dict[str, Any], tmp_path: Path) -> None:
    from abi_roots import alpine_like_root

    root = alpine_like_root(tmp_path / "alpine")
    doc = check(validators, ldsim("check", "--json", "--root", str(root.path), "/usr/bin/app",
                                  status=(1,)), "ldsim.check/1")
    assert {f["id"] for f in doc["findings"]} >= {"libc-mix", "unversioned-provider"}


# -- real runs: a classic snap -----------------------------------------------------------------

@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``--snap --base --host`` of a classic snap whose app leaks to the host, misses a library
    and has an unused one; ``bin/broken`` aborts in both views."""
    from glibcroot import Root
    from snaproots import build_base, build_host, snap_yaml

    top = tmp_path_factory.mktemp("schemas-snap")
    build_base(top / "core22")
    build_host(top / "host")
    p = Root(top / "demo", base=False)
    p.write("/meta/snap.yaml", snap_yaml("demo", "core22", "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpay.so.1", "libpay.so.1")
    p.mklib("/lib/libunused.so.1", "libunused.so.1")
    p.mkexe("/bin/app", link=("/lib/libpay.so.1",), runpath="$ORIGIN/../lib",
            needed=["libhostonly.so.1", "libshared.so.1", "libnowhere.so.1"])
    p.write("/bad/libbad.so", TEXT)
    p.mkexe("/bin/broken", rpath="$ORIGIN/../bad", needed=["libbad.so"])
    return ["--snap", str(p.path), "--base", str(top / "core22"), "--host", str(top / "host")]


@pytest.fixture(scope="module")
def lint_doc(snap: list[str]) -> dict[str, Any]:
    return ldsim("lint", snap[1], *snap[2:], "--format", "json", status=(1,))


@pytest.fixture(scope="module")
def compare_doc(snap: list[str]) -> dict[str, Any]:
    return ldsim("compare", "--json", *snap, status=(1,))


@needs_gcc
def test_lint_json(validators: dict[str, Any], lint_doc: dict[str, Any]) -> None:
    doc = check(validators, lint_doc, "ldsim.lint/1")
    ids = {f["id"] for f in doc["findings"]}
    assert ids >= {"classic", "interpreter", "rpath", "missing-library", "unused-library",
                   "host-leak"}
    assert any(f.get("ok") for f in doc["findings"])
    assert any(f["fix"] is None for f in doc["findings"])
    assert any(f["fix"] is not None for f in doc["findings"])


@needs_gcc
def test_compare_json(validators: dict[str, Any], compare_doc: dict[str, Any],
                      snap: list[str]) -> None:
    doc = check(validators, compare_doc, "ldsim.compare/1")
    rows = doc["binaries"][0]["rows"]
    assert {r["classic"]["realm"] for r in rows} >= {"host", "payload", "missing"}
    assert any(r["shadowed"] for r in rows)
    every = check(validators, ldsim("compare", "--json", "--all", *snap, status=(1,)),
                  "ldsim.compare/1")
    assert every["summary"]["binaries"] == 4  # bin/app, bin/broken, two libraries
    # bin/broken alone is "nothing to compare" (exit 2): its aborted loads leave no rows
    both = check(validators, ldsim("compare", "--json", *snap, "bin/app", "bin/broken",
                                   status=(1,)), "ldsim.compare/1")
    broken = _first(both["binaries"], lambda b: b["path"].endswith("/bin/broken"))
    assert broken["rows"] == []
    assert broken["classic_error"].endswith("/bad/libbad.so: invalid ELF header")
    assert broken["strict_error"].endswith("/bad/libbad.so: invalid ELF header")


@needs_gcc
@pytest.mark.parametrize("view", ["classic", "strict"])
def test_explain_and_check_a_snap(validators: dict[str, Any], snap: list[str],
                                  view: str) -> None:
    doc = check(validators, ldsim("explain", "--json", *snap, "--confinement", view,
                                  status=(1,)), "ldsim.explain/1")
    assert doc["snap"]["confinement"] == view
    assert {o["realm"] for o in doc["objects"]} >= {"payload"}
    doc = check(validators, ldsim("check", "--json", *snap, "--confinement", view),
                "ldsim.check/1")
    assert doc["snap"]["confinement"] == view
    doc = check(validators, ldsim("explain", "--json", *snap, "--confinement", view,
                                  "bin/broken", status=(1,)), "ldsim.explain/1")
    assert doc["error"] is not None


@needs_gcc
def test_graph_json_of_a_snap(validators: dict[str, Any], snap: list[str]) -> None:
    doc = check(validators, ldsim("graph", "--format", "json", *snap, "--compare", status=(1,)),
                "ldsim.graph/1")
    assert doc["graph"]["views"] == ["classic", "strict"]
    assert {n["realm"] for n in doc["nodes"]} >= {"payload", "base", "host", "missing"}
    assert all(n["location"] for n in doc["nodes"] if n["kind"] == "object")


# -- documents built by hand: the optional parts real runs rarely show --------------------------

def test_hand_built_lint_report_with_every_rule(validators: dict[str, Any]) -> None:
    findings = [LintFinding(rule, Severity.WARNING, "bin/app", f"{rule} message",
                            Fix(interpreter="/lib64/ld", rpath="$ORIGIN", no_default_lib=True))
                for rule in ALL_RULES]
    findings.append(LintFinding("classic", Severity.INFO, None, "Lint OK", ok=True))
    report = LintReport({"name": "demo", "base": "core24", "confinement": "devmode"}, findings)
    check(validators, lint_dict(report), "ldsim.lint/1")


def test_hand_built_comparison_with_errors(validators: dict[str, Any]) -> None:
    missing = Side(None, "missing", None)
    rows = [Row("libc.so.6", Side("/lib/libc.so.6", "host", "ld.so.cache"),
                Side("/lib/libc.so.6", "base", "default"), False, True, True),
            Row("libx.so", missing, missing, True, False)]
    binaries = [BinaryComparison("/snap/demo/current/bin/app", rows,
                                 classic_error="libx.so: invalid ELF header",
                                 strict_error="libx.so: invalid ELF header"),
                BinaryComparison("/snap/demo/current/bin/none")]
    doc = compare_dict({"name": "demo", "base": "core22", "confinement": "strict"}, binaries)
    check(validators, doc, "ldsim.compare/1")


def hand_built_check_doc() -> dict[str, Any]:
    """A snap's program whose findings are an undefined C++ symbol (its version kept,
    ``demangled`` given) and an info, every key of ``ldsim.check/1`` present."""
    res = Resolution(root="/", loader=Libc.GLIBC, executable="/snap/demo/current/bin/app",
                     interpreter="/lib64/ld-linux-x86-64.so.2")
    findings = [
        Finding("undefined-symbol", Severity.ERROR, "/snap/demo/current/bin/app", None,
                "_ZdaPv@GLIBCXX_3.4", "/snap/demo/current/bin/app: undefined symbol: _ZdaPv, "
                "version GLIBCXX_3.4 (no loaded object defines it)"),
        Finding("interposed-symbol", Severity.INFO, "/lib/libx.so", "/lib/liby.so", "frexpl",
                "/lib/libx.so: frexpl binds to /lib/liby.so"),
    ]
    snap = {"name": "demo", "base": "core22", "confinement": "classic", "revision": "x1"}
    return check_dict(explanation_of(res, findings, snap))


def test_hand_built_check_document(validators: dict[str, Any]) -> None:
    doc = check(validators, hand_built_check_doc(), "ldsim.check/1")
    assert doc["findings"][0]["demangled"] == "operator delete[](void*)@GLIBCXX_3.4"
    assert "demangled" not in doc["findings"][1]
    assert doc["verdict"]["status"] == "fails_at_run_time"


def test_hand_built_graph_of_a_program_that_cannot_load(validators: dict[str, Any]) -> None:
    pytest.importorskip("networkx")
    res = Resolution(root="/", loader="glibc", executable="/bin/x", interpreter=None)
    doc = check(validators, graph_document(dependency_graph(res)), "ldsim.graph/1")
    assert [(n["kind"], "path" in n) for n in doc["nodes"]] == [("error", False)]


# -- mutated documents must fail ---------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _first(items: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(x for x in items if test(x))


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    d[key] = value


def _object_node(doc: dict[str, Any]) -> dict[str, Any]:
    return _first(doc["nodes"], lambda n: n["kind"] == "object")


EXPLAIN: dict[str, Mutation] = {
    "schema-version": lambda d: _set(d, "schema", "ldsim.explain/2"),
    "schema-name": lambda d: _set(d, "schema", "ldsim.compare/1"),
    "object-via-enum": lambda d: _set(d["objects"][1], "via", "cache"),
    "object-already-loaded": lambda d: _set(d["objects"][1], "via", "already_loaded"),
    "first-object-not-executable": lambda d: _set(d["objects"][0], "via", "rpath"),
    "second-executable": lambda d: _set(d["objects"][1], "via", "executable"),
    "realm-enum": lambda d: _set(d["objects"][0], "realm", "missing"),
    "object-extra-key": lambda d: _set(d["objects"][1], "inode", 42),
    "no-objects": lambda d: _set(d, "objects", []),
    "outcome-enum": lambda d: _set(d["edges"][0]["trail"][0], "outcome", "enoent"),
    "empty-detail": lambda d: _set(d["edges"][0]["trail"][0], "detail", ""),
    "unresolved-edge-with-via": lambda d: _set(
        _first(d["edges"], lambda e: e["to"] is None), "via", "default"),
    "resolved-edge-without-via": lambda d: _set(
        _first(d["edges"], lambda e: e["to"] is not None), "via", None),
    "edge-via-enum": lambda d: _set(
        _first(d["edges"], lambda e: e["to"] is not None), "via", "cache"),
    "preload-from": lambda d: _set(d["preloads"][0], "from", "LD_AUDIT"),
    "unresolved-empty-reason": lambda d: _set(d["unresolved"][0], "reason", ""),
    "unresolved-extra-key": lambda d: _set(d["unresolved"][0], "why", "gone"),
    "error-incomplete": lambda d: _set(d, "error", {"name": "libbad.so"}),
    "no-error-key": lambda d: d.pop("error"),
    "diagnostic-severity": lambda d: _set(d["diagnostics"][0], "severity", "fatal"),
    "finding-id": lambda d: _set(d, "findings", [{
        "id": "made-up", "severity": "error", "object": "/bin/exe", "library": None,
        "detail": "", "message": "m"}]),
    "snap-incomplete": lambda d: _set(d, "snap", {"name": "demo"}),
    "snap-devmode-view": lambda d: _set(d, "snap", {
        "name": "demo", "base": "core22", "confinement": "devmode", "revision": "x1"}),
    "top-level-extra-key": lambda d: _set(d, "extras", {}),
    "static-not-boolean": lambda d: _set(d, "static", "no"),
    "loader-enum": lambda d: _set(d, "loader", "bionic"),
}

COMPARE: dict[str, Mutation] = {
    "schema-version": lambda d: _set(d, "schema", "ldsim.compare/2"),
    "realm-enum": lambda d: _set(d["binaries"][0]["rows"][0]["classic"], "realm", "elsewhere"),
    "missing-side-with-realm": lambda d: _set(d["binaries"][0]["rows"][0], "classic",
                                              {"path": None, "realm": "host", "via": None}),
    "found-side-without-via": lambda d: _set(d["binaries"][0]["rows"][0]["classic"], "via",
                                             None),
    "side-via-enum": lambda d: _set(d["binaries"][0]["rows"][0]["classic"], "via",
                                    "already_loaded"),
    "negative-count": lambda d: _set(d["summary"], "leaks", -1),
    "confinement-enum": lambda d: _set(d["snap"], "confinement", "jailed"),
    "empty-error": lambda d: _set(d["binaries"][0], "classic_error", ""),
    "row-extra-key": lambda d: _set(d["binaries"][0]["rows"][0], "note", "x"),
    "row-missing-key": lambda d: d["binaries"][0]["rows"][0].pop("shadowed"),
}

LINT: dict[str, Mutation] = {
    "schema-version": lambda d: _set(d, "schema", "ldsim.lint/0"),
    "severity-enum": lambda d: _set(d["findings"][0], "severity", "fatal"),
    "id-enum": lambda d: _set(d["findings"][0], "id", "no-such-rule"),
    "ok-false": lambda d: _set(d["findings"][1], "ok", False),
    "fix-incomplete": lambda d: _first(d["findings"], lambda f: f["fix"] is not None)["fix"]
    .pop("no_default_lib"),
    "file-not-string": lambda d: _set(d["findings"][0], "file", 3),
    "snap-extra-key": lambda d: _set(d["snap"], "revision", "x1"),
}

CHECK: dict[str, Mutation] = {
    "schema-version": lambda d: _set(d, "schema", "ldsim.check/2"),
    "explain-document": lambda d: _set(d, "objects", []),
    "finding-id": lambda d: _set(d["findings"][0], "id", "made-up"),
    "finding-extra-key": lambda d: _set(d["findings"][0], "demangled_message", "m"),
    "finding-without-message": lambda d: d["findings"][0].pop("message"),
    "empty-demangled": lambda d: _set(d["findings"][0], "demangled", ""),
    "min-severity-enum": lambda d: _set(d, "min_severity", "fatal"),
    "negative-count": lambda d: _set(d["summary"], "errors", -1),
    "count-missing": lambda d: d["summary"].pop("infos"),
    "starts-with-reasons": lambda d: _set(d["verdict"], "status", "starts"),
    "fails-without-reasons": lambda d: _set(d["verdict"], "reasons", []),
    "loader-enum": lambda d: _set(d, "loader", "bionic"),
    "snap-devmode-view": lambda d: _set(d["snap"], "confinement", "devmode"),
}

GRAPH: dict[str, Mutation] = {
    "schema-version": lambda d: _set(d, "schema", "ldsim.graph/2"),
    "undirected": lambda d: _set(d, "directed", False),
    "object-realm-enum": lambda d: _set(_object_node(d), "realm", "missing"),
    "object-via-enum": lambda d: _set(_object_node(d), "via", "already_loaded"),
    "node-kind-enum": lambda d: _set(_object_node(d), "kind", "file"),
    "missing-node-id": lambda d: _set(
        _first(d["nodes"], lambda n: n["kind"] == "missing"), "id", "libmissing.so.1"),
    "missing-node-leaks": lambda d: _set(
        _first(d["nodes"], lambda n: n["kind"] == "missing"), "leak", True),
    "error-node-without-message": lambda d: _first(
        d["nodes"], lambda n: n["kind"] == "error").pop("message"),
    "edge-via-enum": lambda d: _set(d["edges"][0], "via", "cache"),
    "edge-kind-enum": lambda d: _set(d["edges"][0], "kind", "DT_NEEDED"),
    "edge-tried-negative": lambda d: _set(d["edges"][0], "tried", -1),
    "duplicate-view": lambda d: _set(d["graph"], "views", ["classic", "classic"]),
    "node-extra-key": lambda d: _set(_object_node(d), "colour", "red"),
}

MUTATIONS = [("explain", k) for k in EXPLAIN] + [("compare", k) for k in COMPARE] + \
    [("lint", k) for k in LINT] + [("graph", k) for k in GRAPH] + [("check", k) for k in CHECK]


@pytest.fixture(scope="module")
def documents(unresolved_doc: dict[str, Any], compare_doc: dict[str, Any],
              lint_doc: dict[str, Any], graph_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"explain": unresolved_doc, "compare": compare_doc, "lint": lint_doc,
            "graph": graph_doc, "check": hand_built_check_doc()}


@needs_gcc
@pytest.mark.parametrize(("kind", "mutation"), MUTATIONS)
def test_mutated_document_fails(validators: dict[str, Any],
                                documents: dict[str, dict[str, Any]], kind: str,
                                mutation: str) -> None:
    original = documents[kind]
    schema = f"ldsim.{kind}/1"
    assert not problems(validators, original, schema)
    doc = copy.deepcopy(original)
    table = {"explain": EXPLAIN, "compare": COMPARE, "lint": LINT, "graph": GRAPH,
             "check": CHECK}[kind]
    table[mutation](doc)
    assert doc != original
    assert not validators[schema].is_valid(doc), f"{kind}/{mutation} still validates"
