"""``ldsim lint --format sarif``: SARIF 2.1.0 logs validated against the official schema.

``tests/data/sarif-schema-2.1.0.json`` is the OASIS SARIF 2.1.0 standard's JSON schema
(Draft-07), vendored byte for byte from oasis-tcs/sarif-spec,
``Documents/CommitteeSpecifications/2.1.0/sarif-schema-2.1.0.json``.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ldsim.elf.facts import ElfFacts, ElfIdent
from ldsim.linter.model import (
    ALL_RULES,
    CLASSIC_URL,
    LIBRARY_URL,
    FileLint,
    Fix,
    LintFinding,
    LintReport,
)
from ldsim.renderers.sarif import render_sarif, sarif_dict
from ldsim.result import Severity

jsonschema = pytest.importorskip("jsonschema")

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "80cd7ffb9b62a4162d541aa9170862dd264f6cce0f04c57f1ac9f2337b808958"
LINKER = "/snap/core22/current/lib64/ld-linux-x86-64.so.2"
BASELIB = "/snap/core22/current/lib/x86_64-linux-gnu"


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate(validator: Any, text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return doc


def test_vendored_schema_is_the_official_one() -> None:
    data = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256
    schema = json.loads(data)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    jsonschema.Draft7Validator.check_schema(schema)


def _facts(soname: str | None = None) -> ElfFacts:
    ident = ElfIdent(2, 1, 1, 0, 0, True, 3, 62, 1, 56)
    return ElfFacts(ident, "/lib64/ld-linux-x86-64.so.2", True, ("libc.so.6",), soname, None,
                    None, 0, 0, None, None, 0)


def hand_built() -> LintReport:
    W, E, I = Severity.WARNING, Severity.ERROR, Severity.INFO  # noqa: E741
    files = [
        FileLint("usr/bin/my tool", "/snap/demo/current/usr/bin/my tool", _facts(), LINKER, [],
                 [BASELIB]),
        FileLint("lib/libunused.so.1", "/snap/demo/current/lib/libunused.so.1",
                 _facts("libunused.so.1"), LINKER, [], [BASELIB]),
    ]
    findings = [
        LintFinding("classic", I, None, "Snap confinement is set to classic.", ok=True),
        LintFinding("interpreter", W, "usr/bin/my tool",
                    f"ELF interpreter should be set to '{LINKER}'. ({CLASSIC_URL})",
                    Fix(interpreter=LINKER)),
        LintFinding("rpath", W, "usr/bin/my tool",
                    f"ELF rpath should be set to '{BASELIB}'. ({CLASSIC_URL})", Fix(rpath=BASELIB)),
        LintFinding("host-leak", E, "usr/bin/my tool", "libc.so.6 is loaded from the host",
                    Fix(interpreter=LINKER, rpath=BASELIB)),
        LintFinding("nodefaultlib", I, "usr/bin/my tool", "use NODEFLIB",
                    Fix(no_default_lib=True)),
        LintFinding("unused-library", W, "libunused.so.1",
                    f"unused library 'lib/libunused.so.1'. ({LIBRARY_URL})"),
        LintFinding("libc-mix", E, None, "glibc and musl objects together"),
    ]
    return LintReport({"name": "demo", "base": "core22", "confinement": "classic"}, findings,
                      files)


def test_hand_built_report(validator: Any) -> None:
    doc = validate(validator, render_sarif(hand_built()))
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ldsim"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == [r for r in ALL_RULES if r in ids]  # ALL_RULES order, only those that occur
    assert ids == ["interpreter", "rpath", "unused-library", "host-leak", "nodefaultlib",
                   "libc-mix"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert rules["interpreter"]["helpUri"] == CLASSIC_URL
    assert rules["unused-library"]["helpUri"] == LIBRARY_URL
    assert "helpUri" not in rules["host-leak"]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    results = run["results"]
    assert len(results) == 6  # the OK line is not a result
    by_rule = {r["ruleId"]: r for r in results}
    assert {k: v["level"] for k, v in by_rule.items()} == {
        "interpreter": "warning", "rpath": "warning", "host-leak": "error",
        "nodefaultlib": "note", "unused-library": "warning", "libc-mix": "error"}
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    loc = by_rule["interpreter"]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": "usr/bin/my%20tool", "uriBaseId": "SNAP"}
    assert by_rule["interpreter"]["properties"]["fix"] == {
        "interpreter": LINKER, "rpath": None, "no_default_lib": False}
    assert by_rule["nodefaultlib"]["properties"]["fix"]["no_default_lib"] is True
    unused = by_rule["unused-library"]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert unused["uri"] == "lib/libunused.so.1"
    assert "locations" not in by_rule["libc-mix"]
    assert "properties" not in by_rule["libc-mix"]
    assert run["originalUriBaseIds"]["SNAP"]["uri"] == "file:///snap/demo/current/"


def test_deterministic() -> None:
    report = hand_built()
    first = render_sarif(report)
    for seed in range(5):
        shuffled = hand_built()
        random.Random(seed).shuffle(shuffled.findings)
        random.Random(seed).shuffle(shuffled.files)
        assert render_sarif(shuffled) == first


def test_empty_report(validator: Any) -> None:
    doc = validate(validator, render_sarif(LintReport({"name": "x", "base": "core22",
                                                        "confinement": "strict"})))
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []
    assert sarif_dict(LintReport({}))["runs"][0]["results"] == []


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                    reason="needs gcc and patchelf")
def test_real_lint_run(validator: Any, tmp_path: Path) -> None:
    from glibcroot import REPO, Root
    from snaproots import build_base, build_host, snap_yaml

    import ldsim

    build_base(tmp_path / "core22")
    build_host(tmp_path / "host")
    p = Root(tmp_path / "snap", base=False)
    p.write("/meta/snap.yaml", snap_yaml("demo", "core22", "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpay.so.1", "libpay.so.1")
    p.mklib("/lib/libunused.so.1", "libunused.so.1")
    p.mkexe("/bin/app", link=("/lib/libpay.so.1",), needed=["libhostonly.so.1"])
    target = ldsim.open_snap(str(p.path), base=str(tmp_path / "core22"),
                             host=str(tmp_path / "host"))
    report = ldsim.lint(target)
    doc = validate(validator, str(ldsim.render(report, "sarif")))
    results = doc["runs"][0]["results"]
    assert len(results) == sum(1 for f in report.findings if not f.ok)
    got = {r["ruleId"] for r in results}
    assert {"interpreter", "rpath", "missing-library", "unused-library", "host-leak"} <= got
    # the command line gives the same document
    proc = subprocess.run(
        [sys.executable, "-m", "ldsim", "lint", str(p.path), "--base", str(tmp_path / "core22"),
         "--host", str(tmp_path / "host"), "--format", "sarif"],
        capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 1, proc.stderr
    assert validate(validator, proc.stdout) == doc
