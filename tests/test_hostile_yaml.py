"""YAML from hostile snaps is bounded: time, memory, no crash (``ldsim/snap/yamlload.py``).

Every hostile class of ``rootfs-fixtures/hostile_yaml.py`` runs through ``python -m ldsim``
under a 1 GiB address-space cap and a time limit (``rootfs-fixtures/hostile.py``). In
``meta/snap.yaml`` (``compare --snap``) it ends in exit 2 with one ``ldsim: error:`` line, in
well under 2 s: naming the file and the limit it exceeds, or, for the scalars Python cannot
build (kept as their text, as snapd reads them), naming the program the tiny payload lacks;
the old code hung, ran out of memory or crashed (exit 3) on them. In ``snap/snapcraft.yaml``
(``lint``) it is ignored as an unreadable file is, and lint goes on. Then the loader on its
own: each limit at its boundary, scalars kept as their text, files within the limits loading
exactly as ``yaml.safe_load`` loads them; the name patterns matched against the whole
string; the environment bounded as ``execve`` bounds it; and random and mutated snap.yaml
texts raising nothing but :class:`SnapError`.

``ldsim.snap.yamlload`` is imported inside the tests that need it, so that the command-line
tests also run (and fail) against a tree without it.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import hostile_yaml as H
import pytest
import yaml
from hostile import Capped, run_capped, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldsim.errors import SnapError
from ldsim.fs.view import HostDirView
from ldsim.linter.engine import snap_lint_config
from ldsim.safetext import shown
from ldsim.snap.meta import SnapMeta, app_environment, expand, parse_snap_yaml

SECONDS = 2.0  # a refusal takes about 0.1 s (Python's start); the old code took 5 to 15 s
RSS_KIB = 256 * 1024  # Python and ldsim's imports are about 80 MiB; the cap is 1 GiB
GOOD = "name: x\nbase: core22\napps: {a: {command: bin/a}}\n"


def compare(top: Path, snap_yaml: str, *extra: str) -> tuple[Capped, Path]:
    snap, base, host = H.snap_dirs(top, snap_yaml)
    r = run_capped(["compare", "--snap", snap, "--base", base, "--host", host, *extra])
    return r, snap


def one_error(r: Capped, *words: str) -> str:
    """Exit 2, stderr exactly one ``ldsim: error:`` line holding ``words``, quickly and in
    little memory."""
    assert not r.timed_out and r.returncode == 2, r.describe()
    assert "Traceback" not in r.err and "internal error" not in r.err, r.describe()
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldsim: error: "), r.describe()
    for w in words:
        assert w in lines[0], r.describe()
    assert r.seconds < SECONDS and r.max_rss_kib < RSS_KIB, r.describe()
    return lines[0]


# -- meta/snap.yaml through the command line --------------------------------------------------

REFUSED = [
    ("alias-bomb-version", H.alias_bomb(field="version"), "expands to more than 100000 nodes"),
    ("alias-bomb-environment", H.alias_bomb(field="environment"),
     "expands to more than 100000 nodes"),
    ("alias-bomb-mapping", H.alias_bomb_mapping(), "expands to more than 100000 nodes"),
    ("merge-chain", H.merge_chain(), "expands to more than 100000 nodes"),
    ("deep-flow-sequence", H.deep_flow(), "YAML nested deeper than 64 levels"),
    ("deep-flow-mapping", H.deep_flow_mapping(), "YAML nested deeper than 64 levels"),
    ("deep-block-sequence", H.deep_block(), "YAML nested deeper than 64 levels"),
    ("recursive-alias", H.recursive_alias(), "alias *e is used inside the node it names"),
    ("big-int-name", H.big_int(field="name"), "invalid snap name '1111"),
    ("bad-tag", H.bad_tag(), "invalid YAML (line 5): not a valid !!bool: 'maybe'"),
    ("oversize", H.oversize(), "YAML file larger than 1 MiB (1048577 bytes"),
    ("oversize-16-MiB", H.oversize(16 << 20), "YAML file larger than 1 MiB (16777216 bytes"),
    ("trailing-newline-name", H.trailing_newline_name(), "invalid snap name 'hello"),
    ("trailing-newline-app", H.trailing_newline_app(), "invalid app name 'a"),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_hostile_snap_yaml_is_refused_in_one_line(tmp_path: Path, text: str, words: str) -> None:
    r, snap = compare(tmp_path, text)
    one_error(r, f"{snap}/meta/snap.yaml: ", words)


KEPT_AS_TEXT = [
    ("big-int-version", H.big_int(field="version")),
    ("big-int-environment", H.big_int(field="environment")),
    ("hex-int", H.hex_int()),
    ("sexagesimal-int", H.sexagesimal_int()),
    ("bad-date", H.bad_date()),
]


@pytest.mark.parametrize("text", [c[1] for c in KEPT_AS_TEXT], ids=[c[0] for c in KEPT_AS_TEXT])
def test_scalars_python_cannot_build_are_read_as_their_text(tmp_path: Path, text: str) -> None:
    """snap.yaml is accepted (as snapd accepts it), so the run goes on to the payload, which
    has no program: the usual one-line error about the missing file."""
    r, snap = compare(tmp_path, text)
    one_error(r, f"{snap}: ", "/snap/hostile/current/bin/a (classic): no such file")


def test_environment_doubling_stops_where_execve_would(tmp_path: Path) -> None:
    r, _snap = compare(tmp_path, H.env_doubling())
    one_error(r, "snap.yaml environment variable 'A13' expands beyond 131072 bytes",
              "execve would fail (E2BIG)")


# -- snap/snapcraft.yaml through lint -----------------------------------------------------------

LINT = [
    ("big-int", H.snapcraft_lint_yaml("1" * 5000)),
    ("deep-flow", H.snapcraft_lint_yaml("[" * 100_000 + "]" * 100_000)),
    ("deep-mapping", "lint:\n  ignore: " + "{a: " * 100_000 + "x" + "}" * 100_000 + "\n"),
    ("alias-bomb", H.alias_bomb().replace("version: *a8", "lint: {ignore: [{classic: *a8}]}")),
    ("bad-date", H.snapcraft_lint_yaml("[2024-02-30]")),
    ("bad-tag", H.snapcraft_lint_yaml("[!!int abc]")),
    ("ignore-not-a-list", "lint: {ignore: 5}\n"),
    ("oversize-16-MiB", H.oversize(16 << 20)),
]


@pytest.mark.parametrize("text", [c[1] for c in LINT], ids=[c[0] for c in LINT])
def test_hostile_snapcraft_yaml_does_not_stop_lint(tmp_path: Path, text: str) -> None:
    snap, base, host = H.snap_dirs(tmp_path, GOOD, text)
    r = run_capped(["lint", snap, "--base", base, "--host", host, "--format", "json"])
    assert not r.timed_out and r.returncode == 0 and r.err == "", r.describe()
    assert json.loads(r.text)["schema"] == "ldsim.lint/1"
    assert r.seconds < SECONDS and r.max_rss_kib < RSS_KIB, r.describe()


def _lint_config(tmp_path: Path, text: str) -> list[tuple[str, list[str] | None]]:
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap/snapcraft.yaml").write_text(text, encoding="utf-8")
    return snap_lint_config(HostDirView(str(tmp_path)))


def test_snapcraft_yaml_anchors_still_work(tmp_path: Path) -> None:
    assert _lint_config(tmp_path, H.SNAPCRAFT_YAML_WITH_ANCHORS) == [
        ("classic", ["usr/bin/*", "usr/lib/*"]), ("library", ["usr/bin/*"]), ("rpath", None)]


@pytest.mark.parametrize("text", [H.snapcraft_lint_yaml("[" * 100 + "]" * 100), H.alias_bomb(),
                                  "lint: {ignore: 5}\n", H.oversize()])
def test_a_refused_snapcraft_yaml_gives_no_ignores(tmp_path: Path, text: str) -> None:
    assert _lint_config(tmp_path, text) == []


# -- the loader on its own --------------------------------------------------------------------

FEATURES = """\
plain: text
quoted: ['1.0', "tab\\there"]
numbers: [1, -2, 0x1f, 0o17, 017, 1_000, 1:30, 3.5, .inf, 1e3]
booleans: [yes, no, true, off, ~, null]
dates: [2024-01-31, 2024-01-31 10:20:30.5+02:00]
block: |
  two
  lines
folded: >-
  one
  line
merged:
  base: &base {a: 1, b: 2}
  child: {<<: *base, b: 3}
set: !!set {a, b}
omap: !!omap [{a: 1}, {b: 2}]
binary: !!binary aGVsbG8=
str: !!str 123
shared: [&s [x, y], *s]
"""


@pytest.mark.parametrize("text", [H.REAL_SNAP_YAML, H.SNAPCRAFT_YAML_WITH_ANCHORS, FEATURES,
                                  "", "# only a comment\n", "---\nname: x\n...\n"])
def test_files_within_the_limits_load_as_safe_load_loads_them(text: str) -> None:
    from ldsim.snap.yamlload import load_yaml

    assert load_yaml(text, "f") == yaml.safe_load(text)


def test_a_real_snap_yaml_parses_as_before() -> None:
    meta = parse_snap_yaml(H.REAL_SNAP_YAML)
    assert (meta.name, meta.version, meta.base, meta.confinement) == (
        "hello-world", "6.4", "core22", "strict")
    assert sorted(meta.apps) == ["env", "hello-world"]
    assert meta.apps["env"].command_chain == ("snap/command-chain/desktop-launch",)
    assert dict(meta.environment)["PATH"].startswith("$SNAP/usr/sbin:")


def _refused(text: str, *words: str) -> str:
    from ldsim.snap.yamlload import load_yaml

    with pytest.raises(SnapError) as info:
        load_yaml(text, "dir/meta/snap.yaml")
    message = str(info.value)
    assert message.startswith("dir/meta/snap.yaml: ") and "\n" not in message, message
    assert len(message) < 200, message
    for w in words:
        assert w in message, message
    return message


def test_depth_limit() -> None:
    from ldsim.snap.yamlload import MAX_DEPTH, load_yaml

    assert MAX_DEPTH == 64
    ok = load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f")
    for _ in range(MAX_DEPTH - 1):
        ok = ok[0]
    assert ok == []
    _refused("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "YAML nested deeper than 64 levels")
    _refused("a:\n" + "".join("  " * i + "a:\n" for i in range(1, 70)),
             "YAML nested deeper than 64 levels")


def _expanded(extra: int) -> str:
    """``[&a [x * 999], *a * 98, y * (999 + extra)]``: 1 + 1,000 + 98,000 + 999 + extra
    nodes once expanded."""
    return ("[&a [" + ", ".join(["x"] * 999) + "], " + ", ".join(["*a"] * 98) + ", "
            + ", ".join(["y"] * (999 + extra)) + "]")


def test_expanded_node_limit_counts_each_alias_as_a_copy() -> None:
    from ldsim.snap.yamlload import MAX_NODES, load_yaml

    assert MAX_NODES == 100_000
    doc = load_yaml(_expanded(0), "f")
    assert len(doc) == 1 + 98 + 999 and doc[1] is doc[0]  # shared, as safe_load shares it
    _refused(_expanded(1), "YAML expands to more than 100000 nodes")


def test_alias_limit() -> None:
    from ldsim.snap.yamlload import MAX_ALIASES, load_yaml

    assert len(load_yaml("[&a x" + ", *a" * MAX_ALIASES + "]", "f")) == MAX_ALIASES + 1
    _refused("[&a x" + ", *a" * (MAX_ALIASES + 1) + "]", "YAML uses more than 10000 aliases")


def test_event_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents add events and few nodes: three events (start, empty scalar, end) and one
    node each (the 200,000 events of the real limit take 2 s to parse: a smaller one here)."""
    from ldsim.snap import yamlload

    assert yamlload.MAX_EVENTS == 200_000
    monkeypatch.setattr(yamlload, "MAX_EVENTS", 3 * 100 + 2)
    _refused("--- \n" * 100, "invalid YAML (line 2): expected a single document")
    _refused("--- \n" * 101, "YAML has more than 302 parser events")


def test_size_limit_counts_utf8_bytes() -> None:
    from ldsim.snap.yamlload import MAX_BYTES, load_yaml

    assert MAX_BYTES == 1 << 20
    assert load_yaml("#" + "x" * (MAX_BYTES - 2) + "\n", "f") is None
    assert load_yaml("#" + "é" * ((MAX_BYTES - 2) // 2) + "\n", "f") is None
    _refused("#" + "x" * (MAX_BYTES - 1) + "\n", "larger than 1 MiB (1048577 bytes")
    _refused("#" + "é" * (MAX_BYTES // 2) + "\n", "larger than 1 MiB (1048578 bytes")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    from ldsim.snap.yamlload import load_yaml

    _refused("a: &a [x, *a]", "alias *a is used inside the node it names")
    _refused("a: &a {b: {c: *a}}", "alias *a is used inside the node it names")
    assert load_yaml("[&a [x], *a, {k: *a}]", "f") == [["x"], ["x"], {"k": ["x"]}]


@pytest.mark.parametrize(("value", "want"), [
    ("1" * 64, int("1" * 64)),
    ("-" + "1" * 63, -int("1" * 63)),
    ("1" * 65, "1" * 65),
    ("1" * 5000, "1" * 5000),
    ("0x" + "f" * 62, int("f" * 62, 16)),
    ("0x" + "f" * 20_000, "0x" + "f" * 20_000),
    ("1" + ":0" * 2600, "1" + ":0" * 2600),
    ("!!int " + "2" * 70, "2" * 70),
    ("2024-02-30", "2024-02-30"),
    ("0000-01-01", "0000-01-01"),
    ("2024-02-29", datetime.date(2024, 2, 29)),
])
def test_scalars_python_cannot_build_are_kept_as_text(value: str, want: Any) -> None:
    from ldsim.snap.yamlload import MAX_INT_CHARS, load_yaml

    assert MAX_INT_CHARS == 64
    assert load_yaml(f"v: {value}\n", "f") == {"v": want}


def test_big_integers_are_read_as_snapd_reads_them() -> None:
    meta = parse_snap_yaml(H.big_int(field="version"))
    assert meta.version == "1" * 5000
    meta = parse_snap_yaml(H.big_int(field="environment"))
    assert dict(meta.environment) == {"BIG": "1" * 5000}


@pytest.mark.parametrize(("value", "words"), [
    ("!!int abc", "invalid YAML (line 1): not a valid !!int: 'abc'"),
    ("!!bool maybe", "not a valid !!bool: 'maybe'"),
    ("!!float x", "not a valid !!float: 'x'"),
    ("!!timestamp abc", "not a valid !!timestamp: 'abc'"),
    ("!!int", "not a valid !!int: ''"),
    ("!!python/object:os.system [x]", "could not determine a constructor"),
    ("!" + "t" * 5000 + " x", "could not determine a constructor for the tag '!ttt"),
    ("*nope", "found undefined alias 'nope'"),
    ("[unclosed", "invalid YAML (line 2): while parsing a flow sequence"),
    ("\x00", "unacceptable character #x0000"),
])
def test_constructor_failures_are_invalid_yaml(value: str, words: str) -> None:
    _refused(f"v: {value}\n", words)


def test_pyyaml_itself_is_left_as_it_is() -> None:
    from yaml.constructor import SafeConstructor

    from ldsim.snap.yamlload import load_yaml

    assert load_yaml("v: " + "1" * 100, "f") == {"v": "1" * 100}
    assert yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:int"] is (
        SafeConstructor.construct_yaml_int)
    assert yaml.safe_load("v: " + "1" * 100) == {"v": int("1" * 100)}


def test_multi_documents_and_duplicate_anchors_as_before() -> None:
    _refused("a: 1\n---\nb: 2\n", "expected a single document in the stream")
    _refused("a: &x 1\nb: &x 2\n", "found duplicate anchor 'x'")


@pytest.mark.parametrize(("exc", "words"), [
    (RecursionError("maximum recursion depth exceeded"), "YAML too deeply nested to read"),
    (ValueError("Exceeds the limit (4300 digits)"), "unreadable YAML: ValueError: Exceeds"),
])
def test_python_errors_become_snap_errors(monkeypatch: pytest.MonkeyPatch, exc: Exception,
                                          words: str) -> None:
    from ldsim.snap import yamlload

    class Boom:
        def __init__(self, events: object) -> None:
            pass

        def get_single_data(self) -> None:
            raise exc

    monkeypatch.setattr(yamlload, "_replay_loader", lambda: Boom)
    _refused("a: 1\n", words)


def test_pyyaml_is_imported_only_when_a_file_is_read() -> None:
    r = run_python("import sys, ldsim.snap.yamlload, ldsim.snap.meta, ldsim.linter.engine\n"
                   "assert 'yaml' not in sys.modules, 'imported'\n"
                   "ldsim.snap.meta.parse_snap_yaml('name: x\\n')\n"
                   "assert 'yaml' in sys.modules\n")
    assert r.returncode == 0, r.describe()


# -- snap.yaml validation: snapd's patterns, whole strings --------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    ('name: "hello\\n"\n', "invalid snap name 'hello\n'"),
    ("name: x\nbase: \"core22\\n\"\n", "invalid base 'core22\n'"),
    ('name: x\napps: {"a\\n": {command: bin/a}}\n', "invalid app name 'a\n'"),
    ("name: x\napps: {a_b: {command: bin/a}}\n", "invalid app name 'a_b'"),
    ("name: x\napps: {a--b: {command: bin/a}}\n", "invalid app name 'a--b'"),
    ("name: x\napps: {-a: {command: bin/a}}\n", "invalid app name '-a'"),
    ("name: " + "a" * 41 + "\n", "invalid snap name 'aaaa"),
    ("name: " + "a" * 5000 + "\n", "invalid snap name 'aaaa"),
])
def test_names_match_whole_strings(text: str, words: str) -> None:
    with pytest.raises(SnapError) as info:
        parse_snap_yaml(text, "snap/meta/snap.yaml")
    message = str(info.value)  # the value as it is: what prints the message escapes it
    assert message.startswith("snap/meta/snap.yaml: ") and words in message
    assert "\n" not in shown(message) and len(message) < 160, message


def test_valid_app_names() -> None:
    meta = parse_snap_yaml("name: x\napps: {a-1: {command: a}, App2: {command: b}, 3: "
                           "{command: c}}\n")
    assert sorted(meta.apps) == ["3", "App2", "a-1"]


# -- the environment, bounded as execve bounds it -----------------------------------------------

def test_expand_with_a_limit() -> None:
    env = {"A": "x" * 10}
    assert expand("$A$A", env, limit=20) == "x" * 20
    with pytest.raises(ValueError):
        expand("$A$A", env, limit=19)
    with pytest.raises(ValueError):
        expand("${A:+$A$A$A}", env, limit=25)
    assert expand("$A$A", env) == "x" * 20


def test_environment_doubling_is_an_error_naming_the_file() -> None:
    meta = parse_snap_yaml(H.env_doubling(), "snap/meta/snap.yaml")
    start = time.monotonic()
    with pytest.raises(SnapError) as info:
        app_environment(meta, meta.apps["a"], {})
    assert time.monotonic() - start < 0.5
    assert str(info.value).startswith("snap/meta/snap.yaml: snap.yaml environment variable 'A13'")


def test_environment_total_is_bounded() -> None:
    big = "v" * 100_000  # under MAX_ARG_STRLEN each, 6 MiB in all after about 63 of them
    text = (GOOD + "environment:\n  B: " + big + "\n"
            + "".join(f"  V{i}: $B\n" for i in range(70)))
    meta = parse_snap_yaml(text, "m/snap.yaml")
    with pytest.raises(SnapError) as info:
        app_environment(meta, meta.apps["a"], {})
    assert "m/snap.yaml: snap.yaml environment grows beyond 6 MiB at 'V6" in str(info.value)
    env = app_environment(parse_snap_yaml(GOOD + "environment: {B: " + big + ", C: x$B}\n"),
                          None, {})
    assert env["C"] == "x" + big


def test_snap_meta_equality_ignores_the_path() -> None:
    a, b = parse_snap_yaml(GOOD, "one/meta/snap.yaml"), parse_snap_yaml(GOOD, "two")
    assert isinstance(a, SnapMeta) and a == b and a.path != b.path


# -- properties: anything in, SnapError or a SnapMeta out, quickly ------------------------------

TOKENS = ["&a ", "*a", "&b [*a, *a, *a, *a]", "<<: *a\n", "[", "]", "{", "}", "\n", "\n  ",
          "\n    ", ": ", "- ", ", ", "!!int ", "!!bool ", "!!timestamp ", "!!binary ",
          "!!set ", "!!python/object/apply:os.system ", "1" * 5000, "0x" + "f" * 100,
          "1:" * 40 + "1", "2024-02-30", "'", '"', "\t", "\x00", "\\", "$A$A$A$A",
          "${PATH:+$PATH$PATH}", "---\n", "...\n", "%YAML 1.1\n", "? ", "|\n", ">-\n", "~",
          "null", "\ufeff", "apps", "environment", "name", "command-chain", "hello\n"]
CHARS = [*"ab1:- \n\t[]{},&*!#|>'\"?%@`\\~.0x<", "é"]
YAMLISH = st.lists(st.sampled_from(CHARS) | st.sampled_from(TOKENS), max_size=60).map("".join)
"""Random characters of YAML's syntax and the tokens above."""


def _exercise(text: str) -> None:
    start = time.monotonic()
    try:
        meta = parse_snap_yaml(text, "meta/snap.yaml")
        for app in [None, *meta.apps.values()]:
            app_environment(meta, app, {"PATH": "/usr/bin"})
    except SnapError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("meta/snap.yaml: "), str(exc)
    assert time.monotonic() - start < SECONDS


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_random_yamlish_text_raises_only_snap_error(text: str) -> None:
    _exercise(text)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(H.REAL_SNAP_YAML)), st.integers(0, 6),
                          st.sampled_from(TOKENS)), min_size=1, max_size=8))
def test_mutated_snap_yaml_raises_only_snap_error(edits: list[tuple[int, int, str]]) -> None:
    text = H.REAL_SNAP_YAML
    for pos, cut, token in edits:
        pos = min(pos, len(text))
        text = text[:pos] + token + text[pos + cut:]
    _exercise(text)
